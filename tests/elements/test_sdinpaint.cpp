// SPDX-License-Identifier: LGPL-2.1-or-later
//
// sdinpaint on the tiny SD2 model: in a loop, paste-back, the per-frame seed
// rule (frame n = the pipeline with seed + n), progress messages, errors.
#include <ATen/Parallel.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include <opencv2/imgproc.hpp>

#include "rip/sd/pipeline/inpaint_pipeline.h"
#include "testutil.h"

#include <gst/check/gstharness.h>
#include <gst/video/video.h>

static std::string tmpdir;

// A path under tests/data/sd.
static std::string sd_data(const std::string& name) {
  const char* root = g_getenv("RIP_SOURCE_ROOT");
  fail_unless(root != NULL);
  return std::string(root) + "/tests/data/sd/" + name;
}

static std::string tiny_model() {
  return sd_data("tiny-sd2");
}

static void setup(void) {
  tmpdir = make_temp_dir();
}

static void teardown(void) {
  remove_tree(tmpdir);
}

const int W = 64, H = 64;

// masksampler (32 px cells, every frame masked) then sdinpaint with the
// given properties on a model (the tiny one), fed 64x64 RGB frames.
static GstHarness* masks_then_sdinpaint(
    const std::string& sd_properties, const std::string& model = tiny_model()) {
  GstHarness* h =
      gst_harness_new_parse(("masksampler size=32 seed=3 skip-first=false ! sdinpaint " +
          sd_properties + " model=" + model)
                                .c_str());
  gst_harness_set_src_caps_str(h, "video/x-raw,format=RGB,width=64,height=64,framerate=1/1");
  return h;
}

// The inpaint-mask ROI of an output buffer as a W x H mask (255 = repaint).
static cv::Mat roi_mask(GstBuffer* out) {
  GstVideoRegionOfInterestMeta* m = gst_buffer_get_video_region_of_interest_meta(out);
  fail_unless(m != NULL);
  cv::Mat mask = cv::Mat::zeros(H, W, CV_8UC1);
  mask(cv::Rect(m->x, m->y, m->w, m->h)).setTo(255);
  return mask;
}

static std::shared_ptr<rip::sd::InpaintPipeline> tiny_pipeline() {
  rip::sd::PipelineOptions o;
  o.model_dir = tiny_model();
  return rip::sd::InpaintPipeline::load(o);
}

GST_START_TEST(test_frames_match_pipeline_with_seed_plus_n) {
  // What the element gives for its n-th inpainted frame is exactly what the
  // pipeline (parity-tested against diffusers) gives with seed + n.
  GstHarness* h = masks_then_sdinpaint("steps=3 seed=100");
  cv::Mat in = make_test_image(W, H, 5);
  auto pipeline = tiny_pipeline();
  for (int n = 0; n < 2; n++) {
    GstBuffer* out = gst_harness_push_and_pull(h, image_buffer(in));
    cv::Mat mask = roi_mask(out);
    rip::sd::InpaintSettings s;
    s.steps = 3;
    s.seed = 100 + n;
    cv::Mat expected = pipeline->inpaint(in, mask, s);
    cv::Mat got = buffer_image(out, W, H);
    fail_unless(cv::norm(got, expected, cv::NORM_INF) == 0,
        "frame %d differs from the pipeline with seed %d", n, 100 + n);
    // Paste-back: nothing outside the mask changed.
    cv::Mat d, outside;
    cv::absdiff(got, in, d);
    d.copyTo(outside, mask == 0);
    fail_unless(cv::countNonZero(outside.reshape(1)) == 0);
    gst_buffer_unref(out);
  }
  gst_harness_teardown(h);
}
GST_END_TEST;

