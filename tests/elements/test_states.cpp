// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Every element of the plugin survives every state change sequence, with
// default properties and with a working configuration (after
// gst-plugins-good's generic/states.c). Failing to start (no seed image, no
// mask file) must be an error message, never a crash or a critical.
#include <algorithm>
#include <string>
#include <vector>

#include "testutil.h"

static std::vector<std::string> rip_elements() {
  std::vector<std::string> names;
  GList* features = gst_registry_get_feature_list_by_plugin(gst_registry_get(), "rip");
  for (GList* l = features; l; l = l->next)
    if (GST_IS_ELEMENT_FACTORY(l->data)) names.push_back(GST_OBJECT_NAME(l->data));
  gst_plugin_feature_list_free(features);
  return names;
}

static void cycle(GstElement* e, const std::vector<GstState>& seq) {
  for (GstState s : seq) {
    gst_element_set_state(e, s);
    gst_element_get_state(e, NULL, NULL, GST_SECOND);
  }
}

GST_START_TEST(test_all_elements_registered) {
  auto names = rip_elements();
  for (const char* n : {"feedbacksrc", "feedbacksink", "masksampler", "cvinpaint", "lpipsmeter"}) {
    bool found = false;
    for (auto& m : names) found |= m == n;
    fail_unless(found, "%s is not registered", n);
  }
}
GST_END_TEST;

GST_START_TEST(test_state_changes_defaults) {
  const std::vector<std::vector<GstState>> seqs = {
      {GST_STATE_READY, GST_STATE_PAUSED, GST_STATE_PLAYING, GST_STATE_PAUSED, GST_STATE_READY,
          GST_STATE_NULL},
      {GST_STATE_PLAYING, GST_STATE_NULL},
      {GST_STATE_PAUSED, GST_STATE_READY, GST_STATE_PAUSED, GST_STATE_NULL},
  };
  for (auto& name : rip_elements()) {
    for (auto& seq : seqs) {
      GstElement* e = gst_element_factory_make(name.c_str(), NULL);
      fail_unless(e != NULL, "%s", name.c_str());
      GstBus* bus = gst_bus_new();
      gst_element_set_bus(e, bus);
      cycle(e, seq);
      gst_element_set_state(e, GST_STATE_NULL);
      gst_bus_set_flushing(bus, TRUE);
      gst_element_set_bus(e, NULL);
      gst_object_unref(bus);
      gst_object_unref(e);
    }
  }
}
GST_END_TEST;

GST_START_TEST(test_state_changes_running_loop) {
  // A configured loop walked up and down several times while data flows.
  std::string dir = make_temp_dir();
  std::string seed = write_test_image(dir, "seed.png", 64, 64);
  std::string desc = "feedbacksrc channel=st location=" + seed +
      " width=64 height=64 iterations=1000 ! masksampler size=16 ! cvinpaint"
      " ! tee name=t t. ! queue ! feedbacksink channel=st t. ! queue ! "
      "lpipsmeter metrics=ssim,psnr location=" +
      dir +
      "/s.csv ! fakesink "
      "sync=false";
  GstElement* p = gst_parse_launch(desc.c_str(), NULL);
  for (int i = 0; i < 3; i++) {
    cycle(p, {GST_STATE_PLAYING});
    g_usleep(200 * 1000);
    cycle(p, {GST_STATE_PAUSED, GST_STATE_PLAYING});
    g_usleep(100 * 1000);
    cycle(p, {GST_STATE_READY, GST_STATE_NULL});
  }
  gst_object_unref(p);
  remove_tree(dir);
}
GST_END_TEST;

// The loop of test_state_changes_running_loop, measured into CSV.
static std::string loop_description(
    const std::string& seed, const std::string& csv, int iterations, const char* channel) {
  return std::string("feedbacksrc channel=") + channel + " location=" + seed +
      " width=64 height=64 iterations=" + std::to_string(iterations) +
      " ! masksampler size=16 ! cvinpaint ! tee name=t t. ! queue ! feedbacksink channel=" +
      channel + " t. ! queue ! lpipsmeter metrics=ssim,psnr location=" + csv +
      " ! fakesink sync=false";
}

static int csv_lines(const std::string& path) {
  const std::string rows = read_file(path);
  return static_cast<int>(std::count(rows.begin(), rows.end(), '\n'));
}

GST_START_TEST(test_null_playing_null_100_times) {
  // Every element alone, configured to work where it needs a file, and the
  // whole loop: NULL -> PLAYING -> NULL, 100 times each, no warning.
  std::string dir = make_temp_dir();
  std::string seed = write_test_image(dir, "seed.png", 64, 64);
  std::string configured[][2] = {
      {"feedbacksrc", "location"},
      {"feedbacksink", ""},
      {"masksampler", ""},
      {"cvinpaint", ""},
      {"lpipsmeter", "location"},
  };
  for (auto& c : configured) {
    GstElement* e = gst_element_factory_make(c[0].c_str(), NULL);
    fail_unless(e != NULL, "%s", c[0].c_str());
    if (c[0] == "feedbacksrc") g_object_set(e, "location", seed.c_str(), NULL);
    if (c[0] == "lpipsmeter")
      g_object_set(e, "metrics", "ssim", "location", (dir + "/alone.csv").c_str(), NULL);
    GstBus* bus = gst_bus_new();
    gst_element_set_bus(e, bus);
    for (int i = 0; i < 100; i++) cycle(e, {GST_STATE_PLAYING, GST_STATE_NULL});
    gst_bus_set_flushing(bus, TRUE);
    gst_element_set_bus(e, NULL);
    gst_object_unref(bus);
    gst_object_unref(e);
  }
  GstElement* p =
      gst_parse_launch(loop_description(seed, dir + "/loop.csv", 1000, "c100").c_str(), NULL);
  fail_unless(p != NULL);
  for (int i = 0; i < 100; i++) {
    cycle(p, {GST_STATE_PLAYING});
    cycle(p, {GST_STATE_NULL});
  }
  gst_object_unref(p);
  remove_tree(dir);
}
GST_END_TEST;

