"""Rewrite the result tables of README.md and the model card from a run folder, so that the documents cannot
drift from the measurements.

    python -m headshot.eval.docs RUN_FOLDER DOCUMENT [DOCUMENT ...]          # rewrite the marked regions
    python -m headshot.eval.docs RUN_FOLDER DOCUMENT [DOCUMENT ...] --check  # exit 1 if one would change

``RUN_FOLDER`` is what ``headshot eval --out`` wrote (its ``results.json`` is read). A document marks each
generated region with two HTML comments, invisible when the Markdown is rendered::

    <!-- results:self:start -->
    | engine | frames | L1 ↓ | ... |
    <!-- results:self:end -->

Regions: ``self``, ``fewshot``, ``cross``, ``turned`` (a protocol's table, as in ``results.md``; few-shot rows
of one-image engines merged), ``self-motion`` (identity by motion), ``self-wins`` (the metrics each engine row
beats both baselines on), ``self-yaw`` and ``turned-yaw`` (identity by yaw change), ``self-background`` (on how
many clips each row's background L1 is > 10% above the unmoved source's) and ``turned-background`` (background
L1 per clip). Options follow ``start``: ``columns=l1,psnr,...`` (keys of ``results.json``'s
tables; default the protocol's columns) and ``frames=no`` (no frames column), e.g.
``<!-- results:self:start columns=l1,akd,csim frames=no -->``.

Only the text between a start and its end marker changes; a region whose numbers the run does not have (a
protocol it did not run) is left as it is and reported, and so is a region another tool writes (``lipsync``:
``python -m headshot.eval.lipsync_docs``). Running twice changes nothing the second time.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from ..errors import HeadshotError, InputError
from ..io.atomic import atomic_write_text
from .background import background_clip_table
from .sections import background_flags_text, yaw_key
from .tables import COLUMNS, SELF_COLUMNS, motion_table, protocol_table, wins_lines
from .turned import yaw_table

__all__ = ["load_summary", "region_markdown", "update_document", "update_text"]

REGIONS = ("self", "fewshot", "cross", "turned", "self-motion", "self-wins", "self-yaw", "turned-yaw",
           "self-background", "turned-background")
# Regions another tool writes (from another kind of run folder): left as they are here.
OTHER_TOOLS = {"lipsync": "headshot.eval.lipsync_docs"}
_REGION = re.compile(r"(?P<start><!-- results:(?P<name>[\w-]+):start(?P<options>[^>]*?)-->\n)"
                     r"(?P<body>.*?)(?P<end><!-- results:(?P=name):end -->)", re.S)
_START = re.compile(r"<!-- results:([\w-]+):start")


def load_summary(run_folder: str | Path) -> dict:
    """The ``results.json`` of an evaluation run folder; :class:`InputError` when it is missing or broken."""
    path = Path(run_folder) / "results.json"
    try:
        summary = json.loads(path.read_text())
    except OSError as error:
        raise InputError(f"cannot read {path}: {error.strerror or error} (is {run_folder} an eval run folder?)") from None
    except json.JSONDecodeError as error:
        raise InputError(f"{path} is not valid JSON ({error.msg}, line {error.lineno})") from None
    if not isinstance(summary, dict) or not isinstance(summary.get("tables"), dict):
        raise InputError(f"{path} has no result tables; is it from headshot eval?")
    return summary


def _options(text: str, name: str) -> dict[str, str]:
    options = {}
    for item in text.split():
        key, equals, value = item.partition("=")
        if not equals or key not in ("columns", "frames"):
            raise InputError(f"results:{name}: unknown option {item!r}; use columns=a,b,... or frames=no")
        options[key] = value
    return options


def region_markdown(summary: dict, name: str, options: dict[str, str] | None = None) -> str | None:
    """The Markdown of region ``name`` (see the module docstring) from a results summary, or ``None`` when the
    run has no numbers for it. Raises :class:`InputError` for an unknown region, column or option."""
    options = options or {}
    if name in OTHER_TOOLS:
        return None
    if name not in REGIONS:
        raise InputError(f"unknown results region {name!r}; choose from {', '.join(REGIONS)}")
    protocol = name.split("-")[0]
    if protocol not in summary["tables"] or not summary["tables"][protocol]:
        return None
    if name == "self-motion":
        motion = summary.get("self_csim_by_motion")
        return motion_table(motion) if motion else None
    if name == "self-wins":
        return "\n".join(wins_lines(summary)) or None
    if name.endswith("-yaw"):
        yaw = summary.get(yaw_key(protocol))
        return yaw_table(yaw) if yaw else None
    if name.endswith("-background"):
        by_clip = (summary.get("background_by_clip") or {}).get(protocol)
        if not by_clip:
            return None
        return background_flags_text(by_clip) if protocol == "self" else background_clip_table(by_clip)
    columns = None
    if options.get("columns"):
        known = {column[0]: column for column in SELF_COLUMNS}
        wanted = options["columns"].split(",")
        unknown = [key for key in wanted if key not in known]
        if unknown:
            raise InputError(f"results:{name}: unknown column {unknown[0]!r}; "
                             f"choose from {', '.join(c[0] for c in COLUMNS[protocol])}")
        columns = [known[key] for key in wanted]
    return protocol_table(summary, protocol, columns, frames=options.get("frames", "yes") != "no")


def update_text(text: str, summary: dict) -> tuple[str, list[str], list[str]]:
    """``(new text, regions rewritten, regions left as they were)`` for a document's text."""
    starts = _START.findall(text)
    complete = [match.group("name") for match in _REGION.finditer(text)]
    if sorted(starts) != sorted(complete):
        unclosed = next(name for name in starts if starts.count(name) != complete.count(name))
        raise InputError(f"results:{unclosed}: a start marker without its end marker "
                         f"(<!-- results:{unclosed}:end -->)")
    rewritten: list[str] = []
    left: list[str] = []

    def replace(match: re.Match) -> str:
        name = match.group("name")
        body = region_markdown(summary, name, _options(match.group("options"), name))
        if body is None:
            left.append(name)
            return match.group(0)
        rewritten.append(name)
        return match.group("start") + body + "\n" + match.group("end")

    return _REGION.sub(replace, text), rewritten, left


