"""Markdown pieces shared by the eval reports: a table cell and a table of values per bin."""

from __future__ import annotations

import math


def cell(value, fmt: str) -> str:
    """``value`` formatted with ``fmt``; a dash for a missing or non-finite value."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return fmt.format(value)


def binned_table(binned: dict, unit: str) -> str:
    """A table of one metric per bin (``{"bins": [[low, high], ...], "frames": [...], "rows": {key: values}}``,
    as results.json stores it; the open end, infinity, may be stored as null) as Markdown, each bin headed
    ``low–high`` + ``unit`` with its frame count."""
    def label(low, high, count):
        span = f"≥ {low:g}{unit}" if high is None or math.isinf(high) else f"{low:g}–{high:g}{unit}"
        return f"{span} ({count})"

    header = ["engine"] + [label(low, high, n) for (low, high), n in zip(binned["bins"], binned["frames"])]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    for key, values in binned["rows"].items():
        lines.append("| " + " | ".join([key] + [cell(v, "{:.3f}") for v in values]) + " |")
    return "\n".join(lines)
