"""headshot batch and prepare on a local Ray cluster that the tests start themselves (2 CPUs, loopback only,
no dashboard, no usage statistics). Ray comes with the test extra (pyproject.toml)."""

from __future__ import annotations

import json
import logging
import os
import signal
from pathlib import Path

import pytest

from headshot.cluster.batch import BatchOptions, partial_files, run_batch

from test_cluster_batch import DRIVERS, PHOTOS, no_face_photo, write_jobs

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def local_ray():
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    import ray

    handler = signal.getsignal(signal.SIGTERM)
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", object_store_memory=100 << 20,
             log_to_driver=False, logging_level=logging.WARNING)
    try:
        yield ray
    finally:
        ray.shutdown()
        signal.signal(signal.SIGTERM, handler)  # ray.init leaves its own handler behind


def test_ray_batch_survives_a_killed_worker_and_reruns_for_free(local_ray, tmp_path, dev_data):
    from cluster_kill import run_with_a_killed_writer

    from headshot.provenance.verify import verify_file

    rows = [{"photo": str(dev_data / "portraits" / PHOTOS[i % 3]), "driver": str(dev_data / "videos" / DRIVERS[i % 2]),
             "size": "128", "crop_only": "true", "max_frames": "40"} for i in range(18)]
    rows.insert(5, {"photo": str(no_face_photo(tmp_path)), "driver": str(dev_data / "videos" / DRIVERS[0]),
                    "size": "128", "crop_only": "true"})                           # fails on a worker
    rows.insert(12, {"photo": str(dev_data / "portraits" / PHOTOS[0]), "driver": str(tmp_path / "gone.mp4")})  # on the driver
    jobs_file, out = write_jobs(tmp_path / "jobs.csv", rows), tmp_path / "out"
    out.mkdir()
    summary = run_with_a_killed_writer(out, lambda: run_batch(BatchOptions(jobs_file, out, cluster="auto",
                                                                             progress=False)))
    assert summary["backend"].startswith("Ray cluster, 2 CPUs")
    assert (summary["done"], summary["failed"], summary["skipped"]) == (18, 2, 0)
    errors = {job["row"]: job["error"] for job in summary["jobs"] if job["status"] == "failed"}
    assert sorted(errors) == [7, 14]
    assert "face" in errors[7] and errors[14] == f"driver not found: {tmp_path / 'gone.mp4'}"
    assert len(list(out.glob("*.mp4"))) == 18 and partial_files(out) == []
    assert not [path for path in out.rglob(".*") if path.is_file()]
    assert len({job["worker"] for job in summary["jobs"] if job["status"] == "done"}) >= 2
    report = verify_file(sorted(out.glob("*.mp4"))[-1])
    assert report.watermark.found and report.manifest is not None and report.manifest.valid

    before = {path.name: path.stat().st_mtime_ns for path in out.glob("*.mp4")}
    again = run_batch(BatchOptions(jobs_file, out, cluster="auto", progress=False))
    assert (again["done"], again["skipped"], again["failed"]) == (0, 18, 2)
    assert again["backend"] == "nothing to do"  # no worker was asked for anything
    assert {path.name: path.stat().st_mtime_ns for path in out.glob("*.mp4")} == before


def test_prepare_on_the_cluster_writes_the_same_shards(local_ray, tmp_path, dev_data):
    from headshot.train.prepare import prepare_dataset

    videos = tmp_path / "videos"
    videos.mkdir()
    for name in (*DRIVERS, "eamm_contempt_woman__EAMM__contempt.mp4"):
        (videos / name).symlink_to(dev_data / "videos" / name)
    local = prepare_dataset(videos, tmp_path / "local", size=64, max_frames=6, progress=False)
    cluster = prepare_dataset(videos, tmp_path / "cluster", size=64, max_frames=6, progress=False, cluster="auto")
    assert len(local["videos"]) == 3 and not local["failures"]
    shards = sorted(path.relative_to(tmp_path / "local") for path in (tmp_path / "local").rglob("*.npz"))
    assert len(shards) == 3
    for shard in shards:
        assert (tmp_path / "cluster" / shard).read_bytes() == (tmp_path / "local" / shard).read_bytes(), shard
    assert (tmp_path / "cluster" / "index.json").read_bytes() == (tmp_path / "local" / "index.json").read_bytes()
    assert cluster["videos"] == local["videos"]


def test_eval_on_the_cluster_gives_the_local_tables(local_ray, tmp_path, dev_data):
    from headshot.eval.data import SelectionSettings
    from headshot.eval.runner import EvalOptions, run_evaluation

    def tables(out: Path, cluster: str | None) -> dict:
        options = EvalOptions(engines=["warp"], data=dev_data, out=out, protocols=["self"], cluster=cluster,
                              selection=SelectionSettings(max_frames=2, stride=5, max_videos=2),
                              contact_sheets=False)
        summary = run_evaluation(options, progress=False)
        timing = ("ms", "fps", "seconds")
        return {protocol: {row: {metric: value for metric, value in metrics.items()
                                 if not any(word in metric for word in timing)}
                           for row, metrics in table.items()} for protocol, table in summary["tables"].items()}

    local = tables(tmp_path / "local", None)
    cluster = tables(tmp_path / "cluster", "auto")
    assert set(cluster) == set(local) == {"self"} and set(cluster["self"]) == set(local["self"])
    # the same numbers up to float rounding (the workers run torch on one thread, this process on two)
    for row, metrics in local["self"].items():
        assert cluster["self"][row] == pytest.approx(metrics, rel=1e-5, abs=1e-7, nan_ok=True), row
    stored = sorted(path.name for path in (tmp_path / "cluster" / "cache" / "self").glob("*.json"))
    assert len(stored) == 2
    run = json.loads((tmp_path / "cluster" / "results.json").read_text())["machine"]["run"]
    assert run["items_computed"] == 2 and run["items_from_cache"] == 0
