// SPDX-License-Identifier: LGPL-2.1-or-later
#include "rip/sd/io/weights.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>

#include "rip/error.h"
#include "rip/sd/io/json_file.h"

namespace rip::sd {

// safetensors data is little-endian and is viewed in place.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
    "the weights are viewed in place and safetensors is little-endian: big-endian hosts "
    "would need a byte-swapping copy in Weights::get");

namespace fs = std::filesystem;

namespace {

std::string shape_string(at::IntArrayRef shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

std::optional<at::ScalarType> scalar_type(st::DType dtype) {
  switch (dtype) {
    case st::DType::Bool: return at::kBool;
    case st::DType::U8: return at::kByte;
    case st::DType::I8: return at::kChar;
    case st::DType::I16: return at::kShort;
    case st::DType::I32: return at::kInt;
    case st::DType::I64: return at::kLong;
    case st::DType::F16: return at::kHalf;
    case st::DType::BF16: return at::kBFloat16;
    case st::DType::F32: return at::kFloat;
    case st::DType::F64: return at::kDouble;
    case st::DType::U16:
    case st::DType::U32:
    case st::DType::U64: return std::nullopt;  // no such ScalarType in libtorch 1.13
  }
  return std::nullopt;
}

bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

// The files of one variant ("" = the plain files), as diffusers names them
// (diffusers.utils.hub_utils._add_variant and
// models.model_loading_utils._fetch_index_file[_legacy]).
struct VariantNames {
  std::vector<std::string> indexes;  // in the order diffusers tries them
  std::string single;
};

VariantNames variant_names(const std::string& base, const std::string& variant) {
  if (variant.empty()) return {{base + ".safetensors.index.json"}, base + ".safetensors"};
  return {{base + ".safetensors.index." + variant + ".json",
              base + ".safetensors." + variant + ".index.json"},
      base + "." + variant + ".safetensors"};
}

struct Resolved {
  std::vector<fs::path> files;
  fs::path index;                                 // empty when not sharded
  std::map<std::string, std::string> weight_map;  // tensor -> shard file name
};

Resolved read_index(const fs::path& dir, const fs::path& index) {
  const nlohmann::json json = read_json(index);
  const auto map = json.is_object() ? json.find("weight_map") : json.end();
  if (map == json.end() || !map->is_object()) {
    throw rip::Error("the shard index '" + index.string() +
        "' has no \"weight_map\" object; re-download it");
  }
  Resolved out;
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

std::optional<Resolved> try_variant(const fs::path& dir, const VariantNames& names) {
  for (const auto& index : names.indexes) {
    if (is_file(dir / index)) return read_index(dir, dir / index);
  }
  if (is_file(dir / names.single)) return Resolved{{dir / names.single}, {}, {}};
  return std::nullopt;
}

std::string join(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : sep) + item;
  return out;
}

[[noreturn]] void nothing_found(const fs::path& dir, const std::string& base,
    const std::vector<std::string>& looked_for) {
  // Say what is there instead, so the user knows what to fetch or pass.
  std::vector<std::string> bins, other_safetensors;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    const auto ends_with = [&](const std::string& suffix) {
      return name.size() >= suffix.size() &&
          name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    if (ends_with(".bin") || ends_with(".ckpt") || ends_with(".pt") || ends_with(".pth")) {
      bins.push_back(name);
    } else if (ends_with(".safetensors")) {
      other_safetensors.push_back(name);
    }
  }
  std::sort(bins.begin(), bins.end());
  std::sort(other_safetensors.begin(), other_safetensors.end());
  std::string msg = "no weights found in '" + dir.string() + "': looked for " +
      join(looked_for, ", ") + ".";
  if (!other_safetensors.empty()) {
    msg += " The folder has " + join(other_safetensors, ", ") +
        ": if that is another variant of " + base +
        " (e.g. <base>.bf16.safetensors), ask for that variant.";
  }
  if (!bins.empty()) {
    msg += " It has only PyTorch pickle files (" + join(bins, ", ") +
        "), which are not supported (loading them runs arbitrary code): download the "
        ".safetensors files of this model instead (" + base + ".safetensors or " + base +
        ".fp16.safetensors).";
  }
  if (other_safetensors.empty() && bins.empty()) {
    msg += " Download the model's weights into it (the whole diffusers folder).";
  }
  throw rip::Error(msg);
}

Resolved resolve(const fs::path& dir, const std::string& base, const std::string& variant) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw rip::Error("the model folder '" + dir.string() +
        "' does not exist or is not a folder (expected a diffusers component folder with " +
        base + ".safetensors)");
  }
  // diffusers falls back to the plain files for a component without the
  // variant; we also fall back from the plain files to fp16 (see weights.h).
  const std::string fallback = variant.empty() ? "fp16" : "";
  std::vector<std::string> looked_for;
  for (const std::string& v : {variant, fallback}) {
    const VariantNames names = variant_names(base, v);
    if (auto found = try_variant(dir, names)) return *found;
    looked_for.insert(looked_for.end(), names.indexes.begin(), names.indexes.end());
    looked_for.push_back(names.single);
  }
  nothing_found(dir, base, looked_for);
}

}  // namespace

