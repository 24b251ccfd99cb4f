#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Script-level tests: the ready pipelines, the Python example and the tools,
# run as a user runs them, in a temporary folder. One case per call:
#   run_case.sh CASE
set -euo pipefail
root="${RIP_SOURCE_ROOT:?}"
image=/usr/share/doc/opencv-doc/examples/data/starry_night.jpg
if [[ ! -f "$image" ]]; then
  echo "SKIP: $image missing (install opencv-doc)"
  exit 77
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"

fail() { echo "FAIL: $*" >&2; exit 1; }

count_mp4_frames() {
  gst-launch-1.0 filesrc location="$1" ! qtdemux ! fakesink silent=false -v 2>&1 \
    | grep -c "last-message = chain" || true
}

case "$1" in
  record-mp4)
    "$root/pipelines/record-mp4.sh" "$image" run.mp4 6 >/dev/null
    n=$(count_mp4_frames run.mp4)
    [[ "$n" == 7 ]] || fail "run.mp4 has $n frames, expected seed + 6 = 7"
    [[ $(wc -l < run.csv) == 8 ]] || fail "run.csv has $(wc -l < run.csv) lines"
    ;;
  record-png)
    "$root/pipelines/record-png.sh" "$image" frames 5 64 >/dev/null
    n=$(ls frames/iter_*.png | wc -l)
    [[ "$n" == 6 ]] || fail "$n PNG frames, expected 6"
    head -1 frames/metrics.csv | grep -qx \
      "iteration,inpainted_fraction,mask_x,mask_y,mask_width,mask_height,ssim,ms-ssim,psnr" \
      || fail "bad CSV header"
    ;;
  contact-sheet)
    "$root/pipelines/contact-sheet.sh" "$image" sheet 8 128 4 >/dev/null
    [[ -s sheet/contact-sheet.png ]] || fail "no contact sheet"
    ;;
  python-example)
    out=$(/usr/bin/python3 "$root/pipelines/python_loop.py" "$image" 5)
    echo "$out"
    grep -q "6 frames measured (seed + 5 iterations)" <<<"$out" || fail "wrong count"
    [[ $(grep -c "^iteration" <<<"$out") == 6 ]] || fail "not one line per frame"
    ;;
  rip-run)
    /usr/bin/python3 "$root/tools/rip-run" --image "$image" --out out \
      --iterations 6 --size 64 --frames
    for f in recursion.mp4 metrics.csv drift.png drift.svg run.json \
             frames/iter_00006.png; do
      [[ -s "out/$f" ]] || fail "rip-run did not write $f"
    done
    [[ $(count_mp4_frames out/recursion.mp4) == 7 ]] || fail "MP4 frame count"
    [[ $(wc -l < out/metrics.csv) == 8 ]] || fail "CSV rows"
    ;;
  rip-run-errors)
    if out=$(/usr/bin/python3 "$root/tools/rip-run" --image nope.png 2>&1); then
      fail "missing image accepted"
    fi
    grep -q "'nope.png' does not exist" <<<"$out" || fail "unclear: $out"
    if out=$(/usr/bin/python3 "$root/tools/rip-run" --image "$image" --out o \
        --iterations 2 --method bogus --no-plot 2>&1); then
      fail "bogus method accepted"
    fi
    grep -q "unknown inpainting method 'bogus'" <<<"$out" || fail "unclear: $out"
    printf 'a,b\n1,2\n' > bad.csv
    if out=$(/usr/bin/python3 "$root/tools/rip-plot" bad.csv 2>&1); then
      fail "rip-plot accepted a non-lpipsmeter CSV"
    fi
    grep -q "not an lpipsmeter CSV" <<<"$out" || fail "unclear: $out"
    ;;
  install)
    # meson install puts the plugin where GStreamer looks (its pluginsdir).
    DESTDIR="$work/root" meson install -C "${RIP_BUILD_ROOT:?}" --no-rebuild >/dev/null
    dir="$work/root$(pkg-config --variable=pluginsdir gstreamer-1.0)"
    [[ -f "$dir/libgstrip.so" ]] || fail "libgstrip.so not installed into $dir"
    for e in feedbacksrc feedbacksink masksampler cvinpaint lpipsmeter; do
      GST_PLUGIN_PATH_1_0="$dir" GST_REGISTRY_1_0="$work/reg.bin" \
        gst-inspect-1.0 "$e" >/dev/null || fail "installed plugin lacks $e"
    done
    [[ -x "$work/root/usr/local/bin/rip-run" ]] || fail "rip-run not installed"
    ;;
  rip-inpaint)
    cli="${RIP_BUILD_ROOT:?}/tools/rip-inpaint"
    [[ -x "$cli" ]] || { echo "SKIP: rip-inpaint not built (no libtorch)"; exit 77; }
    g="$root/tests/data/sd/goldens"
    OMP_NUM_THREADS=1 "$cli" --model "$root/tests/data/sd/tiny-sd2" --image "$g/image.png" \
      --mask "$g/mask.png" --out out.png --steps 10 --seed 42 --no-paste-back \
      --height 64 --width 64 --quiet
    /usr/bin/python3 - "$g/inpaint_sd2_empty.png" out.png <<'PY' || fail "rip-inpaint differs from diffusers"
import sys
import numpy as np
from PIL import Image
a, b = (np.asarray(Image.open(p)).astype(int) for p in sys.argv[1:3])
d = np.abs(a - b)
print("max diff", d.max(), "share off", (d > 0).mean())
sys.exit(0 if a.shape == b.shape and d.max() <= 1 and (d > 0).mean() < 0.01 else 1)
PY
    if out=$("$cli" --model "$root/tests/data/sd/tiny-sd2" --image nope.png \
        --mask nope.png --out x.png 2>&1); then fail "missing image accepted"; fi
    grep -q "nope.png' does not exist" <<<"$out" || fail "unclear: $out"
    if out=$("$cli" --image a 2>&1); then fail "missing --model accepted"; fi
    grep -q "are required" <<<"$out" || fail "unclear: $out"
    ;;
  doc-pipelines)
    /usr/bin/python3 "$root/tests/scripts/run_doc_pipelines.py" "$root"
    ;;
  doc-properties)
    /usr/bin/python3 "$root/tests/scripts/check_doc_properties.py" "$root"
    ;;
  *)
    fail "unknown case $1"
    ;;
esac
echo "PASS: $1"
