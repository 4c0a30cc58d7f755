"""``headshot eval --protocol lipsync``: does the mouth of an audio-driven animation follow the speech?

For every clip with an audio track: the source is the clip's first frame and the clip's own audio drives
each method of :mod:`headshot.eval.lipsync_methods` (recognised phones, the learned audio → mouth
model, their combination, and baselines: the RMS energy envelope and the procedural ``talk`` preset).
Each method's motion template is rendered by the real pipeline (:class:`headshot.pipeline.Animation`,
crop only, relative motion from the template's first frame) and the *rendered* frames are landmarked
with MediaPipe (VIDEO mode, as the real clip): the renderer and the landmarker are part of what is
measured. Their mouth opening (:func:`~headshot.eval.lipsync_metrics.lip_gap`) is compared frame by
frame with the real speaker's: Pearson r at lag 0 and the best within ±3 frames (whose lag estimates the
sync offset), the 5-95 % mouth-range ratio, |audio − output video| duration, and the share of bilabials
(p b m in the recognised phones) whose middle frame shows closed lips. A ``say`` check renders a
bilabial-rich sentence from text to speech on a few portraits and counts the closures the same way.

Run folder (``out``)::

    cache/lipsync/<clip>/speaker-track.npz, <method>.json|.npz, recognised-phones.json (reused on --resume)
    cache/lipsync/say__<portrait>/say.json                                  the say check (lipsync_say.py)
    results.json, results.md, per_clip.csv, plots/lipsync_curves.png, contact_sheets/lipsync/<clip>.png
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from . import lipsync_metrics as lm
from .lipsync_methods import AUDIO_RATE, ClipSpeech, LipsyncMethod, recognised_speech, template_gap
from ..io import atomic

PROTOCOL_VERSION = 2  # bump when a change makes cached per-clip results stale
TRACK = "speaker-track"  # cache names of the real clip's tracking and its recognised phones (method names
PHONES = "recognised-phones"  # must differ from these two)
SHEET_STEPS = 6
TILE = 128


@dataclass
class LipsyncOptions:
    """Everything the lip-sync protocol needs (one line per option).

    Attributes:
        data: data folder (``videos/``, or a folder of videos); clips without audio are left out.
        out: run folder.
        engine: the renderer (a :mod:`headshot.engines` name).
        methods: method names of :data:`~headshot.eval.lipsync_methods.METHODS` (None: all that can run).
        max_videos: only the first N clips with audio (sorted by path).
        size: crop side of the rendered output (crop only).
        smoothing: the pipeline's driver smoothing (its default 0.5 is what users get).
        max_lag: frames each side searched for the best correlation.
        audio2mouth_weights: weights of the learned model (None: the shipped ones), or a cross-validation
            run folder of ``headshot.train.audio2mouth`` (each clip scored by the fold model that never saw its
            speaker).
        say_sources: how many portraits (``data/portraits``, one per identity) the ``say`` check animates
            (0: skip it).
        resume: reuse per-clip results cached in the run folder when their settings match.
        contact_sheets: write a contact sheet per clip.
    """

    data: Path
    out: Path
    engine: str = "warp"
    methods: list[str] | None = None
    max_videos: int | None = None
    size: int = 256
    smoothing: float = 0.5
    max_lag: int = lm.MAX_LAG
    audio2mouth_weights: Path | None = None
    say_sources: int = 6
    resume: bool = True
    contact_sheets: bool = True


@dataclass
class ClipResult:
    """Per-clip numbers: ``real`` (about the clip), ``rows`` (method name -> metrics and curves)."""

    item: str
    video: str
    real: dict
    rows: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)
    computed: int = 0  # rows computed in this run (the others came from the cache)


def audio_clips(data: Path, max_videos: int | None = None) -> list:
    """Videos with an audio track under ``data`` (sorted by path), at most ``max_videos``."""
    from ..io.video import probe
    from .data import find_videos

    chosen = [video for video in find_videos(Path(data)) if probe(video.path)["has_audio"]]
    return chosen[:max_videos]


def read_clip_audio(path: Path, sample_rate: int = AUDIO_RATE) -> np.ndarray:
    """A video's first audio track as mono float32 in [-1, 1] at ``sample_rate``: ``io.audio.read_audio``,
    or (where that module is not installed yet) PyAV here, a track that starts after the video padded
    with silence."""
    try:
        from ..io.audio import read_audio
    except ImportError:
        return _decode_audio(path, sample_rate)
    return read_audio(path, sample_rate)


def _decode_audio(path: Path, sample_rate: int) -> np.ndarray:
    import av

    try:
        with av.open(str(path)) as container:
            stream = container.streams.audio[0]
            video = container.streams.video[0] if container.streams.video else None
            resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
            chunks = []
            for frame in container.decode(stream):
                chunks += [out.to_ndarray().reshape(-1) for out in resampler.resample(frame)]
            chunks += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
            start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
            if video is not None and video.start_time is not None:
                start -= float(video.start_time * video.time_base)
    except (av.error.FFmpegError, IndexError) as error:
        raise InputError(f"cannot read the audio of {path}: {error}") from None
    samples = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    lead = int(round(max(start, 0.0) * sample_rate))
    return np.concatenate([np.zeros(lead, np.float32), samples]) if lead else samples


def _tile(image: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.resize(image, (TILE, TILE), interpolation=cv2.INTER_AREA)


def sheet_frames(frames: int) -> list[int]:
    """The frame indices shown in contact sheets: :data:`SHEET_STEPS` spread over 10-90 % of the clip."""
    return sorted({int(round(x)) for x in np.linspace(0.1, 0.9, SHEET_STEPS) * max(frames - 1, 0)})


def track_real(path: Path, size: int) -> dict:
    """Track the speaker through the clip (MediaPipe VIDEO mode, one face followed): landmarks,
    presence, blendshapes, lip gap per frame; fps, frame size; and small tiles of the frames of
    :func:`sheet_frames`, cropped like the pipeline crops the first frame's face."""
    from ..drivers import VideoDriver
    from ..face.crop import crop, crop_box

    driver = VideoDriver(path)
    keep = sheet_frames(driver.frame_count)
    landmarks, blendshapes, present, tiles = [], [], [], []
    box = None
    for frame in driver:
        found = frame.landmarks is not None
        present.append(found)
        landmarks.append(frame.landmarks if found else np.zeros((478, 3), np.float32))
        blendshapes.append(frame.blendshapes if found and frame.blendshapes is not None else np.zeros(52, np.float32))
        if box is None and found:
            box = crop_box(frame.landmarks)
        if frame.index in keep:
            blank = np.zeros((TILE, TILE, 3), np.uint8)  # no face seen yet: no box to crop
            tiles.append(_tile(crop(frame.image, box, size)) if box is not None else blank)
    driver.close()
    present = np.asarray(present, bool)
    if not present.any() or not present[0]:
        raise InputError(f"{path.name}: no face in the first frame (the source)")
    landmarks = np.stack(landmarks).astype(np.float32)
    gaps = np.where(present, lm.lip_gap(landmarks), np.nan)
    return {"landmarks": landmarks, "present": present, "blendshapes": np.stack(blendshapes).astype(np.float32),
            "gap": gaps, "fps": np.float64(driver.fps), "frame_size": np.asarray(driver.frame_size),
            "tiles": np.stack(tiles), "sheet_frames": np.asarray(keep[:len(tiles)], np.int64)}


