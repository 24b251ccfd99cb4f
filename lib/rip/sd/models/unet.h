// SPDX-License-Identifier: LGPL-2.1-or-later
//
// UNet2DConditionModel as diffusers v0.31.0 runs it
// (models/unets/unet_2d_condition.py), read from a diffusers `unet/` folder.
// Config-driven: SD2-inpainting (linear proj_in/proj_out, heads per block,
// 1024-wide cross-attention) and SD1.5-inpainting (1x1-conv projections,
// 8 heads, 768-wide) are the same code.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "rip/sd/weights.h"

namespace rip::io {
struct ConfigReader;
}  // namespace rip::io

namespace rip::sd {

struct UNetConfig {
  std::filesystem::path source;  // the config.json read, for messages
  int in_channels = 4;
  int out_channels = 4;
  int sample_size = 64;  // latent size; the pipeline's default image is 8x this
  bool center_input_sample = false;
  bool flip_sin_to_cos = true;
  double freq_shift = 0;
  std::vector<std::string> down_block_types;               // CrossAttnDownBlock2D | DownBlock2D
  std::vector<std::string> up_block_types;                 // UpBlock2D | CrossAttnUpBlock2D
  std::string mid_block_type = "UNetMidBlock2DCrossAttn";  // or "" (none)
  std::vector<int> block_out_channels;
  std::vector<int> layers_per_block;  // per down block
  int downsample_padding = 1;
  double mid_block_scale_factor = 1;
  int norm_num_groups = 32;
  double norm_eps = 1e-5;
  std::vector<int> cross_attention_dim;           // per down block
  std::vector<int> transformer_layers_per_block;  // per down block
  // Heads per down block. diffusers reads them from `attention_head_dim`,
  // which really is the head count (diffusers#2011); the head size is
  // channels / heads.
  std::vector<int> num_attention_heads;
  bool use_linear_projection = false;
  bool upcast_attention = false;
  bool resnet_time_scale_shift = false;  // "scale_shift" (true) or "default"
  int conv_in_kernel = 3;
  int conv_out_kernel = 3;

  // Reads a diffusers unet/config.json. Keys absent from the file take
  // diffusers' defaults; values this port does not implement (class or
  // addition embeddings, dual cross-attention, other block types...) give
  // rip::Error naming the file and the key.
  static UNetConfig load(const std::filesystem::path& config_json);
  // The same from keys already read (a single file's inferred config).
  static UNetConfig from(const io::ConfigReader& reader);
  int time_embed_dim() const { return block_out_channels.at(0) * 4; }
};

class UNet2DConditionModel {
 public:
  UNet2DConditionModel(
      const UNetConfig& config, const Weights& weights, at::ScalarType dtype, at::Device device);
  // Opens <component_dir>/config.json and its weights (diffusers' variant
  // naming, e.g. "fp16"); rip::Error names the file on any problem.
  static UNet2DConditionModel load(const std::filesystem::path& component_dir,
      const std::string& variant, at::ScalarType dtype, at::Device device);

  // sample [B, in_channels, h, w]; timestep 0-dim, [1] or [B] (int or float);
  // encoder_hidden_states [B, S, cross_attention_dim]. Inputs are moved to the
  // model's dtype and device. Returns [B, out_channels, h, w].
  at::Tensor forward(const at::Tensor& sample, const at::Tensor& timestep,
      const at::Tensor& encoder_hidden_states) const;

  const UNetConfig& config() const;
  int in_channels() const { return config().in_channels; }
  at::ScalarType dtype() const;
  at::Device device() const;

 private:
  struct Impl;
  std::shared_ptr<const Impl> impl_;  // immutable after loading: copies share the weights
};

}  // namespace rip::sd
