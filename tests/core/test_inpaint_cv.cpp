// SPDX-License-Identifier: LGPL-2.1-or-later
//
// OpenCV inpainting: only the masked pixels change, for every method.
#include <ostream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "rip/core/inpaint_cv.h"
#include "testutil.h"

using riptest::contains_all;
using riptest::count_differing_pixels;
using riptest::error_of;

namespace rip {

// Readable parameters in gtest failure messages.
inline void PrintTo(CvInpaintMethod m, std::ostream* os) {
  *os << cv_inpaint_method_name(m);
}

}  // namespace rip

namespace {

const std::vector<rip::CvInpaintMethod> kAllMethods = {rip::CvInpaintMethod::Telea,
    rip::CvInpaintMethod::NavierStokes, rip::CvInpaintMethod::FsrFast,
    rip::CvInpaintMethod::FsrBest, rip::CvInpaintMethod::ShiftMap};

// Small on purpose: fsr-best takes ~8 s on 96x96 with a 32x32 hole, so only
// the main contract test uses that size; the others use 48x48.
constexpr int kSide = 96;
const cv::Rect kHole(32, 32, 32, 32);
constexpr int kSmall = 48;
const cv::Rect kSmallHole(18, 18, 12, 12);

cv::Mat hole_mask(int side, const cv::Rect& hole, uchar value = 255) {
  cv::Mat mask = cv::Mat::zeros(side, side, CV_8UC1);
  mask(hole).setTo(value);
  return mask;
}

std::string method_name(const ::testing::TestParamInfo<rip::CvInpaintMethod>& info) {
  std::string n = rip::cv_inpaint_method_name(info.param);
  for (char& c : n)
    if (c == '-') c = '_';
  return n;
}

// A marker colour far from the texture's mean, painted into the hole before
// inpainting: a method that really repaints the hole ends far from it (a
// method that kept or merely smoothed the hole would stay near it).
cv::Scalar marker(int channels) {
  return channels == 3 ? cv::Scalar(255, 0, 255) : cv::Scalar(255);
}

cv::Mat with_marker(const cv::Mat& image, const cv::Mat& mask, cv::Scalar colour) {
  cv::Mat out = image.clone();
  out.setTo(colour, mask);
  return out;
}

// Inpaints a copy of image under mask and checks the contract: outside the
// mask bit-identical, inside repainted with colours unrelated to the marker
// that was there.
void check_only_mask_changes(
    const cv::Mat& texture, const cv::Mat& mask, rip::CvInpaintMethod method) {
  const cv::Scalar fill = marker(texture.channels());
  cv::Mat image = with_marker(texture, mask != 0, fill);
  cv::Mat out = image.clone();
  rip::cv_inpaint_masked(out, mask, method, 3.0);
  ASSERT_EQ(out.size(), image.size());
  ASSERT_EQ(out.type(), image.type());
  EXPECT_EQ(count_differing_pixels(out, image, mask == 0), 0) << "pixels outside the mask changed";
  const int inside = cv::countNonZero(mask);
  EXPECT_GT(count_differing_pixels(out, image, mask != 0), inside * 9 / 10)
      << "the masked pixels were not repainted";
  // Mean absolute distance from the marker, per channel, inside the hole.
  cv::Mat dist;
  cv::absdiff(out, fill, dist);
  cv::Scalar mean = cv::mean(dist, mask != 0);
  double sum = 0;
  for (int c = 0; c < out.channels(); c++) sum += mean[c];
  EXPECT_GT(sum / out.channels(), 60.0)
      << "the hole still looks like the marker that was painted in it";
}

class CvInpaint : public ::testing::TestWithParam<rip::CvInpaintMethod> {};

}  // namespace

TEST(CvInpaintNames, RoundTripAndUnknownListsMethods) {
  for (auto m : kAllMethods)
    EXPECT_EQ(rip::parse_cv_inpaint_method(rip::cv_inpaint_method_name(m)), m);
  EXPECT_TRUE(contains_all(error_of([] { rip::parse_cv_inpaint_method("patchmatch"); }),
      {"'patchmatch'", "telea", "ns", "fsr-fast", "fsr-best", "shiftmap"}));
}

TEST_P(CvInpaint, ColourOnlyMaskedPixelsChange) {
  check_only_mask_changes(
      riptest::textured_image(kSide, kSide, CV_8UC3, 17), hole_mask(kSide, kHole), GetParam());
}

