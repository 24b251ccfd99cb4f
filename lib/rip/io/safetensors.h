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

#include "rip/io/dtype.h"
#include "rip/io/mapped_file.h"

namespace rip::io {

struct SafetensorsEntry {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  uint64_t offset = 0;  // absolute byte offset in the file
  uint64_t nbytes = 0;
  int64_t numel() const;
};

class SafetensorsFile {
 public:
  // Maps path (MappedFile::open) and validates the header. Throws rip::Error.
  static std::shared_ptr<const SafetensorsFile> open(const std::string& path);
  // Validates a file already in memory (a MappedFile of any origin).
  static std::shared_ptr<const SafetensorsFile> open(std::shared_ptr<const MappedFile> file);
  // Validates an in-memory image of a file (tests, fuzzing). name is used in
  // error messages.
  static std::shared_ptr<const SafetensorsFile> from_bytes(
      std::vector<uint8_t> bytes, const std::string& name);
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return file_->path(); }
  uint64_t size() const { return file_->size(); }                            // bytes in the file
  const std::vector<SafetensorsEntry>& tensors() const { return tensors_; }  // by name
  const SafetensorsEntry* find(const std::string& name) const;               // nullptr if absent
  // Start of the tensor's bytes (valid while the file lives).
  const uint8_t* data(const SafetensorsEntry& info) const { return file_->data() + info.offset; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  SafetensorsFile() = default;
  void parse();
  std::shared_ptr<const MappedFile> file_;
  std::vector<SafetensorsEntry> tensors_;
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
void write_safetensors(const std::string& path, const std::vector<TensorData>& tensors,
    const std::map<std::string, std::string>& metadata = {});
// The bytes write_safetensors writes (tests, fuzzing seeds).
std::vector<uint8_t> serialize_safetensors(const std::vector<TensorData>& tensors,
    const std::map<std::string, std::string>& metadata = {});

}  // namespace rip::io
