"""Real-time factor of `--audio` analysis (decode + phone recognition + prosody) on the dev clips with audio.

For every clip with an audio track (MANIFEST.tsv ``has_audio``), times

- ``decode``: :func:`headshot.io.audio.read_audio` (PyAV, resampled to 16 kHz mono),
- ``prosody``: :func:`headshot.speech.prosody.analyze_prosody` on those samples,
- ``analysis``: :func:`headshot.speech.recognize.recognize_phones` on the file, which decodes, tracks
  prosody and recognises phones in one pass: the cost of ``headshot animate --audio``,

and prints each as a real-time factor (seconds of work per second of audio; 0.2 = a minute in 12 s), wall
clock and, in brackets, CPU time of this process: on a shared machine the CPU figure is the one that does
not depend on what else runs. Decoder start-up (model loading, once per run) is counted in ``analysis``
and also shown on its own. The load average is printed before and after.

    python benchmarks/audio_bench.py [--mode words|phones|both] [--limit N] [--json runs.jsonl]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import time
from pathlib import Path

DEV = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "dev"


def _timed(function):
    wall, cpu = time.perf_counter(), time.process_time()
    result = function()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def clips_with_audio(dev: Path) -> list[Path]:
    with open(dev / "MANIFEST.tsv", newline="") as handle:
        return [dev / row["file"] for row in csv.DictReader(handle, delimiter="\t") if row["has_audio"] == "yes"]


def bench_clip(path: Path, mode: str) -> dict:
    from headshot.io.audio import read_audio
    from headshot.speech.prosody import analyze_prosody
    from headshot.speech.recognize import RecognizerOptions, recognize_phones

    samples, decode_wall, decode_cpu = _timed(lambda: read_audio(path))
    _, prosody_wall, prosody_cpu = _timed(lambda: analyze_prosody(samples))
    speech, wall, cpu = _timed(lambda: recognize_phones(path, options=RecognizerOptions(mode=mode)))
    seconds = speech.metadata["seconds"]
    spoken = sum(1 for p in speech.phones if not p.is_pause)
    speech_seconds = speech.metadata["prosody"].speech_seconds
    return {
        "clip": path.name, "mode": mode, "seconds": round(seconds, 3), "method": speech.metadata["method"],
        "decode_wall": decode_wall, "decode_cpu": decode_cpu, "prosody_wall": prosody_wall,
        "prosody_cpu": prosody_cpu, "analysis_wall": wall, "analysis_cpu": cpu,
        "phones": spoken, "speech_seconds": round(speech_seconds, 3),
        "phones_per_speech_second": round(spoken / speech_seconds, 2) if speech_seconds > 0 else 0.0,
    }


def startup_seconds(mode: str) -> tuple[float, float]:
    from headshot.speech.sphinx import SphinxDecoders

    _, wall, cpu = _timed(lambda: SphinxDecoders(words=mode == "words", phones=mode == "phones"))
    return wall, cpu


def summarise(rows: list[dict], mode: str) -> dict:
    seconds = sum(r["seconds"] for r in rows)
    total = {key: sum(r[key] for r in rows) / seconds for key in
             ("decode_wall", "decode_cpu", "prosody_wall", "prosody_cpu", "analysis_wall", "analysis_cpu")}
    speech_rows = [r for r in rows if r["method"] in ("words", "phones")]
    rates = sorted(r["phones_per_speech_second"] for r in speech_rows)
    return {"mode": mode, "clips": len(rows), "audio_seconds": round(seconds, 2),
            **{k: round(v, 4) for k, v in total.items()},
            "median_phone_rate": rates[len(rates) // 2] if rates else None,
            "energy_fallback_clips": sum(r["method"] == "energy" for r in rows)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("words", "phones", "both"), default="both")
    parser.add_argument("--limit", type=int, default=None, help="only the first N clips")
    parser.add_argument("--dev", type=Path, default=DEV.resolve())
    parser.add_argument("--json", type=Path, default=None, help="append one JSON line per clip and summary")
    args = parser.parse_args()

    clips = clips_with_audio(args.dev)[: args.limit]
    modes = ("words", "phones") if args.mode == "both" else (args.mode,)
    print(f"{len(clips)} clips with audio, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (1 min)")
    summaries = []
    records = []
    for mode in modes:
        wall, cpu = startup_seconds(mode)
        print(f"\n[{mode}] decoder start-up {wall:.2f} s ({cpu:.2f} CPU)")
        print(f"{'clip':52s} {'sec':>6s} {'method':>7s} {'ph/s':>5s}  {'analysis RTF':>16s}")
        rows = []
        for path in clips:
            row = bench_clip(path, mode)
            rows.append(row)
            records.append({"kind": "clip", **row})
            print(f"{path.name[:52]:52s} {row['seconds']:6.2f} {row['method']:>7s} "
                  f"{row['phones_per_speech_second']:5.1f}  {row['analysis_wall'] / row['seconds']:6.3f} "
                  f"({row['analysis_cpu'] / row['seconds']:.3f} CPU)")
        summary = summarise(rows, mode)
        summaries.append(summary)
        records.append({"kind": "summary", "load_average": os.getloadavg()[0], **summary})
    print(f"\nload average after: {os.getloadavg()[0]:.1f}")
    for s in summaries:
        print(f"[{s['mode']}] {s['clips']} clips, {s['audio_seconds']:.0f} s of audio: real-time factor "
              f"decode {s['decode_wall']:.4f} ({s['decode_cpu']:.4f} CPU), prosody {s['prosody_wall']:.4f} "
              f"({s['prosody_cpu']:.4f} CPU), analysis {s['analysis_wall']:.3f} ({s['analysis_cpu']:.3f} CPU); "
              f"median {s['median_phone_rate']} phones per second of speech; "
              f"{s['energy_fallback_clips']} clips fell back to energy phones")
    if args.json:
        with open(args.json, "a") as handle:
            for record in records:
                handle.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
