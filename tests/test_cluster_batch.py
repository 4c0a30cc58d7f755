"""headshot batch on the local process pool (no Ray): jobs files, retries of dead workers, bad rows, reruns."""

from __future__ import annotations

import csv
import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest

from headshot.cluster.batch import MANIFEST_NAME, RESULTS_CSV, RESULTS_JSON, BatchOptions, partial_files, run_batch
from headshot.cluster.executor import ATTEMPTS, LocalPool, open_backend
from headshot.cluster.jobs import read_jobs
from headshot.errors import InputError

DRIVERS = ("furious_vlogger__styletalk__furious_talk2_clip1.mp4", "lrs3_0Fi83BHQsMA_man_glasses__spectre__0Fi83BHQsMA_00002.mp4")
PHOTOS = ("albert_einstein__LIA-X__einstein.jpg", "obama__face_recognition__obama2.jpg",
          "matt_damon__deepface__img29.jpg")


def write_jobs(path: Path, rows: list[dict]) -> Path:
    columns = sorted({name for row in rows for name in row})
    with open(path, "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def no_face_photo(folder: Path) -> Path:
    from headshot.io.images import write_image

    path = folder / "wall.png"
    write_image(path, np.full((160, 160, 3), 128, np.uint8))
    return path


# --- tasks run in spawned workers (top-level: they are pickled by name) ------------------------------

def die_first_time(marker: str) -> int:
    """Kill this worker the first time it is called for ``marker``; succeed on the retry."""
    if not os.path.exists(marker):
        Path(marker).write_text("died once")
        os.kill(os.getpid(), signal.SIGKILL)
    return os.getpid()


def always_die(_) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def fail_or_square(value: int) -> int:
    if value < 0:
        raise ValueError(f"negative input\n{value}")
    return value * value


def test_pool_retries_a_task_whose_worker_died_and_contains_errors(tmp_path):
    pool = LocalPool(2)
    outcomes = {o.index: o for o in pool.map(die_first_time, [str(tmp_path / "a"), str(tmp_path / "b")])}
    assert all(o.ok for o in outcomes.values()) and len(outcomes) == 2
    assert (tmp_path / "a").read_text() == "died once"

    outcomes = sorted(pool.map(fail_or_square, [3, -1, 4]), key=lambda o: o.index)
    assert [o.value for o in outcomes] == [9, None, 16]
    assert outcomes[1].error == "ValueError: negative input -1"  # one line

    (lost,) = list(pool.map(always_die, [0]))
    assert not lost.ok and f"died {ATTEMPTS} times" in lost.error


def test_backend_choice_and_missing_cluster_message(monkeypatch):
    assert isinstance(open_backend(None, 3), LocalPool) and open_backend(None, 3).slots == 3
    with pytest.raises(InputError, match="--workers must be at least 1"):
        open_backend(None, 0)
    import builtins

    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray":
            raise ImportError("no ray here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(InputError, match=r"pip install 'headshot\[cluster\]'"):
        open_backend("auto")


def test_jobs_file_rows_fail_alone_with_one_line(tmp_path, dev_data):
    photo, driver = dev_data / "portraits" / PHOTOS[0], dev_data / "videos" / DRIVERS[0]
    rows = [
        {"photo": str(photo), "driver": str(driver), "size": "96", "crop_only": "yes"},
        {"photo": str(photo), "motion": "nod", "size": "9"},
        {"photo": str(photo), "driver": str(tmp_path / "missing.mp4")},
        {"photo": str(photo), "text": "Hello.", "motion": "nod"},
        {"photo": str(photo), "motion": "nod", "output": "../escape.mp4"},
        {"photo": f"{photo};{dev_data / 'portraits' / PHOTOS[1]}", "motion": "nod", "output": "n.mp4"},
        {"photo": str(photo), "motion": "nod", "output": "n-albert_einstein__LIA-X__einstein.mp4"},
        {"photo": str(photo), "motion": "nod", "crop_only": "maybe"},
        {"photo": "", "motion": "nod"},
    ]
    jobs = read_jobs(write_jobs(tmp_path / "jobs.csv", rows), tmp_path / "out")
    errors = [job.error for job in jobs]
    assert errors[0] is None and jobs[0].options == {"size": 96, "crop_only": True}
    assert jobs[0].output == str(tmp_path / "out" / "0002-albert_einstein__LIA-X__einstein.mp4")
    assert "--size" in errors[1] and "driver not found" in errors[2]
    assert "spoken" in errors[3] and "inside the --out folder" in errors[4]
    assert errors[5] is None and errors[6] is None  # one row, two photos: two jobs
    assert [job.output_name for job in jobs[5:7]] == ["n-albert_einstein__LIA-X__einstein.mp4",
                                                       "n-obama__face_recognition__obama2.mp4"]
    assert "also written by row 7" in errors[7]
    assert "true/false" in errors[8] and errors[9] == "no photo"
    assert all("\n" not in error for error in errors if error)
    with pytest.raises(InputError, match="no jobs"):
        (tmp_path / "empty.csv").write_text("photo,driver\n")
        read_jobs(tmp_path / "empty.csv", tmp_path / "out")
    with pytest.raises(InputError, match="unknown column"):
        read_jobs(write_jobs(tmp_path / "bad.csv", [{"photo": "a.jpg", "colour": "red"}]), tmp_path / "out")


def test_job_key_follows_contents_and_options(tmp_path, dev_data):
    photo = tmp_path / "p.jpg"
    photo.write_bytes((dev_data / "portraits" / PHOTOS[0]).read_bytes())
    rows = [{"photo": str(photo), "motion": "nod", "size": "96", "output": "a.mp4"}]
    key = read_jobs(write_jobs(tmp_path / "j.csv", rows), tmp_path)[0].key
    assert read_jobs(write_jobs(tmp_path / "j.csv", rows), tmp_path)[0].key == key
    rows[0]["size"] = "128"
    assert read_jobs(write_jobs(tmp_path / "j.csv", rows), tmp_path)[0].key != key
    rows[0]["size"] = "96"
    photo.write_bytes((dev_data / "portraits" / PHOTOS[1]).read_bytes())
    assert read_jobs(write_jobs(tmp_path / "j.csv", rows), tmp_path)[0].key != key


@pytest.mark.slow
def test_local_batch_killed_worker_bad_row_and_free_rerun(tmp_path, dev_data, capsys):
    from cluster_kill import run_with_a_killed_writer

    from headshot.cli import main
    from headshot.provenance.verify import verify_file

    rows = [{"photo": str(dev_data / "portraits" / PHOTOS[i % 3]), "driver": str(dev_data / "videos" / DRIVERS[i % 2]),
             "size": "128", "crop_only": "true", "max_frames": "40"} for i in range(5)]
    rows.insert(2, {"photo": str(no_face_photo(tmp_path)), "driver": str(dev_data / "videos" / DRIVERS[0]),
                    "size": "128", "crop_only": "true", "max_frames": "40"})
    jobs_file, out = write_jobs(tmp_path / "jobs.csv", rows), tmp_path / "out"
    out.mkdir()
    summary = run_with_a_killed_writer(out, lambda: run_batch(BatchOptions(jobs_file, out, workers=2, progress=False)))
    assert (summary["done"], summary["failed"], summary["skipped"]) == (5, 1, 0)
    (failed,) = [job for job in summary["jobs"] if job["status"] == "failed"]
    assert failed["row"] == 4 and "face" in failed["error"] and "\n" not in failed["error"]
    outputs = sorted(path.name for path in out.glob("*.mp4"))
    assert len(outputs) == 5 and partial_files(out) == []
    assert not [path for path in out.rglob(".*") if path.is_file()]
    report = verify_file(out / outputs[0])
    assert report.watermark.found and report.manifest is not None and report.manifest.valid
    table = list(csv.DictReader((out / RESULTS_CSV).read_text().splitlines()))
    assert [row["status"] for row in table] == ["done", "done", "failed", "done", "done", "done"]
    assert json.loads((out / RESULTS_JSON).read_text())["done"] == 5
    manifest = [json.loads(line) for line in (out / MANIFEST_NAME).read_text().splitlines()]
    assert len(manifest) == 6 and [entry["row"] for entry in manifest if entry.get("status") == "failed"] == [4]

    # a rerun through the CLI: nothing rendered, the bad row reported again, exit 1
    before = {path.name: path.stat().st_mtime_ns for path in out.glob("*.mp4")}
    code = main(["batch", str(jobs_file), "--out", str(out), "-q"])
    captured = capsys.readouterr()
    assert code == 1 and "0 rendered, 5 already done, 1 failed" in captured.out
    assert "row 4 (wall.png)" in captured.err and "Traceback" not in captured.err
    assert {path.name: path.stat().st_mtime_ns for path in out.glob("*.mp4")} == before
    assert json.loads((out / RESULTS_JSON).read_text())["backend"] == "nothing to do"  # not even the bad row ran


def test_unreachable_cluster_and_object_store_urls_fail_fast_in_one_line(tmp_path, dev_data):
    jobs = write_jobs(tmp_path / "jobs.csv", [{"photo": str(dev_data / "portraits" / PHOTOS[0]), "motion": "nod"}])
    with pytest.raises(InputError, match="object-store URLs are not supported"):
        run_batch(BatchOptions(jobs, Path("s3://bucket/renders"), progress=False))
    assert not Path("s3:").exists()
    import importlib.util

    has_ray = importlib.util.find_spec("ray") is not None  # these tests also run where Ray is not installed
    with pytest.raises(InputError, match="cannot reach a Ray cluster at 127.0.0.1:1" if has_ray else "needs Ray"):
        run_batch(BatchOptions(jobs, tmp_path / "out", cluster="127.0.0.1:1", progress=False))
    with pytest.raises(InputError, match="expected auto, local, HOST:PORT" if has_ray else "needs Ray"):
        open_backend("nonsense")
    assert partial_files(tmp_path / "out") == [] and not list((tmp_path / "out").glob("*.mp4"))


def test_cli_batch_default_out_folder_and_rows_that_cannot_run(tmp_path, capsys):
    from headshot.cli import main

    jobs = write_jobs(tmp_path / "jobs.csv", [{"photo": str(tmp_path / "nobody.jpg"), "motion": "nod"},
                                              {"photo": str(tmp_path / "nobody.jpg"), "motion": "nod", "size": "big"}])
    assert main(["batch", str(jobs), "-q"]) == 1
    captured = capsys.readouterr()
    assert "0 rendered, 0 already done, 2 failed of 2 jobs" in captured.out
    assert "row 2 (nobody.jpg): photo not found" in captured.err and "column size: 'big' is not a number" in captured.err
    assert captured.err.strip().splitlines()[-1].startswith("headshot: error: 2 of 2 jobs failed")
    table = list(csv.DictReader((tmp_path / "jobs-out" / RESULTS_CSV).read_text().splitlines()))
    assert [row["status"] for row in table] == ["failed", "failed"]


def test_a_second_batch_into_the_same_folder_is_refused(tmp_path, dev_data):
    import fcntl

    jobs = write_jobs(tmp_path / "jobs.csv", [{"photo": str(dev_data / "portraits" / PHOTOS[0]), "motion": "nod"}])
    (tmp_path / "out").mkdir()
    with open(tmp_path / "out" / "batch.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(InputError, match="another headshot batch is writing into"):
            run_batch(BatchOptions(jobs, tmp_path / "out", progress=False))
    assert not list((tmp_path / "out").glob("*.mp4"))


def test_a_stopped_batch_still_writes_its_results(tmp_path, dev_data, monkeypatch):
    from headshot.cluster import batch
    from headshot.cluster.executor import Outcome

    class StopsAfterOne:
        description = "stops after one job"

        def map(self, task, payloads):
            (Path(payloads[0]["output"])).write_bytes(b"rendered")
            yield Outcome(0, {"bytes": 8}, worker="here:1")
            raise KeyboardInterrupt

        def close(self):
            pass

    monkeypatch.setattr(batch, "open_backend", lambda cluster, workers: StopsAfterOne())
    photo = str(dev_data / "portraits" / PHOTOS[0])
    jobs = write_jobs(tmp_path / "jobs.csv", [{"photo": photo, "motion": "nod", "output": f"{i}.mp4"} for i in range(3)])
    with pytest.raises(KeyboardInterrupt):
        run_batch(BatchOptions(jobs, tmp_path / "out", progress=False))
    table = list(csv.DictReader((tmp_path / "out" / RESULTS_CSV).read_text().splitlines()))
    assert [(row["output"], row["status"]) for row in table] == [("0.mp4", "done"), ("1.mp4", "not run"),
                                                                  ("2.mp4", "not run")]
    assert json.loads((tmp_path / "out" / RESULTS_JSON).read_text())["not run"] == 2

    class Records:  # the rerun of the half-finished batch: only the two jobs it did not reach are sent
        description = "records"
        sent: list = []

        def map(self, task, payloads):
            for index, payload in enumerate(payloads):
                self.sent.append(Path(payload["output"]).name)
                Path(payload["output"]).write_bytes(b"rendered")
                yield Outcome(index, {"bytes": 8}, worker="here:2")

        def close(self):
            pass

    monkeypatch.setattr(batch, "open_backend", lambda cluster, workers: Records())
    summary = run_batch(BatchOptions(jobs, tmp_path / "out", progress=False))
    assert Records.sent == ["1.mp4", "2.mp4"] and (summary["done"], summary["skipped"]) == (2, 1)
