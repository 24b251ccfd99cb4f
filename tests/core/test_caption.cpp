// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Captions: drawn in a band along the top, nothing below it touched.
#include <gtest/gtest.h>

#include "rip/core/caption.h"
#include "testutil.h"

namespace {

// Number of rows from the top down to the last row where a and b differ.
int rows_touched(const cv::Mat& a, const cv::Mat& b) {
  int last = -1;
  for (int y = 0; y < a.rows; y++)
    if (riptest::count_differing_pixels(a.row(y), b.row(y)) > 0) last = y;
  return last + 1;
}

}  // namespace

TEST(Caption, DrawsOnlyInATopBand) {
  for (int type : {CV_8UC1, CV_8UC3, CV_8UC4}) {
    cv::Mat image = riptest::textured_image(512, 256, type, 3);
    cv::Mat out = image.clone();
    rip::draw_caption(out, "iteration 42  ssim 0.91");
    const int band = rows_touched(out, image);
    EXPECT_GT(band, 5) << "nothing drawn";
    EXPECT_LT(band, 256 / 4) << "the band covers too much";
    // Some white text pixels in the band.
    cv::Mat top = out.rowRange(0, band).reshape(1);
    double max = 0;
    cv::minMaxLoc(top, nullptr, &max);
    EXPECT_EQ(max, 255);
  }
}

TEST(Caption, ScalesWithWidth) {
  cv::Mat small = cv::Mat::zeros(300, 300, CV_8UC3) + cv::Scalar::all(90);
  cv::Mat large = cv::Mat::zeros(300, 1800, CV_8UC3) + cv::Scalar::all(90);
  cv::Mat s = small.clone(), l = large.clone();
  rip::draw_caption(s, "caption");
  rip::draw_caption(l, "caption");
  EXPECT_GT(rows_touched(l, large), rows_touched(s, small));
  // The band is darkened to 35 % (90 -> 31.5, rounded to 32) where there is
  // no text: the far right of a short caption.
  EXPECT_EQ(l.at<cv::Vec3b>(1, 1799), cv::Vec3b(32, 32, 32));
  EXPECT_EQ(s.at<cv::Vec3b>(1, 299), cv::Vec3b(32, 32, 32));
  // Below the band the frame is as it was.
  EXPECT_EQ(l.at<cv::Vec3b>(299, 1799), cv::Vec3b(90, 90, 90));
}

TEST(Caption, EmptyTextOrImageIsANoOp) {
  cv::Mat image = riptest::textured_image(64, 64, CV_8UC3, 1);
  cv::Mat out = image.clone();
  rip::draw_caption(out, "");
  EXPECT_EQ(riptest::count_differing_pixels(out, image), 0);
  cv::Mat empty;
  rip::draw_caption(empty, "text");
  EXPECT_TRUE(empty.empty());
  // A frame shorter than the band is darkened whole, without crashing.
  cv::Mat thin(3, 200, CV_8UC3, cv::Scalar::all(200));
  rip::draw_caption(thin, "text");
  EXPECT_EQ(thin.size(), cv::Size(200, 3));
}
