"""What several photos of one person cost: whole-process fps of `headshot animate` with 1, 2 and 3 photos.

Same set-up as pipeline_bench.py (its driver, its fresh-process case runner): a 512x512 dev driver looped
to 20 s, 512x512 crop-only output, signed; the photos are dev portraits of one person (Obama). The target
(issue 12): several photos cost at most 30% more time than one. Each case runs in its own process, in the
order 1, 2, 3, 1 photos, so that a change of the shared machine's load shows as a change between the two
one-photo runs; read the load averages printed with each case.

    python benchmarks/multishot_bench.py                 # 20 s driver
    python benchmarks/multishot_bench.py --seconds 8     # a shorter one
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pipeline_bench  # noqa: E402
from pipeline_bench import DEV, load_average, looped_driver, machine, run_case  # noqa: E402

# pipeline_bench's case script passes its first argument to animate_to_file as the source; several photos
# travel as a JSON list and are decoded first.
pipeline_bench.CASE_SCRIPT = ("import json, sys\n"
                              "if sys.argv[1].startswith('['):\n    sys.argv[1] = json.loads(sys.argv[1])\n"
                              + pipeline_bench.CASE_SCRIPT)

PHOTOS = [DEV / "portraits" / name for name in
          ("obama__face_recognition__obama.jpg", "obama__face_recognition__obama1.jpg",
           "obama__face_recognition__obama2.jpg")]


def blended_share(count: int, driver: Path, frames: int = 250) -> float:
    """The share of output frames on which the warp engine drew two shots (the rest cost one render), from
    an in-process run of the first ``frames`` frames with ``count`` photos."""
    from headshot.api import Animation, make_options

    job = Animation([str(p) for p in PHOTOS[:count]], driver,
                    make_options(crop_only=True, size=512, max_frames=frames, watermark=False))
    for _ in job.frames():
        pass
    return job.engine.blended_frames / max(job.timer.frames, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0, help="driver length")
    args = parser.parse_args()
    print(f"machine: {machine()}; load average {load_average()}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        driver = looped_driver(tmp / "driver.mp4", args.seconds)
        results = []
        for count in (1, 2, 3, 1):
            photos = [str(p) for p in PHOTOS[:count]]
            source = photos[0] if count == 1 else json.dumps(photos)
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            case = run_case(f"{count} photo{'s' if count > 1 else ''}, 512 crop output",
                            source, driver, tmp / f"out{count}.mp4", crop_only=True, size=512)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            case["cpu"] = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
            results.append((count, case))
        blended = {count: blended_share(count, driver) for count in (2, 3)}
    one = [case["ms"] for count, case in results if count == 1]
    base = sum(one) / len(one)
    cpu = sum(case["cpu"] for count, case in results if count == 1) / 2
    print(f"\none photo: {base:.1f} ms/frame whole process (mean of the two runs: {one[0]:.1f}, {one[1]:.1f}), "
          f"{cpu:.1f} CPU s")
    for count, case in results[1:3]:
        extra = 100 * (case["ms"] / base - 1)
        print(f"{count} photos: {case['cpu']:.1f} CPU s, {100 * (case['cpu'] / cpu - 1):+.0f}% CPU time vs one photo "
              f"(CPU seconds barely move with the load of a shared machine; wall seconds do)")
        print(f"{count} photos: {case['ms']:.1f} ms/frame, {case['fps']:.1f} fps whole process: {extra:+.0f}% time "
              f"vs one photo (target <= +30%); render {case['stages'].get('render', 0):.1f} ms/frame in the loop; "
              f"two shots drawn on {100 * blended[count]:.0f}% of the frames")


if __name__ == "__main__":
    main()