def first_frame(path: Path) -> np.ndarray:
    from ..io.video import VideoReader

    with VideoReader(path) as reader:
        for frame in reader:
            return frame.rgb
    raise InputError(f"{path.name}: no frames")


def render_gaps(source: np.ndarray, template, options: LipsyncOptions, keep: set[int],
                smoothing: float | None = None) -> dict:
    """Render ``template`` on ``source`` through the animate pipeline (crop only, reference = the
    template's first frame, driver smoothing ``smoothing``, default ``options.smoothing``) and landmark every
    output frame; returns the lip gaps, the face-lost share, tiles of the frames in ``keep`` and the seconds
    spent rendering and landmarking."""
    from ..face.landmarker import FaceAnalyzer
    from ..pipeline import AnimateOptions, Animation

    started = time.perf_counter()
    animation = Animation(source, template, AnimateOptions(engine=options.engine, crop_only=True, size=options.size,
                                                           reference="first",
                                                           smoothing=options.smoothing if smoothing is None else smoothing))
    analyzer = FaceAnalyzer(video=True, max_faces=1)
    gaps, tiles = [], {}
    try:
        for index, frame in enumerate(animation.frames()):
            faces = analyzer.detect(frame, timestamp_ms=int(round(1000.0 * index / animation.fps)))
            gaps.append(lm.lip_gap(faces[0].landmarks) if faces else math.nan)
            if index in keep:
                tiles[index] = _tile(frame)
    finally:
        analyzer.close()
    gaps = np.asarray(gaps, np.float64)
    return {"gap": gaps, "face_lost": float(np.mean(~np.isfinite(gaps))) if len(gaps) else math.nan,
            "tiles": tiles, "seconds": time.perf_counter() - started, "fps": animation.fps}


