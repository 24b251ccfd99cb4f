// SPDX-License-Identifier: LGPL-2.1-or-later
//
// masksampler: the mask meta it attaches, determinism, modes and errors.
#include <set>
#include <string>
#include <vector>

#include <opencv2/imgcodecs.hpp>

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

static GstHarness* sampler(const std::string& props, int width = 512, int height = 512) {
  GstHarness* h = gst_harness_new_parse(("masksampler " + props).c_str());
  gchar* caps = g_strdup_printf(
      "video/x-raw,format=RGB,width=%d,height=%d,"
      "framerate=1/1",
      width, height);
  gst_harness_set_src_caps_str(h, caps);
  g_free(caps);
  return h;
}

static GstVideoRegionOfInterestMeta* mask_meta(GstBuffer* buf) {
  return gst_buffer_get_video_region_of_interest_meta(buf);
}

// Pushes n frames and returns the (x, y, w, h) of each mask; (-1,..) for a
// frame without one.
static std::vector<std::vector<int>> run_masks(GstHarness* h, int n) {
  std::vector<std::vector<int>> out;
  for (int i = 0; i < n; i++) {
    GstBuffer* buf = gst_harness_push_and_pull(h, gst_harness_create_buffer(h, 512 * 512 * 3));
    GstVideoRegionOfInterestMeta* m = mask_meta(buf);
    if (m)
      out.push_back({(int) m->x, (int) m->y, (int) m->w, (int) m->h});
    else
      out.push_back({-1, -1, -1, -1});
    gst_buffer_unref(buf);
  }
  return out;
}

GST_START_TEST(test_first_frame_has_no_mask_then_cells) {
  GstHarness* h = sampler("size=128 seed=5");
  auto masks = run_masks(h, 40);
  fail_unless_equals_int(masks[0][0], -1);
  for (size_t i = 1; i < masks.size(); i++) {
    fail_unless(masks[i][0] % 128 == 0 && masks[i][1] % 128 == 0);
    fail_unless(masks[i][0] >= 0 && masks[i][0] <= 384);
    fail_unless_equals_int(masks[i][2], 128);
    fail_unless_equals_int(masks[i][3], 128);
  }
  gst_harness_teardown(h);
}
GST_END_TEST;

GST_START_TEST(test_meta_structure) {
  GstHarness* h = sampler("size=64 skip-first=false");
  GstBuffer* buf = gst_harness_push_and_pull(h, gst_harness_create_buffer(h, 512 * 512 * 3));
  GstVideoRegionOfInterestMeta* m = mask_meta(buf);
  fail_unless(m != NULL);
  fail_unless_equals_string(g_quark_to_string(m->roi_type), "inpaint-mask");
  GstStructure* s = gst_video_region_of_interest_meta_get_param(m, "rip-mask");
  fail_unless(s != NULL);
  guint64 index;
  gint64 pixels;
  fail_unless(gst_structure_get_uint64(s, "index", &index));
  fail_unless(gst_structure_get_int64(s, "pixels", &pixels));
  fail_unless_equals_uint64(index, 0);
  fail_unless_equals_int64(pixels, 64 * 64);
  fail_if(gst_structure_has_field(s, "bitmap"));
  gst_buffer_unref(buf);
  gst_harness_teardown(h);
}
GST_END_TEST;

GST_START_TEST(test_seed_reproduces_sequence) {
  GstHarness* a = sampler("size=128 seed=42");
  GstHarness* b = sampler("size=128 seed=42");
  GstHarness* c = sampler("size=128 seed=43");
  auto ma = run_masks(a, 30), mb = run_masks(b, 30), mc = run_masks(c, 30);
  fail_unless(ma == mb);
  fail_if(ma == mc);
  gst_harness_teardown(a);
  gst_harness_teardown(b);
  gst_harness_teardown(c);
}
GST_END_TEST;

GST_START_TEST(test_sweep_visits_every_cell_once) {
  GstHarness* h = sampler("mode=sweep size=128 seed=1 skip-first=false");
  auto masks = run_masks(h, 32);
  std::set<std::vector<int>> pass1(masks.begin(), masks.begin() + 16);
  std::set<std::vector<int>> pass2(masks.begin() + 16, masks.end());
  fail_unless_equals_int(pass1.size(), 16);
  fail_unless_equals_int(pass2.size(), 16);
  fail_if(std::vector<std::vector<int>>(masks.begin(), masks.begin() + 16) ==
      std::vector<std::vector<int>>(masks.begin() + 16, masks.end()));
  gst_harness_teardown(h);
}
GST_END_TEST;

