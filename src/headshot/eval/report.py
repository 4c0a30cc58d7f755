"""Write an evaluation run's results: results.json, results.md, per_video.csv and plots (see ``pooling.py``
for how items are pooled, ``tables.py`` for the Markdown, ``plots.py`` for the pictures).
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np

from ..assets import DLIB_INSTALL
from ..io.atomic import atomic_write_text
from .background import background_by_clip
from .plots import write_plots
from .pooling import aggregate, by_motion, mean, wins
from .sections import yaw_key
from .tables import DLIB_DEFINITION, render_markdown
from .turned import by_yaw_change

FRAME_METRICS = ("l1", "background_l1", "psnr", "ssim", "perceptual", "lpips", "akd", "face_lost", "csim",
                 "csim_dlib", "aed",
                 "pose_error", "expression_error")


def write_report(out: Path, results, rows: dict, settings: dict, machine: dict) -> dict:
    """Write results.json, results.md, per_video.csv and plots into ``out``; return the results dict."""
    out = Path(out)
    tables = {protocol: aggregate(results, protocol) for protocol in rows}
    skipped = [{"protocol": r.protocol, "item": r.item, "reason": r.skipped} for r in results if r.skipped]
    baseline_labels = {protocol: [r["label"] for r in protocol_rows if r["baseline"]]
                       for protocol, protocol_rows in rows.items()}
    summary: dict = {"settings": settings, "machine": machine, "tables": tables, "skipped": skipped,
                     "lpips": "computed" if settings.get("lpips_weights") else
                     "not computed: no --lpips-weights file given (LPIPS weights are not shipped with headshot)",
                     "fid_inception": "computed" if settings.get("inception_weights") else
                     "not computed: no --inception-weights file given",
                     "perceptual_metric": "MobileNetV2 perceptual distance (not LPIPS)",
                     "identity_cross_check": _identity_cross_check(settings.get("identity", "sface"))}
    if "self" in tables:
        engine_keys = [k for k in tables["self"] if k not in baseline_labels["self"]]
        summary["self_wins_over_baselines"] = wins(tables["self"], engine_keys, baseline_labels["self"])
        motion = by_motion(results)
        if motion is not None:
            summary["self_csim_by_motion"] = motion
    if "turned" in tables:
        engine_keys = [k for k in tables["turned"] if k not in baseline_labels["turned"]]
        summary["turned_wins_over_baselines"] = wins(tables["turned"], engine_keys, baseline_labels["turned"])
    for protocol in ("self", "turned"):
        yaw = by_yaw_change(results, protocol) if protocol in tables else None
        if yaw is not None:
            summary[yaw_key(protocol)] = yaw
        by_clip = background_by_clip(results, protocol) if protocol in tables else None
        if by_clip is not None:
            summary.setdefault("background_by_clip", {})[protocol] = by_clip
    # Strict JSON: undefined numbers (NaN, e.g. AKD when every face was lost; PSNR of identical images) -> null.
    atomic_write_text(out / "results.json", json.dumps(_finite(summary), indent=1, default=_jsonable, allow_nan=False))
    atomic_write_text(out / "results.md", render_markdown(summary))
    _write_csv(out / "per_video.csv", results)
    try:
        write_plots(out / "plots", results, list(rows))
    except Exception as error:  # plots are a convenience; never lose the numbers over them
        summary["plots_error"] = str(error)
    return summary


def _identity_cross_check(identity: str) -> str:
    if identity == "both":
        return f"computed (column CSIM dlib). {DLIB_DEFINITION}"
    return f"not run; pass --identity both, which needs dlib: {DLIB_INSTALL}"


def _finite(value):
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (set, tuple)):
        return list(value)
    return str(value)


def _write_csv(path: Path, results) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["protocol", "item", "row", "frames", *FRAME_METRICS, "jitter", "jitter_driver", "ms_per_frame",
                     "skipped"])
    for result in results:
        if result.skipped:
            writer.writerow([result.protocol, result.item, "", 0, *[""] * len(FRAME_METRICS), "", "", "", result.skipped])
            continue
        for key, row in result.rows.items():
            means = [mean(row["per_frame"].get(metric, [])) for metric in FRAME_METRICS]
            ms = 1000.0 * row["render_seconds"] / row["rendered"] if row["rendered"] else math.nan
            writer.writerow([result.protocol, result.item, key, row["rendered"],
                             *[f"{m:.6g}" for m in means], f"{row['per_item'].get('jitter', math.nan):.6g}",
                             f"{row['per_item'].get('jitter_driver', math.nan):.6g}", f"{ms:.3f}", ""])
    atomic_write_text(path, buffer.getvalue())
