// SPDX-License-Identifier: LGPL-2.1-or-later
#include "rip/io/image.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "rip/error.h"

namespace rip::io {

namespace {

// OpenCV's limit on the pixels of one image (imgcodecs refuses larger ones
// with a bare assertion), settable with OPENCV_IO_MAX_IMAGE_PIXELS.
uint64_t max_image_pixels() {
  const char* env = std::getenv("OPENCV_IO_MAX_IMAGE_PIXELS");
  return env && *env ? std::strtoull(env, nullptr, 10) : (uint64_t(1) << 30);
}

uint32_t big_endian_u32(const std::vector<unsigned char>& b, size_t at) {
  return (uint32_t(b[at]) << 24) | (uint32_t(b[at + 1]) << 16) | (uint32_t(b[at + 2]) << 8) |
      uint32_t(b[at + 3]);
}

// Refuses what the decoders would accept in part or refuse without the
// file's name: a JPEG or PNG cut short (libjpeg only warns and fills the rest
// with grey), a PNG whose header claims more pixels than OpenCV reads.
void check_complete(const std::string& path, const std::vector<unsigned char>& b) {
  const auto cut = [&](const char* format) {
    return Error("image file '" + path + "' is a " + format +
        " cut short (its end marker is missing): the file is truncated, "
        "copy or download it again");
  };
  if (b.size() >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) {
    // The end-of-image marker; a few cameras write data after it, so the
    // last 4 KiB are searched. Entropy-coded data never holds FF D9.
    const size_t from = b.size() > 4096 ? b.size() - 4096 : 0;
    for (size_t i = b.size() - 1; i > from; --i)
      if (b[i - 1] == 0xFF && b[i] == 0xD9) return;
    throw cut("JPEG");
  }
  static const unsigned char png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (b.size() >= 8 && std::equal(png, png + 8, b.begin())) {
    if (b.size() >= 24) {
      const uint64_t w = big_endian_u32(b, 16), h = big_endian_u32(b, 20);
      if (w * h > max_image_pixels())
        throw Error("image file '" + path + "' claims " + std::to_string(w) + "x" +
            std::to_string(h) + " pixels, more than the " + std::to_string(max_image_pixels()) +
            " OpenCV reads: give an image of at most that many pixels (or raise "
            "OPENCV_IO_MAX_IMAGE_PIXELS if it is real)");
    }
    static const unsigned char iend[4] = {'I', 'E', 'N', 'D'};
    if (b.size() < 12 || !std::equal(iend, iend + 4, b.end() - 8)) throw cut("PNG");
  }
}

}  // namespace

cv::Mat load_rgb_image(const std::string& path) {
  if (path.empty())
    throw Error(
        "no image file given: set location to an image file "
        "(PNG, JPEG, WebP...)");
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw Error("image file '" + path + "' does not exist");
  if (std::filesystem::is_directory(path, ec))
    throw Error("'" + path + "' is a folder, not an image file");
  std::ifstream in(path, std::ios::binary);
  std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)), {});
  if (!in.good() && !in.eof()) throw Error("image file '" + path + "' could not be read");
  if (bytes.empty())
    throw Error("image file '" + path + "' is empty (0 bytes): give an image file");
  check_complete(path, bytes);
  // IMREAD_COLOR drops alpha and expands grey, so every seed is 3-channel.
  cv::Mat bgr;
  try {
    bgr = cv::imdecode(bytes, cv::IMREAD_COLOR);
  } catch (const cv::Exception& e) {
    throw Error("image file '" + path + "' could not be decoded (OpenCV: " + e.err + ")");
  }
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
