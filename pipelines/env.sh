# SPDX-License-Identifier: LGPL-2.1-or-later
# Sourced by the pipeline scripts: finds the uninstalled plugin in build/
# when GStreamer does not already know the rip elements.
_here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if ! gst-inspect-1.0 feedbacksrc >/dev/null 2>&1 && [[ -d "$_here/../build/plugins" ]]; then
  export GST_PLUGIN_PATH="$_here/../build/plugins${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
fi
if ! gst-inspect-1.0 feedbacksrc >/dev/null 2>&1; then
  echo "the gst-rip elements are not installed: run 'meson install -C build'," \
       "build into build/, or set GST_PLUGIN_PATH" >&2
  exit 1
fi
RIP_DEFAULT_IMAGE=/usr/share/doc/opencv-doc/examples/data/starry_night.jpg
