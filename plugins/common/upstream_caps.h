// SPDX-License-Identifier: LGPL-2.1-or-later
//
// The frames upstream will send, when their format and size are fixed before
// streaming starts (a capsfilter, a source with fixed properties). With it a
// filter refuses a configuration that cannot work on READY->PAUSED, where
// the state change fails at once, instead of in the streaming thread during
// caps negotiation: an error posted there before gst-launch-1.0 (1.22)
// enters its main loop quits a loop that is not running yet, and
// gst-launch-1.0 then never exits.
#pragma once

#include <gst/base/gstbasetransform.h>
#include <gst/video/video.h>

static inline bool rip_upstream_fixed_video_info(GstBaseTransform* trans, GstVideoInfo* info) {
  GstCaps* caps = gst_pad_peer_query_caps(GST_BASE_TRANSFORM_SINK_PAD(trans), NULL);
  if (!caps) return false;
  bool fixed = false;
  if (gst_caps_get_size(caps) == 1) {
    const GstStructure* s = gst_caps_get_structure(caps, 0);
    const char* format = gst_structure_get_string(s, "format");
    int width = 0, height = 0;
    if (format && gst_structure_get_int(s, "width", &width) &&
        gst_structure_get_int(s, "height", &height)) {
      const GstVideoFormat f = gst_video_format_from_string(format);
      fixed = f != GST_VIDEO_FORMAT_UNKNOWN && gst_video_info_set_format(info, f, width, height);
    }
  }
  gst_caps_unref(caps);
  return fixed;
}
