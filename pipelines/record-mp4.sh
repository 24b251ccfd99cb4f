#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The recursion as an H.264 MP4 with the iteration, the share inpainted and
# the metrics burnt in, plus the per-iteration CSV.
#
#   pipelines/record-mp4.sh [IMAGE] [OUT.mp4] [ITERATIONS] [MASK-SIZE]
#
# Ctrl-C stops early and still leaves a playable MP4 (-e sends EOS).
set -euo pipefail
source "$(dirname "$0")/env.sh"
image="${1:-$RIP_DEFAULT_IMAGE}"
out="${2:-recursion.mp4}"
iterations="${3:-64}"
size="${4:-128}"
gst-launch-1.0 -e \
  feedbacksrc channel=mp4 location="$image" iterations="$iterations" framerate=8/1 \
  ! masksampler size="$size" seed=0 ! cvinpaint method=telea \
  ! tee name=t \
  t. ! queue ! feedbacksink channel=mp4 \
  t. ! queue ! lpipsmeter metrics=ssim,ms-ssim,psnr location="${out%.*}.csv" overlay=true \
     ! videoconvert ! video/x-raw,format=I420 ! x264enc ! mp4mux ! filesink location="$out"
