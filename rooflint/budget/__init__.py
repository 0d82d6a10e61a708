"""CI budgets: a strict schema (schema.py) and its evaluation against the analysis (evaluate.py)."""
