// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Choosing the region to repaint at each RIP iteration.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace rip {

struct Rect {
  int x = 0;
  int y = 0;
  int width = 0;
  int height = 0;

  int64_t area() const { return int64_t(width) * height; }
  bool empty() const { return width <= 0 || height <= 0; }
  bool operator==(const Rect& o) const {
    return x == o.x && y == o.y && width == o.width && height == o.height;
  }
};

// A region to repaint: a bounding box plus, for masks that are not a full
// rectangle (mask files), an 8-bit bitmap of the box's size where non-zero
// means "repaint". An empty bitmap means the whole box.
struct Mask {
  Rect box;
  cv::Mat bitmap;

  int64_t pixel_count() const;
  // The mask as a full-frame CV_8UC1 image, 255 = repaint.
  cv::Mat to_image(int frame_width, int frame_height) const;
};

enum class MaskMode {
  Random,  // one grid cell, uniform, with replacement (the reference study)
  Sweep,   // every grid cell once per pass, each pass in a new random order
  Free,    // a size x size square anywhere, uniform over all positions
  File,    // the same mask, read from an image, every iteration
};

const char* mask_mode_name(MaskMode mode);
MaskMode parse_mask_mode(const std::string& name);  // throws Error

// Uniform integer in [0, n) from a 64-bit engine by rejection sampling.
// std::uniform_int_distribution is implementation-defined; this is not, so a
// seed gives the same masks with any standard library.
uint64_t uniform_below(std::mt19937_64& engine, uint64_t n);

// Reads a mask image (any format OpenCV decodes, white = repaint) and checks
// it matches the frame. Throws Error naming the file and the problem.
Mask load_mask_file(const std::string& path, int frame_width, int frame_height);

struct MaskSamplerConfig {
  MaskMode mode = MaskMode::Random;
  int cell_size = 128;
  uint64_t seed = 0;
  Mask file_mask;  // used when mode == File
};

// Deterministic sequence of masks for one frame size. Throws Error on
// construction when the frame cannot be divided as the mode requires.
class MaskSampler {
 public:
  MaskSampler(const MaskSamplerConfig& config, int frame_width, int frame_height);

  Mask next();

  int columns() const { return columns_; }
  int rows() const { return rows_; }
  int cell_count() const { return columns_ * rows_; }

 private:
  MaskSamplerConfig config_;
  int frame_width_;
  int frame_height_;
  int columns_ = 0;
  int rows_ = 0;
  std::mt19937_64 engine_;
  std::vector<int> sweep_order_;
  size_t sweep_pos_ = 0;
};

}  // namespace rip
