// SPDX-License-Identifier: LGPL-2.1-or-later
//
// A restricted, bounds-checked unpickler for PyTorch state dicts (no torch
// here, so it can be fuzzed and used by any tool).
//
// Python's pickle is a small stack machine whose GLOBAL/REDUCE opcodes can
// call any importable function: loading an untrusted .pth with Python runs
// whatever the file names. This reader never calls anything. It knows the
// opcodes a state dict needs (protocols 2 to 5: containers, ints, floats,
// strings, bytes, memo, persistent ids) and exactly these globals:
//   collections.OrderedDict                    (called with () or ([[k, v], ...],))
//   torch._utils._rebuild_tensor_v2 / _rebuild_tensor / _rebuild_parameter
//   torch.{Float,Double,Half,BFloat16,Long,Int,Short,Char,Byte,Bool}Storage
//                                              (named in storage persistent ids)
// Any other global, and any call of something else, is refused with an error
// naming it. Every length, index and count is checked against the input and
// against fixed limits, so hostile input gives rip::Error, never a crash,
// a hang or unbounded memory.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "rip/io/dtype.h"

namespace rip::io {

// A storage named by a persistent id ('storage', <torch.XStorage>, key,
// location, numel[, view]). For a legacy view (view_key, offset, size) the
// storage is elements [offset, offset + numel) of the root storage `key`.
struct PickledStorage {
  std::string key;
  DType dtype = DType::F32;
  uint64_t root_numel = 0;  // elements of the root storage as pickled
  uint64_t offset = 0;      // first element of this storage in the root
  uint64_t numel = 0;       // elements in this (view of the) storage
  std::string location;     // "cpu", "cuda:0": ignored, everything loads to CPU
};

// A tensor as _rebuild_tensor_v2(storage, storage_offset, size, stride, ...)
// describes it; offset and strides count elements of the storage.
struct PickledTensor {
  size_t storage = 0;  // index into PickleResult::storages
  uint64_t offset = 0;
  std::vector<int64_t> shape;
  std::vector<int64_t> stride;
};

struct PickleResult {
  std::vector<PickledStorage> storages;
  // Tensors of the (possibly nested) top-level dict in file order; keys of
  // nested dicts are joined with '.'. Non-tensor values are skipped.
  std::vector<std::pair<std::string, PickledTensor>> tensors;
};

// Limits that keep hostile files bounded (a real state dict is far below).
constexpr size_t kMaxPickleNodes = 1u << 22;
constexpr size_t kMaxPickleStack = 1u << 20;
constexpr int kMaxTensorDims = 16;
constexpr int kMaxDictNesting = 8;

// A parsed pickle value graph; opaque outside pickle.cpp.
class PickleGraph;

// Parses one pickle starting at data[0]; `what` names the file in errors.
// Returns the number of bytes consumed (up to and including STOP).
class Unpickler {
 public:
  Unpickler(const uint8_t* data, size_t size, std::string what);
  ~Unpickler();
  Unpickler(const Unpickler&) = delete;
  Unpickler& operator=(const Unpickler&) = delete;

  // Runs the pickle at data[offset...]; returns the offset after its STOP.
  size_t load(size_t offset);

  // Views of the last loaded value (throw Error when it has another type).
  bool is_big_int_bytes(const std::vector<uint8_t>& le_bytes) const;
  int64_t as_int() const;
  bool dict_bool(const std::string& key, bool fallback) const;
  std::vector<std::string> as_string_list() const;
  // The state dict: the last value must be a dict (OrderedDict) of tensors.
  PickleResult state_dict() const;

 private:
  const uint8_t* data_;
  size_t size_;
  std::string what_;
  PickleGraph* graph_;
  uint32_t root_ = 0;
};

}  // namespace rip::io
