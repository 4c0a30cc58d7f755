"""End-to-end speed and memory of `headshot animate` (warp engine): loop fps and whole-process fps.

Two figures per case, because set-up is not free: the reference search landmarks the driver's first
20 s before the first frame is rendered (issue #9, item 7).

- loop fps: frames per second once frames flow (what the CLI's progress bar shows);
- whole-process fps: frames / wall time from starting a fresh Python process to the finished file,
  C2PA-signed (interpreter start, imports, model loads, set-up, loop, encoder flush, signing).

Targets (issues #2, #9): 512x512 driver -> 512x512 crop >= 25 fps whole-process on 2 cores; paste-back
into a 1280x720 source >= 15 fps; peak memory of a 10-minute driver <= that of a 10-second one + 100 MB.

    python benchmarks/pipeline_bench.py                  # both cases on a 20 s driver + watermark cost
    python benchmarks/pipeline_bench.py --seconds 8      # a shorter driver
    python benchmarks/pipeline_bench.py --memory         # also the 10-minute memory check (~5 min)

The driver is a dev clip looped back and forth (no jump cuts) into a temporary folder. Uses
../shared/data/dev (read at run time, never copied into the repo). Each case runs in its own process;
on a shared machine read the load average printed with it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


REPO = Path(__file__).resolve().parents[1]
DEV = Path(os.environ.get("HEADSHOT_DEV_DATA", REPO.parent / "shared" / "data" / "dev"))
DRIVER_512 = DEV / "videos" / "aoc__SadTalker__WDA_AlexandriaOcasioCortez_000.mp4"
PORTRAIT = DEV / "portraits" / "obama__face_recognition__obama.jpg"

# Runs in a fresh process: animate_to_file with a progress hook (loop timing) and a count of
# landmarker calls; prints one JSON line. Process start to exit is timed by the parent.
CASE_SCRIPT = """
import json, sys, time
started = time.perf_counter()
def now():
    return time.perf_counter(), time.process_time()  # wall, CPU of all the process's threads
from headshot.api import animate_to_file
from headshot.face.landmarker import FaceAnalyzer

calls = {"image": 0, "video": 0}
detect = FaceAnalyzer.detect
def counted(self, *args, **kwargs):
    calls["video" if self.video else "image"] += 1
    return detect(self, *args, **kwargs)
FaceAnalyzer.detect = counted

marks = []
imported = now()
job = animate_to_file(sys.argv[1], sys.argv[2], sys.argv[3], progress=lambda *_: marks.append(now()),
                      **json.loads(sys.argv[4]))
done = now()
span = lambda a, b: [b[0] - a[0], b[1] - a[1]]
print(json.dumps({"imports": imported[0] - started, "first_frame": span(imported, marks[0]),
                  "loop": span(marks[0], marks[-1]), "finish": span(marks[-1], done),
                  "frames": job.timer.frames, "size": list(job.output_size), "calls": calls,
                  "stages": job.timer.ms_per_frame()}))
