// SPDX-License-Identifier: LGPL-2.1-or-later
//
// cvinpaint: only masked pixels change, unmasked frames pass untouched,
// every method runs, errors.
#include <string>

#include <opencv2/core.hpp>

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

static void check_only_mask_changed(const char* method) {
  const int W = 96, H = 96;
  GstHarness* h = gst_harness_new_parse((std::string("masksampler size=32 "
                                                     "seed=9 ! cvinpaint method=") +
      method)
                                            .c_str());
  gst_harness_set_src_caps_str(h, "video/x-raw,format=RGB,width=96,height=96,framerate=1/1");
  cv::Mat in = make_test_image(W, H, 3);

  // Frame 0: no mask, must come out bit for bit.
  GstBuffer* out = gst_harness_push_and_pull(h, image_buffer(in));
  fail_unless(cv::norm(buffer_image(out, W, H), in, cv::NORM_INF) == 0,
      "%s changed an unmasked frame", method);
  gst_buffer_unref(out);

  for (int i = 0; i < 3; i++) {
    out = gst_harness_push_and_pull(h, image_buffer(in));
    GstVideoRegionOfInterestMeta* m = gst_buffer_get_video_region_of_interest_meta(out);
    fail_unless(m != NULL);
    cv::Mat res = buffer_image(out, W, H);
    cv::Mat inside = cv::Mat::zeros(H, W, CV_8UC1);
    inside(cv::Rect(m->x, m->y, m->w, m->h)).setTo(255);
    cv::Mat diff;
    cv::absdiff(res, in, diff);
    cv::Mat outside_diff;
    diff.copyTo(outside_diff, ~inside);
    fail_unless(cv::countNonZero(outside_diff.reshape(1)) == 0,
        "%s changed pixels outside the mask", method);
    fail_unless(cv::countNonZero(diff(cv::Rect(m->x, m->y, m->w, m->h)).reshape(1)) > 0,
        "%s left the mask as it was", method);
    gst_buffer_unref(out);
  }
  gst_harness_teardown(h);
}

GST_START_TEST(test_telea) {
  check_only_mask_changed("telea");
}
GST_END_TEST;

GST_START_TEST(test_ns) {
  check_only_mask_changed("ns");
}
GST_END_TEST;

GST_START_TEST(test_fsr_fast) {
  check_only_mask_changed("fsr-fast");
}
GST_END_TEST;

GST_START_TEST(test_fsr_best) {
  check_only_mask_changed("fsr-best");
}
GST_END_TEST;

GST_START_TEST(test_shiftmap) {
  check_only_mask_changed("shiftmap");
}
GST_END_TEST;

GST_START_TEST(test_input_buffer_not_modified) {
  // In a loop the frame coming in shares its pixels with the previous
  // iteration's recording: inpainting must not write through to it.
  GstHarness* h = gst_harness_new_parse(
      "masksampler size=32 "
      "skip-first=false ! cvinpaint");
  gst_harness_set_src_caps_str(h, "video/x-raw,format=RGB,width=96,height=96,framerate=1/1");
  cv::Mat in = make_test_image(96, 96, 4);
  GstBuffer* buf = image_buffer(in);
  GstBuffer* kept = gst_buffer_ref(buf);
  GstBuffer* out = gst_harness_push_and_pull(h, buf);
  fail_unless(cv::norm(buffer_image(kept, 96, 96), in, cv::NORM_INF) == 0);
  fail_if(cv::norm(buffer_image(out, 96, 96), in, cv::NORM_INF) == 0);
  gst_buffer_unref(out);
  gst_buffer_unref(kept);
  gst_harness_teardown(h);
}
GST_END_TEST;

GST_START_TEST(test_unknown_method) {
  std::string seed = write_test_image(tmpdir, "seed.png", 64, 64);
  // method is an enum: gst-inspect lists its values, a typo is refused when
  // the line is parsed.
  fail_unless(enum_nicks("cvinpaint", "method") == "telea, ns, fsr-fast, fsr-best, shiftmap");
  std::string e = parse_error("feedbacksrc location=" + seed +
      " width=64 height=64 iterations=0 ! cvinpaint method=magic ! fakesink");
  fail_unless(
      contains(e, "could not set property \"method\"") && contains(e, "magic"), "%s", e.c_str());
}
GST_END_TEST;

GST_START_TEST(test_unsupported_caps_refused) {
  GstHarness* h = gst_harness_new("cvinpaint");
  gst_harness_set_src_caps_str(h, "video/x-raw,format=I420,width=64,height=64,framerate=1/1");
  fail_unless_equals_int(
      gst_harness_push(h, gst_harness_create_buffer(h, 64 * 64 * 3 / 2)), GST_FLOW_NOT_NEGOTIATED);
  gst_harness_teardown(h);

  // In a pipeline the link itself is refused, before anything runs.
  GError* err = NULL;
  GstElement* p = gst_parse_launch(
      "videotestsrc num-buffers=1 ! "
      "video/x-raw,format=I420 ! cvinpaint ! fakesink",
      &err);
  fail_unless(err != NULL);
  g_clear_error(&err);
  gst_clear_object(&p);
}
GST_END_TEST;

GST_START_TEST(test_shiftmap_on_gray_is_an_error) {
  PipelineResult r = run_launch(
      "videotestsrc num-buffers=2 ! "
      "video/x-raw,format=GRAY8,width=64,height=64 ! masksampler size=16 ! "
      "cvinpaint method=shiftmap ! fakesink",
      20);
  fail_unless(contains(r.error, "shiftmap needs RGB or BGR"), "%s", r.error.c_str());
}
GST_END_TEST;

GST_START_TEST(test_gray_and_bgr_frames) {
  for (const char* fmt : {"GRAY8", "BGR"}) {
    PipelineResult r = run_launch(std::string("videotestsrc num-buffers=4 "
                                              "pattern=smpte ! video/x-raw,format=") +
            fmt + ",width=64,height=64 ! masksampler size=16 ! cvinpaint ! fakesink",
        20);
    fail_unless(r.eos, "%s: %s", fmt, r.error.c_str());
  }
}
GST_END_TEST;

static Suite* cvinpaint_suite(void) {
  Suite* s = suite_create("cvinpaint");
  TCase* tc = tcase_create("general");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_telea);
  tcase_add_test(tc, test_ns);
  tcase_add_test(tc, test_fsr_fast);
  tcase_add_test(tc, test_fsr_best);
  tcase_add_test(tc, test_shiftmap);
  tcase_add_test(tc, test_input_buffer_not_modified);
  tcase_add_test(tc, test_unknown_method);
  tcase_add_test(tc, test_unsupported_caps_refused);
  tcase_add_test(tc, test_shiftmap_on_gray_is_an_error);
  tcase_add_test(tc, test_gray_and_bgr_frames);
  suite_add_tcase(s, tc);
  return s;
}

GST_CHECK_MAIN(cvinpaint);
