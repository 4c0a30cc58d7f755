"""Speed of text to speech: real-time factor (seconds of compute per second of speech) for about 10 s of
speech with the Piper "joe" voice and with eSpeak NG, plus the one-off load time of each.

Each figure is the median over ``--repeats`` runs, wall-clock and, in brackets, CPU time of this process
(all threads): on a shared machine the CPU figure is the one that does not depend on what else runs.
The 1-minute load average is printed with the results.

    python benchmarks/tts_bench.py [--repeats 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from headshot.speech import tts

TEXT = (
    "The old lighthouse keeper climbed the narrow stairs every evening at dusk. "
    "From the top he could see the fishing boats returning to the harbour, "
    "and he lit the lamp so that every one of them would find its way home."
)  # about 10 s of speech


def timed(function):
    wall, cpu = time.perf_counter(), time.process_time()
    result = function()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="onnxruntime threads of the Piper voice")
    args = parser.parse_args()

    from headshot.speech import piper
    from headshot.speech.espeak import engine

    _, load_espeak, _ = timed(engine)
    if args.threads != 2:  # replace the cached default voice by one with the requested threads
        from headshot.assets import piper_voice_paths

        custom, load_piper, _ = timed(lambda: piper.PiperVoice(*piper_voice_paths(), args.threads))
        piper.joe = lambda: custom  # noqa: E731 - benchmark-only override of the cached default voice
    else:
        _, load_piper, _ = timed(piper.joe)
    print(f"load: joe {load_piper:.2f} s (hash check + graph edit + session), eSpeak NG {load_espeak * 1000:.0f} ms")

    for voice in ("joe", "espeak"):
        tts.synthesize("Warm up.", "en", voice)
        walls, cpus, seconds = [], [], 0.0
        for _ in range(args.repeats):
            speech, wall, cpu = timed(lambda: tts.synthesize(TEXT, "en", voice))
            walls.append(wall)
            cpus.append(cpu)
            seconds = speech.seconds
        wall, cpu = statistics.median(walls), statistics.median(cpus)
        print(
            f"{voice:7s} {seconds:5.1f} s of speech in {wall:6.3f} s: real-time factor {wall / seconds:.3f} "
            f"(CPU {cpu / seconds:.3f}), {len(speech.phones)} phones"
        )
    print(f"load average (1 min): {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; onnxruntime threads {args.threads}")


if __name__ == "__main__":
    main()
