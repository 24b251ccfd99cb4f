# SPDX-License-Identifier: LGPL-2.1-or-later
"""The loop's gst-launch description, built in one place.

rip-run and rip-study run the same loop (docs/loop.md):

  feedbacksrc ! masksampler ! INPAINTER ! tee
    tee ! queue ! feedbacksink                 (the frame goes round)
    tee ! queue ! lpipsmeter ! fakesink | mp4  (measured, maybe recorded)
    tee ! queue ! pngenc ! multifilesink       (optional: frames as PNG)

and differ only in the branches they add. Building the string here keeps the
two from drifting apart. Pure string work: no GStreamer needed, so it is
unit-tested as it is (tests/scripts/test_rip_pipeline.py).
"""

from rip_common import quote


def element(factory, props=(), quoted=True):
    """`factory k=v ...` from (property, value) pairs, in their order.

    Values are quoted with GStreamer's quoting unless `quoted` is false;
    booleans are written true/false either way (gst_parse_launch's words).
    """
    words = [factory]
    for name, value in props:
        if isinstance(value, bool):
            value = "true" if value else "false"
        words.append(f"{name}={quote(value) if quoted else value}")
    return " ".join(words)


def loop_description(*, channel, image, width, height, fit, iterations,
                     timeout_ms, mask_mode, mask_size, seed, inpainter,
                     metrics, csv, framerate=None, source_name=None,
                     lpips_weights=None, video=None, frames=None,
                     frames_queue=None):
    """The whole loop as one gst_parse_launch description.

    channel      the feedback channel name (unique within the process)
    image        the seed image file; width, height, fit: the frame size
    iterations   loop length; timeout_ms: feedbacksrc's wait for a frame
    mask_mode, mask_size, seed: masksampler's settings
    inpainter    the inpainting element with its properties, a fragment
                 (e.g. `cvinpaint method=telea`, see element())
    metrics      lpipsmeter's metrics, a comma-separated string or a list
    csv          lpipsmeter's CSV file
    framerate    feedbacksrc's framerate (e.g. "8/1"); None: its default
    source_name  a name for feedbacksrc, to tell its errors apart
    lpips_weights  lpipsmeter's weights folder
    video        an MP4 file: the measured branch burns the numbers in
                 (lpipsmeter overlay) and records; None: it ends in a
                 fakesink
    frames       a multifilesink pattern (`.../iter_%05d.png`): a branch
                 that saves frames as PNG; frames_queue names its queue (to
                 attach a probe that picks the frames)
    """
    if not isinstance(metrics, str):
        metrics = ",".join(metrics)
    source = ([("name", source_name)] if source_name else []) + [
        ("channel", channel), ("location", quote(image)), ("width", width),
        ("height", height), ("fit", fit), ("iterations", iterations)] + (
        [("framerate", framerate)] if framerate is not None else []) + [
        ("timeout", timeout_ms)]
    meter = [("metrics", metrics), ("location", quote(csv))]
    if lpips_weights:
        meter.append(("weights", quote(lpips_weights)))
    measured = "t. ! queue ! " + element("lpipsmeter", meter, quoted=False)
    if video:
        # overlay burns the numbers into the recording only: the frame fed
        # back is a different buffer. I420: from RGB, x264enc would pick
        # High 4:4:4, which browsers and most players cannot decode.
        measured += (" overlay=true ! videoconvert ! video/x-raw,format=I420 "
                     "! x264enc ! mp4mux ! "
                     f"filesink location={quote(video)}")
    else:
        measured += " ! fakesink sync=false"
    branches = [f"t. ! queue ! feedbacksink channel={channel}", measured]
    if frames:
        queue = element("queue", [("name", frames_queue)] if frames_queue
                        else [], quoted=False)
        branches.append(f"t. ! {queue} ! pngenc ! multifilesink "
                        f"location={quote(frames)}")
    masks = element("masksampler", [("mode", mask_mode), ("size", mask_size),
                                    ("seed", seed)], quoted=False)
    return (f"{element('feedbacksrc', source, quoted=False)} ! {masks} "
            f"! {inpainter} ! tee name=t " + " ".join(branches))
