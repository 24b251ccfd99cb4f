// SPDX-License-Identifier: LGPL-2.1-or-later
#include "rip/sd/text/clip_text.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <cmath>
#include <limits>

#include "rip/error.h"
#include "rip/io/json_file.h"

namespace rip::sd {

ClipTextConfig ClipTextConfig::load(const std::filesystem::path& config_json) {
  return from(io::ConfigReader::open(config_json));
}

ClipTextConfig ClipTextConfig::from(const io::ConfigReader& r) {
  ClipTextConfig c;
  c.hidden_size = r.require_int("hidden_size");
  c.intermediate_size = r.require_int("intermediate_size");
  c.num_hidden_layers = r.require_int("num_hidden_layers");
  c.num_attention_heads = r.require_int("num_attention_heads");
  c.max_position_embeddings = r.get_int("max_position_embeddings", c.max_position_embeddings);
  c.vocab_size = r.get_int("vocab_size", c.vocab_size);
  c.hidden_act = r.get_string("hidden_act", c.hidden_act);
  c.layer_norm_eps = r.get_double("layer_norm_eps", c.layer_norm_eps);
  c.bos_token_id = r.get_int("bos_token_id", c.bos_token_id);
  c.eos_token_id = r.get_int("eos_token_id", c.eos_token_id);
  c.pad_token_id = r.get_int("pad_token_id", c.pad_token_id);

  auto positive = [&](const char* key, int value) {
    if (value <= 0)
      throw rip::Error("'" + r.path.string() + "': \"" + std::string(key) + "\" is " +
          std::to_string(value) + "; it must be positive");
  };
  positive("hidden_size", c.hidden_size);
  positive("intermediate_size", c.intermediate_size);
  positive("num_hidden_layers", c.num_hidden_layers);
  positive("num_attention_heads", c.num_attention_heads);
  positive("max_position_embeddings", c.max_position_embeddings);
  positive("vocab_size", c.vocab_size);
  if (c.hidden_size % c.num_attention_heads != 0)
    throw rip::Error("'" + r.path.string() + "': hidden_size " + std::to_string(c.hidden_size) +
        " is not divisible by num_attention_heads " + std::to_string(c.num_attention_heads));
  if (c.hidden_act != "gelu" && c.hidden_act != "quick_gelu")
    throw rip::Error("'" + r.path.string() + "': hidden_act \"" + c.hidden_act +
        "\" is not supported; Stable Diffusion's CLIP text encoders use \"gelu\" "
        "(SD2) or \"quick_gelu\" (SD1.x)");
  return c;
}

namespace {

// torch.finfo(dtype).min, the "masked" value transformers adds.
double finfo_min(at::ScalarType dtype) {
  switch (dtype) {
    case at::kFloat: return std::numeric_limits<float>::lowest();
    case at::kBFloat16: return static_cast<float>(std::numeric_limits<c10::BFloat16>::lowest());
    case at::kHalf: return static_cast<float>(std::numeric_limits<c10::Half>::lowest());
    case at::kDouble: return std::numeric_limits<double>::lowest();
    default:
      throw rip::Error("ClipTextModel: unsupported dtype " + std::string(c10::toString(dtype)));
  }
}

}  // namespace

ClipTextModel::ClipTextModel(
    const ClipTextConfig& config, const Weights& weights, at::ScalarType dtype, at::Device device)
    : config_(config), dtype_(dtype), device_(device) {
  if (dtype != at::kFloat && dtype != at::kBFloat16 && dtype != at::kHalf)
    throw rip::Error("ClipTextModel: dtype " + std::string(c10::toString(dtype)) +
        " is not supported; use fp32, bf16 or fp16");
  if (dtype == at::kHalf && device.is_cpu())
    throw rip::Error(
        "ClipTextModel: fp16 needs a CUDA device: libtorch's CPU kernels have no "
        "fp16 matmul or LayerNorm (neither has PyTorch's); use fp32 or bf16 on CPU");
  c10::InferenceMode guard;
  const int64_t d = config.hidden_size, inter = config.intermediate_size;
  auto get = [&](const std::string& name, at::IntArrayRef shape) {
    return weights.get("text_model." + name, dtype, shape).to(device);
  };
  auto linear = [&](const std::string& name, int64_t out, int64_t in) {
    return Linear{get(name + ".weight", {out, in}), get(name + ".bias", {out})};
  };
  auto norm = [&](const std::string& name) {
    return LayerNorm{get(name + ".weight", {d}), get(name + ".bias", {d})};
  };
  token_embedding_ = get("embeddings.token_embedding.weight", {config.vocab_size, d});
  position_embedding_ =
      get("embeddings.position_embedding.weight", {config.max_position_embeddings, d});
  // A non-persistent buffer that older exports saved: positions are always
  // 0..L-1 here, as transformers computes them when none are given.
  if (weights.has("text_model.embeddings.position_ids"))
    weights.get("text_model.embeddings.position_ids", at::kLong);
  for (int i = 0; i < config.num_hidden_layers; ++i) {
    const std::string p = "encoder.layers." + std::to_string(i) + ".";
    Layer layer;
    layer.layer_norm1 = norm(p + "layer_norm1");
    layer.q_proj = linear(p + "self_attn.q_proj", d, d);
    layer.k_proj = linear(p + "self_attn.k_proj", d, d);
    layer.v_proj = linear(p + "self_attn.v_proj", d, d);
    layer.out_proj = linear(p + "self_attn.out_proj", d, d);
    layer.layer_norm2 = norm(p + "layer_norm2");
    layer.fc1 = linear(p + "mlp.fc1", inter, d);
    layer.fc2 = linear(p + "mlp.fc2", d, inter);
    layers_.push_back(std::move(layer));
  }
  final_layer_norm_ = norm("final_layer_norm");

  const auto unused = weights.unused();
  if (!unused.empty()) {
    std::string list;
    for (size_t i = 0; i < unused.size() && i < 8; ++i) list += (i ? ", " : "") + unused[i];
    if (unused.size() > 8) list += ", ... (" + std::to_string(unused.size()) + " in all)";
    throw rip::Error("the text encoder weights " + weights.describe() +
        " hold tensors that a "
        "CLIPTextModel with this config.json does not use: " +
        list + ". Is num_hidden_layers right, and is this the text_encoder folder?");
  }
}

ClipTextModel ClipTextModel::load(const std::filesystem::path& component_dir, at::ScalarType dtype,
    at::Device device, const std::string& variant) {
  const ClipTextConfig config = ClipTextConfig::load(component_dir / "config.json");
  const Weights weights = Weights::open(component_dir, "model", variant);
  return ClipTextModel(config, weights, dtype, device);
}

at::Tensor ClipTextModel::layer_norm(const LayerNorm& norm, const at::Tensor& x) const {
  return at::layer_norm(x, {config_.hidden_size}, norm.weight, norm.bias, config_.layer_norm_eps);
}

// CLIPAttention.forward (eager), op for op.
at::Tensor ClipTextModel::attention(
    const Layer& layer, const at::Tensor& hidden, const at::Tensor& causal_mask) const {
  const int64_t bsz = hidden.size(0), len = hidden.size(1), d = config_.hidden_size;
  const int64_t heads = config_.num_attention_heads, head_dim = d / heads;
  const double scale = std::pow(static_cast<double>(head_dim), -0.5);
  auto shape = [&](const at::Tensor& t) {  // CLIPAttention._shape
    return t.view({bsz, len, heads, head_dim}).transpose(1, 2).contiguous();
  };
  at::Tensor q = at::linear(hidden, layer.q_proj.weight, layer.q_proj.bias) * scale;
  at::Tensor k = shape(at::linear(hidden, layer.k_proj.weight, layer.k_proj.bias));
  at::Tensor v = shape(at::linear(hidden, layer.v_proj.weight, layer.v_proj.bias));
  q = shape(q).view({bsz * heads, len, head_dim});
  k = k.view({bsz * heads, len, head_dim});
  v = v.view({bsz * heads, len, head_dim});

  at::Tensor weights = at::bmm(q, k.transpose(1, 2));
  weights = (weights.view({bsz, heads, len, len}) + causal_mask).view({bsz * heads, len, len});
  // transformers' softmax here runs in the tensor's dtype (no fp32 upcast at
  // the pinned commit); bf16 results therefore match it op for op.
  weights = at::softmax(weights, -1);
  at::Tensor out = at::bmm(weights, v);
  out = out.view({bsz, heads, len, head_dim}).transpose(1, 2).reshape({bsz, len, d});
  return at::linear(out, layer.out_proj.weight, layer.out_proj.bias);
}

at::Tensor ClipTextModel::mlp(const Layer& layer, const at::Tensor& hidden) const {
  at::Tensor h = at::linear(hidden, layer.fc1.weight, layer.fc1.bias);
  if (config_.hidden_act == "gelu")
    h = at::gelu(h);
  else  // quick_gelu: input * sigmoid(1.702 * input)
    h = h * at::sigmoid(h * 1.702);
  return at::linear(h, layer.fc2.weight, layer.fc2.bias);
}

ClipTextOutput ClipTextModel::forward_with_pooling(const at::Tensor& input_ids) const {
  if (!input_ids.defined() || input_ids.dim() != 2)
    throw rip::Error("ClipTextModel: input_ids must be a [batch, length] tensor");
  if (input_ids.scalar_type() != at::kLong && input_ids.scalar_type() != at::kInt)
    throw rip::Error("ClipTextModel: input_ids must hold integers (int64 token ids)");
  const int64_t bsz = input_ids.size(0), len = input_ids.size(1);
  if (bsz < 1 || len < 1 || len > config_.max_position_embeddings)
    throw rip::Error("ClipTextModel: input_ids has shape [" + std::to_string(bsz) + ", " +
        std::to_string(len) + "]; the length must be 1.." +
        std::to_string(config_.max_position_embeddings) + " (max_position_embeddings)");
  c10::InferenceMode guard;
  const at::Tensor ids_cpu = input_ids.to(at::kCPU, at::kLong).contiguous();
  {
    const int64_t* p = ids_cpu.data_ptr<int64_t>();
    for (int64_t i = 0; i < ids_cpu.numel(); ++i) {
      if (p[i] < 0 || p[i] >= config_.vocab_size)
        throw rip::Error("ClipTextModel: token id " + std::to_string(p[i]) +
            " is outside the vocabulary (vocab_size " + std::to_string(config_.vocab_size) +
            "): the tokenizer does not belong to this text encoder");
    }
  }
  const at::Tensor ids = ids_cpu.to(device_);

  // CLIPTextEmbeddings: token + position embeddings (positions 0..L-1).
  const at::Tensor position_ids =
      at::arange(len, at::TensorOptions().dtype(at::kLong).device(device_)).unsqueeze(0);
  at::Tensor hidden =
      at::embedding(token_embedding_, ids) + at::embedding(position_embedding_, position_ids);

  // _create_4d_causal_attention_mask: finfo(dtype).min above the diagonal
  // (made in float32, then cast, as transformers does), [B, 1, L, L].
  const at::Tensor causal_mask =
      at::triu(at::full({len, len}, finfo_min(dtype_), at::TensorOptions().device(device_)), 1)
          .to(dtype_)
          .unsqueeze(0)
          .unsqueeze(0)
          .expand({bsz, 1, len, len});

  for (const Layer& layer : layers_) {
    // CLIPEncoderLayer: pre-LN attention and MLP with residuals.
    at::Tensor residual = hidden;
    hidden = residual + attention(layer, layer_norm(layer.layer_norm1, hidden), causal_mask);
    residual = hidden;
    hidden = residual + mlp(layer, layer_norm(layer.layer_norm2, hidden));
  }
  ClipTextOutput out;
  out.last_hidden_state = layer_norm(final_layer_norm_, hidden);

  // Pooling: the legacy eos_token_id == 2 configs take the position of the
  // largest id (eos is the largest in CLIP's vocab); newer ones the first eos.
  std::vector<int64_t> positions(static_cast<size_t>(bsz), 0);
  const int64_t* p = ids_cpu.data_ptr<int64_t>();
  for (int64_t b = 0; b < bsz; ++b) {
    const int64_t* row = p + b * len;
    int64_t best = 0;
    for (int64_t i = 1; i < len; ++i) {
      if (config_.eos_token_id == 2
              ? row[i] > row[best]
              : (row[best] != config_.eos_token_id && row[i] == config_.eos_token_id))
        best = i;
    }
    positions[static_cast<size_t>(b)] = best;
  }
  const at::Tensor index = at::tensor(positions, at::kLong).to(device_);
  out.pooler_output = out.last_hidden_state.index({at::arange(bsz, index.options()), index});
  return out;
}

at::Tensor ClipTextModel::forward(const at::Tensor& input_ids) const {
  return forward_with_pooling(input_ids).last_hidden_state;
}

at::Tensor ClipTextModel::encode(const std::vector<int64_t>& ids) const {
  const at::Tensor t = at::tensor(ids, at::kLong).unsqueeze(0);
  return forward(t);
}

}  // namespace rip::sd
