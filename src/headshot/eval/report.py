"""Pool per-item results into tables, and write results.json, results.md, per_video.csv, plots and contact
sheets.

Pooling: per-frame metrics are averaged over all scored frames of all items (as FOMM does), NaNs
(undefined, e.g. AKD of a frame whose face was lost) skipped; PSNR averages finite values only; the jitter
ratio is the mean output jitter over items divided by the mean driver (real) jitter; FID pools all frames of
a row against all real frames of the same items; ms/frame is the engine's render time only (no detection
or metrics).
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np

from ..assets import DLIB_INSTALL
from .runner import atomic_write_bytes, atomic_write_text

# (key, header, format): lower is better unless the header says ↑.
SELF_COLUMNS = [
    ("l1", "L1 ↓", "{:.4f}"), ("psnr", "PSNR dB ↑", "{:.2f}"), ("ssim", "SSIM ↑", "{:.3f}"),
    ("perceptual", "MNv2-PD ↓", "{:.3f}"), ("lpips", "LPIPS ↓", "{:.3f}"), ("akd", "AKD px ↓", "{:.2f}"),
    ("face_lost", "face lost % ↓", "{:.1%}"), ("csim", "CSIM ↑", "{:.3f}"), ("csim_dlib", "CSIM dlib ↑", "{:.3f}"),
    ("aed", "AED ↓", "{:.3f}"),
    ("pose_error", "pose err ° ↓", "{:.2f}"), ("expression_error", "expr err ↓", "{:.3f}"),
    ("jitter_ratio", "jitter ratio", "{:.2f}"), ("fid_mobilenet", "FID (MNv2) ↓", "{:.1f}"),
    ("fid_inception", "FID (Inception) ↓", "{:.1f}"), ("ms_per_frame", "ms/frame", "{:.1f}"),
]
FEWSHOT_COLUMNS = [c for c in SELF_COLUMNS if c[0] in
                   ("l1", "ssim", "perceptual", "lpips", "akd", "face_lost", "csim", "csim_dlib", "fid_mobilenet",
                    "fid_inception", "ms_per_frame")]
CROSS_COLUMNS = [c for c in SELF_COLUMNS if c[0] in
                 ("csim", "csim_dlib", "aed", "pose_error", "expression_error", "face_lost", "jitter_ratio",
                  "ms_per_frame")]
COLUMNS = {"self": SELF_COLUMNS, "fewshot": FEWSHOT_COLUMNS, "cross": CROSS_COLUMNS}
FRAME_METRICS = ("l1", "psnr", "ssim", "perceptual", "lpips", "akd", "face_lost", "csim", "csim_dlib", "aed",
                 "pose_error", "expression_error")

DLIB_DEFINITION = ("CSIM dlib: cosine of dlib's ResNet 128-d descriptors (150×150 chips aligned by dlib on its 5 "
                   "points — eye corners, bottom of the nose — read from the same MediaPipe landmarks), paired as "
                   "CSIM. dlib's cosines sit high (dev portraits: different people ≈ 0.84, same person ≈ 0.96), so "
                   "compare rows with each other, not with SFace's CSIM")

PAPER_CONTEXT = """**Published numbers, for context only — other datasets, other crops, other detectors; not comparable
to the rows above:**
- FOMM (Siarohin et al., NeurIPS 2019), VoxCeleb self-reenactment: L1 0.043, AKD 1.294 (pixels at 256, detector of
  Bulat & Tzimiropoulos 2017).
- Zakharov et al. (ICCV 2019), VoxCeleb1 few-shot self-reenactment, FID (Inception) 43.0 / 38.0 / 29.5 at
  T = 1 / 8 / 32 (fine-tuned).
