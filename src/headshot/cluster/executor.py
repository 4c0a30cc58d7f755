"""Run many independent tasks on this machine's cores or on a Ray cluster, and hand back each one's outcome.

One code path, two backends, chosen by :func:`open_backend`:

- :class:`LocalPool` (the default; no Ray needed): ``workers`` spawned processes (``workers=1``: this
  process, no pool).
- :class:`RayCluster` (``cluster="auto"``: the cluster this machine belongs to, started with ``ray start``;
  an address such as ``ray://head:10001`` or ``head:6379``; ``"local"``: a private Ray on this machine).
  Needs ``pip install 'headshot[cluster]'``; every node needs the same headshot installed and the
  inputs and outputs on a path that all nodes see alike (a shared file system).

A *task* is a top-level function ``task(payload) -> value``, importable on every worker. It runs inside
:func:`run_guarded`, which turns any exception into a one-line error (the item fails, never the run) and
times it. Workers are long-lived processes that run many tasks, so what a worker loads through
:func:`worker_cache` (and headshot's own per-process model caches: the Piper voice, the canonical face,
MobileNetV2) is loaded once per worker, not once per task.

Failure semantics: a worker that dies mid-task (killed, out of memory, machine lost) costs that task one
attempt, and the task runs again on another worker (Ray: the task's ``max_retries``; the pool: a fresh
pool), up to :data:`ATTEMPTS` times; then the item fails with a one-line error. Tasks must therefore write
their outputs whole or not at all (``headshot.io.atomic``) and be safe to run twice.
"""

from __future__ import annotations

import collections
import logging
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Protocol, Sequence

from ..errors import HeadshotError, InputError

ATTEMPTS = 3  # runs of a task whose worker keeps dying before its item fails

_worker_objects: dict[str, Any] = {}
_worker_ready = False


@dataclass
class Outcome:
    """What became of one payload: ``value`` (the task's return) or ``error`` (one line)."""

    index: int                  # position of the payload in the list given to ``map``
    value: Any = None
    error: str | None = None
    seconds: float = 0.0        # wall time of the (last) run on its worker
    worker: str = ""            # "host:pid" of the worker that ran it
    input_error: bool = False   # the task raised a HeadshotError about its input (not a disk or signing
                                # problem): the same input fails the same way, so a rerun need not retry it

    @property
    def ok(self) -> bool:
        return self.error is None


