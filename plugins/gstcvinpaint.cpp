// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * SECTION:element-cvinpaint
 * @title: cvinpaint
 * @see_also: masksampler, sdinpaint
 *
 * Classical inpainting with OpenCV, the inpainter that needs no model
 * weights. On every frame that carries an `inpaint-mask` region of interest
 * (from #masksampler) it inpaints the masked pixels and writes only those
 * back: every pixel outside the mask leaves the element bit for bit as it
 * came in, which is the reference study's "paste the inpainted pixels back
 * into the previous image" step. Frames without a mask pass through
 * untouched.
 *
 * #GstCvInpaint:method: `telea` (Telea's fast marching, the default), `ns`
 * (Navier-Stokes), `fsr-fast` and `fsr-best` (frequency selective
 * reconstruction, opencv_contrib xphoto; `fsr-best` is slow), `shiftmap`
 * (xphoto shift-map, RGB/BGR only). #GstCvInpaint:radius is the
 * neighbourhood telea and ns look at.
 *
 * Accepts RGB, BGR and GRAY8. Quality-of-service is off: a frame dropped
 * inside a feedback loop would stall it.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 feedbacksrc channel=c location=seed.png iterations=32 \
 *     ! masksampler size=64 ! cvinpaint method=ns radius=5 \
 *     ! tee name=t t. ! queue ! feedbacksink channel=c \
 *     t. ! queue ! pngenc ! multifilesink location=iter_%05d.png
 * ]| Saves the seed and 32 Navier-Stokes iterations as PNG files.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstcvinpaint.h"

#include <string>

#include "common/enums.h"
#include "common/framemat.h"
#include "common/upstream_caps.h"
#include "rip/core/inpaint_cv.h"
#include "common/ripmask.h"

GST_DEBUG_CATEGORY_STATIC(cvinpaint_debug);
#define GST_CAT_DEFAULT cvinpaint_debug

#define DEFAULT_METHOD rip::CvInpaintMethod::Telea
#define DEFAULT_RADIUS 3.0

enum {
  PROP_0,
  PROP_METHOD,
  PROP_RADIUS,
};

namespace {
struct Settings {
  rip::CvInpaintMethod method = DEFAULT_METHOD;
  double radius = DEFAULT_RADIUS;
};
}  // namespace

struct _GstCvInpaint {
  GstVideoFilter parent;

  /* < private > */
  Settings* settings;           // guarded by the object lock
  rip::CvInpaintMethod method;  // from the settings in start
  double radius;
};

#define gst_cv_inpaint_parent_class parent_class
G_DEFINE_TYPE(GstCvInpaint, gst_cv_inpaint, GST_TYPE_VIDEO_FILTER);
GST_ELEMENT_REGISTER_DEFINE(cvinpaint, "cvinpaint", GST_RANK_NONE, GST_TYPE_CV_INPAINT);

#define CAPS GST_VIDEO_CAPS_MAKE("{ RGB, BGR, GRAY8 }")
static GstStaticPadTemplate sink_template =
    GST_STATIC_PAD_TEMPLATE("sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS(CAPS));
static GstStaticPadTemplate src_template =
    GST_STATIC_PAD_TEMPLATE("src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS(CAPS));

static void gst_cv_inpaint_set_property(
    GObject* object, guint prop_id, const GValue* value, GParamSpec* pspec) {
  GstCvInpaint* self = GST_CV_INPAINT(object);
  GST_OBJECT_LOCK(self);
  switch (prop_id) {
    case PROP_METHOD:
      self->settings->method = static_cast<rip::CvInpaintMethod>(g_value_get_enum(value));
      break;
    case PROP_RADIUS: self->settings->radius = g_value_get_double(value); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec); break;
  }
  GST_OBJECT_UNLOCK(self);
}

static void gst_cv_inpaint_get_property(
    GObject* object, guint prop_id, GValue* value, GParamSpec* pspec) {
  GstCvInpaint* self = GST_CV_INPAINT(object);
  GST_OBJECT_LOCK(self);
  switch (prop_id) {
    case PROP_METHOD: g_value_set_enum(value, static_cast<gint>(self->settings->method)); break;
    case PROP_RADIUS: g_value_set_double(value, self->settings->radius); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec); break;
  }
  GST_OBJECT_UNLOCK(self);
}

// False (with the element error posted) when the method cannot inpaint
// frames of this format.
static bool method_takes(GstCvInpaint* self, GstVideoFormat format) {
  if (self->method == rip::CvInpaintMethod::ShiftMap && format == GST_VIDEO_FORMAT_GRAY8) {
    GST_ELEMENT_ERROR(self, STREAM, FORMAT, ("method shiftmap needs RGB or BGR frames, got GRAY8"),
        ("use telea, ns or fsr-* for grey frames, or put videoconvert "
         "before masksampler"));
    return false;
  }
  return true;
}

