// SPDX-License-Identifier: LGPL-2.1-or-later
//
// The building blocks shared by UNet2DConditionModel and AutoencoderKL, as
// diffusers v0.31.0 writes them (models/resnet.py, downsampling.py,
// upsampling.py, attention.py, attention_processor.py, embeddings.py,
// transformers/transformer_2d.py). Each block holds its weight tensors and
// runs plain ATen ops in diffusers' order, on tensors laid out as diffusers
// lays them out: libtorch picks kernels (oneDNN or native, folded or batched
// GEMM) from the strides it is given, so copying a tensor where diffusers
// does not, or not copying where it does, can change the last bits.
//
// Internal to lib/rip/sd/models; users want unet.h and vae.h.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "rip/sd/weights.h"

namespace rip::sd {

class WinogradConv;

// Reads a module's tensors under a name prefix ("down_blocks.0.resnets.1."),
// checks their shapes and puts them in the model's dtype and on its device.
class WeightLoader {
 public:
  WeightLoader(
      const Weights& weights, at::ScalarType dtype, at::Device device, std::string prefix = "");
  // The loader of a submodule: prefix + name + ".".
  WeightLoader sub(const std::string& name) const;
  WeightLoader sub(const std::string& name, size_t index) const;
  // Throws rip::Error naming the file and the tensor when it is missing or
  // its shape is not `shape`.
  at::Tensor get(const std::string& name, at::IntArrayRef shape) const;
  // A linear layer's [out, in] weight, also accepted as a 1x1 convolution's
  // [out, in, 1, 1] (checkpoints converted from LDM carry that shape).
  at::Tensor get_matrix(const std::string& name, int64_t out, int64_t in) const;
  bool has(const std::string& name) const;
  const std::string& prefix() const { return prefix_; }
  at::ScalarType dtype() const { return dtype_; }
  at::Device device() const { return device_; }
  const Weights& weights() const { return weights_; }

 private:
  at::Tensor place(const at::Tensor& t) const;
  Weights weights_;  // shares the files with the caller's Weights
  at::ScalarType dtype_;
  at::Device device_;
  std::string prefix_;
};

// Throws rip::Error when the file holds tensors the model did not read: a
// checkpoint of another architecture must not load silently.
void check_all_weights_used(const Weights& weights, const std::string& model_name);

// Throws rip::Error for a dtype the model cannot run in on that device
// (libtorch 1.13 has no float16 convolutions or GEMMs on the CPU).
void check_dtype_and_device(at::ScalarType dtype, at::Device device, const std::string& model_name);

// Batching across loops (caller_rows.h): the callers' rows when x's batch
// holds several callers, else nullptr; and fn run on each caller's rows of x
// alone, joined again along dim 0.
const std::vector<int64_t>* several_callers(const at::Tensor& x);
at::Tensor per_caller(const at::Tensor& x, const std::vector<int64_t>& callers,
    const std::function<at::Tensor(const at::Tensor&)>& fn);

// Whether x (float, on the CPU) has enough rows of its last dimension for
// the oneDNN kernels whose rounding differs from those diffusers' call
// takes: at least 512, which every full-size level reaches at batch 2 and
// no tiny test model does (their goldens keep diffusers' bits).
bool rows_take_onednn(const at::Tensor& x);

// Attention.head_to_batch_dim ([B, L, heads*d] -> [B*heads, L, d]) and
// batch_to_head_dim (back): copies, in diffusers' layout.
at::Tensor head_to_batch_dim(const at::Tensor& t, int64_t heads);
at::Tensor batch_to_head_dim(const at::Tensor& t, int64_t heads);

// ---- layers ---------------------------------------------------------------

struct Conv2d {
  at::Tensor weight, bias;  // bias undefined when the layer has none
  int64_t stride = 1;
  int64_t padding = 0;
  // oneDNN's Winograd kernel where the layer and its input are large enough
  // (winograd_conv.h); null for every other layer.
  std::shared_ptr<const WinogradConv> winograd;
  static Conv2d load(const WeightLoader& w, int64_t in, int64_t out, int64_t kernel,
      int64_t stride = 1, int64_t padding = 0, bool with_bias = true);
  at::Tensor forward(const at::Tensor& x) const;
};

struct Linear {
  at::Tensor weight, bias;  // bias undefined when the layer has none
  static Linear load(const WeightLoader& w, int64_t in, int64_t out, bool with_bias = true);
  at::Tensor forward(const at::Tensor& x) const;
};

struct GroupNorm {
  at::Tensor weight, bias;
  int64_t groups = 32;
  double eps = 1e-5;
  static GroupNorm load(const WeightLoader& w, int64_t groups, int64_t channels, double eps);
  at::Tensor forward(const at::Tensor& x) const;
};

struct LayerNorm {
  at::Tensor weight, bias;
  int64_t dim = 0;
  double eps = 1e-5;
  static LayerNorm load(const WeightLoader& w, int64_t dim, double eps);
  at::Tensor forward(const at::Tensor& x) const;
};

// ---- resnet, down/upsampling (resnet.py, downsampling.py, upsampling.py) ----

struct ResnetBlock2D {
  GroupNorm norm1, norm2;
  Conv2d conv1, conv2;
  std::optional<Linear> time_emb_proj;  // absent in the VAE (temb_channels None)
  std::optional<Conv2d> conv_shortcut;  // 1x1, present when in != out
  bool scale_shift = false;             // resnet_time_scale_shift "scale_shift"
  double output_scale_factor = 1.0;
  struct Options {
    int64_t in = 0, out = 0, temb_channels = 0;  // temb_channels 0: no time embedding
    int64_t groups = 32;
    double eps = 1e-6;
    bool scale_shift = false;
    double output_scale_factor = 1.0;
  };
  static ResnetBlock2D load(const WeightLoader& w, const Options& o);
  // temb: [B, temb_channels] or undefined.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& temb) const;
};

// Conv 3x3 stride 2. padding 0 means diffusers' VAE variant: pad right and
// bottom by one, then convolve without padding.
struct Downsample2D {
  Conv2d conv;
  int64_t padding = 1;
  static Downsample2D load(const WeightLoader& w, int64_t channels, int64_t padding);
  at::Tensor forward(const at::Tensor& x) const;
};

// Nearest x2 (or to output_size), then conv 3x3.
struct Upsample2D {
  Conv2d conv;
  static Upsample2D load(const WeightLoader& w, int64_t channels);
  at::Tensor forward(const at::Tensor& x, at::IntArrayRef output_size = {}) const;
};

// ---- attention (attention_processor.py: Attention + classic AttnProcessor) ----

struct Attention {
  std::optional<GroupNorm> group_norm;  // the VAE's spatial attention
  Linear to_q, to_k, to_v, to_out;
  int64_t heads = 1;
  double scale = 1.0;             // dim_head ** -0.5
  bool upcast_attention = false;  // q and k in float32 for the scores
  bool upcast_softmax = false;    // softmax in float32
  bool residual_connection = false;
  double rescale_output_factor = 1.0;
  struct Options {
    int64_t query_dim = 0;
    int64_t cross_attention_dim = 0;  // 0: self-attention (k, v from query_dim)
    int64_t heads = 1, dim_head = 64;
    bool bias = false;  // to_q/to_k/to_v bias
    bool upcast_attention = false, upcast_softmax = false;
    int64_t norm_num_groups = 0;  // 0: no group_norm
    double eps = 1e-5;
    bool residual_connection = false;
    double rescale_output_factor = 1.0;
  };
  static Attention load(const WeightLoader& w, const Options& o);
  // hidden: [B, L, C] or [B, C, H, W]; context: [B, S, D] or undefined.
  at::Tensor forward(const at::Tensor& hidden, const at::Tensor& context) const;
  // softmax(scale * q k^T) v on [B*heads, L, d] tensors, diffusers'
  // get_attention_scores + bmm.
  at::Tensor attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) const;
  // The same on [B, L, heads*d] projections, as forward has them: diffusers'
  // head_to_batch_dim, attend and batch_to_head_dim, without the copies
  // where the scores are large enough to go head by head.
  at::Tensor attend_heads(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) const;

