#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Remakes everything in tests/data/lpips (see PROVENANCE.md) with the
# reference harness (shared/tools/refharness, set up by its setup.sh).
# Usage: tests/data/lpips/make_goldens.sh [SHARED_DIR]   (default ../shared)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
shared="${1:-$here/../../../../shared}"
ref="${REFHARNESS:-$shared/tools/refharness}/ref"
export HARNESS_THREADS=1 OMP_NUM_THREADS=1
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# Random torchvision backbones, torchvision's init, features.* only, written
# with torch.save (zip format) as torchvision's own checkpoints are.
# Also the v0.1 lin weights as safetensors (lin_v0.1_<net>.safetensors).
"$ref" make-lpips-backbones "$tmp" --seed 1 --features-only >/dev/null
cp "$tmp/alexnet.pth" "$tmp/squeezenet1_1.pth" "$tmp"/lin_v0.1_*.safetensors "$here/"
# The v0.0 lin weights: byte copies from the lpips sources the harness
# extracted (PerceptualSimilarity v0.1.4, BSD-2-Clause).
cache="${HARNESS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rip-refharness}"
mkdir -p "$here/lin_v0.0"
cp "$cache"/src/PerceptualSimilarity/lpips/weights/v0.0/{alex,vgg,squeeze}.pth "$here/lin_v0.0/"
"$here/../sd/harness_python.sh" "$here/make_goldens.py" "$shared"
