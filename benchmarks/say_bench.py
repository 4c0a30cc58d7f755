"""Speed of speech to video: ``headshot say`` end to end, and the analysis of a recording for ``--audio``.

1. ``say``: about 10 s of speech with the "joe" voice → speech motion → warp engine at 512×512 (crop only)
   → watermark → H.264 + AAC, written and signed like the CLI does. Prints the wall-clock seconds, the
   real-time factor (seconds of compute per second of speech; target ≤ 1 on 2 cores, i.e. ≤ 10 s for
   10 s of speech) and the split: photo analysis + speaking (text to speech into the WAV), motion curves
   + engine set-up, and the frame loop (render, watermark, encode; ms per frame by stage).
2. ``--audio`` analysis: phone recognition (PocketSphinx) + prosody of a recording, and the learned jaw
   (the audio → mouth model, :func:`headshot.speech.learned_mouth.learned_jaw`), as ``headshot animate
   --audio`` does before the first frame, as a real-time factor. The recording is the speech of run 1,
   or ``--recording FILE`` (e.g. a dev clip: read at run time, nothing is kept).

Each figure is the median over ``--repeats`` runs (wall clock; CPU time of this process in brackets:
on a shared machine the CPU figure does not depend on what else runs). Models are loaded once before
timing (a first run in a fresh process adds about 1-2 s of loading).

    python benchmarks/say_bench.py [--repeats 3] [--size 512] [--recording clip.mp4]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

TEXT = (
    "The old lighthouse keeper climbed the narrow stairs every evening at dusk. "
    "From the top he could see the fishing boats returning to the harbour, "
    "and he lit the lamp so that every one of them would find its way home."
)  # about 10 s of speech


def timed(function):
    wall, cpu = time.perf_counter(), time.process_time()
    result = function()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def run_say(photo: Path, out: Path, size: int) -> dict:
    """One ``say`` run; returns its timings (seconds) and the speech length."""
    import headshot

    marks = {}

    def speaking(done: int, total: int) -> None:
        marks["spoken"] = time.perf_counter()

    def progress(done: int, total: int, job) -> None:
        marks.setdefault("first_frame", time.perf_counter())

    start = time.perf_counter()
    job, wall, cpu = timed(lambda: headshot.say(photo, TEXT, out, crop_only=True, size=size,
                                                progress=progress, speaking=speaking))
    seconds = job.driver.provenance["speech"]["seconds"]
    return {"wall": wall, "cpu": cpu, "seconds": seconds, "frames": job.timer.frames,
            "speaking": marks["spoken"] - start, "loop": start + wall - marks["first_frame"],
            "stages": job.timer.ms_per_frame()}


def run_analysis(recording: Path) -> dict:
    import math

    from headshot.speech.learned_mouth import learned_jaw
    from headshot.speech.recognize import recognize_phones

    speech, wall, cpu = timed(lambda: recognize_phones(recording, keep_samples=False))
    frames = math.ceil(speech.metadata["seconds"] * 25)
    _, jaw_wall, jaw_cpu = timed(lambda: learned_jaw(recording, 25.0, frames))
    return {"wall": wall + jaw_wall, "cpu": cpu + jaw_cpu, "jaw_wall": jaw_wall, "seconds": speech.metadata["seconds"],
            "method": speech.metadata["method"]}


def median(runs: list[dict], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--size", type=int, default=512, help="crop side of the output")
    parser.add_argument("--recording", type=Path, default=None, help="recording for the --audio analysis")
    args = parser.parse_args()

    from headshot.assets import astronaut
    from headshot.io.images import write_image

    with tempfile.TemporaryDirectory(prefix="say-bench-") as folder:
        folder = Path(folder)
        os.environ.setdefault("HEADSHOT_KEY_DIR", str(folder / "keys"))
        photo = folder / "astronaut.png"
        write_image(photo, astronaut())
        run_say(photo, folder / "warmup.mp4", 128)  # loads the voice, the landmarker, the recogniser's wheel files
        runs = [run_say(photo, folder / f"say{i}.mp4", args.size) for i in range(args.repeats)]
        seconds = median(runs, "seconds")
        wall, cpu = median(runs, "wall"), median(runs, "cpu")
        print(f"say, {seconds:.1f} s of speech (joe) -> {args.size}x{args.size} mp4 with sound, "
              f"{median(runs, 'frames'):.0f} frames: {wall:.1f} s ({cpu:.1f} s CPU), "
              f"real-time factor {wall / seconds:.2f} ({cpu / seconds:.2f} CPU); target <= 1.0")
        speaking, loop = median(runs, "speaking"), median(runs, "loop")
        print(f"  photo analysis + speaking {speaking:.1f} s, motion curves + engine set-up "
              f"{wall - speaking - loop:.1f} s, frame loop {loop:.1f} s")
        stages = runs[len(runs) // 2]["stages"]
        print("  ms per frame: " + ", ".join(f"{name} {value:.1f}" for name, value in stages.items()))

        recording = args.recording or folder / "say0.mp4"
        run_analysis(recording)  # warm-up: PocketSphinx's models
        analyses = [run_analysis(recording) for _ in range(args.repeats)]
        seconds = median(analyses, "seconds")
        wall, cpu = median(analyses, "wall"), median(analyses, "cpu")
        print(f"--audio analysis of {recording.name} ({seconds:.1f} s, {analyses[0]['method']} + learned jaw): "
              f"{wall:.2f} s ({cpu:.2f} s CPU; learned jaw {median(analyses, 'jaw_wall'):.2f} s), real-time factor "
              f"{wall / seconds:.2f} ({cpu / seconds:.2f} CPU); target <= 0.2")
        print(f"load average {os.getloadavg()[0]:.1f} (2 cores)")


if __name__ == "__main__":
    main()
