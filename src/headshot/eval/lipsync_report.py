"""Tables, CSV, plots and contact sheets of the lip-sync protocol (:mod:`headshot.eval.lipsync`).

Pooling: each clip counts once (means over clips of the per-clip numbers, NaNs skipped), except the
range ratio, whose median over clips is reported (a ratio explodes on the few clips where the speaker
hardly moves the mouth); bilabial closure pools phones over clips (closed / all); "Δ vs energy" is the
mean over clips of the paired difference of best-lag r against the rendered energy baseline.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np

from ..io import atomic
from .markdown import cell as _format

REFERENCE = "energy"  # the baseline the methods must beat
TARGET_R, TARGET_MARGIN = 0.50, 0.15  # issue 11: mean best-lag r of a speech method, and its lead over energy

# (key, header, format)
COLUMNS = [
    ("clips", "clips", "{:d}"), ("r0", "r lag 0 ↑", "{:.3f}"), ("r_best", "best r ±3 ↑", "{:.3f}"),
    ("delta_energy", "Δ best r vs energy", "{:+.3f}"), ("r_best_shut", "best r, shut source", "{:.3f}"),
    ("r_best_open", "best r, open source", "{:.3f}"), ("offset_ms", "offset ms", "{:+.0f}"),
    ("abs_offset_ms", "|offset| ms ↓", "{:.0f}"), ("range_ratio", "range ratio, median (1 = real)", "{:.2f}"),
    ("duration_error_ms", "|A−V| ms ↓", "{:.0f}"), ("closure", "bilabials closed ↑", "{:.0%}"),
    ("r_best_template", "best r before render", "{:.3f}"), ("face_lost", "face lost ↓", "{:.1%}"),
    ("ms_per_frame", "ms/frame", "{:.0f}"),
]

DEFINITIONS = """Definitions: the source is each clip's first frame and the clip's own audio drives; every rendered
row is the animate pipeline's output (crop only, relative motion from the template's first frame; synthetic motion
unsmoothed as animate plays speech, the real speaker's tracked motion with the driver smoothing),
landmarked with MediaPipe in video mode like the real clip. Lip gap = mean 3-D gap of three facing inner-lip pairs
over the distance between the eye centres. r lag 0: Pearson r of output and real lip gap, frame by frame; best r ±3:
the highest r with the output shifted by up to ±3 frames (±120 ms), and offset: that shift (positive = the output's
mouth is late), the estimated sync offset. Range ratio: 5–95 % spread of the output's lip gap over the real
speaker's (median over clips). |A−V|: |audio duration − output video duration|. Bilabials closed: share of the
p/b/m phones recognised in the clip's audio whose middle frame has a lip gap under 0.03. Best r before render: the same correlation for the
template's own landmarks (the motion as intended), so the gap to "best r ±3" is what rendering and landmarking
lose. Rows marked "not rendered" compare a curve (not a face) with the real lip gap: references, not outputs.
ms/frame: rendering and landmarking one output frame on the shared CPU."""

LEARNED_NOTE = ("The learned rows use the audio → mouth model. The shipped weights were trained on every dev clip "
                "with audio but one person's, so on these clips their numbers are in-sample (an upper bound; the "
                "row marked \"seen in training\"). With --audio2mouth-weights naming the training run's folder, the "
                "other learned rows score each clip with the cross-validation fold model that never saw its "
                "speaker (leave-identities-out: these are the honest numbers).")


def _finite_values(values) -> np.ndarray:
    array = np.asarray([v for v in values if v is not None], np.float64)
    return array[np.isfinite(array)]


def _mean(values) -> float:
    array = _finite_values(values)
    return float(array.mean()) if array.size else math.nan


def _median(values) -> float:
    array = _finite_values(values)
    return float(np.median(array)) if array.size else math.nan


OPEN_SOURCE_GAP = 0.1  # a source whose lip gap is above this starts with the mouth open


def _open_source(result) -> bool:
    """Whether the clip's first frame (the source) has the mouth open: motion relative to it then starts
    from an open mouth, which the audio-driven rows take for the mouth at rest."""
    return bool(result.real["gap"][0] > OPEN_SOURCE_GAP)


def aggregate(results, methods) -> dict[str, dict]:
    """``{method name: pooled numbers}`` over the clips (see module docstring)."""
    table = {}
    for method in methods:
        rows = [(r, r.rows[method.name]) for r in results if method.name in r.rows]
        entry = {"label": method.label, "kind": method.kind, "rendered": method.rendered, "clips": len(rows)}
        for key in ("r0", "r_best", "offset_ms", "duration_error_ms", "face_lost", "r_best_template", "ms_per_frame"):
            entry[key] = _mean(row.get(key) for _, row in rows)
        entry["range_ratio"] = _median(row.get("range_ratio") for _, row in rows)
        entry["abs_offset_ms"] = _mean(abs(row["offset_ms"]) if row.get("offset_ms") is not None else None
                                       for _, row in rows)
        closures = [row["closure"] for _, row in rows if row.get("closure")]
        bilabials = sum(c["bilabials"] for c in closures)
        entry["closure"] = sum(c["closed"] for c in closures) / bilabials if bilabials else math.nan
        entry["bilabials"] = bilabials
        paired = [row.get("r_best", math.nan) - result.rows[REFERENCE].get("r_best", math.nan)
                  for result, row in rows if REFERENCE in result.rows and method.name != REFERENCE]
        entry["delta_energy"] = _mean(paired)
        entry["r_best_shut"] = _mean(row.get("r_best") for result, row in rows if not _open_source(result))
        entry["r_best_open"] = _mean(row.get("r_best") for result, row in rows if _open_source(result))
        table[method.name] = entry
    return table


def markdown_table(table: dict[str, dict]) -> str:
    lines = ["| method | " + " | ".join(c[1] for c in COLUMNS) + " |", "|---|" + "---:|" * len(COLUMNS)]
    for entry in table.values():
        cells = [_format(entry.get(key), fmt) for key, _, fmt in COLUMNS]
        lines.append(f"| {entry['label']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _real_summary(results) -> dict:
    closures = [r.real["closure"] for r in results if r.real.get("closure")]
    bilabials = sum(c["bilabials"] for c in closures)
    return {"clips": len(results), "open_sources": sum(_open_source(r) for r in results),
            "frames": sum(r.real["frames"] for r in results),
            "audio_seconds": sum(r.real["audio_seconds"] for r in results),
            "clip_av_mismatch_ms": _mean(1000 * abs(r.real["audio_seconds"] - r.real["video_seconds"])
                                         for r in results),
            "face_lost": _mean(r.real["face_lost"] for r in results),
            "gap_spread": _mean(r.real["gap_spread"] for r in results),
            "bilabials": bilabials,
            "closure": sum(c["closed"] for c in closures) / bilabials if bilabials else math.nan}


def _targets(table: dict) -> list[str]:
    energy = table.get(REFERENCE, {}).get("r_best", math.nan)
    lines = []
    for name, entry in table.items():
        if entry["kind"] != "method" or not entry["clips"] or name.endswith("-shipped"):
            continue  # a model scored on clips it was trained on measures nothing about the target
        r, delta = entry["r_best"], entry["delta_energy"]
        verdict = "meets" if r >= TARGET_R and delta >= TARGET_MARGIN else "does not meet"
        lines.append(f"- {entry['label']}: mean best r {_format(r, '{:.3f}')} (target ≥ {TARGET_R:.2f}), "
                     f"{_format(delta, '{:+.3f}')} vs the energy envelope ({_format(energy, '{:.3f}')}; target "
                     f"≥ +{TARGET_MARGIN:.2f}): {verdict} the issue's target.")
    return lines


def render_markdown(summary: dict) -> str:
    settings, machine, real = summary["settings"], summary["machine"], summary["real"]
    run = machine.get("run", {})
    parts = ["## Lip sync (source = first frame, the clip's own audio drives; output mouth vs the real speaker's)", "",
             f"Data: `{settings['data']}`: {real['clips']} clips with audio, {real['frames']} frames, "
             f"{real['audio_seconds']:.0f} s of speech. Renderer: {settings['engine']} at {settings['size']} px "
             f"(crop only); driver smoothing {settings['smoothing']} on the real-motion row, none on synthetic motion.",
             f"Machine: {machine['cpu']}, {machine['cores']} cores (shared). This run: "
             f"{run.get('wall_seconds', 0) / 60:.1f} min wall clock, {run.get('cpu_seconds', 0) / 60:.1f} min CPU, "
             f"load average {run.get('load_average_1min')} at the end; {run.get('rows_computed', 0)} clip × row "
             f"results computed, {run.get('rows_cached', 0)} from the cache of an earlier run.", "",
             markdown_table(summary["table"]), "",
             f"Real speaker: lip-gap spread (5–95 %) {_format(real['gap_spread'], '{:.3f}')}; bilabials closed "
             f"{_format(real['closure'], '{:.0%}')} of {real['bilabials']} recognised p/b/m (the landmarker's "
             f"and recogniser's own ceiling for that column); face lost {_format(real['face_lost'], '{:.1%}')}; "
             f"the clips' own |A−V| {_format(real['clip_av_mismatch_ms'], '{:.0f}')} ms. {real['open_sources']} of "
             f"{real['clips']} sources (first frames) have the mouth open (lip gap > {OPEN_SOURCE_GAP}): relative "
             f"motion takes that for the mouth at rest, so the audio-driven rows can only close it from there "
             f"(columns \"shut/open source\").", ""]
    parts += _targets(summary["table"]) or ["- No speech method ran (see below): the issue's target is not measured."]
    parts.append("")
    if settings["unavailable"]:
        parts += ["Not run here:"] + [f"- `{name}`: {why}" for name, why in settings["unavailable"].items()] + [""]
    parts += ["Rows:"] + [f"- {entry['label']}: {summary['descriptions'][name]}" for name, entry in
                          summary["table"].items()] + [""]
    if any(name in summary["table"] for name in ("learned", "phones+learned", "phones+learned-shipped")):
        parts += [LEARNED_NOTE, ""]
    if summary["errors"]:
        parts += [f"Failures ({len(summary['errors'])} clip × method, see results.json):"]
        parts += [f"- {e['item']} / {e['method']}: {e['error']}" for e in summary["errors"][:10]] + [""]
    parts += _say_lines(summary["say"], settings.get("say_text"))
    parts += [DEFINITIONS]
    return "\n".join(parts) + "\n"


def _say_lines(say: list[dict], text: str | None) -> list[str]:
    """The ``say`` check's paragraph: closures in output and template, split by the source's mouth."""
    done = [s for s in say if "output" in s]
    if not done:
        return [f"`say` check failed: {say[0].get('error')}", ""] if say else []

    def count(rows, key):
        closed, total = sum(r[key]["closed"] for r in rows), sum(r[key]["bilabials"] for r in rows)
        return f"{closed}/{total} ({_format(closed / total if total else math.nan, '{:.0%}')})"

    shut = [s for s in done if s["source_gap"] <= OPEN_SOURCE_GAP]
    open_ = [s for s in done if s["source_gap"] > OPEN_SOURCE_GAP]
    video = [s for s in done if "output_video" in s]  # rows cached before the check landmarked both ways
    line = (f"`say` check (\"{text}\", spoken and played as `headshot say` plays it, on {len(done)} portraits): "
            f"lips closed on {count(done, 'output')} bilabials in the rendered output (landmarked frame by "
            f"frame, MediaPipe image mode: the headline)")
    if video:
        line += f", {count(video, 'output_video')} landmarked as a video (MediaPipe video mode)"
    line += f", {count(done, 'template')} in the motion before rendering"
    if shut and open_:
        line += (f"; sources with the mouth shut ({len(shut)}): {count(shut, 'output')}, with the mouth open "
                 f"(lip gap > {OPEN_SOURCE_GAP}, {len(open_)}): {count(open_, 'output')}")
    why = ("Why image mode is the headline: a closure in speech lasts 2-3 frames and video mode's temporal "
           "filter reads that short a closure as still open (the same closed frame repeated reads 0.061, "
           "0.039, 0.033, then 0.027; image mode 0.011 at once), so the video-mode figure measures the "
           "landmarker's lag as much as the lips (real speakers lose closures to it too).")
    return [line + ".", "", why, ""] if video else [line + ".", ""]


def _write_csv(path: Path, results, methods) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    keys = ("r0", "r_best", "lag_frames", "offset_ms", "range_ratio", "duration_error_ms", "face_lost",
            "r_best_template", "ms_per_frame")
    writer.writerow(["item", "method", "frames", *keys, "bilabials", "bilabials_closed", "error"])
    for result in results:
        real_closure = result.real.get("closure") or {}
        writer.writerow([result.item, "real speaker", result.real["frames"], *[""] * len(keys),
                         real_closure.get("bilabials", ""), real_closure.get("closed", ""), ""])
        for method in methods:
            row = result.rows.get(method.name)
            if row is None:
                writer.writerow([result.item, method.name, 0, *[""] * len(keys), "", "",
                                 result.errors.get(method.name, "not run")])
                continue
            closure = row.get("closure") or {}
            values = [row.get(k) for k in keys]
            writer.writerow([result.item, method.name, len(row["curve"]),
                             *["" if v is None or not math.isfinite(v) else f"{v:.6g}" for v in values],
                             closure.get("bilabials", ""), closure.get("closed", ""), ""])
    atomic.atomic_write_text(path, buffer.getvalue(), make_folders=True)


def write_plot(path: Path, results, methods, clips: int = 3, seconds: float = 10.0) -> Path | None:
    """Real vs each rendered method's lip-gap curve for ``clips`` clips (first, middle and last of the
    run), the first ``seconds`` of each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not results:
        return None
    picks = sorted({0, len(results) // 2, len(results) - 1})[:clips]
    figure, axes = plt.subplots(len(picks), 1, figsize=(11, 2.8 * len(picks)), squeeze=False)
    for axis, index in zip(axes[:, 0], picks):
        result = results[index]
        fps = result.real["fps"]
        count = int(seconds * fps)
        real = np.asarray(result.real["gap"], np.float64)[:count]
        axis.plot(np.arange(len(real)) / fps, real, color="black", linewidth=2.0, label="real speaker")
        for method in methods:
            if method.rendered and method.name in result.rows:
                curve = np.asarray(result.rows[method.name]["curve"], np.float64)[:count]
                r = result.rows[method.name].get("r_best")
                axis.plot(np.arange(len(curve)) / fps, curve, linewidth=1.0,
                          label=f"{method.label} (r {r:.2f})" if r is not None and math.isfinite(r) else method.label)
        axis.set_title(result.item[:90], fontsize=9)
        axis.set_ylabel("lip gap / IOD", fontsize=8)
        axis.legend(fontsize=6, ncol=3, loc="upper right")
    axes[-1, 0].set_xlabel("seconds", fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    atomic.atomic_write_bytes(path, buffer.getvalue(), make_folders=True)
    return path


def write_sheet(path: Path, rows: dict[str, list[np.ndarray]], times: list[str]) -> None:
    """A PNG grid: one row of frames per method (label on the left), one column per time (header)."""
    from PIL import Image, ImageDraw

    tile = next((len(images[0]) for images in rows.values() if images), 128)
    label_width, header = 180, 18
    columns = max((len(images) for images in rows.values()), default=0)
    canvas = Image.new("RGB", (label_width + tile * columns, header + tile * len(rows)), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for column, text in enumerate(times[:columns]):
        draw.text((label_width + column * tile + 4, 3), text, fill=(0, 0, 0))
    for line, (label, images) in enumerate(rows.items()):
        label = label.replace("→", "->")  # PIL's default font has no arrow
        top = header + line * tile
        for offset, chunk in enumerate(range(0, len(label), 26)):
            draw.text((4, top + 4 + 14 * offset), label[chunk:chunk + 26], fill=(0, 0, 0))
        for column, image in enumerate(images):
            canvas.paste(Image.fromarray(np.asarray(image, np.uint8)), (label_width + column * tile, top))
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
    atomic.atomic_write_bytes(path, buffer.getvalue(), make_folders=True)


def _finite(value):
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def write_lipsync_report(out: Path, results, methods, say, settings: dict, machine: dict) -> dict:
    """Write results.json, results.md, per_clip.csv and plots/lipsync_curves.png; return the summary."""
    out = Path(out)
    table = aggregate(results, methods)
    errors = [{"item": r.item, "method": name, "error": error} for r in results for name, error in r.errors.items()]
    per_clip = [{"item": r.item, "video": r.video,
                 "real": {k: v for k, v in r.real.items() if k != "gap"},
                 "rows": {name: {k: v for k, v in row.items() if k != "curve"} for name, row in r.rows.items()}}
                for r in results]
    summary = {"protocol": "lipsync", "settings": settings, "machine": machine, "table": table,
               "real": _real_summary(results), "descriptions": {m.name: m.description for m in methods},
               "errors": errors, "say": say, "per_clip": per_clip}
    text = json.dumps(_finite(summary), indent=1, allow_nan=False, default=str)
    atomic.atomic_write_text(out / "results.json", text, make_folders=True)
    atomic.atomic_write_text(out / "results.md", render_markdown(summary), make_folders=True)
    _write_csv(out / "per_clip.csv", results, methods)
    try:
        write_plot(out / "plots" / "lipsync_curves.png", results, methods)
    except Exception as error:  # a plot is a convenience; never lose the numbers over it
        summary["plot_error"] = str(error)
    return summary
