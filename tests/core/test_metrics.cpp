// SPDX-License-Identifier: LGPL-2.1-or-later
//
// SSIM / MS-SSIM / PSNR: parsing, closed forms, properties and size checks.
// Parity with the reference implementation is in test_metrics_golden.cpp.
#include <cmath>
#include <limits>
#include <vector>

#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include "rip/core/metrics.h"
#include "testutil.h"

using rip::Metric;
using riptest::contains_all;
using riptest::error_of;

namespace {

cv::Mat blurred(const cv::Mat& m) {
  cv::Mat out;
  cv::GaussianBlur(m, out, cv::Size(5, 5), 1.2);
  return out;
}

}  // namespace

// ------------------------------------------------------------ parsing

TEST(MetricList, KeepsOrderAndAllowsSpaces) {
  EXPECT_EQ(rip::parse_metric_list("ssim,ms-ssim,psnr"),
      (std::vector<Metric>{Metric::Ssim, Metric::MsSsim, Metric::Psnr}));
  EXPECT_EQ(
      rip::parse_metric_list(" psnr ,\tssim"), (std::vector<Metric>{Metric::Psnr, Metric::Ssim}));
  EXPECT_EQ(rip::parse_metric_list("ms-ssim"), (std::vector<Metric>{Metric::MsSsim}));
  // Empty items are ignored.
  EXPECT_EQ(rip::parse_metric_list("psnr,,ms-ssim,"),
      (std::vector<Metric>{Metric::Psnr, Metric::MsSsim}));
}

TEST(MetricList, DuplicatesThrow) {
  EXPECT_TRUE(contains_all(
      error_of([] { rip::parse_metric_list("ssim, psnr, ssim"); }), {"'ssim'", "twice"}));
}

TEST(MetricList, UnknownNamesThrowListingKnownOnes) {
  for (const char* bad : {"lpips", "ssim,msssim", "SSIM", "ssim;psnr"})
    EXPECT_TRUE(contains_all(
        error_of([&] { rip::parse_metric_list(bad); }), {"unknown metric", "ssim, ms-ssim, psnr"}))
        << bad;
}

TEST(MetricList, EmptyListThrows) {
  for (const char* empty : {"", " ", ",,"})
    EXPECT_TRUE(contains_all(
        error_of([&] { rip::parse_metric_list(empty); }), {"no metric", "ssim, ms-ssim, psnr"}));
}

TEST(MetricNames, NamesAndMinimumSizes) {
  EXPECT_STREQ(rip::metric_name(Metric::Ssim), "ssim");
  EXPECT_STREQ(rip::metric_name(Metric::MsSsim), "ms-ssim");
  EXPECT_STREQ(rip::metric_name(Metric::Psnr), "psnr");
  EXPECT_EQ(rip::known_metric_names(), "ssim, ms-ssim, psnr");
  EXPECT_EQ(rip::metric_min_size(Metric::Ssim), 11);
  EXPECT_EQ(rip::metric_min_size(Metric::MsSsim), 161);
  EXPECT_EQ(rip::metric_min_size(Metric::Psnr), 1);
}

// ------------------------------------------------------- closed forms

TEST(Metrics, IdenticalImagesArePerfect) {
  for (int type : {CV_8UC1, CV_8UC3, CV_8UC4}) {
    cv::Mat a = riptest::textured_image(170, 163, type, 8);
    cv::Mat b = a.clone();
    EXPECT_EQ(rip::ssim(a, b), 1.0);
    EXPECT_EQ(rip::ms_ssim(a, b), 1.0);
    EXPECT_EQ(rip::psnr(a, b), std::numeric_limits<double>::infinity());
  }
}

