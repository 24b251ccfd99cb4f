#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Times the Stable Diffusion port against diffusers on the same machine, the
# same model folder and the same thread count, and prints both with ratios.
#
#   bench/run-sd-bench.sh [MODEL-DIR] [STEPS] [SIZE] [THREADS]
#
# MODEL-DIR defaults to a full-size SD2-inpainting architecture with random
# weights, made once by bench/make_full_size_sd2.py (needs the reference
# harness, see tests/data/sd/PROVENANCE.md). Targets (issue 3): our time at
# most 0.55x diffusers' with the empty prompt, at most 1.0x with a prompt.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
model="${1:-/work/sd2-full-random}"
steps="${2:-50}"
size="${3:-512}"
threads="${4:-$(nproc)}"
export OMP_NUM_THREADS="$threads" HARNESS_THREADS="$threads"
# Both sides get the same allocator settings: keep freed buffers in the heap
# (page faults are slow on some VMs; see docs/models.md).
export MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=100000000
if [[ ! -f "$model/model_index.json" ]]; then
  "$root/tests/data/sd/harness_python.sh" "$root/bench/make_full_size_sd2.py" "$model"
fi
ours() { "$root/build/bench/bench-sd" "$model" "$@"; }
ref() { "$root/tests/data/sd/harness_python.sh" "$root/bench/bench_sd_diffusers.py" "$model" "$@" 2>/dev/null | tail -1; }
field() { /usr/bin/python3 -c "import json,sys; print(json.loads(sys.argv[1])['$2'])" "$1"; }

printf "SD2-inpainting architecture at %dx%d, %s steps, %s threads, CPU\n" "$size" "$size" "$steps" "$threads"
printf "%-16s %12s %12s %8s %14s %14s\n" measurement "gst-rip s" "diffusers s" ratio "gst-rip MiB" "diffusers MiB"
for what in unet1 unet2 inpaint-empty inpaint-prompt; do
  a=$(ours "$what" "$steps" "$size")
  b=$(ref "$what" "$steps" "$size")
  sa=$(field "$a" seconds); sb=$(field "$b" seconds)
  printf "%-16s %12.2f %12.2f %8.2f %14.0f %14.0f\n" "$what" "$sa" "$sb" \
    "$(/usr/bin/python3 -c "print($sa/$sb)")" "$(field "$a" peak_rss_mib)" "$(field "$b" peak_rss_mib)"
done
echo "unet1 vs unet2: our step with the empty prompt runs the UNet once (batch 1); diffusers always runs batch 2 under guidance."
