// SPDX-License-Identifier: LGPL-2.1-or-later
#include "rip/core/caption.h"

#include <algorithm>

#include <opencv2/imgproc.hpp>

namespace rip {

void draw_caption(cv::Mat& image, const std::string& text) {
  if (image.empty() || text.empty()) return;
  const int font = cv::FONT_HERSHEY_SIMPLEX;
  const double scale = std::max(0.3, image.cols / 900.0);
  const int thickness = std::max(1, int(scale * 1.5));
  int baseline = 0;
  cv::Size ts = cv::getTextSize(text, font, scale, thickness, &baseline);
  const int pad = std::max(2, ts.height / 3);
  const int band = std::min(image.rows, ts.height + baseline + 2 * pad);
  cv::Mat top = image(cv::Rect(0, 0, image.cols, band));
  // Darken rather than blank the band so the painting stays visible.
  top.convertTo(top, -1, 0.35, 0);
  cv::Scalar white = cv::Scalar::all(255);
  cv::putText(
      image, text, cv::Point(pad, pad + ts.height), font, scale, white, thickness, cv::LINE_AA);
}

}  // namespace rip
