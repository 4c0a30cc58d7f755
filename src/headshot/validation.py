"""Checks for user-set options: the right type and a sane range, or one :class:`OptionError` line.

Shared by the CLI and the Python API so that ``--size big`` and ``size="big"`` get the same message.
Each checker returns the value in its normal form (``int``/``float``/``bool``/``tuple``) and names the
option as the CLI spells it (``--pose-scale``).
"""

from __future__ import annotations

import math
import numbers
import os
from typing import Iterable

from .errors import OptionError


def _shown(value) -> str:
    """``value`` for an error message: short, on one line (numpy scalars as plain numbers)."""
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        value = value.item()
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def number(value, flag: str, low: float, high: float, *, integer: bool = False,
           optional: bool = False) -> float | int | None:
    """``value`` as a float (an int when ``integer``: ``256.0`` is fine, ``256.5`` is not) in
    ``[low, high]``; NaN and infinity are refused.

    ``optional``: ``None`` is allowed (and returned). Booleans are not numbers here.
    """
    if value is None and optional:
        return None
    expected = ("a whole number" if integer else "a number") + (
        f" from {low:g} to {high:g}" if math.isfinite(high) else f" of at least {low:g}")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise OptionError(f"{flag} must be {expected} (got {_shown(value)})")
    if not (low <= value <= high and math.isfinite(value)):  # NaN fails every comparison
        raise OptionError(f"{flag} must be {expected} (got {_shown(value)})")
    if integer and not isinstance(value, numbers.Integral):
        if not float(value).is_integer():
            raise OptionError(f"{flag} must be {expected} (got {_shown(value)})")
    return int(value) if integer else float(value)


def switch(value, flag: str) -> bool:
    """``value`` as a bool; only ``True``/``False`` (numpy booleans too) are accepted."""
    if not isinstance(value, bool) and type(value).__name__ != "bool_":
        raise OptionError(f"{flag} must be True or False (got {_shown(value)})")
    return bool(value)


def text(value, flag: str, choices: Iterable[str] | None = None, *, optional: bool = False,
         path: bool = False) -> str | None:
    """``value`` as a str, one of ``choices`` if given; ``path``: a ``Path`` is accepted too."""
    if value is None and optional:
        return None
    if path and isinstance(value, os.PathLike):
        value = os.fspath(value)
    choices = tuple(choices) if choices is not None else None
    if not isinstance(value, str) or (choices is not None and value not in choices):
        expected = f"one of {', '.join(choices)}" if choices is not None else "a name"
        raise OptionError(f"{flag} must be {expected} (got {_shown(value)})")
    return value


def names(value, flag: str, choices: tuple[str, ...]) -> tuple[str, ...]:
    """A non-empty subset of ``choices``, given as ``"a,b"`` or a sequence of names; returned as a tuple."""
    if isinstance(value, str):
        parts = [part.strip() for part in value.split(",") if part.strip()]
    elif isinstance(value, Iterable) and not isinstance(value, (bytes, dict)):
        parts = list(value)
    else:
        parts = None
    if not parts or not all(isinstance(part, str) for part in parts) or any(p not in choices for p in parts):
        shown = ",".join(map(str, parts)) if parts else _shown(value)
        raise OptionError(f"{flag} must be a comma list of {', '.join(choices)} (got {shown})")
    return tuple(dict.fromkeys(parts))
