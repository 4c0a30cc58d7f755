"""The Markdown of an evaluation: tables per protocol, the identity-by-motion table, and the text around them
(definitions, published numbers for context). ``results.md`` and the documents' result regions
(:mod:`headshot.eval.docs`) are both made here, so they cannot differ.
"""

from __future__ import annotations

import json

from .markdown import binned_table, cell as _format
from .pooling import is_number
from .sections import extra_sections

# (key, header, format): lower is better unless the header says ↑.
SELF_COLUMNS = [
    ("l1", "L1 ↓", "{:.4f}"), ("background_l1", "bg L1 ↓", "{:.4f}"), ("psnr", "PSNR dB ↑", "{:.2f}"),
    ("ssim", "SSIM ↑", "{:.3f}"),
    ("perceptual", "MNv2-PD ↓", "{:.3f}"), ("lpips", "LPIPS ↓", "{:.3f}"), ("akd", "AKD px ↓", "{:.2f}"),
    ("face_lost", "face lost % ↓", "{:.1%}"), ("csim", "CSIM ↑", "{:.3f}"), ("csim_dlib", "CSIM dlib ↑", "{:.3f}"),
    ("aed", "AED ↓", "{:.3f}"),
    ("pose_error", "pose err ° ↓", "{:.2f}"), ("expression_error", "expr err ↓", "{:.3f}"),
    ("jitter_ratio", "jitter ratio", "{:.2f}"), ("fid_mobilenet", "FID (MNv2) ↓", "{:.1f}"),
    ("fid_inception", "FID (Inception) ↓", "{:.1f}"), ("ms_per_frame", "ms/frame", "{:.1f}"),
]
FEWSHOT_COLUMNS = [c for c in SELF_COLUMNS if c[0] in
                   ("l1", "background_l1", "ssim", "perceptual", "lpips", "akd", "face_lost", "csim", "csim_dlib", "fid_mobilenet",
                    "fid_inception", "ms_per_frame")]
CROSS_COLUMNS = [c for c in SELF_COLUMNS if c[0] in
                 ("csim", "csim_dlib", "aed", "pose_error", "expression_error", "face_lost", "jitter_ratio",
                  "ms_per_frame")]
COLUMNS = {"self": SELF_COLUMNS, "fewshot": FEWSHOT_COLUMNS, "cross": CROSS_COLUMNS, "turned": SELF_COLUMNS}
DLIB_DEFINITION = ("CSIM dlib: cosine of dlib's ResNet 128-d descriptors (150×150 chips aligned by dlib on its 5 "
                   "points — eye corners, bottom of the nose — read from the same MediaPipe landmarks), paired as "
                   "CSIM. dlib's cosines sit high (dev portraits: different people ≈ 0.84, same person ≈ 0.96), so "
                   "compare rows with each other, not with SFace's CSIM")

PAPER_CONTEXT = """**Published numbers, for context only — other datasets, other crops, other detectors; not comparable
to the rows above:**
- FOMM (Siarohin et al., NeurIPS 2019), VoxCeleb self-reenactment: L1 0.043, AKD 1.294 (pixels at 256, detector of
  Bulat & Tzimiropoulos 2017).
- Zakharov et al. (ICCV 2019), VoxCeleb1 few-shot self-reenactment, FID (Inception) 43.0 / 38.0 / 29.5 at
  T = 1 / 8 / 32 (fine-tuned).
"""

DEFINITIONS = """Definitions: crops are 256×256 with one fixed box per clip (from the source frame's landmarks).
L1 on [0, 1] images; PSNR (peak 255); SSIM (7×7 window, per channel). **MNv2-PD = MobileNetV2 perceptual distance**:
ImageNet MobileNetV2 features at 5 levels, unit-normalised over channels, squared difference summed over channels,
averaged over pixels and levels — LPIPS's recipe without its learned weights; it is *not* LPIPS. AKD: mean distance
of the 68 classic points (from MediaPipe's 478) detected on output and real crop. Face lost: output frames where
MediaPipe finds no face (excluded from AKD/pose/expression). CSIM: cosine of SFace embeddings (output vs real frame
in self/few-shot, output vs source in cross); AED: distance of the L2-normalised embeddings. Pose error: mean |Δ|
of yaw/pitch/roll in degrees; expression error: mean |Δ| of MediaPipe's 52 blendshapes (cross-identity: both compare
*changes*, output vs source against driver vs its reference frame, as relative motion transfer intends; targets
come from headshot's own retargeting, relative mode). Jitter ratio: high-frequency energy (2nd temporal difference) of the output's landmark
tracks over the driver's (1 = as steady as the driver). FID (MNv2): Fréchet distance of 1280-d pooled MobileNetV2
features, with a small covariance regularisation (few samples: biased upwards, compare only within this table).
ms/frame: engine render time only. **bg L1** (background fidelity): L1 between the output pasted back into the
full source frame and the real full frame, outside the person (a column 2× the face box wide, from 0.6 face
heights above the top landmark to the frame bottom; union of the output's, the source's and the real frame's;
clips with no background left are not counted); see headshot.eval.background.
**Shared loss network**: MNv2-PD and FID (MNv2) use the ImageNet MobileNetV2 that the neural engine's default
content loss trains against, so on neural rows they partly score what training optimised (the shipped model also
trains on pixel L1 of 128-px crops). CSIM (SFace, dlib), AED, AKD, pose and expression errors, PSNR and SSIM are
computed by networks or formulas that training never optimised: compare engines on those first."""


