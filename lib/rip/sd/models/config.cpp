// SPDX-License-Identifier: LGPL-2.1-or-later
//
// UNetConfig and VaeConfig from diffusers' config.json files (no torch here,
// so this file compiles fast). Defaults are those of the diffusers v0.31.0
// constructors: the original SD2-inpainting files predate many keys.
#include <algorithm>
#include <string>

#include "rip/error.h"
#include "rip/io/json_file.h"
#include "rip/sd/models/unet.h"
#include "rip/sd/models/vae.h"

namespace rip::sd {

namespace {

[[noreturn]] void unsupported(
    const io::ConfigReader& r, const std::string& key, const std::string& why) {
  throw Error(r.path.string() + ": \"" + key + "\" " + why +
      ". This port implements the Stable Diffusion 1.x/2.x architecture only.");
}

// Keys that select diffusers features this port does not implement must be
// absent or null.
void require_null(const io::ConfigReader& r, const std::vector<std::string>& keys) {
  for (const std::string& key : keys) {
    if (r.has(key)) unsupported(r, key, "is set (" + r.json.at(key).dump() + ")");
  }
}

void require_string(const io::ConfigReader& r, const std::string& key, const std::string& fallback,
    const std::vector<std::string>& allowed) {
  const std::string v = r.get_string(key, fallback);
  if (std::find(allowed.begin(), allowed.end(), v) == allowed.end()) {
    unsupported(r, key, "is \"" + v + "\"");
  }
}

void require_positive(
    const io::ConfigReader& r, const std::string& key, const std::vector<int>& v) {
  for (int x : v) {
    if (x <= 0) unsupported(r, key, "has a value that is not a positive integer");
  }
}

// A bool or a list of bools that must all be false.
void require_false(const io::ConfigReader& r, const std::string& key) {
  if (!r.has(key)) return;
  const nlohmann::json& j = r.json.at(key);
  bool any = false;
  if (j.is_boolean())
    any = j.get<bool>();
  else if (j.is_array()) {
    for (const auto& e : j) any = any || (e.is_boolean() && e.get<bool>());
  } else {
    unsupported(r, key, "is neither a bool nor a list of bools");
  }
  if (any) unsupported(r, key, "is true");
}

}  // namespace

UNetConfig UNetConfig::load(const std::filesystem::path& config_json) {
  return from(io::ConfigReader::open(config_json));
}

UNetConfig UNetConfig::from(const io::ConfigReader& r) {
  UNetConfig c;
  c.source = r.path;
  c.in_channels = r.get_int("in_channels", 4);
  c.out_channels = r.get_int("out_channels", 4);
  c.sample_size = r.has("sample_size") && r.json.at("sample_size").is_number_integer()
      ? r.get_int("sample_size", 64)
      : 64;
  c.center_input_sample = r.get_bool("center_input_sample", false);
  c.flip_sin_to_cos = r.get_bool("flip_sin_to_cos", true);
  c.freq_shift = r.get_double("freq_shift", 0);
  c.down_block_types = r.get_string_list("down_block_types",
      {"CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"});
  c.up_block_types = r.get_string_list("up_block_types",
      {"UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"});
  // get_down_block/get_up_block strip a "UNetRes" prefix.
  for (auto* types : {&c.down_block_types, &c.up_block_types}) {
    for (std::string& t : *types) {
      if (t.rfind("UNetRes", 0) == 0) t = t.substr(7);
    }
  }
  c.mid_block_type = r.json.contains("mid_block_type") && r.json.at("mid_block_type").is_null()
      ? ""
      : r.get_string("mid_block_type", "UNetMidBlock2DCrossAttn");
  const size_t n = c.down_block_types.size();
  if (n == 0) unsupported(r, "down_block_types", "is empty");
  for (const std::string& t : c.down_block_types) {
    if (t != "CrossAttnDownBlock2D" && t != "DownBlock2D") {
      unsupported(r, "down_block_types", "contains \"" + t + "\"");
    }
  }
  for (const std::string& t : c.up_block_types) {
    if (t != "CrossAttnUpBlock2D" && t != "UpBlock2D") {
      unsupported(r, "up_block_types", "contains \"" + t + "\"");
    }
  }
  if (c.up_block_types.size() != n) {
    unsupported(r, "up_block_types", "does not have as many entries as down_block_types");
  }
  if (!c.mid_block_type.empty() && c.mid_block_type != "UNetMidBlock2DCrossAttn") {
    unsupported(r, "mid_block_type", "is \"" + c.mid_block_type + "\"");
  }
  c.block_out_channels = r.get_int_list("block_out_channels", n, {320, 640, 1280, 1280});
  if (c.block_out_channels.size() != n) {
    unsupported(r, "block_out_channels", "does not have as many entries as down_block_types");
  }
  c.layers_per_block = r.get_int_list("layers_per_block", n, std::vector<int>(n, 2));
  c.downsample_padding = r.get_int("downsample_padding", 1);
  c.mid_block_scale_factor = r.get_double("mid_block_scale_factor", 1.0);
  if (r.json.contains("norm_num_groups") && r.json.at("norm_num_groups").is_null()) {
    unsupported(r, "norm_num_groups", "is null");
  }
  c.norm_num_groups = r.get_int("norm_num_groups", 32);
  c.norm_eps = r.get_double("norm_eps", 1e-5);
  c.cross_attention_dim = r.get_int_list("cross_attention_dim", n, std::vector<int>(n, 1280));
  if (r.has("transformer_layers_per_block") &&
      r.json.at("transformer_layers_per_block").is_array()) {
    for (const auto& e : r.json.at("transformer_layers_per_block")) {
      if (e.is_array()) unsupported(r, "transformer_layers_per_block", "is a list of lists");
    }
  }
  c.transformer_layers_per_block =
      r.get_int_list("transformer_layers_per_block", n, std::vector<int>(n, 1));
  if (r.has("num_attention_heads")) {
    // diffusers 0.31 refuses it too (diffusers#2011).
    unsupported(r, "num_attention_heads",
        "is set; diffusers takes the head count from "
        "attention_head_dim");
  }
  c.num_attention_heads = r.get_int_list("attention_head_dim", n, std::vector<int>(n, 8));
  c.use_linear_projection = r.get_bool("use_linear_projection", false);
  c.upcast_attention = r.get_bool("upcast_attention", false);
  const std::string shift = r.get_string("resnet_time_scale_shift", "default");
  if (shift != "default" && shift != "scale_shift") {
    unsupported(r, "resnet_time_scale_shift", "is \"" + shift + "\"");
  }
  c.resnet_time_scale_shift = shift == "scale_shift";
  c.conv_in_kernel = r.get_int("conv_in_kernel", 3);
  c.conv_out_kernel = r.get_int("conv_out_kernel", 3);
  for (int k : {c.conv_in_kernel, c.conv_out_kernel}) {
    if (k <= 0 || k % 2 == 0) unsupported(r, "conv_in_kernel/conv_out_kernel", "is not odd");
  }
  require_positive(r, "block_out_channels", c.block_out_channels);
  require_positive(r, "layers_per_block", c.layers_per_block);
  require_positive(r, "cross_attention_dim", c.cross_attention_dim);
  require_positive(r, "transformer_layers_per_block", c.transformer_layers_per_block);
  require_positive(r, "attention_head_dim", c.num_attention_heads);
  if (c.in_channels <= 0 || c.out_channels <= 0) unsupported(r, "in_channels", "is not positive");

  require_string(r, "act_fn", "silu", {"silu", "swish"});
  require_string(r, "time_embedding_type", "positional", {"positional"});
  require_string(r, "attention_type", "default", {"default"});
  require_null(r,
      {"time_embedding_dim", "time_embedding_act_fn", "timestep_post_act", "time_cond_proj_dim",
          "class_embed_type", "num_class_embeds", "addition_embed_type", "encoder_hid_dim",
          "encoder_hid_dim_type", "cross_attention_norm", "reverse_transformer_layers_per_block"});
  require_false(r, "dual_cross_attention");
  require_false(r, "only_cross_attention");
  require_false(r, "class_embeddings_concat");
  // Not read on purpose: resnet_skip_time_act, resnet_out_scale_factor,
  // mid_block_only_cross_attention and addition_embed_type_num_heads only
  // reach block types this port rejects above; dropout is off at inference.
  return c;
}

VaeConfig VaeConfig::load(const std::filesystem::path& config_json) {
  return from(io::ConfigReader::open(config_json));
}

VaeConfig VaeConfig::from(const io::ConfigReader& r) {
  VaeConfig c;
  c.source = r.path;
  c.in_channels = r.get_int("in_channels", 3);
  c.out_channels = r.get_int("out_channels", 3);
  c.down_block_types = r.get_string_list("down_block_types", {"DownEncoderBlock2D"});
  c.up_block_types = r.get_string_list("up_block_types", {"UpDecoderBlock2D"});
  const size_t n = c.down_block_types.size();
  for (const std::string& t : c.down_block_types) {
    if (t != "DownEncoderBlock2D") unsupported(r, "down_block_types", "contains \"" + t + "\"");
  }
  for (const std::string& t : c.up_block_types) {
    if (t != "UpDecoderBlock2D") unsupported(r, "up_block_types", "contains \"" + t + "\"");
  }
  c.block_out_channels = r.get_int_list("block_out_channels", n, {64});
  if (n == 0 || c.block_out_channels.size() != n || c.up_block_types.size() != n) {
    unsupported(r, "block_out_channels", "does not match down_block_types/up_block_types");
  }
  require_positive(r, "block_out_channels", c.block_out_channels);
  c.layers_per_block = r.get_int("layers_per_block", 1);
  c.latent_channels = r.get_int("latent_channels", 4);
  c.norm_num_groups = r.get_int("norm_num_groups", 32);
  require_positive(r, "layers_per_block/latent_channels/norm_num_groups",
      {c.layers_per_block, c.latent_channels, c.norm_num_groups, c.in_channels, c.out_channels});
  if (r.has("sample_size") && r.json.at("sample_size").is_number_integer()) {
    c.sample_size = r.get_int("sample_size", 32);
  }
  c.scaling_factor = r.get_double("scaling_factor", 0.18215);
  if (r.has("shift_factor")) c.shift_factor = r.get_double("shift_factor", 0.0);
  c.force_upcast = r.get_bool("force_upcast", true);
  c.use_quant_conv = r.get_bool("use_quant_conv", true);
  c.use_post_quant_conv = r.get_bool("use_post_quant_conv", true);
  c.mid_block_add_attention = r.get_bool("mid_block_add_attention", true);
  require_string(r, "act_fn", "silu", {"silu", "swish"});
  return c;
}

}  // namespace rip::sd
