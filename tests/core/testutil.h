// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Helpers shared by the lib/ tests: temporary folders, data paths, images
// and checks on rip::Error messages.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <opencv2/core.hpp>

#include "rip/error.h"
#include "rip/core/mask.h"

namespace rip {

// Readable rectangles in gtest failure messages.
inline void PrintTo(const Rect& r, std::ostream* os) {
  *os << "{x " << r.x << ", y " << r.y << ", " << r.width << "x" << r.height << "}";
}

}  // namespace rip

namespace riptest {

// A fresh folder under testing::TempDir(), removed with its contents when
// the object goes out of scope.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = ::testing::TempDir() + "rip-lib-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (!mkdtemp(buf.data())) throw std::runtime_error("mkdtemp failed for " + tmpl);
    path_ = buf.data();
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// $var, or the build-time fallback when the test runs outside meson test.
inline std::string env_or(const char* var, const char* fallback) {
  const char* v = std::getenv(var);
  return (v && *v) ? v : fallback;
}

inline std::string test_data_dir() {
  return env_or("RIP_TEST_DATA", RIP_TEST_DATA_DEFAULT);
}

inline std::string shared_dir() {
  return env_or("RIP_SHARED_DIR", RIP_SHARED_DIR_DEFAULT);
}

// Writes raw bytes (for corrupt-file tests).
void write_bytes(const std::string& path, const std::string& bytes);

// Deterministic 8-bit texture: a gradient plus seeded uniform noise, so any
// inpainting or blurring visibly changes it.
cv::Mat textured_image(int width, int height, int type, uint64_t seed);

// Runs f and returns the message of the rip::Error it throws; records a
// failure (and returns "") when it throws nothing or something else.
std::string error_of(const std::function<void()>& f);

// Checks that text contains every needle, reporting the text when not.
::testing::AssertionResult contains_all(
    const std::string& text, const std::vector<std::string>& needles);

// Number of pixels (not channels) where a and b differ, counted only where
// select is non-zero (or everywhere when select is empty).
int count_differing_pixels(const cv::Mat& a, const cv::Mat& b, const cv::Mat& select = cv::Mat());

}  // namespace riptest
