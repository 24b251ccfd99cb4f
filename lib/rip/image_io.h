// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Reading seed and reference images and bringing them to the loop's size.
#pragma once

#include <string>

#include <opencv2/core.hpp>

namespace rip {

enum class FitMode {
  Pad,      // keep the aspect, scale to fit, centre on black bands (the study)
  Crop,     // keep the aspect, scale to cover, cut the overhang (centre crop)
  Stretch,  // scale each axis independently
  None,     // keep the image as it is; width/height must match or be 0
};

const char* fit_mode_name(FitMode mode);
FitMode parse_fit_mode(const std::string& name);  // throws Error

// Decodes any image OpenCV reads (PNG, JPEG, WebP, TIFF, BMP...) to 8-bit RGB.
// Throws Error naming the file when it is missing or cannot be decoded.
cv::Mat load_rgb_image(const std::string& path);

// Brings an RGB image to width x height. width or height 0 keeps the image's
// own size on that axis (with Pad/Crop both must be set or both 0).
cv::Mat fit_image(const cv::Mat& rgb, int width, int height, FitMode mode);

// Writes an RGB image (PNG, JPEG... by extension). Throws Error on failure.
void save_rgb_image(const std::string& path, const cv::Mat& rgb);

}  // namespace rip