std::vector<fs::path> find_weight_files(const fs::path& component_dir, const std::string& base,
    const std::string& variant) {
  return resolve(component_dir, base, variant).files;
}

struct Weights::Impl {
  struct Entry {
    std::shared_ptr<const st::File> file;
    const st::TensorInfo* info;
  };
  std::vector<std::shared_ptr<const st::File>> files;
  std::map<std::string, Entry> entries;
  std::map<std::string, std::vector<std::string>> aliases;  // to -> from, in order
  mutable std::mutex mutex;                                // guards used
  mutable std::set<std::string> used;

  // The stored name `name` reads (itself or an alias), or nullptr.
  const std::pair<const std::string, Entry>* lookup(const std::string& name) const {
    auto it = entries.find(name);
    if (it != entries.end()) return &*it;
    auto alias = aliases.find(name);
    if (alias != aliases.end()) {
      for (const auto& from : alias->second) {
        auto found = entries.find(from);
        if (found != entries.end()) return &*found;
      }
    }
    return nullptr;
  }

  std::string describe() const {
    std::vector<std::string> paths;
    for (const auto& f : files) paths.push_back("'" + f->path() + "'");
    return join(paths, ", ");
  }

  const std::pair<const std::string, Entry>& require(const std::string& name) const {
    if (const auto* found = lookup(name)) return *found;
    std::string tried = "'" + name + "'";
    auto alias = aliases.find(name);
    if (alias != aliases.end()) {
      for (const auto& from : alias->second) tried += " or '" + from + "'";
    }
    throw rip::Error("tensor " + tried + " is missing from " + describe() +
        ": these weights do not belong to a model with this config.json (wrong or "
        "incomplete file?)");
  }
};

Weights Weights::open(const fs::path& component_dir, const std::string& base,
    const std::string& variant) {
  const Resolved resolved = resolve(component_dir, base, variant);
  Weights weights = from_files(resolved.files);
  // A shard that lacks what the index promises is an incomplete or mixed
  // download; say so now rather than as a missing tensor later.
  for (const auto& [name, shard] : resolved.weight_map) {
    auto it = weights.impl_->entries.find(name);
    const fs::path expected = component_dir / shard;
    if (it == weights.impl_->entries.end() || fs::path(it->second.file->path()) != expected) {
      throw rip::Error("the shard index '" + resolved.index.string() + "' puts tensor '" + name +
          "' in '" + expected.string() + "', but " +
          (it == weights.impl_->entries.end()
                  ? std::string("no shard has it")
                  : "it is in '" + it->second.file->path() + "'") +
          ": the shards do not belong to this index; download them again");
    }
  }
  return weights;
}

Weights Weights::from_files(const std::vector<fs::path>& files) {
  Weights weights;
  weights.impl_ = std::make_shared<Impl>();
  for (const auto& path : files) {
    auto file = st::File::open(path.string());
    for (const auto& info : file->tensors()) {
      auto [it, inserted] = weights.impl_->entries.emplace(info.name, Impl::Entry{file, &info});
      if (!inserted) {
        throw rip::Error("tensor '" + info.name + "' is in both '" + it->second.file->path() +
            "' and '" + file->path() + "': these files do not belong together");
      }
    }
    weights.impl_->files.push_back(std::move(file));
  }
  return weights;
}

