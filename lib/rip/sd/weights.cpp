// SPDX-License-Identifier: LGPL-2.1-or-later
#include "rip/sd/weights.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>

#include "rip/error.h"
#include "rip/io/json_file.h"
#include "rip/io/model_folder.h"
#include "rip/io/shape.h"
#include "rip/io/tensor_file.h"

namespace rip::sd {

namespace fs = std::filesystem;

namespace {

std::string join(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : sep) + item;
  return out;
}

std::optional<at::ScalarType> scalar_type(io::DType dtype) {
  switch (dtype) {
    case io::DType::Bool: return at::kBool;
    case io::DType::U8: return at::kByte;
    case io::DType::I8: return at::kChar;
    case io::DType::I16: return at::kShort;
    case io::DType::I32: return at::kInt;
    case io::DType::I64: return at::kLong;
    case io::DType::F16: return at::kHalf;
    case io::DType::BF16: return at::kBFloat16;
    case io::DType::F32: return at::kFloat;
    case io::DType::F64: return at::kDouble;
    case io::DType::U16:
    case io::DType::U32:
    case io::DType::U64: return std::nullopt;  // no such ScalarType in libtorch 1.13
  }
  return std::nullopt;
}

}  // namespace

struct Weights::Impl {
  struct Entry {
    std::shared_ptr<const io::TensorFile> file;
    const io::TensorEntry* info;
    // rows [row_begin, row_begin + rows) of dim 0 (rows < 0: the whole
    // tensor); a fused q/k/v projection read as one of its parts.
    int64_t row_begin = 0;
    int64_t rows = -1;
    std::vector<int64_t> shape() const {
      std::vector<int64_t> out = info->shape;
      if (rows >= 0) out.at(0) = rows;
      return out;
    }
  };
  std::string what;  // the component of a single file, for messages ("" else)
  std::vector<std::shared_ptr<const io::TensorFile>> files;
  std::map<std::string, Entry> entries;
  std::map<std::string, std::vector<std::string>> aliases;  // to -> from, in order
  mutable std::mutex mutex;                                 // guards used
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
    return join(paths, ", ") + (what.empty() ? "" : " (" + what + ")");
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

Weights Weights::open(
    const fs::path& component_dir, const std::string& base, const std::string& variant) {
  const io::WeightFiles resolved = io::find_weight_files(component_dir, base, variant);
  Weights weights = from_files(resolved.files);
  // A shard that lacks what the index promises is an incomplete or mixed
  // download; say so now rather than as a missing tensor later.
  for (const auto& [name, shard] : resolved.weight_map) {
    auto it = weights.impl_->entries.find(name);
    const fs::path expected = component_dir / shard;
    if (it == weights.impl_->entries.end() || fs::path(it->second.file->path()) != expected) {
      throw rip::Error("the shard index '" + resolved.index.string() + "' puts tensor '" + name +
          "' in '" + expected.string() + "', but " +
          (it == weights.impl_->entries.end() ? std::string("no shard has it")
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
    auto file = io::TensorFile::open(path.string());
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

bool Weights::has(const std::string& name) const {
  return impl_ && impl_->lookup(name);
}

std::vector<int64_t> Weights::shape(const std::string& name) const {
  if (!impl_) throw rip::Error("Weights::shape on weights that were never opened");
  return impl_->require(name).second.shape();
}

std::vector<std::string> Weights::names() const {
  std::vector<std::string> out;
  if (impl_) {
    for (const auto& entry : impl_->entries) out.push_back(entry.first);
  }
  return out;
}

at::Tensor Weights::get(
    const std::string& name, at::ScalarType dtype, at::IntArrayRef expected_shape) const {
  if (!impl_) throw rip::Error("Weights::get('" + name + "') on weights that were never opened");
  const auto& [stored_name, entry] = impl_->require(name);
  const io::TensorEntry& info = *entry.info;
  const std::string what = "tensor '" + stored_name + "' in '" + entry.file->path() + "'";

  const std::vector<int64_t> shape = entry.shape();
  if (!expected_shape.empty() && at::IntArrayRef(shape) != expected_shape) {
    throw rip::Error(what + " has shape " + io::shape_string(shape) +
        " but this model's config "
        "needs " +
        io::shape_string(expected_shape) +
        (stored_name != name ? " (read as '" + name + "')" : std::string()) +
        ": the weights do not match config.json");
  }
  const auto stored = scalar_type(info.dtype);
  if (!stored) {
    throw rip::Error(what + " has dtype " + io::dtype_name(info.dtype) +
        ", which libtorch cannot hold; expected F32, F16 or BF16 weights");
  }
  if (at::isFloatingType(*stored) && !at::isFloatingType(dtype)) {
    throw rip::Error(what + " holds " + io::dtype_name(info.dtype) +
        " values but was asked for as " + c10::toString(dtype) +
        "; refusing to truncate them (a bug in the caller)");
  }
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->used.insert(stored_name);
  }

  const auto options = at::TensorOptions().dtype(*stored).device(at::kCPU);
  void* data = const_cast<uint8_t*>(entry.file->view(info));
  at::Tensor view;
  if (data && reinterpret_cast<uintptr_t>(data) % io::dtype_size(info.dtype) == 0) {
    // The deleter holds the file: the mapping outlives every view of it.
    std::shared_ptr<const io::TensorFile> keep = entry.file;
    view = at::from_blob(
        data, info.shape, [keep](void*) {}, options);
  } else {
    // Offsets that break the element alignment are legal in the formats (the
    // reference writers only avoid them), and compressed or strided tensors
    // are not in the file as they are in memory: copy those.
    const std::vector<uint8_t> bytes = entry.file->read(info);
    view = at::empty(info.shape, options);
    if (!bytes.empty()) std::memcpy(view.data_ptr(), bytes.data(), bytes.size());
  }
  if (entry.rows >= 0) view = view.narrow(0, entry.row_begin, entry.rows);
  return *stored == dtype ? view : view.to(dtype);
}

at::Tensor Weights::get_reshaped(
    const std::string& name, at::ScalarType dtype, at::IntArrayRef shape) const {
  at::Tensor t = get(name, dtype);
  int64_t numel = 1;
  for (int64_t d : shape) numel *= d;
  if (t.numel() != numel) {
    const auto& [stored_name, entry] = impl_->require(name);
    throw rip::Error("tensor '" + stored_name + "' in '" + entry.file->path() + "' has shape " +
        io::shape_string(t.sizes()) + " (" + std::to_string(t.numel()) +
        " values) but this model's "
        "config needs " +
        io::shape_string(shape) + " (" + std::to_string(numel) +
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

Weights Weights::select(
    const Weights& source, const std::vector<Rename>& renames, const std::string& what) {
  if (!source.impl_) throw rip::Error("Weights::select on weights that were never opened");
  Weights out;
  out.impl_ = std::make_shared<Impl>();
  out.impl_->files = source.impl_->files;
  out.impl_->what = what;
  for (const Rename& r : renames) {
    const auto& [stored_name, entry] = source.impl_->require(r.from);
    Impl::Entry e = entry;
    if (r.rows >= 0) {
      const int64_t total = entry.info->shape.empty() ? 0 : entry.info->shape[0];
      if (entry.rows >= 0 || r.row_begin < 0 || r.row_begin + r.rows > total) {
        throw rip::Error("tensor '" + stored_name + "' in '" + entry.file->path() + "' has shape " +
            io::shape_string(entry.info->shape) + ": it cannot hold rows " +
            std::to_string(r.row_begin) + ".." + std::to_string(r.row_begin + r.rows) + " for '" +
            r.to + "'");
      }
      e.row_begin = r.row_begin;
      e.rows = r.rows;
    }
    if (!out.impl_->entries.emplace(r.to, e).second)
      throw rip::Error("two tensors of '" + entry.file->path() + "' map to '" + r.to + "'");
  }
  return out;
}

void Weights::add_alias(const std::string& to, const std::string& from) {
  if (!impl_) throw rip::Error("Weights::add_alias on weights that were never opened");
  impl_->aliases[to].push_back(from);
}

std::string Weights::describe() const {
  return impl_ ? impl_->describe() : "(no weights)";
}

}  // namespace rip::sd
