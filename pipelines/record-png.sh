#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Every iteration as a lossless PNG (iter_00000.png is the seed) and the CSV.
#
#   pipelines/record-png.sh [IMAGE] [OUT-FOLDER] [ITERATIONS] [MASK-SIZE]
set -euo pipefail
source "$(dirname "$0")/env.sh"
image="${1:-$RIP_DEFAULT_IMAGE}"
out="${2:-frames}"
iterations="${3:-64}"
size="${4:-128}"
mkdir -p "$out"
gst-launch-1.0 -e \
  feedbacksrc channel=png location="$image" iterations="$iterations" \
  ! masksampler size="$size" seed=0 ! cvinpaint \
  ! tee name=t \
  t. ! queue ! feedbacksink channel=png \
  t. ! queue ! lpipsmeter metrics=ssim,ms-ssim,psnr location="$out/metrics.csv" \
     ! pngenc ! multifilesink location="$out/iter_%05d.png"
