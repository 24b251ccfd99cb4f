// SPDX-License-Identifier: LGPL-2.1-or-later
//
// feedbacksrc + feedbacksink: lockstep, counts, offsets, timestamps, EOS,
// timeout, interruption, recording with x264enc defaults, several loops.
#include <chrono>
#include <filesystem>

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

static GstHarness* make_sink_harness(const char* channel) {
  GstElement* sink = gst_element_factory_make("feedbacksink", NULL);
  g_object_set(sink, "channel", channel, NULL);
  GstHarness* h = gst_harness_new_with_element(sink, "sink", NULL);
  gst_object_unref(sink);
  gst_harness_set_src_caps_str(h, "video/x-raw,format=RGB,width=64,height=48,framerate=4/1");
  return h;
}

static GstHarness* make_src_harness(
    const char* channel, const std::string& seed, guint iterations, guint timeout_ms) {
  GstHarness* h = gst_harness_new("feedbacksrc");
  gst_harness_set(h, "feedbacksrc", "channel", channel, "location", seed.c_str(), "width", 64,
      "height", 48, "iterations", iterations, "timeout", timeout_ms, NULL);
  return h;
}

static guint8 first_byte(GstBuffer* buf) {
  guint8 b = 0;
  gst_buffer_extract(buf, 0, &b, 1);
  return b;
}

GST_START_TEST(test_lockstep_counts_offsets_timestamps) {
  std::string seed = write_test_image(tmpdir, "seed.png", 64, 48);
  GstHarness* hsink = make_sink_harness("lockstep");
  GstHarness* hsrc = make_src_harness("lockstep", seed, 3, 10000);
  gst_harness_play(hsrc);

  const GstClockTime frame = GST_SECOND / 4;
  GstBuffer* buf = gst_harness_pull(hsrc);
  fail_unless_equals_uint64(GST_BUFFER_OFFSET(buf), 0);
  fail_unless_equals_uint64(GST_BUFFER_OFFSET_END(buf), 1);
  fail_unless_equals_uint64(GST_BUFFER_PTS(buf), 0);
  fail_unless_equals_uint64(GST_BUFFER_DURATION(buf), frame);
  fail_unless(GST_BUFFER_FLAG_IS_SET(buf, GST_BUFFER_FLAG_DISCONT));
  // RGB rows are padded to 4 bytes: 64*3 = 192 already is.
  fail_unless_equals_int(gst_buffer_get_size(buf), 64 * 48 * 3);

  GstCaps* caps = gst_pad_get_current_caps(hsrc->sinkpad);
  GstVideoInfo info;
  fail_unless(gst_video_info_from_caps(&info, caps));
  fail_unless_equals_int(GST_VIDEO_INFO_WIDTH(&info), 64);
  fail_unless_equals_int(GST_VIDEO_INFO_HEIGHT(&info), 48);
  fail_unless_equals_int(GST_VIDEO_INFO_FORMAT(&info), GST_VIDEO_FORMAT_RGB);
  fail_unless_equals_int(GST_VIDEO_INFO_FPS_N(&info), 4);
  gst_caps_unref(caps);

  for (guint64 k = 1; k <= 3; k++) {
    // Send back a marked copy carrying a mask meta: the source must return
    // the pixels but not the meta.
    GstBuffer* back = gst_buffer_copy_deep(buf);
    gst_buffer_memset(back, 0, (guint8) (10 * k), 1);
    gst_buffer_add_video_region_of_interest_meta(back, "inpaint-mask", 0, 0, 8, 8);
    gst_buffer_unref(buf);
    fail_unless_equals_int(gst_harness_push(hsink, back), GST_FLOW_OK);

    buf = gst_harness_pull(hsrc);
    fail_unless_equals_int(first_byte(buf), 10 * k);
    fail_unless_equals_uint64(GST_BUFFER_OFFSET(buf), k);
    fail_unless_equals_uint64(GST_BUFFER_OFFSET_END(buf), k + 1);
    fail_unless_equals_uint64(GST_BUFFER_PTS(buf), k * frame);
    fail_unless_equals_uint64(GST_BUFFER_DURATION(buf), frame);
    fail_if(GST_BUFFER_FLAG_IS_SET(buf, GST_BUFFER_FLAG_DISCONT));
    fail_unless(gst_buffer_get_video_region_of_interest_meta(buf) == NULL);
  }
  // The output of the last iteration comes back too; it is dropped and the
  // source ends.
  fail_unless_equals_int(gst_harness_push(hsink, buf), GST_FLOW_OK);

  gboolean saw_eos = FALSE;
  GstEvent* ev;
  while ((ev = gst_harness_pull_event(hsrc))) {
    saw_eos = GST_EVENT_TYPE(ev) == GST_EVENT_EOS;
    gst_event_unref(ev);
    if (saw_eos) break;
  }
  fail_unless(saw_eos);
  fail_unless_equals_int(gst_harness_buffers_received(hsrc), 4);

  gst_harness_teardown(hsrc);
  gst_harness_teardown(hsink);
}
GST_END_TEST;

