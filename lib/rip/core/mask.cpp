// SPDX-License-Identifier: LGPL-2.1-or-later
#include "rip/core/mask.h"

#include <filesystem>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "rip/error.h"

namespace rip {

int64_t Mask::pixel_count() const {
  if (bitmap.empty()) return box.area();
  return cv::countNonZero(bitmap);
}

cv::Mat Mask::to_image(int frame_width, int frame_height) const {
  cv::Mat full = cv::Mat::zeros(frame_height, frame_width, CV_8UC1);
  cv::Rect r =
      cv::Rect(box.x, box.y, box.width, box.height) & cv::Rect(0, 0, frame_width, frame_height);
  if (r.empty()) return full;
  if (bitmap.empty()) {
    full(r).setTo(255);
  } else {
    cv::Mat src = bitmap(cv::Rect(r.x - box.x, r.y - box.y, r.width, r.height));
    cv::Mat dst = full(r);
    dst.setTo(255, src);
  }
  return full;
}

const char* mask_mode_name(MaskMode mode) {
  switch (mode) {
    case MaskMode::Random: return "random";
    case MaskMode::Sweep: return "sweep";
    case MaskMode::Free: return "free";
    case MaskMode::File: return "file";
  }
  return "?";
}

MaskMode parse_mask_mode(const std::string& name) {
  for (MaskMode m : {MaskMode::Random, MaskMode::Sweep, MaskMode::Free, MaskMode::File})
    if (name == mask_mode_name(m)) return m;
  throw Error("unknown mask mode '" + name + "': use random, sweep, free or file");
}

uint64_t uniform_below(std::mt19937_64& engine, uint64_t n) {
  if (n == 0) throw Error("uniform_below: empty range");
  // Reject the top partial block of the 2^64 range so every residue is
  // equally likely.
  const uint64_t limit = UINT64_MAX - (UINT64_MAX % n + 1) % n;
  uint64_t v;
  do {
    v = engine();
  } while (v > limit);
  return v % n;
}

Mask load_mask_file(const std::string& path, int frame_width, int frame_height) {
  if (path.empty())
    throw Error(
        "mask mode 'file' needs a mask image: set mask-location "
        "to a PNG whose white pixels mark what to repaint");
  if (!std::filesystem::exists(path)) throw Error("mask file '" + path + "' does not exist");
  cv::Mat gray = cv::imread(path, cv::IMREAD_GRAYSCALE);
  if (gray.empty())
    throw Error("mask file '" + path +
        "' is not an image OpenCV can decode "
        "(use PNG, white = repaint)");
  if (gray.cols != frame_width || gray.rows != frame_height)
    throw Error("mask file '" + path + "' is " + std::to_string(gray.cols) + "x" +
        std::to_string(gray.rows) + " but the frames are " + std::to_string(frame_width) + "x" +
        std::to_string(frame_height) + ": make the mask the frame's size");
  // Diffusers binarises masks at 0.5; do the same so a soft-edged or JPEG
  // mask means the same thing here as there.
  cv::Mat binary;
  cv::threshold(gray, binary, 127, 255, cv::THRESH_BINARY);
  cv::Rect bb = cv::boundingRect(binary);
  if (bb.empty())
    throw Error("mask file '" + path +
        "' has no white pixels: nothing "
        "would be repainted");
  Mask mask;
  mask.box = Rect{bb.x, bb.y, bb.width, bb.height};
  cv::Mat roi = binary(bb);
  if (cv::countNonZero(roi) != bb.area()) mask.bitmap = roi.clone();
  return mask;
}

MaskSampler::MaskSampler(const MaskSamplerConfig& config, int frame_width, int frame_height)
    : config_(config),
      frame_width_(frame_width),
      frame_height_(frame_height),
      engine_(config.seed) {
  const int s = config_.cell_size;
  const std::string frame = std::to_string(frame_width) + "x" + std::to_string(frame_height);
  if (config_.mode == MaskMode::File) {
    if (config_.file_mask.box.empty())
      throw Error("mask mode 'file' needs a mask image: set mask-location");
    return;
  }
  if (s <= 0) throw Error("mask size must be positive");
  if (frame_width < s || frame_height < s)
    throw Error("the frame (" + frame + ") is smaller than one " + std::to_string(s) +
        " px mask cell: use a smaller size or a larger "
        "frame");
  if (config_.mode == MaskMode::Free) return;
  if (frame_width % s != 0 || frame_height % s != 0)
    throw Error("the frame (" + frame + ") is not divisible into " + std::to_string(s) +
        " px cells: use a size that divides both sides "
        "(e.g. 64, 128 or 256 on 512x512), resize the frame, or use "
        "mode=free");
  columns_ = frame_width / s;
  rows_ = frame_height / s;
}

Mask MaskSampler::next() {
  const int s = config_.cell_size;
  Mask mask;
  switch (config_.mode) {
    case MaskMode::Random: {
      int cell = int(uniform_below(engine_, uint64_t(cell_count())));
      mask.box = Rect{(cell % columns_) * s, (cell / columns_) * s, s, s};
      break;
    }
    case MaskMode::Sweep: {
      if (sweep_pos_ == sweep_order_.size()) {
        // New pass: Fisher-Yates with our portable uniform draw.
        sweep_order_.resize(size_t(cell_count()));
        for (int i = 0; i < cell_count(); i++) sweep_order_[size_t(i)] = i;
        for (size_t i = sweep_order_.size() - 1; i > 0; i--)
          std::swap(sweep_order_[i], sweep_order_[size_t(uniform_below(engine_, i + 1))]);
        sweep_pos_ = 0;
      }
      int cell = sweep_order_[sweep_pos_++];
      mask.box = Rect{(cell % columns_) * s, (cell / columns_) * s, s, s};
      break;
    }
    case MaskMode::Free: {
      int x = int(uniform_below(engine_, uint64_t(frame_width_ - s + 1)));
      int y = int(uniform_below(engine_, uint64_t(frame_height_ - s + 1)));
      mask.box = Rect{x, y, s, s};
      break;
    }
    case MaskMode::File: mask = config_.file_mask; break;
  }
  return mask;
}

}  // namespace rip