GST_START_TEST(test_scheduler_and_dtype_are_enums) {
  // gst-inspect lists the values; the nick reaches the pipeline as its name.
  fail_unless(
      enum_nicks("sdinpaint", "scheduler") == "model, pndm, ddim, euler-ancestral, dpm-solver++");
  fail_unless(enum_nicks("sdinpaint", "dtype") == "fp32, fp16, bf16");
  fail_unless(enum_nicks("sdinpaint", "prediction-type") == "model, epsilon, v-prediction, sample");
  std::string e = parse_error("sdinpaint scheduler=plms ! fakesink");
  fail_unless(
      contains(e, "could not set property \"scheduler\"") && contains(e, "plms"), "%s", e.c_str());
  GstHarness* h = masks_then_sdinpaint("steps=2 seed=7 scheduler=ddim");
  cv::Mat in = make_test_image(W, H, 5);
  GstBuffer* out = gst_harness_push_and_pull(h, image_buffer(in));
  cv::Mat mask = roi_mask(out);
  auto pipeline = tiny_pipeline();
  rip::sd::InpaintSettings s;
  s.steps = 2;
  s.seed = 7;
  const cv::Mat model_default = pipeline->inpaint(in, mask, s);
  s.scheduler = "ddim";
  const cv::Mat ddim = pipeline->inpaint(in, mask, s);
  fail_unless(cv::norm(ddim, model_default, cv::NORM_INF) > 0, "ddim and PNDM agree: no test");
  fail_unless(cv::norm(buffer_image(out, W, H), ddim, cv::NORM_INF) == 0,
      "scheduler=ddim is not the pipeline's ddim");
  gst_buffer_unref(out);
  gst_harness_teardown(h);
}
GST_END_TEST;

GST_START_TEST(test_single_file_model) {
  // A single-file checkpoint with config= gives the element what the folder
  // gives; without a tokenizer it says which property to set.
  GstHarness* folder = masks_then_sdinpaint("steps=2 seed=5", sd_data("tiny-sd2-fp16"));
  GstHarness* single = masks_then_sdinpaint("steps=2 seed=5 config=" + sd_data("tiny-sd2-fp16"),
      sd_data("single/tiny-sd2-openclip.fp16.ckpt"));
  cv::Mat in = make_test_image(W, H, 5);
  GstBuffer* a = gst_harness_push_and_pull(folder, image_buffer(in));
  GstBuffer* b = gst_harness_push_and_pull(single, image_buffer(in));
  fail_unless(cv::norm(buffer_image(a, W, H), buffer_image(b, W, H), cv::NORM_INF) == 0,
      "the single file's frame differs from the folder's");
  gst_buffer_unref(a);
  gst_buffer_unref(b);
  gst_harness_teardown(folder);
  gst_harness_teardown(single);
  std::string seed = write_test_image(tmpdir, "seed.png", 64, 64);
  PipelineResult r = run_launch("feedbacksrc location=" + seed +
          " width=64 height=64 iterations=1 ! masksampler size=32 ! sdinpaint model=" +
          sd_data("single/tiny-sd2.fp16.safetensors") + " ! fakesink",
      60);
  fail_unless(contains(r.error, "set tokenizer"), "%s", r.error.c_str());
}
GST_END_TEST;

GST_START_TEST(test_unmasked_frame_passes_untouched) {
  GstHarness* h = gst_harness_new_parse(("sdinpaint steps=2 model=" + tiny_model()).c_str());
  gst_harness_set_src_caps_str(h, "video/x-raw,format=RGB,width=64,height=64,framerate=1/1");
  cv::Mat in = make_test_image(64, 64, 6);
  GstBuffer* out = gst_harness_push_and_pull(h, image_buffer(in));
  fail_unless(cv::norm(buffer_image(out, 64, 64), in, cv::NORM_INF) == 0);
  gst_buffer_unref(out);
  gst_harness_teardown(h);
}
GST_END_TEST;

