"""``run_evaluation``: run the protocols of a manifest over engines, with per-item caching and progress.

Run folder layout (``out``)::

    manifest.json            the frame selection used (pass it back with --manifest to repeat the run)
    cache/<protocol>/<item>.json|.npz   per-item results (reused on --resume when settings match)
    contact_sheets/<protocol>/<item>.png
    results.json, results.md, per_video.csv, plots/*.png   (written by report.py)
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..io import atomic
from ..io.atomic import refuse_overwriting_inputs
from .background import BACKGROUND_VERSION
from .data import SelectionSettings, build_manifest, find_videos, item_id, load_manifest
from .plots import write_contact_sheet
from .protocols import CROSS_TARGETS_METHOD, ItemResult, run_cross_item, run_fewshot_item, run_self_item
from .report import write_report
from .rows import EngineRow, engine_rows
from .toolkit import Toolkit, check_identity

PROTOCOLS = ("self", "fewshot", "cross", "turned")
# ``--protocol all`` (and EvalOptions' default): the turned protocol scans every clip, so it is asked for by name.
DEFAULT_PROTOCOLS = ("self", "fewshot", "cross")


@dataclass
class EvalOptions:
    """Everything ``headshot eval`` needs.

    Attributes:
        engines: engine names (baselines are always added).
        data: data folder (``videos/`` and optionally ``portraits/``, or a folder of videos).
        out: run folder.
        protocols: subset of ``self``, ``fewshot``, ``cross``, ``turned`` (:mod:`headshot.eval.turned`).
        selection: frame selection when no manifest is given.
        manifest: a manifest JSON fixing the frame selection (overrides ``selection``).
        portraits: portraits folder (default ``<data>/portraits``).
        lpips_weights: LPIPS VGG16/AlexNet weights file (LPIPS is skipped without it).
        inception_weights: TorchScript Inception-v3 for a standard FID (skipped without it).
        engine_options: per engine name, keyword arguments for its constructor (e.g.
            ``{"neural": {"model_path": "model.safetensors"}}``).
        resume: reuse cached per-item results whose settings match.
        contact_sheets: write a contact sheet PNG per item.
        identity: ``sface`` (CSIM/AED from SFace), or ``both``: also ``csim_dlib`` from dlib's ResNet, a
            cross-check that needs ``headshot[dlib]`` and adds about 60 ms per scored face.
        finetune_steps: steps of the few-shot fine-tuned rows (``None``: the engine's default).
        cluster: ``None`` (items in this process), or a Ray cluster (``auto``, ``local``, an address): the
            items not in the cache are computed there first, each worker writing its items into the run
            folder's cache (which must be on a path every node sees); see :mod:`headshot.cluster.executor`.
    """

    engines: list[str]
    data: Path
    out: Path
    protocols: list[str] = field(default_factory=lambda: list(DEFAULT_PROTOCOLS))
    selection: SelectionSettings = field(default_factory=SelectionSettings)
    manifest: Path | None = None
    portraits: Path | None = None
    lpips_weights: Path | None = None
    inception_weights: Path | None = None
    engine_options: dict = field(default_factory=dict)
    resume: bool = True
    contact_sheets: bool = True
    identity: str = "sface"
    finetune_steps: int | None = None
    cluster: str | None = None


def machine_description() -> dict:
    """Platform, CPU model and core count of this machine (for the speed numbers)."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    return {"platform": platform.platform(), "cpu": cpu, "cores": os.cpu_count(),
            "python": platform.python_version(), "torch_threads": torch.get_num_threads()}


def _signature(entry: dict, rows: list[EngineRow], options: EvalOptions, extra: object = None) -> str:
    key = json.dumps({"entry": entry, "rows": [r.__dict__ for r in rows], "lpips": bool(options.lpips_weights),
                      "inception": bool(options.inception_weights), "identity": options.identity,
                      "extra": extra}, sort_keys=True, default=str)
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _load_cached(folder: Path, item: str, signature: str) -> ItemResult | None:
    json_path, npz_path = folder / f"{item}.json", folder / f"{item}.npz"
    if not json_path.is_file():
        return None
    try:
        stored = json.loads(json_path.read_text())
        if stored.get("signature") != signature:
            return None
        result = ItemResult(stored["item"], stored["protocol"], stored["frames"], stored["rows"], stored["skipped"],
                            stored.get("seconds", 0.0), context=stored.get("context") or {})
        if npz_path.is_file():
            with np.load(npz_path) as arrays:
                result.features = {key: arrays[key] for key in arrays.files}
        return result
    except (OSError, ValueError, KeyError):
        return None


