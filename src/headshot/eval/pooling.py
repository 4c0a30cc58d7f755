"""Pooling per-item results into one table per protocol.

Per-frame metrics are averaged over all scored frames of all items (as FOMM does), NaNs (undefined, e.g.
AKD of a frame whose face was lost) skipped; PSNR averages finite values only; the jitter ratio is the mean
output jitter over items divided by the mean driver (real) jitter; FID pools all frames of a row against all
real frames of the same items; ms/frame is the engine's render time only (no detection or metrics).
"""

from __future__ import annotations

import math

import numpy as np

from .metrics import frechet_distance


def mean(values) -> float:
    """Mean of the finite numbers among ``values`` (``None`` and NaN skipped); NaN when there are none."""
    array = np.asarray([v for v in values if v is not None], np.float64)
    array = array[np.isfinite(array)]
    return float(array.mean()) if array.size else math.nan


def row_keys(results, protocol: str) -> list[str]:
    """Row keys of ``protocol`` in the order they first appear among the items."""
    keys: list[str] = []
    for result in results:
        if result.protocol == protocol and not result.skipped:
            for key in result.rows:
                if key not in keys:
                    keys.append(key)
    return keys


def aggregate(results, protocol: str) -> dict[str, dict]:
    """Pooled numbers per row key of one protocol (see module docstring)."""
    chosen = [r for r in results if r.protocol == protocol and not r.skipped]
    table: dict[str, dict] = {}
    for key in row_keys(results, protocol):
        pooled: dict[str, list[float]] = {}
        jitter, jitter_driver, seconds, rendered, shots_used = [], [], 0.0, 0, set()
        outputs_features: dict[str, list] = {}
        real_features: dict[str, list] = {}
        for result in chosen:
            row = result.rows.get(key)
            if row is None:
                continue
            for metric, values in row["per_frame"].items():
                pooled.setdefault(metric, []).extend(values)
            jitter.append(row["per_item"].get("jitter", math.nan))
            jitter_driver.append(row["per_item"].get("jitter_driver", math.nan))
            seconds += row["render_seconds"]
            rendered += row["rendered"]
            if "shots_used" in row:
                shots_used.add(row["shots_used"])
            for feature_key, values in result.features.items():
                if feature_key.startswith(key + "|"):
                    outputs_features.setdefault(feature_key.rsplit("|", 1)[1], []).append(values)
                elif feature_key.startswith("real|"):
                    real_features.setdefault(feature_key.split("|", 1)[1], []).append(values)
        entry = {metric: mean(values) for metric, values in pooled.items()}
        entry["face_lost"] = mean(pooled.get("face_lost", []))
        entry["frames"] = rendered
        entry["items"] = sum(1 for r in chosen if key in r.rows)
        driver = mean(jitter_driver)
        entry["jitter_ratio"] = mean(jitter) / driver if driver and math.isfinite(driver) and driver > 0 else math.nan
        entry["ms_per_frame"] = 1000.0 * seconds / rendered if rendered else math.nan
        entry["fps"] = rendered / seconds if seconds > 0 else math.nan
        if shots_used:
            entry["shots_used"] = sorted(shots_used)
        for network, chunks in outputs_features.items():
            if network in real_features:
                entry[f"fid_{network}"] = frechet_distance(np.concatenate(chunks), np.concatenate(real_features[network]))
        table[key] = entry
    return table


def is_number(value) -> bool:
    """True for a finite int or float."""
    return isinstance(value, (int, float)) and math.isfinite(value)


def wins(table: dict[str, dict], engine_keys: list[str], baseline_keys: list[str]) -> dict[str, dict]:
    """Per engine row, the self-reenactment metrics on which it beats every baseline row."""
    directions = {"l1": -1, "background_l1": -1, "psnr": 1, "ssim": 1, "perceptual": -1, "lpips": -1, "akd": -1,
                  "csim": 1, "aed": -1,
                  "fid_mobilenet": -1}
    directions.update({"pose_error": -1, "expression_error": -1, "face_lost": -1})
    verdicts = {}
    for key in engine_keys:
        beaten, not_beaten = [], []
        for metric, sign in directions.items():
            mine = table[key].get(metric)
            others = [table[b].get(metric) for b in baseline_keys]
            if not (is_number(mine) and all(is_number(o) for o in others)):
                continue
            (beaten if all(sign * (mine - o) > 0 for o in others) else not_beaten).append(metric)
        verdicts[key] = {"beats_both_baselines_on": beaten, "does_not_beat_both_on": not_beaten}
    return verdicts


# Self-reenactment frames binned by how far the real frame moved from the source: the unmoved source's AKD (px).
MOTION_BINS = (0.0, 3.0, 6.0, 10.0, 20.0, math.inf)
MOTION_REFERENCE = "source (unmoved)"


def by_motion(results, metric: str = "csim") -> dict | None:
    """Self-reenactment ``metric`` per row, pooled over frames binned by motion (``MOTION_BINS`` of the
    unmoved source's AKD to the real frame); ``None`` without an unmoved-source row. Shows where an engine
    gains or loses against a still photo: identity networks forgive a wrong pose more than an invented side
    of the face."""
    chosen = [r for r in results if r.protocol == "self" and not r.skipped and MOTION_REFERENCE in r.rows]
    if not chosen:
        return None
    motion = np.concatenate([np.asarray(r.rows[MOTION_REFERENCE]["per_frame"]["akd"], np.float64) for r in chosen])
    bins = list(zip(MOTION_BINS[:-1], MOTION_BINS[1:]))
    masks = [(motion >= low) & (motion < high) for low, high in bins]
    table = {}
    for key in row_keys(results, "self"):
        values = np.concatenate([np.asarray(r.rows[key]["per_frame"][metric], np.float64) if key in r.rows
                                 else np.full(len(r.rows[MOTION_REFERENCE]["per_frame"]["akd"]), np.nan)
                                 for r in chosen])
        table[key] = [mean(values[mask]) for mask in masks]
    return {"metric": metric, "bins": [[low, high] for low, high in bins],
            "frames": [int(mask.sum()) for mask in masks], "rows": table}