static void no_message(GstMessage*, gpointer) {}

GST_START_TEST(test_paused_playing_mid_loop_then_completes) {
  // Paused and resumed 20 times while it runs, the loop still ends with
  // every iteration measured once.
  std::string dir = make_temp_dir();
  std::string seed = write_test_image(dir, "seed.png", 64, 64);
  const std::string csv = dir + "/pp.csv";
  const int iterations = 400;
  GstElement* p = gst_parse_launch(loop_description(seed, csv, iterations, "pp").c_str(), NULL);
  fail_unless(p != NULL);
  cycle(p, {GST_STATE_PLAYING});
  for (int i = 0; i < 20; i++) {
    g_usleep(20 * 1000);
    cycle(p, {GST_STATE_PAUSED});
    g_usleep(10 * 1000);
    cycle(p, {GST_STATE_PLAYING});
  }
  PipelineResult r = run_until_done(p, 120, no_message, NULL);
  fail_unless(r.eos, "no EOS after pausing: %s", r.error.c_str());
  // Header, the seed frame and every iteration, none twice.
  fail_unless_equals_int(csv_lines(csv), 1 + 1 + iterations);
  gst_object_unref(p);
  remove_tree(dir);
}
GST_END_TEST;

GST_START_TEST(test_eos_survives_a_pause) {
  // feedbacksink gets EOS at once; the synchronised fakesink branch lags
  // (6 frames at 2 fps). A pause in between makes the bin forget
  // feedbacksink's EOS: it must post it again on PLAYING, as GstBaseSink
  // does, or the pipeline never ends.
  std::string dir = make_temp_dir();
  std::string seed = write_test_image(dir, "seed.png", 64, 64);
  GstElement* p =
      gst_parse_launch(("feedbacksrc channel=eosp framerate=2/1 iterations=5 location=" + seed +
                           " width=64 height=64 ! masksampler size=16 ! cvinpaint ! tee name=t"
                           " t. ! queue ! feedbacksink channel=eosp"
                           " t. ! queue max-size-buffers=0 max-size-time=0 max-size-bytes=0"
                           " ! fakesink sync=true")
                           .c_str(),
          NULL);
  fail_unless(p != NULL);
  cycle(p, {GST_STATE_PLAYING});
  g_usleep(500 * 1000);
  cycle(p, {GST_STATE_PAUSED, GST_STATE_PLAYING});
  PipelineResult r = run_until_done(p, 30, no_message, NULL);
  fail_unless(r.eos, "no EOS after a pause: %s", r.error.c_str());
  gst_object_unref(p);
  remove_tree(dir);
}
GST_END_TEST;

GST_START_TEST(test_null_while_feedbacksrc_waits) {
  // No feedbacksink ever feeds this channel: after the seed frame
  // feedbacksrc waits (timeout=0: for ever). NULL must still come back.
  std::string dir = make_temp_dir();
  std::string seed = write_test_image(dir, "seed.png", 64, 64);
  GstElement* p =
      gst_parse_launch(("feedbacksrc channel=orphan timeout=0 iterations=5 location=" + seed +
                           " ! fakesink sync=false")
                           .c_str(),
          NULL);
  fail_unless(p != NULL);
  for (int i = 0; i < 10; i++) {
    cycle(p, {GST_STATE_PLAYING});
    g_usleep(50 * 1000);
    const gint64 t0 = g_get_monotonic_time();
    fail_unless_equals_int(gst_element_set_state(p, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
    // Generous: a hang is what this looks for, not speed.
    fail_unless(g_get_monotonic_time() - t0 < 10 * G_USEC_PER_SEC, "NULL took %.1f s",
        (g_get_monotonic_time() - t0) / 1e6);
  }
  gst_object_unref(p);
  remove_tree(dir);
}
GST_END_TEST;

static Suite* states_suite(void) {
  Suite* s = suite_create("states");
  TCase* tc = tcase_create("general");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_all_elements_registered);
  tcase_add_test(tc, test_state_changes_defaults);
  tcase_add_test(tc, test_state_changes_running_loop);
  tcase_add_test(tc, test_null_playing_null_100_times);
  tcase_add_test(tc, test_paused_playing_mid_loop_then_completes);
  tcase_add_test(tc, test_eos_survives_a_pause);
  tcase_add_test(tc, test_null_while_feedbacksrc_waits);
  suite_add_tcase(s, tc);
  return s;
}

GST_CHECK_MAIN(states);
