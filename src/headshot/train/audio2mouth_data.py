"""Training data for the audio → mouth model: per-frame mouth curves and audio of talking clips, and the
training examples made from them.

For each clip with an audio track: the mono waveform at 16 kHz (``io.audio.read_audio``) and, per video frame, MediaPipe's
52 blendshapes and the inner-lip gap over the inter-ocular distance (``motion.retarget.mouth_openness``),
with a ``present`` mask for frames without a face. Tracks are cached as ``.npz`` files (one per clip) in a
cache folder outside the repository: they are derived from the dev data and must never be committed.
Audio is decoded afresh each time (fast). :func:`make_examples` turns tracked clips into
:class:`Example` arrays: log-mel with padding, and the :data:`CURVES` normalised per clip.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..io.audio import read_audio
from ..speech import features
from ..speech.audio2mouth import MEL_PER_FRAME, recording_stats

log = logging.getLogger(__name__)

CACHE_VERSION = 1

# Output curves: name -> MediaPipe blendshapes averaged (left/right pairs), or () for a landmark measure.
CURVES: dict[str, tuple[str, ...]] = {
    "lip_gap": (),
    "mouth_width": (),
    "jawOpen": ("jawOpen",),
    "mouthClose": ("mouthClose",),
    "mouthFunnel": ("mouthFunnel",),
    "mouthPucker": ("mouthPucker",),
    "mouthStretch": ("mouthStretchLeft", "mouthStretchRight"),
    "mouthRollLower": ("mouthRollLower",),
    "mouthRollUpper": ("mouthRollUpper",),
    "mouthLowerDown": ("mouthLowerDownLeft", "mouthLowerDownRight"),
    "mouthUpperUp": ("mouthUpperUpLeft", "mouthUpperUpRight"),
    "mouthPress": ("mouthPressLeft", "mouthPressRight"),
    "mouthSmile": ("mouthSmileLeft", "mouthSmileRight"),
}
PAD = 64  # video frames of (silent) audio kept before and after each clip for crops reaching outside


@dataclass
class ClipTrack:
    """One talking clip, ready for training.

    Attributes:
        name: file stem.
        identity: the person (clips of one identity never straddle a train/validation split).
        samples: mono float32 waveform in [-1, 1] at ``sample_rate``.
        sample_rate: Hz (16000 for the dev set).
        fps: video frame rate.
        blendshapes: ``(frames, 52)`` float32 MediaPipe coefficients (0 where no face).
        blendshape_names: the 52 names.
        lip_gap: ``(frames,)`` inner-lip gap / inter-ocular distance (NaN where no face).
        mouth_width: ``(frames,)`` mouth-corner distance / inter-ocular distance (NaN where no face).
        present: ``(frames,)`` bool, a face was found.
    """

    name: str
    identity: str
    samples: np.ndarray
    sample_rate: int
    fps: float
    blendshapes: np.ndarray
    blendshape_names: tuple[str, ...]
    lip_gap: np.ndarray
    mouth_width: np.ndarray
    present: np.ndarray

    @property
    def frames(self) -> int:
        return len(self.lip_gap)


def track_mouth(path: Path) -> dict:
    """Per-frame blendshapes, lip gap and mouth width of the largest (then closest) face in a video."""
    from ..drivers import VideoDriver
    from ..face import topology
    from ..motion.retarget import face_size, mouth_openness

    driver = VideoDriver(path)
    blendshapes, gap, width, present = [], [], [], []
    for frame in driver:
        if frame.landmarks is None:
            blendshapes.append(np.zeros(52, np.float32))
            gap.append(np.nan)
            width.append(np.nan)
            present.append(False)
            continue
        blendshapes.append(np.asarray(frame.blendshapes, np.float32))
        gap.append(mouth_openness(frame.landmarks))
        left, right = topology.MOUTH_CORNERS
        width.append(float(np.linalg.norm(frame.landmarks[left] - frame.landmarks[right]) / face_size(frame.landmarks)))
        present.append(True)
    return {
        "blendshapes": np.stack(blendshapes).astype(np.float32),
        "lip_gap": np.asarray(gap, np.float32),
        "mouth_width": np.asarray(width, np.float32),
        "present": np.asarray(present, bool),
        "fps": float(driver.fps),
    }


@functools.lru_cache(maxsize=1)
def blendshape_names() -> tuple[str, ...]:
    """MediaPipe's 52 blendshape names in output order (read off a detection on the bundled portrait)."""
    from ..assets import astronaut
    from ..face.landmarker import FaceAnalyzer

    with FaceAnalyzer(video=False, max_faces=1) as analyzer:
        return analyzer.detect_one(astronaut()).blendshape_names