GST_START_TEST(test_free_mode_not_on_grid) {
  GstHarness* h = sampler("mode=free size=100 skip-first=false", 500, 300);
  bool off_grid = false;
  for (int i = 0; i < 20; i++) {
    GstBuffer* buf = gst_harness_push_and_pull(h, gst_harness_create_buffer(h, 500 * 300 * 3));
    GstVideoRegionOfInterestMeta* m = mask_meta(buf);
    fail_unless(m->x + m->w <= 500 && m->y + m->h <= 300);
    off_grid |= (m->x % 100) != 0 || (m->y % 100) != 0;
    gst_buffer_unref(buf);
  }
  fail_unless(off_grid);
  gst_harness_teardown(h);
}
GST_END_TEST;

GST_START_TEST(test_file_mode_bitmap) {
  // An L-shaped mask: the bounding box plus a bitmap of what to repaint.
  cv::Mat mask = cv::Mat::zeros(64, 64, CV_8UC1);
  mask(cv::Rect(8, 8, 32, 8)).setTo(255);
  mask(cv::Rect(8, 8, 8, 32)).setTo(255);
  std::string path = tmpdir + "/mask.png";
  cv::imwrite(path, mask);
  GstHarness* h =
      gst_harness_new_parse(("masksampler mode=file "
                             "skip-first=false mask-location=" +
          path)
                                .c_str());
  gst_harness_set_src_caps_str(h, "video/x-raw,format=RGB,width=64,height=64,framerate=1/1");
  GstBuffer* buf = gst_harness_push_and_pull(h, gst_harness_create_buffer(h, 64 * 64 * 3));
  GstVideoRegionOfInterestMeta* m = mask_meta(buf);
  fail_unless(m != NULL);
  fail_unless_equals_int(m->x, 8);
  fail_unless_equals_int(m->y, 8);
  fail_unless_equals_int(m->w, 32);
  fail_unless_equals_int(m->h, 32);
  GstStructure* s = gst_video_region_of_interest_meta_get_param(m, "rip-mask");
  gint64 pixels;
  gst_structure_get_int64(s, "pixels", &pixels);
  fail_unless_equals_int64(pixels, 32 * 8 + 8 * 24);
  GstBuffer* bits = gst_value_get_buffer(gst_structure_get_value(s, "bitmap"));
  fail_unless_equals_int(gst_buffer_get_size(bits), 32 * 32);
  gst_buffer_unref(buf);
  gst_harness_teardown(h);
}
GST_END_TEST;

static std::string first_error(const std::string& description) {
  return run_launch(description, 20).error;
}

GST_START_TEST(test_errors_say_what_to_fix) {
  std::string seed = write_test_image(tmpdir, "seed.png", 100, 100);
  std::string e = first_error("feedbacksrc location=" + seed +
      " width=100 "
      "height=100 iterations=0 ! masksampler size=128 ! fakesink");
  fail_unless(contains(e, "smaller than one 128 px mask cell"), "%s", e.c_str());
  e = first_error("feedbacksrc location=" + seed +
      " width=500 height=500 "
      "iterations=0 ! masksampler size=128 ! fakesink");
  fail_unless(contains(e, "not divisible into 128 px cells"), "%s", e.c_str());
  fail_unless(enum_nicks("masksampler", "mode") == "random, sweep, free, file");
  e = parse_error(
      "feedbacksrc location=" + seed + " iterations=0 ! masksampler mode=zigzag ! fakesink");
  fail_unless(
      contains(e, "could not set property \"mode\"") && contains(e, "zigzag"), "%s", e.c_str());
  e = first_error("feedbacksrc location=" + seed +
      " iterations=0 ! "
      "masksampler mode=file ! fakesink");
  fail_unless(contains(e, "mask-location"), "%s", e.c_str());
  e = first_error("feedbacksrc location=" + seed +
      " iterations=0 ! "
      "masksampler mode=file mask-location=" +
      seed + " ! fakesink");
  fail_unless(contains(e, "make the mask the frame's size"), "%s", e.c_str());
}
GST_END_TEST;

static Suite* masksampler_suite(void) {
  Suite* s = suite_create("masksampler");
  TCase* tc = tcase_create("general");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, test_first_frame_has_no_mask_then_cells);
  tcase_add_test(tc, test_meta_structure);
  tcase_add_test(tc, test_seed_reproduces_sequence);
  tcase_add_test(tc, test_sweep_visits_every_cell_once);
  tcase_add_test(tc, test_free_mode_not_on_grid);
  tcase_add_test(tc, test_file_mode_bitmap);
  tcase_add_test(tc, test_errors_say_what_to_fix);
  suite_add_tcase(s, tc);
  return s;
}

GST_CHECK_MAIN(masksampler);
