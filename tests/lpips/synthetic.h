// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Test fixtures without gtest (shared by the GoogleTest and gst-check
// tests): files, a minimal safetensors writer and the synthetic VGG16.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lpipstest {

std::vector<uint8_t> read_bytes(const std::string& path);
void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes);

struct F32Tensor {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> values;
};
// A minimal safetensors writer (F32 only) for test fixtures.
std::vector<uint8_t> safetensors_bytes(const std::vector<F32Tensor>& tensors);

// tests/data/lpips/synthetic_vgg16.py in C++: the same bit-exact tensors.
std::vector<F32Tensor> synthetic_vgg16();
// Writes it as dir/vgg16.safetensors and returns the path.
std::string write_synthetic_vgg16(const std::string& dir);

}  // namespace lpipstest
