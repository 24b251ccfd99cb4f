// SPDX-License-Identifier: LGPL-2.1-or-later
//
// The tensors of one model component (unet/, vae/, text_encoder/) as
// diffusers and transformers save them, turned into at::Tensor views of the
// memory-mapped file (no copy when the stored dtype is the one asked for).
// Files are found by rip::io::find_weight_files and read through
// rip::io::TensorFile.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>

#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace rip::sd {

class Weights {
 public:
  // Opens the component's weight files (find_weight_files). For a sharded
  // checkpoint every tensor the index lists must be in the shard it names.
  // Throws rip::Error naming the folder and the files looked for.
  static Weights open(const std::filesystem::path& component_dir, const std::string& base,
      const std::string& variant = "");
  // Joins the given files; a tensor name in two of them is an error.
  static Weights from_files(const std::vector<std::filesystem::path>& files);

  bool has(const std::string& name) const;
  // The tensor converted to dtype (a zero-copy view when possible). Throws
  // rip::Error naming the file and the tensor when it is missing or its
  // shape differs from expected_shape (an empty expected_shape skips that
  // check). Marks the name as used.
  // Floating-point tensors convert to any floating dtype, integer ones (an
  // I64 position_ids buffer) to any dtype; floating to integer is refused.
  // The view keeps its file mapped for as long as it lives (the Weights may
  // go away first). It is a CPU tensor; the caller moves it to its device.
  at::Tensor get(
      const std::string& name, at::ScalarType dtype, at::IntArrayRef expected_shape = {}) const;
  // get() for a tensor stored with another shape of the same element count,
  // returned reshaped to `shape` (e.g. a [C, C, 1, 1] conv-shaped attention
  // projection of an old VAE read as the [C, C] linear weight). The element
  // count must match; rip::Error names file, tensor and both shapes if not.
  at::Tensor get_reshaped(
      const std::string& name, at::ScalarType dtype, at::IntArrayRef shape) const;
  // The stored shape (following aliases); rip::Error when missing.
  std::vector<int64_t> shape(const std::string& name) const;
  // Every tensor name in the files, sorted.
  std::vector<std::string> names() const;
  // Tensors nobody asked for (after loading a model: a mismatched file),
  // sorted. Copies of a Weights share this bookkeeping.
  std::vector<std::string> unused() const;
  // Renames legacy keys on the fly: get(to), has(to) and shape(to) read
  // `from` when `to` is absent (several aliases of one name are tried in the
  // order added); reading it marks `from` as used.
  void add_alias(const std::string& to, const std::string& from);
  // One component's tensors out of a file that holds several (a single-file
  // checkpoint): each `to` reads the source's tensor `from`, or with rows >= 0
  // rows [row_begin, row_begin + rows) of its first dimension (one of the
  // q/k/v parts of a fused projection; still a view of the file). Only the
  // renamed tensors are in the result; `what` names the component in messages.
  struct Rename {
    std::string to, from;
    int64_t row_begin = 0;
    int64_t rows = -1;
  };
  static Weights select(
      const Weights& source, const std::vector<Rename>& renames, const std::string& what);
  std::string describe() const;  // the files, for messages

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace rip::sd