GST_START_TEST(test_threads_property_sets_libtorch_threads) {
  // threads=N applies to the whole process when the model loads (libtorch's
  // own default can be 1 on a 2-CPU VM); read back from libtorch itself.
  for (int n : {1, 2}) {
    GstHarness* h = gst_harness_new_parse(
        ("sdinpaint steps=1 threads=" + std::to_string(n) + " model=" + tiny_model()).c_str());
    gst_harness_set_src_caps_str(h, "video/x-raw,format=RGB,width=64,height=64,framerate=1/1");
    // A frame without a mask passes through, once the model is loaded.
    cv::Mat in = make_test_image(64, 64, 7);
    gst_buffer_unref(gst_harness_push_and_pull(h, image_buffer(in)));
    GstElement* e = gst_harness_find_element(h, "sdinpaint");
    guint got = 0;
    g_object_get(e, "threads", &got, NULL);
    gst_object_unref(e);
    fail_unless_equals_int(got, n);
    fail_unless_equals_int(at::get_num_threads(), n);
    gst_harness_teardown(h);
  }
}
GST_END_TEST;

static void count_progress(GstMessage* msg, gpointer data) {
  if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ELEMENT &&
      gst_structure_has_name(gst_message_get_structure(msg), "sdinpaint-progress"))
    (*(int*) data)++;
}

GST_START_TEST(test_loop_with_tiny_model) {
  std::string seed = write_test_image(tmpdir, "seed.png", 64, 64);
  std::string csv = tmpdir + "/sd.csv";
  GstElement* p =
      gst_parse_launch(("feedbacksrc channel=sd location=" + seed +
                           " width=64 height=64 iterations=4 timeout=0 ! masksampler "
                           "size=32 ! sdinpaint steps=2 model=" +
                           tiny_model() +
                           " ! tee name=t t. ! queue ! feedbacksink channel=sd t. ! queue ! "
                           "lpipsmeter metrics=psnr location=" +
                           csv + " ! fakesink")
                           .c_str(),
          NULL);
  int progress = 0;
  PipelineResult r = run_until_done(p, 300, count_progress, &progress);
  fail_unless(r.eos, "%s", r.error.c_str());
  // PNDM with 2 steps: 3 UNet calls per inpainted frame, 4 frames.
  fail_unless_equals_int(progress, 4 * 3);
  const std::string rows = read_file(csv);
  // Header + seed + 4 iterations.
  fail_unless_equals_int(std::count(rows.begin(), rows.end(), '\n'), 6);
  gst_object_unref(p);
}
GST_END_TEST;

// Counts sdinpaint-progress messages as they are posted (the streaming
// thread), so that the test sees the steps while the pipeline runs.
static GstBusSyncReply count_progress_sync(GstBus*, GstMessage* msg, gpointer data) {
  if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ELEMENT &&
      gst_structure_has_name(gst_message_get_structure(msg), "sdinpaint-progress")) {
    g_atomic_int_inc((gint*) data);
    return GST_BUS_DROP;
  }
  return GST_BUS_PASS;
}

