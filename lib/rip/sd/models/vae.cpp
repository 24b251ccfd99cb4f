// SPDX-License-Identifier: LGPL-2.1-or-later
//
// AutoencoderKL: Encoder and Decoder of diffusers' autoencoders/vae.py
// (DownEncoderBlock2D, UNetMidBlock2D, UpDecoderBlock2D), quant convs and
// the diagonal Gaussian posterior.
#include "rip/sd/models/vae.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <optional>

#include "rip/error.h"
#include "rip/io/shape.h"
#include "rip/sd/models/blocks.h"

namespace rip::sd {

namespace {

// UNetMidBlock2D without time embedding: resnet, spatial self-attention
// (one head as wide as the block), resnet.
struct VaeMidBlock {
  std::vector<ResnetBlock2D> resnets;
  std::optional<Attention> attention;

  static VaeMidBlock load(const WeightLoader& w, const VaeConfig& c) {
    VaeMidBlock m;
    const int64_t ch = c.block_out_channels.back();
    ResnetBlock2D::Options ro;
    ro.in = ro.out = ch;
    ro.groups = c.norm_num_groups;
    ro.eps = 1e-6;
    m.resnets.push_back(ResnetBlock2D::load(w.sub("resnets", 0), ro));
    if (c.mid_block_add_attention) {
      Attention::Options a;
      a.query_dim = ch;
      a.heads = 1;
      a.dim_head = ch;
      a.bias = true;
      a.upcast_softmax = true;
      a.norm_num_groups = c.norm_num_groups;
      a.eps = 1e-6;
      a.residual_connection = true;
      m.attention = Attention::load(w.sub("attentions", 0), a);
    }
    m.resnets.push_back(ResnetBlock2D::load(w.sub("resnets", 1), ro));
    return m;
  }

