"""Fill the numbers of ``models/AUDIO2MOUTH_CARD.md`` from an audio → mouth run folder, so that the card
cannot drift from the run that made the shipped weights.

    python -m headshot.train.audio2mouth_card RUN_FOLDER [--cv CV_FOLDER] [--card CARD.md] [--check]

``RUN_FOLDER`` is what ``python -m headshot.train.audio2mouth --run RUN_FOLDER --weights ...`` wrote
(``options.json``, ``final.json``, and ``summary.json`` unless the cross-validation ran apart: then
``--cv`` names its run folder) plus, optionally, ``bench.json`` from
``benchmarks/audio2mouth_bench.py --out RUN_FOLDER/bench.json``. Rewritten: the cells of the card's
``| network |``, ``| training |`` and ``| speed |`` rows, and the cross-validation table between
``<!-- card:cv:start -->`` and ``<!-- card:cv:end -->``. Running twice changes nothing the second time.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from ..errors import InputError
from ..io.atomic import atomic_write_text

DEFAULT_CARD = Path(__file__).resolve().parents[1] / "models" / "AUDIO2MOUTH_CARD.md"
_CV = re.compile(r"(<!-- card:cv:start -->\n).*?(<!-- card:cv:end -->)", re.S)


def _read(run: Path, name: str, required: bool = True) -> dict | None:
    path = run / name
    if not path.is_file():
        if required:
            raise InputError(f"{path} not found (is {run} an audio2mouth run folder with --weights?)")
        return None
    return json.loads(path.read_text())


def card_cells(run: Path) -> dict[str, str]:
    """``{row label: cell text}`` of the card's facts table from a run folder."""
    options, final = _read(run, "options.json"), _read(run, "final.json")
    bench = _read(run, "bench.json", required=False)
    cells = {
        "network": (f"{final['members']} temporal convolution networks from different seeds, outputs averaged; "
                    f"{final['parameters']:,} parameters in all. Each: two kernel-3 convolutions at 100 Hz "
                    f"({options['channels'][0]} channels), a stride-4 convolution to 25 fps, "
                    f"{len(options['dilations'])} residual dilated blocks (dilations "
                    f"{', '.join(str(d) for d in options['dilations'])}; {options['channels'][1]} channels; "
                    f"normalisation over ±{options['norm_frames']} frames), a 1×1 head; dropout {options['dropout']}"),
        "training": (f"{final['clips']} clips, {final['identities']} identities, {final['frames']:,} frames; "
                     f"{options['steps']} AdamW steps per member (lr {options['lr']}, one-cycle, weight decay "
                     f"{options['weight_decay']}), batches of {options['batch']} crops of {options['crop_frames']} "
                     f"frames; {final['fit_seconds']:.0f} s wall clock on {final['threads']} CPU thread(s) of a "
                     f"shared machine (after measuring offsets); seed {options['seed']}"),
    }
    if bench:
        cells["speed"] = (f"{bench['rtf_wall']:.3f}× real time ({bench['minutes']:g} min of audio in "
                          f"{bench['wall_seconds']:.1f} s, {bench['threads']} torch thread(s), load average "
                          f"{bench['load_average']:.1f}); peak NumPy allocations {bench['peak_mib']:.0f} MiB "
                          f"(`benchmarks/audio2mouth_bench.py`)")
    return cells


def update_card(text: str, run: Path, cv: Path | None = None) -> str:
    """The card's text with its generated cells from ``run`` and its table from ``cv`` (default ``run``)."""
    from .audio2mouth import card_table

    for label, cell in card_cells(run).items():
        pattern = re.compile(rf"^\| {re.escape(label)} \|.*$", re.M)
        if not pattern.search(text):
            raise InputError(f"the card has no '| {label} |' row")
        text = pattern.sub(lambda _: f"| {label} | {cell} |", text)
    if not _CV.search(text):
        raise InputError("the card has no <!-- card:cv:start --> ... <!-- card:cv:end --> region")
    table = card_table(_read(cv or run, "summary.json"))
    return _CV.sub(lambda m: m.group(1) + table + m.group(2), text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path, help="audio2mouth run folder")
    parser.add_argument("--cv", type=Path, default=None, help="cross-validation run folder (default: RUN)")
    parser.add_argument("--card", type=Path, default=DEFAULT_CARD, help="model card to rewrite")
    parser.add_argument("--check", action="store_true", help="exit 1 if the card would change")
    args = parser.parse_args(argv)
    try:
        old = args.card.read_text()
        new = update_card(old, args.run, args.cv)
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.check:
        if new != old:
            print(f"{args.card} is out of date with {args.run}", file=sys.stderr)
            return 1
        return 0
    if new != old:
        atomic_write_text(args.card, new)
        print(f"updated {args.card}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
