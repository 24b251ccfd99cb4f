#!/usr/bin/env python3
"""Write single-file (original CompVis/Stability layout) checkpoints of tiny-sd2 with the
reference converter, diffusers' scripts/convert_diffusers_to_original_stable_diffusion.py
(run from the harness's diffusers v0.31.0 source tree), into D/single/:

  tiny-sd2.fp16.safetensors   the script as a user runs it:
                                convert_diffusers_to_original_stable_diffusion.py
                                  --model_path D/tiny-sd2 --half --use_safetensors
                              The text encoder is written in CLIP-L's layout
                              (cond_stage_model.transformer.text_model.*): the script tells
                              SD2's OpenCLIP text encoder by its 23rd layer, which the tiny
                              model does not have.
  tiny-sd2-openclip.fp16.ckpt the same with the text encoder in SD2's OpenCLIP layout
                              (cond_stage_model.model.*: fused in_proj q/k/v, ln_1/ln_2,
                              mlp.c_fc/c_proj, positional_embedding), made by the script's own
                              functions as its __main__ does for a v2 model, saved as its
                              __main__ saves a .ckpt: torch.save({"state_dict": sd}).

  tiny-sd15.fp16.ckpt         the script on D/tiny-sd15 (SD 1.5-shaped: convolutional
                              projections, CLIP-L text encoder), --half, saved as a .ckpt.

--half rounds to float16 exactly as tiny-sd2-fp16's weights (make_fp16_variant.py checks
.half()), so both files hold tiny-sd2-fp16's values.

Then diffusers' own single-file loader on the .safetensors file, as a user calls it:
  pipe = StableDiffusionInpaintPipeline.from_single_file(FILE, config=D/tiny-sd2-fp16,
                                                         torch_dtype=torch.float32)
  pipe(prompt="", image=goldens/image.png, mask_image=goldens/mask.png,
       num_inference_steps=3, generator=torch.Generator().manual_seed(7))
saved as goldens/single_tiny-sd2_from_single_file.png, and the same for tiny-sd15.fp16.ckpt
with config=D/tiny-sd15 (goldens/single_tiny-sd15_from_single_file.png). (from_single_file cannot read the
tiny OpenCLIP .ckpt: without a text_projection tensor it splits in_proj as 1024 wide, SD 2's
width, not the tiny model's 32.) Prints a JSON report of the keys.

Run: tests/data/sd/harness_python.sh tests/data/sd/make_single_files.py D
"""
import importlib.util
import json
import os
import subprocess
import sys

import ref as H

H.patch_addedtoken_fallback()
torch = H.setup_torch()
from safetensors.torch import load_file  # noqa: E402

CACHE = os.environ.get("HARNESS_CACHE", os.path.expanduser("~/.cache/rip-refharness"))
SCRIPT = os.path.join(CACHE, "src", "diffusers", "scripts",
                      "convert_diffusers_to_original_stable_diffusion.py")


def main():
    d = sys.argv[1]
    out = os.path.join(d, "single")
    os.makedirs(out, exist_ok=True)
    model = os.path.join(d, "tiny-sd2")
    st = os.path.join(out, "tiny-sd2.fp16.safetensors")
    subprocess.run([sys.executable, SCRIPT, "--model_path", model, "--checkpoint_path", st,
                    "--half", "--use_safetensors"], check=True, stdout=subprocess.DEVNULL)

    sd15 = os.path.join(out, "tiny-sd15.fp16.ckpt")
    subprocess.run([sys.executable, SCRIPT, "--model_path", os.path.join(d, "tiny-sd15"),
                    "--checkpoint_path", sd15, "--half"], check=True, stdout=subprocess.DEVNULL)

    spec = importlib.util.spec_from_file_location("convert", SCRIPT)
    conv = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conv)  # defines the maps; __main__ does not run
    unet = conv.convert_unet_state_dict(load_file(os.path.join(model, "unet", "diffusion_pytorch_model.safetensors")))
    vae = conv.convert_vae_state_dict(load_file(os.path.join(model, "vae", "diffusion_pytorch_model.safetensors")))
    text = load_file(os.path.join(model, "text_encoder", "model.safetensors"))
    text = conv.convert_text_enc_state_dict_v20({"transformer." + k: v for k, v in text.items()})
    sd = {**{"model.diffusion_model." + k: v for k, v in unet.items()},
          **{"first_stage_model." + k: v for k, v in vae.items()},
          **{"cond_stage_model.model." + k: v for k, v in text.items()}}
    sd = {k: v.half() for k, v in sd.items()}
    ckpt = os.path.join(out, "tiny-sd2-openclip.fp16.ckpt")
    torch.save({"state_dict": sd}, ckpt)

    report = {}
    for path in (st, ckpt, sd15):
        keys = load_file(path) if path.endswith(".safetensors") else torch.load(path)["state_dict"]
        report[os.path.basename(path)] = {
            "tensors": len(keys),
            "text_keys": sorted(k for k in keys if k.startswith("cond_stage_model."))[:6],
            "bytes": os.path.getsize(path)}
    from diffusers import StableDiffusionInpaintPipeline
    from diffusers.utils import load_image
    g = os.path.join(d, "goldens")
    report["from_single_file"] = {}
    for path, config, golden in ((st, "tiny-sd2-fp16", "single_tiny-sd2_from_single_file.png"),
                                 (sd15, "tiny-sd15", "single_tiny-sd15_from_single_file.png")):
        pipe = StableDiffusionInpaintPipeline.from_single_file(
            path, config=os.path.join(d, config), safety_checker=None,
            requires_safety_checker=False, torch_dtype=torch.float32)
        pipe.set_progress_bar_config(disable=True)
        image = pipe(prompt="", image=load_image(os.path.join(g, "image.png")),
                     mask_image=load_image(os.path.join(g, "mask.png")), num_inference_steps=3,
                     generator=torch.Generator().manual_seed(7)).images[0]
        image.save(os.path.join(g, golden))
        report["from_single_file"][golden] = {
            "scheduler": type(pipe.scheduler).__name__,
            "text_layers": pipe.text_encoder.config.num_hidden_layers}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
