// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Single-file checkpoints in the original (CompVis/Stability) layout, as
// A1111 and ComfyUI users keep them: 512-inpainting-ema.safetensors/.ckpt
// (SD 2), sd-v1-5-inpainting.ckpt (SD 1.x). One file holds the UNet
// (model.diffusion_model.*), the VAE (first_stage_model.*) and the text
// encoder: CLIP ViT-L (cond_stage_model.transformer.*, SD 1.x) or OpenCLIP
// ViT-H (cond_stage_model.model.*, fused in_proj q/k/v, SD 2). Each part is
// mapped to diffusers' names when the file is opened, by name, as diffusers'
// from_single_file maps it; the file is read once through io::TensorFile and
// its tensors stay views of the mapping. Nothing else in the file (EMA
// copies, the noise schedule, OpenCLIP's text projection) is read.
#pragma once

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "rip/sd/weights.h"

namespace rip::sd {

struct SingleFile {
  std::filesystem::path path;
  bool openclip = false;            // SD 2's text encoder layout (else CLIP ViT-L's)
  Weights unet, vae, text_encoder;  // under diffusers' and transformers' names
  // The configs diffusers would use, as config.json keys, inferred from the
  // tensors' names and shapes. An entry "num_attention_heads_unknown" in
  // `unet` (or `text_encoder`) means the head count could not be told: the
  // file is neither SD 1.x- nor SD 2-sized, and a config folder is needed.
  nlohmann::json unet_config, vae_config, text_encoder_config;
};

// True for a regular file (a single-file checkpoint), false for a folder.
bool is_single_file(const std::filesystem::path& path);

// Opens and maps the file; rip::Error names the file and what is missing or
// unexpected (a tensor of a known part that has no place in the model is an
// error, not skipped). text_layers: how many of OpenCLIP's blocks the text
// encoder runs (a config's num_hidden_layers); -1: all but the last, as SD 2
// was trained (its conditioning is the penultimate block's output).
SingleFile open_single_file(const std::filesystem::path& path, int text_layers = -1);

}  // namespace rip::sd
