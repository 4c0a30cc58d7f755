"""The Markdown sections that follow a protocol's table in ``results.md`` (and the documents' result regions):
identity by yaw change (:mod:`headshot.eval.turned`), background L1 per clip (:mod:`headshot.eval.background`),
and the turned rows' wins over the baselines.
"""

from __future__ import annotations

from .background import background_clip_table
from .turned import yaw_table

YAW_TEXT = ("Identity (CSIM) by how far the head turned from the source: |yaw of the real frame − yaw of the source| "
            "(frames in brackets):")
BACKGROUND_TEXT = ("Background L1 per clip (outside the person, full frame; in brackets the ratio to the unmoved "
                   "source over the frames both were scored on, ⚠ worse by > 10%):")


def yaw_key(protocol: str) -> str:
    """The results summary's key of ``protocol``'s identity-by-yaw-change table."""
    return f"{protocol}_csim_by_yaw"


def background_flags_text(by_clip: dict) -> str:
    """One line per engine row: on how many clips its background L1 is > 10% above the unmoved source's."""
    lines = []
    for key, items in by_clip["flagged"].items():
        if key == by_clip["reference"]:
            continue
        shown = ", ".join(items[:6]) + (", …" if len(items) > 6 else "")
        lines.append(f"- `{key}`: background worse than the unmoved source by > 10% on {len(items)} of "
                     f"{by_clip['clip_count']} clips" + (f" ({shown})" if items else "") + ".")
    return "\n".join(lines)


def extra_sections(summary: dict, protocol: str) -> list[str]:
    """Markdown lines after ``protocol``'s table: yaw table, per-clip background, turned wins."""
    parts: list[str] = []
    yaw = summary.get(yaw_key(protocol))
    if yaw:
        parts += [YAW_TEXT, "", yaw_table(yaw), ""]
    by_clip = (summary.get("background_by_clip") or {}).get(protocol)
    if by_clip:
        parts += [BACKGROUND_TEXT, "", background_clip_table(by_clip), ""]
    if protocol == "turned":
        for key, verdict in (summary.get("turned_wins_over_baselines") or {}).items():
            beaten, not_beaten = verdict["beats_both_baselines_on"], verdict["does_not_beat_both_on"]
            parts.append(f"- turned: `{key}` beats both baselines on: {', '.join(beaten) if beaten else 'nothing'}"
                         + (f"; not on: {', '.join(not_beaten)}." if not_beaten else "."))
        if summary.get("turned_wins_over_baselines"):
            parts.append("")
    return parts
