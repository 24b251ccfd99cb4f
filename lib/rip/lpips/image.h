// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Images in and out of LPIPS as the lpips package's scripts handle them.
// lpips.load_image (cv2.imread: 8-bit, 3 channels, alpha dropped, BGR -> RGB)
// is rip::io::load_rgb_image.
#pragma once

#include <string>

#include <ATen/core/Tensor.h>
#include <opencv2/core.hpp>

namespace rip::lpips {

// lpips.im2tensor: float32(v / 127.5 - 1) computed in double as numpy does,
// as [1,3,H,W]. rgb: CV_8UC3 (any row stride).
at::Tensor image_to_tensor(const cv::Mat& rgb);

// A [H,W] (or [1,1,H,W]) float map as a CV_32FC1 matrix (a copy).
cv::Mat map_to_mat(const at::Tensor& map);

}  // namespace rip::lpips
