// SPDX-License-Identifier: LGPL-2.1-or-later
//
// lpipsmeter with LPIPS metrics: the loop writes LPIPS beside SSIM in the
// messages and the CSV, the values are the reference lpips package's
// (goldens of tests/data/lpips), RGB/BGR/GRAY8 frames, the map files, and
// the errors. Skips (passing, with a message) without ../shared.
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "synthetic.h"
#include "../elements/testutil.h"

#include <gst/check/gstharness.h>
#include <gst/video/video.h>

namespace fs = std::filesystem;

static std::string tmpdir, weights;

static std::string env(const char* name, const char* fallback) {
  const char* v = g_getenv(name);
  return v ? v : fallback;
}

static std::string shared_lpips() {
  return env("RIP_SHARED_DIR", "../shared") + "/data/lpips";
}

static std::string data_lpips() {
  return env("RIP_TEST_DATA", "tests/data") + "/lpips";
}

static bool have_shared() {
  std::error_code ec;
  if (fs::exists(shared_lpips() + "/weights/v0.1/vgg.pth", ec)) return true;
  g_print("SKIPPED: needs %s (the LPIPS lin weights and images)\n", shared_lpips().c_str());
  return false;
}

static const nlohmann::json& goldens() {
  static nlohmann::json j = nlohmann::json::parse(read_file(data_lpips() + "/goldens.json"));
  return j;
}

static double golden(const std::string& net, const std::string& img1) {
  for (const auto& c : goldens()["cases"])
    if (c["net"] == net && c["version"] == "0.1" && c["img0"] == "shared:imgs/ex_ref.png" &&
        c["img1"] == img1)
      return c["distance"];
  return NAN;
}

static void setup(void) {
  tmpdir = make_temp_dir();
  // Only the weights this test provides: an empty torch home.
  g_setenv("TORCH_HOME", (tmpdir + "/torch").c_str(), TRUE);
  weights = tmpdir + "/weights";
  fs::create_directories(weights);
  if (fs::exists(shared_lpips() + "/weights/v0.1")) {
    for (const char* net : {"alex", "vgg", "squeeze"})
      fs::copy(shared_lpips() + "/weights/v0.1/" + net + ".pth", weights + "/" + net + ".pth");
    lpipstest::write_synthetic_vgg16(weights);
    fs::copy(data_lpips() + "/alexnet.pth", weights + "/alexnet.pth");
    fs::copy(data_lpips() + "/squeezenet1_1.pth", weights + "/squeezenet1_1.pth");
  }
}

static void teardown(void) {
  remove_tree(tmpdir);
  g_unsetenv("TORCH_HOME");
}

// The CSV's rows, split into cells.
static std::vector<std::vector<std::string>> csv_rows(const std::string& path) {
  std::vector<std::vector<std::string>> rows;
  std::stringstream text(read_file(path));
  for (std::string line; std::getline(text, line);) {
    rows.emplace_back();
    std::stringstream cells(line);
    for (std::string cell; std::getline(cells, cell, ',');) rows.back().push_back(cell);
  }
  return rows;
}

GST_START_TEST(test_loop_writes_lpips_vgg_and_ssim) {
  if (!have_shared()) return;
  std::string seed = write_test_image(tmpdir, "seed.png", 64, 64);
  std::string csv = tmpdir + "/drift.csv";
  const int N = 4;
  GstElement* p = gst_parse_launch(
      ("feedbacksrc channel=l location=" + seed +
          " width=64 height=64 iterations=" + std::to_string(N) +
          " ! masksampler size=16 seed=3 ! cvinpaint ! tee name=t t. ! queue"
          " ! feedbacksink channel=l t. ! queue ! lpipsmeter "
          "metrics=lpips-vgg,ssim weights=" +
          weights + " location=" + csv + " map-location=" + tmpdir + "/map-%05d.png ! fakesink")
          .c_str(),
      NULL);
  PipelineResult r = run_until_done(p, 120);
  fail_unless(r.eos, "%s", r.error.c_str());
  gst_object_unref(p);

  // (The message fields are checked by the harness tests below.)
  auto rows = csv_rows(csv);
  fail_unless_equals_int(rows.size(), N + 2);
  const std::string text = read_file(csv);
  const std::string header = text.substr(0, text.find('\n'));
  fail_unless_equals_string(header.c_str(),
      "iteration,inpainted_fraction,"
      "mask_x,mask_y,mask_width,mask_height,lpips-vgg,ssim");
  double last = 0;
  for (int k = 0; k <= N; k++) {
    const auto& row = rows[k + 1];
    fail_unless_equals_int(row.size(), 8);
    const double lp = std::stod(row[6]), ssim = std::stod(row[7]);
    if (k == 0) {
      // The seed against itself.
      fail_unless(lp == 0 && ssim == 1, "row 0: %g %g", lp, ssim);
    } else {
      fail_unless(lp > 0 && lp < 2 && ssim < 1, "k=%d lpips %g", k, lp);
      // Drift accumulates: each iteration repaints more of the seed.
      fail_unless(lp >= last * 0.5, "k=%d lpips %g after %g", k, lp, last);
    }
    last = lp;
    char name[64];
    g_snprintf(name, sizeof name, "/map-%05d.png", k);
    cv::Mat map = cv::imread(tmpdir + name);
    fail_unless(map.cols == 64 && map.rows == 64, "map %d missing", k);
  }
}
GST_END_TEST;

static double push_and_measure(
    GstHarness* h, GstBus* bus, const cv::Mat& frame, const char* field) {
  GstBuffer* out = gst_harness_push_and_pull(h, image_buffer(frame));
  fail_unless(out != NULL);
  gst_buffer_unref(out);
  GstMessage* msg = gst_bus_pop_filtered(bus, GST_MESSAGE_ELEMENT);
  fail_unless(msg != NULL);
  double v = NAN;
  fail_unless(gst_structure_get_double(gst_message_get_structure(msg), field, &v), "no %s", field);
  gst_message_unref(msg);
  return v;
}

