#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Batching across loops: inpaints per minute for 1, 2 and 4 loops sharing
# one model, one at a time against batched, on the tiny test model and on
# the full-size SD2-inpainting architecture (random weights), as tables.
#
#   bench/run-batching-bench.sh [FULL-MODEL-DIR] [FULL-STEPS] [DEVICE] [BUILD-DIR]
#
# FULL-MODEL-DIR defaults to /work/sd2-full-random, made once by
# bench/make_full_size_sd2.py when missing (needs the reference harness);
# "-" skips the full-size table. DEVICE (cpu, cuda) is passed to both runs:
# the same script measures a CUDA build unchanged (docs/models.md).
# RIP_BENCH_LOOPS (default 1,2,4) and RIP_BENCH_INPAINTS (default 8 tiny,
# 1 full-size) set the loop counts and the inpaints per loop.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
model="${1:-/work/sd2-full-random}"
steps="${2:-4}"
device="${3:-cpu}"
build="${4:-$root/build}"
loops="${RIP_BENCH_LOOPS:-1,2,4}"
dtype=fp32
[[ "$device" == cuda* ]] && dtype=fp16
bench="$build/bench/bench-batching"
cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
echo "CPU: $cpu, $(nproc) CPUs"
echo "## tiny SD2 (tests/data/sd/tiny-sd2, 64x64, 10 steps)"
"$bench" "$root/tests/data/sd/tiny-sd2" --loops "$loops" --steps 10 \
  --inpaints "${RIP_BENCH_INPAINTS:-8}" --device "$device" --dtype "$dtype"
[[ "$model" == - ]] && exit 0
if [[ ! -f "$model/model_index.json" ]]; then
  "$root/tests/data/sd/harness_python.sh" "$root/bench/make_full_size_sd2.py" "$model"
fi
echo "## full-size SD2 inpainting architecture (random weights, 512x512, $steps steps)"
"$bench" "$model" --loops "$loops" --steps "$steps" --size 512 \
  --inpaints "${RIP_BENCH_INPAINTS:-1}" --device "$device" --dtype "$dtype"