"""

DEFINITIONS = """Definitions: crops are 256×256 with one fixed box per clip (from the source frame's landmarks).
L1 on [0, 1] images; PSNR (peak 255); SSIM (7×7 window, per channel). **MNv2-PD = MobileNetV2 perceptual distance**:
ImageNet MobileNetV2 features at 5 levels, unit-normalised over channels, squared difference summed over channels,
averaged over pixels and levels — LPIPS's recipe without its learned weights; it is *not* LPIPS. AKD: mean distance
of the 68 classic points (from MediaPipe's 478) detected on output and real crop. Face lost: output frames where
MediaPipe finds no face (excluded from AKD/pose/expression). CSIM: cosine of SFace embeddings (output vs real frame
in self/few-shot, output vs source in cross); AED: distance of the L2-normalised embeddings. Pose error: mean |Δ|
of yaw/pitch/roll in degrees; expression error: mean |Δ| of MediaPipe's 52 blendshapes (cross-identity: both compare
*changes*, output vs source against driver vs its reference frame, as relative motion transfer intends; targets
come from headshot's own retargeting, relative mode). Jitter ratio: high-frequency energy (2nd temporal difference) of the output's landmark
tracks over the driver's (1 = as steady as the driver). FID (MNv2): Fréchet distance of 1280-d pooled MobileNetV2
features, with a small covariance regularisation (few samples: biased upwards, compare only within this table).
ms/frame: engine render time only."""


def _mean(values) -> float:
    array = np.asarray([v for v in values if v is not None], np.float64)
    array = array[np.isfinite(array)]
    return float(array.mean()) if array.size else math.nan


def _row_keys(results, protocol: str) -> list[str]:
    keys: list[str] = []
    for result in results:
        if result.protocol == protocol and not result.skipped:
            for key in result.rows:
                if key not in keys:
                    keys.append(key)
    return keys


def aggregate(results, protocol: str) -> dict[str, dict]:
    """Pooled numbers per row key of one protocol (see module docstring)."""
    from .metrics import frechet_distance

    chosen = [r for r in results if r.protocol == protocol and not r.skipped]
    table: dict[str, dict] = {}
    for key in _row_keys(results, protocol):
        pooled: dict[str, list[float]] = {}
        jitter, jitter_driver, seconds, rendered, shots_used = [], [], 0.0, 0, set()
        outputs_features: dict[str, list] = {}
        real_features: dict[str, list] = {}
        for result in chosen:
            row = result.rows.get(key)
            if row is None:
                continue
            for metric, values in row["per_frame"].items():
                pooled.setdefault(metric, []).extend(values)
            jitter.append(row["per_item"].get("jitter", math.nan))
            jitter_driver.append(row["per_item"].get("jitter_driver", math.nan))
            seconds += row["render_seconds"]
            rendered += row["rendered"]
            if "shots_used" in row:
                shots_used.add(row["shots_used"])
            for feature_key, values in result.features.items():
                if feature_key.startswith(key + "|"):
                    outputs_features.setdefault(feature_key.rsplit("|", 1)[1], []).append(values)
                elif feature_key.startswith("real|"):
                    real_features.setdefault(feature_key.split("|", 1)[1], []).append(values)
        entry = {metric: _mean(values) for metric, values in pooled.items()}
        entry["face_lost"] = _mean(pooled.get("face_lost", []))
        entry["frames"] = rendered
        entry["items"] = sum(1 for r in chosen if key in r.rows)
        driver = _mean(jitter_driver)
        entry["jitter_ratio"] = _mean(jitter) / driver if driver and math.isfinite(driver) and driver > 0 else math.nan
        entry["ms_per_frame"] = 1000.0 * seconds / rendered if rendered else math.nan
        entry["fps"] = rendered / seconds if seconds > 0 else math.nan
        if shots_used:
            entry["shots_used"] = sorted(shots_used)
        for network, chunks in outputs_features.items():
            if network in real_features:
                entry[f"fid_{network}"] = frechet_distance(np.concatenate(chunks), np.concatenate(real_features[network]))
        table[key] = entry
    return table


def _format(value, fmt: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return fmt.format(value)


def markdown_table(table: dict[str, dict], columns) -> str:
    """A Markdown table of ``table`` (row key -> numbers) with the columns present in any row."""
    present = [c for c in columns if any(c[0] in entry and _is_number(entry[c[0]]) for entry in table.values())]
    lines = ["| engine | frames | " + " | ".join(c[1] for c in present) + " |",
             "|---|---:|" + "---:|" * len(present)]
    for key, entry in table.items():
        label = key.replace("|", ", ")
        lines.append(f"| {label} | {entry.get('frames', 0)} | "
                     + " | ".join(_format(entry.get(c[0]), c[2]) for c in present) + " |")
    return "\n".join(lines)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _wins(table: dict[str, dict], engine_keys: list[str], baseline_keys: list[str]) -> dict[str, list[str]]:
    """Per engine row, the self-reenactment metrics on which it beats every baseline row."""
    directions = {"l1": -1, "psnr": 1, "ssim": 1, "perceptual": -1, "lpips": -1, "akd": -1, "csim": 1, "aed": -1,
                  "fid_mobilenet": -1}
    directions.update({"pose_error": -1, "expression_error": -1, "face_lost": -1})
    wins = {}
    for key in engine_keys:
        beaten, not_beaten = [], []
        for metric, sign in directions.items():
            mine = table[key].get(metric)
            others = [table[b].get(metric) for b in baseline_keys]
            if not (_is_number(mine) and all(_is_number(o) for o in others)):
                continue
            (beaten if all(sign * (mine - o) > 0 for o in others) else not_beaten).append(metric)
        wins[key] = {"beats_both_baselines_on": beaten, "does_not_beat_both_on": not_beaten}
    return wins


# Self-reenactment frames binned by how far the real frame moved from the source: the unmoved source's AKD (px).
MOTION_BINS = (0.0, 3.0, 6.0, 10.0, 20.0, math.inf)
MOTION_REFERENCE = "source (unmoved)"


def by_motion(results, metric: str = "csim") -> dict | None:
    """Self-reenactment ``metric`` per row, pooled over frames binned by motion (``MOTION_BINS`` of the
    unmoved source's AKD to the real frame); ``None`` without an unmoved-source row. Shows where an engine
    gains or loses against a still photo: identity networks forgive a wrong pose more than an invented side
    of the face."""
    chosen = [r for r in results if r.protocol == "self" and not r.skipped and MOTION_REFERENCE in r.rows]
    if not chosen:
        return None
    motion = np.concatenate([np.asarray(r.rows[MOTION_REFERENCE]["per_frame"]["akd"], np.float64) for r in chosen])
    bins = list(zip(MOTION_BINS[:-1], MOTION_BINS[1:]))
    masks = [(motion >= low) & (motion < high) for low, high in bins]
    table = {}
    for key in _row_keys(results, "self"):
        values = np.concatenate([np.asarray(r.rows[key]["per_frame"][metric], np.float64) if key in r.rows
                                 else np.full(len(r.rows[MOTION_REFERENCE]["per_frame"]["akd"]), np.nan)
                                 for r in chosen])
        table[key] = [_mean(values[mask]) for mask in masks]
    return {"metric": metric, "bins": [[low, high] for low, high in bins],
            "frames": [int(mask.sum()) for mask in masks], "rows": table}


def _motion_table(motion: dict) -> str:
    def label(low, high, count):
        span = f"≥ {low:g} px" if math.isinf(high) else f"{low:g}–{high:g} px"
        return f"{span} ({count})"

    header = ["engine"] + [label(low, high, n) for (low, high), n in zip(motion["bins"], motion["frames"])]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    for key, values in motion["rows"].items():
        lines.append("| " + " | ".join([key] + [_format(v, "{:.3f}") for v in values]) + " |")
    return "\n".join(lines)


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
        summary["self_wins_over_baselines"] = _wins(tables["self"], engine_keys, baseline_labels["self"])
        motion = by_motion(results)
        if motion is not None:
            summary["self_csim_by_motion"] = motion
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


def render_markdown(summary: dict) -> str:
    """The README-ready Markdown for a results summary (tables + data/machine + definitions + context)."""
    settings, machine, tables = summary["settings"], summary["machine"], summary["tables"]
    selection = settings.get("selection") or {}
    parts = ["## Evaluation results", "",
             f"Data: `{settings['data']}` (portraits: `{settings['portraits']}`); "
             f"frame selection: {json.dumps(selection)}"
             + (f", manifest `{settings['manifest']}`" if settings.get("manifest") else "") + ".",
             f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['platform']} "
             f"(shared CPU; speeds are indicative)." + _run_line(machine.get("run")), ""]
    titles = {"self": "Self-reenactment (source = first frame, the clip drives; compared with real frames)",
              "fewshot": "Few-shot self-reenactment (T shots from the first half, held-out targets from the second)",
              "cross": "Cross-identity reenactment (portraits driven by other people's clips; no ground truth)"}
    for protocol, table in tables.items():
        parts += [f"### {titles[protocol]}", "", markdown_table(table, COLUMNS[protocol]), ""]
        if protocol == "self" and summary.get("self_csim_by_motion"):
            parts += ["Identity (CSIM) by how far the real frame moved from the source (AKD of the unmoved "
                      "source; frames in brackets):", "", _motion_table(summary["self_csim_by_motion"]), ""]
        if protocol == "fewshot":
            single = [k for k, v in table.items() if v.get("shots_used") == [1]]
            if single:
                parts += ["Rows whose engine takes one image use the first shot only; their T > 1 rows repeat "
                          "T = 1.", ""]
    if "self_wins_over_baselines" in summary:
        for key, verdict in summary["self_wins_over_baselines"].items():
            beaten, not_beaten = verdict["beats_both_baselines_on"], verdict["does_not_beat_both_on"]
            parts.append(f"- `{key}` beats both baselines on: {', '.join(beaten) if beaten else 'nothing'}"
                         + (f"; not on: {', '.join(not_beaten)}." if not_beaten else "."))
        parts.append("")
    parts += [f"LPIPS: {summary['lpips']}. FID (Inception): {summary['fid_inception']}. "
              f"dlib identity cross-check: {summary['identity_cross_check']}.", "",
              DEFINITIONS, "", PAPER_CONTEXT]
    if summary["skipped"]:
        parts += ["", f"Skipped items: {len(summary['skipped'])} (see results.json)."]
    return "\n".join(parts) + "\n"


def _run_line(run: dict | None) -> str:
    if not run:
        return ""
    minutes = run["wall_seconds"] / 60
    line = (f" This run: {minutes:.1f} min wall clock ({run.get('cpu_seconds', 0) / 60:.1f} min of CPU time; "
            f"load average {run.get('load_average_1min')} at the end), {run['items_computed']} items computed")
    line += f", {run['items_from_cache']} from cache" if run["items_from_cache"] else ""
    if run.get("item_seconds_total"):
        line += f"; computing all items took {run['item_seconds_total'] / 60:.1f} min in total"
    return line + "."


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
            means = [_mean(row["per_frame"].get(metric, [])) for metric in FRAME_METRICS]
            ms = 1000.0 * row["render_seconds"] / row["rendered"] if row["rendered"] else math.nan
            writer.writerow([result.protocol, result.item, key, row["rendered"],
                             *[f"{m:.6g}" for m in means], f"{row['per_item'].get('jitter', math.nan):.6g}",
                             f"{row['per_item'].get('jitter_driver', math.nan):.6g}", f"{ms:.3f}", ""])
    atomic_write_text(path, buffer.getvalue())


# --- Plots ----------------------------------------------------------------------------------------------

PLOT_METRICS = {"self": ("l1", "ssim", "perceptual", "akd", "csim"), "fewshot": ("l1", "akd", "csim"),
                "cross": ("csim", "pose_error", "expression_error")}


def write_plots(folder: Path, results, protocols: list[str]) -> list[Path]:
    """Per protocol: distributions of per-video means (box plots) and per-frame curves (mean over videos of
    each metric against the target's position in the clip). Returns the written paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for protocol in protocols:
        keys = _row_keys(results, protocol)
        chosen = [r for r in results if r.protocol == protocol and not r.skipped]
        if not keys or not chosen:
            continue
        names = PLOT_METRICS[protocol]
        figure, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 4.2), squeeze=False)
        for axis, metric in zip(axes[0], names):
            data = []
            for key in keys:
                means = [_mean(r.rows[key]["per_frame"].get(metric, [])) for r in chosen if key in r.rows]
                data.append([m for m in means if math.isfinite(m)] or [math.nan])
            axis.boxplot(data, showfliers=True)
            axis.set_xticks(range(1, len(keys) + 1), [_short(k) for k in keys], rotation=60, ha="right", fontsize=7)
            axis.set_title(f"{metric} (per-video means)", fontsize=9)
        figure.tight_layout()
        written.append(_save_figure(figure, folder / f"{protocol}_distributions.png"))
        plt.close(figure)

        figure, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.6), squeeze=False)
        for axis, metric in zip(axes[0], names):
            for key in keys:
                curves = [np.asarray(r.rows[key]["per_frame"].get(metric, []), np.float64) for r in chosen if key in r.rows]
                length = max((len(c) for c in curves), default=0)
                if not length:
                    continue
                stack = np.full((len(curves), length), np.nan)
                for index, curve in enumerate(curves):
                    stack[index, :len(curve)] = curve
                with np.errstate(all="ignore"):
                    mean = np.nanmean(np.where(np.isfinite(stack), stack, np.nan), axis=0)
                axis.plot(np.arange(1, length + 1), mean, label=_short(key), linewidth=1.2)
            axis.set_xlabel("target frame (order in the selection)", fontsize=8)
            axis.set_title(f"{metric} per frame (mean over videos)", fontsize=9)
        axes[0][0].legend(fontsize=6)
        figure.tight_layout()
        written.append(_save_figure(figure, folder / f"{protocol}_per_frame.png"))
        plt.close(figure)
    return written


