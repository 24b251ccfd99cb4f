// SPDX-License-Identifier: LGPL-2.1-or-later
//
// A bounds-checked reader of the safetensors format (no torch here, so it can
// be fuzzed and used by any tool). Format: u64 little-endian header length N,
// N bytes of JSON {name: {dtype, shape, data_offsets: [begin, end]}, optional
// "__metadata__": {str: str}}, then the byte buffer; offsets are relative to
// the buffer, end exclusive. Every offset and size is checked against the
// file: a corrupt, truncated or hostile file gives rip::Error naming the file
// (and the tensor), never a crash or an out-of-bounds read.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace rip::st {

enum class DType { Bool, U8, I8, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64 };

const char* dtype_name(DType dtype);   // "F32", ...
size_t dtype_size(DType dtype);        // bytes per element

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  uint64_t offset = 0;   // absolute byte offset in the file
  uint64_t nbytes = 0;
  int64_t numel() const;
};

class File {
 public:
  // Memory-maps path and validates the header. Throws rip::Error. The file
  // is opened read-only and mapped private (copy-on-write): a tensor viewing
  // the mapping that someone modifies in place changes this process's copy,
  // never the file, and does not fault. When mmap fails (some network or
  // FUSE file systems) the file is read into memory instead. (As with any
  // mmap, a file cut short by another process while mapped faults on access.)
  static std::shared_ptr<const File> open(const std::string& path);
  // Validates an in-memory image of a file (tests, fuzzing). name is used in
  // error messages.
  static std::shared_ptr<const File> from_bytes(std::vector<uint8_t> bytes,
      const std::string& name);
  ~File();
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  const std::string& path() const { return path_; }
  uint64_t size() const { return size_; }  // bytes in the file
  const std::vector<TensorInfo>& tensors() const { return tensors_; }  // by name
  const TensorInfo* find(const std::string& name) const;  // nullptr if absent
  // Start of the tensor's bytes (valid while the File lives).
  const uint8_t* data(const TensorInfo& info) const { return base_ + info.offset; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  File() = default;
  void parse();
  std::string path_;
  const uint8_t* base_ = nullptr;
  uint64_t size_ = 0;
  void* mapping_ = nullptr;  // mmap'd region, or nullptr when owned_ holds it
  std::vector<uint8_t> owned_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

// Writes a safetensors file (used by tests and tools to make fixtures and
// dumps). Entries are written in the given order, their data back to back in
// that order, and the header is padded with spaces to a multiple of 8 bytes as
// the reference writer does (so data offsets of 8-byte aligned tensors stay
// aligned). Throws rip::Error for a duplicate or reserved name, a byte count
// that does not match dtype and shape, or a file that cannot be written.
struct TensorData {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;  // little-endian, row-major
};
void write_file(const std::string& path, const std::vector<TensorData>& tensors,
    const std::map<std::string, std::string>& metadata = {});
// The bytes write_file writes (tests, fuzzing seeds).
std::vector<uint8_t> serialize(const std::vector<TensorData>& tensors,
    const std::map<std::string, std::string>& metadata = {});

}  // namespace rip::st
