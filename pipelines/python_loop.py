#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The RIP loop driven from Python through PyGObject.

Builds feedbacksrc ! masksampler ! cvinpaint ! tee -> feedbacksink / lpipsmeter,
reads lpipsmeter's element messages from the bus and prints one line per
iteration. Run it with Debian's Python (/usr/bin/python3 has python3-gi):

  pipelines/python_loop.py [IMAGE] [ITERATIONS]
"""
import os
import sys

import gi

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402

image = (sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] else
         "/usr/share/doc/opencv-doc/examples/data/starry_night.jpg")
iterations = int(sys.argv[2]) if len(sys.argv) > 2 else 16

Gst.init(None)
build_plugins = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                             "..", "build", "plugins")
if Gst.ElementFactory.find("feedbacksrc") is None and os.path.isdir(build_plugins):
    Gst.Registry.get().scan_path(build_plugins)  # uninstalled build
if Gst.ElementFactory.find("feedbacksrc") is None:
    sys.exit("gst-rip elements not found: set GST_PLUGIN_PATH=build/plugins "
             "or run inside `meson devenv -C build`")

# Elements can also be made one by one with Gst.ElementFactory.make; a
# description string is shorter. Property values are typed as in gst-launch.
src = Gst.ElementFactory.make("feedbacksrc")
src.set_property("channel", "py")
src.set_property("location", image)
src.set_property("iterations", iterations)
rest = Gst.parse_bin_from_description(
    "masksampler size=128 seed=1 ! cvinpaint ! tee name=t "
    "t. ! queue ! feedbacksink channel=py "
    "t. ! queue ! lpipsmeter metrics=ssim,psnr ! fakesink sync=false", True)
pipeline = Gst.Pipeline.new("rip")
pipeline.add(src)
pipeline.add(rest)
src.link(rest)

bus = pipeline.get_bus()
pipeline.set_state(Gst.State.PLAYING)
rows = 0
while True:
    msg = bus.timed_pop_filtered(
        Gst.CLOCK_TIME_NONE,
        Gst.MessageType.ELEMENT | Gst.MessageType.EOS | Gst.MessageType.ERROR)
    if msg.type == Gst.MessageType.ERROR:
        err, debug = msg.parse_error()
        pipeline.set_state(Gst.State.NULL)
        sys.exit(f"error from {msg.src.get_name()}: {err.message}")
    if msg.type == Gst.MessageType.EOS:
        break
    s = msg.get_structure()
    if s.get_name() == "lpipsmeter":
        rows += 1
        print(f"iteration {s.get_value('iteration'):3d}  "
              f"{100 * s.get_value('inpainted-fraction'):5.1f}% inpainted  "
              f"ssim {s.get_value('ssim'):.4f}  psnr {s.get_value('psnr'):.2f}")
pipeline.set_state(Gst.State.NULL)
print(f"{rows} frames measured (seed + {rows - 1} iterations)")