def read_manifest(dev_root: Path) -> list[dict]:
    """Rows of the dev set's MANIFEST.tsv that have audio."""
    with open(Path(dev_root) / "MANIFEST.tsv", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return [row for row in rows if row["has_audio"] == "yes" and row["file"].endswith(".mp4")]


def _cache_key(path: Path) -> str:
    stat = path.stat()
    return hashlib.sha256(f"{CACHE_VERSION}:{path.name}:{stat.st_size}:{int(stat.st_mtime)}".encode()).hexdigest()[:16]


def load_clip(path: Path, identity: str, cache_dir: Path) -> ClipTrack:
    """A clip's :class:`ClipTrack`, from ``cache_dir`` when tracked before (else tracked and cached)."""
    path = Path(path)
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    cached = cache_dir / f"{path.stem}.{_cache_key(path)}.npz"
    if not cached.exists():
        log.info("tracking %s", path.name)
        tracks = track_mouth(path)
        temporary = cached.with_suffix(".tmp.npz")
        np.savez(temporary, **tracks)
        temporary.replace(cached)
    data = np.load(cached)
    return ClipTrack(
        name=path.stem, identity=identity, samples=read_audio(path, 16000), sample_rate=16000, fps=float(data["fps"]),
        blendshapes=data["blendshapes"], blendshape_names=blendshape_names(), lip_gap=data["lip_gap"],
        mouth_width=data["mouth_width"], present=data["present"],
    )


def load_dev_clips(dev_root: Path, cache_dir: Path) -> list[ClipTrack]:
    """All dev clips with audio (MANIFEST order), tracked once and cached."""
    return [load_clip(Path(dev_root) / row["file"], row["identity"], cache_dir) for row in read_manifest(dev_root)]


# ---------------------------------------------------------------------------------------------- examples

@dataclass
class Example:
    """One clip as training arrays: log-mel, per-clip normalised curves, and the curves in natural units."""

    name: str
    identity: str
    mel: np.ndarray  # (4 * (frames + 2 PAD), n_mels) natural-log mel from video frame -PAD, not normalised
    stats: features.RecordingStats  # the clip's level and band means
    targets: np.ndarray  # (frames, curves) 0 = the clip's 5th percentile, 1 = its 95th
    present: np.ndarray  # (frames,) bool
    raw: np.ndarray  # (frames, curves) in natural units (NaN where no face)
    samples: np.ndarray = field(repr=False, default=None)  # 16 kHz mono


def raw_curves(clip: ClipTrack) -> np.ndarray:
    """``(frames, len(CURVES))`` natural-unit curves of a clip (NaN where no face)."""
    columns = []
    for name, sources in CURVES.items():
        if name == "lip_gap":
            column = clip.lip_gap.astype(np.float64)
        elif name == "mouth_width":
            column = clip.mouth_width.astype(np.float64)
        else:
            column = np.mean([clip.blendshapes[:, clip.blendshape_names.index(s)] for s in sources], axis=0)
        columns.append(np.where(clip.present, column, np.nan))
    return np.stack(columns, axis=1).astype(np.float32)


def clip_ranges(raw: np.ndarray, present: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-curve 5th percentile and 5-95 % spread of one clip's present frames."""
    values = raw[present]
    low = np.percentile(values, 5, axis=0)
    return low, np.percentile(values, 95, axis=0) - low


def curve_stats(examples: list[Example]) -> tuple[np.ndarray, np.ndarray]:
    """The average speaker's ``rest`` and ``spread`` per curve (medians over clips of :func:`clip_ranges`),
    which turn the network's normalised output back into natural units."""
    ranges = [clip_ranges(e.raw, e.present) for e in examples]
    return (np.median([r[0] for r in ranges], axis=0).astype(np.float32),
            np.median([r[1] for r in ranges], axis=0).astype(np.float32))


def make_examples(clips: list[ClipTrack], n_mels: int = features.N_MELS) -> list[Example]:
    """Training examples of tracked clips: targets 0 at the clip's 5th percentile, 1 at its 95th."""
    raws = [raw_curves(clip) for clip in clips]
    ranges = [clip_ranges(raw, clip.present) for raw, clip in zip(raws, clips)]
    spread = np.median([s for _, s in ranges], axis=0)
    mel_config = features.MelConfig(n_mels=n_mels)
    examples = []
    for clip, raw, (low, clip_spread) in zip(clips, raws, ranges):
        # A clip in which a curve hardly moves (no speech) must not have its noise blown up to full scale.
        clip_spread = np.maximum(clip_spread, 0.25 * spread)
        # Clipped: a rare expression (lips rolled in for a grimace) would otherwise dominate the MSE.
        targets = np.clip(np.nan_to_num((raw - low) / clip_spread), -0.5, 3.0).astype(np.float32)
        mel = features.log_mel(clip.samples, clip.sample_rate, mel_config, start_frame=-PAD * MEL_PER_FRAME,
                               n_frames=(clip.frames + 2 * PAD) * MEL_PER_FRAME)
        examples.append(Example(clip.name, clip.identity, mel, recording_stats(clip.samples, mel_config=mel_config),
                                targets, clip.present.copy(), raw, clip.samples))
    return examples


def shifted(example: Example, lag: int) -> Example:
    """``example`` with its face curves moved ``lag`` frames later (audio frame ``u`` gets the face of
    frame ``u - lag``): undoes an audio-video offset where the face leads the audio by ``lag`` frames."""
    if lag == 0:
        return example
    frames = len(example.targets)
    source = np.arange(frames) - lag
    inside = (source >= 0) & (source < frames)
    targets = np.zeros_like(example.targets)
    targets[inside] = example.targets[source[inside]]
    present = np.zeros_like(example.present)
    present[inside] = example.present[source[inside]]
    raw = np.full_like(example.raw, np.nan)
    raw[inside] = example.raw[source[inside]]
    return replace(example, targets=targets, present=present, raw=raw)
