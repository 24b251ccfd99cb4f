// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Tensor shapes in messages: "[320, 4, 3, 3]".
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>

namespace rip::io {

// Any sequence of dimensions (std::vector<int64_t>, at::IntArrayRef, ...).
template <class Dims>
std::string shape_string(const Dims& dims) {
  std::string out = "[";
  bool first = true;
  for (const auto d : dims) {
    out += (first ? "" : ", ") + std::to_string(int64_t(d));
    first = false;
  }
  return out + "]";
}

inline std::string shape_string(std::initializer_list<int64_t> dims) {
  return shape_string<std::initializer_list<int64_t>>(dims);
}

}  // namespace rip::io
