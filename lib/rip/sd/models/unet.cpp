// SPDX-License-Identifier: LGPL-2.1-or-later
//
// UNet2DConditionModel: the module tree of diffusers' __init__ and the
// forward of unet_2d_condition.py / unet_2d_blocks.py (CrossAttnDownBlock2D,
// DownBlock2D, UNetMidBlock2DCrossAttn, UpBlock2D, CrossAttnUpBlock2D).
#include "rip/sd/models/unet.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <optional>

#include "rip/error.h"
#include "rip/io/shape.h"
#include "rip/sd/models/blocks.h"

namespace rip::sd {

namespace {

// CrossAttnDownBlock2D (attentions present) or DownBlock2D.
struct DownBlock {
  std::vector<ResnetBlock2D> resnets;
  std::vector<Transformer2DModel> attentions;
  std::optional<Downsample2D> downsampler;
};

// CrossAttnUpBlock2D (attentions present) or UpBlock2D.
struct UpBlock {
  std::vector<ResnetBlock2D> resnets;
  std::vector<Transformer2DModel> attentions;
  std::optional<Upsample2D> upsampler;
};

// UNetMidBlock2DCrossAttn: resnets[0], then (attention, resnet) pairs.
struct MidBlock {
  std::vector<ResnetBlock2D> resnets;
  std::vector<Transformer2DModel> attentions;
};

}  // namespace

struct UNet2DConditionModel::Impl {
  UNetConfig config;
  at::ScalarType dtype = at::kFloat;
  at::Device device = at::kCPU;
  Conv2d conv_in;
  TimestepEmbedding time_embedding;
  std::vector<DownBlock> down_blocks;
  std::optional<MidBlock> mid_block;
  std::vector<UpBlock> up_blocks;
  GroupNorm conv_norm_out;
  Conv2d conv_out;
  int num_upsamplers = 0;
};

UNet2DConditionModel::UNet2DConditionModel(
    const UNetConfig& c, const Weights& weights, at::ScalarType dtype, at::Device device) {
  check_dtype_and_device(dtype, device, "UNet2DConditionModel");
  auto impl = std::make_shared<Impl>();
  impl->config = c;
  impl->dtype = dtype;
  impl->device = device;
  const WeightLoader w(weights, dtype, device);
  const size_t n = c.block_out_channels.size();
  if (n == 0 || c.down_block_types.size() != n || c.up_block_types.size() != n ||
      c.layers_per_block.size() != n || c.cross_attention_dim.size() != n ||
      c.transformer_layers_per_block.size() != n || c.num_attention_heads.size() != n) {
    throw Error(c.source.string() +
        ": the per-block lists of the UNet config do not all have "
        "one entry per down block.");
  }
  const int64_t temb = c.time_embed_dim();

  impl->conv_in = Conv2d::load(w.sub("conv_in"), c.in_channels, c.block_out_channels[0],
      c.conv_in_kernel, 1, (c.conv_in_kernel - 1) / 2);
  impl->time_embedding =
      TimestepEmbedding::load(w.sub("time_embedding"), c.block_out_channels[0], temb);

  ResnetBlock2D::Options ro;
  ro.temb_channels = temb;
  ro.groups = c.norm_num_groups;
  ro.eps = c.norm_eps;
  ro.scale_shift = c.resnet_time_scale_shift;
  // The Transformer2DModel `attentions.<j>` of a block whose settings are
  // entry `b` of the config's per-block lists.
  auto load_transformer = [&](const WeightLoader& bw, int j, size_t b, int64_t channels) {
    Transformer2DModel::Options to;
    to.channels = channels;
    to.heads = c.num_attention_heads[b];
    to.layers = c.transformer_layers_per_block[b];
    to.cross_attention_dim = c.cross_attention_dim[b];
    to.norm_num_groups = c.norm_num_groups;
    to.use_linear_projection = c.use_linear_projection;
    to.upcast_attention = c.upcast_attention;
    return Transformer2DModel::load(bw.sub("attentions", j), to);
  };

  // down
  int64_t output_channel = c.block_out_channels[0];
  for (size_t i = 0; i < n; ++i) {
    const WeightLoader bw = w.sub("down_blocks", i);
    const int64_t input_channel = output_channel;
    output_channel = c.block_out_channels[i];
    const bool cross = c.down_block_types[i] == "CrossAttnDownBlock2D";
    DownBlock block;
    for (int j = 0; j < c.layers_per_block[i]; ++j) {
      ro.in = j == 0 ? input_channel : output_channel;
      ro.out = output_channel;
      ro.output_scale_factor = 1.0;
      block.resnets.push_back(ResnetBlock2D::load(bw.sub("resnets", j), ro));
      if (cross) block.attentions.push_back(load_transformer(bw, j, i, output_channel));
    }
    if (i + 1 < n) {
      block.downsampler =
          Downsample2D::load(bw.sub("downsamplers", 0), output_channel, c.downsample_padding);
    }
    impl->down_blocks.push_back(std::move(block));
  }

  // mid
  if (!c.mid_block_type.empty()) {
    const WeightLoader mw = w.sub("mid_block");
    MidBlock mid;
    ro.in = ro.out = c.block_out_channels.back();
    ro.output_scale_factor = c.mid_block_scale_factor;
    mid.resnets.push_back(ResnetBlock2D::load(mw.sub("resnets", 0), ro));
    mid.attentions.push_back(load_transformer(mw, 0, n - 1, c.block_out_channels.back()));
    mid.resnets.push_back(ResnetBlock2D::load(mw.sub("resnets", 1), ro));
    impl->mid_block = std::move(mid);
  }

  // up: the per-block lists reversed, as diffusers builds them.
  std::vector<int> rchannels(c.block_out_channels.rbegin(), c.block_out_channels.rend());
  output_channel = rchannels[0];
  for (size_t i = 0; i < n; ++i) {
    const size_t r = n - 1 - i;  // index into the unreversed lists
    const WeightLoader bw = w.sub("up_blocks", i);
    const bool is_final = i + 1 == n;
    const int64_t prev_output_channel = output_channel;
    output_channel = rchannels[i];
    const int64_t input_channel = rchannels[std::min(i + 1, n - 1)];
    const bool cross = c.up_block_types[i] == "CrossAttnUpBlock2D";
    const int layers = c.layers_per_block[r] + 1;
    UpBlock block;
    for (int j = 0; j < layers; ++j) {
      const int64_t res_skip = j == layers - 1 ? input_channel : output_channel;
      const int64_t resnet_in = j == 0 ? prev_output_channel : output_channel;
      ro.in = resnet_in + res_skip;
      ro.out = output_channel;
      ro.output_scale_factor = 1.0;
      block.resnets.push_back(ResnetBlock2D::load(bw.sub("resnets", j), ro));
      if (cross) block.attentions.push_back(load_transformer(bw, j, r, output_channel));
    }
    if (!is_final) {
      block.upsampler = Upsample2D::load(bw.sub("upsamplers", 0), output_channel);
      ++impl->num_upsamplers;
    }
    impl->up_blocks.push_back(std::move(block));
  }

  impl->conv_norm_out = GroupNorm::load(
      w.sub("conv_norm_out"), c.norm_num_groups, c.block_out_channels[0], c.norm_eps);
  impl->conv_out = Conv2d::load(w.sub("conv_out"), c.block_out_channels[0], c.out_channels,
      c.conv_out_kernel, 1, (c.conv_out_kernel - 1) / 2);
  check_all_weights_used(weights, "UNet2DConditionModel");
  impl_ = std::move(impl);
}

UNet2DConditionModel UNet2DConditionModel::load(const std::filesystem::path& component_dir,
    const std::string& variant, at::ScalarType dtype, at::Device device) {
  const UNetConfig config = UNetConfig::load(component_dir / "config.json");
  const Weights weights = Weights::open(component_dir, "diffusion_pytorch_model", variant);
  return UNet2DConditionModel(config, weights, dtype, device);
}

const UNetConfig& UNet2DConditionModel::config() const {
  return impl_->config;
}
at::ScalarType UNet2DConditionModel::dtype() const {
  return impl_->dtype;
}
at::Device UNet2DConditionModel::device() const {
  return impl_->device;
}

at::Tensor UNet2DConditionModel::forward(const at::Tensor& sample_in, const at::Tensor& timestep,
    const at::Tensor& encoder_hidden_states) const {
  const Impl& m = *impl_;
  const UNetConfig& c = m.config;
  if (!sample_in.defined() || sample_in.dim() != 4 || sample_in.size(1) != c.in_channels) {
    throw Error("UNet2DConditionModel: sample must be [batch, " + std::to_string(c.in_channels) +
        ", height, width], got " +
        (sample_in.defined() ? io::shape_string(sample_in.sizes()) : "nothing"));
  }
  const int64_t batch = sample_in.size(0);
  if (!encoder_hidden_states.defined() || encoder_hidden_states.dim() != 3 ||
      encoder_hidden_states.size(0) != batch ||
      encoder_hidden_states.size(2) != c.cross_attention_dim[0]) {
    throw Error("UNet2DConditionModel: encoder_hidden_states must be [" + std::to_string(batch) +
        ", tokens, " + std::to_string(c.cross_attention_dim[0]) + "], got " +
        (encoder_hidden_states.defined() ? io::shape_string(encoder_hidden_states.sizes())
                                         : "nothing") +
        " (is the text encoder the one that belongs to this UNet?)");
  }
  if (!timestep.defined() || timestep.dim() > 1 ||
      (timestep.numel() != 1 && timestep.numel() != batch)) {
    throw Error("UNet2DConditionModel: timestep must be one value or one per batch entry, got " +
        (timestep.defined() ? io::shape_string(timestep.sizes()) : "nothing"));
  }
  c10::InferenceMode guard;

  at::Tensor sample = sample_in.to(m.device, m.dtype);
  const at::Tensor context = encoder_hidden_states.to(m.device, m.dtype);

  // Sizes that are not multiples of 2**num_upsamplers make each upsampler
  // target its skip's size instead of doubling.
  const int64_t up_factor = int64_t{1} << m.num_upsamplers;
  const bool forward_upsample_size =
      sample.size(2) % up_factor != 0 || sample.size(3) % up_factor != 0;

  if (c.center_input_sample) sample = sample * 2 - 1.0;

  // 1. time
  at::Tensor timesteps = timestep;
  if (timesteps.dim() == 0) timesteps = timesteps.unsqueeze(0);
  timesteps = timesteps.to(m.device).expand({batch});
  at::Tensor t_emb =
      timestep_embedding(timesteps, c.block_out_channels[0], c.flip_sin_to_cos, c.freq_shift);
  t_emb = t_emb.to(m.dtype);  // float32 from the sinusoids; the model may run in fp16/bf16
  const at::Tensor emb = m.time_embedding.forward(t_emb);

  // 2. pre-process
  sample = m.conv_in.forward(sample);

  // 3. down
  std::vector<at::Tensor> res_samples{sample};
  for (const DownBlock& block : m.down_blocks) {
    for (size_t j = 0; j < block.resnets.size(); ++j) {
      sample = block.resnets[j].forward(sample, emb);
      if (!block.attentions.empty()) sample = block.attentions[j].forward(sample, context);
      res_samples.push_back(sample);
    }
    if (block.downsampler) {
      sample = block.downsampler->forward(sample);
      res_samples.push_back(sample);
    }
  }

  // 4. mid
  if (m.mid_block) {
    sample = m.mid_block->resnets[0].forward(sample, emb);
    for (size_t j = 0; j < m.mid_block->attentions.size(); ++j) {
      sample = m.mid_block->attentions[j].forward(sample, context);
      sample = m.mid_block->resnets[j + 1].forward(sample, emb);
    }
  }

  // 5. up: each resnet takes the last skip left.
  std::vector<int64_t> upsample_size;
  for (size_t i = 0; i < m.up_blocks.size(); ++i) {
    const UpBlock& block = m.up_blocks[i];
    const bool is_final = i + 1 == m.up_blocks.size();
    const size_t take = block.resnets.size();
    if (res_samples.size() < take) {
      throw Error(
          "UNet2DConditionModel: the up blocks need more skip connections than the "
          "down blocks made (layers_per_block in " +
          c.source.string() + ")");
    }
    std::vector<at::Tensor> skips(res_samples.end() - static_cast<long>(take), res_samples.end());
    res_samples.resize(res_samples.size() - take);
    if (!is_final && forward_upsample_size && !res_samples.empty()) {
      upsample_size = {res_samples.back().size(2), res_samples.back().size(3)};
    }
    for (size_t j = 0; j < take; ++j) {
      sample = at::cat({sample, skips[take - 1 - j]}, 1);
      sample = block.resnets[j].forward(sample, emb);
      if (!block.attentions.empty()) sample = block.attentions[j].forward(sample, context);
    }
    if (block.upsampler) sample = block.upsampler->forward(sample, upsample_size);
  }

  // 6. post-process
  sample = m.conv_norm_out.forward(sample);
  at::silu_(sample);
  return m.conv_out.forward(sample);
}

}  // namespace rip::sd
