// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <gst/video/gstvideofilter.h>

G_BEGIN_DECLS

#define GST_TYPE_LPIPS_METER (gst_lpips_meter_get_type())
G_DECLARE_FINAL_TYPE(GstLpipsMeter, gst_lpips_meter, GST, LPIPS_METER, GstVideoFilter)

GST_ELEMENT_REGISTER_DECLARE(lpipsmeter);

G_END_DECLS
