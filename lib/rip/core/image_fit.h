// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Bringing seed and reference images to the loop's size.
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

// Brings an RGB image to width x height. width or height 0 keeps the image's
// own size on that axis (with Pad/Crop both must be set or both 0).
cv::Mat fit_image(const cv::Mat& rgb, int width, int height, FitMode mode);

}  // namespace rip