def one_line(error: BaseException) -> str:
    """An exception as one line: a :class:`HeadshotError`'s own message, else ``Type: message``."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text if isinstance(error, HeadshotError) else f"{type(error).__name__}: {text}"


def worker_cache(name: str, make: Callable[[], Any]) -> Any:
    """The object ``make()`` returns, made once per worker process and kept for its later tasks."""
    if name not in _worker_objects:
        _worker_objects[name] = make()
    return _worker_objects[name]


def _set_up_worker() -> None:
    """One core per worker: the pool or the cluster runs one task per core, so libraries must not spawn
    a thread per core each (set before torch or OpenCV start their thread pools)."""
    global _worker_ready
    if _worker_ready:
        return
    _worker_ready = True
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(name, "1")
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:  # pragma: no cover - OpenCV is a dependency
        pass


def run_guarded(task: Callable[[Any], Any], payload: Any, in_worker: bool = True) -> dict:
    """Run ``task(payload)`` on a worker; never raises for an error of the task (it comes back as text)."""
    if in_worker:
        _set_up_worker()
    started = time.perf_counter()
    value, error, input_error = None, None, False
    try:
        value = task(payload)
    except Exception as caught:  # one bad item must not stop the run
        error = one_line(caught)
        input_error = _is_input_error(caught)
    return {"value": value, "error": error, "seconds": time.perf_counter() - started,
            "worker": f"{socket.gethostname()}:{os.getpid()}", "input_error": input_error}


def _is_input_error(error: Exception) -> bool:
    from ..errors import OutputError

    if not isinstance(error, HeadshotError) or isinstance(error, OutputError):
        return False
    return type(error).__name__ != "CredentialsError"  # the signing key, not the input


def _outcome(index: int, result: dict) -> Outcome:
    return Outcome(index, result["value"], result["error"], result["seconds"], result["worker"],
                   result.get("input_error", False))


def _died(attempts: int) -> str:
    return (f"its worker died {attempts} times (killed, out of memory, or a node lost); "
            f"not retried again")


class Backend(Protocol):
    """Where tasks run. ``slots``: tasks that run at once; ``description``: for the user."""

    slots: int
    description: str

    def map(self, task: Callable[[Any], Any], payloads: Sequence) -> Iterator[Outcome]:
        """Run ``task`` on every payload; yield each :class:`Outcome` as it finishes (any order)."""

    def close(self) -> None:
        """Release the workers (or the connection to the cluster)."""


class LocalPool:
    """``workers`` processes on this machine (spawned: MediaPipe graphs do not survive fork)."""

    def __init__(self, workers: int):
        self.slots = max(1, int(workers))
        self.description = "this process" if self.slots == 1 else f"local pool, {self.slots} processes"

    def _start(self):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        return ProcessPoolExecutor(self.slots, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_set_up_worker)

    def map(self, task: Callable[[Any], Any], payloads: Sequence) -> Iterator[Outcome]:
        if self.slots == 1:
            for index, payload in enumerate(payloads):
                yield _outcome(index, run_guarded(task, payload, in_worker=False))
            return
        from concurrent.futures import FIRST_COMPLETED, wait
        from concurrent.futures.process import BrokenProcessPool

        todo = collections.deque(range(len(payloads)))
        attempts = [0] * len(payloads)
        running: dict = {}  # future -> index; never more than one task per worker, so a dead worker
        pool = self._start()  # costs only the tasks that were really running
        try:
            while todo or running:
                while todo and len(running) < self.slots:
                    index = todo.popleft()
                    attempts[index] += 1
                    running[pool.submit(run_guarded, task, payloads[index])] = index
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                finished = list(done)
                broken = any(isinstance(future.exception(), BrokenProcessPool) for future in finished)
                if broken:  # a dead worker takes the whole pool down: every running task is lost with it
                    wait(running)
                    finished = list(running)
                for future in finished:
                    index = running.pop(future)
                    if isinstance(future.exception(), BrokenProcessPool):
                        if attempts[index] >= ATTEMPTS:
                            yield Outcome(index, error=_died(attempts[index]))
                        else:
                            todo.appendleft(index)
                    elif future.exception() is not None:  # cannot happen: run_guarded catches
                        yield Outcome(index, error=one_line(future.exception()))
                    else:
                        yield _outcome(index, future.result())
                if broken:
                    pool.shutdown(wait=True, cancel_futures=True)
                    pool = self._start()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        pass


def import_ray():
    """The ``ray`` module, or a one-line error that says how to install it."""
    try:
        import ray
    except ImportError:
        raise InputError("--cluster needs Ray: pip install 'headshot[cluster]' (on every node)") from None
    return ray


class RayCluster:
    """Tasks on a Ray cluster: one CPU each, retried on another worker when theirs dies."""

    def __init__(self, address: str):
        ray = import_ray()
        self._ray = ray
        self._owns_connection = False
        if not ray.is_initialized():  # a caller (a test, a notebook) may have connected already
            _check_reachable(address)
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
            settings = {"log_to_driver": False, "logging_level": logging.WARNING}
            # ray.init replaces the SIGTERM handler for good; keep the command's own (which stops a run the
            # way Ctrl-C does, so that close() and every clean-up still run)
            handler = signal.getsignal(signal.SIGTERM)
            try:
                if address == "local":
                    ray.init(include_dashboard=False, **settings)
                else:
                    ray.init(address=address, **settings)
            except Exception as error:  # no cluster there, wrong address, version mismatch
                raise InputError(f"cannot connect to a Ray cluster at {address!r} ({one_line(error)}); start one "
                                 f"with `ray start --head`, or use --cluster ADDRESS") from None
            finally:
                if threading.current_thread() is threading.main_thread() and handler is not None:
                    signal.signal(signal.SIGTERM, handler)
            self._owns_connection = True
        self.slots = max(1, int(ray.cluster_resources().get("CPU", 1)))
        nodes = sum(1 for node in ray.nodes() if node.get("Alive"))
        self.description = f"Ray cluster, {self.slots} CPUs on {nodes} node(s)"
        # max_retries: Ray reruns a task whose worker process died; an exception of the task itself
        # is caught by run_guarded and is never retried (a bad input stays bad).
        self._remote = ray.remote(num_cpus=1, max_retries=ATTEMPTS - 1, retry_exceptions=False)(run_guarded)

    def map(self, task: Callable[[Any], Any], payloads: Sequence) -> Iterator[Outcome]:
        ray = self._ray
        todo = collections.deque(range(len(payloads)))
        running: dict = {}  # object ref -> index; a bounded window keeps a million items off the scheduler
        window = 2 * self.slots
        try:
            while todo or running:
                while todo and len(running) < window:
                    index = todo.popleft()
                    running[self._remote.remote(task, payloads[index])] = index
                ready, _ = ray.wait(list(running), num_returns=1)
                for ref in ready:
                    index = running.pop(ref)
                    try:
                        result = ray.get(ref)
                    except ray.exceptions.RayError as error:  # retries used up, node lost, ...
                        yield Outcome(index, error=f"{_died(ATTEMPTS)} ({type(error).__name__})")
                    else:
                        yield _outcome(index, result)
        finally:
            for ref in running:  # stopped early (Ctrl-C): do not leave work running on the cluster
                ray.cancel(ref, force=True)

    def close(self) -> None:
        if self._owns_connection:
            self._ray.shutdown()


def _check_reachable(address: str) -> None:
    """Fail in seconds on an address where nothing listens (Ray itself keeps retrying for minutes)."""
    if address in ("auto", "local"):
        return
    host, _, port = address.split("://", 1)[-1].rpartition(":")
    if not host or not port.isdigit():
        raise InputError(f"--cluster {address!r}: expected auto, local, HOST:PORT or ray://HOST:PORT")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as error:
        raise InputError(f"cannot reach a Ray cluster at {address} ({error.strerror or error}); start one with "
                         f"`ray start --head`, or check the address") from None


def open_backend(cluster: str | None, workers: int | None = None) -> Backend:
    """:class:`LocalPool` with ``workers`` processes (default: one per core) when ``cluster`` is ``None``;
    else :class:`RayCluster` at ``cluster`` (``auto``, ``local`` or an address)."""
    if cluster is None:
        if workers is not None and workers < 1:
            raise InputError(f"--workers must be at least 1, got {workers}")
        return LocalPool(workers or os.cpu_count() or 1)
    cluster = cluster.strip()
    if not cluster:
        raise InputError("--cluster needs auto, local or a Ray address (host:6379, ray://host:10001)")
    return RayCluster(cluster)