def update_document(path: str | Path, summary: dict, check: bool = False) -> tuple[bool, list[str], list[str]]:
    """Rewrite the marked regions of the document at ``path`` (atomically, only when something changes).

    Returns ``(changed, regions rewritten, regions left)``; with ``check`` nothing is written.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise InputError(f"cannot read {path}: {error.strerror or error}") from None
    new, rewritten, left = update_text(text, summary)
    changed = new != text
    if changed and not check:
        atomic_write_text(path, new)
    return changed, rewritten, left


def main(argv: list[str] | None = None) -> int:
    """Command line: see the module docstring. Exit 0 (done, or up to date with ``--check``), 1 (``--check``
    found a difference, or an error)."""
    parser = argparse.ArgumentParser(prog="python -m headshot.eval.docs",
                                     description="Rewrite the result tables of documents from an eval run folder.")
    parser.add_argument("run_folder", type=Path, help="run folder of headshot eval (holds results.json)")
    parser.add_argument("documents", type=Path, nargs="+", help="Markdown files with results:* markers")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a document differs")
    arguments = parser.parse_args(argv)
    try:
        summary = load_summary(arguments.run_folder)
        differs = False
        for document in arguments.documents:
            changed, rewritten, left = update_document(document, summary, check=arguments.check)
            differs |= changed
            state = ("differs from the run" if arguments.check else "rewritten") if changed else "up to date"
            print(f"{document}: {state} (regions: {', '.join(rewritten) or 'none'}"
                  + (f"; not in this run, left as they were: {', '.join(left)}" if left else "") + ")")
    except HeadshotError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 1 if arguments.check and differs else 0


if __name__ == "__main__":
    sys.exit(main())
