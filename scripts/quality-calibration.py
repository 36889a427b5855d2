#!/usr/bin/env python3
"""Per-group ranges of the quality measures, from `facepipe recognize --json --no-quality-gate` output.

Usage: scripts/quality-calibration.py recognize.json [more.json ...]
Groups faces by the image's folder (video_frames/<Person>, face_images_1000, misc) and, within a frame of
video_frames, the largest face (the person) apart from the others (background or false detections).
Prints min / 1st percentile / median / max of each measure: the bounds in src/recognition/quality.cpp
sit outside every real face's range. Python's standard library only.
"""
import json
import sys
from collections import defaultdict

measures = ["prob", "size", "in_frame", "eye_ratio", "sharpness", "yaw", "roll"]
groups = defaultdict(lambda: defaultdict(list))
geometry_fail = defaultdict(int)
for path in sys.argv[1:]:
    for r in json.load(open(path))["results"]:
        image = r["image"]
        if "video_frames/" in image:
            group = "video_frames"
        elif "face_images_1000" in image:
            group = "face_images_1000"
        elif "misc/" in image:
            group = "misc"
        else:
            group = "other"
        for i, f in enumerate(r["faces"]):
            g = group + (" (largest)" if i == 0 else " (others)") if group == "video_frames" else group
            q = f["quality"]
            values = dict(q, prob=f["prob"])
            for m in measures:
                v = values[m]
                groups[g][m].append(abs(v) if m in ("yaw", "roll") else v)
            if not q["geometry"]:
                geometry_fail[g] += 1

for g, ms in sorted(groups.items()):
    n = len(ms["prob"])
    print(f"{g}: {n} faces, landmark order wrong in {geometry_fail[g]}")
    for m in measures:
        v = sorted(ms[m])
        pick = lambda p: v[min(len(v) - 1, int(p * len(v)))]
        print(f"  {m:10s} min {v[0]:9.3f}  p01 {pick(0.01):9.3f}  median {pick(0.5):9.3f}  max {v[-1]:9.3f}")
