"""Watermark benchmark: cost, quality, robustness and false positives on the dev set (issue #5).

"Outputs" are the first ``--seconds`` of dev clips, watermarked frame by frame and written as H.264
(CRF 23, as a pipeline would). Attacks, each applied to that output: re-encode at CRF 28; scale to 50 %
(+ H.264 CRF 23); crop 10 % off each side (+ CRF 23); JPEG q75 of single frames (detected per frame,
the video counts as detected when the majority of its frames are). ``--size 512`` first resizes every clip
so that its short side is 512 px, the size ``headshot animate`` writes; ``--size 0`` keeps native sizes.
False positives: every unmarked dev clip and every dev portrait. Cost: ``mark`` ms/frame on one thread at
512x512 and 1280x720, and that share of a 40 ms/frame end-to-end animate.

Run: ``python benchmarks/watermark_bench.py [--clips 20] [--size 512] [--compare]``. ``--compare`` adds
invisible-watermark's DWT-DCT (``imwatermark``, if importable) on the same clips.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from headshot.provenance import attacks
from headshot.provenance.watermark import DETECT_Z, Payload, Watermarker, decode_frames

DEV = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "dev"
END_TO_END_MS = 40.0  # animate at 512x512, ms/frame (pipeline benchmark)


def _resize_short_side(frames: list[np.ndarray], size: int) -> list[np.ndarray]:
    if not size:
        return frames
    height, width = frames[0].shape[:2]
    factor = size / min(height, width)
    target = (round(width * factor / 2) * 2, round(height * factor / 2) * 2)
    interpolation = cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC
    return [cv2.resize(frame, target, interpolation=interpolation) for frame in frames]


class OursMethod:
    name = "ours (tiled spread spectrum)"

    def __init__(self):
        self.payload = Payload("c0ffee")
        self.last_z = 0.0

    def mark_all(self, frames):
        marker = Watermarker(self.payload)
        return [marker.mark(frame) for frame in frames]

    def detect(self, frames) -> tuple[bool, bool]:
        """(watermark detected, payload correct) for a video's frames."""
        result = decode_frames(frames)
        self.last_z = result.pilot_z
        return result.found, result.payload == self.payload


class DwtDctMethod:
    name = "invisible-watermark dwtDct"

    def __init__(self):
        from imwatermark import WatermarkDecoder, WatermarkEncoder

        self.bits = [int(b) for b in np.random.default_rng(1).integers(0, 2, 32)]
        self.encoder = WatermarkEncoder()
        self.encoder.set_watermark("bits", self.bits)
        self.decoder = WatermarkDecoder("bits", 32)

    def mark_all(self, frames):
        return [cv2.cvtColor(self.encoder.encode(cv2.cvtColor(f, cv2.COLOR_RGB2BGR), "dwtDct"), cv2.COLOR_BGR2RGB)
                for f in frames]

    def detect(self, frames) -> tuple[bool, bool]:
        votes = 0
        for frame in frames[:24]:
            bits = self.decoder.decode(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), "dwtDct")
            votes += int(list(map(int, bits)) == self.bits)
        ok = votes > min(len(frames), 24) / 2
        return ok, ok


def _mark_ms(method, size: tuple[int, int], repeats: int = 30) -> float:
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    frame = cv2.GaussianBlur(frame, (0, 0), 3)
    if isinstance(method, OursMethod):
        marker = Watermarker(method.payload)
        marker.mark(frame)  # pattern cached per size, as in a video
        run = marker.mark
    else:
        run = lambda f: method.mark_all([f])  # noqa: E731
    start = time.perf_counter()
    for _ in range(repeats):
        run(frame)
    return (time.perf_counter() - start) / repeats * 1000


def robustness(method, clips: list[Path], seconds: float, size: int, workdir: Path) -> dict:
    counts = {key: [0, 0] for key in ("output", "crf28", "scale50", "crop10", "jpeg75")}
    lowest_z = {key: float("inf") for key in counts}
    psnrs = []
    for clip in clips:
        frames = _resize_short_side(attacks.read_frames(clip, int(25 * seconds)), size)
        marked = method.mark_all(frames)
        psnrs.append(statistics.mean(attacks.psnr(a, b) for a, b in zip(frames, marked)))
        output = attacks.reencode(marked, workdir, "output.mp4", crf=23)
        variants = {
            "output": output,
            "crf28": attacks.reencode(output, workdir, "crf28.mp4", crf=28),
            "scale50": attacks.reencode(attacks.scale(output, 0.5), workdir, "scale50.mp4"),
            "crop10": attacks.reencode(attacks.crop(output, 0.10), workdir, "crop10.mp4"),
        }
        line = []
        for key, video in variants.items():
            found, payload_ok = method.detect(video)
            counts[key][0] += found
            counts[key][1] += payload_ok
            lowest_z[key] = min(lowest_z[key], getattr(method, "last_z", float("nan")))
            line.append(f"{key}={'Y' if found else 'n'}{'p' if payload_ok else '-'}")
        singles = [method.detect([attacks.jpeg(frame, 75)]) for frame in output[::5]]
        found = sum(s[0] for s in singles) > len(singles) / 2
        counts["jpeg75"][0] += found
        counts["jpeg75"][1] += sum(s[1] for s in singles) > len(singles) / 2
        line.append(f"jpeg75={sum(s[0] for s in singles)}/{len(singles)}")
        print(f"  {clip.name[:44]:44s} {output[0].shape[1]}x{output[0].shape[0]} psnr {psnrs[-1]:.1f} "
              + " ".join(line), flush=True)
    return {"counts": counts, "psnr": psnrs, "n": len(clips), "lowest_z": lowest_z}


