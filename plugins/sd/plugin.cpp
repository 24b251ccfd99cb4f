// SPDX-License-Identifier: LGPL-2.1-or-later
//
// The `ripsd` plugin: the elements that need libtorch, kept apart from the
// `rip` plugin so the loop elements load without libtorch.
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <gst/gst.h>

#include "gstsdinpaint.h"

static gboolean plugin_init(GstPlugin* plugin) {
  return GST_ELEMENT_REGISTER(sdinpaint, plugin);
}

GST_PLUGIN_DEFINE(GST_VERSION_MAJOR, GST_VERSION_MINOR, ripsd,
    "Recursive inpainting: Stable Diffusion inpainting in libtorch", plugin_init, VERSION,
    GST_LICENSE, GST_PACKAGE_NAME, GST_PACKAGE_ORIGIN)
