"""A test helper: SIGKILL the worker that is writing an output, mid-write, once (Linux /proc)."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path


def process_holding(path: Path) -> int | None:
    """The id of a process (not this one) that has ``path`` open, found through /proc/PID/fd."""
    target = str(path)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                if os.readlink(fd) == target:
                    return int(entry.name)
        except OSError:  # gone, or not ours
            continue
    return None


class KillWriterOnce(threading.Thread):
    """Watch ``folder`` for a hidden temporary output (``.name.XXXXXXXX.mp4``: an unfinished render) and
    SIGKILL the process writing it. ``killed``: ``(pid, temporary file name)`` once done."""

    def __init__(self, folder: Path):
        super().__init__(daemon=True)
        self.folder = Path(folder)
        self.killed: tuple[int, str] | None = None
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            for temp in self.folder.glob(".*.mp4"):
                pid = process_holding(temp)
                if pid is not None:
                    os.kill(pid, signal.SIGKILL)
                    self.killed = (pid, temp.name)
                    return
            time.sleep(0.03)

    def stop(self) -> None:
        self.stopping.set()
        self.join(5)


def run_with_a_killed_writer(out: Path, run):
    """``run()`` (a batch writing into ``out``) while one worker is SIGKILLed mid-write; checks that the
    killed job was retried on another worker and finished, and returns ``run()``'s summary."""
    killer = KillWriterOnce(out)
    killer.start()
    try:
        summary = run()
    finally:
        killer.stop()
    assert killer.killed is not None, "no worker was caught mid-write"
    killed_pid, temporary = killer.killed  # .<output stem>.<random>.mp4: the job retried elsewhere
    (retried,) = [job for job in summary["jobs"]
                  if temporary.lstrip(".").startswith(f"{Path(job['output']).stem}.")]  # the signer's: ..<stem>
    assert retried["status"] == "done" and not retried["worker"].endswith(f":{killed_pid}")
    return summary
