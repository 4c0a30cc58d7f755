"""Run the lipsync protocol over a data folder: every clip with audio, then the ``say`` check.

Kept apart from :mod:`headshot.eval.lipsync` (one clip) and :mod:`headshot.eval.lipsync_say` (the say
check), which both sit below it, so neither imports the other's caller.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from ..errors import InputError
from ..io import atomic
from .lipsync import LipsyncOptions, audio_clips, run_clip
from .lipsync_methods import choose_methods
from .lipsync_say import SAY_TEXT, say_check


def run_lipsync(options: LipsyncOptions, progress: bool = True) -> dict:
    """Run the protocol over the clips with audio and write the run folder; returns the summary."""
    import torch

    from .lipsync_methods import _needs_recognizer
    from .lipsync_report import write_lipsync_report
    from .runner import machine_description

    out = Path(options.out)
    atomic.refuse_overwriting_inputs(out, [options.data, options.audio2mouth_weights])
    settings = {"audio2mouth_weights": options.audio2mouth_weights}
    methods, unavailable = choose_methods(options.methods, settings)
    clips = audio_clips(options.data, options.max_videos)
    if not clips:
        raise InputError(f"no videos with an audio track under {options.data}")
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    started, started_cpu = time.perf_counter(), time.process_time()
    recognizer = _needs_recognizer(settings) is None
    results = []
    for index, video in enumerate(clips):
        if progress:
            print(f"lipsync {index + 1}/{len(clips)}: {video.relative}", flush=True)
        results.append(run_clip(video, options, methods, recognizer))
    say = []
    if options.say_sources:
        try:
            say = say_check(options)
        except Exception as error:
            say = [{"error": f"{type(error).__name__}: {error}"}]
    run = {"wall_seconds": round(time.perf_counter() - started, 1),
           "cpu_seconds": round(time.process_time() - started_cpu, 1),
           "load_average_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
           "rows_computed": sum(r.computed for r in results),
           "rows_cached": sum(len(r.rows) - r.computed for r in results)}
    summary_settings = {"data": str(options.data), "engine": options.engine, "size": options.size,
                        "smoothing": options.smoothing, "max_lag": options.max_lag, "max_videos": options.max_videos,
                        "audio2mouth_weights": str(options.audio2mouth_weights or "") or None,
                        "methods": [m.name for m in methods], "unavailable": unavailable,
                        "say_text": SAY_TEXT if options.say_sources else None}
    return write_lipsync_report(out, results, methods, say, summary_settings, dict(machine_description(), run=run))
