"""Background fidelity: how much a rendered frame, pasted back into the source photo, differs from the real frame
*outside the person* — the wall, the shelf, the window behind the speaker, which should stay put.

The **person region** of a frame is a column around the face that reaches the bottom of the frame (neck,
shoulders and body sit below the face), built from the face's 478 landmarks (image pixels):

- the face box is the landmarks' bounding box, ``w`` wide and ``h`` tall, centred at ``cx``;
- the column spans ``cx ± PERSON_WIDTH * w / 2`` horizontally (``PERSON_WIDTH = 2.0``: the face box widened
  2×, which holds the ears, the hair at the sides and the neck; shoulders reaching past it count as background
  for every engine alike — a wider column leaves no background at all on most tightly framed dev clips: 2.0
  leaves some on 52 of the 98 in self-reenactment, 2.4 on about half as many);
- it starts ``PERSON_ABOVE * h`` above the top landmark (``PERSON_ABOVE = 0.6``: MediaPipe's top landmark is
  the upper forehead; hair rises above it) and runs down to the bottom of the frame.

**Background L1** of one frame is the mean absolute difference (RGB on [0, 1], as L1) between the generated
full frame and the real full frame over the pixels outside the union of both frames' person regions. The
generated full frame is the engine's 256² output pasted into the full source frame by the animate pipeline's
:class:`headshot.face.paste.Paster` (the whole crop, feathered edge), so whatever an engine does to the
background inside its crop is counted, and so is the rest of the frame (which the paste leaves as the source
photo). The generated frame's person region is the union of the columns around the face detected in the output
(the real frame's target landmarks when the face is lost) and around the source photo's face: below the crop the
paste leaves the source's own body where it was, and that is person, not background. A frame with nothing left
outside the person (clips framed tightly) has no background L1 (NaN, left out of the pooled numbers; rows may
differ in such frames, since each has its own output's region). The unmoved-source baseline ("source" engine)
pasted back is the source photo itself: its background L1 is what a still photo costs (camera motion, lighting,
compression); an engine that bends the background around the head scores above it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Stored under this key in each row's ``per_frame``; the table column and the per-clip table use it too.
BACKGROUND_METRIC = "background_l1"
PERSON_WIDTH = 2.0
PERSON_ABOVE = 0.6
# A clip is flagged when an engine's background L1 exceeds the unmoved source's by more than this fraction.
FLAG_RATIO = 1.10
BACKGROUND_REFERENCE = "source (unmoved)"
# Bumped whenever the metric's definition changes: cached per-item results then no longer match.
BACKGROUND_VERSION = 2


def person_columns(landmarks: np.ndarray, shape: tuple[int, ...]) -> tuple[int, int, int]:
    """``(x0, x1, y0)`` of the person region of a face with ``landmarks`` (``(N, 2+)`` image pixels) in an
    image of ``shape`` (H, W, ...): columns ``x0:x1`` from row ``y0`` to the bottom (clipped to the image)."""
    height, width = shape[:2]
    xy = np.asarray(landmarks, np.float64)[:, :2]
    (left, top), (right, bottom) = xy.min(axis=0), xy.max(axis=0)
    half = PERSON_WIDTH * (right - left) / 2.0
    centre = (left + right) / 2.0
    x0 = int(np.clip(math.floor(centre - half), 0, width))
    x1 = int(np.clip(math.ceil(centre + half), 0, width))
    y0 = int(np.clip(math.floor(top - PERSON_ABOVE * (bottom - top)), 0, height))
    return x0, x1, y0


def background_mask(shape: tuple[int, ...], *landmark_sets: np.ndarray) -> np.ndarray:
    """Bool ``(H, W)``: True outside the union of the person regions of every landmark set given."""
    mask = np.ones(shape[:2], bool)
    for landmarks in landmark_sets:
        if landmarks is None:
            continue
        x0, x1, y0 = person_columns(landmarks, shape)
        mask[y0:, x0:x1] = False
    return mask


def background_l1(generated: np.ndarray, real: np.ndarray, generated_landmarks: np.ndarray | None,
                  real_landmarks: np.ndarray | None, *more_landmarks: np.ndarray) -> float:
    """Background L1 of one frame (see the module docstring): RGB uint8 full frames of equal shape, landmarks
    in their pixels (``None``: that frame adds no person region; ``more_landmarks``: more person regions, e.g.
    the source photo's, whose body the paste leaves in the generated frame). NaN when no background is left."""
    if generated.shape != real.shape:
        raise ValueError(f"frames differ in shape: {generated.shape} vs {real.shape}")
    mask = background_mask(real.shape, generated_landmarks, real_landmarks, *more_landmarks)
    if not mask.any():
        return math.nan
    difference = np.abs(generated[mask].astype(np.int16) - real[mask].astype(np.int16))
    return float(difference.mean() / 255.0)


def score_background(toolkit, outputs: list[np.ndarray], full) -> list[float]:
    """Per output crop, its background L1 against the real full frame.

    ``full``: a :class:`FullFrames` (source frame, crop box, real full frames, real landmarks in crop pixels).
    Output landmarks come from ``toolkit.observe`` (memoised: the scoring already detected them)."""
    from ..face.paste import Paster
    from .data import EVAL_SIZE

    paster = Paster(full.source_frame, full.box, EVAL_SIZE)
    source_landmarks = full.box.to_image(full.source_landmarks, EVAL_SIZE)
    values = []
    for output, real, real_crop_landmarks in zip(outputs, full.real_frames, full.real_landmarks):
        observation = toolkit.observe(output)
        generated_crop_landmarks = observation.landmarks if observation is not None else real_crop_landmarks
        values.append(background_l1(paster(output), real, full.box.to_image(generated_crop_landmarks, EVAL_SIZE),
                                    full.box.to_image(real_crop_landmarks, EVAL_SIZE), source_landmarks))
    return values


@dataclass
class FullFrames:
    """What background scoring needs beyond the crops: the full source frame the outputs are pasted into (RGB
    uint8), its landmarks in crop pixels, the evaluation box, the real full frames and the real frames'
    landmarks in crop pixels."""

    source_frame: np.ndarray
    source_landmarks: np.ndarray
    box: object
    real_frames: list[np.ndarray]
    real_landmarks: list[np.ndarray]


# --- Per clip -------------------------------------------------------------------------------------------

def background_by_clip(results, protocol: str, reference: str = BACKGROUND_REFERENCE) -> dict | None:
    """Per clip of ``protocol``, each row's mean background L1 and its ratio to ``reference`` (the unmoved
    source); flags rows worse than the reference by more than ``FLAG_RATIO``. ``None`` when no item has the
    metric. Returns ``{"clips": {item: {row: {"background_l1", "ratio", "flagged", "frames"}}}, "flagged": {row:
    [items]}, "clip_count": n}``.

    Paired: a row and the reference are compared over the frames *both* have a value for (each row's person
    region comes from its own output, so a frame can have background left for one row and none for another).
    Averaged over different frames, one frame the other row lacks decided the ratio: on dev self-reenactment a
    target identical to the source (bg L1 0.0013) scored for the unmoved photo only flagged mead_M003 happy at
    1.11× although the warp was level with it on every frame both had. ``background_l1``: each row's mean over
    all its own frames (as in the pooled table); ``frames``: how many frames the ratio used (the reference: its
    own)."""
    from .pooling import mean

    clips: dict[str, dict] = {}
    flagged: dict[str, list[str]] = {}
    for result in results:
        if result.protocol != protocol or result.skipped or reference not in result.rows:
            continue
        base_values = _values(result.rows[reference])
        if not np.isfinite(base_values).any():
            continue
        entry = {}
        for key, row in result.rows.items():
            values = _values(row)
            scored = np.isfinite(values)
            ratio, count = math.nan, int(scored.sum())
            if key != reference and values.shape == base_values.shape:
                both = scored & np.isfinite(base_values)
                count = int(both.sum())
                base = mean(base_values[both])
                if count and base > 0:
                    ratio = mean(values[both]) / base
            bad = math.isfinite(ratio) and ratio > FLAG_RATIO
            entry[key] = {BACKGROUND_METRIC: mean(values), "ratio": ratio, "flagged": bad, "frames": count}
            flagged.setdefault(key, [])
            if bad:
                flagged[key].append(result.item)
        clips[result.item] = entry
    if not clips:
        return None
    return {"clips": clips, "flagged": flagged, "clip_count": len(clips), "reference": reference,
            "flag_ratio": FLAG_RATIO}


def _values(row: dict) -> np.ndarray:
    """A row's per-frame background L1 as float64 (``None``, as results.json stores NaN, becomes NaN)."""
    return np.asarray([math.nan if v is None else v for v in row["per_frame"].get(BACKGROUND_METRIC, [])],
                      np.float64)


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def background_clip_table(by_clip: dict, limit: int | None = None) -> str:
    """Markdown: one line per clip (background L1 of each row, its paired ratio to the unmoved source in brackets,
    ⚠ when flagged), flagged clips first; then a count line per row. ``limit``: at most this many clip lines."""
    rows = list(next(iter(by_clip["clips"].values())).keys())
    lines = ["| clip | " + " | ".join(rows) + " |", "|---|" + "---:|" * len(rows)]
    def flags(item: str) -> int:
        return sum(bool(v["flagged"]) for v in by_clip["clips"][item].values())

    items = sorted(by_clip["clips"], key=lambda item: (-flags(item), item))
    for item in items[:limit]:
        cells = []
        for key in rows:
            value = by_clip["clips"][item].get(key) or {}
            if not _finite(value.get(BACKGROUND_METRIC)):  # results.json stores NaN as null
                cells.append("—")
                continue
            text = f"{value[BACKGROUND_METRIC]:.4f}"
            if key != by_clip["reference"] and _finite(value.get("ratio")):
                text += f" ({value['ratio']:.2f}×{' ⚠' if value['flagged'] else ''})"
            cells.append(text)
        lines.append(f"| {item} | " + " | ".join(cells) + " |")
    if limit is not None and len(items) > limit:
        lines.append(f"| … {len(items) - limit} more clips in results.json | " + " | ".join("" for _ in rows) + " |")
    counts = [f"`{key}`: {len(items_)} of {by_clip['clip_count']}" for key, items_ in by_clip["flagged"].items()
              if key != by_clip["reference"]]
    return "\n".join(lines) + ("\n\nClips worse than the unmoved source by > 10%: " + "; ".join(counts) + "."
                               if counts else "")
