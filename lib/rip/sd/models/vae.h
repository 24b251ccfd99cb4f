// SPDX-License-Identifier: LGPL-2.1-or-later
//
// AutoencoderKL as diffusers v0.31.0 runs it (models/autoencoders/
// autoencoder_kl.py, vae.py), read from a diffusers `vae/` folder. Both
// namings of the mid-block attention are read: the current to_q/to_k/to_v/
// to_out.0 and the legacy query/key/value/proj_attn (diffusers renames those
// at load time), with linear [C, C] or 1x1-conv [C, C, 1, 1] weights.
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "rip/sd/weights.h"

namespace rip::io {
struct ConfigReader;
}  // namespace rip::io

namespace rip::sd {

struct VaeConfig {
  std::filesystem::path source;  // the config.json read, for messages
  int in_channels = 3;
  int out_channels = 3;
  std::vector<std::string> down_block_types;  // DownEncoderBlock2D
  std::vector<std::string> up_block_types;    // UpDecoderBlock2D
  std::vector<int> block_out_channels;
  int layers_per_block = 1;
  int latent_channels = 4;
  int norm_num_groups = 32;
  int sample_size = 32;
  double scaling_factor = 0.18215;
  std::optional<double> shift_factor;  // not used by the SD 1/2 pipelines
  bool force_upcast = true;            // not used by the SD inpaint pipeline
  bool use_quant_conv = true;
  bool use_post_quant_conv = true;
  bool mid_block_add_attention = true;

  static VaeConfig load(const std::filesystem::path& config_json);
  static VaeConfig from(const io::ConfigReader& reader);
  // Pixels per latent: 2 ** (len(block_out_channels) - 1), diffusers'
  // vae_scale_factor.
  int downscale_factor() const { return 1 << (block_out_channels.size() - 1); }
};

class AutoencoderKL {
 public:
  AutoencoderKL(
      const VaeConfig& config, const Weights& weights, at::ScalarType dtype, at::Device device);
  static AutoencoderKL load(const std::filesystem::path& component_dir, const std::string& variant,
      at::ScalarType dtype, at::Device device);

  // The encoder's output after quant_conv: [B, 2*latent_channels, h/8, w/8]
  // (mean, then log-variance). image: [B, in_channels, H, W] in [-1, 1]; its
  // strides are kept (the pipeline's image is channels-last, and libtorch's
  // convolutions round differently on the two layouts).
  at::Tensor encode_moments(const at::Tensor& image) const;

  // diffusers' DiagonalGaussianDistribution.
  struct Posterior {
    at::Tensor mean, logvar, std;  // logvar clamped to [-30, 20]; std = exp(logvar / 2)
    // mean + std * noise, the noise drawn as diffusers' randn_tensor draws
    // it with a CPU generator: randn(mean's shape and dtype) on the CPU,
    // then moved to mean's device.
    at::Tensor sample(at::Generator& generator) const;
    at::Tensor mode() const { return mean; }
  };
  static Posterior posterior(const at::Tensor& moments);

  // post_quant_conv + decoder. z are latents already divided by
  // scaling_factor, as the pipeline passes them.
  at::Tensor decode(const at::Tensor& z) const;

  double scaling_factor() const { return config().scaling_factor; }
  const VaeConfig& config() const;
  at::ScalarType dtype() const;
  at::Device device() const;

 private:
  struct Impl;
  std::shared_ptr<const Impl> impl_;
};

}  // namespace rip::sd
