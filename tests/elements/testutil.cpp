// SPDX-License-Identifier: LGPL-2.1-or-later
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "testutil.h"

std::string make_temp_dir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "rip-test-XXXXXX").string();
  char* dir = g_mkdtemp(&tmpl[0]);
  fail_unless(dir != NULL, "cannot create a temporary folder");
  return tmpl;
}

void remove_tree(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

cv::Mat make_test_image(int width, int height, unsigned seed) {
  cv::Mat rgb(height, width, CV_8UC3);
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> noise(-40, 40);
  for (int y = 0; y < height; y++)
    for (int x = 0; x < width; x++) {
      cv::Vec3b& p = rgb.at<cv::Vec3b>(y, x);
      p[0] = cv::saturate_cast<uchar>(255 * x / width + noise(rng));
      p[1] = cv::saturate_cast<uchar>(255 * y / height + noise(rng));
      p[2] = cv::saturate_cast<uchar>(((x / 8 + y / 8) % 2) * 200 + noise(rng));
    }
  return rgb;
}

std::string write_test_image(
    const std::string& dir, const std::string& name, int width, int height, unsigned seed) {
  cv::Mat bgr;
  cv::cvtColor(make_test_image(width, height, seed), bgr, cv::COLOR_RGB2BGR);
  std::string path = dir + "/" + name;
  fail_unless(cv::imwrite(path, bgr), "cannot write %s", path.c_str());
  return path;
}

PipelineResult run_until_done(GstElement* pipeline, double timeout_s,
    void (*on_message)(GstMessage*, gpointer), gpointer user_data) {
  PipelineResult result;
  GstBus* bus = gst_element_get_bus(pipeline);
  gst_element_set_state(pipeline, GST_STATE_PLAYING);
  const gint64 deadline = g_get_monotonic_time() + (gint64) (timeout_s * G_USEC_PER_SEC);
  while (true) {
    const gint64 left = deadline - g_get_monotonic_time();
    if (left <= 0) {
      result.timed_out = true;
      break;
    }
    GstMessage* msg = gst_bus_timed_pop(bus, left * GST_USECOND);
    if (!msg) continue;
    if (on_message) on_message(msg, user_data);
    if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_EOS) {
      result.eos = true;
      gst_message_unref(msg);
      break;
    }
    if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR) {
      GError* err = NULL;
      gchar* debug = NULL;
      gst_message_parse_error(msg, &err, &debug);
      result.error = err->message;
      result.error_debug = debug ? debug : "";
      result.error_source = GST_MESSAGE_SRC_NAME(msg);
      g_clear_error(&err);
      g_free(debug);
      gst_message_unref(msg);
      break;
    }
    gst_message_unref(msg);
  }
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(bus);
  return result;
}

PipelineResult run_launch(const std::string& description, double timeout_s) {
  GError* err = NULL;
  GstElement* pipeline = gst_parse_launch(description.c_str(), &err);
  fail_unless(pipeline != NULL && err == NULL, "cannot parse '%s': %s", description.c_str(),
      err ? err->message : "?");
  PipelineResult r = run_until_done(pipeline, timeout_s);
  gst_object_unref(pipeline);
  return r;
}

std::string parse_error(const std::string& description) {
  GError* err = NULL;
  GstElement* pipeline = gst_parse_launch(description.c_str(), &err);
  std::string message = err ? err->message : "";
  g_clear_error(&err);
  if (pipeline) gst_object_unref(pipeline);
  return message;
}

std::string enum_nicks(const char* factory, const char* property) {
  GstElement* element = gst_element_factory_make(factory, NULL);
  fail_unless(element != NULL, "no element %s", factory);
  GParamSpec* pspec = g_object_class_find_property(G_OBJECT_GET_CLASS(element), property);
  std::string nicks;
  if (pspec && G_IS_PARAM_SPEC_ENUM(pspec)) {
    GEnumClass* klass = G_PARAM_SPEC_ENUM(pspec)->enum_class;
    for (guint i = 0; i < klass->n_values; i++)
      nicks += (i ? ", " : "") + std::string(klass->values[i].value_nick);
  }
  gst_object_unref(element);
  return nicks;
}

static GstPadProbeReturn count_probe(GstPad*, GstPadProbeInfo*, gpointer user_data) {
  (*(int*) user_data)++;
  return GST_PAD_PROBE_OK;
}

int count_buffers(const std::string& description_without_sink) {
  std::string desc = description_without_sink + " ! fakesink name=out";
  GstElement* pipeline = gst_parse_launch(desc.c_str(), NULL);
  fail_unless(pipeline != NULL);
  GstElement* sink = gst_bin_get_by_name(GST_BIN(pipeline), "out");
  GstPad* pad = gst_element_get_static_pad(sink, "sink");
  int count = 0;
  gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, count_probe, &count, NULL);
  PipelineResult r = run_until_done(pipeline, 60);
  fail_unless(r.eos, "reading back '%s' failed: %s", desc.c_str(), r.error.c_str());
  gst_object_unref(pad);
  gst_object_unref(sink);
  gst_object_unref(pipeline);
  return count;
}

GstBuffer* image_buffer(const cv::Mat& image) {
  return gst_buffer_new_memdup(image.data, image.total() * image.elemSize());
}

cv::Mat buffer_image(GstBuffer* buf, int width, int height) {
  cv::Mat out(height, width, CV_8UC3);
  gst_buffer_extract(buf, 0, out.data, out.total() * 3);
  return out;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}
