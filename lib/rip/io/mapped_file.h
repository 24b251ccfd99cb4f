// SPDX-License-Identifier: LGPL-2.1-or-later
//
// A whole file in memory, mapped where the file system allows it. Every
// weight reader (safetensors, PyTorch checkpoints) reads through one, so a
// file is mapped once, never copied, however many tensors view it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace rip::io {

class MappedFile {
 public:
  // Maps path read-only for the file and private (copy-on-write) for us: a
  // tensor viewing the mapping that someone modifies in place changes this
  // process's copy, never the file, and does not fault. Where mmap fails
  // (some network or FUSE file systems) the file is read into memory instead.
  // (As with any mmap, a file cut short by another process while mapped
  // faults on access.) Throws rip::Error naming the file when it is missing,
  // not a regular file, or unreadable.
  static std::shared_ptr<const MappedFile> open(const std::string& path);
  // Bytes already in memory (tests, fuzzing); name stands for the path in
  // messages.
  static std::shared_ptr<const MappedFile> from_bytes(
      std::vector<uint8_t> bytes, const std::string& name);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::string& path() const { return path_; }
  const uint8_t* data() const { return base_; }
  uint64_t size() const { return size_; }

 private:
  MappedFile() = default;
  std::string path_;
  const uint8_t* base_ = nullptr;
  uint64_t size_ = 0;
  void* mapping_ = nullptr;  // the mmap'd region, or nullptr when owned_ holds the bytes
  std::vector<uint8_t> owned_;
};

}  // namespace rip::io
