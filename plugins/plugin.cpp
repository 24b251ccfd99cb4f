// SPDX-License-Identifier: LGPL-2.1-or-later
//
// The `rip` plugin: recursive inpainting as GStreamer elements.
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <gst/gst.h>

#include "gstcvinpaint.h"
#include "gstfeedbacksink.h"
#include "gstfeedbacksrc.h"
#include "gstlpipsmeter.h"
#include "gstmasksampler.h"

static gboolean plugin_init(GstPlugin* plugin) {
  gboolean ret = FALSE;
  ret |= GST_ELEMENT_REGISTER(feedbacksrc, plugin);
  ret |= GST_ELEMENT_REGISTER(feedbacksink, plugin);
  ret |= GST_ELEMENT_REGISTER(masksampler, plugin);
  ret |= GST_ELEMENT_REGISTER(cvinpaint, plugin);
  ret |= GST_ELEMENT_REGISTER(lpipsmeter, plugin);
  return ret;
}

GST_PLUGIN_DEFINE(GST_VERSION_MAJOR, GST_VERSION_MINOR, rip,
    "Recursive inpainting: feedback loop, masks, inpainting, drift metrics", plugin_init, VERSION,
    GST_LICENSE, GST_PACKAGE_NAME, GST_PACKAGE_ORIGIN)
