"""AHN memory ops: chunked == recurrent == fla's naive references, forward and backward.

Inputs look like the AHN memories' (ahn/memory.py): L2-normalised q, k; beta in (0, 1); g = -softplus(...)
small. Errors are relative, per tensor: ||actual - expected|| / ||expected|| (fla's tests use the same).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import ahn.ops
from ahn.ops import (
    delta_rule_chunked,
    delta_rule_recurrent,
    gated_delta_rule,
    gated_delta_rule_chunked,
    gated_delta_rule_recurrent,
    gated_delta_rule_step,
    scalar_decay,
    scalar_decay_chunked,
    scalar_decay_recurrent,
    scalar_decay_step,
)

# fp32 throughout; the chunked and recurrent forms sum in different orders, so they agree to ~1e-6.
TOLERANCE = {
    "o": 1e-5,
    "state": 1e-5,
    "dq": 1e-4,
    "dk": 1e-4,
    "dv": 1e-4,
    "dbeta": 1e-4,
    "dg": 1e-4,
    "dh0": 1e-4,
}

# (B, T, H, D, chunk_size): T=1, a partial chunk, exact multiples and a ragged tail.
SHAPES = [(1, 1, 2, 16, 64), (2, 37, 3, 16, 16), (2, 37, 3, 16, 64), (1, 64, 2, 32, 16), (2, 130, 3, 16, 64)]


def shape_id(shape) -> str:
    B, T, H, D, C = shape
    return f"B{B}-T{T}-H{H}-D{D}-C{C}"


def make_inputs(B, T, H, D, seed=0, decay_scale=1.0, initial_state=True) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    x = {
        "q": F.normalize(torch.randn(B, T, H, D, generator=gen), dim=-1),
        "k": F.normalize(torch.randn(B, T, H, D, generator=gen), dim=-1),
        "v": torch.randn(B, T, H, D, generator=gen),
        "beta": torch.rand(B, T, H, generator=gen).sigmoid(),
        "g": -F.softplus(torch.randn(B, T, H, generator=gen) - 2.0) * decay_scale,
    }
    if initial_state:
        x["initial_state"] = torch.randn(B, H, D, D, generator=gen)
    return x


def run_with_grads(fn, inputs: dict, seed=1) -> dict[str, torch.Tensor]:
    """fn(**leaves) -> (o, state); returns o, state and the gradients of a random projection of both."""
    leaves = {name: x.clone().requires_grad_() for name, x in inputs.items()}
    o, state = fn(**leaves)
    gen = torch.Generator().manual_seed(seed)
    do, dstate = (torch.randn(t.shape, generator=gen).to(t.device) for t in (o, state))
    loss = (o.float() * do).sum() + (state * dstate).sum()
    loss.backward()
    grad_names = {"q": "dq", "k": "dk", "v": "dv", "beta": "dbeta", "g": "dg", "initial_state": "dh0"}
    return {"o": o.detach(), "state": state.detach()} | {grad_names[n]: x.grad for n, x in leaves.items()}


def assert_close(actual: dict, expected: dict, tolerance=TOLERANCE):
    assert actual.keys() == expected.keys()
    for name, ref in expected.items():
        assert torch.isfinite(actual[name]).all(), f"{name}: not finite"
        err = (actual[name] - ref).norm() / ref.norm().clamp_min(1e-12)
        assert err <= tolerance[name], f"{name}: relative error {err:.2e} > {tolerance[name]:.0e}"


def without(inputs: dict, *names) -> dict:
    return {n: x for n, x in inputs.items() if n not in names}


# -- chunked vs recurrent (no fla needed) --------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES, ids=shape_id)
def test_gated_delta_rule_chunked_matches_recurrent(shape):
    *bthd, C = shape
    x = make_inputs(*bthd)
    expected = run_with_grads(gated_delta_rule_recurrent, x)
    assert_close(run_with_grads(lambda **a: gated_delta_rule_chunked(**a, chunk_size=C), x), expected)


@pytest.mark.parametrize("shape", SHAPES, ids=shape_id)
def test_delta_rule_chunked_matches_recurrent(shape):
    *bthd, C = shape
    x = without(make_inputs(*bthd), "g")
    expected = run_with_grads(delta_rule_recurrent, x)
    assert_close(run_with_grads(lambda **a: delta_rule_chunked(**a, chunk_size=C), x), expected)


@pytest.mark.parametrize("shape", SHAPES, ids=shape_id)
def test_scalar_decay_chunked_matches_recurrent(shape):
    *bthd, C = shape
    x = without(make_inputs(*bthd), "beta")
    expected = run_with_grads(scalar_decay_recurrent, x)
    assert_close(run_with_grads(lambda **a: scalar_decay_chunked(**a, chunk_size=C), x), expected)


def test_chunked_without_initial_state_starts_from_zero():
    x = without(make_inputs(2, 37, 3, 16, initial_state=False), "beta")
    zero = x | {"initial_state": torch.zeros(2, 3, 16, 16)}
    assert_close(
        run_with_grads(scalar_decay_chunked, x), without(run_with_grads(scalar_decay_chunked, zero), "dh0")
    )
    x = make_inputs(2, 37, 3, 16, initial_state=False)
    o, state = gated_delta_rule_chunked(**x, chunk_size=16)
    o0, state0 = gated_delta_rule_recurrent(**x, initial_state=torch.zeros(2, 3, 16, 16))
    assert_close({"o": o, "state": state}, {"o": o0, "state": state0})


def test_strong_decay_stays_finite_and_exact():
    """Real AHN-GDN decays reach g ~ -16 per token (A = exp(A_log) up to 16); within a 64-token chunk the
    cumulative log decay then reaches ~ -1000, where exp(-gamma_j) alone would overflow. fp32 differences
    of such sums carry ~1000 * 6e-8 absolute error, hence the looser bound."""
    x = make_inputs(1, 130, 2, 16, decay_scale=200.0)
    assert x["g"].min() < -10
    loose = dict.fromkeys(TOLERANCE, 1e-3)
    expected = run_with_grads(gated_delta_rule_recurrent, x)
    assert_close(run_with_grads(gated_delta_rule_chunked, x), expected, loose)
    y = without(x, "beta")
    assert_close(run_with_grads(scalar_decay_chunked, y), run_with_grads(scalar_decay_recurrent, y), loose)


@pytest.mark.parametrize(
    "fn", [gated_delta_rule_chunked, gated_delta_rule_recurrent], ids=lambda f: f.__name__
)
def test_empty_sequence_returns_initial_state(fn):
    x = make_inputs(2, 0, 3, 16)
    o, state = fn(**x)
    assert o.shape == (2, 0, 3, 16)
    assert torch.equal(state, x["initial_state"])


def test_bf16_inputs_give_bf16_output_and_fp32_state():
    x = make_inputs(1, 37, 2, 16)
    x16 = {n: t.bfloat16() if n in ("q", "k", "v") else t for n, t in x.items()}
    for fn in (gated_delta_rule_chunked, gated_delta_rule_recurrent):
        o, state = fn(**x16)
        assert o.dtype == torch.bfloat16 and state.dtype == torch.float32


# -- dispatch ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("initial_state", [True, False], ids=["h0", "no-h0"])
@pytest.mark.parametrize("op", ["gdn", "dn", "scalar_decay"])
def test_one_token_step_matches_recurrent(op, initial_state):
    # The decode step is the recurrence at T = 1, forward and backward, for B > 1 and H > 1.
    x = make_inputs(3, 1, 4, 16, initial_state=initial_state)
    if op == "gdn":
        step, ref = gated_delta_rule_step, gated_delta_rule_recurrent
    elif op == "dn":
        x = without(x, "g")
        step, ref = (lambda **a: gated_delta_rule_step(**a, g=None)), delta_rule_recurrent
    else:
        x = without(x, "beta")
        step, ref = scalar_decay_step, scalar_decay_recurrent
    expected = run_with_grads(ref, x)
    assert_close(run_with_grads(step, x), expected)
    assert expected["o"].abs().max() > 0.1  # the read is not trivially zero


def test_auto_dispatch_on_cpu_uses_the_step_for_one_token_else_chunked(monkeypatch):
    calls = []
    for name in ("gated_delta_rule_step", "gated_delta_rule_chunked", "scalar_decay_chunked"):
        real = getattr(ahn.ops, name)
        monkeypatch.setattr(
            ahn.ops, name, lambda *a, _real=real, _name=name, **kw: calls.append(_name) or _real(*a, **kw)
        )
    x = make_inputs(1, 1, 2, 16)
    gated_delta_rule(**x)
    x = make_inputs(1, 37, 2, 16)
    o, state = gated_delta_rule(**x)
    scalar_decay(**without(x, "beta"))
    assert calls == ["gated_delta_rule_step", "gated_delta_rule_chunked", "scalar_decay_chunked"]
    o_ref, state_ref = gated_delta_rule(**x, mode="recurrent")
    assert_close({"o": o, "state": state}, {"o": o_ref, "state": state_ref})


def test_dispatch_delta_rule_and_modes():
    x = without(make_inputs(2, 37, 3, 16), "g")
    o, state = gated_delta_rule(**x, g=None, mode="chunked")
    o_ref, state_ref = delta_rule_recurrent(**x)
    assert_close({"o": o, "state": state}, {"o": o_ref, "state": state_ref})
    with pytest.raises(ValueError, match="mode must be one of"):
        gated_delta_rule(**x, g=None, mode="fast")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="mode='fla' needs CUDA"):
            gated_delta_rule(**x, g=None, mode="fla")


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"v": torch.randn(2, 36, 3, 16)}, "v must be"),  # T mismatch
        ({"k": torch.randn(2, 37, 4, 16)}, "k must have q's shape"),  # H mismatch
        ({"beta": torch.rand(2, 37, 4)}, "beta must be"),
        ({"g": torch.rand(2, 37)}, "g must be"),
        ({"initial_state": torch.randn(2, 3, 16, 8)}, "initial_state must be"),
        ({"q": torch.randn(2, 37, 48)}, "must be 4-D"),
    ],
    ids=["T-mismatch", "H-mismatch", "beta", "g", "initial_state", "3-D-q"],
)
def test_bad_shapes_raise_value_error(bad, message):
    x = make_inputs(2, 37, 3, 16) | bad
    for fn in (gated_delta_rule, gated_delta_rule_chunked, gated_delta_rule_recurrent):
        with pytest.raises(ValueError, match=message):
            fn(**x)


# -- against fla's naive references (skipped without fla) -----------------------------------------------

FLA_SHAPES = [(1, 1, 2, 16, 64), (2, 37, 3, 16, 16), (2, 130, 3, 16, 64)]


@pytest.fixture(scope="module")
def fla_gdn():
    return pytest.importorskip("fla.ops.gated_delta_rule.naive")


@pytest.mark.parametrize("shape", FLA_SHAPES, ids=shape_id)
def test_gated_delta_rule_matches_fla_naive(shape, fla_gdn):
    *bthd, C = shape
    x = make_inputs(*bthd)

    def fla_recurrent(q, k, v, beta, g, initial_state):
        return fla_gdn.naive_recurrent_gated_delta_rule(
            q, k, v, beta, g, initial_state=initial_state, output_final_state=True
        )

    def fla_chunk(q, k, v, beta, g, initial_state):
        return fla_gdn.naive_chunk_gated_delta_rule(
            q, k, v, g, beta, chunk_size=C, initial_state=initial_state, output_final_state=True
        )

    expected = run_with_grads(fla_recurrent, x)
    assert_close(run_with_grads(fla_chunk, x), expected)  # the two oracles agree with each other
    assert_close(run_with_grads(lambda **a: gated_delta_rule_chunked(**a, chunk_size=C), x), expected)
    assert_close(run_with_grads(gated_delta_rule_recurrent, x), expected)


@pytest.mark.parametrize("shape", FLA_SHAPES, ids=shape_id)
def test_delta_rule_matches_fla_naive(shape):
    naive = pytest.importorskip("fla.ops.delta_rule.naive")
    *bthd, C = shape
    x = without(make_inputs(*bthd), "g")

    def fla_recurrence(q, k, v, beta, initial_state):  # fla's delta rule reference is [B, H, T, D]
        o, state = naive.delta_rule_recurrence(
            q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), beta.transpose(1, 2), initial_state
        )
        return o.transpose(1, 2), state

    expected = run_with_grads(fla_recurrence, x)
    assert_close(run_with_grads(lambda **a: delta_rule_chunked(**a, chunk_size=C), x), expected)
    assert_close(run_with_grads(delta_rule_recurrent, x), expected)


@pytest.mark.parametrize("shape", FLA_SHAPES, ids=shape_id)
def test_scalar_decay_matches_fla_naive(shape):
    naive = pytest.importorskip("fla.ops.simple_gla.naive")
    *bthd, C = shape
    x = without(make_inputs(*bthd), "beta")

    def fla_recurrent(q, k, v, g, initial_state):
        return naive.naive_recurrent_simple_gla(
            q, k, v, g, initial_state=initial_state, output_final_state=True
        )

    expected = run_with_grads(fla_recurrent, x)
    assert_close(run_with_grads(lambda **a: scalar_decay_chunked(**a, chunk_size=C), x), expected)
    assert_close(run_with_grads(scalar_decay_recurrent, x), expected)


# -- fla's Triton kernels on CUDA ---------------------------------------------------------------------


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("shape", [(2, 1, 3, 64, 64), (2, 37, 3, 64, 64), (1, 300, 4, 64, 64)], ids=shape_id)
@pytest.mark.parametrize("op", ["gdn", "dn", "scalar_decay"])
def test_fla_kernel_dispatch_matches_chunked_on_cuda(shape, op):
    if ahn.ops.fla_kernels() is None:
        pytest.skip("fla Triton kernels not importable")
    *bthd, C = shape
    x = {n: t.cuda() for n, t in make_inputs(*bthd).items()}
    if op == "gdn":
        fast, ref = (lambda mode: lambda **a: gated_delta_rule(**a, mode=mode)), gated_delta_rule_chunked
    elif op == "dn":
        x = without(x, "g")
        fast, ref = (lambda mode: lambda **a: gated_delta_rule(**a, g=None, mode=mode)), delta_rule_chunked
    else:
        x = without(x, "beta")
        fast, ref = (lambda mode: lambda **a: scalar_decay(**a, mode=mode)), scalar_decay_chunked
    # Triton's fp32 dots may run in TF32 (10-bit mantissa): a looser bound than the CPU comparisons.
    loose = dict.fromkeys(TOLERANCE, 5e-3)
    expected = run_with_grads(ref, x)
    assert_close(run_with_grads(fast("fla"), x), expected, loose)
    assert_close(run_with_grads(fast("auto"), x), expected, loose)