 private:
  // One reused block of score rows; `zeroed` until its first GEMM.
  struct ScoreBuffer {
    at::Tensor scores;
    bool zeroed = true;
  };
  void attend_one_head(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
      at::Tensor out, ScoreBuffer& buffer) const;
  at::Tensor softmax_in_place(at::Tensor scores, at::ScalarType dtype) const;
};

// FeedForward with GEGLU (attention.py, activations.py): net.0.proj, net.2.
struct FeedForward {
  Linear proj, out;
  static FeedForward load(const WeightLoader& w, int64_t dim, int64_t mult = 4);
  at::Tensor forward(const at::Tensor& x) const;
};

struct BasicTransformerBlock {
  LayerNorm norm1, norm2, norm3;
  Attention attn1, attn2;
  FeedForward ff;
  static BasicTransformerBlock load(const WeightLoader& w, int64_t dim, int64_t heads,
      int64_t dim_head, int64_t cross_attention_dim, bool upcast_attention);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& context) const;
};

// Continuous-input Transformer2DModel (transformer_2d.py).
struct Transformer2DModel {
  GroupNorm norm;
  bool use_linear_projection = false;
  Linear proj_in_linear, proj_out_linear;  // use_linear_projection (SD2)
  Conv2d proj_in_conv, proj_out_conv;      // 1x1 convolutions (SD1.5)
  std::vector<BasicTransformerBlock> transformer_blocks;
  struct Options {
    int64_t channels = 0, heads = 1, layers = 1, cross_attention_dim = 0;
    int64_t norm_num_groups = 32;
    bool use_linear_projection = false, upcast_attention = false;
  };
  static Transformer2DModel load(const WeightLoader& w, const Options& o);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& context) const;
};

// ---- time embedding (embeddings.py) ----------------------------------------

// get_timestep_embedding: timesteps [N] (any dtype) -> [N, dim] float32.
at::Tensor timestep_embedding(
    const at::Tensor& timesteps, int64_t dim, bool flip_sin_to_cos, double downscale_freq_shift);

struct TimestepEmbedding {
  Linear linear_1, linear_2;
  static TimestepEmbedding load(const WeightLoader& w, int64_t in, int64_t dim);
  at::Tensor forward(const at::Tensor& x) const;  // linear_1, SiLU, linear_2
};

}  // namespace rip::sd