GST_START_TEST(test_values_are_the_references) {
  if (!have_shared()) return;
  const std::string ref = shared_lpips() + "/imgs/ex_ref.png";
  cv::Mat p0 = cv::imread(shared_lpips() + "/imgs/ex_p0.png");  // BGR
  cv::Mat p1 = cv::imread(shared_lpips() + "/imgs/ex_p1.png");
  const char* formats[] = {"RGB", "BGR"};
  for (const char* format : formats) {
    GstHarness* h =
        gst_harness_new_parse(("lpipsmeter metrics=lpips-alex,"
                               "psnr,lpips-squeeze fit=none reference=" +
            ref + " weights=" + weights + " map-location=" + tmpdir + "/m-" + format + "-%d.tif")
                                  .c_str());
    GstBus* bus = gst_bus_new();
    gst_element_set_bus(h->element, bus);
    gst_harness_set_src_caps_str(h,
        (std::string("video/x-raw,format=") + format + ",width=64,height=64,framerate=1/1")
            .c_str());
    cv::Mat f0 = p0.clone(), f1 = p1.clone();
    if (std::string(format) == "RGB") {
      cv::cvtColor(p0, f0, cv::COLOR_BGR2RGB);
      cv::cvtColor(p1, f1, cv::COLOR_BGR2RGB);
    }
    double a = push_and_measure(h, bus, f0, "lpips-alex");
    fail_unless(
        std::fabs(a - golden("alex", "shared:imgs/ex_p0.png")) < 1e-5, "%s: alex %.8f", format, a);
    double s = push_and_measure(h, bus, f1, "lpips-squeeze");
    fail_unless(std::fabs(s - golden("squeeze", "shared:imgs/ex_p1.png")) < 1e-5,
        "%s: squeeze %.8f", format, s);
    gst_element_set_bus(h->element, NULL);
    gst_object_unref(bus);
    gst_harness_teardown(h);
    // The raw map of frame 0 is the reference's spatial map (alex, p0).
    cv::Mat map = cv::imread(tmpdir + "/m-" + format + "-0.tif", cv::IMREAD_UNCHANGED);
    fail_unless(map.type() == CV_32FC1 && map.cols == 64);
    fail_unless(std::fabs(cv::mean(map)[0] - a) < 5e-4);
  }
}
GST_END_TEST;

GST_START_TEST(test_grey_frames_are_measured_as_rgb) {
  if (!have_shared()) return;
  cv::Mat grey = cv::imread(shared_lpips() + "/imgs/ex_p1.png", cv::IMREAD_GRAYSCALE);
  GstHarness* h =
      gst_harness_new_parse(("lpipsmeter metrics=lpips-squeeze "
                             "weights=" +
          weights)
                                .c_str());
  GstBus* bus = gst_bus_new();
  gst_element_set_bus(h->element, bus);
  gst_harness_set_src_caps_str(h, "video/x-raw,format=GRAY8,width=64,height=64,framerate=1/1");
  fail_unless_equals_float(push_and_measure(h, bus, grey, "lpips-squeeze"), 0.0);
  cv::Mat darker = grey * 0.5;
  double d = push_and_measure(h, bus, darker, "lpips-squeeze");
  fail_unless(d > 0.001, "%g", d);
  gst_element_set_bus(h->element, NULL);
  gst_object_unref(bus);
  gst_harness_teardown(h);
}
GST_END_TEST;

GST_START_TEST(test_errors) {
  std::string seed = write_test_image(tmpdir, "seed.png", 64, 64);
  std::string src = "feedbacksrc location=" + seed + " width=64 height=64 iterations=0 ! ";
  PipelineResult r = run_launch(src +
          "lpipsmeter metrics=ssim "
          "map-location=m%d.png ! fakesink",
      20);
  fail_unless(contains(r.error, "no LPIPS metric"), "%s", r.error.c_str());
  r = run_launch(src +
          "lpipsmeter metrics=lpips-alex map-location=m.png "
          "! fakesink",
      20);
  fail_unless(contains(r.error, "one %d"), "%s", r.error.c_str());
  r = run_launch(
      src + "lpipsmeter metrics=lpips-vgg weights=" + tmpdir + "/nothing ! fakesink", 60);
  fail_unless(contains(r.error, "lpips-vgg cannot start") &&
          contains(r.error, "vgg16-397923af.pth") && contains(r.error, tmpdir + "/nothing") &&
          contains(r.error, "get-lpips-weights"),
      "%s", r.error.c_str());
  if (have_shared()) {
    std::string small = write_test_image(tmpdir, "small.png", 24, 24);
    r = run_launch("feedbacksrc location=" + small +
            " width=24 height=24 "
            "iterations=0 ! lpipsmeter metrics=lpips-alex weights=" +
            weights + " ! fakesink",
        60);
    fail_unless(
        contains(r.error, "lpips-alex needs frames of at least 31x31"), "%s", r.error.c_str());
  }
}
GST_END_TEST;

static Suite* lpips_element_suite(void) {
  Suite* s = suite_create("lpipsmeter-lpips");
  TCase* tc = tcase_create("general");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_loop_writes_lpips_vgg_and_ssim);
  tcase_add_test(tc, test_values_are_the_references);
  tcase_add_test(tc, test_grey_frames_are_measured_as_rgb);
  tcase_add_test(tc, test_errors);
  suite_add_tcase(s, tc);
  return s;
}

GST_CHECK_MAIN(lpips_element);
