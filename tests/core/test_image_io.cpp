// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Image loading (channel order, errors) and fitting to the loop's size.
#include <filesystem>

#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>

#include "rip/core/image_fit.h"
#include "rip/io/image.h"
#include "testutil.h"

using riptest::contains_all;
using riptest::error_of;

namespace {

class ImageIo : public ::testing::Test {
 protected:
  riptest::TempDir dir;
};

// A constant image, so any resampling keeps the content colour exactly and
// bands and content can be told apart pixel by pixel.
const cv::Vec3b kContent(10, 200, 30);

cv::Mat constant_rgb(int w, int h, cv::Vec3b c = kContent) {
  return cv::Mat(h, w, CV_8UC3, cv::Scalar(c[0], c[1], c[2]));
}

// Rows [y0, y1) x columns [x0, x1) all equal c.
::testing::AssertionResult region_is(
    const cv::Mat& img, int x0, int y0, int x1, int y1, cv::Vec3b c) {
  for (int y = y0; y < y1; y++)
    for (int x = x0; x < x1; x++)
      if (img.at<cv::Vec3b>(y, x) != c)
        return ::testing::AssertionFailure() << "pixel (" << x << ", " << y << ") is "
                                             << img.at<cv::Vec3b>(y, x) << ", expected " << c;
  return ::testing::AssertionSuccess();
}

const cv::Vec3b kBlack(0, 0, 0);

// Pads a constant w0 x h0 image to w x h and checks that exactly `content`
// holds the image and every other pixel is black.
void expect_padded(int w0, int h0, int w, int h, const cv::Rect& content) {
  cv::Mat out = rip::fit_image(constant_rgb(w0, h0), w, h, rip::FitMode::Pad);
  ASSERT_EQ(out.size(), cv::Size(w, h));
  ASSERT_EQ(out.type(), CV_8UC3);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      const cv::Vec3b expected = content.contains({x, y}) ? kContent : kBlack;
      ASSERT_EQ(out.at<cv::Vec3b>(y, x), expected)
          << "at (" << x << ", " << y << ") padding " << w0 << "x" << h0 << " to " << w << "x" << h;
    }
}

}  // namespace

// ------------------------------------------------------------ loading

TEST_F(ImageIo, PngLoadsAsRgb) {
  // Pure red written by OpenCV, which stores BGR: channel 2 is red there.
  cv::Mat bgr(8, 12, CV_8UC3, cv::Scalar(0, 0, 255));
  std::string path = dir.file("red.png");
  ASSERT_TRUE(cv::imwrite(path, bgr));
  cv::Mat rgb = rip::io::load_rgb_image(path);
  ASSERT_EQ(rgb.type(), CV_8UC3);
  ASSERT_EQ(rgb.size(), cv::Size(12, 8));
  EXPECT_TRUE(region_is(rgb, 0, 0, 12, 8, cv::Vec3b(255, 0, 0)));
}

TEST_F(ImageIo, JpegLoadsAsRgb) {
  cv::Mat bgr(16, 16, CV_8UC3, cv::Scalar(0, 0, 255));
  std::string path = dir.file("red.jpg");
  ASSERT_TRUE(cv::imwrite(path, bgr, {cv::IMWRITE_JPEG_QUALITY, 95}));
  cv::Mat rgb = rip::io::load_rgb_image(path);
  ASSERT_EQ(rgb.type(), CV_8UC3);
  cv::Vec3b p = rgb.at<cv::Vec3b>(8, 8);
  EXPECT_GE(p[0], 250);
  EXPECT_LE(p[1], 5);
  EXPECT_LE(p[2], 5);
}

TEST_F(ImageIo, GreyAlphaAnd16BitBecome8BitRgb) {
  std::string grey = dir.file("grey.png");
  ASSERT_TRUE(cv::imwrite(grey, cv::Mat(4, 4, CV_8UC1, cv::Scalar(77))));
  cv::Mat g = rip::io::load_rgb_image(grey);
  ASSERT_EQ(g.type(), CV_8UC3);
  EXPECT_EQ(g.at<cv::Vec3b>(1, 1), cv::Vec3b(77, 77, 77));

  std::string rgba = dir.file("rgba.png");
  ASSERT_TRUE(cv::imwrite(rgba, cv::Mat(4, 4, CV_8UC4, cv::Scalar(255, 0, 0, 128))));  // BGRA blue
  cv::Mat a = rip::io::load_rgb_image(rgba);
  ASSERT_EQ(a.type(), CV_8UC3);
  EXPECT_EQ(a.at<cv::Vec3b>(0, 0), cv::Vec3b(0, 0, 255));

  std::string deep = dir.file("deep.png");
  ASSERT_TRUE(cv::imwrite(deep, cv::Mat(4, 4, CV_16UC3, cv::Scalar(0, 0x8000, 0xFFFF))));
  cv::Mat d = rip::io::load_rgb_image(deep);
  ASSERT_EQ(d.type(), CV_8UC3);
  EXPECT_EQ(d.at<cv::Vec3b>(2, 2), cv::Vec3b(255, 128, 0));
}

