// SPDX-License-Identifier: LGPL-2.1-or-later
//
// The tensors of one model component (unet/, vae/, text_encoder/) as
// diffusers and transformers save them, turned into at::Tensor views of the
// memory-mapped file (no copy when the stored dtype is the one asked for).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>

#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "rip/sd/io/safetensors.h"

namespace rip::sd {

// Which file of a component to read, as diffusers' `variant` does:
// "<base>.safetensors" or "<base>.<variant>.safetensors"
// (base: diffusion_pytorch_model for unet/vae, model for text_encoder).
// Sharded files ("<base>-00001-of-00002.safetensors" with an index .json) are
// joined. variant "" prefers the plain file and falls back to fp16 when it is
// the only one present.
std::vector<std::filesystem::path> find_weight_files(
    const std::filesystem::path& component_dir, const std::string& base,
    const std::string& variant);

class Weights {
 public:
  // Opens the component's weight files. Throws rip::Error naming the folder
  // and the files looked for.
  static Weights open(const std::filesystem::path& component_dir,
      const std::string& base, const std::string& variant = "");
  static Weights from_files(const std::vector<std::filesystem::path>& files);

  bool has(const std::string& name) const;
  // The tensor converted to dtype (a zero-copy view when possible). Throws
  // rip::Error naming the file and the tensor when it is missing or its
  // shape differs from expected_shape (an empty expected_shape skips that
  // check). Marks the name as used.
  at::Tensor get(const std::string& name, at::ScalarType dtype,
      at::IntArrayRef expected_shape = {}) const;
  // Tensors nobody asked for (after loading a model: a mismatched file).
  std::vector<std::string> unused() const;
  // Renames legacy keys on the fly: get(to) reads `from` when `to` is absent.
  void add_alias(const std::string& to, const std::string& from);
  std::string describe() const;  // the files, for messages

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace rip::sd
