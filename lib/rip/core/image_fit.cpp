// SPDX-License-Identifier: LGPL-2.1-or-later
#include "rip/core/image_fit.h"

#include <cmath>

#include <opencv2/imgproc.hpp>

#include "rip/error.h"

namespace rip {

const char* fit_mode_name(FitMode mode) {
  switch (mode) {
    case FitMode::Pad: return "pad";
    case FitMode::Crop: return "crop";
    case FitMode::Stretch: return "stretch";
    case FitMode::None: return "none";
  }
  return "?";
}

FitMode parse_fit_mode(const std::string& name) {
  for (FitMode m : {FitMode::Pad, FitMode::Crop, FitMode::Stretch, FitMode::None})
    if (name == fit_mode_name(m)) return m;
  throw Error("unknown fit mode '" + name +
      "': use pad, crop, stretch or "
      "none");
}

cv::Mat fit_image(const cv::Mat& rgb, int width, int height, FitMode mode) {
  const int w0 = rgb.cols, h0 = rgb.rows;
  if (width < 0 || height < 0) throw Error("width and height must not be negative");
  if (mode == FitMode::None) {
    if ((width && width != w0) || (height && height != h0))
      throw Error("the image is " + std::to_string(w0) + "x" + std::to_string(h0) + " but " +
          std::to_string(width) + "x" + std::to_string(height) +
          " was asked with fit=none: use fit=pad, "
          "crop or stretch, or set width and height to 0");
    return rgb.clone();
  }
  if (width == 0 && height == 0) return rgb.clone();
  if ((width == 0 || height == 0) && mode != FitMode::Stretch)
    throw Error(
        "fit=" + std::string(fit_mode_name(mode)) + " needs both width and height (or neither)");
  const int w = width ? width : w0, h = height ? height : h0;
  if (w == w0 && h == h0) return rgb.clone();

  // INTER_AREA when shrinking avoids aliasing (paintings are usually large);
  // bicubic when enlarging.
  auto resize = [](const cv::Mat& in, int rw, int rh) {
    cv::Mat out;
    int interp = (rw < in.cols || rh < in.rows) ? cv::INTER_AREA : cv::INTER_CUBIC;
    cv::resize(in, out, cv::Size(rw, rh), 0, 0, interp);
    return out;
  };
  if (mode == FitMode::Stretch) return resize(rgb, w, h);

  const double sx = double(w) / w0, sy = double(h) / h0;
  const double scale = mode == FitMode::Pad ? std::min(sx, sy) : std::max(sx, sy);
  int rw = std::max(1, int(std::lround(w0 * scale)));
  int rh = std::max(1, int(std::lround(h0 * scale)));
  if (mode == FitMode::Pad) {
    rw = std::min(rw, w);
    rh = std::min(rh, h);
  } else {
    rw = std::max(rw, w);
    rh = std::max(rh, h);
  }
  cv::Mat scaled = resize(rgb, rw, rh);
  if (mode == FitMode::Pad) {
    cv::Mat out = cv::Mat::zeros(h, w, rgb.type());
    scaled.copyTo(out(cv::Rect((w - rw) / 2, (h - rh) / 2, rw, rh)));
    return out;
  }
  return scaled(cv::Rect((rw - w) / 2, (rh - h) / 2, w, h)).clone();
}

}  // namespace rip
