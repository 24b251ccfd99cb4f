#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The main job: install what is missing, build, and run a recursion of a
# painting with cvinpaint (128 px masks, 400 % inpainted = 64 iterations on
# 512x512), writing the MP4, the CSV and the plot into one folder.
#
#   tools/demo.sh [IMAGE] [OUTPUT-FOLDER] [rip-run options...]
#
# IMAGE defaults to Van Gogh's Starry Night from Debian's opencv-doc.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup-debian.sh
image="${1:-/usr/share/doc/opencv-doc/examples/data/starry_night.jpg}"
out="${2:-rip-output/$(basename "${image%.*}")}"
shift $(( $# > 2 ? 2 : $# ))
exec meson devenv -C build -w "$PWD" rip-run --image "$image" --out "$out" \
  --size 128 --inpaint 4.0 --frames "$@"
