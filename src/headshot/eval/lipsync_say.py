"""The ``say`` part of the lip-sync protocol: do the lips shut on p, b and m when speech comes from text?

Text to speech gives exact phone timings, so this isolates motion and rendering from recognition. Each
portrait of :func:`say_portraits` says :data:`SAY_TEXT` the way ``headshot say`` plays it: a
:class:`~headshot.drivers.TextSpeech` spoken into a WAV file, opened by the animate pipeline as a
:class:`~headshot.drivers.SpeechDriver` (rig curves made frame by frame, no driver smoothing: its landmarks
are synthetic), ``AnimateOptions`` defaults but a crop of ``options.size`` and no watermark (the watermark's
run id is random; without it a run repeats bit for bit). Every rendered frame is then landmarked twice with
MediaPipe and :func:`~headshot.eval.lipsync_metrics.closure_at_phones` counts the p/b/m whose middle frame
has the lips closed:

* ``output`` (the headline): IMAGE mode, each frame on its own. A closure in speech lasts 2-3 frames, and
  VIDEO mode's temporal filter reads that short a closure as still open (a closed frame repeated reads
  0.061, 0.039, 0.033, then 0.027 inter-ocular units; in image mode 0.011 at once): it measures the
  landmarker's lag, not the lips. Real speakers lose closures to it the same way.
* ``output_video``: VIDEO mode, as the clip rows are landmarked, reported beside it.
* ``template``: the driver's landmarks before rendering (the motion as intended).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import lipsync_metrics as lm
from .lipsync import LipsyncOptions, _ClipCache, _signature

SAY_TEXT = "Bob bought my mum a map of Maple Bay, and Pam baked both of them an apple pie."


def say_portraits(data: Path, count: int) -> list[tuple[Path, str]]:
    """``count`` portraits of ``data/portraits``, one per identity, spread evenly over the sorted identities."""
    from .data import find_portraits

    first: dict[str, tuple[Path, str]] = {}
    for path, relative, identity in find_portraits(Path(data) / "portraits"):
        first.setdefault(identity, (path, relative))
    chosen = list(first.values())
    if not chosen or count <= 0:
        return []
    picks = sorted({int(round(x)) for x in np.linspace(0, len(chosen) - 1, min(count, len(chosen)))})
    return [chosen[i] for i in picks]


SAY_VERSION = "speech-driver-2"  # cache key: how the check renders and landmarks (changes invalidate caches)


def say_check(options: LipsyncOptions) -> list[dict]:
    """``say``: :data:`SAY_TEXT` spoken on each portrait of :func:`say_portraits` as ``headshot say`` does
    (see the module's docstring); per portrait the bilabial closure of the output in image mode
    (``output``) and video mode (``output_video``), of the motion before rendering (``template``), the
    source's own lip gap (an open mouth is harder to shut) and the faceless share of frames per mode."""
    import tempfile

    from ..drivers import TextSpeech
    from ..face.landmarker import FaceAnalyzer
    from ..io.images import read_image
    from .data import _item_id

    portraits = say_portraits(options.data, options.say_sources)
    if not portraits:
        return []
    results = []
    with tempfile.TemporaryDirectory(prefix="headshot-say-check-") as folder, \
            FaceAnalyzer(video=False, max_faces=1) as analyzer:
        # Spoken once: every portrait says the same utterance (the voice's timing varies from call to call).
        track = TextSpeech(SAY_TEXT, Path(folder) / "say.wav").track()
        signature = _signature("say", SAY_VERSION, SAY_TEXT, track.speech.voice, options.engine, options.size)
        for path, relative in portraits:
            cache = _ClipCache(options.out, "say__" + _item_id(relative), options.resume)
            row = cache.load_json("say", signature)
            if row is None:
                row = {"item": _item_id(relative), **say_one(read_image(path), track, options, analyzer)}
                cache.store_json("say", signature, row)
            results.append(row)
    return results


def say_one(source: np.ndarray, track, options: LipsyncOptions, analyzer) -> dict:
    """One portrait's ``say`` row (without its ``item``): ``track`` (a spoken
    :class:`~headshot.drivers.SpeechTrack`) rendered through the pipeline as ``headshot say`` renders it,
    each frame landmarked in image mode (``analyzer``) and in video mode."""
    import math

    from ..face.landmarker import FaceAnalyzer
    from ..options import SAY_FPS
    from ..pipeline import AnimateOptions, Animation

    animation = Animation(source, track, AnimateOptions(
        engine=options.engine, crop_only=True, size=options.size, fps=SAY_FPS, watermark=False))
    speech, fps = animation.driver.speech, animation.fps
    image_gaps, video_gaps = [], []
    with FaceAnalyzer(video=True, max_faces=1) as video:
        for index, frame in enumerate(animation.frames()):
            faces = analyzer.detect(frame)
            image_gaps.append(lm.lip_gap(faces[0].landmarks) if faces else math.nan)
            faces = video.detect(frame, timestamp_ms=int(round(1000.0 * index / fps)))
            video_gaps.append(lm.lip_gap(faces[0].landmarks) if faces else math.nan)
    image_gaps, video_gaps = np.asarray(image_gaps), np.asarray(video_gaps)
    return {"source_gap": lm.lip_gap(animation.source_face.landmarks),
            "output": lm.closure_at_phones(image_gaps, speech.phones, speech.alphabet, fps),
            "output_video": lm.closure_at_phones(video_gaps, speech.phones, speech.alphabet, fps),
            "template": lm.bilabial_closure(animation.driver.template(), speech),
            "face_lost": float(np.mean(~np.isfinite(image_gaps))) if len(image_gaps) else math.nan,
            "face_lost_video": float(np.mean(~np.isfinite(video_gaps))) if len(video_gaps) else math.nan,
            "driver": animation.driver.kind, "frames": len(image_gaps)}
