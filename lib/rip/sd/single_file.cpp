// SPDX-License-Identifier: LGPL-2.1-or-later
#include "rip/sd/single_file.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "rip/error.h"

namespace rip::sd {

namespace fs = std::filesystem;

namespace {

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// "12.rest" -> (12, "rest"); nothing when s does not start with a number.
std::optional<std::pair<int, std::string>> leading_index(const std::string& s) {
  size_t i = 0;
  while (i < s.size() && i < 6 && s[i] >= '0' && s[i] <= '9') i++;
  if (i == 0 || i == s.size() || s[i] != '.') return std::nullopt;
  return std::make_pair(std::stoi(s.substr(0, i)), s.substr(i + 1));
}

// The tensors of one part of the file, renamed; names the part has no place
// for are collected, so the error lists them all at once.
struct Part {
  explicit Part(std::string in_file) : prefix(std::move(in_file)) {}
  std::string prefix;  // in the file, e.g. "model.diffusion_model."
  std::vector<Weights::Rename> renames;
  std::vector<std::string> unplaced;
  void add(const std::string& to, const std::string& rest) {
    renames.push_back({to, prefix + rest});
  }
};

// ldm's ResBlock -> diffusers' ResnetBlock2D (the UNet's resnets).
std::optional<std::string> unet_resnet(const std::string& rest) {
  static const std::pair<const char*, const char*> map[] = {{"in_layers.0.", "norm1."},
      {"in_layers.2.", "conv1."}, {"emb_layers.1.", "time_emb_proj."}, {"out_layers.0.", "norm2."},
      {"out_layers.3.", "conv2."}, {"skip_connection.", "conv_shortcut."}};
  for (const auto& [from, to] : map) {
    if (starts_with(rest, from)) return to + rest.substr(std::string(from).size());
  }
  return std::nullopt;
}

// The UNet: diffusers' convert_ldm_unet_checkpoint, for any number of blocks
// and layers (input_blocks count: conv_in, then per down block its layers
// and a downsampler except after the last).
void map_unet(Part& p, const std::vector<std::string>& rests) {
  int first_downsampler = -1, last_input = 0;
  for (const auto& r : rests) {
    if (!starts_with(r, "input_blocks.")) continue;
    auto idx = leading_index(r.substr(13));
    if (!idx) continue;
    last_input = std::max(last_input, idx->first);
    if (starts_with(idx->second, "0.op.") &&
        (first_downsampler < 0 || idx->first < first_downsampler))
      first_downsampler = idx->first;
  }
  // Layers per block: the downsampler follows the first block's layers.
  const int layers = first_downsampler > 0 ? first_downsampler - 1 : last_input;
  const int stride = layers + 1;
  for (const auto& r : rests) {
    std::optional<std::string> to;
    if (starts_with(r, "time_embed.0.")) {
      to = "time_embedding.linear_1." + r.substr(13);
    } else if (starts_with(r, "time_embed.2.")) {
      to = "time_embedding.linear_2." + r.substr(13);
    } else if (starts_with(r, "out.0.")) {
      to = "conv_norm_out." + r.substr(6);
    } else if (starts_with(r, "out.2.")) {
      to = "conv_out." + r.substr(6);
    } else if (starts_with(r, "input_blocks.0.0.")) {
      to = "conv_in." + r.substr(17);
    } else if (starts_with(r, "input_blocks.")) {
      if (auto idx = leading_index(r.substr(13)); idx && layers > 0) {
        const int i = (idx->first - 1) / stride, j = (idx->first - 1) % stride;
        const std::string block = "down_blocks." + std::to_string(i) + ".";
        const std::string& sub = idx->second;
        if (j < layers && starts_with(sub, "0.")) {
          if (auto res = unet_resnet(sub.substr(2)))
            to = block + "resnets." + std::to_string(j) + "." + *res;
        } else if (j < layers && starts_with(sub, "1.")) {
          to = block + "attentions." + std::to_string(j) + "." + sub.substr(2);
        } else if (j == layers && starts_with(sub, "0.op.")) {
          to = block + "downsamplers.0.conv." + sub.substr(5);
        }
      }
    } else if (starts_with(r, "middle_block.")) {
      if (auto idx = leading_index(r.substr(13))) {
        if (idx->first == 1) {
          to = "mid_block.attentions.0." + idx->second;
        } else if (idx->first == 0 || idx->first == 2) {
          if (auto res = unet_resnet(idx->second))
            to = "mid_block.resnets." + std::to_string(idx->first / 2) + "." + *res;
        }
      }
    } else if (starts_with(r, "output_blocks.")) {
      if (auto idx = leading_index(r.substr(14))) {
        const int i = idx->first / stride, j = idx->first % stride;
        const std::string block = "up_blocks." + std::to_string(i) + ".";
        if (auto sub = leading_index(idx->second)) {
          if (sub->first == 0) {
            if (auto res = unet_resnet(sub->second))
              to = block + "resnets." + std::to_string(j) + "." + *res;
          } else if (starts_with(sub->second, "conv.")) {
            to = block + "upsamplers.0.conv." + sub->second.substr(5);
          } else if (sub->first == 1) {
            to = block + "attentions." + std::to_string(j) + "." + sub->second;
          }
        }
      }
    }
    if (to)
      p.add(*to, r);
    else
      p.unplaced.push_back(p.prefix + r);
  }
}

// ldm's VAE: diffusers' convert_ldm_vae_checkpoint.
void map_vae(Part& p, const std::vector<std::string>& rests) {
  int up_blocks = 0;
  for (const auto& r : rests) {
    if (!starts_with(r, "decoder.up.")) continue;
    if (auto idx = leading_index(r.substr(11))) up_blocks = std::max(up_blocks, idx->first + 1);
  }
  auto resnet = [](const std::string& rest) {
    return starts_with(rest, "nin_shortcut.") ? "conv_shortcut." + rest.substr(13) : rest;
  };
  for (const auto& r : rests) {
    std::optional<std::string> to;
    const bool encoder = starts_with(r, "encoder.");
    const std::string side = encoder ? "encoder." : "decoder.";
    const std::string rest = (encoder || starts_with(r, "decoder.")) ? r.substr(8) : "";
    if (starts_with(r, "quant_conv.") || starts_with(r, "post_quant_conv.")) {
      to = r;
    } else if (rest.empty()) {
      if (starts_with(r, "loss.")) continue;  // training-only (LPIPS, logvar)
    } else if (starts_with(rest, "conv_in.") || starts_with(rest, "conv_out.")) {
      to = r;
    } else if (starts_with(rest, "norm_out.")) {
      to = side + "conv_norm_out." + rest.substr(9);
    } else if (starts_with(rest, "mid.block_1.") || starts_with(rest, "mid.block_2.")) {
      to = side + "mid_block.resnets." + (rest[10] == '1' ? "0." : "1.") + resnet(rest.substr(12));
    } else if (starts_with(rest, "mid.attn_1.")) {
      static const std::pair<const char*, const char*> attn[] = {{"norm.", "group_norm."},
          {"q.", "to_q."}, {"k.", "to_k."}, {"v.", "to_v."}, {"proj_out.", "to_out.0."}};
      const std::string a = rest.substr(11);
      for (const auto& [from, name] : attn) {
        if (starts_with(a, from))
          to = side + "mid_block.attentions.0." + name + a.substr(std::string(from).size());
      }
    } else if (encoder && starts_with(rest, "down.")) {
      if (auto idx = leading_index(rest.substr(5))) {
        const std::string block = side + "down_blocks." + std::to_string(idx->first) + ".";
        if (starts_with(idx->second, "block.")) {
          if (auto j = leading_index(idx->second.substr(6)))
            to = block + "resnets." + std::to_string(j->first) + "." + resnet(j->second);
        } else if (starts_with(idx->second, "downsample.conv.")) {
          to = block + "downsamplers.0.conv." + idx->second.substr(16);
        }
      }
    } else if (!encoder && starts_with(rest, "up.")) {
      if (auto idx = leading_index(rest.substr(3))) {
        // ldm numbers the decoder's blocks from the lowest resolution up.
        const std::string block =
            side + "up_blocks." + std::to_string(up_blocks - 1 - idx->first) + ".";
        if (starts_with(idx->second, "block.")) {
          if (auto j = leading_index(idx->second.substr(6)))
            to = block + "resnets." + std::to_string(j->first) + "." + resnet(j->second);
        } else if (starts_with(idx->second, "upsample.conv.")) {
          to = block + "upsamplers.0.conv." + idx->second.substr(14);
        }
      }
    }
    if (to)
      p.add(*to, r);
    else
      p.unplaced.push_back(p.prefix + r);
  }
}

// SD 1.x: transformers' CLIPTextModel saved inside the checkpoint.
void map_clip(Part& p, const std::vector<std::string>& rests) {
  for (const auto& r : rests) {
    if (r == "text_model.embeddings.position_ids") continue;  // a buffer
    if (starts_with(r, "text_model."))
      p.add(r, r);
    else
      p.unplaced.push_back(p.prefix + r);
  }
}

// SD 2: OpenCLIP's text tower (diffusers' convert_open_clip_checkpoint):
// the first `layers` residual blocks; in_proj splits into q, k and v.
void map_open_clip(Part& p, const std::vector<std::string>& rests, int layers, int64_t hidden) {
  const std::string enc = "text_model.encoder.layers.";
  for (const auto& r : rests) {
    std::optional<std::string> to;
    if (r == "token_embedding.weight") {
      to = "text_model.embeddings.token_embedding.weight";
    } else if (r == "positional_embedding") {
      to = "text_model.embeddings.position_embedding.weight";
    } else if (starts_with(r, "ln_final.")) {
      to = "text_model.final_layer_norm." + r.substr(9);
    } else if (r == "text_projection" || r == "logit_scale" || r == "attn_mask" ||
        starts_with(r, "visual.")) {
      continue;  // used by CLIP's image side or its loss, not by SD
    } else if (starts_with(r, "transformer.resblocks.")) {
      auto idx = leading_index(r.substr(22));
      if (idx && idx->first >= layers) continue;  // SD 2 uses the penultimate layer
      if (idx) {
        const std::string layer = enc + std::to_string(idx->first) + ".";
        const std::string& sub = idx->second;
        static const std::pair<const char*, const char*> map[] = {{"ln_1.", "layer_norm1."},
            {"ln_2.", "layer_norm2."}, {"attn.out_proj.", "self_attn.out_proj."},
            {"mlp.c_fc.", "mlp.fc1."}, {"mlp.c_proj.", "mlp.fc2."}};
        for (const auto& [from, name] : map) {
          if (starts_with(sub, from)) to = layer + name + sub.substr(std::string(from).size());
        }
        if (sub == "attn.in_proj_weight" || sub == "attn.in_proj_bias") {
          const std::string kind = sub == "attn.in_proj_weight" ? "weight" : "bias";
          const char* parts[] = {"q_proj.", "k_proj.", "v_proj."};
          for (int k = 0; k < 3; k++) {
            p.renames.push_back(
                {layer + "self_attn." + parts[k] + kind, p.prefix + r, k * hidden, hidden});
          }
          continue;
        }
      }
    }
    if (to)
      p.add(*to, r);
    else
      p.unplaced.push_back(p.prefix + r);
  }
}

[[noreturn]] void unplaced(const fs::path& path, const std::vector<std::string>& names) {
  std::string list;
  for (size_t i = 0; i < names.size() && i < 5; i++) list += (i ? ", " : "") + names[i];
  if (names.size() > 5) list += " and " + std::to_string(names.size() - 5) + " more";
  throw Error("'" + path.string() +
      "' has tensors that have no place in a Stable Diffusion 1.x/2.x " + "model: " + list +
      ". Is it a checkpoint of another architecture (SDXL, SD 3...)? Those are not read");
}

std::vector<int64_t> shape_of(const Weights& w, const std::string& name) {
  return w.has(name) ? w.shape(name) : std::vector<int64_t>{};
}

int count_indexed(const Weights& w, const std::string& prefix) {
  int n = 0;
  while (w.has(prefix + std::to_string(n) + ".norm1.weight") ||
      w.has(prefix + std::to_string(n) + ".layer_norm1.weight") ||
      w.has(prefix + std::to_string(n) + ".norm.weight"))
    n++;
  return n;
}

nlohmann::json infer_unet(const Weights& w) {
  nlohmann::json c;
  std::vector<int> channels;
  std::vector<std::string> down, up;
  for (int i = 0; w.has("down_blocks." + std::to_string(i) + ".resnets.0.conv1.weight"); i++) {
    const std::string b = "down_blocks." + std::to_string(i) + ".";
    channels.push_back(int(w.shape(b + "resnets.0.conv1.weight")[0]));
    down.push_back(w.has(b + "attentions.0.norm.weight") ? "CrossAttnDownBlock2D" : "DownBlock2D");
    up.push_back(w.has("up_blocks." + std::to_string(i) + ".attentions.0.norm.weight")
            ? "CrossAttnUpBlock2D"
            : "UpBlock2D");
  }
  c["_class_name"] = "UNet2DConditionModel";
  c["in_channels"] = shape_of(w, "conv_in.weight").size() == 4 ? w.shape("conv_in.weight")[1] : 4;
  c["out_channels"] =
      shape_of(w, "conv_out.weight").size() == 4 ? w.shape("conv_out.weight")[0] : 4;
  c["block_out_channels"] = channels;
  c["down_block_types"] = down;
  c["up_block_types"] = up;
  c["layers_per_block"] = count_indexed(w, "down_blocks.0.resnets.");
  c["sample_size"] = 64;
  int context = 0, transformers = 1;
  bool linear = false;
  for (int i = 0; i < int(down.size()); i++) {
    const std::string a = "down_blocks." + std::to_string(i) + ".attentions.0.";
    if (!w.has(a + "norm.weight")) continue;
    context = int(w.shape(a + "transformer_blocks.0.attn2.to_k.weight")[1]);
    linear = w.shape(a + "proj_in.weight").size() == 2;
    transformers = 0;
    while (w.has(a + "transformer_blocks." + std::to_string(transformers) + ".norm1.weight"))
      transformers++;
    break;
  }
  c["cross_attention_dim"] = context;
  c["use_linear_projection"] = linear;
  c["transformer_layers_per_block"] = transformers;
  // The head count is not in the tensors. SD 1.x (768-wide context) uses 8
  // heads, SD 2 (1024) heads of 64 channels: what diffusers' configs say
  // (its "attention_head_dim" is the head count).
  if (context == 768) {
    c["attention_head_dim"] = 8;
  } else if (context == 1024) {
    std::vector<int> heads;
    for (int ch : channels) heads.push_back(ch / 64);
    c["attention_head_dim"] = heads;
  } else {
    c["num_attention_heads_unknown"] = true;
  }
  return c;
}

nlohmann::json infer_vae(const Weights& w) {
  nlohmann::json c;
  std::vector<int> channels;
  for (int i = 0; w.has("encoder.down_blocks." + std::to_string(i) + ".resnets.0.conv1.weight");
       i++)
    channels.push_back(
        int(w.shape("encoder.down_blocks." + std::to_string(i) + ".resnets.0.conv1.weight")[0]));
  c["_class_name"] = "AutoencoderKL";
  c["block_out_channels"] = channels;
  c["down_block_types"] = std::vector<std::string>(channels.size(), "DownEncoderBlock2D");
  c["up_block_types"] = std::vector<std::string>(channels.size(), "UpDecoderBlock2D");
  c["layers_per_block"] = count_indexed(w, "encoder.down_blocks.0.resnets.");
  c["in_channels"] =
      shape_of(w, "encoder.conv_in.weight").size() == 4 ? w.shape("encoder.conv_in.weight")[1] : 3;
  c["out_channels"] = shape_of(w, "decoder.conv_out.weight").size() == 4
      ? w.shape("decoder.conv_out.weight")[0]
      : 3;
  c["latent_channels"] =
      shape_of(w, "post_quant_conv.weight").size() == 4 ? w.shape("post_quant_conv.weight")[0] : 4;
  c["sample_size"] = 512;
  c["scaling_factor"] = 0.18215;
  return c;
}

nlohmann::json infer_text(const Weights& w, bool openclip) {
  nlohmann::json c;
  const auto tokens = shape_of(w, "text_model.embeddings.token_embedding.weight");
  const auto positions = shape_of(w, "text_model.embeddings.position_embedding.weight");
  const auto fc1 = shape_of(w, "text_model.encoder.layers.0.mlp.fc1.weight");
  const int64_t hidden = tokens.size() == 2 ? tokens[1] : 0;
  c["hidden_size"] = hidden;
  c["vocab_size"] = tokens.size() == 2 ? tokens[0] : 0;
  c["max_position_embeddings"] = positions.size() == 2 ? positions[0] : 77;
  c["intermediate_size"] = fc1.size() == 2 ? fc1[0] : 0;
  c["num_hidden_layers"] = count_indexed(w, "text_model.encoder.layers.");
  // CLIP ViT-L and OpenCLIP ViT-H both use heads of 64 channels.
  if (hidden >= 64 && hidden % 64 == 0)
    c["num_attention_heads"] = hidden / 64;
  else
    c["num_attention_heads_unknown"] = true;
  c["hidden_act"] = openclip ? "gelu" : "quick_gelu";
  c["layer_norm_eps"] = 1e-5;
  c["bos_token_id"] = 0;
  c["eos_token_id"] = 2;
  c["pad_token_id"] = 1;
  return c;
}

}  // namespace

bool is_single_file(const fs::path& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec);
}

