#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Profiles one UNet call of gst-rip and of diffusers, batch 1 and 2, on the
# same model, machine and thread count, and prints where each spends its
# time (bench/profile_summary.py --categories) and the ops that differ most.
#
#   bench/run-unet-profile.sh [MODEL-DIR] [SIZE] [THREADS] [BUILD-DIR] [OUT-DIR]
#
# The Chrome traces stay in OUT-DIR (default: a temporary folder) for
# chrome://tracing or Perfetto. Profiling slows both sides alike; the
# timings to report come from bench/run-sd-bench.sh.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=bench/sd_bench_lib.sh
source "$root/bench/sd_bench_lib.sh"
sd_bench_args 1 "${1:-}" 1 "${2:-512}" "${3:-$(nproc)}" "${4:-$root/build}"
out="${5:-$(mktemp -d)}"
mkdir -p "$out"
export RIP_BENCH_REPEATS=1
printf "UNet call profiles, SD2-inpainting architecture at %dx%d, %s threads, %s\n" \
  "$size" "$size" "$threads" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
for b in 1 2; do
  RIP_BENCH_PROFILE="$out/ours-unet$b.json" ours "unet$b" 1 "$size" >/dev/null
  RIP_BENCH_PROFILE="$out/diffusers-unet$b.json" ref_same_malloc "unet$b" 1 "$size" >/dev/null
  printf "\nbatch %d\n\n" "$b"
  /usr/bin/python3 "$root/bench/profile_summary.py" --categories \
    "$out/ours-unet$b.json" "$out/diffusers-unet$b.json"
  printf "\n"
  /usr/bin/python3 "$root/bench/profile_summary.py" \
    "$out/ours-unet$b.json" "$out/diffusers-unet$b.json" 12
done
echo "traces: $out"
