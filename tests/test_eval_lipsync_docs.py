"""The README's lip-sync table is rewritten from a lipsync run folder (never typed)."""

from __future__ import annotations

import json

from headshot.eval.lipsync_docs import main


def test_readme_region_comes_from_the_run(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    table = {"phones+learned": {"label": "phones + learned jaw", "clips": 35, "r0": 0.31, "r_best": 0.48,
                                "delta_energy": 0.16, "range_ratio": 0.9, "closure": 0.25},
             "energy": {"label": "energy envelope", "clips": 35, "r0": 0.17, "r_best": 0.32, "delta_energy": None,
                        "range_ratio": float("nan"), "closure": 0.03}}
    (run / "results.json").write_text(json.dumps({
        "protocol": "lipsync", "table": table, "real": {"clips": 35},
        "settings": {"size": 256, "audio2mouth_weights": "/x/cv-run"},
        "machine": {"cpu": "AMD EPYC", "cores": 2, "run": {"load_average_1min": 3.5}}}))
    readme = tmp_path / "README.md"
    readme.write_text("before\n<!-- results:lipsync:start -->\nstale table\n<!-- results:lipsync:end -->\nafter\n")
    assert main([str(run), str(readme), "--check"]) == 1
    assert main([str(run), str(readme)]) == 0
    text = readme.read_text()
    assert "| phones + learned jaw | 35 | 0.310 | 0.480 | +0.160 | 0.90 | 25% |" in text
    assert "| energy envelope | 35 | 0.170 | 0.320 | — | — | 3% |" in text
    assert "out-of-fold" in text and "cv-run" in text and "stale table" not in text and text.endswith("after\n")
    assert main([str(run), str(readme), "--check"]) == 0
    assert main([str(tmp_path), str(readme)]) == 2  # not a run folder
