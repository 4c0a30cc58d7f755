"""Pictures of an evaluation run: metric distributions and per-frame curves (``plots/``), and one contact
sheet per item (``contact_sheets/``: driver | source | rows... | real).
"""

from __future__ import annotations

import io
import math
import warnings
from pathlib import Path

import numpy as np

from ..io.atomic import atomic_write_bytes
from .pooling import mean, row_keys

PLOT_METRICS = {"self": ("l1", "background_l1", "ssim", "perceptual", "akd", "csim"),
                "fewshot": ("l1", "akd", "csim"),
                "cross": ("csim", "pose_error", "expression_error"),
                "turned": ("l1", "background_l1", "akd", "csim", "face_lost")}


def write_plots(folder: Path, results, protocols: list[str]) -> list[Path]:
    """Per protocol: distributions of per-video means (box plots) and per-frame curves (mean over videos of
    each metric against the target's position in the clip). Returns the written paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for protocol in protocols:
        keys = row_keys(results, protocol)
        chosen = [r for r in results if r.protocol == protocol and not r.skipped]
        if not keys or not chosen:
            continue
        names = PLOT_METRICS[protocol]
        figure, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 4.2), squeeze=False)
        for axis, metric in zip(axes[0], names):
            data = []
            for key in keys:
                means = [mean(r.rows[key]["per_frame"].get(metric, [])) for r in chosen if key in r.rows]
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
                with np.errstate(all="ignore"), warnings.catch_warnings():
                    # A frame position with no value in any clip (bg L1 of clips without background) stays NaN.
                    warnings.simplefilter("ignore", RuntimeWarning)
                    average = np.nanmean(np.where(np.isfinite(stack), stack, np.nan), axis=0)
                axis.plot(np.arange(1, length + 1), average, label=_short(key), linewidth=1.2)
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
    atomic_write_bytes(path, buffer.getvalue(), make_folders=True)
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
    outputs... | real), with a header of column names; ``sheet['labels']`` (optional) is one text per line."""
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
        if sheet.get("labels"):  # optional text per line, on the first tile
            top = header + line_index * TILE
            draw.rectangle((0, top, TILE - 1, top + 13), fill=(0, 0, 0))
            draw.text((3, top + 1), sheet["labels"][line_index][:32], fill=(255, 255, 255))
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG", optimize=False)
    atomic_write_bytes(path, buffer.getvalue(), make_folders=True)
