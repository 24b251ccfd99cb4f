// SPDX-License-Identifier: LGPL-2.1-or-later
#include "rip/io/image.h"

#include <filesystem>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "rip/error.h"

namespace rip::io {

cv::Mat load_rgb_image(const std::string& path) {
  if (path.empty())
    throw Error(
        "no image file given: set location to an image file "
        "(PNG, JPEG, WebP...)");
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw Error("image file '" + path + "' does not exist");
  if (std::filesystem::is_directory(path, ec))
    throw Error("'" + path + "' is a folder, not an image file");
  // IMREAD_COLOR drops alpha and expands grey, so every seed is 3-channel.
  cv::Mat bgr = cv::imread(path, cv::IMREAD_COLOR);
  if (bgr.empty())
    throw Error("image file '" + path +
        "' could not be decoded: it is "
        "corrupt, truncated or not an image (PNG, JPEG, WebP, TIFF and BMP "
        "are supported)");
  cv::Mat rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  return rgb;
}

void save_rgb_image(const std::string& path, const cv::Mat& rgb) {
  cv::Mat bgr;
  if (rgb.channels() == 3)
    cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  else
    bgr = rgb;
  bool ok = false;
  try {
    ok = cv::imwrite(path, bgr);
  } catch (const cv::Exception& e) {
    throw Error("could not write image '" + path + "': " + e.what());
  }
  if (!ok)
    throw Error("could not write image '" + path +
        "': check the folder "
        "exists and the extension is an image format (.png, .jpg)");
}

}  // namespace rip::io