def compare(curve: np.ndarray, real: np.ndarray, fps: float, max_lag: int, same_units: bool = True) -> dict:
    """The per-clip numbers of one curve against the real lip gap."""
    numbers = lm.best_lag(curve, real, fps, max_lag)
    count = min(len(curve), len(real))
    numbers["range_ratio"] = lm.range_ratio(curve[:count], real[:count]) if same_units else math.nan
    return numbers


def _signature(*parts) -> str:
    text = json.dumps([PROTOCOL_VERSION, *parts], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _file_stamp(path) -> str | None:
    if not path:
        return None
    stat = Path(path).stat()
    return f"{Path(path).resolve()}:{stat.st_size}:{int(stat.st_mtime)}"


def _smoothing(method: LipsyncMethod, options: LipsyncOptions) -> float:
    """Driver smoothing of a row's render: the pipeline's for measured motion (the real speaker's tracked
    landmarks), none for synthetic motion, as ``animate`` plays speech drivers (smoothing would only delay
    quick lip closures)."""
    return options.smoothing if method.measured else 0.0


def _learned_stamp(method: str, weights) -> str | None:
    """Cache key part of a learned row: the weights it reads (the shipped file for the shipped row and when
    none are set; the fold files of a cross-validation run folder)."""
    if "learned" not in method:
        return None
    from ..speech.audio2mouth import default_weights_path

    if method.endswith("-shipped") or not weights:
        return _file_stamp(default_weights_path())
    if Path(weights).is_dir():
        files = sorted((Path(weights) / "folds").glob("fold*.safetensors")) or sorted(
            (Path(weights) / "predictions").glob("*.npy"))
        return ";".join(_file_stamp(f) for f in files)
    return _file_stamp(weights)


def _jsonable(value):
    if isinstance(value, np.ndarray):
        return [None if not np.isfinite(v) else round(float(v), 5) for v in value.ravel()]
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    raise TypeError(type(value))


def _curve(values) -> np.ndarray:
    return np.asarray([math.nan if v is None else v for v in values], np.float64)


class _ClipCache:
    """Per-clip cache folder: the real track (npz), recognised phones (json) and one json+npz per method."""

    def __init__(self, out: Path, item: str, resume: bool):
        self.folder = Path(out) / "cache" / "lipsync" / item
        self.resume = resume

    def load_json(self, name: str, signature: str) -> dict | None:
        path = self.folder / f"{name}.json"
        if not (self.resume and path.is_file()):
            return None
        try:
            stored = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        return stored if stored.get("signature") == signature else None

    def store_json(self, name: str, signature: str, payload: dict) -> None:
        text = json.dumps(dict(payload, signature=signature), default=_jsonable)
        atomic.atomic_write_text(self.folder / f"{name}.json", text, make_folders=True)

    def load_npz(self, name: str, signature: str) -> dict | None:
        path = self.folder / f"{name}.npz"
        if not (self.resume and path.is_file()):
            return None
        try:
            with np.load(path) as arrays:
                if str(arrays["signature"]) != signature:
                    return None
                return {key: arrays[key] for key in arrays.files}
        except (OSError, ValueError, KeyError):
            return None

    def store_npz(self, name: str, signature: str, arrays: dict) -> None:
        buffer = io.BytesIO()
        np.savez_compressed(buffer, signature=np.str_(signature), **arrays)
        atomic.atomic_write_bytes(self.folder / f"{name}.npz", buffer.getvalue(), make_folders=True)


def _speech_for_closure(clip: ClipSpeech, cache: _ClipCache, recognizer: bool):
    """The clip's recognised phones for the closure counts, or None without a recognizer. A cached timeline
    serves the counts only: methods that build motion from phones recognise again (the cache keeps the
    phones, not the recogniser's prosody)."""
    if not recognizer:
        return None
    from ..speech.timeline import Phone, Speech

    signature = _signature(PHONES, AUDIO_RATE)
    stored = cache.load_json(PHONES, signature)
    if stored is not None:
        return Speech(np.zeros(0, np.float32), clip.sample_rate, [Phone(*p) for p in stored["phones"]],
                      alphabet=stored["alphabet"], voice=stored.get("voice", ""),
                      metadata={"method": stored.get("method")})
    speech = recognised_speech(clip)
    cache.store_json(PHONES, signature, {"alphabet": speech.alphabet, "voice": speech.voice,
                                         "method": speech.metadata.get("method"), "phones": [
        [p.symbol, p.start, p.end, p.stress, p.word] for p in speech.phones]})
    return speech


def run_clip(video, options: LipsyncOptions, methods: list[LipsyncMethod], recognizer: bool) -> ClipResult:
    """All methods on one clip (cached per method); writes its contact sheet when anything was computed."""
    from .data import _item_id

    item = _item_id(video.relative)
    cache = _ClipCache(options.out, item, options.resume)
    real_signature = _signature(TRACK, options.size)
    real = cache.load_npz(TRACK, real_signature)
    if real is None:
        real = track_real(video.path, options.size)
        cache.store_npz(TRACK, real_signature, real)
    fps, real_gap = float(real["fps"]), real["gap"]
    samples = read_clip_audio(video.path)
    clip = ClipSpeech(item, samples, AUDIO_RATE, fps, real["landmarks"][0], tuple(int(v) for v in real["frame_size"]),
                      real["landmarks"], real["present"], real["blendshapes"],
                      settings={"audio2mouth_weights": options.audio2mouth_weights})
    frames = len(real_gap)
    keep = [int(i) for i in real["sheet_frames"]]
    result = ClipResult(item, video.relative, {
        "frames": frames, "fps": fps, "audio_seconds": clip.seconds, "video_seconds": frames / fps,
        "face_lost": float(np.mean(~real["present"])), "gap_spread": lm.spread(real_gap),
        "gap": real_gap, "sheet_frames": keep})
    speech = None
    try:
        speech = _speech_for_closure(clip, cache, recognizer)
    except Exception as error:  # one clip the recogniser cannot read: no closure numbers for it
        result.errors["phones"] = f"{type(error).__name__}: {error}"
    if speech is not None:
        result.real["closure"] = lm.closure_at_phones(real_gap, speech.phones, speech.alphabet, fps)
        result.real["recognition"] = speech.metadata.get("method")
    tiles = {"real speaker": list(real["tiles"])}
    for method in methods:
        signature = _signature(method.name, options.engine, options.size, _smoothing(method, options), options.max_lag,
                               _learned_stamp(method.name, options.audio2mouth_weights))
        row = cache.load_json(method.name, signature)
        stored_tiles = cache.load_npz(method.name, signature) if row is not None and method.rendered else {}
        if row is None or stored_tiles is None:
            try:
                row, method_tiles = _run_method(method, clip, video.path, options, keep, real_gap, speech)
            except Exception as error:  # a method failing on one clip is reported, not fatal to the run
                first_line = str(error).splitlines()[0] if str(error) else ""
                result.errors[method.name] = f"{type(error).__name__}: {first_line}"
                continue
            cache.store_json(method.name, signature, row)
            if method.rendered:
                blank = np.zeros((TILE, TILE, 3), np.uint8)  # the output ended before this frame
                stored_tiles = {"tiles": np.stack([method_tiles.get(i, blank) for i in keep])}
                cache.store_npz(method.name, signature, stored_tiles)
            result.computed += 1
        row["curve"] = _curve(row["curve"])
        result.rows[method.name] = row
        if method.rendered and stored_tiles is not None and len(stored_tiles.get("tiles", [])):
            tiles[method.label] = list(stored_tiles["tiles"])
    sheet = Path(options.out) / "contact_sheets" / "lipsync" / f"{item}.png"
    if options.contact_sheets and (result.computed or not sheet.is_file()):
        from .lipsync_report import write_sheet

        write_sheet(sheet, tiles, [f"{i / fps:.2f} s" for i in keep])
    return result


def _run_method(method: LipsyncMethod, clip: ClipSpeech, path: Path, options: LipsyncOptions, keep: list[int],
                real_gap: np.ndarray, speech) -> tuple[dict, dict]:
    fps = clip.fps
    if not method.rendered:
        curve = np.asarray(method.build(clip), np.float64)
        return dict(compare(curve, real_gap, fps, options.max_lag, same_units=False), curve=curve), {}
    built = time.perf_counter()
    template = method.build(clip)
    build_seconds = time.perf_counter() - built
    intended = template_gap(template)
    rendered = render_gaps(first_frame(path), template, options, set(keep), _smoothing(method, options))
    curve = rendered["gap"]
    row = compare(curve, real_gap, fps, options.max_lag)
    row["r_best_template"] = lm.best_lag(intended, real_gap, fps, options.max_lag)["r_best"]
    row["duration_error_ms"] = 1000.0 * abs(clip.seconds - len(curve) / rendered["fps"])
    row["face_lost"] = rendered["face_lost"]
    row["ms_per_frame"] = 1000.0 * rendered["seconds"] / max(1, len(curve))
    row["build_seconds"] = build_seconds
    if speech is not None:
        row["closure"] = lm.closure_at_phones(curve, speech.phones, speech.alphabet, fps)
    row["curve"] = curve
    return row, rendered["tiles"]
