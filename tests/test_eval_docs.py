"""``python -m headshot.eval.docs``: documents' result regions rewritten from a run folder, nothing else."""

from __future__ import annotations

import json

import pytest

from headshot.errors import InputError
from headshot.eval import docs

SUMMARY = {
    "tables": {
        "self": {
            "source (unmoved)": {"frames": 16, "l1": 0.0444, "psnr": 23.83, "akd": 8.73, "csim": 0.909},
            "warp (template, no pixels)": {"frames": 16, "l1": 0.0312, "psnr": 26.36, "akd": 0.80, "csim": 0.904},
        },
        "fewshot": {
            **{f"source (unmoved)|T={t}": {"frames": 8, "l1": 0.0494, "shots_used": [1]} for t in (1, 8, 32)},
            **{f"warp (template, no pixels)|T={t}": {"frames": 8, "l1": 0.0336, "shots_used": [1]}
               for t in (1, 8, 32)},
        },
    },
    "self_csim_by_motion": {"metric": "csim", "bins": [[0.0, 3.0], [3.0, None]], "frames": [10, 6],
                            "rows": {"source (unmoved)": [0.955, 0.9], "warp (template, no pixels)": [0.96, 0.88]}},
    "self_wins_over_baselines": {"warp (template, no pixels)": {"beats_both_baselines_on": ["l1", "akd"],
                                                                "does_not_beat_both_on": ["csim"]}},
}

README = """# Title

Text before, with a table that is not generated:

| a | b |
|---|---|
| 1 | 2 |

<!-- results:self:start -->
| engine | frames | L1 ↓ |
|---|---:|---:|
| old row | 1 | 9.9999 |
<!-- results:self:end -->

Between the regions.

<!-- results:self-motion:start -->
old motion table
<!-- results:self-motion:end -->

<!-- results:fewshot:start -->
| engine | frames | L1 ↓ |
| source (unmoved), T=1 | 8 | 0.0494 |
| source (unmoved), T=8 | 8 | 0.0494 |
<!-- results:fewshot:end -->

<!-- results:self-wins:start -->
- old verdict
<!-- results:self-wins:end -->

<!-- results:cross:start -->
| cross numbers from an earlier run |
<!-- results:cross:end -->

Text after.
"""

MODEL_CARD = """## Evaluation

<!-- results:self:start columns=l1,akd,csim frames=no -->
| engine | L1 ↓ |
<!-- results:self:end -->
"""


def _outside(text: str) -> list[str]:
    """The lines of ``text`` outside every results region (markers included)."""
    kept, inside = [], False
    for line in text.splitlines():
        if line.startswith("<!-- results:") and ":start" in line:
            inside = True
            kept.append(line)
        elif line.startswith("<!-- results:") and line.endswith(":end -->"):
            inside = False
        if not inside:
            kept.append(line)
    return kept


@pytest.fixture
def run_folder(tmp_path):
    folder = tmp_path / "runs" / "eval"
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps(SUMMARY))
    return folder


def test_rewrites_only_the_marked_regions_and_is_idempotent(run_folder, tmp_path, capsys):
    readme, card = tmp_path / "README.md", tmp_path / "MODEL_CARD.md"
    readme.write_text(README)
    card.write_text(MODEL_CARD)
    assert docs.main([str(run_folder), str(readme), str(card), "--check"]) == 1
    assert readme.read_text() == README  # --check writes nothing
    assert docs.main([str(run_folder), str(readme), str(card)]) == 0
    text = readme.read_text()
    assert _outside(text) == _outside(README)
    assert "old row" not in text and "| warp (template, no pixels) | 16 | 0.0312 | 26.36 | 8" not in text
    assert "| warp (template, no pixels) | 16 | 0.0312 | 26.36 | 0.80 | 0.904 |" in text
    assert "| warp (template, no pixels) | 0.960 | 0.880 |" in text
    assert "- `warp (template, no pixels)` beats both baselines on: l1, akd; not on: csim." in text
    # Few-shot: one row per one-image engine instead of one per T.
    assert "| source (unmoved), T=1, 8, 32 (one image) | 8 | 0.0494 |" in text
    assert "T=8 | 8" not in text
    # A protocol the run does not have keeps its old numbers.
    assert "| cross numbers from an earlier run |" in text
    assert "not in this run, left as they were: cross" in capsys.readouterr().out
    # The model card's options: chosen columns, no frames column.
    assert "| engine | L1 ↓ | AKD px ↓ | CSIM ↑ |\n|---|---:|---:|---:|\n| source (unmoved) | 0.0444 | 8.73 | 0.909 |" \
        in card.read_text()
    # A second run changes nothing.
    before = readme.read_text(), card.read_text()
    assert docs.main([str(run_folder), str(readme), str(card), "--check"]) == 0
    assert docs.main([str(run_folder), str(readme), str(card)]) == 0
    assert (readme.read_text(), card.read_text()) == before


def test_bad_markers_and_run_folders_are_one_line_errors(run_folder, tmp_path, capsys):
    with pytest.raises(InputError, match="without its end marker"):
        docs.update_text("<!-- results:self:start -->\n| x |\n", SUMMARY)
    with pytest.raises(InputError, match="unknown results region"):
        docs.update_text("<!-- results:selfie:start -->\nx\n<!-- results:selfie:end -->", SUMMARY)
    with pytest.raises(InputError, match="unknown column 'l2'"):
        docs.update_text("<!-- results:self:start columns=l2 -->\nx\n<!-- results:self:end -->", SUMMARY)
    document = tmp_path / "doc.md"
    document.write_text("no markers\n")
    assert docs.main([str(tmp_path / "nowhere"), str(document)]) == 1
    assert "results.json" in capsys.readouterr().err
    assert docs.main([str(run_folder), str(document)]) == 0 and document.read_text() == "no markers\n"
