"""``headshot batch``: a thin CLI wrapper over :func:`headshot.cluster.batch.run_batch`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

CLUSTER_HELP = ("Run on a Ray cluster: auto (the cluster this machine belongs to), local (a private Ray here) or "
                "an address (head:6379, ray://head:10001); needs pip install 'headshot\\[cluster]'. "
                "Default: a local process pool.")


def register(app: typer.Typer) -> None:
    """Add the ``batch`` subcommand to the ``headshot`` app."""

    @app.command("batch")
    def batch(
        jobs: Path = typer.Argument(..., help="Jobs CSV: photo, driver | motion | audio | text, output, "
                                              "and any animate option as a column (see docs/cluster.md)."),
        out: Optional[Path] = typer.Option(None, "--out", help="Output folder (on a path every worker sees; default: "
                                                               "JOBS-out beside the jobs file); re-run to resume."),
        cluster: Optional[str] = typer.Option(None, "--cluster", help=CLUSTER_HELP),
        workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Local pool size (default: one "
                                                                             "process per core)."),
        retry_failed: bool = typer.Option(False, "--retry-failed", help="Also rerun jobs that failed on their input "
                                                                        "in an earlier run (they are skipped)."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    ) -> None:
        """Render every row of a jobs file (signed and watermarked like animate/say); skips finished jobs."""
        from ..errors import HeadshotError
        from .batch import RESULTS_CSV, BatchOptions, run_batch

        out = out if out is not None else jobs.parent / f"{jobs.stem}-out"

        summary = run_batch(BatchOptions(jobs=jobs, out=out, cluster=cluster, workers=workers,
                                         retry_failed=retry_failed, progress=not quiet))
        typer.echo(f"{summary['done']} rendered, {summary['skipped']} already done, {summary['failed']} failed "
                   f"of {len(summary['jobs'])} jobs in {summary['seconds']:.1f} s ({summary['backend']}); "
                   f"results in {out / RESULTS_CSV}")
        for item in summary["jobs"]:
            if item["status"] == "failed":
                typer.echo(f"  row {item['row']} ({Path(item['photo']).name or 'no photo'}): {item['error']}", err=True)
        if summary["failed"]:
            raise HeadshotError(f"{summary['failed']} of {len(summary['jobs'])} jobs failed (listed above and in "
                                f"{out / RESULTS_CSV}); the others are done")
