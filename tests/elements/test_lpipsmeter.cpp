// SPDX-License-Identifier: LGPL-2.1-or-later
//
// lpipsmeter: messages, CSV, cumulative inpainted fraction, reference
// modes, overlay and errors.
#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <opencv2/imgproc.hpp>

#include "rip/core/metrics.h"
#include "testutil.h"

#include <gst/check/gstharness.h>
#include <gst/video/video.h>

static std::string tmpdir;

static void setup(void) {
  tmpdir = make_temp_dir();
}

static void teardown(void) {
  remove_tree(tmpdir);
}

static std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, sep)) out.push_back(item);
  if (!s.empty() && s.back() == sep) out.push_back("");
  return out;
}

static std::vector<std::string> lines(const std::string& path) {
  std::vector<std::string> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

struct Collected {
  std::vector<GstStructure*> messages;
};

static void collect(GstMessage* msg, gpointer data) {
  auto* c = (Collected*) data;
  if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ELEMENT &&
      gst_structure_has_name(gst_message_get_structure(msg), "lpipsmeter"))
    c->messages.push_back(gst_structure_copy(gst_message_get_structure(msg)));
}

GST_START_TEST(test_loop_messages_and_csv) {
  std::string seed = write_test_image(tmpdir, "seed.png", 256, 256);
  std::string csv = tmpdir + "/drift.csv";
  const int N = 12;
  GstElement* p =
      gst_parse_launch(("feedbacksrc channel=m location=" + seed +
                           " width=256 height=256 iterations=" + std::to_string(N) +
                           " ! masksampler size=64 seed=11 ! cvinpaint ! tee name=t t. ! queue"
                           " ! feedbacksink channel=m t. ! queue ! lpipsmeter "
                           "metrics=psnr,ssim,ms-ssim location=" +
                           csv + " ! fakesink")
                           .c_str(),
          NULL);
  Collected c;
  PipelineResult r = run_until_done(p, 60, collect, &c);
  fail_unless(r.eos, "%s", r.error.c_str());
  gst_object_unref(p);

  fail_unless_equals_int(c.messages.size(), N + 1);
  auto rows = lines(csv);
  fail_unless_equals_int(rows.size(), N + 2);
  fail_unless_equals_string(rows[0].c_str(),
      "iteration,inpainted_fraction,mask_x,mask_y,mask_width,mask_height,"
      "psnr,ssim,ms-ssim");
  // Row 0: the seed, no mask, distance 0.
  fail_unless_equals_string(rows[1].c_str(), "0,0,,,,,inf,1,1");

  for (int k = 0; k <= N; k++) {
    GstStructure* s = c.messages[k];
    guint64 it;
    double frac, psnr, ssim, msssim;
    fail_unless(gst_structure_get_uint64(s, "iteration", &it));
    fail_unless_equals_uint64(it, k);
    fail_unless(gst_structure_get_double(s, "inpainted-fraction", &frac));
    // 64x64 of 256x256 per iteration = 1/16.
    fail_unless(std::fabs(frac - k / 16.0) < 1e-12, "k=%d frac=%f", k, frac);
    fail_unless(gst_structure_get_double(s, "psnr", &psnr));
    fail_unless(gst_structure_get_double(s, "ssim", &ssim));
    fail_unless(gst_structure_get_double(s, "ms-ssim", &msssim));
    for (const char* f : {"timestamp", "stream-time", "running-time", "duration"})
      fail_unless(gst_structure_has_field_typed(s, f, G_TYPE_UINT64), "%s", f);
    guint64 ts;
    gst_structure_get_uint64(s, "timestamp", &ts);
    fail_unless_equals_uint64(ts, k * GST_SECOND / 4);
    int mx, my, mw, mh;
    const bool has_mask = gst_structure_get_int(s, "mask-x", &mx) &&
        gst_structure_get_int(s, "mask-y", &my) && gst_structure_get_int(s, "mask-width", &mw) &&
        gst_structure_get_int(s, "mask-height", &mh);
    fail_unless(has_mask == (k > 0));
    auto cols = split(rows[k + 1], ',');
    fail_unless_equals_int(cols.size(), 9);
    fail_unless_equals_int(std::stoull(cols[0]), k);
    fail_unless(std::fabs(std::stod(cols[1]) - frac) < 1e-9);
    if (k > 0) {
      fail_unless_equals_int(std::stoi(cols[2]), mx);
      fail_unless_equals_int(std::stoi(cols[3]), my);
      fail_unless_equals_int(std::stoi(cols[4]), 64);
      fail_unless_equals_int(std::stoi(cols[5]), 64);
      fail_unless(std::isfinite(psnr) && psnr > 5);
      fail_unless(ssim < 1 && ssim > 0);
      fail_unless(std::fabs(std::stod(cols[6]) - psnr) < 1e-7 * psnr);
      fail_unless(std::fabs(std::stod(cols[7]) - ssim) < 1e-9);
      fail_unless(std::fabs(std::stod(cols[8]) - msssim) < 1e-9);
    }
    gst_structure_free(s);
  }
}
GST_END_TEST;

