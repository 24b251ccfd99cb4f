// SPDX-License-Identifier: LGPL-2.1-or-later
//
// A cv::Mat view of a mapped GstVideoFrame (no copy), for the packed 8-bit
// formats the elements accept.
#pragma once

#include <gst/video/video.h>

#include <opencv2/core.hpp>

static inline cv::Mat frame_as_mat(GstVideoFrame* frame) {
  const int channels = GST_VIDEO_FRAME_COMP_PSTRIDE(frame, 0);
  return cv::Mat(GST_VIDEO_FRAME_HEIGHT(frame), GST_VIDEO_FRAME_WIDTH(frame),
      CV_MAKETYPE(CV_8U, channels), GST_VIDEO_FRAME_PLANE_DATA(frame, 0),
      GST_VIDEO_FRAME_PLANE_STRIDE(frame, 0));
}
