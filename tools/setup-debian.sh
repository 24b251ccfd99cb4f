#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Installs what gst-rip needs from Debian 12's packages (only what is
# missing) and builds it into build/. Used by demo.sh and test.sh; safe to
# run again.
#
#   tools/setup-debian.sh          runtime + build dependencies
#   tools/setup-debian.sh --tests  also what the tests need
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  meson ninja-build pkg-config g++
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly
  libopencv-dev libopencv-contrib-dev opencv-doc
  # Stable Diffusion and LPIPS in C++ (CPU build of libtorch 1.13).
  libtorch-dev nlohmann-json3-dev
  # oneDNN's headers, for the Winograd convolutions libtorch never asks its
  # own oneDNN (the same libdnnl.so.2) for: 0.4x the time of the large ones.
  libdnnl-dev
  # libtorch uses whatever libblas.so.3 is selected; the reference BLAS is
  # ~40x slower than OpenBLAS for the models' matrix products, and OpenBLAS's
  # OpenMP build shares libtorch's thread pool (the pthreads build fights it:
  # 1.7x slower on 2 cores). Selected below.
  libopenblas0-openmp
  python3-gi gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0
  python3-matplotlib python3-numpy
)
if [[ "${1:-}" == "--tests" ]]; then
  # chromium: the rip-study-report test opens the HTML report headless;
  # strace: rip-study-sd counts how often the model is read;
  # clang-format: the format test checks the code style (.clang-format);
  # slurm-wlm, munge: the slurm test runs the documented sbatch script;
  # gstreamer1.0-plugins-base-apps, gstreamer1.0-libav: the interrupt test
  # reads the recording with gst-discoverer-1.0, which decodes its H.264.
  packages+=(libgtest-dev chromium strace clang-format slurm-wlm munge
    gstreamer1.0-plugins-base-apps gstreamer1.0-libav)
fi

missing=()
for p in "${packages[@]}"; do
  [[ "$p" == \#* ]] && continue
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$p")
  fi
done
# Runs a command as root: directly when we are, else through sudo. $1 says
# what it is for, in the error when neither is possible.
as_root() {
  local what="$1"; shift
  if [[ $(id -u) -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null; then
    sudo "$@"
  else
    echo "gst-rip: need root (or sudo) to $what" >&2
    exit 1
  fi
}

if (( ${#missing[@]} )); then
  echo "gst-rip: installing ${missing[*]}"
  as_root "install: ${missing[*]}" apt-get update -qq
  as_root "install: ${missing[*]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Select OpenBLAS's OpenMP build for libblas.so.3, liblapack.so.3 and
# libopenblas.so.0 (the other two link the third: all three must agree) unless
# the administrator chose another by hand (manual mode pointing elsewhere).
multiarch="$(gcc -dumpmachine)"
openmp_dir="/usr/lib/$multiarch/openblas-openmp"
for lib in libblas.so.3 libopenblas.so.0 liblapack.so.3; do
  name="$lib-$multiarch"
  query="$(update-alternatives --query "$name" 2>/dev/null || true)"
  status="$(sed -n 's/^Status: //p' <<<"$query")"
  value="$(sed -n 's/^Value: //p' <<<"$query")"
  [[ "$value" == "$openmp_dir/$lib" || ! -e "$openmp_dir/$lib" ]] && continue
  if [[ "$status" == manual ]]; then
    echo "gst-rip: $name is set by hand to $value; leaving it (docs/building.md: BLAS)" >&2
    continue
  fi
  echo "gst-rip: selecting $openmp_dir/$lib for $lib"
  as_root "select $openmp_dir/$lib" update-alternatives --set "$name" "$openmp_dir/$lib" >/dev/null
done

if [[ ! -f build/build.ninja ]]; then
  meson setup build >/dev/null
fi
meson compile -C build >/dev/null || meson compile -C build
