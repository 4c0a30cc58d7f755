"""``headshot batch``: many renders from a jobs file, on this machine's cores or on a Ray cluster.

The ``--out`` folder holds the outputs and three files of the batch's own::

    batch-manifest.jsonl   one line per finished job: key, output, bytes; or key and error for a job whose
                           input is bad (append-only; read by reruns)
    batch-results.csv      every job of the last run: row, photo, output, status (done, skipped, failed, or
                           not run when the batch was stopped), seconds, worker, error
    batch-results.json     the same, with the run's totals and where it ran
    batch.lock             held while a batch runs: a second batch into the same folder is refused

Guarantees:

- Each output is rendered and signed exactly as ``headshot animate`` / ``headshot say`` would (the same
  API calls: watermark, content credentials) and appears whole or not at all: the renderer writes a hidden
  temporary file and renames it last. Hidden temporary files left by a worker that was killed mid-job are
  removed before and after the run, so the folder never holds a partial file.
- A worker that dies mid-job costs the job one attempt; it runs again on another worker
  (:mod:`headshot.cluster.executor`).
- A rerun skips every job whose key (input contents, options, output name; :mod:`headshot.cluster.jobs`)
  is in the manifest and whose output is still there with the recorded size: rerunning a finished batch
  does no work, rerunning a half-finished one does the rest. A job that failed because of its input (no
  face, a corrupt file: a :class:`HeadshotError`) fails the same way while its key is the same, so a rerun
  reports it again without running it (``retry_failed`` runs it); any other failure (a worker that kept
  dying, a full disk) runs again.
- A bad row fails alone, with its one-line error in the results; the batch goes on.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError, OutputError
from ..io.atomic import atomic_write_text
from .executor import open_backend
from .jobs import Job, read_jobs

MANIFEST_NAME = "batch-manifest.jsonl"
RESULTS_CSV = "batch-results.csv"
RESULTS_JSON = "batch-results.json"
LOCK_NAME = "batch.lock"
_TEMP_NAME = re.compile(r"^\.+[^/]+\.[a-z0-9_]{8}(\.[A-Za-z0-9]+)?$")
RESULT_COLUMNS = ("row", "photo", "output", "status", "seconds", "worker", "error", "key")


@dataclass
class BatchOptions:
    """``jobs``: the jobs CSV; ``out``: the output folder (on a path every worker sees); ``cluster``:
    ``None`` (local pool), ``auto``, ``local`` or a Ray address; ``workers``: local pool size (default: one
    per core)."""

    jobs: Path
    out: Path
    cluster: str | None = None
    workers: int | None = None
    retry_failed: bool = False
    progress: bool = True


def render_job(payload: dict) -> dict:
    """Worker side: render one job to its output (atomically, signed and marked as the CLI does)."""
    from ..api import animate_to_file, say

    job = Job(**payload)
    output = Path(job.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    if job.speech is not None:
        say(job.photo, job.speech["text"], output, language=job.speech["language"], voice=job.speech["voice"],
            rate=job.speech["rate"], **job.options)
    else:
        animate_to_file(job.photo, job.driver, output, **job.options)
    return {"bytes": output.stat().st_size}


def _check_location(path: Path, what: str) -> None:
    # ``s3://b/x`` arrives as the Path ``s3:/b/x``: look for a scheme, not for "://"
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]+:/", str(path)):
        raise InputError(f"{what} {path}: object-store URLs are not supported; put it on a file system that "
                         f"every worker mounts at the same path (NFS, a cluster file system)")


def read_manifest(out: Path) -> dict[str, dict]:
    """``{key: entry}`` of the jobs finished in ``out`` (a torn last line, from a killed run, is skipped)."""
    path = Path(out) / MANIFEST_NAME
    entries: dict[str, dict] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                entry = json.loads(line)
                entries[entry["key"]] = entry
            except (ValueError, KeyError, TypeError):
                continue
    return entries


def _earlier(job: Job, manifest: dict[str, dict], retry_failed: bool) -> dict | None:
    """The result an earlier run left for ``job`` that still holds (``None``: the job must run)."""
    entry = manifest.get(job.key)
    if entry is None:
        return None
    if entry.get("status") == "failed":
        return None if retry_failed else _result(job, "failed", error=entry.get("error"))
    output = Path(job.output)
    if output.is_file() and output.stat().st_size == entry.get("bytes"):
        return _result(job, "skipped")
    return None


def partial_files(out: Path) -> list[Path]:
    """Hidden temporary files of unfinished writes under ``out``: what a killed worker leaves behind.

    Those are :mod:`headshot.io.atomic`'s names, ``.<name>.<8 random characters><ext>`` (the signer's
    ``..<name>.<random>.<random><ext>``) and its ``.headshot-probe-<random>`` files; other hidden files
    are the user's and are left alone.
    """
    return sorted(path for path in Path(out).rglob(".*")
                  if path.is_file() and (_TEMP_NAME.match(path.name) or path.name.startswith(".headshot-probe-")))


def _remove_partial_files(out: Path) -> int:
    removed = 0
    for path in partial_files(out):
        try:
            path.unlink()
            removed += 1
        except OSError:
            pass
    return removed


@contextlib.contextmanager
def _only_batch_in(out: Path):
    """Refuse a second batch into ``out`` while this one runs (it would sweep this one's temporary files)."""
    try:
        descriptor = os.open(out / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise OutputError(f"cannot write into {out} ({error.strerror or error})") from None
    try:
        try:
            import fcntl

            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # pragma: no cover - Windows: no lock
            pass
        except OSError:
            raise InputError(f"another headshot batch is writing into {out}; wait for it or choose another --out") \
                from None
        yield
    finally:
        os.close(descriptor)  # closing releases the lock


def _result(job: Job, status: str, seconds: float = 0.0, worker: str = "", error: str | None = None) -> dict:
    return {"row": job.row, "photo": job.photo, "output": job.output_name, "status": status,
            "seconds": round(seconds, 2), "worker": worker, "error": error or "", "key": job.key}


def _write_results(out: Path, results: list[dict], totals: dict) -> None:
    results = sorted(results, key=lambda item: (item["row"], item["output"]))
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=RESULT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(results)
    atomic_write_text(out / RESULTS_CSV, table.getvalue())
    atomic_write_text(out / RESULTS_JSON, json.dumps({**totals, "jobs": results}, indent=1))


def _progress(enabled: bool):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return Progress(TextColumn("batch"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[failed]} failed, {task.fields[skipped]} skipped"),
                    TimeElapsedColumn(), TimeRemainingColumn(), disable=not enabled)


def run_batch(options: BatchOptions) -> dict:
    """Run every job of ``options.jobs`` not already done in ``options.out``; returns the results summary
    (also written to ``batch-results.json``): ``done``, ``skipped``, ``failed`` counts, ``seconds``,
    ``backend`` and ``jobs`` (one dict per job, as in ``batch-results.csv``)."""
    _check_location(options.jobs, "jobs file")
    _check_location(options.out, "output folder")
    out = Path(options.out).expanduser().absolute()
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file, not a folder")
    jobs = read_jobs(options.jobs, out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot create the output folder {out} ({error.strerror or error})") from None
    with _only_batch_in(out):
        return _run(jobs, out, options)


def _run(jobs: list[Job], out: Path, options: BatchOptions) -> dict:
    started = time.perf_counter()
    manifest = read_manifest(out)
    results, todo = [], []
    for job in jobs:
        earlier = _result(job, "failed", error=job.error) if job.error else _earlier(job, manifest,
                                                                                    options.retry_failed)
        if earlier is None:
            todo.append(job)
        else:
            results.append(earlier)
    _remove_partial_files(out)
    backend = open_backend(options.cluster, options.workers) if todo else None
    failed = sum(1 for item in results if item["status"] == "failed")
    try:
        with _progress(options.progress) as bar, open(out / MANIFEST_NAME, "a", encoding="utf-8") as log:
            task = bar.add_task("jobs", total=len(jobs), completed=len(results), failed=failed,
                                skipped=len(results) - failed)
            # one bar for the whole batch, wherever the jobs run: it moves as their results come back
            for outcome in backend.map(render_job, [job.to_payload() for job in todo]) if backend else ():
                job = todo[outcome.index]
                if outcome.ok:
                    log.write(json.dumps({"key": job.key, "output": job.output_name, "row": job.row,
                                          "bytes": outcome.value["bytes"], "seconds": round(outcome.seconds, 2),
                                          "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}) + "\n")
                    log.flush()
                    results.append(_result(job, "done", outcome.seconds, outcome.worker))
                else:
                    failed += 1
                    results.append(_result(job, "failed", outcome.seconds, outcome.worker, outcome.error))
                    if outcome.input_error:  # the same input fails the same way: remembered for reruns
                        log.write(json.dumps({"key": job.key, "output": job.output_name, "row": job.row,
                                              "status": "failed", "error": outcome.error}) + "\n")
                        log.flush()
                bar.update(task, advance=1, failed=failed)
    except BaseException:  # Ctrl-C, SIGTERM: the results say which jobs did not run (a rerun does them)
        finished = {(item["row"], item["output"]) for item in results}
        results += [_result(job, "not run", error="the batch was stopped") for job in todo
                    if (job.row, job.output_name) not in finished]
        raise
    finally:
        if backend is not None:
            backend.close()
        _remove_partial_files(out)
        _write_results(out, results, _totals(results, jobs, started, backend))
    return {**_totals(results, jobs, started, backend),
            "jobs": sorted(results, key=lambda item: (item["row"], item["output"]))}


def _totals(results: list[dict], jobs: list[Job], started: float, backend) -> dict:
    counts = {status: sum(1 for item in results if item["status"] == status)
              for status in ("done", "skipped", "failed", "not run")}
    return {**counts, "jobs": len(jobs), "seconds": round(time.perf_counter() - started, 2),
            "backend": backend.description if backend else "nothing to do",
            "load_average_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None}
