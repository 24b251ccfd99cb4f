#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# bf16 against fp32 on the CPU: one UNet call (batch 1 and 2), one VAE
# encode + decode and a whole inpaint, ours and diffusers', in both dtypes,
# on the same machine, model folder and thread count. Prints the CPU and the
# flags that decide how bf16 runs (oneDNN's bf16 convolutions need AVX-512;
# avx512_bf16 and amx_bf16 make them native), then one table.
#
#   bench/run-bf16-bench.sh [MODEL-DIR] [STEPS] [SIZE] [THREADS] [BUILD-DIR]
#
# MODEL-DIR defaults to the full-size SD2-inpainting architecture with
# random weights (bench/make_full_size_sd2.py, made when missing); STEPS
# (default 3) is the whole inpaint's. Model calls are the best of
# RIP_BENCH_REPEATS (default 3) after a warm-up; RIP_BENCH_NO_DIFFUSERS=1
# times ours only. docs/models.md#bf16-on-the-cpu has the figures and what
# bf16 does to a study.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=bench/sd_bench_lib.sh
source "$root/bench/sd_bench_lib.sh"
sd_bench_args 3 "$@"

first=""
for what in unet1 unet2 vae inpaint-empty; do
  a32=$(RIP_BENCH_DTYPE=fp32 ours "$what" "$steps" "$size")
  a16=$(RIP_BENCH_DTYPE=bf16 ours "$what" "$steps" "$size")
  if [[ -z $first ]]; then
    first=$a32
    printf "CPU: %s (%s threads); flags for bf16: %s; BLAS: %s\n" "$(field "$a32" cpu)" \
      "$threads" "$(field "$a32" cpu_flags)" "$(field "$a32" blas)"
    printf "SD2-inpainting architecture at %dx%d, whole inpaint %s steps (%s)\n" \
      "$size" "$size" "$steps" "$(date -u +%F)"
    printf "%-15s %10s %10s %6s %10s %10s %6s %9s\n" measurement "ours fp32" "ours bf16" \
      "ratio" "diff fp32" "diff bf16" "ratio" "bf16 o/d"
  fi
  s32=$(field "$a32" seconds) s16=$(field "$a16" seconds)
  d32=nan d16=nan rd=nan rod=nan
  if [[ -z "${RIP_BENCH_NO_DIFFUSERS:-}" ]]; then
    d32=$(field "$(RIP_BENCH_DTYPE=fp32 ref_same_malloc "$what" "$steps" "$size")" seconds)
    d16=$(field "$(RIP_BENCH_DTYPE=bf16 ref_same_malloc "$what" "$steps" "$size")" seconds)
    rd=$(ratio "$d16" "$d32") rod=$(ratio "$s16" "$d16")
  fi
  printf "%-15s %10.2f %10.2f %6s %10.2f %10.2f %6s %9s\n" "$what" "$s32" "$s16" \
    "$(ratio "$s16" "$s32")" "$d32" "$d16" "$rd" "$rod"
done
cat <<'NOTE'
seconds (wall); ratio: bf16 / fp32 (below 1: bf16 is faster); bf16 o/d: our
bf16 / diffusers' bf16. diffusers runs with gst-rip's allocator settings.
unet1 is our empty-prompt step, unet2 a guidance step (diffusers' every step).
NOTE
