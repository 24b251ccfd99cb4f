#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Installs what is missing, builds, runs every test and ends with the line
# "N passed, N failed" (individual checks: gst-check and GoogleTest cases,
# plus one per script test).
set -uo pipefail
cd "$(dirname "$0")/.."
tools/setup-debian.sh --tests || exit 1
meson test -C build --print-errorlogs --num-processes 1 "$@"
status=$?
/usr/bin/python3 tools/test-summary build/meson-logs/testlog.json || status=1
exit $status
