"""``headshot prepare``: turn a folder of talking-face videos into a training set of face crops.

For every clip: decode with PyAV, find the 478 MediaPipe landmarks on the kept frames, choose **one**
square crop for the whole clip (median of the per-frame face boxes, so the crop does not wobble from
frame to frame), cut every kept frame to ``size``×``size`` and store it as JPEG together with its
landmarks in crop pixels.

Layout of a prepared dataset (``DATASET_DIR``)::

    index.json                 {"version", "size", "videos": [record, ...], "failures": [...]}
    shards/<relative clip path>.npz
        jpeg        uint8 (total_bytes,)     all frames' JPEG bytes, concatenated
        offsets     int64 (N + 1,)           frame i is jpeg[offsets[i]:offsets[i + 1]]
        landmarks   float32 (N, 478, 3)      crop pixels (x right, y down, z scaled like x)
        frame_index int32 (N,)               index of the frame in the source video
        crop_box    float32 (3,)             x0, y0, side of the clip's crop in source pixels
        meta        str (0-d)                JSON: clip, video, identity, source, fps, size

Shards are written with ``allow_pickle=False`` readers in mind (no object arrays) and appear atomically
(temp file + ``os.replace``), so an existing shard is a finished clip: re-running the command resumes.
A shard's bytes depend only on the clip and the settings (fixed zip timestamps), so a shard made by a
local worker and one made on a Ray cluster (``--cluster``) are the same file.

Video layouts: VoxCeleb2 (``id/video/clip.mp4``: identity ``id``, video ``id/video``) and flat folders
(``<identity>__<anything>.mp4``: identity is the prefix before ``__``, video is the file stem).
"""

from __future__ import annotations

import json
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)

from ..cluster.executor import open_backend
from ..errors import InputError
from ..face.crop import DEFAULT_SCALE, DEFAULT_SHIFT_UP, CropBox
from ..io.atomic import atomic_output
from ..io.video import VideoReader

VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v"}
INDEX_NAME = "index.json"
INDEX_VERSION = 1

# A clip needs at least this many frames with a face to be useful for K-shot episodes.
MIN_FRAMES = 2


@dataclass(frozen=True)
class ClipSource:
    """One input clip: where it is and whom/which video it belongs to."""

    path: Path
    clip: str        # unique key: path relative to the videos folder, without suffix, "/"-separated
    video: str       # video key (VoxCeleb2: "id/video"; flat: the stem)
    identity: str

    @property
    def shard_name(self) -> str:
        return f"shards/{self.clip}.npz"


def find_clips(videos_dir: Path) -> list[ClipSource]:
    """All video files under ``videos_dir``, sorted, with their identity and video keys.

    Files three levels deep (``id/video/clip.ext``) follow the VoxCeleb2 layout; others take the
    identity from the file name prefix before ``__`` (or the parent folder name when there is no ``__``
    and the file sits in a sub-folder, else the stem).
    """
    videos_dir = Path(videos_dir)
    if videos_dir.is_file():
        raise InputError(f"{videos_dir} is a file; give the folder of videos it is in")
    if not videos_dir.is_dir():
        raise InputError(f"videos folder not found: {videos_dir}")
    clips = []
    for path in sorted(videos_dir.rglob("*")):
        if path.suffix.lower() not in VIDEO_SUFFIXES or not path.is_file():
            continue
        relative = path.relative_to(videos_dir).with_suffix("")
        parts = relative.parts
        if len(parts) == 3:
            identity, video = parts[0], f"{parts[0]}/{parts[1]}"
        elif "__" in path.stem:
            identity, video = path.stem.split("__")[0], relative.as_posix()
        elif len(parts) >= 2:
            identity, video = parts[0], relative.as_posix()
        else:
            identity, video = path.stem, path.stem
        clips.append(ClipSource(path, relative.as_posix(), video, identity))
    return clips


def clip_crop_box(landmarks: np.ndarray) -> CropBox:
    """One square crop for a clip from its per-frame landmarks ``(N, 478, 2+)`` pixels.

    Framed like :func:`headshot.face.crop.crop_box` (its scale and upward shift), so that training crops
    look like inference crops; but the centre and size are medians of the per-frame face boxes: robust to
    a few bad detections and stable over the clip (the head may move inside the crop, the crop does not).
    """
    xy = np.asarray(landmarks, np.float32)[..., :2]
    low, high = xy.min(axis=1), xy.max(axis=1)                 # (N, 2)
    box_size = np.max(high - low, axis=1)                      # (N,)
    centre = (low + high) / 2
    centre[:, 1] -= DEFAULT_SHIFT_UP * box_size
    cx, cy = np.median(centre, axis=0)
    side = max(8.0, float(np.round(np.median(box_size) * DEFAULT_SCALE)))
    return CropBox(float(np.round(cx - side / 2)), float(np.round(cy - side / 2)), side)


