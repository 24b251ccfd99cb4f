// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * SECTION:element-lpipsmeter
 * @title: lpipsmeter
 * @see_also: masksampler, feedbacksrc
 *
 * Measures how far each frame has drifted from a reference image and
 * reports it per frame, on the bus and in a CSV file. Frames pass through
 * unchanged unless #GstLpipsMeter:overlay burns the numbers into them.
 *
 * The reference is the first frame of the stream (in a feedback loop: the
 * seed) or, with #GstLpipsMeter:reference, an image file brought to the
 * frame size with #GstLpipsMeter:fit (use the same fit as feedbacksrc).
 * #GstLpipsMeter:metrics is a comma-separated list of `ssim`, `ms-ssim`
 * and `psnr` (SSIM and MS-SSIM as Wang et al.: Gaussian window 11,
 * sigma 1.5, K1 0.01, K2 0.03, 5 scales; per channel, averaged; see
 * docs/metrics.md) and `lpips-alex`, `lpips-vgg`, `lpips-squeeze` (LPIPS
 * v0.1 as the lpips package computes it; see docs/lpips.md). MS-SSIM needs
 * frames of at least 161x161.
 *
 * LPIPS runs in gst-rip's libtorch backend (librip-lpips.so), loaded when
 * an LPIPS metric is asked for, with torchvision's and lpips' weight files
 * from #GstLpipsMeter:weights or the default places (torch's hub cache, an
 * installed lpips package). #GstLpipsMeter:map-location writes the spatial
 * LPIPS map of each frame (of the first LPIPS metric listed) as an image:
 * a heat map from 0 to #GstLpipsMeter:map-max, or raw float32 values for
 * .tif/.tiff names.
 *
 * The element also keeps the running share of the image inpainted so far:
 * the sum of the pixel counts of every `inpaint-mask` it has seen
 * (masksampler's meta) divided by the frame's pixel count, so 1.0 = 100 %,
 * the x axis of the reference study.
 *
 * ## Messages
 * With #GstLpipsMeter:message (default) it posts one element message per
 * frame, a structure named `lpipsmeter` with:
 *
 * * `iteration` (guint64): the frame's number in the stream, 0 = the first
 *   frame (the seed, distance 0 when it is the reference)
 * * `inpainted-fraction` (gdouble): the cumulative share described above
 * * `mask-x`, `mask-y`, `mask-width`, `mask-height` (gint): the bounding
 *   box of this frame's mask; absent on frames without one
 * * `timestamp`, `stream-time`, `running-time`, `duration` (guint64)
 * * one gdouble per metric, named as in #GstLpipsMeter:metrics (`ssim`,
 *   `ms-ssim`, `psnr`, `lpips-alex`, `lpips-vgg`, `lpips-squeeze`; PSNR of
 *   identical frames is +inf)
 *
 * ## CSV
 * With #GstLpipsMeter:location it writes (truncating the file at start) the
 * header `iteration,inpainted_fraction,mask_x,mask_y,mask_width,mask_height`
 * followed by one column per metric, then one row per frame, flushed as it
 * is written. Mask columns are empty on frames without a mask.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 -m feedbacksrc channel=m location=seed.png iterations=16 \
 *     ! masksampler size=128 ! cvinpaint ! tee name=t \
 *     t. ! queue ! feedbacksink channel=m \
 *     t. ! queue ! lpipsmeter metrics=ssim,ms-ssim,psnr location=drift.csv ! fakesink
 * ]| Prints a `lpipsmeter` message per iteration and writes drift.csv.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstlpipsmeter.h"

#include <memory>
#include <string>
#include <vector>

#include <opencv2/imgproc.hpp>

#include "common/enums.h"
#include "common/properties.h"
#include "common/framemat.h"
#include "rip/core/caption.h"
#include "rip/core/csv_log.h"
#include "rip/error.h"
#include "rip/core/image_fit.h"
#include "rip/io/image.h"
#include "rip/core/lpips_backend.h"
#include "rip/core/memory.h"
#include "rip/core/metrics.h"
#include "common/ripmask.h"

GST_DEBUG_CATEGORY_STATIC(lpipsmeter_debug);
#define GST_CAT_DEFAULT lpipsmeter_debug

