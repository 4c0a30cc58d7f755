"""Speed and memory of the audio → mouth model (``headshot.speech.audio2mouth``) on long recordings.

Synthetic speech-shaped audio (no dev data needed), 16 kHz mono, 25 fps output. Prints wall-clock and
CPU seconds per second of audio (real-time factor: 0.05 means 3 minutes for an hour) and the peak of
NumPy allocations during ``predict`` beyond the input itself (windowed processing keeps it flat).

    python benchmarks/audio2mouth_bench.py [--minutes 1 10] [--threads 1] [--out RUN/bench.json]

``--out`` writes the longest recording's figures as JSON (with the load average) for the model card
(``python -m headshot.train.audio2mouth_card RUN``).
"""

from __future__ import annotations

import argparse
import json
import os
import time
import tracemalloc

import numpy as np


def speech_like(seconds: float, sample_rate: int = 16000, seed: int = 0) -> np.ndarray:
    """Syllable-rate modulated harmonics and noise with pauses (speech-shaped, not speech)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    voice = np.zeros_like(t)
    for k in range(1, 12):
        voice += np.sin(2 * np.pi * 120 * k * t + rng.uniform(0, 6.3)) / k
    envelope = np.clip(np.sin(2 * np.pi * 4.0 * t), 0, None) * (np.sin(2 * np.pi * 0.3 * t) > -0.3)
    return (0.1 * envelope * (voice + 0.3 * rng.normal(size=len(t)))).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[1.0, 10.0])
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--out", default=None, help="write the last figures here as JSON")
    args = parser.parse_args()

    import torch

    from headshot.speech.audio2mouth import Audio2Mouth

    torch.set_num_threads(args.threads)
    model = Audio2Mouth.load()
    print(f"audio2mouth: {model.parameter_count():,} parameters, {len(model.curves)} curves, "
          f"{args.threads} torch thread(s)")
    model.predict(speech_like(2.0), 16000)  # warm-up
    print(f"load average (1 min) before: {os.getloadavg()[0]:.2f}")
    figures = {}
    for minutes in args.minutes:
        samples = speech_like(minutes * 60.0)
        tracemalloc.start()
        wall, cpu = time.perf_counter(), time.process_time()
        curves = model.predict(samples, 16000)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        seconds = minutes * 60.0
        print(f"{minutes:6.1f} min: {len(curves['lip_gap'])} frames, {wall / seconds:.4f}x real time wall "
              f"({cpu / seconds:.4f}x CPU), {wall:.1f} s; peak NumPy allocations {peak / 2**20:.1f} MiB "
              f"(input {samples.nbytes / 2**20:.1f} MiB)")
        figures = {"minutes": minutes, "wall_seconds": round(wall, 2), "rtf_wall": round(wall / seconds, 4),
                   "rtf_cpu": round(cpu / seconds, 4), "peak_mib": round(peak / 2**20, 1), "threads": args.threads,
                   "load_average": round(os.getloadavg()[0], 2)}
    print(f"load average (1 min) after: {os.getloadavg()[0]:.2f}")
    if args.out:
        with open(args.out, "w") as handle:
            json.dump(figures, handle, indent=1)


if __name__ == "__main__":
    main()