static std::string loop_pipeline(const std::string& channel, const std::string& seed,
    guint iterations, const std::string& extra_src = "timeout=20000") {
  return "feedbacksrc channel=" + channel + " location=" + seed +
      " width=64 height=64 iterations=" + std::to_string(iterations) + " " + extra_src +
      " ! masksampler size=16 seed=3 ! cvinpaint ! tee name=t" + channel + " t" + channel +
      ". ! queue ! feedbacksink channel=" + channel + " t" + channel +
      ". ! queue ! fakesink name=out" + channel + " sync=false";
}

GST_START_TEST(test_pipeline_frame_count_and_eos) {
  std::string seed = write_test_image(tmpdir, "seed.jpg", 80, 60);
  GstElement* p = gst_parse_launch(loop_pipeline("count", seed, 10).c_str(), NULL);
  GstElement* out = gst_bin_get_by_name(GST_BIN(p), "outcount");
  g_object_set(out, "signal-handoffs", TRUE, NULL);
  static int frames;
  static guint64 offsets_ok;
  frames = 0;
  offsets_ok = 0;
  g_signal_connect(out, "handoff", G_CALLBACK(+[](GstElement*, GstBuffer* b, GstPad*, gpointer) {
    if (GST_BUFFER_OFFSET(b) == (guint64) frames) offsets_ok++;
    frames++;
  }),
      NULL);
  PipelineResult r = run_until_done(p, 60);
  fail_unless(r.eos, "no EOS: %s %s", r.error.c_str(), r.timed_out ? "(timed out)" : "");
  fail_unless_equals_int(frames, 11);
  fail_unless_equals_int(offsets_ok, 11);
  gst_object_unref(out);
  gst_object_unref(p);
}
GST_END_TEST;

GST_START_TEST(test_zero_iterations_emits_seed_only) {
  std::string seed = write_test_image(tmpdir, "seed.png", 64, 64);
  GstElement* p = gst_parse_launch(loop_pipeline("zero", seed, 0).c_str(), NULL);
  PipelineResult r = run_until_done(p, 30);
  fail_unless(r.eos, "%s", r.error.c_str());
  gst_object_unref(p);
}
GST_END_TEST;

GST_START_TEST(test_timeout_is_an_element_error) {
  std::string seed = write_test_image(tmpdir, "seed.png", 64, 64);
  // The loop is broken on purpose: the frames go to a fakesink, never back.
  auto t0 = std::chrono::steady_clock::now();
  PipelineResult r = run_launch("feedbacksrc channel=broken location=" + seed +
          " iterations=3 timeout=300 ! fakesink feedbacksink "
          "channel=other",
      20);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  fail_if(r.timed_out);
  fail_unless(contains(r.error, "no frame came back"), "%s", r.error.c_str());
  fail_unless(contains(r.error, "'broken'"), "%s", r.error.c_str());
  fail_unless(contains(r.error_debug, "no feedbacksink"), "%s", r.error_debug.c_str());
  fail_unless(s < 10, "timeout took %.1f s", s);
}
GST_END_TEST;