// What was in the hole must not matter: two images that differ only there
// inpaint to the same result.
TEST_P(CvInpaint, HoleContentIsIgnored) {
  cv::Mat texture = riptest::textured_image(kSmall, kSmall, CV_8UC3, 5);
  cv::Mat mask = hole_mask(kSmall, kSmallHole);
  cv::Mat a = with_marker(texture, mask, cv::Scalar(255, 0, 255));
  cv::Mat b = with_marker(texture, mask, cv::Scalar(0, 255, 0));
  rip::cv_inpaint_masked(a, mask, GetParam(), 3.0);
  rip::cv_inpaint_masked(b, mask, GetParam(), 3.0);
  EXPECT_EQ(count_differing_pixels(a, b), 0);
}

// The header promises "mask != 0", not "mask == 255": a mask of 1s must
// repaint the same pixels.
TEST_P(CvInpaint, AnyNonZeroMaskValueCounts) {
  check_only_mask_changes(riptest::textured_image(kSmall, kSmall, CV_8UC3, 18),
      hole_mask(kSmall, kSmallHole, 1), GetParam());
}

TEST_P(CvInpaint, IrregularMask) {
  cv::Mat mask = cv::Mat::zeros(kSmall, kSmall, CV_8UC1);
  mask(cv::Rect(10, 10, 24, 6)).setTo(255);
  mask(cv::Rect(10, 10, 6, 24)).setTo(255);
  check_only_mask_changes(riptest::textured_image(kSmall, kSmall, CV_8UC3, 19), mask, GetParam());
}

TEST_P(CvInpaint, EmptyMaskLeavesImageUntouched) {
  for (int type : {CV_8UC3, CV_8UC1}) {
    // shiftmap refuses grey images whatever the mask (GreyWorksExceptShiftmap).
    if (type == CV_8UC1 && GetParam() == rip::CvInpaintMethod::ShiftMap) continue;
    cv::Mat image = riptest::textured_image(kSmall, kSmall, type, 4);
    cv::Mat out = image.clone();
    rip::cv_inpaint_masked(out, cv::Mat::zeros(kSmall, kSmall, CV_8UC1), GetParam(), 3.0);
    EXPECT_EQ(count_differing_pixels(out, image), 0);
  }
}

TEST_P(CvInpaint, GreyWorksExceptShiftmap) {
  cv::Mat grey = riptest::textured_image(kSmall, kSmall, CV_8UC1, 23);
  cv::Mat mask = hole_mask(kSmall, kSmallHole);
  if (GetParam() == rip::CvInpaintMethod::ShiftMap) {
    cv::Mat out = grey.clone();
    EXPECT_TRUE(contains_all(error_of([&] { rip::cv_inpaint_masked(out, mask, GetParam(), 3.0); }),
        {"shiftmap", "3-channel"}));
    EXPECT_EQ(count_differing_pixels(out, grey), 0);
    return;
  }
  check_only_mask_changes(grey, mask, GetParam());
}

TEST_P(CvInpaint, MismatchedMaskThrows) {
  cv::Mat image = riptest::textured_image(kSmall, kSmall, CV_8UC3, 1);
  cv::Mat smaller = cv::Mat(kSmall - 1, kSmall, CV_8UC1, cv::Scalar(255));
  EXPECT_TRUE(
      contains_all(error_of([&] { rip::cv_inpaint_masked(image, smaller, GetParam(), 3.0); }),
          {"mask", "size"}));
  cv::Mat colour_mask(kSmall, kSmall, CV_8UC3, cv::Scalar::all(255));
  error_of([&] { rip::cv_inpaint_masked(image, colour_mask, GetParam(), 3.0); });
}

TEST_P(CvInpaint, UnsupportedImageTypesThrow) {
  for (int type : {CV_16UC3, CV_8UC4, CV_32FC1}) {
    cv::Mat image(kSmall, kSmall, type, cv::Scalar::all(1));
    EXPECT_TRUE(contains_all(error_of([&] {
      rip::cv_inpaint_masked(image, hole_mask(kSmall, kSmallHole), GetParam(), 3.0);
    }),
        {"8-bit", "1 or 3 channels"}));
  }
}

INSTANTIATE_TEST_SUITE_P(AllMethods, CvInpaint, ::testing::ValuesIn(kAllMethods), method_name);
