"""AHN memory ops. Layout: [B, T, H, D]; state: [B, H, K, V]; see recurrent.py for the conventions."""

from ahn.ops.recurrent import delta_rule_recurrent, gated_delta_rule_recurrent, scalar_decay_recurrent


def gated_delta_rule(q, k, v, beta, g, scale=None, initial_state=None):
    """Dispatch: the fastest available form with the recurrent form's semantics."""
    return gated_delta_rule_recurrent(q, k, v, beta, g, scale=scale, initial_state=initial_state)


def scalar_decay(q, k, v, g, scale=None, initial_state=None):
    return scalar_decay_recurrent(q, k, v, g, scale=scale, initial_state=initial_state)


__all__ = [
    "delta_rule_recurrent",
    "gated_delta_rule",
    "gated_delta_rule_recurrent",
    "scalar_decay",
    "scalar_decay_recurrent",
]
