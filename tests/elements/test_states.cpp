// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Every element of the plugin survives every state change sequence, with
// default properties and with a working configuration (after
// gst-plugins-good's generic/states.c). Failing to start (no seed image, no
// mask file) must be an error message, never a crash or a critical.
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

static Suite* states_suite(void) {
  Suite* s = suite_create("states");
  TCase* tc = tcase_create("general");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_all_elements_registered);
  tcase_add_test(tc, test_state_changes_defaults);
  tcase_add_test(tc, test_state_changes_running_loop);
  suite_add_tcase(s, tc);
  return s;
}

GST_CHECK_MAIN(states);
