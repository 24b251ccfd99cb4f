// SPDX-License-Identifier: LGPL-2.1-or-later
#include "rip/core/inpaint_cv.h"

#include <opencv2/imgproc.hpp>
#include <opencv2/photo.hpp>
#include <opencv2/xphoto/inpainting.hpp>

#include "rip/error.h"

namespace rip {

const char* cv_inpaint_method_name(CvInpaintMethod method) {
  switch (method) {
    case CvInpaintMethod::Telea: return "telea";
    case CvInpaintMethod::NavierStokes: return "ns";
    case CvInpaintMethod::FsrFast: return "fsr-fast";
    case CvInpaintMethod::FsrBest: return "fsr-best";
    case CvInpaintMethod::ShiftMap: return "shiftmap";
  }
  return "?";
}

CvInpaintMethod parse_cv_inpaint_method(const std::string& name) {
  for (CvInpaintMethod m : {CvInpaintMethod::Telea, CvInpaintMethod::NavierStokes,
           CvInpaintMethod::FsrFast, CvInpaintMethod::FsrBest, CvInpaintMethod::ShiftMap})
    if (name == cv_inpaint_method_name(m)) return m;
  throw Error(
      "unknown inpainting method '" + name + "': use telea, ns, fsr-fast, fsr-best or shiftmap");
}

void cv_inpaint_masked(cv::Mat& image, const cv::Mat& mask, CvInpaintMethod method, double radius) {
  if (image.depth() != CV_8U || (image.channels() != 3 && image.channels() != 1))
    throw Error("cvinpaint works on 8-bit images with 1 or 3 channels");
  if (mask.type() != CV_8UC1 || mask.size() != image.size())
    throw Error(
        "the mask must be a single-channel 8-bit image of the "
        "frame's size");
  if (method == CvInpaintMethod::ShiftMap && image.channels() != 3)
    throw Error(
        "method shiftmap needs a 3-channel image; use telea, ns or "
        "fsr-* for grey frames");
  if (cv::countNonZero(mask) == 0) return;

  cv::Mat result;
  try {
    switch (method) {
      case CvInpaintMethod::Telea:
        cv::inpaint(image, mask, result, radius, cv::INPAINT_TELEA);
        break;
      case CvInpaintMethod::NavierStokes:
        cv::inpaint(image, mask, result, radius, cv::INPAINT_NS);
        break;
      case CvInpaintMethod::FsrFast:
      case CvInpaintMethod::FsrBest:
      case CvInpaintMethod::ShiftMap: {
        // xphoto's mask has the opposite sense: non-zero = known pixel.
        cv::Mat known;
        cv::compare(mask, 0, known, cv::CMP_EQ);
        int algo = method == CvInpaintMethod::FsrFast ? cv::xphoto::INPAINT_FSR_FAST
            : method == CvInpaintMethod::FsrBest      ? cv::xphoto::INPAINT_FSR_BEST
                                                      : cv::xphoto::INPAINT_SHIFTMAP;
        // xphoto's inpaint reads dst as scratch for some algorithms; give
        // it a copy of the input rather than an uninitialised matrix.
        result = image.clone();
        cv::xphoto::inpaint(image, known, result, algo);
        break;
      }
    }
  } catch (const cv::Exception& e) {
    throw Error(std::string("OpenCV inpainting (") + cv_inpaint_method_name(method) +
        ") failed: " + e.what());
  }
  result.copyTo(image, mask);
}

}  // namespace rip
