// SPDX-License-Identifier: LGPL-2.1-or-later
#include "synthetic.h"

#include <cmath>
#include <fstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace lpipstest {

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), long(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path);
}

std::vector<uint8_t> safetensors_bytes(const std::vector<F32Tensor>& tensors) {
  nlohmann::json header = nlohmann::json::object();
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    const uint64_t n = t.values.size() * 4;
    header[t.name] = {{"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {offset, offset + n}}};
    offset += n;
  }
  std::string h = header.dump();
  while (h.size() % 8) h += ' ';
  std::vector<uint8_t> out(8);
  for (int k = 0; k < 8; k++) out[k] = uint8_t(uint64_t(h.size()) >> (8 * k));
  out.insert(out.end(), h.begin(), h.end());
  for (const auto& t : tensors) {
    const auto* p = reinterpret_cast<const uint8_t*>(t.values.data());
    out.insert(out.end(), p, p + t.values.size() * 4);
  }
  return out;
}

namespace {

uint64_t splitmix64(uint64_t x) {
  uint64_t z = x + 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

std::vector<float> formula(int index, size_t n, bool bias, int k) {
  std::vector<float> v(n);
  const float scale = std::ldexp(1.0f, -k);
  for (size_t j = 0; j < n; j++) {
    uint64_t x = (uint64_t(index) << 32) + j;
    if (bias) x += uint64_t(1) << 31;
    const int8_t q = int8_t(uint8_t(splitmix64(x) >> 56));
    v[j] = float(q) * scale;
  }
  return v;
}

}  // namespace

std::vector<F32Tensor> synthetic_vgg16() {
  // Mirrors synthetic_vgg16.py: (index, out, in, K).
  struct Layer {
    int index, out, in, k;
  };
  static const Layer layers[] = {{0, 64, 3, 8}, {2, 64, 64, 10}, {5, 128, 64, 10},
      {7, 128, 128, 11}, {10, 256, 128, 11}, {12, 256, 256, 11}, {14, 256, 256, 11},
      {17, 512, 256, 11}, {19, 512, 512, 12}, {21, 512, 512, 12}, {24, 512, 512, 12},
      {26, 512, 512, 12}, {28, 512, 512, 12}};
  std::vector<F32Tensor> out;
  for (const Layer& l : layers) {
    const std::string key = "features." + std::to_string(l.index);
    out.push_back({key + ".weight", {l.out, l.in, 3, 3},
        formula(l.index, size_t(l.out) * l.in * 9, false, l.k)});
    out.push_back({key + ".bias", {l.out}, formula(l.index, size_t(l.out), true, 12)});
  }
  return out;
}

std::string write_synthetic_vgg16(const std::string& dir) {
  const std::string path = dir + "/vgg16.safetensors";
  write_bytes(path, safetensors_bytes(synthetic_vgg16()));
  return path;
}

}  // namespace lpipstest