TEST(Metrics, PsnrOfAConstantOffset) {
  // Every channel of every pixel off by 10: MSE = 100 exactly.
  cv::Mat a = riptest::textured_image(64, 48, CV_8UC3, 2);
  cv::Mat clipped;
  cv::min(a, 245, clipped);
  cv::Mat b = clipped + cv::Scalar::all(10);
  const double expected = 10.0 * std::log10(255.0 * 255.0 / 100.0);
  EXPECT_NEAR(rip::psnr(clipped, b), expected, 1e-12);
  EXPECT_NEAR(expected, 28.130803608679102, 1e-12);
  // Symmetric, and the same on one channel.
  EXPECT_EQ(rip::psnr(b, clipped), rip::psnr(clipped, b));
  cv::Mat g(5, 7, CV_8UC1, cv::Scalar(100)), h(5, 7, CV_8UC1, cv::Scalar(110));
  EXPECT_NEAR(rip::psnr(g, h), expected, 1e-12);
}

TEST(Metrics, PsnrCountsEveryChannel) {
  // One channel of one pixel off by 255 in a 2x2 RGB image: MSE = 255^2/12.
  cv::Mat a = cv::Mat::zeros(2, 2, CV_8UC3), b = a.clone();
  b.at<cv::Vec3b>(1, 0)[2] = 255;
  EXPECT_NEAR(rip::psnr(a, b), 10.0 * std::log10(12.0), 1e-12);
}

TEST(Metrics, SsimOfAConstantOffsetIsTheLuminanceTerm) {
  // b = a + d exactly: sigma terms equal, so cs = 1 everywhere and
  // SSIM = mean of (2 mu (mu + d) + C1) / (mu^2 + (mu + d)^2 + C1); on a
  // constant image that is one number.
  const double mu = 100, d = 20, c1 = (0.01 * 255) * (0.01 * 255);
  const double expected = (2 * mu * (mu + d) + c1) / (mu * mu + (mu + d) * (mu + d) + c1);
  cv::Mat a(40, 30, CV_8UC3, cv::Scalar::all(mu));
  cv::Mat b(40, 30, CV_8UC3, cv::Scalar::all(mu + d));
  EXPECT_NEAR(rip::ssim(a, b), expected, 1e-12);
}

// ---------------------------------------------------------- properties

TEST(Metrics, SymmetricAndBelowOneForDifferentImages) {
  cv::Mat a = riptest::textured_image(200, 170, CV_8UC3, 3);
  cv::Mat b = blurred(a);
  const double s = rip::ssim(a, b), m = rip::ms_ssim(a, b);
  EXPECT_EQ(s, rip::ssim(b, a));
  EXPECT_EQ(m, rip::ms_ssim(b, a));
  EXPECT_LT(s, 0.99);
  EXPECT_GT(s, 0.0);
  EXPECT_LT(m, 1.0);
  EXPECT_GT(m, s);  // the coarse scales forgive a blur
  // More blur, lower scores.
  cv::Mat c = blurred(b);
  EXPECT_LT(rip::ssim(a, c), s);
  EXPECT_LT(rip::ms_ssim(a, c), m);
  EXPECT_LT(rip::psnr(a, c), rip::psnr(a, b));
}

TEST(Metrics, ColourIsTheMeanOfTheChannels) {
  cv::Mat a = riptest::textured_image(180, 176, CV_8UC3, 12);
  cv::Mat b = blurred(a);
  std::vector<cv::Mat> pa, pb;
  cv::split(a, pa);
  cv::split(b, pb);
  double s = 0, m = 0;
  for (int c = 0; c < 3; c++) {
    s += rip::ssim(pa[c], pb[c]) / 3;
    m += rip::ms_ssim(pa[c], pb[c]) / 3;
  }
  EXPECT_NEAR(rip::ssim(a, b), s, 1e-14);
  EXPECT_NEAR(rip::ms_ssim(a, b), m, 1e-14);
  // So the channel order does not matter.
  cv::Mat a_bgr, b_bgr;
  cv::cvtColor(a, a_bgr, cv::COLOR_RGB2BGR);
  cv::cvtColor(b, b_bgr, cv::COLOR_RGB2BGR);
  EXPECT_NEAR(rip::ssim(a_bgr, b_bgr), rip::ssim(a, b), 1e-14);
}

