"""The dev identity split (configs/splits/dev.yaml) and the training code that honours it."""

from __future__ import annotations

import pytest

from headshot.errors import InputError
from headshot.train.split import DEV_SPLIT, load_split, resolve_split_path, split_records


def test_dev_split_holds_out_at_least_ten_real_dev_identities(dev_data):
    heldout = load_split(DEV_SPLIT)
    identities = {path.name.split("__")[0] for path in (dev_data / "videos").glob("*.mp4")}
    assert len(heldout) >= 10
    assert heldout <= identities                      # every name is a dev identity (no typo)
    assert len(identities - heldout) >= 30            # most people stay for training


def test_split_records_keeps_heldout_people_out_of_training():
    records = [{"identity": name, "clip": f"{name}__{i}"} for name in ("a", "b", "c") for i in range(2)]
    train, val = split_records(records, frozenset({"b", "zz"}))
    assert {r["identity"] for r in train} == {"a", "c"} and {r["identity"] for r in val} == {"b"}
    with pytest.raises(InputError, match="none of the split"):
        split_records(records, frozenset({"zz"}))


def test_bad_split_files_are_one_line_errors(tmp_path):
    bad = tmp_path / "split.yaml"
    for text in ("heldout: []\n", "held_out: [a]\n", "heldout: [a, a]\n", "heldout: [a\n"):
        bad.write_text(text)
        with pytest.raises(InputError):
            load_split(bad)
    with pytest.raises(InputError, match="not found"):
        resolve_split_path("nope.yaml")
    # a config names the split relative to the repository: found from the config's folder too
    found = resolve_split_path("configs/splits/dev.yaml", DEV_SPLIT.parents[1] / "default_cpu.yaml")
    assert found.resolve() == DEV_SPLIT.resolve()
