// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Burning a one-line caption into a frame, for recordings of the recursion
// (Debian's GStreamer has no textoverlay without gstreamer1.0-x, and that
// one cannot take per-frame text from another element).
#pragma once

#include <string>

#include <opencv2/core.hpp>

namespace rip {

// Draws text in white on a dark band along the top edge of an 8-bit
// 1/3/4-channel image, scaled to the image width.
void draw_caption(cv::Mat& image, const std::string& text);

}  // namespace rip
