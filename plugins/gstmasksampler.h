// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <gst/video/gstvideofilter.h>

G_BEGIN_DECLS

#define GST_TYPE_MASK_SAMPLER (gst_mask_sampler_get_type())
G_DECLARE_FINAL_TYPE(GstMaskSampler, gst_mask_sampler, GST, MASK_SAMPLER, GstVideoFilter)

GST_ELEMENT_REGISTER_DECLARE(masksampler);

G_END_DECLS
