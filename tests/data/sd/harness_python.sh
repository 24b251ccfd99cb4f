#!/usr/bin/env bash
# Run /usr/bin/python3 inside the reference harness environment
# (shared/tools/refharness, set up by its setup.sh): exactly the environment the
# harness's own `ref` wrapper creates (PYTHONPATH = safetensors shim + import tree
# of the pinned diffusers/transformers/huggingface_hub/lpips sources, offline
# mode, caches inside $HARNESS_CACHE), plus the harness folder itself so that
# scripts can `import ref as H` to reuse its helpers (H.setup_torch() applies the
# torch-1.13 baddbmm(beta=0) workaround and the thread count,
# H.patch_addedtoken_fallback() makes CLIPTokenizer constructible).
#
# Usage: tests/data/sd/harness_python.sh SCRIPT.py [ARGS...]   (or -c '...')
# Env:   REFHARNESS (default ../shared/tools/refharness beside the checkout),
#        HARNESS_CACHE (default ~/.cache/rip-refharness),
#        HARNESS_THREADS / OMP_NUM_THREADS (default 4, as in `ref`).
set -euo pipefail
REFHARNESS="${REFHARNESS:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)/../shared/tools/refharness}"
export HARNESS_CACHE="${HARNESS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rip-refharness}"
if [[ ! -d "$HARNESS_CACHE/site" ]]; then
  echo "harness_python.sh: $HARNESS_CACHE/site missing; run $REFHARNESS/setup.sh first" >&2
  exit 2
fi
export PYTHONPATH="$REFHARNESS/shim:$HARNESS_CACHE/site:$REFHARNESS${HARNESS_EXTRA_PYTHONPATH:+:$HARNESS_EXTRA_PYTHONPATH}"
export PYTHONNOUSERSITE=1
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1
export HF_HUB_DISABLE_TELEMETRY=1 DISABLE_TELEMETRY=1 HF_HUB_DISABLE_PROGRESS_BARS=1
export HF_HOME="$HARNESS_CACHE/hf_home" TORCH_HOME="$HARNESS_CACHE/torch_home"
export DIFFUSERS_NO_ADVISORY_WARNINGS=1 TRANSFORMERS_NO_ADVISORY_WARNINGS=1
export PYTHONDONTWRITEBYTECODE=1 PYTHONHASHSEED=0
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-4}"
exec /usr/bin/python3 "$@"