SingleFile open_single_file(const fs::path& path, int text_layers) {
  const Weights all = Weights::from_files({path});
  // A .ckpt nests the tensors under "state_dict" (keys joined with '.').
  std::string root;
  for (const auto& n : all.names()) {
    if (starts_with(n, "state_dict.")) {
      root = "state_dict.";
      break;
    }
  }
  Part unet(root + "model.diffusion_model."), vae(root + "first_stage_model."),
      clip(root + "cond_stage_model.transformer."), open_clip(root + "cond_stage_model.model.");
  std::vector<std::string> unet_names, vae_names, clip_names, open_clip_names;
  for (const auto& n : all.names()) {
    for (auto [part, names] : {std::pair{&unet, &unet_names}, std::pair{&vae, &vae_names},
             std::pair{&clip, &clip_names}, std::pair{&open_clip, &open_clip_names}}) {
      if (starts_with(n, part->prefix)) names->push_back(n.substr(part->prefix.size()));
    }
  }
  if (unet_names.empty() || vae_names.empty() || (clip_names.empty() && open_clip_names.empty())) {
    throw Error("'" + path.string() +
        "' is not a single-file Stable Diffusion checkpoint: it lacks " +
        (unet_names.empty()         ? "the UNet (model.diffusion_model.*)"
                : vae_names.empty() ? "the VAE (first_stage_model.*)"
                                    : "the text encoder (cond_stage_model.*)") +
        ". Give model= a diffusers folder or an original checkpoint such as "
        "512-inpainting-ema.safetensors (docs/models.md)");
  }
  SingleFile out;
  out.path = path;
  out.openclip = clip_names.empty();
  map_unet(unet, unet_names);
  map_vae(vae, vae_names);
  Part& text = out.openclip ? open_clip : clip;
  if (out.openclip) {
    const std::string tokens = text.prefix + "token_embedding.weight";
    const int64_t hidden =
        all.has(tokens) && all.shape(tokens).size() == 2 ? all.shape(tokens)[1] : 0;
    int blocks = 0;
    for (const auto& n : open_clip_names) {
      if (!starts_with(n, "transformer.resblocks.")) continue;
      if (auto idx = leading_index(n.substr(22))) blocks = std::max(blocks, idx->first + 1);
    }
    // SD 2 conditions on the penultimate block's output (ldm's
    // FrozenOpenCLIPEmbedder layer="penultimate"), as diffusers' 23 layers.
    map_open_clip(text, open_clip_names, text_layers >= 0 ? text_layers : blocks - 1, hidden);
  } else {
    map_clip(text, clip_names);
  }
  std::vector<std::string> bad = unet.unplaced;
  bad.insert(bad.end(), vae.unplaced.begin(), vae.unplaced.end());
  bad.insert(bad.end(), text.unplaced.begin(), text.unplaced.end());
  if (!bad.empty()) unplaced(path, bad);
  out.unet = Weights::select(all, unet.renames, "its UNet, model.diffusion_model.*");
  out.vae = Weights::select(all, vae.renames, "its VAE, first_stage_model.*");
  out.text_encoder = Weights::select(
      all, text.renames, "its text encoder, " + text.prefix.substr(root.size()) + "*");
  out.unet_config = infer_unet(out.unet);
  out.vae_config = infer_vae(out.vae);
  out.text_encoder_config = infer_text(out.text_encoder, out.openclip);
  return out;
}

}  // namespace rip::sd