def _short(key: str) -> str:
    return key.replace(" (template, no pixels)", " (tmpl)").replace(" (driver pixels)", " (pix)").replace("|", " ")


def _save_figure(figure, path: Path) -> Path:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    atomic_write_bytes(path, buffer.getvalue())
    return path


# --- Contact sheets -------------------------------------------------------------------------------------

TILE = 192


def _tile(image: np.ndarray, size: int = TILE) -> np.ndarray:
    """``image`` letterboxed into a ``size`` x ``size`` tile (RGB uint8)."""
    import cv2

    height, width = image.shape[:2]
    scale = size / max(height, width)
    resized = cv2.resize(image, (max(1, round(width * scale)), max(1, round(height * scale))),
                         interpolation=cv2.INTER_AREA)
    tile = np.zeros((size, size, 3), np.uint8)
    y0, x0 = (size - resized.shape[0]) // 2, (size - resized.shape[1]) // 2
    tile[y0:y0 + resized.shape[0], x0:x0 + resized.shape[1]] = resized
    return tile


def write_contact_sheet(path: Path, sheet: dict) -> None:
    """A PNG grid: one line per time step, columns as named in ``sheet['columns']`` (driver | source |
    outputs... | real), with a header of column names."""
    from PIL import Image, ImageDraw

    columns = sheet["columns"]
    steps = sheet["steps"]
    header = 34
    canvas = Image.new("RGB", (TILE * len(columns), header + TILE * len(steps)), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for index, name in enumerate(columns):
        text = _short(name)
        first, _, rest = text.partition(" ")
        draw.text((index * TILE + 4, 3), first, fill=(0, 0, 0))
        draw.text((index * TILE + 4, 17), rest[:30], fill=(0, 0, 0))
    for line_index, line in enumerate(steps):
        for column_index, image in enumerate(line):
            canvas.paste(Image.fromarray(_tile(image)), (column_index * TILE, header + line_index * TILE))
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG", optimize=False)
    atomic_write_bytes(path, buffer.getvalue())
