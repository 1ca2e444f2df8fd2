"""Accuracy harnesses: LV-Eval and InfiniteBench (loaders, prompts, truncation, scorers, generators, runner).

Faithful to the official repositories infinigence/LVEval (63e7ae9) and OpenBMB/InfiniteBench (88b3daa);
where this code departs from them, the comment at that place says so and why.
"""
