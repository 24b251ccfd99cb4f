#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# LPIPS pairs per second at 512x512, gst-rip (build/bench/bench-lpips) next
# to the reference lpips package (bench_lpips_reference.py through the
# reference harness), same machine, same inputs, same thread count, the
# random test backbones (the ImageNet ones are not available offline; the
# speed does not depend on the values) and the real lin weights.
#
# Usage: bench/run-lpips-bench.sh [BUILD_DIR] [THREADS] [SIZE] [REPEATS]
#        (defaults: build 2 512 5; needs ../shared and the harness)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
threads="${2:-2}"
size="${3:-512}"
repeats="${4:-5}"
shared="${RIP_SHARED_DIR:-$root/../shared}"
harness="$root/tests/data/sd/harness_python.sh"

weights="$(mktemp -d)"
trap 'rm -rf "$weights"' EXIT
cp "$root/tests/data/lpips/alexnet.pth" "$root/tests/data/lpips/squeezenet1_1.pth" "$weights/"
cp "$shared"/data/lpips/weights/v0.1/{alex,vgg,squeeze}.pth "$weights/"
# The synthetic VGG16 of the parity tests (59 MB), as safetensors.
OMP_NUM_THREADS=1 "$harness" -c "
import sys; sys.path.insert(0, '$root/tests/data/lpips')
import numpy as np, torch, synthetic_vgg16
from safetensors.torch import save_file
save_file({k: torch.from_numpy(v) for k, v in synthetic_vgg16.state_dict().items()}, '$weights/vgg16.safetensors')
"

export OMP_NUM_THREADS="$threads" HARNESS_THREADS="$threads"
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }
printf '%-8s %9s %8s %18s %18s %7s %22s\n' net size threads \
  "gst-rip pairs/s" "lpips pairs/s" ratio "gst-rip cached-ref f/s"
for net in alex vgg squeeze; do
  # Interleaved, best of two rounds each, to damp other load on the machine.
  ours=0 ref=0 cached=0
  for round in 1 2; do
    o="$("$build/bench/bench-lpips" "$weights" --net $net --size "$size" \
      --repeats "$repeats" --threads "$threads")"
    r="$("$harness" "$root/bench/bench_lpips_reference.py" "$weights" $net \
      "$size" "$repeats" "$threads" 2>/dev/null | grep RESULT)"
    ours="$(printf '%s\n%s\n' "$ours" "$(echo "$o" | field pairs_per_s)" | sort -g | tail -1)"
    cached="$(printf '%s\n%s\n' "$cached" "$(echo "$o" | field frames_per_s_cached_reference)" | sort -g | tail -1)"
    ref="$(printf '%s\n%s\n' "$ref" "$(echo "$r" | field pairs_per_s)" | sort -g | tail -1)"
    d_ours="$(echo "$o" | field distance)" d_ref="$(echo "$r" | field distance)"
  done
  printf '%-8s %9s %8s %18s %18s %7s %22s   (distance %s vs %s)\n' $net "${size}x$size" \
    "$threads" "$ours" "$ref" "$(echo "scale=2; $ours / $ref" | bc)" "$cached" "$d_ours" "$d_ref"
done
