"""Report pooling: identity by motion bins."""

from __future__ import annotations

import math

import pytest

from headshot.eval import report
from headshot.eval.protocols import ItemResult


def _item(name: str, motion: list[float], csim: dict[str, list[float]]) -> ItemResult:
    result = ItemResult(name, "self")
    result.rows[report.MOTION_REFERENCE] = {"per_frame": {"akd": motion, "csim": [0.9] * len(motion)}}
    for key, values in csim.items():
        result.rows[key] = {"per_frame": {"akd": [0.5] * len(values), "csim": values}}
    return result


def test_csim_is_pooled_per_motion_bin():
    results = [_item("a", [1.0, 4.0, 25.0], {"warp": [0.95, 0.85, 0.50]}),
               _item("b", [2.0, 12.0], {"warp": [0.97, 0.70]}),
               _item("c", [1.0], {}),  # a row missing on an item contributes no frames to that row
               ItemResult("d", "cross")]
    motion = report.by_motion(results)
    assert motion["frames"] == [3, 1, 0, 1, 1]
    warp = motion["rows"]["warp"]
    assert warp[0] == pytest.approx(0.96)
    assert warp[1] == pytest.approx(0.85)
    assert math.isnan(warp[2])
    assert warp[3] == pytest.approx(0.70) and warp[4] == pytest.approx(0.50)
    assert motion["rows"][report.MOTION_REFERENCE] == pytest.approx([0.9, 0.9, math.nan, 0.9, 0.9], nan_ok=True)
    table = report._motion_table(motion)
    assert "0–3 px (3)" in table and "≥ 20 px (1)" in table and "| warp | 0.960 | 0.850 | — |" in table


def test_no_motion_table_without_the_unmoved_source():
    assert report.by_motion([_item("a", [1.0], {})][:0]) is None
    only_warp = ItemResult("a", "self")
    only_warp.rows["warp"] = {"per_frame": {"akd": [1.0], "csim": [0.9]}}
    assert report.by_motion([only_warp]) is None
