"""Long-context language modelling (`ahn-bench eval --benchmark lm`): per-position NLL of every method, and
its KL to full attention, on held-out long text, as result rows by position bucket relative to the window.

  buckets.py   the position buckets: inside the exact memory (S + W), then 1-2W, 2-4W, ... past its edge
  losses.py    per-position NLL and KL(p_full || p_method) from final hidden states, chunked over positions
  config.py    LmConfig: the resolved, validated run config, and what a resume must agree on
  runner.py    text -> sequences, one unit per (length, sequence), resume, aggregate rows
  summary.py   the human table and the share of swa's NLL gap to full that each memory closes
  cli.py       the `eval --benchmark lm` arguments
"""