#define DEFAULT_METRICS "ssim,ms-ssim,psnr"
#define DEFAULT_FIT rip::FitMode::Pad
#define DEFAULT_MESSAGE TRUE
#define DEFAULT_OVERLAY FALSE
#define DEFAULT_MAP_MAX 1.0

enum {
  PROP_0,
  PROP_METRICS,
  PROP_REFERENCE,
  PROP_FIT,
  PROP_LOCATION,
  PROP_MESSAGE,
  PROP_OVERLAY,
  PROP_WEIGHTS,
  PROP_MAP_LOCATION,
  PROP_MAP_MAX,
};

namespace {

struct Settings {
  std::string metrics = DEFAULT_METRICS;
  std::string reference;
  rip::FitMode fit = DEFAULT_FIT;
  std::string location;
  bool message = DEFAULT_MESSAGE;
  bool overlay = DEFAULT_OVERLAY;
  std::string weights;
  std::string map_location;
  double map_max = DEFAULT_MAP_MAX;
};

struct State {
  Settings settings;
  std::vector<rip::Metric> metrics;
  std::unique_ptr<rip::CsvLog> csv;
  cv::Mat reference_rgb;  // from the reference file, not yet fitted
  cv::Mat reference;      // in the frame's format and size
  GstVideoFormat format = GST_VIDEO_FORMAT_UNKNOWN;
  // One model per metric, null for the non-LPIPS ones.
  std::vector<std::unique_ptr<rip::LpipsModel>> lpips;
  bool lpips_reference_set = false;
  int map_metric = -1;  // index of the metric whose map is written
  guint64 frames = 0;
  gint64 inpainted_pixels = 0;
};

}  // namespace

struct _GstLpipsMeter {
  GstVideoFilter parent;

  /* < private > */
  Settings* settings;  // guarded by the object lock
  State* state;
};

#define gst_lpips_meter_parent_class parent_class
G_DEFINE_TYPE(GstLpipsMeter, gst_lpips_meter, GST_TYPE_VIDEO_FILTER);
GST_ELEMENT_REGISTER_DEFINE(lpipsmeter, "lpipsmeter", GST_RANK_NONE, GST_TYPE_LPIPS_METER);

#define CAPS GST_VIDEO_CAPS_MAKE("{ RGB, BGR, GRAY8 }")
static GstStaticPadTemplate sink_template =
    GST_STATIC_PAD_TEMPLATE("sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS(CAPS));
static GstStaticPadTemplate src_template =
    GST_STATIC_PAD_TEMPLATE("src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS(CAPS));

static void gst_lpips_meter_set_property(
    GObject* object, guint prop_id, const GValue* value, GParamSpec* pspec) {
  GstLpipsMeter* self = GST_LPIPS_METER(object);
  GST_OBJECT_LOCK(self);
  Settings& s = *self->settings;
  switch (prop_id) {
    case PROP_METRICS: s.metrics = rip_value_string(value); break;
    case PROP_REFERENCE: s.reference = rip_value_string(value); break;
    case PROP_FIT: s.fit = static_cast<rip::FitMode>(g_value_get_enum(value)); break;
    case PROP_LOCATION: s.location = rip_value_string(value); break;
    case PROP_MESSAGE: s.message = g_value_get_boolean(value); break;
    case PROP_OVERLAY: s.overlay = g_value_get_boolean(value); break;
    case PROP_WEIGHTS: s.weights = rip_value_string(value); break;
    case PROP_MAP_LOCATION: s.map_location = rip_value_string(value); break;
    case PROP_MAP_MAX: s.map_max = g_value_get_double(value); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec); break;
  }
  GST_OBJECT_UNLOCK(self);
}

static void gst_lpips_meter_get_property(
    GObject* object, guint prop_id, GValue* value, GParamSpec* pspec) {
  GstLpipsMeter* self = GST_LPIPS_METER(object);
  GST_OBJECT_LOCK(self);
  const Settings& s = *self->settings;
  switch (prop_id) {
    case PROP_METRICS: g_value_set_string(value, s.metrics.c_str()); break;
    case PROP_REFERENCE: g_value_set_string(value, rip_string_or_null(s.reference)); break;
    case PROP_FIT: g_value_set_enum(value, static_cast<gint>(s.fit)); break;
    case PROP_LOCATION: g_value_set_string(value, rip_string_or_null(s.location)); break;
    case PROP_MESSAGE: g_value_set_boolean(value, s.message); break;
    case PROP_OVERLAY: g_value_set_boolean(value, s.overlay); break;
    case PROP_WEIGHTS: g_value_set_string(value, rip_string_or_null(s.weights)); break;
    case PROP_MAP_LOCATION: g_value_set_string(value, rip_string_or_null(s.map_location)); break;
    case PROP_MAP_MAX: g_value_set_double(value, s.map_max); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec); break;
  }
  GST_OBJECT_UNLOCK(self);
}

