"""Evaluation: the field's metrics and protocols (``headshot eval``), side by side with baselines."""
