// SPDX-License-Identifier: LGPL-2.1-or-later
//
// The one interface through which every weight file is read, whatever its
// format, without Python and without torch:
//  * PyTorch zip checkpoints (torch.save since 1.6, e.g. torchvision's
//    alexnet-owt-7be5be79.pth): <dir>/data.pkl, a pickled state dict whose
//    storages are the entries <dir>/data/<key>;
//  * legacy PyTorch checkpoints (before 1.6, e.g. lpips' weights/v0.1/*.pth):
//    pickles of the magic number, the protocol version and the system info,
//    then the state dict, then the list of storage keys, then each storage
//    as a little-endian int64 element count followed by its raw bytes;
//  * safetensors (rip/io/safetensors.h).
// The format is recognised from the bytes, not the name. The file is mapped
// once (MappedFile); tensors stored contiguously and uncompressed are viewed
// in place (view()), others are copied out (read()).
// The state dict is read by the restricted unpickler in pickle.h, which never
// runs code from the file. Every size and offset is checked: a truncated,
// corrupt or hostile file gives rip::Error naming the file, never a crash.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "rip/io/dtype.h"
#include "rip/io/mapped_file.h"

namespace rip::io {

enum class TensorFileFormat { TorchZip, TorchLegacy, Safetensors };
const char* tensor_file_format_name(TensorFileFormat format);

struct TensorEntry {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  int64_t numel() const;
};

class TensorFile {
 public:
  // Opens (memory-maps) a file and parses its index. Throws Error naming
  // the file when it is missing, unreadable or not a checkpoint.
  static std::shared_ptr<const TensorFile> open(const std::string& path);
  // The same on a file already mapped.
  static std::shared_ptr<const TensorFile> open(std::shared_ptr<const MappedFile> file);
  // The same on bytes in memory (tests, fuzzing); `name` is used in errors.
  static std::shared_ptr<const TensorFile> from_bytes(
      std::vector<uint8_t> bytes, const std::string& name);
  ~TensorFile();
  TensorFile(const TensorFile&) = delete;
  TensorFile& operator=(const TensorFile&) = delete;

  const std::string& path() const;
  TensorFileFormat format() const;
  uint64_t size() const;  // bytes in the file
  // Tensors in file order (zip/legacy: the dict's order; safetensors: by
  // name).
  const std::vector<TensorEntry>& tensors() const;
  const TensorEntry* find(const std::string& name) const;  // nullptr if absent
  // Safetensors' "__metadata__" (empty for other formats).
  const std::map<std::string, std::string>& metadata() const;

  // The tensor's bytes in the mapped file when they lie there row-major,
  // contiguous and uncompressed (always for safetensors; for stored zip
  // entries and legacy files when the strides are the contiguous ones), else
  // nullptr. Valid while this TensorFile lives; not necessarily aligned.
  const uint8_t* view(const TensorEntry& tensor) const;
  // The tensor's elements, row-major and contiguous, little-endian
  // (numel * dtype_size bytes). Throws Error when the file's data does not
  // hold them.
  std::vector<uint8_t> read(const TensorEntry& tensor) const;
  // Floating-point tensors (float32/64/16, bfloat16) as float32.
  std::vector<float> read_float(const TensorEntry& tensor) const;

  struct Impl;

 private:
  explicit TensorFile(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace rip::io