GST_START_TEST(test_values_match_lib_and_reference_file) {
  // With reference=<file>, the first frame is measured against the file
  // too, and the values are the library's.
  cv::Mat ref = make_test_image(192, 192, 1);
  cv::Mat other = make_test_image(192, 192, 2);
  std::string ref_path = write_test_image(tmpdir, "ref.png", 192, 192, 1);
  GstHarness* h =
      gst_harness_new_parse(("lpipsmeter metrics=ssim,psnr,"
                             "ms-ssim reference=" +
          ref_path)
                                .c_str());
  GstBus* bus = gst_bus_new();
  gst_element_set_bus(h->element, bus);
  gst_harness_set_src_caps_str(h, "video/x-raw,format=RGB,width=192,height=192,framerate=1/1");
  GstBuffer* out = gst_harness_push_and_pull(h, image_buffer(other));
  gst_buffer_unref(out);
  GstMessage* msg = gst_bus_pop_filtered(bus, GST_MESSAGE_ELEMENT);
  fail_unless(msg != NULL);
  const GstStructure* s = gst_message_get_structure(msg);
  double v;
  gst_structure_get_double(s, "ssim", &v);
  fail_unless(std::fabs(v - rip::ssim(ref, other)) < 1e-12);
  gst_structure_get_double(s, "psnr", &v);
  fail_unless(std::fabs(v - rip::psnr(ref, other)) < 1e-12);
  gst_structure_get_double(s, "ms-ssim", &v);
  fail_unless(std::fabs(v - rip::ms_ssim(ref, other)) < 1e-12);
  gst_message_unref(msg);
  gst_element_set_bus(h->element, NULL);
  gst_object_unref(bus);
  gst_harness_teardown(h);
}
GST_END_TEST;

GST_START_TEST(test_overlay_writes_a_copy) {
  cv::Mat img = make_test_image(96, 96, 5);
  GstHarness* h = gst_harness_new_parse(
      "lpipsmeter metrics=psnr "
      "overlay=true");
  gst_harness_set_src_caps_str(h, "video/x-raw,format=RGB,width=96,height=96,framerate=1/1");
  GstBuffer* in = image_buffer(img);
  GstBuffer* kept = gst_buffer_ref(in);  // as a tee's other branch would
  GstBuffer* out = gst_harness_push_and_pull(h, in);
  cv::Mat got(96, 96, CV_8UC3), orig(96, 96, CV_8UC3);
  gst_buffer_extract(out, 0, got.data, got.total() * 3);
  gst_buffer_extract(kept, 0, orig.data, orig.total() * 3);
  fail_unless(cv::norm(orig, img, cv::NORM_INF) == 0, "overlay wrote into a shared buffer");
  fail_if(cv::norm(got, img, cv::NORM_INF) == 0, "no caption drawn");
  // Only the top band is touched.
  fail_unless(cv::norm(got.rowRange(60, 96), img.rowRange(60, 96), cv::NORM_INF) == 0);
  gst_buffer_unref(out);
  gst_buffer_unref(kept);
  gst_harness_teardown(h);
}
GST_END_TEST;

GST_START_TEST(test_passthrough_without_overlay) {
  cv::Mat img = make_test_image(64, 64, 6);
  GstHarness* h = gst_harness_new_parse("lpipsmeter metrics=ssim,psnr");
  gst_harness_set_src_caps_str(h, "video/x-raw,format=RGB,width=64,height=64,framerate=1/1");
  GstBuffer* in = image_buffer(img);
  GstBuffer* out = gst_harness_push_and_pull(h, gst_buffer_ref(in));
  fail_unless(out == in, "frames should pass through untouched");
  gst_buffer_unref(out);
  gst_buffer_unref(in);
  gst_harness_teardown(h);
}
GST_END_TEST;

GST_START_TEST(test_errors) {
  std::string seed = write_test_image(tmpdir, "seed.png", 64, 64);
  std::string src = "feedbacksrc location=" + seed + " width=64 height=64 iterations=0 ! ";
  PipelineResult r = run_launch(src +
          "lpipsmeter metrics=ssim,lpips-foo "
          "! fakesink",
      20);
  fail_unless(contains(r.error, "unknown metric 'lpips-foo'"), "%s", r.error.c_str());
  fail_unless(contains(r.error, "ssim, ms-ssim, psnr"), "%s", r.error.c_str());
  r = run_launch(src + "lpipsmeter metrics=ms-ssim ! fakesink", 20);
  fail_unless(contains(r.error, "ms-ssim needs frames of at least 161x161"), "%s", r.error.c_str());
  r = run_launch(
      src + "lpipsmeter metrics=psnr location=" + tmpdir + "/no/such/dir/x.csv ! fakesink", 20);
  fail_unless(contains(r.error, "cannot write the CSV file"), "%s", r.error.c_str());
  r = run_launch(
      src + "lpipsmeter metrics=psnr reference=" + tmpdir + "/missing.png ! fakesink", 20);
  fail_unless(contains(r.error, "missing.png' does not exist"), "%s", r.error.c_str());
  r = run_launch(
      src + "lpipsmeter metrics=psnr reference=" + seed + " fit=none ! video/x-raw ! fakesink", 20);
  fail_unless(r.eos, "same-size reference with fit=none: %s", r.error.c_str());
  fail_unless(enum_nicks("lpipsmeter", "fit") == "pad, crop, stretch, none");
  r = run_launch(src + "lpipsmeter metrics=psnr,psnr ! fakesink", 20);
  fail_unless(contains(r.error, "listed twice"), "%s", r.error.c_str());
}
GST_END_TEST;

static Suite* lpipsmeter_suite(void) {
  Suite* s = suite_create("lpipsmeter");
  TCase* tc = tcase_create("general");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_loop_messages_and_csv);
  tcase_add_test(tc, test_values_match_lib_and_reference_file);
  tcase_add_test(tc, test_overlay_writes_a_copy);
  tcase_add_test(tc, test_passthrough_without_overlay);
  tcase_add_test(tc, test_errors);
  suite_add_tcase(s, tc);
  return s;
}

GST_CHECK_MAIN(lpipsmeter);
