// SPDX-License-Identifier: LGPL-2.1-or-later
//
// How the inpainting mask travels with a frame.
//
// masksampler attaches a standard GstVideoRegionOfInterestMeta with
// roi_type "inpaint-mask" and x/y/w/h = the mask's bounding box. Its
// "rip-mask" parameter structure carries:
//   index   (guint64)  number of the mask in the sampler's sequence (0-based)
//   pixels  (gint64)   how many pixels the mask repaints
//   bitmap  (GstBuffer, optional) w*h bytes, row-major, non-zero = repaint;
//           present only when the mask is not the full box (mask files).
// Any element can read these with plain GStreamer API; several
// "inpaint-mask" metas on one buffer mean their union.
#pragma once

#include <gst/gst.h>

#include <optional>

#include "rip/core/mask.h"

#define RIP_MASK_ROI_TYPE "inpaint-mask"
#define RIP_MASK_PARAM_NAME "rip-mask"

void rip_mask_attach(GstBuffer* buffer, const rip::Mask& mask, guint64 index);

// The union of every "inpaint-mask" ROI on the buffer, clipped to the frame;
// nothing when there is none.
std::optional<rip::Mask> rip_mask_read(GstBuffer* buffer, int frame_width, int frame_height);
