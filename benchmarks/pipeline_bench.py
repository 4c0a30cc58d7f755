"""End-to-end speed and memory of `headshot animate` (warp engine), printed per stage.

Targets (issue #2): 512x512 driver -> 512x512 crop output >= 25 fps; paste-back into a 1280x720
source >= 15 fps; peak memory of a 10-minute driver <= that of a 10-second one + 100 MB.

    python benchmarks/pipeline_bench.py                  # speed (both cases) + watermark cost
    python benchmarks/pipeline_bench.py --memory         # also the 10-minute memory check (~5 min)

Uses ../shared/data/dev (read at run time, never copied).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path


REPO = Path(__file__).resolve().parents[1]
DEV = Path(os.environ.get("HEADSHOT_DEV_DATA", REPO.parent / "shared" / "data" / "dev"))
DRIVER_512 = DEV / "videos" / "aoc__SadTalker__WDA_AlexandriaOcasioCortez_000.mp4"
PORTRAIT = DEV / "portraits" / "obama__face_recognition__obama.jpg"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def wide_source(tmp: Path) -> Path:
    """A 1280x720 photo: a dev portrait scaled to 720 px high, edge-extended to 1280 px wide."""
    import cv2

    from headshot.io.images import read_image, write_image

    image = read_image(PORTRAIT)
    scale = 720 / image.shape[0]
    image = cv2.resize(image, (int(image.shape[1] * scale), 720), interpolation=cv2.INTER_AREA)[:, :1280]
    pad = 1280 - image.shape[1]
    image = cv2.copyMakeBorder(image, 0, 0, pad // 2, pad - pad // 2, cv2.BORDER_REFLECT)
    path = tmp / "source_1280x720.png"
    write_image(path, image)
    return path


def run_case(name: str, source, output: Path, **options) -> dict:
    from headshot.api import animate_to_file

    started = time.perf_counter()
    job = animate_to_file(source, DRIVER_512, output, credentials=False, **options)
    elapsed = time.perf_counter() - started
    stages = job.timer.ms_per_frame()
    frames = job.timer.frames
    # encode time = wall time not spent in the pipeline's own stages
    encode = 1000 * elapsed / frames - sum(stages.values())
    print(f"\n{name}: {frames} frames, {job.output_size[0]}x{job.output_size[1]}, "
          f"{frames / elapsed:.1f} fps end-to-end (incl. set-up)")
    for stage, ms in stages.items():
        print(f"  {stage:<18} {ms:6.2f} ms/frame")
    print(f"  {'encode+other':<18} {encode:6.2f} ms/frame")
    return {"fps": frames / elapsed, "ms": 1000 * elapsed / frames}


def memory_case(minutes: float) -> None:
    """Peak RSS of a short vs a long driver, each in a fresh process."""
    import av

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        long_path = tmp / "long.mp4"
        with av.open(str(DRIVER_512)) as clip:
            frames = [f.to_ndarray(format="rgb24")[::2, ::2] for f in clip.decode(video=0)]
        print(f"\nwriting a {minutes:.0f}-minute driver ...", flush=True)
        with av.open(str(long_path), "w") as out:
            stream = out.add_stream("libx264", rate=25)
            stream.width, stream.height, stream.pix_fmt = 256, 256, "yuv420p"
            stream.options = {"preset": "ultrafast", "crf": "28"}
            total = int(minutes * 60 * 25)
            for i in range(total):
                k = i % (2 * len(frames) - 2)
                k = k if k < len(frames) else 2 * len(frames) - 2 - k  # ping-pong: no jump cuts
                for packet in stream.encode(av.VideoFrame.from_ndarray(frames[k], format="rgb24")):
                    out.mux(packet)
            for packet in stream.encode():
                out.mux(packet)
        peaks = {}
        for label, max_frames in (("10 s", 250), (f"{minutes:.0f} min", None)):
            code = ("import resource,sys; from headshot.api import animate_to_file; "
                    f"animate_to_file(sys.argv[1], sys.argv[2], sys.argv[3], crop_only=True, size=256, "
                    f"credentials=False, max_frames={max_frames}); "
                    "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
            started = time.perf_counter()
            result = subprocess.run([sys.executable, "-c", code, str(PORTRAIT), str(long_path), str(tmp / "o.mp4")],
                                    capture_output=True, text=True, check=True)
            peaks[label] = int(result.stdout.strip().splitlines()[-1]) / 1024
            print(f"  driver {label:>7}: peak RSS {peaks[label]:7.1f} MB ({time.perf_counter() - started:.0f} s)")
        short, long = peaks.values()
        print(f"  growth: {long - short:+.1f} MB (target <= +100 MB): {'OK' if long - short <= 100 else 'FAIL'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--memory", action="store_true", help="also run the 10-minute memory check")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--frames", type=int, default=200)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(f"driver: {DRIVER_512.name} (512x512)")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        crop_case = run_case("512 crop output, watermark on", PORTRAIT, tmp / "a.mp4", crop_only=True, size=512,
                             max_frames=args.frames)
        bare = run_case("512 crop output, watermark off", PORTRAIT, tmp / "b.mp4", crop_only=True, size=512,
                        max_frames=args.frames, watermark=False)
        run_case("paste-back into 1280x720", wide_source(tmp), tmp / "c.mp4", max_frames=args.frames)
        print(f"\nwatermark cost: {100 * (crop_case['ms'] / bare['ms'] - 1):+.1f}% of end-to-end time (target <= 20%)")
        print(f"targets: 512 crop >= 25 fps -> {crop_case['fps']:.1f}")
    if args.memory:
        memory_case(args.minutes)


if __name__ == "__main__":
    main()