GST_START_TEST(test_null_mid_inpaint_stops_within_a_step) {
  // A 500-step inpaint at 256x256 takes seconds on the tiny model; going to NULL
  // in its middle must come back after the step in progress, not at the
  // end of the inpaint, and the next start must run again, three times.
  std::string seed = write_test_image(tmpdir, "seed.png", 64, 64);
  GstElement* p = gst_parse_launch(("feedbacksrc channel=mid location=" + seed +
                                       " width=256 height=256 iterations=1 timeout=0 ! masksampler "
                                       "size=128 ! sdinpaint steps=500 model=" +
                                       tiny_model() + " ! feedbacksink channel=mid")
                                       .c_str(),
      NULL);
  fail_unless(p != NULL);
  GstBus* bus = gst_element_get_bus(p);
  gint steps = 0;
  gst_bus_set_sync_handler(bus, count_progress_sync, &steps, NULL);
  for (int round = 0; round < 3; round++) {
    g_atomic_int_set(&steps, 0);
    gst_element_set_state(p, GST_STATE_PLAYING);
    for (int i = 0; i < 6000 && g_atomic_int_get(&steps) < 3; i++) g_usleep(10 * 1000);
    const gint before = g_atomic_int_get(&steps);
    fail_unless(before >= 3, "round %d: no denoising step in 60 s", round);
    fail_unless_equals_int(gst_element_set_state(p, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
    const gint after = g_atomic_int_get(&steps);
    // The element stops before its next model call; the steps that run
    // between reading `before` and the state change reaching sdinpaint
    // (milliseconds each) make the margin.
    fail_unless(after - before <= 10, "round %d: %d more steps ran after NULL was asked", round,
        after - before);
    fail_unless(after < 501, "round %d: the inpaint ran to its end", round);
    GstMessage* error = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR);
    fail_unless(error == NULL, "round %d: an error was posted", round);
  }
  gst_bus_set_sync_handler(bus, NULL, NULL, NULL);
  gst_object_unref(bus);
  gst_object_unref(p);
}
GST_END_TEST;

GST_START_TEST(test_null_playing_null_100_times) {
  // The generic state test for sdinpaint, whose model loads on every
  // READY->PAUSED: alone with a model, then without one (an error each
  // time, never a crash or a warning).
  for (const bool with_model : {true, false}) {
    GstElement* e = gst_element_factory_make("sdinpaint", NULL);
    fail_unless(e != NULL);
    if (with_model) g_object_set(e, "model", tiny_model().c_str(), NULL);
    GstBus* bus = gst_bus_new();
    gst_element_set_bus(e, bus);
    for (int i = 0; i < 100; i++) {
      gst_element_set_state(e, GST_STATE_PLAYING);
      gst_element_get_state(e, NULL, NULL, GST_SECOND);
      gst_element_set_state(e, GST_STATE_NULL);
    }
    GstMessage* error = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR);
    fail_unless((error != NULL) != with_model, "with_model=%d: error %s", with_model,
        error ? "posted" : "missing");
    if (error) gst_message_unref(error);
    gst_bus_set_flushing(bus, TRUE);
    gst_element_set_bus(e, NULL);
    gst_object_unref(bus);
    gst_object_unref(e);
  }
}
GST_END_TEST;

GST_START_TEST(test_errors) {
  std::string seed = write_test_image(tmpdir, "seed.png", 64, 64);
  std::string src =
      "feedbacksrc location=" + seed + " width=64 height=64 iterations=1 ! masksampler size=32 ! ";
  PipelineResult r = run_launch(src + "sdinpaint ! fakesink", 60);
  fail_unless(contains(r.error, "no model folder given"), "%s", r.error.c_str());
  r = run_launch(src + "sdinpaint model=" + tmpdir + "/nope ! fakesink", 60);
  fail_unless(contains(r.error, "does not exist"), "%s", r.error.c_str());
  r = run_launch(src + "sdinpaint dtype=fp16 model=" + tiny_model() + " ! fakesink", 60);
  fail_unless(contains(r.error, "fp16 needs a CUDA device"), "%s", r.error.c_str());
  r = run_launch(src + "sdinpaint device=cuda model=" + tiny_model() + " ! fakesink", 60);
  fail_unless(contains(r.error, "without CUDA"), "%s", r.error.c_str());
  r = run_launch("feedbacksrc location=" + seed +
          " width=60 height=60 "
          "iterations=1 ! masksampler size=20 ! sdinpaint model=" +
          tiny_model() + " ! fakesink",
      60);
  fail_unless(contains(r.error, "multiples of 8"), "%s", r.error.c_str());
}
GST_END_TEST;

static Suite* sdinpaint_suite(void) {
  Suite* s = suite_create("sdinpaint");
  TCase* tc = tcase_create("general");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, test_frames_match_pipeline_with_seed_plus_n);
  tcase_add_test(tc, test_unmasked_frame_passes_untouched);
  tcase_add_test(tc, test_scheduler_and_dtype_are_enums);
  tcase_add_test(tc, test_single_file_model);
  tcase_add_test(tc, test_threads_property_sets_libtorch_threads);
  tcase_add_test(tc, test_loop_with_tiny_model);
  tcase_add_test(tc, test_null_mid_inpaint_stops_within_a_step);
  tcase_add_test(tc, test_null_playing_null_100_times);
  tcase_add_test(tc, test_errors);
  suite_add_tcase(s, tc);
  return s;
}

GST_CHECK_MAIN(sdinpaint);