def cut_crop(frame: np.ndarray, box: CropBox, size: int) -> np.ndarray:
    """Cut ``box`` out of ``frame`` (RGB uint8 HWC), resized to ``size``: RGB uint8 ``(size, size, 3)``.

    Parts outside the frame are filled by edge replication. Not :func:`headshot.face.crop.crop` (which
    blurs what lies outside the photo and resamples differently): prepared datasets keep the pixels they
    were made with.
    """
    x0, y0, side = box.x0, box.y0, box.side
    scale = size / side
    matrix = np.array([[scale, 0, -x0 * scale], [0, scale, -y0 * scale]], np.float32)
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.warpAffine(frame, matrix, (size, size), flags=interpolation, borderMode=cv2.BORDER_REPLICATE)


def _decode(path: Path, every: int, max_frames: int | None):
    """Yield ``(frame_index, timestamp_ms, RGB uint8 HWC)`` for every ``every``-th frame.

    Uses :class:`headshot.io.video.VideoReader` (PyAV; rotation applied; a truncated file gives the
    frames it has).
    """
    wanted = None if max_frames is None else (max_frames - 1) * every + 1
    with VideoReader(path, max_frames=wanted, allow_truncated=True) as reader:
        for index, time_s, rgb in reader:
            if index % every == 0:
                yield index, int(round(time_s * 1000)), rgb


def _video_fps(path: Path) -> float:
    with VideoReader(path, allow_truncated=True) as reader:
        return float(reader.fps)


def prepare_clip(source: ClipSource, dataset_dir: Path, analyzer, size: int = 256, every: int = 1,
                 max_frames: int | None = None, jpeg_quality: int = 95) -> dict:
    """Detect, crop and store one clip as a shard; returns its index record.

    Frames where no face is found are dropped. Raises :class:`InputError` for unreadable videos or
    clips with fewer than ``MIN_FRAMES`` usable frames.
    """
    frames, landmarks, indices = [], [], []
    try:
        for index, timestamp_ms, frame in _decode(source.path, every, max_frames):
            faces = analyzer.detect(frame, timestamp_ms)
            if not faces:
                continue
            frames.append(frame)
            landmarks.append(faces[0].landmarks)
            indices.append(index)
    except InputError:
        raise
    except Exception as error:  # anything else the decoder or detector throws mid-clip
        if len(frames) < MIN_FRAMES:
            raise InputError(f"cannot decode video: {type(error).__name__}: {error}") from None
    if len(frames) < MIN_FRAMES:
        raise InputError(f"only {len(frames)} frame(s) with a face")
    landmarks_array = np.stack(landmarks).astype(np.float32)
    box = clip_crop_box(landmarks_array)
    jpeg, offsets = encode_jpegs((cut_crop(frame, box, size) for frame in frames), jpeg_quality)
    record = {
        "clip": source.clip, "video": source.video, "identity": source.identity,
        "source": str(source.path), "fps": _video_fps(source.path) / every, "size": size,
        "frames": len(offsets) - 1, "shard": source.shard_name,
    }
    shard_path = Path(dataset_dir) / source.shard_name
    shard_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(shard_path) as temp_path:
        write_npz(temp_path, jpeg=jpeg, offsets=offsets,
                  landmarks=box.to_crop(landmarks_array, size),
                  frame_index=np.asarray(indices, np.int32),
                  crop_box=np.array([box.x0, box.y0, box.side], np.float32),
                  meta=np.array(json.dumps(record)))
    return record


def encode_jpegs(images, quality: int) -> tuple[np.ndarray, np.ndarray]:
    """RGB uint8 images as JPEGs packed one after another: ``(jpeg, offsets)``, uint8 bytes and int64
    ``(N + 1,)`` offsets (image i is ``jpeg[offsets[i]:offsets[i + 1]]``), the layout of a shard."""
    encoded = []
    for image in images:
        ok, data = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise InputError("JPEG encoding failed")
        encoded.append(data.reshape(-1))
    offsets = np.zeros(len(encoded) + 1, np.int64)
    offsets[1:] = np.cumsum([len(data) for data in encoded])
    return (np.concatenate(encoded) if encoded else np.zeros(0, np.uint8)), offsets


def write_npz(path: Path, **arrays: np.ndarray) -> None:
    """``np.savez`` with fixed member timestamps: the same arrays always give the same bytes.

    (``np.savez`` stamps each member with the current time, so two runs over one clip would differ.)
    Readable by ``np.load(path, allow_pickle=False)``.
    """
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            member = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            with archive.open(member, "w", force_zip64=True) as stream:
                np.lib.format.write_array(stream, np.asanyarray(array), allow_pickle=False)


def read_shard_record(shard_path: Path) -> dict:
    """The index record stored inside a finished shard."""
    with np.load(shard_path, allow_pickle=False) as shard:
        return json.loads(str(shard["meta"]))


# --- worker process side -------------------------------------------------------------------------

