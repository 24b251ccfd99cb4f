// SPDX-License-Identifier: LGPL-2.1-or-later
#include "testutil.h"

#include <fstream>
#include <random>

namespace riptest {

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
  ASSERT_TRUE(out.good()) << "could not write " << path;
}

cv::Mat textured_image(int width, int height, int type, uint64_t seed) {
  std::mt19937_64 rng(seed);
  cv::Mat img(height, width, type);
  const int ch = img.channels();
  for (int y = 0; y < height; y++) {
    uchar* row = img.ptr<uchar>(y);
    for (int x = 0; x < width; x++)
      for (int c = 0; c < ch; c++) {
        int v = (x * 2 + y * 3 + c * 60) % 160 + int(rng() % 96);
        row[x * ch + c] = cv::saturate_cast<uchar>(v);
      }
  }
  return img;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const rip::Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected rip::Error, got another exception: " << e.what();
    return "";
  }
  ADD_FAILURE() << "expected rip::Error, nothing was thrown";
  return "";
}

::testing::AssertionResult contains_all(
    const std::string& text, const std::vector<std::string>& needles) {
  for (const auto& n : needles)
    if (text.find(n) == std::string::npos)
      return ::testing::AssertionFailure()
          << "message \"" << text << "\" does not contain \"" << n << "\"";
  return ::testing::AssertionSuccess();
}

int count_differing_pixels(const cv::Mat& a, const cv::Mat& b, const cv::Mat& select) {
  CV_Assert(a.size() == b.size() && a.type() == b.type());
  cv::Mat diff;
  cv::absdiff(a, b, diff);
  if (diff.channels() > 1) diff = diff.reshape(1, diff.rows * diff.cols);  // one row per pixel
  cv::Mat any;
  if (a.channels() > 1) {
    cv::reduce(diff, any, 1, cv::REDUCE_MAX);
    any = any.reshape(1, a.rows);
  } else {
    any = diff;
  }
  if (!select.empty()) {
    cv::Mat masked = cv::Mat::zeros(any.size(), any.type());
    any.copyTo(masked, select);
    any = masked;
  }
  return cv::countNonZero(any);
}

}  // namespace riptest
