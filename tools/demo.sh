#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The main job: install what is missing, build, and run a small RIP study
# with rip-study (studies/demo.toml: three images from Debian's opencv-doc,
# cvinpaint Telea, 64/128/256 px masks, 200 % inpainted, SSIM, MS-SSIM and
# PSNR, three seeds on Starry Night), then draw its report and say where the
# HTML page is.
#
#   tools/demo.sh [SPEC] [OUTPUT-FOLDER] [rip-study run options...]
#
# Run it again to continue an interrupted study; finished runs are kept.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup-debian.sh
spec="${1:-studies/demo.toml}"
out="${2:-rip-output/$(basename "${spec%.*}")}"
shift $(( $# > 2 ? 2 : $# ))
study() { meson devenv -C build -w "$PWD" rip-study "$@"; }
study run "$spec" "$out" "$@"
study report "$out"