static gboolean gst_lpips_meter_start(GstBaseTransform* trans) {
  GstLpipsMeter* self = GST_LPIPS_METER(trans);
  auto state = std::make_unique<State>();
  GST_OBJECT_LOCK(self);
  state->settings = *self->settings;
  GST_OBJECT_UNLOCK(self);
  const Settings& s = state->settings;

  // The metrics allocate and free several MB per frame; with glibc's
  // defaults every frame faults them in again. Process-wide: see
  // rip/core/memory.h.
  rip::keep_freed_memory();
  try {
    state->metrics = rip::parse_metric_list(s.metrics);
    if (!s.map_location.empty()) rip::format_frame_path(s.map_location, 0);
  } catch (const rip::Error& e) {
    GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS, ("%s", e.what()), (NULL));
    return FALSE;
  }
  for (size_t i = 0; i < state->metrics.size(); i++) {
    const rip::Metric m = state->metrics[i];
    if (!rip::is_lpips_metric(m)) {
      state->lpips.emplace_back();
      continue;
    }
    if (state->map_metric < 0 && !s.map_location.empty()) state->map_metric = int(i);
    rip::LpipsSettings ls;
    ls.net = rip::lpips_net_name(m);
    ls.weights_dir = s.weights;
    try {
      state->lpips.push_back(std::make_unique<rip::LpipsModel>(ls));
    } catch (const rip::Error& e) {
      GST_ELEMENT_ERROR(
          self, LIBRARY, INIT, ("%s cannot start: %s", rip::metric_name(m), e.what()), (NULL));
      return FALSE;
    }
    GST_INFO_OBJECT(self, "%s: %s from %s", rip::metric_name(m),
        state->lpips.back()->description().c_str(), rip::lpips_backend_path().c_str());
  }
  if (!s.map_location.empty() && state->map_metric < 0) {
    GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS,
        ("map-location writes LPIPS maps, but metrics lists no LPIPS metric"),
        ("add lpips-alex, lpips-vgg or lpips-squeeze to metrics, or unset "
         "map-location"));
    return FALSE;
  }
  if (!s.reference.empty()) {
    try {
      state->reference_rgb = rip::io::load_rgb_image(s.reference);
    } catch (const rip::Error& e) {
      GST_ELEMENT_ERROR(self, RESOURCE, OPEN_READ,
          ("lpipsmeter cannot use its reference image: %s", e.what()), (NULL));
      return FALSE;
    }
  }
  if (!s.location.empty()) {
    std::vector<std::string> names;
    for (auto m : state->metrics) names.push_back(rip::metric_name(m));
    try {
      state->csv = std::make_unique<rip::CsvLog>(s.location, names);
    } catch (const rip::Error& e) {
      GST_ELEMENT_ERROR(self, RESOURCE, OPEN_WRITE, ("%s", e.what()), (NULL));
      return FALSE;
    }
  }
  // Measuring only reads the frame; burning in the caption writes it.
  gst_base_transform_set_passthrough(trans, !s.overlay);
  delete self->state;
  self->state = state.release();
  return TRUE;
}

static gboolean gst_lpips_meter_stop(GstBaseTransform* trans) {
  GstLpipsMeter* self = GST_LPIPS_METER(trans);
  delete self->state;
  self->state = nullptr;
  return TRUE;
}

// A frame (RGB, BGR or GRAY8) as RGB, as LPIPS takes it.
static cv::Mat frame_to_rgb(const cv::Mat& frame, GstVideoFormat format) {
  cv::Mat out;
  if (format == GST_VIDEO_FORMAT_BGR)
    cv::cvtColor(frame, out, cv::COLOR_BGR2RGB);
  else if (format == GST_VIDEO_FORMAT_GRAY8)
    cv::cvtColor(frame, out, cv::COLOR_GRAY2RGB);
  else
    out = frame;
  return out;
}

