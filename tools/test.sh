#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Installs what is missing, builds, runs every test and ends with the line
# "N passed, N failed" (individual checks: gst-check and GoogleTest cases,
# plus one per script test).
#
#   tools/test.sh [MESON-TEST-ARGS...]
#   tools/test.sh --sanitize [MESON-TEST-ARGS...]
#
# --sanitize builds a second tree (build-sanitize/, or RIP_SANITIZE_BUILD)
# with AddressSanitizer and UndefinedBehaviorSanitizer and runs the whole
# suite in it. Any sanitizer report fails its test. Leaks are checked in our
# own test programs, minus the memory that GLib and the system libraries
# GStreamer's registry scan loads keep by design, which
# tools/sanitize/lsan.supp lists with its reasons. The script tests run
# Python, bash and gst-launch-1.0, which are not instrumented; there ASan is
# preloaded and checks memory errors, not leaks. docs/reliability.md has the
# last result.
set -uo pipefail
cd "$(dirname "$0")/.."
sanitize=0
if [[ "${1:-}" == "--sanitize" ]]; then
  sanitize=1
  shift
fi
tools/setup-debian.sh --tests || exit 1
if ((!sanitize)); then
  meson test -C build --print-errorlogs --num-processes 1 "$@"
  status=$?
  /usr/bin/python3 tools/test-summary build/meson-logs/testlog.json || status=1
  exit $status
fi

build="${RIP_SANITIZE_BUILD:-build-sanitize}"
if [[ ! -f "$build/build.ninja" ]]; then
  meson setup "$build" -Db_sanitize=address,undefined -Db_lundef=false >/dev/null || exit 1
fi
meson compile -C "$build" >/dev/null || meson compile -C "$build" || exit 1
supp="$PWD/tools/sanitize/lsan.supp"
# halt_on_error: the first report ends the program, so its test fails.
# fast_unwind_on_malloc=0: whole stacks through GLib and libtorch, which are
# built without frame pointers, so the suppressions can match them.
common="halt_on_error=1:abort_on_error=0:exitcode=66:detect_odr_violation=0:fast_unwind_on_malloc=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:exitcode=66"
export LSAN_OPTIONS="suppressions=$supp:print_suppressions=0"
# The elements' tests run in gst-check's forked children, and GStreamer
# loads plugins in a forked gst-plugin-scanner, which is not instrumented:
# one process keeps every report in the test's log and the plugin loaded
# where ASan's runtime is.
export CK_FORK=no GST_REGISTRY_FORK=no
# OpenCV 4.6's xphoto shiftmap reads past a buffer (docs/elements.md); what
# ASan's allocator leaves there changes its result, so the check that the
# hole's old content does not matter cannot hold for shiftmap here.
export GTEST_FILTER="-*HoleContentIsIgnored/shiftmap"
status=0
ASAN_OPTIONS="$common:detect_leaks=1" \
  meson test -C "$build" --print-errorlogs --num-processes 1 --no-suite scripts \
  --logbase sanitize-programs "$@" || status=1
preload="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)"
# Every script test but slurm: it starts munged and Slurm's daemons, which
# would run with the runtime preloaded too (and coreutils' dd trips its
# aligned_alloc check); its rip-study runs are the rip-study tests' own.
mapfile -t scripts < <(meson test -C "$build" --list --suite scripts 2>/dev/null |
  grep " / " | sed 's|.* / ||' | grep -vx slurm)
# Everything under the preloaded runtime runs slower (clang-format in the
# format test took 30 s on a slow VM, its limit): three times the limits.
ASAN_OPTIONS="$common:detect_leaks=0:verify_asan_link_order=0" LD_PRELOAD="$preload" \
  meson test -C "$build" --print-errorlogs --num-processes 1 --no-rebuild --timeout-multiplier 3 \
  --logbase sanitize-scripts "$@" "${scripts[@]}" || status=1
/usr/bin/python3 tools/test-summary "$build/meson-logs/sanitize-programs.json" \
  "$build/meson-logs/sanitize-scripts.json" || status=1
exit $status
