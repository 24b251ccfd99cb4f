// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Helpers shared by the element tests: temporary folders, test images and
// running a pipeline to EOS or error with a deadline (a hang is a failure,
// never a stuck CI job).
#pragma once

// C++ and OpenCV headers must come before gstcheck.h: its fail() macros
// clash with std::ios::fail().
#include <string>

#include <opencv2/core.hpp>

#include <gst/check/gstcheck.h>
#include <gst/gst.h>

struct PipelineResult {
  bool eos = false;
  bool timed_out = false;
  std::string error;         // the first error message's text, "" if none
  std::string error_debug;   // its debug string
  std::string error_source;  // name of the element that posted it
};

// A fresh folder under $TMPDIR, removed by remove_tree.
std::string make_temp_dir();
void remove_tree(const std::string& path);

// A textured RGB image (smooth gradients plus seeded noise) so inpainting
// visibly changes masked pixels.
cv::Mat make_test_image(int width, int height, unsigned seed);
// Writes make_test_image as an image file (format from the extension).
std::string write_test_image(
    const std::string& dir, const std::string& name, int width, int height, unsigned seed = 1);

// Runs bin to EOS or the first error, at most timeout_s seconds, then sets
// it to NULL. on_message, if given, sees every message first.
PipelineResult run_until_done(GstElement* pipeline, double timeout_s,
    void (*on_message)(GstMessage*, gpointer) = nullptr, gpointer user_data = nullptr);
PipelineResult run_launch(const std::string& description, double timeout_s);
// The message of the error gst_parse_launch gives for description ("" when
// it parses): a property value outside its enum is refused here, before the
// pipeline runs.
std::string parse_error(const std::string& description);
// The nicks of an element's enum property, in value order, joined by ", ";
// "" when the property is missing or not an enum.
std::string enum_nicks(const char* factory, const char* property);

// Number of buffers in a file demuxed by the given parse description
// ending in `fakesink name=out` (e.g. "filesrc location=a.mp4 ! qtdemux").
int count_buffers(const std::string& description_without_sink);

// A packed RGB/grey cv::Mat as a buffer, and back. Tests use widths whose
// row size is a multiple of 4, so GStreamer's stride is the packed one.
GstBuffer* image_buffer(const cv::Mat& image);
cv::Mat buffer_image(GstBuffer* buf, int width, int height);

std::string read_file(const std::string& path);
bool contains(const std::string& haystack, const std::string& needle);
