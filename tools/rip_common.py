# SPDX-License-Identifier: LGPL-2.1-or-later
"""Helpers shared by the gst-rip tools (rip-run, rip-plot, rip-study).

Kept in one module so that the iteration count, GStreamer quoting and metric
labels mean the same thing in every tool. The tools find it next to
themselves (they put their own folder first on sys.path), in the source tree
and where meson installs them.
"""

import math

# lpipsmeter CSV columns that are not metrics (docs/measurements.md).
FIXED_COLUMNS = ["iteration", "inpainted_fraction", "mask_x", "mask_y",
                 "mask_width", "mask_height"]

# Axis labels of the metrics lpipsmeter knows, in its order.
METRIC_LABELS = {"ssim": "SSIM", "ms-ssim": "MS-SSIM", "psnr": "PSNR (dB)",
                 "lpips-alex": "LPIPS (AlexNet)", "lpips-vgg": "LPIPS (VGG)",
                 "lpips-squeeze": "LPIPS (SqueezeNet)"}

PLUGIN_HINT = ("Run inside `meson devenv -C build` or after `meson install`, "
               "or set GST_PLUGIN_PATH to the build's plugins/ folder.")


def iteration_count(share, width, height, mask_size):
    """Iterations that inpaint `share` of a width x height frame (4.0 = 400 %).

    Each iteration repaints one mask_size² cell, so the count is the share
    times the cells per frame, rounded up; the epsilon keeps 4.0 on 512x512
    with 128 px masks at exactly 64 rather than 65 after float rounding.
    """
    return math.ceil(share * width * height / (mask_size * mask_size) - 1e-9)


def quote(value):
    """Quote a property value for gst_parse_launch (GStreamer's own quoting:
    double quotes, backslash escapes)."""
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def missing_elements(gst, names):
    """The element factories among `names` that GStreamer cannot find."""
    return [e for e in names if gst.ElementFactory.find(e) is None]


def enum_nicks(pspec):
    """An enum property's choices by nick, in value order; None if the
    property is not an enum."""
    if pspec is None or pspec.value_type.fundamental.name != "GEnum":
        return None
    return [v.value_nick for _, v in
            sorted(pspec.enum_class.__enum_values__.items())]


def bus_error_text(msg):
    """One readable line (plus the debug detail's last line) of an ERROR
    message: 'element: message'."""
    err, debug = msg.parse_error()
    text = f"{msg.src.get_name()}: {err.message}"
    if debug:
        text += f" ({debug.splitlines()[-1]})"
    return text
