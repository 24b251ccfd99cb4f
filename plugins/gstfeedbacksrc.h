// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <gst/base/gstpushsrc.h>
#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_FEEDBACK_SRC (gst_feedback_src_get_type())
G_DECLARE_FINAL_TYPE(GstFeedbackSrc, gst_feedback_src, GST, FEEDBACK_SRC, GstPushSrc)

GST_ELEMENT_REGISTER_DECLARE(feedbacksrc);

G_END_DECLS
