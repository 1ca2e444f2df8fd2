"""Harnesses (efficiency, accuracy) and the suite runner. They produce result rows (results.py)."""
