#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The loop's description builder (tools/rip_pipeline.py), as rip-run and
rip-study call it: the exact strings, since both tools' pipelines, study.json
and the resume check depend on them.

  test_rip_pipeline.py SOURCE_ROOT
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.join(sys.argv.pop(1) if len(sys.argv) > 1
                                else os.getcwd(), "tools"))
import rip_pipeline  # noqa: E402


class LoopDescription(unittest.TestCase):

    def test_rip_run(self):
        # rip-run --image '/a b/c"d.jpg' --size 64 --frames, into out/
        self.assertEqual(rip_pipeline.loop_description(
            channel="rip-run-1", image='/a b/c"d.jpg', width=512, height=512,
            fit="pad", iterations=256, framerate="8/1", timeout_ms=300000,
            mask_mode="random", mask_size=64, seed=0,
            inpainter="cvinpaint method=telea", metrics="ssim,ms-ssim,psnr",
            csv="out/metrics.csv", video="out/recursion.mp4",
            frames="out/frames/iter_%05d.png"),
            'feedbacksrc channel=rip-run-1 location="/a b/c\\"d.jpg" '
            'width=512 height=512 fit=pad iterations=256 framerate=8/1 '
            'timeout=300000 ! masksampler mode=random size=64 seed=0 '
            '! cvinpaint method=telea ! tee name=t '
            't. ! queue ! feedbacksink channel=rip-run-1 '
            't. ! queue ! lpipsmeter metrics=ssim,ms-ssim,psnr '
            'location="out/metrics.csv" overlay=true ! videoconvert ! '
            'video/x-raw,format=I420 ! x264enc ! mp4mux ! filesink location="out/recursion.mp4" '
            't. ! queue ! pngenc ! multifilesink '
            'location="out/frames/iter_%05d.png"')

    def test_rip_run_no_video(self):
        self.assertEqual(rip_pipeline.loop_description(
            channel="c", image="i.png", width=256, height=128, fit="crop",
            iterations=3, framerate="4/1", timeout_ms=0, mask_mode="sweep",
            mask_size=128, seed=7, inpainter="sdinpaint model=/m steps=2",
            metrics="psnr", csv="m.csv"),
            'feedbacksrc channel=c location="i.png" width=256 height=128 '
            'fit=crop iterations=3 framerate=4/1 timeout=0 ! masksampler '
            'mode=sweep size=128 seed=7 ! sdinpaint model=/m steps=2 ! tee '
            'name=t t. ! queue ! feedbacksink channel=c t. ! queue ! '
            'lpipsmeter metrics=psnr location="m.csv" ! fakesink sync=false')

    def test_rip_study(self):
        # One run of a study: named source, LPIPS weights, kept frames
        # through a named queue, an sdinpaint fragment from the spec.
        sd = rip_pipeline.element("sdinpaint", [
            ("model", "/models/sd2"), ("negative-prompt", "blurry"),
            ("guidance-scale", 7.5), ("seed", 1), ("paste-back", False)])
        self.assertEqual(sd, 'sdinpaint model="/models/sd2" '
                         'negative-prompt="blurry" guidance-scale="7.5" '
                         'seed="1" paste-back="false"')
        self.assertEqual(rip_pipeline.loop_description(
            channel="rip-study-9-1", image="/img/baboon.jpg", width=256,
            height=256, fit="pad", iterations=16, timeout_ms=3600000,
            mask_mode="random", mask_size=64, seed=1, inpainter=sd,
            metrics=["ssim", "lpips-alex"], csv="/w/r/metrics.csv",
            source_name="feedbacksrc", lpips_weights="/lp",
            frames="/w/r/frames/k_%05d.png", frames_queue="keep"),
            'feedbacksrc name=feedbacksrc channel=rip-study-9-1 '
            'location="/img/baboon.jpg" width=256 height=256 fit=pad '
            'iterations=16 timeout=3600000 ! masksampler mode=random '
            'size=64 seed=1 ! sdinpaint model="/models/sd2" '
            'negative-prompt="blurry" guidance-scale="7.5" seed="1" '
            'paste-back="false" ! tee name=t t. ! queue ! feedbacksink '
            'channel=rip-study-9-1 t. ! queue ! lpipsmeter '
            'metrics=ssim,lpips-alex location="/w/r/metrics.csv" '
            'weights="/lp" ! fakesink sync=false t. ! queue name=keep ! '
            'pngenc ! multifilesink location="/w/r/frames/k_%05d.png"')

    def test_bare_element(self):
        self.assertEqual(rip_pipeline.element(
            "cvinpaint", [("method", "ns"), ("radius", 3.0)], quoted=False),
            "cvinpaint method=ns radius=3.0")


if __name__ == "__main__":
    unittest.main(verbosity=2)
