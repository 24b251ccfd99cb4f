#!/usr/bin/env python3
"""diffusers' inpainting pipeline run in bf16 on the CPU, as a user asks for it:

    pipe = StableDiffusionInpaintPipeline.from_pretrained(MODEL, torch_dtype=torch.bfloat16)

on the same image, mask, seed and settings as the fp32 goldens (10 steps,
guidance 7.5, seed 42). Writes GOLDENS/inpaint_sd2_<case>_bf16.png.

The harness's own `inpaint` subcommand cannot do this: it loads in fp32 and
saves the latents with numpy, which has no bf16.

Run: tests/data/sd/harness_python.sh tests/data/sd/make_bf16_goldens.py MODEL GOLDENS
"""
import json
import os
import sys

import ref as H

H.patch_addedtoken_fallback()
torch = H.setup_torch()

from diffusers import StableDiffusionInpaintPipeline  # noqa: E402
from diffusers.utils import load_image  # noqa: E402

CASES = {
    "empty": dict(prompt=""),
    "cfg": dict(prompt="a painting of a starry night", negative_prompt="blurry"),
}


def main():
    model, goldens = sys.argv[1], sys.argv[2]
    pipe = StableDiffusionInpaintPipeline.from_pretrained(model, torch_dtype=torch.bfloat16)
    pipe.set_progress_bar_config(disable=True)
    image = load_image(os.path.join(goldens, "image.png"))
    mask = load_image(os.path.join(goldens, "mask.png"))
    summary = {}
    for name, extra in CASES.items():
        result = pipe(image=image, mask_image=mask, num_inference_steps=10, guidance_scale=7.5,
                      generator=torch.Generator().manual_seed(42), **extra)
        out = os.path.join(goldens, "inpaint_sd2_%s_bf16.png" % name)
        result.images[0].save(out)
        summary[name] = H.sha256_file(out)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