def false_positives(dev: Path) -> tuple[int, int, int, int, float]:
    """(clips flagged, clips, portraits flagged, portraits, highest pilot z) on unmarked dev data."""
    from PIL import Image

    clips = sorted((dev / "videos").glob("*.mp4"))
    portraits = sorted((dev / "portraits").glob("*.jpg"))
    flagged_clips = flagged_portraits = 0
    highest = 0.0
    peaks = []
    for clip in clips:
        result = decode_frames(attacks.iter_frames(clip))
        flagged_clips += result.found or result.payload is not None
        highest = max(highest, result.pilot_z)
        peaks.append(result.pilot_z)
    for portrait in portraits:
        result = decode_frames([np.asarray(Image.open(portrait).convert("RGB"))])
        flagged_portraits += result.found or result.payload is not None
        highest = max(highest, result.pilot_z)
        peaks.append(result.pilot_z)
    print(f"pilot z on unmarked files: median {np.median(peaks):.2f}, 99th percentile "
          f"{np.percentile(peaks, 99):.2f}, above 5: {sum(p > 5 for p in peaks)}/{len(peaks)}")
    return flagged_clips, len(clips), flagged_portraits, len(portraits), highest


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=20, help="dev clips used as outputs (evenly spaced)")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--size", type=int, default=512, help="short side of the outputs; 0 = native")
    parser.add_argument("--compare", action="store_true", help="also run invisible-watermark's dwtDct")
    parser.add_argument("--skip-fp", action="store_true")
    parser.add_argument("--tile", type=int, help="experiment: override watermark.TILE (px)")
    parser.add_argument("--grid", type=int, help="experiment: override watermark.GRID (cells per side)")
    args = parser.parse_args(argv)
    if args.tile or args.grid:
        from headshot.provenance import watermark, watermark_decode, watermark_pattern

        for module in (watermark, watermark_pattern, watermark_decode):  # each module's own binding
            module.TILE = args.tile or module.TILE
            module.GRID = args.grid or module.GRID
        watermark_pattern.tile_layout.cache_clear()
    cv2.setNumThreads(1)
    dev = DEV.resolve()
    clips = sorted((dev / "videos").glob("*.mp4"))
    clips = clips[:: max(1, len(clips) // args.clips)][: args.clips]

    methods = [OursMethod()]
    if args.compare:
        try:
            methods.append(DwtDctMethod())
        except ImportError:
            print("invisible-watermark not importable: comparison skipped", file=sys.stderr)
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        for method in methods:
            print(f"{method.name}: {len(clips)} clips, {args.seconds:g} s each, short side {args.size or 'native'}")
            stats = robustness(method, clips, args.seconds, args.size, Path(workdir))
            rows.append((method, stats, _mark_ms(method, (512, 512)), _mark_ms(method, (1280, 720))))
    print()
    print("| method | mark ms 512² | mark ms 720p | share of 40 ms | PSNR dB (min) | output | CRF 28 | scale 50% "
          "| crop 10% | JPEG q75 |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for method, stats, ms512, ms720 in rows:
        n = stats["n"]
        cells = [f"{100 * c[0] / n:.0f}% ({100 * c[1] / n:.0f}%)" for c in stats["counts"].values()]
        print(f"| {method.name} | {ms512:.2f} | {ms720:.2f} | {100 * ms512 / END_TO_END_MS:.1f}% "
              f"| {statistics.mean(stats['psnr']):.1f} ({min(stats['psnr']):.1f}) | " + " | ".join(cells) + " |")
    print("cells: videos detected (videos whose payload decoded exactly)")
    for method, stats, _, _ in rows:
        if isinstance(method, OursMethod):
            print("lowest pilot z on marked videos: " + ", ".join(
                f"{key} {value:.1f}" for key, value in stats["lowest_z"].items() if key != "jpeg75"))
    if not args.skip_fp:
        fc, nc, fp, npt, highest = false_positives(dev)
        print(f"false positives (ours): {fc}/{nc} unmarked clips, {fp}/{npt} portraits; "
              f"highest pilot z on unmarked data {highest:.2f} (threshold {DETECT_Z})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
