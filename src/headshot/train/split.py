"""The identity split of a training set: which people training must never see (``configs/splits/dev.yaml``).

A split file is YAML with one key, ``heldout``: a list of identity names (the ``identity`` of the prepared
dataset's index records, i.e. the file-name prefix before ``__`` or the VoxCeleb2 id). Training uses every
other identity; evaluation of unseen people uses these. Without a split file, training falls back to a
seeded random share of the identities (``val_fraction``).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from ..errors import InputError

REPO_CONFIGS = Path(__file__).resolve().parents[3] / "configs"
DEV_SPLIT = REPO_CONFIGS / "splits" / "dev.yaml"


def resolve_split_path(name: str | Path, config_path: str | Path | None = None) -> Path:
    """``name`` as given (absolute or relative to the working folder), else relative to the folder of the
    config file that names it, else to its parent (a repository root holding ``configs/``)."""
    path = Path(name)
    candidates = [path]
    if config_path is not None and not path.is_absolute():
        folder = Path(config_path).resolve().parent
        candidates += [folder / path, folder.parent / path]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise InputError(f"split file not found: {name}")


def load_split(path: str | Path) -> frozenset[str]:
    """The held-out identities of a split file; :class:`InputError` (one line) when it is not one."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"split file not found: {path}")
    try:
        document = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise InputError(f"{path} is not valid YAML: {str(error).splitlines()[0]}") from None
    if not isinstance(document, dict) or set(document) != {"heldout"}:
        raise InputError(f"{path}: a split file has exactly one key, 'heldout' (a list of identities)")
    names = document["heldout"]
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
        raise InputError(f"{path}: 'heldout' must be a non-empty list of identity names")
    if len(set(names)) != len(names):
        raise InputError(f"{path}: 'heldout' lists an identity twice")
    return frozenset(names)


def split_records(records: list[dict], heldout: frozenset[str]) -> tuple[list[dict], list[dict]]:
    """``(train, heldout)`` records of a dataset index by the split's identities. Raises :class:`InputError`
    when no held-out identity is in the records (a split file of another dataset, or a typo)."""
    present = {record["identity"] for record in records}
    if not present & heldout:
        raise InputError(f"none of the split's {len(heldout)} held-out identities is in this dataset "
                         f"(e.g. {sorted(heldout)[0]!r}); wrong split file?")
    train = [record for record in records if record["identity"] not in heldout]
    val = [record for record in records if record["identity"] in heldout]
    return train, val
