"""Report pooling: identity by motion bins; few-shot tables merge the repeated rows of one-image engines."""

from __future__ import annotations

import math

import pytest

from headshot.eval import pooling, tables
from headshot.eval.protocols import ItemResult


def _item(name: str, motion: list[float], csim: dict[str, list[float]]) -> ItemResult:
    result = ItemResult(name, "self")
    result.rows[pooling.MOTION_REFERENCE] = {"per_frame": {"akd": motion, "csim": [0.9] * len(motion)}}
    for key, values in csim.items():
        result.rows[key] = {"per_frame": {"akd": [0.5] * len(values), "csim": values}}
    return result


def test_csim_is_pooled_per_motion_bin():
    results = [_item("a", [1.0, 4.0, 25.0], {"warp": [0.95, 0.85, 0.50]}),
               _item("b", [2.0, 12.0], {"warp": [0.97, 0.70]}),
               _item("c", [1.0], {}),  # a row missing on an item contributes no frames to that row
               ItemResult("d", "cross")]
    motion = pooling.by_motion(results)
    assert motion["frames"] == [3, 1, 0, 1, 1]
    warp = motion["rows"]["warp"]
    assert warp[0] == pytest.approx(0.96)
    assert warp[1] == pytest.approx(0.85)
    assert math.isnan(warp[2])
    assert warp[3] == pytest.approx(0.70) and warp[4] == pytest.approx(0.50)
    assert motion["rows"][pooling.MOTION_REFERENCE] == pytest.approx([0.9, 0.9, math.nan, 0.9, 0.9], nan_ok=True)
    table = tables.motion_table(motion)
    assert "0–3 px (3)" in table and "≥ 20 px (1)" in table and "| warp | 0.960 | 0.850 | — |" in table


def test_no_motion_table_without_the_unmoved_source():
    assert pooling.by_motion([_item("a", [1.0], {})][:0]) is None
    only_warp = ItemResult("a", "self")
    only_warp.rows["warp"] = {"per_frame": {"akd": [1.0], "csim": [0.9]}}
    assert pooling.by_motion([only_warp]) is None


def test_fewshot_table_shows_one_row_per_one_image_engine():
    same = {"frames": 4, "l1": 0.05, "shots_used": [1]}
    table = {f"source (unmoved)|T={t}": dict(same) for t in (1, 8, 32)}
    table.update({"neural (template, no pixels)|T=1": {"frames": 4, "l1": 0.04, "shots_used": [1]},
                  "neural (template, no pixels)|T=8": {"frames": 4, "l1": 0.03, "shots_used": [8]}})
    markdown = tables.protocol_table({"tables": {"fewshot": table}}, "fewshot")
    lines = markdown.splitlines()
    assert len(lines) == 2 + 3
    assert lines[2] == "| source (unmoved), T=1, 8, 32 (one image) | 4 | 0.0500 |"
    assert lines[3].startswith("| neural (template, no pixels), T=1 | 4 | 0.0400")
    assert lines[4].startswith("| neural (template, no pixels), T=8 | 4 | 0.0300")
