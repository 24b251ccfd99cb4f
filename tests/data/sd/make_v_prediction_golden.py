#!/usr/bin/env python3
"""diffusers with the scheduler's prediction type overridden, the setting sdinpaint's
prediction-type (PipelineOptions::prediction_type) stands for:

  pipe = StableDiffusionInpaintPipeline.from_pretrained(D/tiny-sd2)
  pipe.scheduler = PNDMScheduler.from_config(pipe.scheduler.config, prediction_type="v_prediction")
  pipe(prompt="", image=goldens/image.png, mask_image=goldens/mask.png, num_inference_steps=3,
       generator=torch.Generator().manual_seed(7))

saved as goldens/inpaint_sd2_v_prediction.png.

Run: tests/data/sd/harness_python.sh tests/data/sd/make_v_prediction_golden.py D
"""
import os
import sys

import ref as H

H.patch_addedtoken_fallback()
torch = H.setup_torch()
from diffusers import PNDMScheduler, StableDiffusionInpaintPipeline  # noqa: E402
from diffusers.utils import load_image  # noqa: E402


def main():
    d = sys.argv[1]
    g = os.path.join(d, "goldens")
    pipe = StableDiffusionInpaintPipeline.from_pretrained(os.path.join(d, "tiny-sd2"))
    pipe.set_progress_bar_config(disable=True)
    pipe.scheduler = PNDMScheduler.from_config(pipe.scheduler.config, prediction_type="v_prediction")
    image = pipe(prompt="", image=load_image(os.path.join(g, "image.png")),
                 mask_image=load_image(os.path.join(g, "mask.png")), num_inference_steps=3,
                 generator=torch.Generator().manual_seed(7)).images[0]
    image.save(os.path.join(g, "inpaint_sd2_v_prediction.png"))
    print(pipe.scheduler.config.prediction_type)


if __name__ == "__main__":
    main()