TEST_F(ImageIo, MissingFileThrowsNamingIt) {
  std::string path = dir.file("missing.png");
  EXPECT_TRUE(
      contains_all(error_of([&] { rip::io::load_rgb_image(path); }), {path, "does not exist"}));
}

TEST_F(ImageIo, FolderThrowsNamingIt) {
  EXPECT_TRUE(
      contains_all(error_of([&] { rip::io::load_rgb_image(dir.path()); }), {dir.path(), "folder"}));
}

TEST_F(ImageIo, CorruptFileThrowsNamingIt) {
  std::string path = dir.file("x.png");
  riptest::write_bytes(path, std::string(300, '\x5a'));
  EXPECT_TRUE(contains_all(
      error_of([&] { rip::io::load_rgb_image(path); }), {path, "could not be decoded", "PNG"}));
}

TEST_F(ImageIo, EmptyPathThrowsAskingForLocation) {
  EXPECT_TRUE(
      contains_all(error_of([] { rip::io::load_rgb_image(""); }), {"no image file", "location"}));
}

// ------------------------------------------------------------- saving

TEST_F(ImageIo, SaveThenLoadIsLossless) {
  cv::Mat rgb = riptest::textured_image(33, 17, CV_8UC3, 5);
  std::string path = dir.file("round.png");
  rip::io::save_rgb_image(path, rgb);
  cv::Mat back = rip::io::load_rgb_image(path);
  ASSERT_EQ(back.size(), rgb.size());
  EXPECT_EQ(riptest::count_differing_pixels(back, rgb), 0);
  // And it is stored as RGB, i.e. BGR on disk for OpenCV.
  cv::Mat raw = cv::imread(path, cv::IMREAD_COLOR);
  EXPECT_EQ(raw.at<cv::Vec3b>(3, 4)[2], rgb.at<cv::Vec3b>(3, 4)[0]);
}

TEST_F(ImageIo, SaveFailuresNameThePath) {
  cv::Mat rgb = constant_rgb(4, 4);
  std::string no_folder = dir.file("no/such/folder/out.png");
  EXPECT_TRUE(
      contains_all(error_of([&] { rip::io::save_rgb_image(no_folder, rgb); }), {no_folder}));
  std::string bad_ext = dir.file("out.notanimage");
  EXPECT_TRUE(contains_all(error_of([&] { rip::io::save_rgb_image(bad_ext, rgb); }), {bad_ext}));
}

// ------------------------------------------------------------ fitting

TEST(FitMode, NamesRoundTripAndUnknownThrows) {
  for (rip::FitMode m :
      {rip::FitMode::Pad, rip::FitMode::Crop, rip::FitMode::Stretch, rip::FitMode::None})
    EXPECT_EQ(rip::parse_fit_mode(rip::fit_mode_name(m)), m);
  EXPECT_TRUE(contains_all(
      error_of([] { rip::parse_fit_mode("fill"); }), {"'fill'", "pad", "crop", "stretch", "none"}));
}

TEST(FitImage, PadWideImageGetsBandsTopAndBottom) {
  // 300x150 -> 512x512: scale 512/300, content 512x256, 128-px bands.
  expect_padded(300, 150, 512, 512, cv::Rect(0, 128, 512, 256));
}

TEST(FitImage, PadTallImageGetsBandsLeftAndRight) {
  // 100x200 -> 300x300: content 150x300 centred, 75-px bands.
  expect_padded(100, 200, 300, 300, cv::Rect(75, 0, 150, 300));
}

TEST(FitImage, PadOddBandSplitsWithinOnePixel) {
  // 64x32 -> 64x37: content 64x32, 5 rows of band split 2 above, 3 below.
  expect_padded(64, 32, 64, 37, cv::Rect(0, 2, 64, 32));
  // Shrinking: 400x100 -> 101x101 scales to 101x25, 76 rows split 38/38.
  expect_padded(400, 100, 101, 101, cv::Rect(0, 38, 101, 25));
}

TEST(FitImage, CropKeepsTheCentre) {
  // Thirds red | green | blue across 300x150; crop to 256x256 scales by
  // 256/150 to 512x256 and keeps columns 128..383 of it: the output shows
  // red up to ~43, green ~43..213, blue from ~214.
  cv::Mat src(150, 300, CV_8UC3);
  src.colRange(0, 100).setTo(cv::Scalar(255, 0, 0));
  src.colRange(100, 200).setTo(cv::Scalar(0, 255, 0));
  src.colRange(200, 300).setTo(cv::Scalar(0, 0, 255));
  cv::Mat out = rip::fit_image(src, 256, 256, rip::FitMode::Crop);
  ASSERT_EQ(out.size(), cv::Size(256, 256));
  for (int y : {0, 128, 255}) {
    EXPECT_EQ(out.at<cv::Vec3b>(y, 0), cv::Vec3b(255, 0, 0));
    EXPECT_EQ(out.at<cv::Vec3b>(y, 38), cv::Vec3b(255, 0, 0));
    EXPECT_EQ(out.at<cv::Vec3b>(y, 48), cv::Vec3b(0, 255, 0));
    EXPECT_EQ(out.at<cv::Vec3b>(y, 208), cv::Vec3b(0, 255, 0));
    EXPECT_EQ(out.at<cv::Vec3b>(y, 219), cv::Vec3b(0, 0, 255));
    EXPECT_EQ(out.at<cv::Vec3b>(y, 255), cv::Vec3b(0, 0, 255));
  }
}

