// SPDX-License-Identifier: LGPL-2.1-or-later
#include "ripmask.h"

#include <gst/video/video.h>

#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

void rip_mask_attach(GstBuffer* buffer, const rip::Mask& mask, guint64 index) {
  GstVideoRegionOfInterestMeta* meta = gst_buffer_add_video_region_of_interest_meta(
      buffer, RIP_MASK_ROI_TYPE, mask.box.x, mask.box.y, mask.box.width, mask.box.height);
  meta->id = (gint) index;
  GstStructure* s = gst_structure_new(RIP_MASK_PARAM_NAME, "index", G_TYPE_UINT64, index, "pixels",
      G_TYPE_INT64, (gint64) mask.pixel_count(), NULL);
  if (!mask.bitmap.empty()) {
    cv::Mat packed = mask.bitmap.isContinuous() ? mask.bitmap : mask.bitmap.clone();
    GstBuffer* bits = gst_buffer_new_memdup(packed.data, packed.total());
    gst_structure_set(s, "bitmap", GST_TYPE_BUFFER, bits, NULL);
    gst_buffer_unref(bits);
  }
  gst_video_region_of_interest_meta_add_param(meta, s);
}

static rip::Mask mask_from_meta(GstVideoRegionOfInterestMeta* meta) {
  rip::Mask mask;
  mask.box = rip::Rect{(int) meta->x, (int) meta->y, (int) meta->w, (int) meta->h};
  GstStructure* s = gst_video_region_of_interest_meta_get_param(meta, RIP_MASK_PARAM_NAME);
  const GValue* v = s ? gst_structure_get_value(s, "bitmap") : nullptr;
  if (v && G_VALUE_HOLDS(v, GST_TYPE_BUFFER)) {
    GstBuffer* bits = gst_value_get_buffer(v);
    const gsize need = (gsize) meta->w * meta->h;
    if (bits && gst_buffer_get_size(bits) == need) {
      mask.bitmap = cv::Mat((int) meta->h, (int) meta->w, CV_8UC1);
      gst_buffer_extract(bits, 0, mask.bitmap.data, need);
    }
  }
  return mask;
}

std::optional<rip::Mask> rip_mask_read(GstBuffer* buffer, int frame_width, int frame_height) {
  std::vector<rip::Mask> masks;
  gpointer state = NULL;
  GstMeta* meta;
  const GQuark type = g_quark_from_static_string(RIP_MASK_ROI_TYPE);
  while ((meta = gst_buffer_iterate_meta_filtered(
              buffer, &state, GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE))) {
    auto* roi = (GstVideoRegionOfInterestMeta*) meta;
    if (roi->roi_type == type) masks.push_back(mask_from_meta(roi));
  }
  if (masks.empty()) return std::nullopt;
  if (masks.size() == 1) {
    rip::Mask m = masks[0];
    cv::Rect r = cv::Rect(m.box.x, m.box.y, m.box.width, m.box.height) &
        cv::Rect(0, 0, frame_width, frame_height);
    if (m.bitmap.empty() || r == cv::Rect(m.box.x, m.box.y, m.box.width, m.box.height)) {
      if (m.bitmap.empty()) m.box = rip::Rect{r.x, r.y, r.width, r.height};
      if (m.box.empty()) return std::nullopt;
      return m;
    }
  }
  // Several masks (or one sticking out of the frame with a bitmap): paint
  // them into one frame-sized image and cut it to its bounding box.
  cv::Mat full = cv::Mat::zeros(frame_height, frame_width, CV_8UC1);
  for (const auto& m : masks) cv::bitwise_or(full, m.to_image(frame_width, frame_height), full);
  cv::Rect bb = cv::boundingRect(full);
  if (bb.empty()) return std::nullopt;
  rip::Mask out;
  out.box = rip::Rect{bb.x, bb.y, bb.width, bb.height};
  cv::Mat roi = full(bb);
  if (cv::countNonZero(roi) != bb.area()) out.bitmap = roi.clone();
  return out;
}
