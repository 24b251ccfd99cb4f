// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <gst/video/gstvideofilter.h>

G_BEGIN_DECLS

#define GST_TYPE_SD_INPAINT (gst_sd_inpaint_get_type())
G_DECLARE_FINAL_TYPE(GstSdInpaint, gst_sd_inpaint, GST, SD_INPAINT, GstVideoFilter)

GST_ELEMENT_REGISTER_DECLARE(sdinpaint);

G_END_DECLS