TEST(FitImage, CropWhenShrinking) {
  // 400x100 -> 50x50: scale 0.5 to 200x50, keep columns 75..124; a white
  // stripe at 180..219 lands on output columns 15..34.
  cv::Mat src(100, 400, CV_8UC3, cv::Scalar(0, 0, 0));
  src.colRange(180, 220).setTo(cv::Scalar(255, 255, 255));
  cv::Mat out = rip::fit_image(src, 50, 50, rip::FitMode::Crop);
  ASSERT_EQ(out.size(), cv::Size(50, 50));
  EXPECT_EQ(out.at<cv::Vec3b>(25, 0), cv::Vec3b(0, 0, 0));
  EXPECT_EQ(out.at<cv::Vec3b>(25, 25), cv::Vec3b(255, 255, 255));
  EXPECT_EQ(out.at<cv::Vec3b>(25, 49), cv::Vec3b(0, 0, 0));
}

TEST(FitImage, StretchScalesEachAxis) {
  cv::Mat out = rip::fit_image(constant_rgb(300, 150), 64, 96, rip::FitMode::Stretch);
  ASSERT_EQ(out.size(), cv::Size(64, 96));
  EXPECT_TRUE(region_is(out, 0, 0, 64, 96, kContent));
  // 0 on one axis keeps the image's own size there.
  EXPECT_EQ(rip::fit_image(constant_rgb(300, 150), 100, 0, rip::FitMode::Stretch).size(),
      cv::Size(100, 150));
  EXPECT_EQ(rip::fit_image(constant_rgb(300, 150), 0, 40, rip::FitMode::Stretch).size(),
      cv::Size(300, 40));
}

TEST(FitImage, ZeroSizeKeepsTheImage) {
  cv::Mat src = riptest::textured_image(40, 30, CV_8UC3, 2);
  for (rip::FitMode m :
      {rip::FitMode::Pad, rip::FitMode::Crop, rip::FitMode::Stretch, rip::FitMode::None}) {
    cv::Mat out = rip::fit_image(src, 0, 0, m);
    ASSERT_EQ(out.size(), src.size()) << rip::fit_mode_name(m);
    EXPECT_EQ(riptest::count_differing_pixels(out, src), 0);
    EXPECT_NE(out.data, src.data) << "a copy, not a view";
  }
  // Same size is also the image itself, in every mode.
  for (rip::FitMode m :
      {rip::FitMode::Pad, rip::FitMode::Crop, rip::FitMode::Stretch, rip::FitMode::None})
    EXPECT_EQ(riptest::count_differing_pixels(rip::fit_image(src, 40, 30, m), src), 0);
}

TEST(FitImage, PadAndCropNeedBothSides) {
  for (rip::FitMode m : {rip::FitMode::Pad, rip::FitMode::Crop}) {
    std::string msg = error_of([&] { rip::fit_image(constant_rgb(30, 20), 64, 0, m); });
    EXPECT_TRUE(contains_all(msg, {rip::fit_mode_name(m), "both"}));
    error_of([&] { rip::fit_image(constant_rgb(30, 20), 0, 64, m); });
  }
}

TEST(FitImage, NoneAcceptsOnlyTheImageSize) {
  cv::Mat src = constant_rgb(30, 20);
  EXPECT_EQ(rip::fit_image(src, 30, 20, rip::FitMode::None).size(), cv::Size(30, 20));
  EXPECT_EQ(rip::fit_image(src, 30, 0, rip::FitMode::None).size(), cv::Size(30, 20));
  EXPECT_EQ(rip::fit_image(src, 0, 20, rip::FitMode::None).size(), cv::Size(30, 20));
  EXPECT_TRUE(contains_all(error_of([&] { rip::fit_image(src, 32, 20, rip::FitMode::None); }),
      {"30x20", "32x20", "fit=none"}));
  error_of([&] { rip::fit_image(src, 0, 21, rip::FitMode::None); });
}

TEST(FitImage, NegativeSizeThrows) {
  for (rip::FitMode m : {rip::FitMode::Pad, rip::FitMode::Stretch, rip::FitMode::None})
    EXPECT_TRUE(contains_all(
        error_of([&] { rip::fit_image(constant_rgb(8, 8), -1, 8, m); }), {"negative"}));
}