// The reference file in the frame's channel layout.
static cv::Mat to_frame_format(const cv::Mat& rgb, GstVideoFormat format) {
  cv::Mat out;
  if (format == GST_VIDEO_FORMAT_BGR)
    cv::cvtColor(rgb, out, cv::COLOR_RGB2BGR);
  else if (format == GST_VIDEO_FORMAT_GRAY8)
    cv::cvtColor(rgb, out, cv::COLOR_RGB2GRAY);
  else
    out = rgb;
  return out;
}

static gboolean gst_lpips_meter_set_info(
    GstVideoFilter* filter, GstCaps*, GstVideoInfo* in_info, GstCaps*, GstVideoInfo*) {
  GstLpipsMeter* self = GST_LPIPS_METER(filter);
  State& st = *self->state;
  const int w = GST_VIDEO_INFO_WIDTH(in_info);
  const int h = GST_VIDEO_INFO_HEIGHT(in_info);
  const GstVideoFormat format = GST_VIDEO_INFO_FORMAT(in_info);

  for (auto m : st.metrics) {
    const int min = rip::metric_min_size(m);
    if (w < min || h < min) {
      GST_ELEMENT_ERROR(self, STREAM, FORMAT,
          ("%s needs frames of at least %dx%d, got %dx%d", rip::metric_name(m), min, min, w, h),
          ("drop %s from metrics or use larger frames", rip::metric_name(m)));
      return FALSE;
    }
  }
  if (!st.reference.empty() && format != st.format) {
    GST_ELEMENT_ERROR(self, STREAM, FORMAT,
        ("the frame format changed mid-stream; lpipsmeter compares with a "
         "reference in the first format"),
        (NULL));
    return FALSE;
  }
  if (!st.reference_rgb.empty()) {
    try {
      st.reference =
          to_frame_format(rip::fit_image(st.reference_rgb, w, h, st.settings.fit), format);
    } catch (const rip::Error& e) {
      GST_ELEMENT_ERROR(self, STREAM, FORMAT,
          ("the reference image does not fit the %dx%d frames: %s", w, h, e.what()), (NULL));
      return FALSE;
    }
  } else if (!st.reference.empty() && (st.reference.cols != w || st.reference.rows != h)) {
    GST_ELEMENT_ERROR(self, STREAM, FORMAT,
        ("the frame size changed from %dx%d to %dx%d; lpipsmeter compares "
         "every frame with the first",
            st.reference.cols, st.reference.rows, w, h),
        (NULL));
    return FALSE;
  }
  st.format = format;
  st.lpips_reference_set = false;
  return TRUE;
}

static std::string caption_text(const std::vector<rip::Metric>& metrics,
    const std::vector<double>& values, guint64 iteration, double fraction) {
  char buf[64];
  std::string text = "iter " + std::to_string(iteration);
  g_snprintf(buf, sizeof buf, "  %.0f%% inpainted", fraction * 100.0);
  text += buf;
  for (size_t i = 0; i < metrics.size(); i++) {
    g_snprintf(buf, sizeof buf, "  %s %.4g", rip::metric_name(metrics[i]), values[i]);
    text += buf;
  }
  return text;
}

static void post_message(GstLpipsMeter* self, GstBuffer* buf, const rip::MeasurementRow& row,
    const std::vector<rip::Metric>& metrics) {
  GstBaseTransform* trans = GST_BASE_TRANSFORM(self);
  GstSegment* segment = &trans->segment;
  const GstClockTime ts = GST_BUFFER_PTS(buf);
  GstClockTime stream_time = GST_CLOCK_TIME_NONE, running_time = GST_CLOCK_TIME_NONE;
  if (GST_CLOCK_TIME_IS_VALID(ts) && segment->format == GST_FORMAT_TIME) {
    stream_time = gst_segment_to_stream_time(segment, GST_FORMAT_TIME, ts);
    running_time = gst_segment_to_running_time(segment, GST_FORMAT_TIME, ts);
  }
  GstStructure* s = gst_structure_new("lpipsmeter", "iteration", G_TYPE_UINT64, row.iteration,
      "inpainted-fraction", G_TYPE_DOUBLE, row.inpainted_fraction, "timestamp", G_TYPE_UINT64, ts,
      "stream-time", G_TYPE_UINT64, stream_time, "running-time", G_TYPE_UINT64, running_time,
      "duration", G_TYPE_UINT64, GST_BUFFER_DURATION(buf), NULL);
  if (row.mask)
    gst_structure_set(s, "mask-x", G_TYPE_INT, row.mask->x, "mask-y", G_TYPE_INT, row.mask->y,
        "mask-width", G_TYPE_INT, row.mask->width, "mask-height", G_TYPE_INT, row.mask->height,
        NULL);
  for (size_t i = 0; i < metrics.size(); i++)
    gst_structure_set(s, rip::metric_name(metrics[i]), G_TYPE_DOUBLE, row.values[i], NULL);
  gst_element_post_message(GST_ELEMENT(self), gst_message_new_element(GST_OBJECT(self), s));
}

