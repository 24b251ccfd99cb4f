// SPDX-License-Identifier: LGPL-2.1-or-later
#include "rip/io/model_folder.h"

#include <algorithm>
#include <optional>

#include <nlohmann/json.hpp>

#include "rip/error.h"
#include "rip/io/json_file.h"

namespace rip::io {

namespace fs = std::filesystem;

namespace {

bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

// The files of one variant ("" = the plain files), as diffusers names them
// (diffusers.utils.hub_utils._add_variant and
// models.model_loading_utils._fetch_index_file[_legacy]): safetensors first,
// then the PyTorch pickles diffusers and transformers wrote before
// safetensors (.bin; transformers calls its pickle "pytorch_model.bin" where
// its safetensors file is "model.safetensors").
struct VariantNames {
  struct Candidate {
    std::vector<std::string> indexes;  // in the order diffusers tries them
    std::string single;
  };
  std::vector<Candidate> candidates;  // in order of preference
};

VariantNames::Candidate candidate(
    const std::string& base, const std::string& ext, const std::string& variant) {
  if (variant.empty()) return {{base + "." + ext + ".index.json"}, base + "." + ext};
  return {{base + "." + ext + ".index." + variant + ".json",
              base + "." + ext + "." + variant + ".index.json"},
      base + "." + variant + "." + ext};
}

VariantNames variant_names(const std::string& base, const std::string& variant) {
  const std::string pickle_base = base == "model" ? "pytorch_model" : base;
  return {{candidate(base, "safetensors", variant), candidate(pickle_base, "bin", variant)}};
}

WeightFiles read_index(const fs::path& dir, const fs::path& index) {
  const nlohmann::json json = read_json(index);
  const auto map = json.is_object() ? json.find("weight_map") : json.end();
  if (map == json.end() || !map->is_object()) {
    throw rip::Error(
        "the shard index '" + index.string() + "' has no \"weight_map\" object; re-download it");
  }
  WeightFiles out;
  out.index = index;
  std::vector<std::string> shards;
  for (const auto& item : map->items()) {
    const std::string shard = item.value().is_string() ? item.value().get<std::string>() : "";
    // Shards sit beside the index; a name with a path in it (possibly
    // "../..") is refused rather than followed.
    if (shard.empty() || shard.find('/') != std::string::npos ||
        shard.find('\\') != std::string::npos || shard == "." || shard == "..") {
      throw rip::Error("the shard index '" + index.string() + "' maps tensor '" + item.key() +
          "' to " + item.value().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
          ", which is not a file name in that folder; re-download it");
    }
    out.weight_map[item.key()] = shard;
    shards.push_back(shard);
  }
  if (shards.empty()) {
    throw rip::Error("the shard index '" + index.string() + "' lists no tensors; re-download it");
  }
  std::sort(shards.begin(), shards.end());
  shards.erase(std::unique(shards.begin(), shards.end()), shards.end());
  for (const auto& shard : shards) {
    if (!is_file(dir / shard)) {
      throw rip::Error("'" + (dir / shard).string() + "' is missing: the shard index '" +
          index.string() + "' lists it; download every shard of the model");
    }
    out.files.push_back(dir / shard);
  }
  return out;
}

std::optional<WeightFiles> try_variant(const fs::path& dir, const VariantNames& names) {
  for (const auto& c : names.candidates) {
    for (const auto& index : c.indexes) {
      if (is_file(dir / index)) return read_index(dir, dir / index);
    }
    if (is_file(dir / c.single)) return WeightFiles{{dir / c.single}, {}, {}};
  }
  return std::nullopt;
}

std::string join(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : sep) + item;
  return out;
}

[[noreturn]] void nothing_found(
    const fs::path& dir, const std::string& base, const std::vector<std::string>& looked_for) {
  // Say what is there instead, so the user knows what to fetch or pass.
  std::vector<std::string> other_weights;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    const auto ends_with = [&](const std::string& suffix) {
      return name.size() >= suffix.size() &&
          name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    for (const char* ext : {".safetensors", ".bin", ".ckpt", ".pt", ".pth"}) {
      if (ends_with(ext)) other_weights.push_back(name);
    }
  }
  std::sort(other_weights.begin(), other_weights.end());
  std::string msg =
      "no weights found in '" + dir.string() + "': looked for " + join(looked_for, ", ") + ".";
  if (!other_weights.empty()) {
    msg += " The folder has " + join(other_weights, ", ") + ": if that is another variant of " +
        base + " (e.g. <base>.bf16.safetensors), ask for that variant.";
  } else {
    msg += " Download the model's weights into it (the whole diffusers folder).";
  }
  throw rip::Error(msg);
}

}  // namespace

WeightFiles find_weight_files(
    const fs::path& dir, const std::string& base, const std::string& variant) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw rip::Error("the model folder '" + dir.string() +
        "' does not exist or is not a folder (expected a diffusers component folder with " + base +
        ".safetensors)");
  }
  // diffusers falls back to the plain files for a component without the
  // variant; we also fall back from the plain files to fp16 (see model_folder.h).
  const std::string fallback = variant.empty() ? "fp16" : "";
  std::vector<std::string> looked_for;
  for (const std::string& v : {variant, fallback}) {
    const VariantNames names = variant_names(base, v);
    if (auto found = try_variant(dir, names)) return *found;
    for (const auto& c : names.candidates) {
      looked_for.insert(looked_for.end(), c.indexes.begin(), c.indexes.end());
      looked_for.push_back(c.single);
    }
  }
  nothing_found(dir, base, looked_for);
}

}  // namespace rip::io
