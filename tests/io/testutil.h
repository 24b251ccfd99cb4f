// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Helpers shared by the tests of lib/rip/sd/io.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "rip/error.h"
#include "rip/io/safetensors.h"

namespace rip::sd::test {

// tests/data/sd (RIP_TEST_DATA from test_env, else the path meson knew).
inline std::filesystem::path sd_data() {
  const char* env = std::getenv("RIP_TEST_DATA");
  return env ? std::filesystem::path(env) / "sd" : std::filesystem::path(RIP_SD_TEST_DATA_DEFAULT);
}

// A fresh folder under $TMPDIR, removed with everything in it at the end.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "rip-sd-io-XXXXXX").string();
    if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

inline std::vector<uint8_t> read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

inline void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

template <typename T>
std::vector<uint8_t> as_bytes(const std::vector<T>& values) {
  std::vector<uint8_t> out(values.size() * sizeof(T));
  if (!out.empty()) std::memcpy(out.data(), values.data(), out.size());
  return out;
}

inline io::TensorData f32_tensor(
    const std::string& name, std::vector<int64_t> shape, const std::vector<float>& values) {
  return {name, io::DType::F32, std::move(shape), as_bytes(values)};
}

// The message of the rip::Error that f throws; a test failure when it throws
// nothing or anything else.
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const rip::Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "threw a non-rip::Error exception: " << e.what();
    return {};
  }
  ADD_FAILURE() << "did not throw";
  return {};
}

}  // namespace rip::sd::test