static GstElement* start_waiting_pipeline(const std::string& seed) {
  // No feedbacksink on the channel and no timeout: after the seed the
  // source waits for ever.
  GstElement* p = gst_parse_launch(("feedbacksrc channel=wait location=" + seed +
                                       " iterations=5 timeout=0 ! fakesink sync=false")
                                       .c_str(),
      NULL);
  gst_element_set_state(p, GST_STATE_PLAYING);
  GstStateChangeReturn ret = gst_element_get_state(p, NULL, NULL, 10 * GST_SECOND);
  fail_unless_equals_int(ret, GST_STATE_CHANGE_SUCCESS);
  g_usleep(100 * 1000);  // let the source reach its wait
  return p;
}

GST_START_TEST(test_null_while_waiting_returns_at_once) {
  std::string seed = write_test_image(tmpdir, "seed.png", 64, 64);
  GstElement* p = start_waiting_pipeline(seed);
  auto t0 = std::chrono::steady_clock::now();
  fail_unless_equals_int(gst_element_set_state(p, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  fail_unless(s < 2.0, "set_state(NULL) took %.2f s", s);
  gst_object_unref(p);
}
GST_END_TEST;

GST_START_TEST(test_eos_while_waiting_ends_the_stream) {
  // What gst-launch-1.0 -e does on Ctrl-C.
  std::string seed = write_test_image(tmpdir, "seed.png", 64, 64);
  GstElement* p = start_waiting_pipeline(seed);
  gst_element_send_event(p, gst_event_new_eos());
  GstBus* bus = gst_element_get_bus(p);
  GstMessage* msg = gst_bus_timed_pop_filtered(
      bus, 5 * GST_SECOND, (GstMessageType) (GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  fail_unless(msg != NULL, "no EOS within 5 s");
  fail_unless_equals_int(GST_MESSAGE_TYPE(msg), GST_MESSAGE_EOS);
  gst_message_unref(msg);
  gst_object_unref(bus);
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(p);
}
GST_END_TEST;

GST_START_TEST(test_record_with_x264enc_defaults) {
  // x264enc with its defaults holds many frames before its first output; a
  // prerolling loop sink would deadlock here.
  if (!gst_registry_check_feature_version(gst_registry_get(), "x264enc", 1, 0, 0)) {
    g_print(
        "SKIP test_record_with_x264enc_defaults: x264enc missing "
        "(install gstreamer1.0-plugins-ugly)\n");
    return;
  }
  std::string seed = write_test_image(tmpdir, "seed.png", 64, 64);
  std::string mp4 = tmpdir + "/run.mp4";
  PipelineResult r = run_launch("feedbacksrc channel=rec location=" + seed +
          " width=64 height=64 iterations=20 ! masksampler size=16 ! cvinpaint "
          "! tee name=t t. ! queue ! feedbacksink channel=rec t. ! queue "
          "! videoconvert ! x264enc ! mp4mux ! filesink location=" +
          mp4,
      120);
  fail_unless(r.eos, "%s %s", r.error.c_str(), r.timed_out ? "(timed out: deadlock?)" : "");
  fail_unless_equals_int(count_buffers("filesrc location=" + mp4 + " ! qtdemux"), 21);
}
GST_END_TEST;

GST_START_TEST(test_eos_mid_run_leaves_playable_mp4) {
  // Ctrl-C with -e in the middle of a long run: the MP4 must be finalised
  // and hold every frame recorded so far.
  std::string seed = write_test_image(tmpdir, "seed.png", 64, 64);
  std::string mp4 = tmpdir + "/cut.mp4";
  GstElement* p =
      gst_parse_launch(("feedbacksrc channel=cut location=" + seed +
                           " width=64 height=64 iterations=100000 ! masksampler "
                           "size=16 ! cvinpaint ! tee name=t t. ! queue ! feedbacksink "
                           "channel=cut t. ! queue ! videoconvert ! x264enc tune=zerolatency "
                           "! mp4mux ! filesink location=" +
                           mp4)
                           .c_str(),
          NULL);
  gst_element_set_state(p, GST_STATE_PLAYING);
  g_usleep(1500 * 1000);
  gst_element_send_event(p, gst_event_new_eos());
  GstBus* bus = gst_element_get_bus(p);
  GstMessage* msg = gst_bus_timed_pop_filtered(
      bus, 20 * GST_SECOND, (GstMessageType) (GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  fail_unless(msg && GST_MESSAGE_TYPE(msg) == GST_MESSAGE_EOS);
  gst_message_unref(msg);
  gst_object_unref(bus);
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(p);
  int frames = count_buffers("filesrc location=" + mp4 + " ! qtdemux");
  fail_unless(frames > 5, "only %d frames recorded", frames);
}
GST_END_TEST;

GST_START_TEST(test_two_loops_in_one_pipeline) {
  std::string seed = write_test_image(tmpdir, "seed.png", 64, 64);
  std::string desc = loop_pipeline("a", seed, 5) + " " + loop_pipeline("b", seed, 9);
  GstElement* p = gst_parse_launch(desc.c_str(), NULL);
  static int counts[2];
  counts[0] = counts[1] = 0;
  const char* names[2] = {"outa", "outb"};
  for (int i = 0; i < 2; i++) {
    GstElement* out = gst_bin_get_by_name(GST_BIN(p), names[i]);
    g_object_set(out, "signal-handoffs", TRUE, NULL);
    g_signal_connect(out, "handoff",
        G_CALLBACK(+[](GstElement*, GstBuffer*, GstPad*, gpointer data) { (*(int*) data)++; }),
        &counts[i]);
    gst_object_unref(out);
  }
  PipelineResult r = run_until_done(p, 60);
  fail_unless(r.eos, "%s", r.error.c_str());
  fail_unless_equals_int(counts[0], 6);
  fail_unless_equals_int(counts[1], 10);
  gst_object_unref(p);
}
GST_END_TEST;

static gpointer run_loop_thread(gpointer data) {
  auto* desc = (std::string*) data;
  PipelineResult r = run_launch(*desc, 60);
  return GINT_TO_POINTER(r.eos ? 1 : 0);
}

GST_START_TEST(test_two_loops_in_two_threads) {
  std::string seed = write_test_image(tmpdir, "seed.png", 64, 64);
  std::string a = loop_pipeline("ta", seed, 15);
  std::string b = loop_pipeline("tb", seed, 15);
  GThread* ta = g_thread_new("a", run_loop_thread, &a);
  GThread* tb = g_thread_new("b", run_loop_thread, &b);
  fail_unless(GPOINTER_TO_INT(g_thread_join(ta)));
  fail_unless(GPOINTER_TO_INT(g_thread_join(tb)));
}
GST_END_TEST;

GST_START_TEST(test_channel_taken_twice) {
  std::string seed = write_test_image(tmpdir, "seed.png", 64, 64);
  PipelineResult r = run_launch("feedbacksrc channel=dup location=" + seed +
          " ! fakesink feedbacksrc channel=dup location=" + seed + " ! fakesink",
      20);
  fail_unless(contains(r.error, "already has a feedbacksrc"), "%s", r.error.c_str());
}
GST_END_TEST;

GST_START_TEST(test_missing_and_corrupt_seed) {
  PipelineResult r = run_launch("feedbacksrc location=" + tmpdir + "/nope.png ! fakesink", 20);
  fail_unless(contains(r.error, "does not exist"), "%s", r.error.c_str());
  fail_unless(contains(r.error, "nope.png"), "%s", r.error.c_str());

  std::string bad = tmpdir + "/bad.png";
  g_file_set_contents(bad.c_str(), "\x89PNG\r\n\x1a\n garbage", -1, NULL);
  r = run_launch("feedbacksrc location=" + bad + " ! fakesink", 20);
  fail_unless(contains(r.error, "bad.png' is a PNG cut short"), "%s", r.error.c_str());
  g_file_set_contents(bad.c_str(), "not an image", -1, NULL);
  r = run_launch("feedbacksrc location=" + bad + " ! fakesink", 20);
  fail_unless(contains(r.error, "could not be decoded"), "%s", r.error.c_str());

  r = run_launch("feedbacksrc ! fakesink", 20);
  fail_unless(contains(r.error, "set location"), "%s", r.error.c_str());
}
GST_END_TEST;

GST_START_TEST(test_fed_back_size_must_match) {
  std::string seed = write_test_image(tmpdir, "seed.png", 64, 64);
  // A loop that shrinks the frame cannot feed it back.
  PipelineResult r = run_launch("feedbacksrc channel=size location=" + seed +
          " width=64 height=64 iterations=3 timeout=5000 ! videoscale ! "
          "video/x-raw,width=32,height=32 ! feedbacksink channel=size",
      20);
  fail_if(r.timed_out, "hung instead of failing");
  fail_unless(contains(r.error, "differ from what feedbacksrc emits"), "%s", r.error.c_str());
  fail_unless(contains(r.error_debug, "width=(int)32"), "%s", r.error_debug.c_str());
}
GST_END_TEST;

GST_START_TEST(test_fit_modes_set_caps) {
  std::string seed = write_test_image(tmpdir, "wide.png", 120, 60);
  for (const char* fit : {"pad", "crop", "stretch"}) {
    PipelineResult r = run_launch(std::string("feedbacksrc channel=f") + fit + " fit=" + fit +
            " location=" + seed +
            " width=32 height=32 "
            "iterations=0 ! video/x-raw,width=32,height=32 ! fakesink",
        20);
    fail_unless(r.eos, "fit=%s: %s", fit, r.error.c_str());
  }
  PipelineResult r = run_launch(
      "feedbacksrc fit=none location=" + seed + " width=32 height=32 iterations=0 ! fakesink", 20);
  fail_unless(contains(r.error, "fit=none"), "%s", r.error.c_str());
  // fit is an enum: gst-inspect lists its values, a typo is refused when
  // the line is parsed.
  fail_unless(enum_nicks("feedbacksrc", "fit") == "pad, crop, stretch, none");
  std::string e = parse_error("feedbacksrc fit=sideways location=" + seed + " ! fakesink");
  fail_unless(
      contains(e, "could not set property \"fit\"") && contains(e, "sideways"), "%s", e.c_str());
}
GST_END_TEST;

static Suite* feedback_suite(void) {
  Suite* s = suite_create("feedback");
  TCase* tc = tcase_create("loop");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 180);
  tcase_add_test(tc, test_lockstep_counts_offsets_timestamps);
  tcase_add_test(tc, test_pipeline_frame_count_and_eos);
  tcase_add_test(tc, test_zero_iterations_emits_seed_only);
  tcase_add_test(tc, test_timeout_is_an_element_error);
  tcase_add_test(tc, test_null_while_waiting_returns_at_once);
  tcase_add_test(tc, test_eos_while_waiting_ends_the_stream);
  tcase_add_test(tc, test_record_with_x264enc_defaults);
  tcase_add_test(tc, test_eos_mid_run_leaves_playable_mp4);
  tcase_add_test(tc, test_two_loops_in_one_pipeline);
  tcase_add_test(tc, test_two_loops_in_two_threads);
  tcase_add_test(tc, test_channel_taken_twice);
  tcase_add_test(tc, test_missing_and_corrupt_seed);
  tcase_add_test(tc, test_fed_back_size_must_match);
  tcase_add_test(tc, test_fit_modes_set_caps);
  suite_add_tcase(s, tc);
  return s;
}

GST_CHECK_MAIN(feedback);