TEST(Metrics, InvertedImageClampsMsSsimToZero) {
  cv::Mat a = riptest::textured_image(161, 161, CV_8UC1, 30);
  cv::Mat inv = 255 - a;
  EXPECT_LT(rip::ssim(a, inv), 0.0);
  EXPECT_EQ(rip::ms_ssim(a, inv), 0.0);
}

TEST(Metrics, ComputeMetricDispatches) {
  cv::Mat a = riptest::textured_image(161, 170, CV_8UC3, 6);
  cv::Mat b = blurred(a);
  EXPECT_EQ(rip::compute_metric(Metric::Ssim, a, b), rip::ssim(a, b));
  EXPECT_EQ(rip::compute_metric(Metric::MsSsim, a, b), rip::ms_ssim(a, b));
  EXPECT_EQ(rip::compute_metric(Metric::Psnr, a, b), rip::psnr(a, b));
}

// ---------------------------------------------------------- size checks

TEST(Metrics, MsSsimNeeds161Pixels) {
  for (cv::Size size : {cv::Size(160, 200), cv::Size(200, 160), cv::Size(64, 64)}) {
    cv::Mat a = riptest::textured_image(size.width, size.height, CV_8UC3, 1);
    EXPECT_TRUE(contains_all(error_of([&] { rip::ms_ssim(a, a); }),
        {"ms-ssim", "161x161", std::to_string(size.width) + "x" + std::to_string(size.height)}));
  }
  cv::Mat ok = riptest::textured_image(161, 161, CV_8UC3, 1);
  EXPECT_EQ(rip::ms_ssim(ok, ok), 1.0);
  cv::Mat other = blurred(ok);
  const double v = rip::ms_ssim(ok, other);
  EXPECT_TRUE(std::isfinite(v));
  EXPECT_GT(v, 0.0);
  EXPECT_LT(v, 1.0);
}

TEST(Metrics, SsimNeeds11Pixels) {
  for (cv::Size size : {cv::Size(10, 20), cv::Size(20, 10)}) {
    cv::Mat a = riptest::textured_image(size.width, size.height, CV_8UC3, 1);
    EXPECT_TRUE(contains_all(error_of([&] { rip::ssim(a, a); }), {"ssim", "11x11"}));
  }
  // 11x11 is one valid window.
  cv::Mat a = riptest::textured_image(11, 11, CV_8UC3, 1);
  cv::Mat b = riptest::textured_image(11, 11, CV_8UC3, 2);
  const double v = rip::ssim(a, b);
  EXPECT_TRUE(std::isfinite(v));
  EXPECT_LT(v, 1.0);
}

TEST(Metrics, MismatchedImagesThrow) {
  cv::Mat a = riptest::textured_image(170, 170, CV_8UC3, 1);
  cv::Mat wider = riptest::textured_image(171, 170, CV_8UC3, 1);
  cv::Mat grey = riptest::textured_image(170, 170, CV_8UC1, 1);
  cv::Mat deep(170, 170, CV_16UC3, cv::Scalar::all(3));
  for (Metric m : {Metric::Ssim, Metric::MsSsim, Metric::Psnr}) {
    EXPECT_TRUE(contains_all(error_of([&] { rip::compute_metric(m, a, wider); }),
        {rip::metric_name(m), "differ in size", "170x170", "171x170"}));
    EXPECT_TRUE(contains_all(error_of([&] { rip::compute_metric(m, a, grey); }), {"8-bit"}));
    EXPECT_TRUE(contains_all(error_of([&] { rip::compute_metric(m, deep, deep); }), {"8-bit"}));
    EXPECT_TRUE(contains_all(error_of([&] { rip::compute_metric(m, cv::Mat(), a); }), {"empty"}));
  }
}
