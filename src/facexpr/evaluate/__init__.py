"""Evaluation: scoring facexpr's outputs (kept import-light: nothing here loads a model)."""