def _store(folder: Path, result: ItemResult, signature: str) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, **result.features)
    atomic.atomic_write_bytes(folder / f"{result.item}.npz", buffer.getvalue(), make_folders=True)
    payload = dict(result.to_json(), signature=signature)
    atomic.atomic_write_text(folder / f"{result.item}.json", json.dumps(payload, default=_json_default),
                             make_folders=True)


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(type(value))


def _refuse_overwriting_inputs(out: Path, options: EvalOptions, portraits: Path) -> None:
    """Refuse a run folder that is, or is inside, the data or portraits folder, or that would overwrite
    an input file with results (a ``--manifest`` that is the run's own ``manifest.json`` is fine: it is
    read first and written back unchanged)."""
    models = [kwargs.get("model_path") for kwargs in (options.engine_options or {}).values()]
    input_files = [options.lpips_weights, options.inception_weights, *models]
    refuse_overwriting_inputs(out, [options.data, portraits, options.manifest, *input_files])
    for name in ("results.json", "results.md", "per_video.csv"):
        refuse_overwriting_inputs(out / name, [options.manifest, *input_files])
    refuse_overwriting_inputs(out / "manifest.json", input_files)


def run_evaluation(options: EvalOptions, progress: bool = True) -> dict:
    """Run the protocols and write the run folder; returns the results dictionary (also results.json)."""
    import torch

    check_identity(options.identity)
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    started, started_cpu = time.perf_counter(), time.process_time()
    computed = cached = 0
    out = Path(options.out)
    portraits = Path(options.portraits) if options.portraits else Path(options.data) / "portraits"
    _refuse_overwriting_inputs(out, options, portraits)
    out.mkdir(parents=True, exist_ok=True)
    if options.manifest:
        manifest = load_manifest(options.manifest)
    else:
        manifest = build_manifest(Path(options.data), options.selection, options.protocols, portraits)
    if "turned" in options.protocols and "turned" not in manifest:
        manifest["turned"] = _turned_manifest(options, out, progress)
    atomic.atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=1))

    rows = {protocol: engine_rows(options.engines, protocol, options.engine_options, options.finetune_steps)
            for protocol in options.protocols}
    shot_counts = list(manifest.get("settings", {}).get("shots", options.selection.shots))
    work = [(protocol, entry) for protocol in options.protocols for entry in manifest.get(protocol, [])]
    if options.cluster:
        computed = _compute_on_cluster(work, options, rows, shot_counts, portraits, progress)
    toolkit = Toolkit(options.lpips_weights, options.inception_weights, options.identity)
    results: list[ItemResult] = []
    try:
        bar, task = _progress(progress, len(work))
        for protocol, entry in work:
            folder = out / "cache" / protocol
            signature = _item_signature(protocol, entry, rows, options, shot_counts)
            result = _load_cached(folder, entry["id"], signature) if (options.resume or options.cluster) else None
            if bar is not None:
                bar.update(task, description=f"{protocol}: {entry['id'][:40]}")
            if result is not None:
                cached += 1
            else:
                computed += 1
                result = _compute_item(protocol, entry, options, rows[protocol], shot_counts, portraits, toolkit,
                                       signature)
            results.append(result)
            if bar is not None:
                bar.advance(task)
        if bar is not None:
            bar.stop()
    finally:
        toolkit.close()
    settings = {"engines": options.engines, "engine_options": options.engine_options, "protocols": options.protocols, "data": str(options.data),
                "portraits": str(portraits), "manifest": str(options.manifest) if options.manifest else None,
                "selection": manifest.get("settings"), "shots": shot_counts,
                "lpips_weights": str(options.lpips_weights) if options.lpips_weights else None,
                "inception_weights": str(options.inception_weights) if options.inception_weights else None,
                "identity": options.identity, "finetune_steps": options.finetune_steps}
    rows_json = {protocol: [r.__dict__ for r in protocol_rows] for protocol, protocol_rows in rows.items()}
    cached -= computed if options.cluster else 0  # items the cluster computed were read back from the cache
    run = {"wall_seconds": round(time.perf_counter() - started, 1),
           "cpu_seconds": round(time.process_time() - started_cpu, 1),
           "load_average_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
           "items_computed": computed,
           "item_seconds_total": round(sum(r.seconds for r in results), 1),
           "items_from_cache": cached}
    return write_report(out, results, rows_json, settings, dict(machine_description(), run=run))


