// SPDX-License-Identifier: LGPL-2.1-or-later
#include "rip/lpips/image.h"

#include <cstring>
#include <filesystem>

#include <ATen/ATen.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "rip/error.h"

namespace rip::lpips {

at::Tensor image_to_tensor(const cv::Mat& rgb) {
  if (rgb.empty() || rgb.type() != CV_8UC3)
    throw Error("LPIPS takes 8-bit RGB images (3 channels)");
  // numpy computes v / 127.5 - 1 in float64; torch.Tensor() then rounds
  // to float32.
  float lut[256];
  for (int v = 0; v < 256; v++) lut[v] = float(double(v) / 127.5 - 1.0);
  const int h = rgb.rows, w = rgb.cols;
  at::Tensor t = at::empty({1, 3, h, w}, at::kFloat);
  float* r = t.data_ptr<float>();
  float* g = r + int64_t(h) * w;
  float* b = g + int64_t(h) * w;
  for (int y = 0; y < h; y++) {
    const uint8_t* p = rgb.ptr<uint8_t>(y);
    const int64_t row = int64_t(y) * w;
    for (int x = 0; x < w; x++) {
      r[row + x] = lut[p[3 * x]];
      g[row + x] = lut[p[3 * x + 1]];
      b[row + x] = lut[p[3 * x + 2]];
    }
  }
  return t;
}

cv::Mat map_to_mat(const at::Tensor& map) {
  at::Tensor m = map.to(at::kFloat).contiguous();
  if (m.dim() == 4 && m.size(0) == 1 && m.size(1) == 1) m = m[0][0];
  if (m.dim() != 2) throw Error("an LPIPS map is [H,W] or [1,1,H,W]");
  cv::Mat out(int(m.size(0)), int(m.size(1)), CV_32FC1);
  std::memcpy(out.data, m.data_ptr<float>(), out.total() * sizeof(float));
  return out;
}

}  // namespace rip::lpips