TITLES = {"self": "Self-reenactment (source = first frame, the clip drives; compared with real frames)",
          "fewshot": "Few-shot self-reenactment (T shots from the first half, held-out targets from the second)",
          "cross": "Cross-identity reenactment (portraits driven by other people's clips; no ground truth)",
          "turned": "Turned source (self-reenactment from the clip's most turned frame, |yaw| ≥ 20°; compared with "
                    "real frames)"}

ONE_IMAGE_NOTE = ("Rows marked (one image) are engines that take one image: they use the first shot only, so one "
                  "row stands for every T.")


def markdown_table(table: dict[str, dict], columns, frames: bool = True) -> str:
    """A Markdown table of ``table`` (row key -> numbers) with the ``columns`` present in any row, after an
    engine column (the key, ``|`` shown as ``, ``) and, when ``frames``, a frames column."""
    present = [c for c in columns if any(c[0] in entry and is_number(entry[c[0]]) for entry in table.values())]
    first = ["engine", "frames"] if frames else ["engine"]
    lines = ["| " + " | ".join(first + [c[1] for c in present]) + " |",
             "|---|" + ("---:|" if frames else "") + "---:|" * len(present)]
    for key, entry in table.items():
        cells = [key.replace("|", ", ")] + ([str(entry.get("frames", 0))] if frames else [])
        lines.append("| " + " | ".join(cells + [_format(entry.get(c[0]), c[2]) for c in present]) + " |")
    return "\n".join(lines)


def merge_repeated_shots(table: dict[str, dict]) -> dict[str, dict]:
    """A few-shot table with one row per engine that takes one image: its ``label|T=n`` rows hold the same
    numbers for every T (the first shot only), so they become one ``label|T=1, 8, 32 (one image)`` row."""
    groups: dict[str, list[str]] = {}
    for key in table:
        groups.setdefault(key.rpartition("|T=")[0] or key, []).append(key)
    merged: dict[str, dict] = {}
    for label, keys in groups.items():
        if len(keys) > 1 and all(table[key].get("shots_used") == [1] for key in keys):
            counts = ", ".join(key.rpartition("|T=")[2] for key in keys)
            merged[f"{label}|T={counts} (one image)"] = table[keys[0]]
        else:
            merged.update((key, table[key]) for key in keys)
    return merged


def protocol_table(summary: dict, protocol: str, columns=None, frames: bool = True) -> str:
    """The Markdown table of ``protocol`` in a results summary (``results.json``): ``columns`` as
    ``(key, header, format)`` (default the protocol's); few-shot rows of one-image engines merged."""
    table = summary["tables"][protocol]
    if protocol == "fewshot":
        table = merge_repeated_shots(table)
    return markdown_table(table, COLUMNS[protocol] if columns is None else columns, frames)


def wins_lines(summary: dict) -> list[str]:
    """One Markdown bullet per engine row: the self-reenactment metrics on which it beats both baselines."""
    lines = []
    for key, verdict in summary.get("self_wins_over_baselines", {}).items():
        beaten, not_beaten = verdict["beats_both_baselines_on"], verdict["does_not_beat_both_on"]
        lines.append(f"- `{key}` beats both baselines on: {', '.join(beaten) if beaten else 'nothing'}"
                     + (f"; not on: {', '.join(not_beaten)}." if not_beaten else "."))
    return lines


def motion_table(motion: dict) -> str:
    """The identity-by-motion table (``self_csim_by_motion`` of a results summary) as Markdown."""
    return binned_table(motion, " px")


def render_markdown(summary: dict) -> str:
    """The README-ready Markdown for a results summary (tables + data/machine + definitions + context)."""
    settings, machine, tables = summary["settings"], summary["machine"], summary["tables"]
    selection = settings.get("selection") or {}
    parts = ["## Evaluation results", "",
             f"Data: `{settings['data']}` (portraits: `{settings['portraits']}`); "
             f"frame selection: {json.dumps(selection)}"
             + (f", manifest `{settings['manifest']}`" if settings.get("manifest") else "") + ".",
             f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['platform']} "
             f"(shared CPU; speeds are indicative)." + _run_line(machine.get("run")), ""]
    for protocol, table in tables.items():
        parts += [f"### {TITLES[protocol]}", "", protocol_table(summary, protocol), ""]
        if protocol == "self" and summary.get("self_csim_by_motion"):
            parts += ["Identity (CSIM) by how far the real frame moved from the source (AKD of the unmoved "
                      "source; frames in brackets):", "", motion_table(summary["self_csim_by_motion"]), ""]
        parts += extra_sections(summary, protocol)
        if protocol == "fewshot" and any(v.get("shots_used") == [1] for v in table.values()):
            parts += [ONE_IMAGE_NOTE, ""]
    if "self_wins_over_baselines" in summary:
        parts += wins_lines(summary) + [""]
    parts += [f"LPIPS: {summary['lpips']}. FID (Inception): {summary['fid_inception']}. "
              f"dlib identity cross-check: {summary['identity_cross_check']}.", "",
              DEFINITIONS, "", PAPER_CONTEXT]
    if summary["skipped"]:
        parts += ["", f"Skipped items: {len(summary['skipped'])} (see results.json)."]
    return "\n".join(parts) + "\n"


def _run_line(run: dict | None) -> str:
    if not run:
        return ""
    minutes = run["wall_seconds"] / 60
    line = (f" This run: {minutes:.1f} min wall clock ({run.get('cpu_seconds', 0) / 60:.1f} min of CPU time; "
            f"load average {run.get('load_average_1min')} at the end), {run['items_computed']} items computed")
    line += f", {run['items_from_cache']} from cache" if run["items_from_cache"] else ""
    if run.get("item_seconds_total"):
        line += f"; computing all items took {run['item_seconds_total'] / 60:.1f} min in total"
    return line + "."
