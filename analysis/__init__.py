"""Analysis: tables, plots, reports and run comparisons, derived from result rows only."""