static GstFlowReturn gst_lpips_meter_transform_frame_ip(
    GstVideoFilter* filter, GstVideoFrame* frame) {
  GstLpipsMeter* self = GST_LPIPS_METER(filter);
  State& st = *self->state;
  const int w = GST_VIDEO_FRAME_WIDTH(frame);
  const int h = GST_VIDEO_FRAME_HEIGHT(frame);
  cv::Mat image = frame_as_mat(frame);

  if (st.reference.empty()) st.reference = image.clone();

  rip::MeasurementRow row;
  row.iteration = st.frames++;
  if (auto mask = rip_mask_read(frame->buffer, w, h)) {
    st.inpainted_pixels += mask->pixel_count();
    row.mask = mask->box;
  }
  row.inpainted_fraction = double(st.inpainted_pixels) / (double(w) * h);

  try {
    cv::Mat rgb, map;
    for (size_t i = 0; i < st.metrics.size(); i++) {
      rip::LpipsModel* lpips = st.lpips[i].get();
      if (!lpips) {
        row.values.push_back(rip::compute_metric(st.metrics[i], st.reference, image));
        continue;
      }
      if (!st.lpips_reference_set) {
        const cv::Mat ref = frame_to_rgb(st.reference, st.format);
        for (auto& model : st.lpips)
          if (model) model->set_reference(ref);
        st.lpips_reference_set = true;
      }
      if (rgb.empty()) rgb = frame_to_rgb(image, st.format);
      const bool with_map = int(i) == st.map_metric;
      row.values.push_back(lpips->distance(rgb, with_map ? &map : nullptr));
      if (with_map)
        rip::write_lpips_map(rip::format_frame_path(st.settings.map_location, row.iteration), map,
            st.settings.map_max);
    }
    if (st.csv) st.csv->append(row);
  } catch (const std::exception& e) {
    GST_ELEMENT_ERROR(self, STREAM, FAILED,
        ("lpipsmeter failed on frame %" G_GUINT64_FORMAT ": %s", row.iteration, e.what()), (NULL));
    return GST_FLOW_ERROR;
  }
  if (st.settings.message) post_message(self, frame->buffer, row, st.metrics);
  if (st.settings.overlay)
    rip::draw_caption(
        image, caption_text(st.metrics, row.values, row.iteration, row.inpainted_fraction));
  return GST_FLOW_OK;
}

static void gst_lpips_meter_finalize(GObject* object) {
  GstLpipsMeter* self = GST_LPIPS_METER(object);
  delete self->state;
  delete self->settings;
  G_OBJECT_CLASS(parent_class)->finalize(object);
}

