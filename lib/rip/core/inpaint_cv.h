// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Classical inpainting with OpenCV: the inpainter that needs no weights.
#pragma once

#include <string>

#include <opencv2/core.hpp>

namespace rip {

enum class CvInpaintMethod {
  Telea,         // cv::inpaint INPAINT_TELEA (fast marching)
  NavierStokes,  // cv::inpaint INPAINT_NS
  FsrFast,       // cv::xphoto::inpaint INPAINT_FSR_FAST
  FsrBest,       // cv::xphoto::inpaint INPAINT_FSR_BEST (slow)
  ShiftMap,      // cv::xphoto::inpaint INPAINT_SHIFTMAP (3-channel only)
};

const char* cv_inpaint_method_name(CvInpaintMethod method);
CvInpaintMethod parse_cv_inpaint_method(const std::string& name);

// Inpaints the pixels where mask != 0 and writes only those back into image,
// in place: the rest of the image is left bit for bit as it was, which is the
// study's "paste the inpainted pixels back" step. image is CV_8UC3 or CV_8UC1
// (any channel order), mask CV_8UC1 of the same size. radius is the
// neighbourhood of telea and ns; the xphoto methods ignore it.
void cv_inpaint_masked(cv::Mat& image, const cv::Mat& mask, CvInpaintMethod method, double radius);

}  // namespace rip
