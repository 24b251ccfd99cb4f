// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_FEEDBACK_SINK (gst_feedback_sink_get_type())
G_DECLARE_FINAL_TYPE(GstFeedbackSink, gst_feedback_sink, GST, FEEDBACK_SINK, GstElement)

GST_ELEMENT_REGISTER_DECLARE(feedbacksink);

G_END_DECLS
