"""Rewrite the lip-sync table of README.md from a lipsync run folder, so that the README cannot drift from
the measurement.

    python -m headshot.eval.lipsync_docs RUN_FOLDER README.md [--check]

``RUN_FOLDER`` is what ``headshot eval --protocol lipsync --out RUN_FOLDER`` wrote (its ``results.json``).
The document marks the generated region with ``<!-- results:lipsync:start -->`` and
``<!-- results:lipsync:end -->``; only the text between them changes: a compact table (r at lag 0, best r
within ±3 frames, its difference to the energy envelope, range ratio, bilabials closed) and one line on the
run (clips, machine load). Running twice changes nothing the second time.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path

from ..errors import InputError
from ..io.atomic import atomic_write_text

_REGION = re.compile(r"(<!-- results:lipsync:start -->\n).*?(<!-- results:lipsync:end -->)", re.S)
_COLUMNS = (("r0", "r lag 0", "{:.3f}"), ("r_best", "best r ±3 frames", "{:.3f}"),
            ("delta_energy", "Δ vs energy", "{:+.3f}"), ("range_ratio", "range ratio", "{:.2f}"),
            ("closure", "bilabials closed", "{:.0%}"))


def _cell(value, fmt: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return fmt.format(value)


def lipsync_markdown(summary: dict) -> str:
    """The README's lip-sync region from a lipsync ``results.json``."""
    lines = ["| row | clips | " + " | ".join(c[1] for c in _COLUMNS) + " |",
             "|---|---:|" + "---:|" * len(_COLUMNS)]
    for entry in summary["table"].values():
        cells = [_cell(entry.get(key), fmt) for key, _, fmt in _COLUMNS]
        lines.append(f"| {entry['label']} | {entry['clips']} | " + " | ".join(cells) + " |")
    run, settings = summary["machine"].get("run", {}), summary["settings"]
    weights = settings.get("audio2mouth_weights")
    lines += ["", f"{summary['real']['clips']} dev clips with sound, warp engine at {settings['size']} px; learned "
              f"rows: {'out-of-fold (each clip scored by a model that never saw its speaker), run ' + Path(weights).name if weights else 'the shipped weights (in-sample)'}; "
              f"{summary['machine'].get('cpu', 'CPU')}, {summary['machine'].get('cores', '?')} cores, load average "
              f"{run.get('load_average_1min')} at the end of the run."]
    return "\n".join(lines) + "\n"


def update_text(text: str, summary: dict) -> str:
    if not _REGION.search(text):
        raise InputError("no <!-- results:lipsync:start --> ... <!-- results:lipsync:end --> region")
    return _REGION.sub(lambda m: m.group(1) + lipsync_markdown(summary) + m.group(2), text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("document", type=Path)
    parser.add_argument("--check", action="store_true", help="exit 1 if the document would change")
    args = parser.parse_args(argv)
    try:
        summary = json.loads((args.run / "results.json").read_text())
        if summary.get("protocol") != "lipsync":
            raise InputError(f"{args.run} is not a lipsync run folder")
        old = args.document.read_text()
        new = update_text(old, summary)
    except (OSError, json.JSONDecodeError, InputError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.check:
        return int(new != old)
    if new != old:
        atomic_write_text(args.document, new)
        print(f"updated {args.document}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
