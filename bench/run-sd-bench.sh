#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Times the Stable Diffusion port against diffusers on the same machine, the
# same model folder and the same thread count, and prints both with ratios.
#
#   bench/run-sd-bench.sh [MODEL-DIR] [STEPS] [SIZE] [THREADS] [BUILD-DIR]
#
# MODEL-DIR defaults to a full-size SD2-inpainting architecture with random
# weights, made once by bench/make_full_size_sd2.py (needs the reference
# harness, see tests/data/sd/PROVENANCE.md). Targets (docs/models.md): our time at
# most 0.55x diffusers' with the empty prompt, at most 1.0x with a prompt.
#
# gst-rip keeps freed memory in the process (rip/core/memory.h: glibc M_MMAP_MAX 0,
# no trimming); diffusers runs with glibc's defaults unless told. Both are
# timed, and the ratio is taken against the faster diffusers, i.e. with the
# same allocator settings as gst-rip (MALLOC_MMAP_MAX_=0
# MALLOC_TRIM_THRESHOLD_=2147483647): the comparison is of the model code,
# not of malloc. The diffusers run with glibc's defaults is only done for the
# UNet calls (it is several times slower on VMs where page faults are slow).
# UNet calls are the best of RIP_BENCH_REPEATS (default 3) after a warm-up.
# RIP_BENCH_NO_DEFAULT=1 skips the diffusers runs with glibc's defaults.
# RIP_BENCH_WHAT="unet1 unet2" picks measurements (default: all four).
# Each row also says how far apart the two results are (max |d|).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=bench/sd_bench_lib.sh
source "$root/bench/sd_bench_lib.sh"
sd_bench_args 50 "$@"

printf "SD2-inpainting architecture at %dx%d, %s steps, %s threads, CPU (%s)\n" \
  "$size" "$size" "$steps" "$threads" "$(date -u +%F)"
printf "%-15s %9s %9s %9s %7s %7s %9s %9s %11s %9s\n" measurement "gst-rip s" \
  "diff. s" "default s" ratio "cpu r." "rip CPU s" "diff CPU s" "RSS MiB r/d" "max |d|"
saved="$(mktemp -d)"
trap 'rm -rf "$saved"' EXIT
for what in ${RIP_BENCH_WHAT:-unet1 unet2 inpaint-empty inpaint-prompt}; do
  ext=f32
  [[ $what == inpaint-* ]] && ext=png
  a=$(RIP_BENCH_SAVE="$saved/ours.$ext" ours "$what" "$steps" "$size")
  b=$(RIP_BENCH_SAVE="$saved/ref.$ext" ref_same_malloc "$what" "$steps" "$size")
  apart=$(field "$(/usr/bin/python3 "$root/bench/compare_outputs.py" "$saved/ours.$ext" \
    "$saved/ref.$ext")" max_abs_diff)
  sd=nan
  if [[ $what == unet* && -z "${RIP_BENCH_NO_DEFAULT:-}" ]]; then
    sd=$(field "$(RIP_BENCH_REPEATS=1 ref "$what" "$steps" "$size")" seconds)
  fi
  blas=$(field "$a" blas)
  sa=$(field "$a" seconds); sb=$(field "$b" seconds)
  ca=$(field "$a" cpu_seconds); cb=$(field "$b" cpu_seconds)
  printf "%-15s %9.2f %9.2f %9.2f %7s %7s %9.2f %9.2f %5.0f/%-5.0f %9.3g\n" "$what" \
    "$sa" "$sb" "$sd" "$(ratio "$sa" "$sb")" "$(ratio "$ca" "$cb")" "$ca" "$cb" \
    "$(field "$a" peak_rss_mib)" "$(field "$b" peak_rss_mib)" "$apart"
  [[ $what == unet1 ]] && ours_unet1=$sa
  [[ $what == unet2 ]] && ref_unet2=$sb
done
if [[ -n "${ours_unet1:-}" && -n "${ref_unet2:-}" ]]; then
  printf "gst-rip's empty-prompt step (unet1) / diffusers' step (unet2): %s\n" \
    "$(ratio "$ours_unet1" "$ref_unet2")"
fi
echo "BLAS: $blas (both sides load the same libblas.so.3; docs/building.md#blas)"
cat <<'NOTE'
diff. s: diffusers with gst-rip's allocator settings; default s: diffusers
with glibc's defaults (UNet calls only); ratio: gst-rip / diff. (wall);
cpu r.: the same in process CPU time (steadier on a shared machine).
max |d|: the largest difference between the two results (UNet output
values; images in levels of 255), bench/compare_outputs.py.
Targets: inpaint-empty <= 0.55, inpaint-prompt <= 1.0; one UNet call:
unet2 <= 0.85, and gst-rip's unet1 <= 0.45 of diffusers' unet2 (gst-rip's
empty-prompt step runs the UNet once, diffusers always runs batch 2).
NOTE
