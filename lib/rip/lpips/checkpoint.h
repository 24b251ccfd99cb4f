// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Reads the tensors of a weight file without Python and without torch:
//  * PyTorch zip checkpoints (torch.save since 1.6, e.g. torchvision's
//    alexnet-owt-7be5be79.pth): <dir>/data.pkl, a pickled state dict whose
//    storages are the entries <dir>/data/<key>;
//  * legacy PyTorch checkpoints (before 1.6, e.g. lpips' weights/v0.1/*.pth):
//    pickles of the magic number, the protocol version and the system info,
//    then the state dict, then the list of storage keys, then each storage
//    as a little-endian int64 element count followed by its raw bytes;
//  * safetensors (read by the project's safetensors reader,
//    rip/sd/io/safetensors.h).
// The state dict is read by the restricted unpickler in pickle.h, which never
// runs code from the file. Every size and offset is checked: a truncated,
// corrupt or hostile file gives rip::Error naming the file, never a crash.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "rip/lpips/pickle.h"

namespace rip::lpips {

enum class CheckpointFormat { Zip, Legacy, Safetensors };
const char* checkpoint_format_name(CheckpointFormat format);

struct TensorEntry {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  int64_t numel() const;
};

class Checkpoint {
 public:
  // Opens (memory-maps) a file and parses its index. Throws Error naming
  // the file when it is missing, unreadable or not a checkpoint.
  static std::shared_ptr<const Checkpoint> open(const std::string& path);
  // The same on bytes in memory (tests, fuzzing); `name` is used in errors.
  static std::shared_ptr<const Checkpoint> from_bytes(
      std::vector<uint8_t> bytes, const std::string& name);
  ~Checkpoint();
  Checkpoint(const Checkpoint&) = delete;
  Checkpoint& operator=(const Checkpoint&) = delete;

  const std::string& path() const;
  CheckpointFormat format() const;
  // Tensors in file order (zip/legacy: the dict's order; safetensors: by
  // name).
  const std::vector<TensorEntry>& tensors() const;
  const TensorEntry* find(const std::string& name) const;  // nullptr if absent

  // The tensor's elements, row-major and contiguous, little-endian
  // (numel * dtype_size bytes). Throws Error when the file's data does not
  // hold them.
  std::vector<uint8_t> read(const TensorEntry& tensor) const;
  // Floating-point tensors (float32/64/16, bfloat16) as float32.
  std::vector<float> read_float(const TensorEntry& tensor) const;

  struct Impl;

 private:
  explicit Checkpoint(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace rip::lpips