static void gst_lpips_meter_class_init(GstLpipsMeterClass* klass) {
  GObjectClass* gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass* element_class = GST_ELEMENT_CLASS(klass);
  GstBaseTransformClass* trans_class = GST_BASE_TRANSFORM_CLASS(klass);
  GstVideoFilterClass* filter_class = GST_VIDEO_FILTER_CLASS(klass);

  GST_DEBUG_CATEGORY_INIT(lpipsmeter_debug, "lpipsmeter", 0, "image drift meter");

  gobject_class->set_property = gst_lpips_meter_set_property;
  gobject_class->get_property = gst_lpips_meter_get_property;
  gobject_class->finalize = gst_lpips_meter_finalize;

  const GParamFlags rw =
      (GParamFlags) (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);
  g_object_class_install_property(gobject_class, PROP_METRICS,
      g_param_spec_string("metrics", "Metrics",
          "Comma-separated metrics to compute per frame, in CSV column "
          "order: ssim, ms-ssim, psnr, lpips-alex, lpips-vgg, lpips-squeeze",
          DEFAULT_METRICS, rw));
  g_object_class_install_property(gobject_class, PROP_REFERENCE,
      g_param_spec_string("reference", "Reference image",
          "Image file to compare every frame with (fitted to the frame size "
          "with fit); unset = the first frame of the stream",
          NULL, rw));
  g_object_class_install_property(gobject_class, PROP_FIT,
      g_param_spec_enum("fit", "Fit",
          "How the reference file is brought to the frame size: pad, crop, "
          "stretch or none (as feedbacksrc's fit)",
          GST_TYPE_RIP_FIT_MODE, static_cast<gint>(DEFAULT_FIT), rw));
  gst_type_mark_as_plugin_api(GST_TYPE_RIP_FIT_MODE, (GstPluginAPIFlags) 0);
  g_object_class_install_property(gobject_class, PROP_LOCATION,
      g_param_spec_string("location", "CSV file",
          "CSV file to write one row per frame to (truncated at start); "
          "unset = no CSV",
          NULL, rw));
  g_object_class_install_property(gobject_class, PROP_MESSAGE,
      g_param_spec_boolean("message", "Message", "Post a 'lpipsmeter' element message per frame",
          DEFAULT_MESSAGE, rw));
  g_object_class_install_property(gobject_class, PROP_OVERLAY,
      g_param_spec_boolean("overlay", "Overlay",
          "Burn the iteration, the share inpainted and the metrics into the "
          "frame (for recordings); off = frames pass unchanged",
          DEFAULT_OVERLAY, rw));
  g_object_class_install_property(gobject_class, PROP_WEIGHTS,
      g_param_spec_string("weights", "LPIPS weights folder",
          "Folder searched first for the LPIPS weight files (torchvision's "
          "alexnet-owt-7be5be79.pth, vgg16-397923af.pth, "
          "squeezenet1_1-b8a52dc0.pth and lpips' alex.pth, vgg.pth, "
          "squeeze.pth); unset = torch's hub cache and an installed lpips "
          "package only",
          NULL, rw));
  g_object_class_install_property(gobject_class, PROP_MAP_LOCATION,
      g_param_spec_string("map-location", "LPIPS map files",
          "File pattern with one %d (e.g. map-%05d.png) for the spatial "
          "LPIPS map of each frame, of the first LPIPS metric listed: a heat "
          "map (0 to map-max), or raw float32 for .tif/.tiff; unset = none",
          NULL, rw));
  g_object_class_install_property(gobject_class, PROP_MAP_MAX,
      g_param_spec_double("map-max", "LPIPS map scale",
          "LPIPS map value drawn with the brightest colour of the heat map "
          "(larger values saturate); the same for every frame so maps "
          "compare",
          1e-6, G_MAXDOUBLE, DEFAULT_MAP_MAX, rw));

  gst_element_class_set_static_metadata(element_class, "Drift meter", "Filter/Analyzer/Video",
      "Measures each frame's distance to a reference (the first frame or an "
      "image file) with SSIM, MS-SSIM, PSNR and LPIPS, and tracks the share "
      "of the image inpainted so far; posts a message and writes a CSV row "
      "per frame",
      "gst-rip developers");
  gst_element_class_add_static_pad_template(element_class, &sink_template);
  gst_element_class_add_static_pad_template(element_class, &src_template);

  trans_class->start = GST_DEBUG_FUNCPTR(gst_lpips_meter_start);
  trans_class->stop = GST_DEBUG_FUNCPTR(gst_lpips_meter_stop);
  filter_class->set_info = GST_DEBUG_FUNCPTR(gst_lpips_meter_set_info);
  filter_class->transform_frame_ip = GST_DEBUG_FUNCPTR(gst_lpips_meter_transform_frame_ip);
}

static void gst_lpips_meter_init(GstLpipsMeter* self) {
  self->settings = new Settings();
  self->state = nullptr;
  gst_base_transform_set_qos_enabled(GST_BASE_TRANSFORM(self), FALSE);
}
