// SPDX-License-Identifier: LGPL-2.1-or-later
//
// LPIPS through librip-lpips.so as lpipsmeter uses it (rip::LpipsModel,
// loaded with dlopen), the map files, and the errors when the backend or
// the weights are missing.
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "rip/error.h"
#include "rip/io/tensor_file.h"
#include "rip/core/lpips_backend.h"
#include "testutil.h"

using lpipstest::contains_all;
using lpipstest::error_of;

namespace {

cv::Mat rgb(const std::string& ref) {
  cv::Mat bgr = cv::imread(lpipstest::golden_image(ref), cv::IMREAD_COLOR);
  cv::Mat out;
  cv::cvtColor(bgr, out, cv::COLOR_BGR2RGB);
  return out;
}

const nlohmann::json& golden_case(const std::string& net, const std::string& img1) {
  for (const auto& c : lpipstest::goldens()["cases"])
    if (c["net"] == net && c["version"] == "0.1" && c["img0"] == "shared:imgs/ex_ref.png" &&
        c["img1"] == img1)
      return c;
  throw std::runtime_error("no golden for " + net);
}

}  // namespace

TEST(Backend, MissingBackendIsExplained) {
  // In a fresh process (the backend stays loaded once loaded).
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        setenv("RIP_LPIPS_BACKEND", "/nonexistent/librip-lpips.so", 1);
        try {
          rip::load_lpips_backend();
        } catch (const rip::Error& e) {
          std::fprintf(stderr, "%s\n", e.what());
          std::exit(3);
        }
        std::exit(0);
      },
      testing::ExitedWithCode(3),
      "LPIPS backend.*librip-lpips.so.*/nonexistent/librip-lpips.so: no such "
      "file.*RIP_LPIPS_BACKEND is set");
}

TEST(Backend, DistanceAndMapAsTheLibrary) {
  LPIPS_NEEDS_SHARED();
  lpipstest::TempDir tmp;
  rip::LpipsSettings s;
  s.net = "squeeze";
  s.backbone_file = lpipstest::test_backbone("squeeze", tmp.path());
  s.lin_file = lpipstest::shared_lin("squeeze");
  rip::LpipsModel m(s);
  EXPECT_TRUE(
      contains_all(m.description(), {"squeeze", "v0.1", "squeezenet1_1.pth", "squeeze.pth"}));
  EXPECT_FALSE(rip::lpips_backend_path().empty());
  EXPECT_TRUE(
      contains_all(error_of([&] { m.distance(rgb("shared:imgs/ex_p0.png")); }), {"no reference"}));
  m.set_reference(rgb("shared:imgs/ex_ref.png"));
  cv::Mat map;
  const auto& c = golden_case("squeeze", "shared:imgs/ex_p0.png");
  EXPECT_NEAR(m.distance(rgb("shared:imgs/ex_p0.png"), &map), c["distance"].get<double>(), 1e-5);
  // The map is the reference's spatial map.
  auto maps = rip::io::TensorFile::open(lpipstest::data_dir() + "/goldens.safetensors");
  const auto* e = maps->find(c["spatial"].get<std::string>());
  ASSERT_NE(e, nullptr);
  std::vector<float> want = maps->read_float(*e);
  ASSERT_EQ(map.rows, 64);
  ASSERT_EQ(map.cols, 64);
  double worst = 0;
  for (int k = 0; k < 64 * 64; k++)
    worst = std::max(worst, double(std::fabs(map.ptr<float>()[k] - want[k])));
  EXPECT_LE(worst, 1e-5);
  // A row stride wider than the image (a cropped view).
  cv::Mat big(80, 90, CV_8UC3, cv::Scalar(1, 2, 3));
  rgb("shared:imgs/ex_p1.png").copyTo(big(cv::Rect(3, 5, 64, 64)));
  const auto& c1 = golden_case("squeeze", "shared:imgs/ex_p1.png");
  EXPECT_NEAR(m.distance(big(cv::Rect(3, 5, 64, 64))), c1["distance"].get<double>(), 1e-5);
  EXPECT_TRUE(
      contains_all(error_of([&] { m.distance(big); }), {"reference's size (64x64)", "90x80"}));
}