def _worker_run(job: tuple) -> tuple[str, dict | None, str | None]:
    """Process one clip in a worker; never raises (errors come back as text)."""
    source, dataset_dir, size, every, max_frames = job
    # MediaPipe here, not at the top: only the workers that detect faces need it, and train.dataset
    # imports this module (for INDEX_NAME) in every training process.
    from ..face.landmarker import FaceAnalyzer

    try:
        # A fresh VIDEO-mode analyzer per clip: timestamps restart at 0 and tracking must not carry
        # over from the previous clip.
        with FaceAnalyzer(video=True, max_faces=1) as analyzer:
            return source.clip, prepare_clip(source, dataset_dir, analyzer, size, every, max_frames), None
    except Exception as error:  # bad video: report, never abort the run
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        return source.clip, None, message


def write_index(dataset_dir: Path, size: int, records: list[dict], failures: list[dict]) -> Path:
    """Write ``index.json`` atomically; returns its path."""
    dataset_dir = Path(dataset_dir)
    payload = {
        "version": INDEX_VERSION, "size": size,
        "videos": sorted(records, key=lambda record: record["clip"]),
        "failures": sorted(failures, key=lambda failure: failure["clip"]),
    }
    path = dataset_dir / INDEX_NAME
    with atomic_output(path) as temp_path, open(temp_path, "w") as file:
        json.dump(payload, file, indent=1)
    return path


def _finished_clips(clips: list[ClipSource], dataset_dir: Path, size: int) -> tuple[list[dict], list[ClipSource]]:
    """The index records of the clips whose shard exists at this crop size (finished by an earlier run), and
    the clips still to do."""
    records: list[dict] = []
    todo: list[ClipSource] = []
    for source in clips:
        shard_path = dataset_dir / source.shard_name
        if shard_path.is_file():
            try:
                record = read_shard_record(shard_path)
                if record.get("size") == size:
                    records.append(record)
                    continue
            except Exception:
                pass  # unreadable shard: redo it
        todo.append(source)
    return records, todo


def prepare_dataset(videos_dir: Path, dataset_dir: Path, size: int = 256, workers: int = 1, every: int = 1,
                    max_frames: int | None = None, progress: bool = True, cluster: str | None = None) -> dict:
    """Prepare every clip under ``videos_dir`` into ``dataset_dir`` (see the module docstring).

    Args:
        size: crop side in pixels.
        workers: parallel processes, each with its own MediaPipe FaceAnalyzer.
        every: keep every ``every``-th frame.
        max_frames: keep at most this many frames per clip (after ``every``).
        progress: show a rich progress bar.
        cluster: ``None`` (this machine, ``workers`` processes), or a Ray cluster: ``auto``, ``local`` or an
            address (:mod:`headshot.cluster.executor`); the clips are then spread over the cluster's CPUs, and
            ``videos_dir`` and ``dataset_dir`` must be on a path every node sees.

    Returns the index (as written to ``index.json``). Clips whose shard already exists (with the same
    crop size) are skipped, so an interrupted run resumes; clips that fail are listed under
    ``"failures"`` with the reason and retried on the next run.
    """
    if size < 16:
        raise InputError(f"--size must be at least 16, got {size}")
    if every < 1:
        raise InputError(f"--every must be at least 1, got {every}")
    if workers < 1:
        raise InputError(f"--workers must be at least 1, got {workers}")
    dataset_dir = Path(dataset_dir)
    clips = find_clips(videos_dir)  # before the output folder is made: a bad input leaves nothing behind
    if not clips:
        raise InputError(f"no videos ({', '.join(sorted(VIDEO_SUFFIXES))}) found under {videos_dir}")
    dataset_dir.mkdir(parents=True, exist_ok=True)
    records, todo = _finished_clips(clips, dataset_dir, size)
    failures: list[dict] = []
    jobs = [(source, dataset_dir, size, every, max_frames) for source in todo]
    columns = [TextColumn("prepare"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[frames]} frames"),
               TextColumn("{task.fields[failed]} failed"), TimeElapsedColumn(), TimeRemainingColumn()]
    started = time.monotonic()
    with Progress(*columns, disable=not progress) as bar:
        task = bar.add_task("clips", total=len(clips), completed=len(records),
                            frames=sum(r["frames"] for r in records), failed=0)

        def collect(result):
            clip, record, error = result
            if record is not None:
                records.append(record)
            else:
                failures.append({"clip": clip, "error": error})
            bar.update(task, advance=1, frames=sum(r["frames"] for r in records), failed=len(failures))

        backend = open_backend(cluster, max(1, min(workers, len(jobs)))) if jobs else None
        try:
            for outcome in backend.map(_worker_run, jobs) if backend else ():
                # a worker that died on every attempt: the clip fails, the run goes on
                collect(outcome.value if outcome.ok else (jobs[outcome.index][0].clip, None, outcome.error))
        finally:
            if backend is not None:
                backend.close()
    sources = {source.clip: source for source in clips}
    for failure in failures:
        failure["source"] = str(sources[failure["clip"]].path)
    write_index(dataset_dir, size, records, failures)
    index = json.loads((dataset_dir / INDEX_NAME).read_text())
    index["seconds"] = time.monotonic() - started
    return index
