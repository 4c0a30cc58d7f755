"""The evaluation manifest of issue 14's unseen-person tables (phase 3): the split's held-out identities only.

    python benchmarks/heldout_manifest.py ../shared/data/dev configs/splits/dev.yaml YAWCACHE OUT.json

- fewshot: one clip per held-out identity (longest first), T = 1 and 8 (no T = 32: fine-tuning on 32 shots
  is 320 CPU updates per clip), ``--targets`` target frames from each clip's second half;
- self: one clip per held-out identity (the longest), ``--self-frames`` frames every ``--stride``-th;
- turned: each held-out identity's most turned clip, source = its most turned frame. No held-out clip reaches
  the turned protocol's 20° (the 14 dev clips that do belong to training identities), so the bar here is
  ``--min-yaw`` (default 10°) and the table says so. Yaw tracks are read from a turned run's
  ``cache/yaw`` (a scan at stride 5, as ``headshot eval --protocol turned`` writes it).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from types import SimpleNamespace

from headshot.eval.data import SelectionSettings, build_manifest, find_videos, item_id
from headshot.eval.turned import turned_entry
from headshot.io.video_reader import count_frames
from headshot.train.split import load_split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("split", type=Path)
    parser.add_argument("yaw_cache", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--targets", type=int, default=8)
    parser.add_argument("--self-frames", type=int, default=6)
    parser.add_argument("--stride", type=int, default=6)
    parser.add_argument("--turned-frames", type=int, default=8)
    parser.add_argument("--min-yaw", type=float, default=10.0)
    args = parser.parse_args()
    heldout = tuple(sorted(load_split(args.split)))
    settings = SelectionSettings(max_frames=args.targets, stride=args.stride, shots=(1, 8),
                                 fewshot_videos=len(heldout), identities=heldout)
    manifest = build_manifest(args.data, settings, ["fewshot"])
    videos = sorted(find_videos(args.data), key=lambda v: v.relative)
    videos = [v for v in videos if v.identity in heldout]
    manifest["self"], seen = [], set()
    fewshot_clips = {e["video"] for e in manifest["fewshot"]}
    for video in videos:  # the few-shot clip of each identity (its longest) serves self-reenactment too
        if video.relative in fewshot_clips and video.identity not in seen:
            seen.add(video.identity)
            count = count_frames(video.path)
            manifest["self"].append({"id": item_id(video.relative), "video": video.relative,
                                     "identity": video.identity, "source_frame": 0,
                                     "frames": list(range(args.stride, count, args.stride))[:args.self_frames]})
    turned_settings = SimpleNamespace(turned_min_yaw=args.min_yaw, turned_scan_stride=5,
                                      turned_frames=args.turned_frames)
    best: dict[str, dict] = {}
    for video in videos:
        file = args.yaw_cache / f"{item_id(video.relative)}.json"
        if not file.is_file():
            continue
        track = [(int(i), float(y)) for i, y in json.loads(file.read_text())["track"]]
        entry = turned_entry(item_id(video.relative), video.relative, video.identity, track, turned_settings)
        if entry and entry["max_abs_yaw"] > best.get(video.identity, {}).get("max_abs_yaw", -1):
            best[video.identity] = entry
    manifest["turned"] = sorted(best.values(), key=lambda e: e["video"])
    manifest["settings"]["turned_min_yaw"] = args.min_yaw
    manifest["settings"]["turned_frames"] = args.turned_frames
    args.out.write_text(json.dumps(manifest, indent=1))
    for protocol in ("fewshot", "self", "turned"):
        items = manifest[protocol]
        frames = sum(len(e.get("targets", e.get("frames", []))) for e in items)
        print(f"{protocol}: {len(items)} clips, {frames} target frames")
    for e in manifest["turned"]:
        print(f"  turned {e['id']}: source yaw {e['source_yaw']}")


if __name__ == "__main__":
    main()
