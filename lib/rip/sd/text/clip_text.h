// SPDX-License-Identifier: LGPL-2.1-or-later
//
// transformers' CLIPTextModel (models/clip/modeling_clip.py at the pinned
// commit 5728b5ad, eager attention), the text encoder of Stable Diffusion:
// token + position embeddings, pre-LayerNorm transformer layers with causal
// self-attention, final LayerNorm. SD2's diffusers export stores only the 23
// layers it uses, so last_hidden_state is what the pipeline takes.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <filesystem>
#include <string>
#include <vector>

#include "rip/sd/weights.h"

namespace rip::io {
struct ConfigReader;
}  // namespace rip::io

namespace rip::sd {

struct ClipTextConfig {
  int hidden_size = 512;
  int intermediate_size = 2048;
  int num_hidden_layers = 12;
  int num_attention_heads = 8;
  int max_position_embeddings = 77;
  int vocab_size = 49408;
  std::string hidden_act = "quick_gelu";  // "gelu" (SD2) or "quick_gelu" (SD1.5)
  double layer_norm_eps = 1e-5;
  int bos_token_id = 49406;  // transformers' CLIPTextConfig defaults
  int eos_token_id = 49407;  // 2 in SD's files: pooling takes the argmax id
  int pad_token_id = 1;

  // text_encoder/config.json; rip::Error naming the file and the key.
  static ClipTextConfig load(const std::filesystem::path& config_json);
  static ClipTextConfig from(const io::ConfigReader& reader);
};

struct ClipTextOutput {
  at::Tensor last_hidden_state;  // [B, L, hidden] after final_layer_norm
  at::Tensor pooler_output;      // [B, hidden] (unused by Stable Diffusion)
};

class ClipTextModel {
 public:
  // Weights named as transformers saves CLIPTextModel ("text_model." ...).
  // Every tensor of the file must be used (a stored
  // text_model.embeddings.position_ids buffer is accepted and ignored);
  // otherwise rip::Error lists the unused ones. dtype: kFloat, kBFloat16, or
  // kHalf on CUDA (libtorch's CPU kernels have no Half matmul/LayerNorm).
  ClipTextModel(const ClipTextConfig& config, const Weights& weights, at::ScalarType dtype,
      at::Device device);
  // text_encoder/ folder: config.json + model[.variant].safetensors.
  static ClipTextModel load(const std::filesystem::path& component_dir, at::ScalarType dtype,
      at::Device device, const std::string& variant = "");

  // input_ids: int64 [B, L], L <= max_position_embeddings, ids < vocab_size.
  // Returns last_hidden_state [B, L, hidden] in the model's dtype.
  at::Tensor forward(const at::Tensor& input_ids) const;
  ClipTextOutput forward_with_pooling(const at::Tensor& input_ids) const;
  // Convenience: one prompt's ids (a tokenizer's encode()) -> [1, L, hidden].
  at::Tensor encode(const std::vector<int64_t>& ids) const;

  const ClipTextConfig& config() const { return config_; }
  at::ScalarType dtype() const { return dtype_; }
  at::Device device() const { return device_; }

 private:
  struct Linear {
    at::Tensor weight, bias;
  };
  struct LayerNorm {
    at::Tensor weight, bias;
  };
  struct Layer {
    LayerNorm layer_norm1, layer_norm2;
    Linear q_proj, k_proj, v_proj, out_proj, fc1, fc2;
  };

  at::Tensor attention(
      const Layer& layer, const at::Tensor& hidden, const at::Tensor& causal_mask) const;
  at::Tensor mlp(const Layer& layer, const at::Tensor& hidden) const;
  at::Tensor layer_norm(const LayerNorm& norm, const at::Tensor& x) const;

  ClipTextConfig config_;
  at::ScalarType dtype_;
  at::Device device_;
  at::Tensor token_embedding_, position_embedding_;
  std::vector<Layer> layers_;
  LayerNorm final_layer_norm_;
};

}  // namespace rip::sd
