# SPDX-License-Identifier: LGPL-2.1-or-later
#
# What bench/run-sd-bench.sh and bench/run-bf16-bench.sh share: running one
# measurement of bench-sd (ours) or of bench_sd_diffusers.py (ref), and
# reading the JSON line they print. Sourced after setting root.

# sd_bench_args DEFAULT-STEPS [MODEL-DIR] [STEPS] [SIZE] [THREADS] [BUILD-DIR]:
# the scripts' common arguments into model, steps, size, threads and build;
# sets the thread count of both sides and makes the model when missing.
sd_bench_args() {
  local default_steps=$1
  shift
  model="${1:-/work/sd2-full-random}"
  steps="${2:-$default_steps}"
  size="${3:-512}"
  threads="${4:-$(nproc)}"
  build="${5:-$root/build}"
  export OMP_NUM_THREADS="$threads" HARNESS_THREADS="$threads"
  export RIP_BENCH_REPEATS="${RIP_BENCH_REPEATS:-3}"
  make_model_if_missing
}

ours() { "$build/bench/bench-sd" "$model" "$@"; }
ref() { "$root/tests/data/sd/harness_python.sh" "$root/bench/bench_sd_diffusers.py" "$model" "$@" 2>/dev/null | tail -1; }
# diffusers with gst-rip's allocator settings (rip/core/memory.h), so that
# the comparison is of the model code, not of malloc.
ref_same_malloc() { MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=2147483647 ref "$@"; }
field() { /usr/bin/python3 -c "import json,sys; print(json.loads(sys.argv[1]).get('$2', float('nan')))" "$1"; }
ratio() { /usr/bin/python3 -c "print(f'{$1/$2:.2f}')"; }
make_model_if_missing() {
  if [[ ! -f "$model/model_index.json" ]]; then
    "$root/tests/data/sd/harness_python.sh" "$root/bench/make_full_size_sd2.py" "$model"
  fi
}
