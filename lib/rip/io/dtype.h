// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Element types of stored tensors, for every weight format read here
// (safetensors, PyTorch zip and legacy checkpoints).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace rip::io {

enum class DType : uint8_t { Bool, U8, I8, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64 };

const char* dtype_name(DType dtype);  // safetensors' names: "F32", "BF16", ...
size_t dtype_size(DType dtype);       // bytes per element
bool dtype_is_float(DType dtype);     // F16, BF16, F32, F64

// n little-endian elements of a floating-point dtype as float32 (F64 rounded,
// F16 and BF16 exact). Other dtypes: an empty vector.
std::vector<float> to_float32(DType dtype, const uint8_t* data, size_t n);

}  // namespace rip::io