"""


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


def load_average() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def looped_driver(path: Path, seconds: float, side: int = 512, preset: str = "fast", crf: int = 18) -> Path:
    """DRIVER_512 played forwards and backwards (no jump cuts) until ``seconds`` long, written to ``path``
    (``side`` x ``side``: 512 or 256, 25 fps, no audio)."""
    import av

    step = 512 // side
    with av.open(str(DRIVER_512)) as clip:
        frames = [frame.to_ndarray(format="rgb24")[::step, ::step] for frame in clip.decode(video=0)]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = side, side, "yuv420p"
        stream.options = {"preset": preset, "crf": str(crf)}
        period = 2 * len(frames) - 2
        for i in range(int(round(seconds * 25))):
            k = i % period
            k = k if k < len(frames) else period - k
            for packet in stream.encode(av.VideoFrame.from_ndarray(frames[k], format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def wide_source(tmp: Path) -> Path:
    """A 1280x720 photo: a dev portrait scaled to 720 px high, edge-extended to 1280 px wide."""
    import cv2

    from headshot.io.images import read_image, write_image

    image = read_image(PORTRAIT)
    scale = 720 / image.shape[0]
    image = cv2.resize(image, (int(image.shape[1] * scale), 720), interpolation=cv2.INTER_AREA)[:, :1280]
    pad = 1280 - image.shape[1]
    image = cv2.copyMakeBorder(image, 0, 0, pad // 2, pad - pad // 2, cv2.BORDER_REPLICATE)  # a mirrored border would add a second face
    path = tmp / "source_1280x720.png"
    write_image(path, image)
    return path


def run_case(name: str, source, driver: Path, output: Path, **options) -> dict:
    """One ``animate`` in a fresh process; prints loop and whole-process fps and where the time went."""
    load_before = load_average()
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", CASE_SCRIPT, str(source), str(driver), str(output),
                             json.dumps(options)], capture_output=True, text=True)
    wall = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    if result.returncode != 0:
        raise SystemExit(f"{name} failed:\n{result.stderr}")
    run = json.loads(result.stdout.strip().splitlines()[-1])
    frames = run["frames"]
    (setup_s, setup_cpu), (loop_s, loop_cpu), (finish_s, _) = run["first_frame"], run["loop"], run["finish"]
    loop_fps = (frames - 1) / loop_s if frames > 1 else float("nan")
    calls = run["calls"]
    print(f"\n{name}: {frames} frames, {run['size'][0]}x{run['size'][1]} "
          f"(load average {load_before} before, {load_average()} after)")
    # CPU seconds barely move with the load of a shared machine; wall seconds do.
    print(f"  loop            {loop_fps:6.1f} fps ({loop_s:.1f} s, {loop_cpu:.1f} CPU s)")
    print(f"  whole process   {frames / wall:6.1f} fps ({wall:.1f} s, {cpu:.1f} CPU s; process start to signed file)")
    startup = wall - setup_s - loop_s - finish_s  # interpreter, imports, exit
    print(f"    start-up + imports {startup:4.1f} s (headshot.api {run['imports']:.1f}), set-up to first frame "
          f"{setup_s:4.1f} s ({setup_cpu:.1f} CPU s), loop {loop_s:5.1f} s, flush + sign {finish_s:4.1f} s")
    print(f"  landmarker calls: {calls['video']} on driver frames ({calls['video'] / max(frames, 1):.2f} per frame), "
          f"{calls['image']} on photos")
    for stage, ms in run["stages"].items():
        print(f"  {stage:<18} {ms:6.2f} ms/frame")
    return {"loop_fps": loop_fps, "fps": frames / wall, "ms": 1000 * wall / frames, "stages": run["stages"]}


def memory_case(minutes: float) -> None:
    """Peak RSS of a short vs a long driver, each in a fresh process."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        print(f"\nwriting a {minutes:.0f}-minute driver ...", flush=True)
        long_path = looped_driver(tmp / "long.mp4", 60 * minutes, side=256, preset="ultrafast", crf=28)
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
    parser.add_argument("--seconds", type=float, default=20.0, help="driver length (the issue's case: 20 s)")
    parser.add_argument("--memory", action="store_true", help="also run the 10-minute memory check")
    parser.add_argument("--minutes", type=float, default=10.0)
    args = parser.parse_args()
    print(f"machine: {machine()}; load average {load_average()}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        driver = looped_driver(tmp / "driver.mp4", args.seconds)
        print(f"driver: {DRIVER_512.name} looped to {args.seconds:g} s (512x512, 25 fps)")
        crop_case = run_case("512 crop output", PORTRAIT, driver, tmp / "a.mp4", crop_only=True, size=512)
        paste = run_case("paste-back into 1280x720", wide_source(tmp), driver, tmp / "c.mp4")
        # From the stage timer of the same run: a second run without the watermark would differ by more
        # than the watermark's cost whenever the load of a shared machine changes in between.
        for label, case in (("512 crop", crop_case), ("paste-back", paste)):
            share = 100 * case["stages"].get("watermark", 0.0) / case["ms"]
            print(f"watermark cost, {label}: {share:.1f}% of whole-process time (target <= 20%)")
        print(f"targets, whole process: 512 crop >= 25 fps -> {crop_case['fps']:.1f}; "
              f"paste-back 720p >= 15 fps -> {paste['fps']:.1f}")
    if args.memory:
        memory_case(args.minutes)


if __name__ == "__main__":
    main()