def _item_signature(protocol: str, entry: dict, rows: dict, options: EvalOptions, shot_counts: list) -> str:
    extra = {"protocol": {"fewshot": shot_counts, "cross": CROSS_TARGETS_METHOD}.get(protocol),
             "background": BACKGROUND_VERSION}
    return _signature(entry, rows[protocol], options, extra)


def _compute_item(protocol: str, entry: dict, options: EvalOptions, rows: list[EngineRow], shot_counts: list,
                  portraits: Path, toolkit: Toolkit, signature: str) -> ItemResult:
    """Run one item, write its contact sheet and store it in the run folder's cache; returns its result."""
    out = Path(options.out)
    toolkit.forget()
    item_started = time.perf_counter()
    if protocol in ("self", "turned"):
        result = run_self_item(entry, Path(options.data), rows, toolkit, protocol)
    elif protocol == "cross":
        result = run_cross_item(entry, Path(options.data), portraits.parent, rows, toolkit)
    else:
        result = run_fewshot_item(entry, Path(options.data), rows, shot_counts, toolkit)
    if options.contact_sheets and result.sheet:
        write_contact_sheet(out / "contact_sheets" / protocol / f"{result.item}.png", result.sheet)
    result.sheet = None
    result.seconds = round(time.perf_counter() - item_started, 2)
    _store(out / "cache" / protocol, result, signature)
    return result


def _cluster_item(payload: tuple) -> None:
    """Worker side of ``--cluster``: one item into the cache, with a toolkit loaded once per worker."""
    from ..cluster.executor import worker_cache

    protocol, entry, options, rows, shot_counts, portraits, signature = payload
    toolkit = worker_cache(f"eval-toolkit:{options.lpips_weights}:{options.inception_weights}:{options.identity}",
                           lambda: Toolkit(options.lpips_weights, options.inception_weights, options.identity))
    _compute_item(protocol, entry, options, rows, shot_counts, portraits, toolkit, signature)


def _compute_on_cluster(work: list, options: EvalOptions, rows: dict, shot_counts: list, portraits: Path,
                        progress: bool) -> int:
    """Compute every item not in the cache on the cluster; returns how many. A failed item stops the run
    with its one-line error (as it would locally), after the others are done and cached."""
    from ..cluster.executor import open_backend
    from ..errors import HeadshotError

    payloads = []
    for protocol, entry in work:
        signature = _item_signature(protocol, entry, rows, options, shot_counts)
        if not (options.resume and _load_cached(Path(options.out) / "cache" / protocol, entry["id"], signature)):
            payloads.append((protocol, entry, options, rows[protocol], shot_counts, portraits, signature))
    if not payloads:
        return 0
    backend = open_backend(options.cluster)
    failures = []
    try:
        bar, task = _progress(progress, len(payloads))
        for outcome in backend.map(_cluster_item, payloads):
            if not outcome.ok:
                failures.append(f"{payloads[outcome.index][0]} item {payloads[outcome.index][1]['id']}: {outcome.error}")
            if bar is not None:
                bar.update(task, advance=1, description=f"eval on {backend.description}")
        if bar is not None:
            bar.stop()
    finally:
        backend.close()
    if failures:
        raise HeadshotError(f"{len(failures)} of {len(payloads)} items failed on the cluster (the others are cached; "
                            f"rerun to resume): {failures[0]}")
    return len(payloads)


def _turned_manifest(options: EvalOptions, out: Path, progress: bool) -> list[dict]:
    """The turned protocol's manifest entries (a yaw scan of every clip, cached in ``out/cache/yaw``)."""
    from .turned import turned_entries

    selection = options.selection  # also when a --manifest without turned entries is given
    videos = find_videos(Path(options.data))
    bar, task = _progress(progress, len(videos))
    try:
        def step(description: str) -> None:
            if bar is not None:
                bar.update(task, description=description, advance=1)

        return turned_entries(videos, selection, out / "cache" / "yaw", item_id, step)
    finally:
        if bar is not None:
            bar.stop()


def _progress(enabled: bool, total: int):
    if not enabled:
        return None, None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TimeRemainingColumn())
    bar.start()
    return bar, bar.add_task("eval", total=total)
