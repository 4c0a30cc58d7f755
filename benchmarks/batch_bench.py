"""Batch and cluster figures: jobs per minute of 5 s renders on the local pool vs a local Ray (the cost of
Ray itself), and the projected time to prepare VoxCeleb2 on N workers from the measured per-clip cost of
``headshot prepare``.

    python benchmarks/batch_bench.py                      # 8 renders per backend, 4 clips prepared
    python benchmarks/batch_bench.py --jobs 4 --prepare-clips 2 --no-ray

Renders: each job is ``animate PHOTO --driver CLIP --max-frames 125 --size 256 --crop-only`` (5 s at 25 fps,
signed and watermarked), dev portraits and 256x256 dev clips. Both backends run the same jobs file with
as many workers as cores (``--workers``); Ray is started by this script (``ray.init(num_cpus=workers)``,
loopback, no dashboard) and its start-up time is printed on its own line, not counted in jobs/minute.

Prepare: ``prepare_dataset`` in this process (one worker) over 256x256 dev clips (VoxCeleb-like framing);
the cost per clip is measured as CPU seconds per second of video (wall seconds too, which a loaded machine
inflates), then scaled to the assumed clip length. Prints the machine's load average next to every figure.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEV = Path(os.environ.get("HEADSHOT_DEV_DATA", REPO / ".." / "shared" / "data" / "dev")).resolve()
PHOTOS = ("albert_einstein__LIA-X__einstein.jpg", "obama__face_recognition__obama2.jpg",
          "matt_damon__deepface__img29.jpg", "jennifer_aniston__deepface__img54.jpg")
RENDER_CLIPS = ("donald_trump__styletalk__trump_clip1.mp4", "eamm_disgusted_man__EAMM__disgusted.mp4",
                "feifei_li__styletalk__feifeili_clip3.mp4", "lia_vox2_man__LIA__driving2.mp4")
PREPARE_CLIPS = ("donald_trump__styletalk__trump_clip1.mp4", "eamm_fear_woman__EAMM__fear.mp4",
                 "lia_vox2_man__LIA__driving2.mp4", "feifei_li__styletalk__feifeili_clip3.mp4",
                 "aoc__EDTalk__pose_source1.mp4", "eamm_disgusted_man__EAMM__disgusted.mp4")

# VoxCeleb2 (Chung et al. 2018): 1,128,246 utterances, about 2,442 hours -> 7.8 s per clip on average.
VOXCELEB2_CLIPS = 1_000_000
CLIP_SECONDS = 8.0
WORKER_COUNTS = (16, 64, 256, 1024)


def load() -> str:
    return "load average %.1f, %.1f, %.1f" % os.getloadavg()


def write_jobs(path: Path, count: int) -> Path:
    with open(path, "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["photo", "driver", "max_frames", "size", "crop_only", "output"])
        for i in range(count):
            writer.writerow([DEV / "portraits" / PHOTOS[i % len(PHOTOS)], DEV / "videos" / RENDER_CLIPS[i % len(RENDER_CLIPS)],
                             125, 256, "true", f"job{i:03d}.mp4"])
    return path


def time_batch(jobs: Path, out: Path, cluster: str | None, workers: int) -> dict:
    from headshot.cluster.batch import BatchOptions, run_batch

    started = time.perf_counter()
    summary = run_batch(BatchOptions(jobs, out, cluster=cluster, workers=workers, progress=False))
    wall = time.perf_counter() - started
    done = [job for job in summary["jobs"] if job["status"] == "done"]
    if summary["failed"]:
        raise SystemExit(f"batch failed: {[job['error'] for job in summary['jobs'] if job['error']]}")
    return {"backend": summary["backend"], "jobs": len(done), "wall_s": round(wall, 1),
            "jobs_per_minute": round(60 * len(done) / wall, 2),
            "job_seconds_mean": round(sum(job["seconds"] for job in done) / len(done), 2), "load": load()}


def bench_renders(count: int, workers: int, with_ray: bool, folder: Path) -> dict:
    jobs = write_jobs(folder / "jobs.csv", count)
    figures = {"pool": time_batch(jobs, folder / "pool", None, workers)}
    print(f"local pool: {figures['pool']}", flush=True)
    if with_ray:
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        import ray

        started = time.perf_counter()
        ray.init(num_cpus=workers, include_dashboard=False, _node_ip_address="127.0.0.1",
                 object_store_memory=200 << 20, log_to_driver=False, logging_level=logging.WARNING)
        figures["ray_start_s"] = round(time.perf_counter() - started, 1)
        try:
            figures["ray"] = time_batch(jobs, folder / "ray", "auto", workers)
        finally:
            ray.shutdown()
        print(f"local Ray (started in {figures['ray_start_s']} s, not counted): {figures['ray']}", flush=True)
        pool, ray_rate = figures["pool"]["jobs_per_minute"], figures["ray"]["jobs_per_minute"]
        figures["ray_overhead_percent"] = round(100 * (pool / ray_rate - 1), 1)
        print(f"Ray overhead: {pool:.2f} / {ray_rate:.2f} jobs/min - 1 = {figures['ray_overhead_percent']:+.1f}% "
              f"time per job", flush=True)
    return figures


def bench_prepare(count: int, folder: Path) -> dict:
    from headshot.io.video import probe
    from headshot.train.prepare import prepare_dataset

    videos = folder / "videos"
    videos.mkdir()
    seconds = 0.0
    for name in PREPARE_CLIPS[:count]:
        (videos / name).symlink_to(DEV / "videos" / name)
        seconds += probe(DEV / "videos" / name)["duration"]
    wall, cpu = time.perf_counter(), time.process_time()
    index = prepare_dataset(videos, folder / "prepared", size=256, workers=1, progress=False)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    frames = sum(record["frames"] for record in index["videos"])
    shard_bytes = sum(path.stat().st_size for path in (folder / "prepared").rglob("*.npz"))
    figures = {"clips": count, "video_seconds": round(seconds, 2), "frames": frames, "wall_s": round(wall, 1),
               "cpu_s": round(cpu, 1), "cpu_s_per_video_second": round(cpu / seconds, 3),
               "wall_s_per_video_second": round(wall / seconds, 3), "kb_per_frame": round(shard_bytes / frames / 1e3, 1),
               "load": load()}
    print(f"prepare (one worker, 256 px crops): {figures}", flush=True)
    return figures


def project(prepare: dict, overhead_percent: float | None) -> list[str]:
    """The VoxCeleb2 projection, with its arithmetic, as printed lines."""
    per_clip = prepare["cpu_s_per_video_second"] * CLIP_SECONDS
    core_hours = VOXCELEB2_CLIPS * per_clip / 3600
    overhead = 1 + max(0.0, overhead_percent or 0.0) / 100
    lines = [f"VoxCeleb2 projection: {VOXCELEB2_CLIPS:,} clips x {CLIP_SECONDS:g} s (assumed mean clip length; "
             f"VoxCeleb2 has ~1.13 M utterances, ~2,440 h) at 25 fps, every frame kept, 256 px crops",
             f"  per clip: {prepare['cpu_s_per_video_second']:.3f} CPU s per video second x {CLIP_SECONDS:g} s = "
             f"{per_clip:.2f} CPU s (measured on {prepare['clips']} dev clips, {prepare['load']})",
             f"  total: {VOXCELEB2_CLIPS:,} x {per_clip:.2f} s = {VOXCELEB2_CLIPS * per_clip:,.0f} CPU s "
             f"= {core_hours:,.0f} core-hours",
             f"  cluster overhead factor {overhead:.3f} (Ray vs local pool above; 1 if not measured or negative)"]
    for workers in WORKER_COUNTS:
        hours = core_hours * overhead / workers
        lines.append(f"  {workers:5d} workers (1 core each): {core_hours:,.0f} x {overhead:.3f} / {workers} = "
                     f"{hours:,.1f} h ({hours / 24:.1f} days)")
    frames = VOXCELEB2_CLIPS * CLIP_SECONDS * 25
    terabytes = frames * prepare["kb_per_frame"] / 1e9
    lines.append(f"  output: {frames:,.0f} frames x {prepare['kb_per_frame']:.1f} kB (measured shard bytes per frame) "
                 f"= {terabytes:.1f} TB on the shared file system")
    lines.append("  (assumes decoding and MediaPipe scale with cores and the shared file system keeps up)")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=8, help="renders per backend")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--prepare-clips", type=int, default=4)
    parser.add_argument("--no-ray", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="headshot-batch-bench-"))
    try:
        print(f"machine: {os.cpu_count()} cores; {load()}", flush=True)
        figures = {"renders": bench_renders(args.jobs, args.workers, not args.no_ray, folder),
                   "prepare": bench_prepare(args.prepare_clips, folder)}
        lines = project(figures["prepare"], figures["renders"].get("ray_overhead_percent"))
        print("\n".join(lines))
        figures["projection"] = lines
        if args.json:
            args.json.write_text(json.dumps(figures, indent=1))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