bool Weights::has(const std::string& name) const { return impl_ && impl_->lookup(name); }

std::vector<int64_t> Weights::shape(const std::string& name) const {
  if (!impl_) throw rip::Error("Weights::shape on weights that were never opened");
  return impl_->require(name).second.info->shape;
}

std::vector<std::string> Weights::names() const {
  std::vector<std::string> out;
  if (impl_) {
    for (const auto& entry : impl_->entries) out.push_back(entry.first);
  }
  return out;
}

at::Tensor Weights::get(const std::string& name, at::ScalarType dtype,
    at::IntArrayRef expected_shape) const {
  if (!impl_) throw rip::Error("Weights::get('" + name + "') on weights that were never opened");
  const auto& [stored_name, entry] = impl_->require(name);
  const st::TensorInfo& info = *entry.info;
  const std::string what = "tensor '" + stored_name + "' in '" + entry.file->path() + "'";

  if (!expected_shape.empty() && at::IntArrayRef(info.shape) != expected_shape) {
    throw rip::Error(what + " has shape " + shape_string(info.shape) + " but this model's config "
        "needs " + shape_string(expected_shape) +
        (stored_name != name ? " (read as '" + name + "')" : std::string()) +
        ": the weights do not match config.json");
  }
  const auto stored = scalar_type(info.dtype);
  if (!stored) {
    throw rip::Error(what + " has dtype " + st::dtype_name(info.dtype) +
        ", which libtorch cannot hold; expected F32, F16 or BF16 weights");
  }
  if (at::isFloatingType(*stored) && !at::isFloatingType(dtype)) {
    throw rip::Error(what + " holds " + st::dtype_name(info.dtype) + " values but was asked for as " +
        c10::toString(dtype) + "; refusing to truncate them (a bug in the caller)");
  }
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->used.insert(stored_name);
  }

  const auto options = at::TensorOptions().dtype(*stored).device(at::kCPU);
  void* data = const_cast<uint8_t*>(entry.file->data(info));
  at::Tensor view;
  if (reinterpret_cast<uintptr_t>(data) % st::dtype_size(info.dtype) == 0) {
    // The deleter holds the file: the mapping outlives every view of it.
    std::shared_ptr<const st::File> keep = entry.file;
    view = at::from_blob(data, info.shape, [keep](void*) {}, options);
  } else {
    // Offsets that break the element alignment are legal in the format (the
    // reference writer only avoids them); ATen kernels expect aligned data.
    view = at::empty(info.shape, options);
    std::memcpy(view.data_ptr(), data, info.nbytes);
  }
  return *stored == dtype ? view : view.to(dtype);
}

at::Tensor Weights::get_reshaped(const std::string& name, at::ScalarType dtype,
    at::IntArrayRef shape) const {
  at::Tensor t = get(name, dtype);
  int64_t numel = 1;
  for (int64_t d : shape) numel *= d;
  if (t.numel() != numel) {
    const auto& [stored_name, entry] = impl_->require(name);
    throw rip::Error("tensor '" + stored_name + "' in '" + entry.file->path() + "' has shape " +
        shape_string(t.sizes()) + " (" + std::to_string(t.numel()) + " values) but this model's "
        "config needs " + shape_string(shape) + " (" + std::to_string(numel) +
        " values): the weights do not match config.json");
  }
  return t.reshape(shape);
}

std::vector<std::string> Weights::unused() const {
  std::vector<std::string> out;
  if (!impl_) return out;
  std::lock_guard<std::mutex> lock(impl_->mutex);
  for (const auto& entry : impl_->entries) {
    if (!impl_->used.count(entry.first)) out.push_back(entry.first);
  }
  return out;
}

void Weights::add_alias(const std::string& to, const std::string& from) {
  if (!impl_) throw rip::Error("Weights::add_alias on weights that were never opened");
  impl_->aliases[to].push_back(from);
}

std::string Weights::describe() const { return impl_ ? impl_->describe() : "(no weights)"; }

}  // namespace rip::sd
