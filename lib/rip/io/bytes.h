// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Bounds checks and little-endian integers for the file readers. Weight files
// are little-endian whatever wrote them; the readers view them in place, so
// the host must be too.
#pragma once

#include <cstdint>
#include <string>

#include "rip/error.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
    "weight files are little-endian and are viewed in place: big-endian hosts would need "
    "byte-swapping copies");

namespace rip::io {

// True when [offset, offset + n) lies inside a buffer of `size` bytes, without
// overflowing whatever offset and n are.
inline bool inside(uint64_t offset, uint64_t n, uint64_t size) {
  return offset <= size && n <= size - offset;
}

// The unsigned little-endian integer of `bytes` (1 to 8) bytes at p. The caller
// has checked that they are inside its buffer.
inline uint64_t load_le(const uint8_t* p, int bytes) {
  uint64_t v = 0;
  for (int k = bytes - 1; k >= 0; --k) v = (v << 8) | p[k];
  return v;
}

// load_le with the bounds check: throws Error("<what>: <missing>") when the
// integer at offset does not fit in the buffer.
inline uint64_t read_le(const uint8_t* data, uint64_t size, uint64_t offset, int bytes,
    const std::string& what, const std::string& missing) {
  if (!inside(offset, uint64_t(bytes), size)) throw Error(what + ": " + missing);
  return load_le(data + offset, bytes);
}

}  // namespace rip::io