TEST(Backend, MetersShareOneNetworkEachWithItsReference) {
  // Models of the same net and files share one copy of the network (a
  // study's loops read the weights once); each keeps its own reference.
  LPIPS_NEEDS_SHARED();
  lpipstest::TempDir tmp;
  rip::LpipsSettings s;
  s.net = "squeeze";
  s.backbone_file = lpipstest::test_backbone("squeeze", tmp.path());
  s.lin_file = lpipstest::shared_lin("squeeze");
  rip::LpipsModel a(s), b(s);
  EXPECT_TRUE(a.shares_network_with(b));
  // The same file by another path is the same network.
  rip::LpipsSettings same = s;
  const std::filesystem::path backbone(s.backbone_file);
  same.backbone_file = (backbone.parent_path() / "." / backbone.filename()).string();
  rip::LpipsModel c(same);
  EXPECT_TRUE(a.shares_network_with(c));
  rip::LpipsSettings other = s;
  other.net = "alex";
  other.backbone_file = lpipstest::test_backbone("alex", tmp.path());
  other.lin_file = lpipstest::shared_lin("alex");
  rip::LpipsModel d(other);
  EXPECT_FALSE(a.shares_network_with(d));
  a.set_reference(rgb("shared:imgs/ex_ref.png"));
  b.set_reference(rgb("shared:imgs/ex_p1.png"));
  const double p0 = golden_case("squeeze", "shared:imgs/ex_p0.png")["distance"].get<double>();
  EXPECT_NEAR(a.distance(rgb("shared:imgs/ex_p0.png")), p0, 1e-5);
  EXPECT_GT(std::fabs(b.distance(rgb("shared:imgs/ex_p0.png")) - p0), 1e-3);
}

TEST(Backend, MissingWeightsAreExplainedThroughTheBackend) {
  lpipstest::TempDir tmp;
  setenv("TORCH_HOME", tmp.file("torch").c_str(), 1);
  rip::LpipsSettings s;
  s.net = "vgg";
  s.weights_dir = tmp.file("weights");
  const std::string msg = error_of([&] { rip::LpipsModel m(s); });
  unsetenv("TORCH_HOME");
  EXPECT_TRUE(contains_all(msg,
      {"vgg16-397923af.pth", tmp.file("weights"), tmp.file("torch/hub/checkpoints"),
          "get-lpips-weights"}))
      << msg;
  s.net = "resnet";
  EXPECT_TRUE(
      contains_all(error_of([&] { rip::LpipsModel m(s); }), {"unknown LPIPS network 'resnet'"}));
}

TEST(MapFiles, HeatMapAndRawValues) {
  lpipstest::TempDir tmp;
  cv::Mat map(20, 30, CV_32FC1);
  for (int y = 0; y < 20; y++)
    for (int x = 0; x < 30; x++) map.at<float>(y, x) = x / 20.0f;  // 0 .. 1.45
  rip::write_lpips_map(tmp.file("m.png"), map, 1.0);
  cv::Mat png = cv::imread(tmp.file("m.png"), cv::IMREAD_UNCHANGED);
  ASSERT_EQ(png.type(), CV_8UC3);
  EXPECT_EQ(png.size(), map.size());
  // 0 is the colour map's darkest, everything from `max` on its brightest.
  EXPECT_LT(cv::norm(png.at<cv::Vec3b>(0, 0)), 30);
  EXPECT_EQ(png.at<cv::Vec3b>(0, 20), png.at<cv::Vec3b>(0, 29));
  EXPECT_GT(cv::norm(png.at<cv::Vec3b>(0, 20)), 300);
  rip::write_lpips_map(tmp.file("m.tif"), map, 1.0);
  cv::Mat raw = cv::imread(tmp.file("m.tif"), cv::IMREAD_UNCHANGED);
  ASSERT_EQ(raw.type(), CV_32FC1);
  EXPECT_EQ(cv::norm(raw, map, cv::NORM_INF), 0.0);
  EXPECT_TRUE(
      contains_all(error_of([&] { rip::write_lpips_map(tmp.file("no/dir/m.png"), map, 1.0); }),
          {"no/dir/m.png", "cannot write"}));
}

TEST(MapFiles, FramePatterns) {
  EXPECT_EQ(rip::format_frame_path("map-%05d.png", 42), "map-00042.png");
  EXPECT_EQ(rip::format_frame_path("%d.png", 7), "7.png");
  EXPECT_EQ(rip::format_frame_path("100%%-%3d.tif", 7), "100%-  7.tif");
  for (const char* bad : {"map.png", "%d-%d.png", "%s.png", "%05x.png"})
    EXPECT_TRUE(contains_all(error_of([&] { rip::format_frame_path(bad, 1); }), {"one %d"})) << bad;
}
