// SPDX-License-Identifier: LGPL-2.1-or-later
#include "rip/io/dtype.h"

#include <cstring>

#include "rip/io/bytes.h"

namespace rip::io {

namespace {

struct DTypeInfo {
  DType dtype;
  const char* name;
  size_t size;
};
constexpr DTypeInfo kDTypes[] = {
    {DType::Bool, "BOOL", 1},
    {DType::U8, "U8", 1},
    {DType::I8, "I8", 1},
    {DType::I16, "I16", 2},
    {DType::U16, "U16", 2},
    {DType::F16, "F16", 2},
    {DType::BF16, "BF16", 2},
    {DType::I32, "I32", 4},
    {DType::U32, "U32", 4},
    {DType::F32, "F32", 4},
    {DType::F64, "F64", 8},
    {DType::I64, "I64", 8},
    {DType::U64, "U64", 8},
};

float half_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do {
        e++;
        mant <<= 1;
      } while (!(mant & 0x400));
      bits = sign | (uint32_t(127 - 15 - e) << 23) | ((mant & 0x3ff) << 13);
    }
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

}  // namespace

const char* dtype_name(DType dtype) {
  for (const auto& d : kDTypes) {
    if (d.dtype == dtype) return d.name;
  }
  return "?";
}

size_t dtype_size(DType dtype) {
  for (const auto& d : kDTypes) {
    if (d.dtype == dtype) return d.size;
  }
  return 0;
}

bool dtype_is_float(DType dtype) {
  return dtype == DType::F16 || dtype == DType::BF16 || dtype == DType::F32 || dtype == DType::F64;
}

std::vector<float> to_float32(DType dtype, const uint8_t* data, size_t n) {
  std::vector<float> out;
  if (!dtype_is_float(dtype)) return out;
  out.resize(n);
  switch (dtype) {
    case DType::F32:
      if (n) std::memcpy(out.data(), data, n * 4);
      break;
    case DType::F64:
      for (size_t k = 0; k < n; ++k) {
        double v;
        std::memcpy(&v, data + 8 * k, 8);
        out[k] = float(v);
      }
      break;
    case DType::F16:
      for (size_t k = 0; k < n; ++k) out[k] = half_to_float(uint16_t(load_le(data + 2 * k, 2)));
      break;
    case DType::BF16:
      for (size_t k = 0; k < n; ++k) {
        const uint32_t bits = uint32_t(load_le(data + 2 * k, 2)) << 16;
        std::memcpy(&out[k], &bits, 4);
      }
      break;
    default: break;
  }
  return out;
}

}  // namespace rip::io
