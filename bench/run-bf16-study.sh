#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# What bf16 does to a study: the demo study (studies/demo.toml: its three
# images, its three seeds of Starry Night) run through sdinpaint twice, in
# fp32 and in bf16, and the drift curves (SSIM, MS-SSIM, PSNR per iteration)
# compared row by row, with the spread over seeds in fp32 as the yardstick.
#
#   bench/run-bf16-study.sh [MODEL] [SIZE] [STEPS] [INPAINT] [OUT]
#
# MODEL: a diffusers folder (default the tiny test model, whose random
# weights make the figures a statement about the arithmetic, not about SD2:
# run it on stabilityai/stable-diffusion-2-inpainting for that). SIZE
# (default 256) is the frame side; the mask sizes are the demo's scaled to
# it (64/128/256 px on 512 become SIZE/8, /4, /2). STEPS (default 10) and
# INPAINT (default 1.0 = 100 %) keep it short. OUT (default a temporary
# folder) keeps both studies. The elements come from build/plugins (or
# RIP_BUILD_DIR's). docs/models.md#bf16-on-the-cpu has the result.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
model="$(realpath "${1:-$root/tests/data/sd/tiny-sd2}")"
size="${2:-256}"
steps="${3:-10}"
inpaint="${4:-1.0}"
out="${5:-$(mktemp -d)}"
mkdir -p "$out"
export GST_PLUGIN_PATH="${RIP_BUILD_DIR:-$root/build}/plugins${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
for dtype in fp32 bf16; do
  sed -e "s/^name = .*/name = \"demo-$dtype\"/" \
    -e "s/^mask_sizes = .*/mask_sizes = [$((size / 8)), $((size / 4)), $((size / 2))]/" \
    -e "s/^inpaint = .*/inpaint = $inpaint/" \
    -e "s/^width = .*/width = $size/" -e "s/^height = .*/height = $size/" \
    -e '/^\[inpainter\]/,/^$/d' "$root/studies/demo.toml" > "$out/$dtype.toml"
  printf '[inpainter]\nelement = "sdinpaint"\nmodel = "%s"\nsteps = %s\ndtype = "%s"\n' \
    "$model" "$steps" "$dtype" >> "$out/$dtype.toml"
  start=$(date +%s)
  /usr/bin/python3 "$root/tools/rip-study" run "$out/$dtype.toml" "$out/$dtype" -q
  echo "$dtype study: $(($(date +%s) - start)) s"
done
/usr/bin/python3 - "$out/fp32/results.csv" "$out/bf16/results.csv" <<'PY'
import csv
import sys
from collections import defaultdict

def rows(path):
    with open(path) as f:
        return {(r["image"], r["mask_size"], r["seed"], r["iteration"]): r for r in csv.DictReader(f)}

# Iteration 0 is the seed itself (PSNR infinite): left out.
fp32, bf16 = rows(sys.argv[1]), rows(sys.argv[2])
fp32 = {k: r for k, r in fp32.items() if k[3] != "0"}
bf16 = {k: r for k, r in bf16.items() if k[3] != "0"}
assert fp32.keys() == bf16.keys(), "the two studies have different rows"
metrics = [m for m in ("ssim", "ms-ssim", "psnr") if m in next(iter(fp32.values()))]
print(f"{len(fp32)} rows per study (iterations >= 1); |bf16 - fp32| per row, the fp32 spread over seeds")
print(f"{'metric':8} {'max':>8} {'mean':>8} {'last iter. max':>15} {'seed spread max':>16} {'mean curve max':>15}")
for m in metrics:
    diffs = [abs(float(bf16[k][m]) - float(fp32[k][m])) for k in fp32]
    last = defaultdict(int)
    for k in fp32:
        last[k[:3]] = max(last[k[:3]], int(k[3]))
    at_last = [abs(float(bf16[k][m]) - float(fp32[k][m])) for k in fp32 if int(k[3]) == last[k[:3]]]
    # Spread over seeds: per (image, size, iteration), max - min over the seeds (fp32).
    by_iter = defaultdict(list)
    for (img, size, seed, it), r in fp32.items():
        by_iter[(img, size, it)].append(float(r[m]))
    spread = max(max(v) - min(v) for v in by_iter.values() if len(v) > 1)
    # Mean curve over every image and seed, per (size, iteration).
    curve = defaultdict(lambda: [0.0, 0.0, 0])
    for k in fp32:
        c = curve[(k[1], k[3])]
        c[0] += float(fp32[k][m]); c[1] += float(bf16[k][m]); c[2] += 1
    mean_curve = max(abs(a - b) / n for a, b, n in curve.values())
    print(f"{m:8} {max(diffs):8.4f} {sum(diffs) / len(diffs):8.4f} {max(at_last):15.4f} {spread:16.4f} {mean_curve:15.4f}")
PY
echo "studies in $out"
