#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""How far two results written by RIP_BENCH_SAVE are apart (bench-sd beside
bench_sd_diffusers.py, or two builds of bench-sd).

  bench/compare_outputs.py A B

Raw float32 files: max and mean |a - b| and the largest |b|. PNG images:
max and mean |a - b| in levels of 255 and the share of values that differ.
Prints one JSON line.
"""
import json
import sys

import numpy as np


def load(path):
    if path.endswith(".png"):
        from PIL import Image
        return np.asarray(Image.open(path).convert("RGB"), dtype=np.float64)
    return np.fromfile(path, dtype="<f4").astype(np.float64)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    a, b = load(sys.argv[1]), load(sys.argv[2])
    if a.shape != b.shape:
        sys.exit(f"compare_outputs.py: {sys.argv[1]} has shape {a.shape}, "
                 f"{sys.argv[2]} has {b.shape}: not results of the same measurement")
    d = np.abs(a - b)
    out = {"max_abs_diff": float(d.max()), "mean_abs_diff": float(d.mean()),
           "identical": bool((d == 0).all())}
    if sys.argv[1].endswith(".png"):
        out["share_differing"] = float((d > 0).mean())
    else:
        out["max_abs"] = float(np.abs(b).max())
    print(json.dumps(out))


if __name__ == "__main__":
    main()
