# SPDX-License-Identifier: LGPL-2.1-or-later
"""Writes a diffusers folder with the FULL-SIZE stable-diffusion-2-inpainting
architecture and random weights, for timing (the real weights cannot be
downloaded here; speed does not depend on the values).

Run in the reference harness environment (tests/data/sd/PROVENANCE.md):
  tests/data/sd/harness_python.sh bench/make_full_size_sd2.py OUTDIR

The configs are the published ones (docs/models.md, sd2-inpaint-spec §1.3-1.5).
The tokenizer and scheduler come from the tiny test model (a 994-token BPE:
the text encoder's vocab_size follows it; the embedding table size does not
change the timing).
"""
import os
import shutil
import sys

import ref as H

H.patch_addedtoken_fallback()
torch = H.setup_torch()

from diffusers import AutoencoderKL, UNet2DConditionModel  # noqa: E402
from transformers import CLIPTextConfig, CLIPTextModel  # noqa: E402

out = sys.argv[1]
here = os.path.dirname(os.path.abspath(__file__))
tiny = os.path.join(here, "..", "tests", "data", "sd", "tiny-sd2")
torch.manual_seed(0)

unet = UNet2DConditionModel(
    act_fn="silu", attention_head_dim=[5, 10, 20, 20],
    block_out_channels=[320, 640, 1280, 1280], center_input_sample=False,
    cross_attention_dim=1024,
    down_block_types=["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"],
    downsample_padding=1, dual_cross_attention=False, flip_sin_to_cos=True,
    freq_shift=0, in_channels=9, layers_per_block=2, mid_block_scale_factor=1,
    norm_eps=1e-05, norm_num_groups=32, out_channels=4, sample_size=64,
    up_block_types=["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3,
    use_linear_projection=True)
unet.save_pretrained(os.path.join(out, "unet"), safe_serialization=True)
del unet

vae = AutoencoderKL(
    act_fn="silu", block_out_channels=[128, 256, 512, 512],
    down_block_types=["DownEncoderBlock2D"] * 4,
    up_block_types=["UpDecoderBlock2D"] * 4, in_channels=3, out_channels=3,
    latent_channels=4, layers_per_block=2, norm_num_groups=32,
    sample_size=512)
vae.save_pretrained(os.path.join(out, "vae"), safe_serialization=True)
del vae

vocab = len(__import__("json").load(open(os.path.join(tiny, "tokenizer",
                                                      "vocab.json"))))
text = CLIPTextModel(CLIPTextConfig(
    hidden_act="gelu", hidden_size=1024, intermediate_size=4096,
    num_attention_heads=16, num_hidden_layers=23, layer_norm_eps=1e-05,
    max_position_embeddings=77, vocab_size=vocab, projection_dim=512,
    bos_token_id=0, eos_token_id=2, pad_token_id=1))
text.save_pretrained(os.path.join(out, "text_encoder"), safe_serialization=True)
del text

for sub in ("tokenizer", "scheduler"):
    shutil.copytree(os.path.join(tiny, sub), os.path.join(out, sub),
                    dirs_exist_ok=True)
shutil.copy(os.path.join(tiny, "model_index.json"), out)
print(out)
