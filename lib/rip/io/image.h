// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Reading and writing images as 8-bit RGB (OpenCV's codecs).
#pragma once

#include <string>

#include <opencv2/core.hpp>

namespace rip::io {

// Decodes any image OpenCV reads (PNG, JPEG, WebP, TIFF, BMP...) to 8-bit RGB.
// Throws Error naming the file when it is missing or cannot be decoded.
cv::Mat load_rgb_image(const std::string& path);

// Writes an RGB image (PNG, JPEG... by extension). Throws Error on failure.
void save_rgb_image(const std::string& path, const cv::Mat& rgb);

}  // namespace rip::io
