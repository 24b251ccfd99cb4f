#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# A contact sheet like the study's figures: the seed and every k-th
# iteration in a grid, captioned with the share inpainted and SSIM.
#
#   pipelines/contact-sheet.sh [IMAGE] [OUT-FOLDER] [ITERATIONS] [MASK-SIZE] [EVERY]
set -euo pipefail
here="$(dirname "$0")"
source "$here/env.sh"
image="${1:-$RIP_DEFAULT_IMAGE}"
out="${2:-sheet}"
iterations="${3:-64}"
size="${4:-128}"
every="${5:-8}"
"$here/record-png.sh" "$image" "$out/frames" "$iterations" "$size"
"$here/../tools/rip-contact-sheet" --frames "$out/frames" \
  --csv "$out/frames/metrics.csv" --every "$every" --metric ssim \
  --out "$out/contact-sheet.png"
