"""The ``say`` part of the lip-sync protocol: do the lips shut on p, b and m when speech comes from text?

Text to speech gives exact phone timings, so this isolates motion and rendering from recognition: a
bilabial-rich sentence (:data:`SAY_TEXT`) → :func:`headshot.speech.motion.speech_motion` on a few dev
portraits → the animate pipeline → MediaPipe, and :func:`~headshot.eval.lipsync_metrics.bilabial_closure`
counts the p/b/m whose middle frame has the lips closed, in the output and in the template itself.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import lipsync_metrics as lm
from .lipsync import LipsyncOptions, _ClipCache, _signature, render_gaps

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


def say_check(options: LipsyncOptions) -> list[dict]:
    """``say``: text to speech of :data:`SAY_TEXT` (its phones are exact) → speech motion on each portrait of
    :func:`say_portraits` → rendered and landmarked like the clips; bilabial closure of the output and of
    the template (the motion before rendering), and the source's own lip gap (an open mouth is harder to
    shut)."""
    from ..face.landmarker import FaceAnalyzer
    from ..io.images import read_image
    from ..speech.motion import speech_motion
    from ..speech.tts import synthesize
    from .data import _item_id

    portraits = say_portraits(options.data, options.say_sources)
    if not portraits:
        return []
    speech = synthesize(SAY_TEXT)
    signature = _signature("say", SAY_TEXT, speech.voice, options.engine, options.size, options.smoothing)
    results = []
    with FaceAnalyzer(video=False, max_faces=1) as analyzer:
        for path, relative in portraits:
            cache = _ClipCache(options.out, "say__" + _item_id(relative), options.resume)
            row = cache.load_json("say", signature)
            if row is None:
                source = read_image(path)
                landmarks = analyzer.detect_one(source, what=f"portrait {path.name}").landmarks
                template = speech_motion(speech, landmarks, (source.shape[1], source.shape[0]), 25.0)
                rendered = render_gaps(source, template, options, set())
                row = {"item": _item_id(relative), "source_gap": lm.lip_gap(landmarks),
                       "output": lm.closure_at_phones(rendered["gap"], speech.phones, speech.alphabet, 25.0),
                       "template": lm.bilabial_closure(template, speech), "face_lost": rendered["face_lost"]}
                cache.store_json("say", signature, row)
            results.append(row)
    return results
