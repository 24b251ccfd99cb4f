// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <gst/video/gstvideofilter.h>

G_BEGIN_DECLS

#define GST_TYPE_CV_INPAINT (gst_cv_inpaint_get_type())
G_DECLARE_FINAL_TYPE(GstCvInpaint, gst_cv_inpaint, GST, CV_INPAINT, GstVideoFilter)

GST_ELEMENT_REGISTER_DECLARE(cvinpaint);

G_END_DECLS