  at::Tensor forward(const at::Tensor& x) const {
    at::Tensor h = resnets[0].forward(x, at::Tensor());
    if (attention) h = attention->forward(h, at::Tensor());
    return resnets[1].forward(h, at::Tensor());
  }
};

struct EncoderBlock {  // DownEncoderBlock2D
  std::vector<ResnetBlock2D> resnets;
  std::optional<Downsample2D> downsampler;
};

struct DecoderBlock {  // UpDecoderBlock2D
  std::vector<ResnetBlock2D> resnets;
  std::optional<Upsample2D> upsampler;
};

// diffusers (ModelMixin._convert_deprecated_attention_blocks) renames the
// attention of checkpoints saved before diffusers 0.14 at load time.
void alias_legacy_attention_names(Weights& weights, const std::string& prefix) {
  const char* names[][2] = {
      {"to_q", "query"}, {"to_k", "key"}, {"to_v", "value"}, {"to_out.0", "proj_attn"}};
  for (const auto& n : names) {
    for (const char* p : {"weight", "bias"}) {
      weights.add_alias(prefix + n[0] + "." + p, prefix + n[1] + "." + p);
    }
  }
}

}  // namespace

struct AutoencoderKL::Impl {
  VaeConfig config;
  at::ScalarType dtype = at::kFloat;
  at::Device device = at::kCPU;
  // encoder
  Conv2d enc_conv_in;
  std::vector<EncoderBlock> enc_blocks;
  VaeMidBlock enc_mid;
  GroupNorm enc_norm_out;
  Conv2d enc_conv_out;
  std::optional<Conv2d> quant_conv;
  // decoder
  std::optional<Conv2d> post_quant_conv;
  Conv2d dec_conv_in;
  VaeMidBlock dec_mid;
  std::vector<DecoderBlock> dec_blocks;
  GroupNorm dec_norm_out;
  Conv2d dec_conv_out;
};

AutoencoderKL::AutoencoderKL(
    const VaeConfig& c, const Weights& weights_in, at::ScalarType dtype, at::Device device) {
  check_dtype_and_device(dtype, device, "AutoencoderKL");
  Weights weights = weights_in;
  alias_legacy_attention_names(weights, "encoder.mid_block.attentions.0.");
  alias_legacy_attention_names(weights, "decoder.mid_block.attentions.0.");
  auto impl = std::make_shared<Impl>();
  impl->config = c;
  impl->dtype = dtype;
  impl->device = device;
  const WeightLoader w(weights, dtype, device);
  const size_t n = c.block_out_channels.size();
  if (n == 0 || c.down_block_types.size() != n || c.up_block_types.size() != n) {
    throw Error(c.source.string() +
        ": block_out_channels, down_block_types and "
        "up_block_types must have one entry per block.");
  }
  const int latent = c.latent_channels;
  ResnetBlock2D::Options ro;
  ro.groups = c.norm_num_groups;
  ro.eps = 1e-6;

  // Encoder
  const WeightLoader ew = w.sub("encoder");
  impl->enc_conv_in =
      Conv2d::load(ew.sub("conv_in"), c.in_channels, c.block_out_channels[0], 3, 1, 1);
  int64_t output_channel = c.block_out_channels[0];
  for (size_t i = 0; i < n; ++i) {
    const WeightLoader bw = ew.sub("down_blocks", i);
    const int64_t input_channel = output_channel;
    output_channel = c.block_out_channels[i];
    EncoderBlock block;
    for (int j = 0; j < c.layers_per_block; ++j) {
      ro.in = j == 0 ? input_channel : output_channel;
      ro.out = output_channel;
      block.resnets.push_back(ResnetBlock2D::load(bw.sub("resnets", j), ro));
    }
    if (i + 1 < n) {
      block.downsampler = Downsample2D::load(bw.sub("downsamplers", 0), output_channel, 0);
    }
    impl->enc_blocks.push_back(std::move(block));
  }
  impl->enc_mid = VaeMidBlock::load(ew.sub("mid_block"), c);
  impl->enc_norm_out = GroupNorm::load(
      ew.sub("conv_norm_out"), c.norm_num_groups, c.block_out_channels.back(), 1e-6);
  impl->enc_conv_out =
      Conv2d::load(ew.sub("conv_out"), c.block_out_channels.back(), 2 * latent, 3, 1, 1);
  if (c.use_quant_conv) {
    impl->quant_conv = Conv2d::load(w.sub("quant_conv"), 2 * latent, 2 * latent, 1);
  }

  // Decoder
  if (c.use_post_quant_conv) {
    impl->post_quant_conv = Conv2d::load(w.sub("post_quant_conv"), latent, latent, 1);
  }
  const WeightLoader dw = w.sub("decoder");
  impl->dec_conv_in = Conv2d::load(dw.sub("conv_in"), latent, c.block_out_channels.back(), 3, 1, 1);
  impl->dec_mid = VaeMidBlock::load(dw.sub("mid_block"), c);
  output_channel = c.block_out_channels.back();
  for (size_t i = 0; i < n; ++i) {
    const WeightLoader bw = dw.sub("up_blocks", i);
    const int64_t prev_output_channel = output_channel;
    output_channel = c.block_out_channels[n - 1 - i];
    DecoderBlock block;
    for (int j = 0; j < c.layers_per_block + 1; ++j) {
      ro.in = j == 0 ? prev_output_channel : output_channel;
      ro.out = output_channel;
      block.resnets.push_back(ResnetBlock2D::load(bw.sub("resnets", j), ro));
    }
    if (i + 1 < n) block.upsampler = Upsample2D::load(bw.sub("upsamplers", 0), output_channel);
    impl->dec_blocks.push_back(std::move(block));
  }
  impl->dec_norm_out =
      GroupNorm::load(dw.sub("conv_norm_out"), c.norm_num_groups, c.block_out_channels[0], 1e-6);
  impl->dec_conv_out =
      Conv2d::load(dw.sub("conv_out"), c.block_out_channels[0], c.out_channels, 3, 1, 1);
  check_all_weights_used(weights, "AutoencoderKL");
  impl_ = std::move(impl);
}

AutoencoderKL AutoencoderKL::load(const std::filesystem::path& component_dir,
    const std::string& variant, at::ScalarType dtype, at::Device device) {
  const VaeConfig config = VaeConfig::load(component_dir / "config.json");
  const Weights weights = Weights::open(component_dir, "diffusion_pytorch_model", variant);
  return AutoencoderKL(config, weights, dtype, device);
}

const VaeConfig& AutoencoderKL::config() const {
  return impl_->config;
}
at::ScalarType AutoencoderKL::dtype() const {
  return impl_->dtype;
}
at::Device AutoencoderKL::device() const {
  return impl_->device;
}

at::Tensor AutoencoderKL::encode_moments(const at::Tensor& image) const {
  const Impl& m = *impl_;
  if (!image.defined() || image.dim() != 4 || image.size(1) != m.config.in_channels) {
    throw Error("AutoencoderKL: the image to encode must be [batch, " +
        std::to_string(m.config.in_channels) + ", height, width], got " +
        (image.defined() ? io::shape_string(image.sizes()) : "nothing"));
  }
  c10::InferenceMode guard;
  // .to keeps the strides (a channels-last image stays channels-last).
  at::Tensor h = m.enc_conv_in.forward(image.to(m.device, m.dtype));
  for (const EncoderBlock& block : m.enc_blocks) {
    for (const ResnetBlock2D& r : block.resnets) h = r.forward(h, at::Tensor());
    if (block.downsampler) h = block.downsampler->forward(h);
  }
  h = m.enc_mid.forward(h);
  h = m.enc_conv_out.forward(at::silu(m.enc_norm_out.forward(h)));
  if (m.quant_conv) h = m.quant_conv->forward(h);
  return h;
}

AutoencoderKL::Posterior AutoencoderKL::posterior(const at::Tensor& moments) {
  if (!moments.defined() || moments.dim() != 4 || moments.size(1) % 2 != 0) {
    throw Error("AutoencoderKL: moments must be [batch, 2*latent_channels, h, w], got " +
        (moments.defined() ? io::shape_string(moments.sizes()) : "nothing"));
  }
  c10::InferenceMode guard;
  Posterior p;
  std::vector<at::Tensor> parts = at::chunk(moments, 2, 1);
  p.mean = parts[0];
  p.logvar = at::clamp(parts[1], -30.0, 20.0);
  p.std = at::exp(p.logvar * 0.5);
  return p;
}

at::Tensor AutoencoderKL::Posterior::sample(at::Generator& generator) const {
  c10::InferenceMode guard;
  // diffusers' randn_tensor: a generator on another device type than the
  // tensor must be a CPU one; the noise is then drawn on the CPU, in the
  // tensor's dtype (a float16 draw is not the float32 draw rounded), and moved.
  const at::Device gen_device = generator.device();
  at::Device rand_device = mean.device();
  if (gen_device.type() != mean.device().type()) {
    if (gen_device.type() != at::kCPU) {
      throw Error("AutoencoderKL: cannot draw noise for a " + mean.device().str() +
          " tensor from a " + gen_device.str() + " generator (use a CPU generator)");
    }
    rand_device = at::kCPU;
  }
  const at::Tensor noise =
      at::randn(mean.sizes(), generator, mean.options().device(rand_device)).to(mean.device());
  return mean + std * noise;
}

at::Tensor AutoencoderKL::decode(const at::Tensor& z_in) const {
  const Impl& m = *impl_;
  if (!z_in.defined() || z_in.dim() != 4 || z_in.size(1) != m.config.latent_channels) {
    throw Error("AutoencoderKL: latents to decode must be [batch, " +
        std::to_string(m.config.latent_channels) + ", h, w], got " +
        (z_in.defined() ? io::shape_string(z_in.sizes()) : "nothing"));
  }
  c10::InferenceMode guard;
  at::Tensor z = z_in.to(m.device, m.dtype);
  if (m.post_quant_conv) z = m.post_quant_conv->forward(z);
  at::Tensor h = m.dec_conv_in.forward(z);
  h = m.dec_mid.forward(h);
  for (const DecoderBlock& block : m.dec_blocks) {
    for (const ResnetBlock2D& r : block.resnets) h = r.forward(h, at::Tensor());
    if (block.upsampler) h = block.upsampler->forward(h);
  }
  return m.dec_conv_out.forward(at::silu(m.dec_norm_out.forward(h)));
}

}  // namespace rip::sd
