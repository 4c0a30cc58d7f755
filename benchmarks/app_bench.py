"""Web app speed: start time after import, and an animate request against the CLI doing the same work.

1. Start: ``import gradio`` and the app's modules are timed first (reported, not part of the target), then
   :func:`headshot.app.server.start_app` until the page answers HTTP 200. Target ≤ 5 s.
2. Animate: a 5 s driver (the first 5 s of a dev clip, cut into a temporary folder) and a dev portrait,
   full photo with paste-back, (a) ``headshot animate PHOTO --driver CLIP -o out.mp4 -q`` as a fresh
   process, whole wall time; (b) the same request to the running app through its HTTP API (Gradio's
   client: upload both files, queue, run, download the result). Target: (b) ≤ 2 × (a).
   Both results are checked with ``headshot verify`` (marked and signed).

    python benchmarks/app_bench.py [--clip CLIP.mp4] [--photo PHOTO.jpg] [--repeats 1]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

DEV = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "dev"
DEFAULT_CLIP = DEV / "videos" / "aoc__SadTalker__WDA_AlexandriaOcasioCortez_000.mp4"
DEFAULT_PHOTO = DEV / "portraits" / "obama__face_recognition__obama.jpg"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def cut(clip: Path, seconds: float, out: Path) -> Path:
    from headshot.io.video import VideoReader, VideoWriter

    with VideoReader(clip) as reader:
        fps = reader.fps
        with VideoWriter(out, fps=fps, size=reader.size, audio_from=clip if reader.has_audio else None) as writer:
            for frame in reader:
                if frame.time_s >= seconds - 1e-6:
                    break
                writer.write(frame.rgb)
    return out


def cli_time(photo: Path, driver: Path, out: Path) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "headshot", "animate", str(photo), "--driver", str(driver), "-o", str(out),
                    "-q"], check=True)
    return time.perf_counter() - started


def app_time(url: str, photo: Path, driver: Path, downloads: Path) -> tuple[float, Path]:
    from gradio_client import Client, handle_file

    client = Client(url, verbose=False, download_files=str(downloads), analytics_enabled=False)
    started = time.perf_counter()
    _video, _image, files, _status = client.predict(
        [handle_file(str(photo))], handle_file(str(driver)), "(use the driver)", False, "auto",
        ["pose", "expression", "eyes", "lips"], 1.0, 1.0, "auto", 4, api_name="/animate")
    elapsed = time.perf_counter() - started
    first = files[0] if isinstance(files, list) else files
    return elapsed, Path(first if isinstance(first, str) else first["path"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, default=DEFAULT_CLIP.resolve())
    parser.add_argument("--photo", type=Path, default=DEFAULT_PHOTO.resolve())
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    print(f"load average before: {os.getloadavg()[0]:.2f}")

    started = time.perf_counter()
    import gradio  # noqa: F401

    import headshot.api  # noqa: F401
    import headshot.app.ui  # noqa: F401
    from headshot.app.server import start_app

    imported = time.perf_counter() - started
    started = time.perf_counter()
    app = start_app(port=free_port())
    with urllib.request.urlopen(app.url) as response:
        assert response.status == 200
    start_seconds = time.perf_counter() - started
    print(f"app start after import: {start_seconds:.2f} s (target <= 5 s); imports before it: {imported:.2f} s")

    from headshot.provenance.verify import verify_file

    try:
        with tempfile.TemporaryDirectory(prefix="headshot-app-bench-") as folder:
            folder = Path(folder)
            driver = cut(args.clip, args.seconds, folder / "driver.mp4")
            cli, web = [], []
            for repeat in range(args.repeats):
                cli_out = folder / f"cli{repeat}.mp4"
                cli.append(cli_time(args.photo, driver, cli_out))
                seconds, result = app_time(app.url, args.photo, driver, folder / f"downloads{repeat}")
                web.append(seconds)
                assert verify_file(cli_out).marked and verify_file(result).marked
            ratio = statistics.median(web) / statistics.median(cli)
            print(f"animate {args.seconds:g} s of driver, full photo: CLI (fresh process) {statistics.median(cli):.1f} s, "
                  f"app request {statistics.median(web):.1f} s: {ratio:.2f}x the CLI (target <= 2x); both marked")
    finally:
        app.close()
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