static gboolean gst_cv_inpaint_start(GstBaseTransform* trans) {
  GstCvInpaint* self = GST_CV_INPAINT(trans);
  GST_OBJECT_LOCK(self);
  Settings s = *self->settings;
  GST_OBJECT_UNLOCK(self);
  self->method = s.method;
  self->radius = s.radius;
  if (!(s.radius >= 0.0 && s.radius <= 1000.0)) {
    GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS,
        ("cvinpaint radius=%g is not a radius: give 0 to 1000 pixels (default 3)", s.radius),
        (NULL));
    return FALSE;
  }
  // Refused here when upstream's format is already known, so that the
  // state change fails (plugins/common/upstream_caps.h says why).
  GstVideoInfo upstream;
  if (rip_upstream_fixed_video_info(trans, &upstream) &&
      !method_takes(self, GST_VIDEO_INFO_FORMAT(&upstream)))
    return FALSE;
  return TRUE;
}

static gboolean gst_cv_inpaint_set_info(
    GstVideoFilter* filter, GstCaps*, GstVideoInfo* in_info, GstCaps*, GstVideoInfo*) {
  return method_takes(GST_CV_INPAINT(filter), GST_VIDEO_INFO_FORMAT(in_info));
}

static GstFlowReturn gst_cv_inpaint_transform_frame_ip(
    GstVideoFilter* filter, GstVideoFrame* frame) {
  GstCvInpaint* self = GST_CV_INPAINT(filter);
  const int w = GST_VIDEO_FRAME_WIDTH(frame);
  const int h = GST_VIDEO_FRAME_HEIGHT(frame);
  auto mask = rip_mask_read(frame->buffer, w, h);
  if (!mask) {
    GST_LOG_OBJECT(self, "no mask: frame passes untouched");
    return GST_FLOW_OK;
  }
  try {
    cv::Mat image = frame_as_mat(frame);
    rip::cv_inpaint_masked(image, mask->to_image(w, h), self->method, self->radius);
  } catch (const std::exception& e) {
    GST_ELEMENT_ERROR(self, STREAM, FAILED, ("cvinpaint failed: %s", e.what()), (NULL));
    return GST_FLOW_ERROR;
  }
  return GST_FLOW_OK;
}

static void gst_cv_inpaint_finalize(GObject* object) {
  delete GST_CV_INPAINT(object)->settings;
  G_OBJECT_CLASS(parent_class)->finalize(object);
}

static void gst_cv_inpaint_class_init(GstCvInpaintClass* klass) {
  GObjectClass* gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass* element_class = GST_ELEMENT_CLASS(klass);
  GstBaseTransformClass* trans_class = GST_BASE_TRANSFORM_CLASS(klass);
  GstVideoFilterClass* filter_class = GST_VIDEO_FILTER_CLASS(klass);

  GST_DEBUG_CATEGORY_INIT(cvinpaint_debug, "cvinpaint", 0, "OpenCV inpainting");

  gobject_class->set_property = gst_cv_inpaint_set_property;
  gobject_class->get_property = gst_cv_inpaint_get_property;
  gobject_class->finalize = gst_cv_inpaint_finalize;

  const GParamFlags rw =
      (GParamFlags) (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);
  g_object_class_install_property(gobject_class, PROP_METHOD,
      g_param_spec_enum("method", "Method",
          "Inpainting algorithm: telea, ns (Navier-Stokes), fsr-fast, "
          "fsr-best (xphoto, slow), shiftmap (xphoto, colour only)",
          GST_TYPE_RIP_CV_INPAINT_METHOD, static_cast<gint>(DEFAULT_METHOD), rw));
  gst_type_mark_as_plugin_api(GST_TYPE_RIP_CV_INPAINT_METHOD, (GstPluginAPIFlags) 0);
  g_object_class_install_property(gobject_class, PROP_RADIUS,
      // The range is wide on purpose: GLib ignores an out-of-range value
      // with a warning and keeps the old one, so a typo would run with the
      // default; start() refuses it with an error instead.
      g_param_spec_double("radius", "Radius",
          "Neighbourhood radius in pixels used by telea and ns, 0 to 1000 "
          "(others are refused when the element starts)",
          -G_MAXDOUBLE, G_MAXDOUBLE, DEFAULT_RADIUS, rw));

  gst_element_class_set_static_metadata(element_class, "OpenCV inpainting", "Filter/Effect/Video",
      "Inpaints the pixels under the inpaint-mask region of interest with "
      "OpenCV and leaves every other pixel untouched",
      "gst-rip developers");
  gst_element_class_add_static_pad_template(element_class, &sink_template);
  gst_element_class_add_static_pad_template(element_class, &src_template);

  trans_class->start = GST_DEBUG_FUNCPTR(gst_cv_inpaint_start);
  filter_class->set_info = GST_DEBUG_FUNCPTR(gst_cv_inpaint_set_info);
  filter_class->transform_frame_ip = GST_DEBUG_FUNCPTR(gst_cv_inpaint_transform_frame_ip);
}

static void gst_cv_inpaint_init(GstCvInpaint* self) {
  self->settings = new Settings();
  self->method = rip::CvInpaintMethod::Telea;
  self->radius = DEFAULT_RADIUS;
  gst_base_transform_set_qos_enabled(GST_BASE_TRANSFORM(self), FALSE);
}
