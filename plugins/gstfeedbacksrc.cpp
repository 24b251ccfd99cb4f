// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * SECTION:element-feedbacksrc
 * @title: feedbacksrc
 * @see_also: feedbacksink, masksampler, cvinpaint, lpipsmeter
 *
 * Source half of the recursive-inpainting loop. It reads the seed image
 * (#GstFeedbackSrc:location), brings it to #GstFeedbackSrc:width x
 * #GstFeedbackSrc:height (by default keeping the aspect and adding black
 * bands, as the reference study did), and emits it as frame 0. Every later
 * frame is the frame that the #feedbacksink with the same
 * #GstFeedbackSrc:channel received last: frame k is the output of iteration
 * k-1. After the seed and #GstFeedbackSrc:iterations returned frames it
 * sends EOS.
 *
 * Output is `video/x-raw, format=RGB` with the seed's size. Frame k has
 * PTS = k / framerate, DURATION = 1 / framerate, OFFSET = k and
 * OFFSET_END = k + 1, so a recording plays at #GstFeedbackSrc:framerate and
 * downstream elements can read the iteration from the offset. Returned
 * frames are re-emitted as new buffers that share the pixels but carry no
 * metadata from the previous iteration (no stale mask).
 *
 * If no frame comes back within #GstFeedbackSrc:timeout milliseconds the
 * element posts an error instead of waiting for ever. Setting the pipeline
 * to NULL, or sending EOS (`gst-launch-1.0 -e` and Ctrl-C), interrupts the
 * wait at once.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 -e feedbacksrc channel=loop location=starry_night.jpg iterations=64 \
 *     ! masksampler size=128 seed=1 ! cvinpaint ! tee name=t \
 *     t. ! queue ! feedbacksink channel=loop \
 *     t. ! queue ! lpipsmeter metrics=ssim,psnr location=run.csv \
 *        ! videoconvert ! x264enc ! mp4mux ! filesink location=run.mp4
 * ]| Repaints one random 128 px cell of the 512x512 seed 64 times (400 %),
 * logs SSIM and PSNR per iteration and records seed + 64 iterations.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstfeedbacksrc.h"

#include <gst/video/video.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "common/enums.h"
#include "common/properties.h"
#include "rip/core/feedback_channel.h"
#include "rip/core/image_fit.h"
#include "rip/error.h"
#include "rip/io/image.h"

GST_DEBUG_CATEGORY_STATIC(feedbacksrc_debug);
#define GST_CAT_DEFAULT feedbacksrc_debug

#define DEFAULT_CHANNEL "rip"
#define DEFAULT_LOCATION NULL
#define DEFAULT_WIDTH 512
#define DEFAULT_HEIGHT 512
#define DEFAULT_FIT rip::FitMode::Pad
#define DEFAULT_ITERATIONS 64
#define DEFAULT_FPS_N 4
#define DEFAULT_FPS_D 1
#define DEFAULT_TIMEOUT_MS 300000

enum {
  PROP_0,
  PROP_CHANNEL,
  PROP_LOCATION,
  PROP_WIDTH,
  PROP_HEIGHT,
  PROP_FIT,
  PROP_ITERATIONS,
  PROP_FRAMERATE,
  PROP_TIMEOUT,
};

namespace {

struct Settings {
  std::string channel = DEFAULT_CHANNEL;
  std::string location;
  int width = DEFAULT_WIDTH;
  int height = DEFAULT_HEIGHT;
  rip::FitMode fit = DEFAULT_FIT;
  guint iterations = DEFAULT_ITERATIONS;
  gint fps_n = DEFAULT_FPS_N;
  gint fps_d = DEFAULT_FPS_D;
  guint timeout_ms = DEFAULT_TIMEOUT_MS;
};

// Created in start(), dropped in stop().
struct State {
  Settings settings;  // snapshot taken at start
  std::shared_ptr<rip::FeedbackChannel> channel;
  GstBuffer* seed = nullptr;
  GstCaps* caps = nullptr;
  GstClockTime frame_duration = GST_CLOCK_TIME_NONE;
  guint64 next_frame = 0;

  ~State() {
    gst_clear_buffer(&seed);
    gst_clear_caps(&caps);
  }
};

}  // namespace

struct _GstFeedbackSrc {
  GstPushSrc parent;

  /* < private > */
  Settings* settings;  // guarded by the object lock
  State* state;        // streaming thread, start/stop
  State* prepared;     // READY->PAUSED: made before GstBaseSrc's start
};

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE(
    "src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS(GST_VIDEO_CAPS_MAKE("RGB")));

#define gst_feedback_src_parent_class parent_class
G_DEFINE_TYPE(GstFeedbackSrc, gst_feedback_src, GST_TYPE_PUSH_SRC);
GST_ELEMENT_REGISTER_DEFINE(feedbacksrc, "feedbacksrc", GST_RANK_NONE, GST_TYPE_FEEDBACK_SRC);

static void gst_feedback_src_set_property(
    GObject* object, guint prop_id, const GValue* value, GParamSpec* pspec) {
  GstFeedbackSrc* self = GST_FEEDBACK_SRC(object);
  GST_OBJECT_LOCK(self);
  Settings& s = *self->settings;
  switch (prop_id) {
    case PROP_CHANNEL: s.channel = rip_value_string(value); break;
    case PROP_LOCATION: s.location = rip_value_string(value); break;
    case PROP_WIDTH: s.width = g_value_get_int(value); break;
    case PROP_HEIGHT: s.height = g_value_get_int(value); break;
    case PROP_FIT: s.fit = static_cast<rip::FitMode>(g_value_get_enum(value)); break;
    case PROP_ITERATIONS: s.iterations = g_value_get_uint(value); break;
    case PROP_FRAMERATE:
      s.fps_n = gst_value_get_fraction_numerator(value);
      s.fps_d = gst_value_get_fraction_denominator(value);
      break;
    case PROP_TIMEOUT: s.timeout_ms = g_value_get_uint(value); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec); break;
  }
  GST_OBJECT_UNLOCK(self);
}

static void gst_feedback_src_get_property(
    GObject* object, guint prop_id, GValue* value, GParamSpec* pspec) {
  GstFeedbackSrc* self = GST_FEEDBACK_SRC(object);
  GST_OBJECT_LOCK(self);
  const Settings& s = *self->settings;
  switch (prop_id) {
    case PROP_CHANNEL: g_value_set_string(value, s.channel.c_str()); break;
    case PROP_LOCATION: g_value_set_string(value, rip_string_or_null(s.location)); break;
    case PROP_WIDTH: g_value_set_int(value, s.width); break;
    case PROP_HEIGHT: g_value_set_int(value, s.height); break;
    case PROP_FIT: g_value_set_enum(value, static_cast<gint>(s.fit)); break;
    case PROP_ITERATIONS: g_value_set_uint(value, s.iterations); break;
    case PROP_FRAMERATE: gst_value_set_fraction(value, s.fps_n, s.fps_d); break;
    case PROP_TIMEOUT: g_value_set_uint(value, s.timeout_ms); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec); break;
  }
  GST_OBJECT_UNLOCK(self);
}

// Reads the seed and attaches to the channel: the streaming state, or
// nullptr with the element error posted.
static State* prepare_state(GstFeedbackSrc* self) {
  auto state = std::make_unique<State>();

  GST_OBJECT_LOCK(self);
  state->settings = *self->settings;
  GST_OBJECT_UNLOCK(self);
  const Settings& s = state->settings;

  if (s.channel.empty()) {
    GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS, ("feedbacksrc needs a channel name"),
        ("set channel to the same name as the feedbacksink's channel"));
    return nullptr;
  }
  if (s.fps_n <= 0 || s.fps_d <= 0) {
    GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS,
        ("framerate must be positive, got %d/%d", s.fps_n, s.fps_d), (NULL));
    return nullptr;
  }

  cv::Mat rgb;
  try {
    rgb = rip::fit_image(rip::io::load_rgb_image(s.location), s.width, s.height, s.fit);
  } catch (const rip::Error& e) {
    GST_ELEMENT_ERROR(self, RESOURCE, OPEN_READ,
        ("feedbacksrc cannot use its seed image: %s", e.what()),
        ("location=%s", s.location.c_str()));
    return nullptr;
  } catch (const std::exception& e) {
    GST_ELEMENT_ERROR(self, RESOURCE, OPEN_READ,
        ("reading the seed image '%s' failed: %s", s.location.c_str(), e.what()), (NULL));
    return nullptr;
  }

  GstVideoInfo info;
  gst_video_info_set_format(&info, GST_VIDEO_FORMAT_RGB, rgb.cols, rgb.rows);
  GST_VIDEO_INFO_FPS_N(&info) = s.fps_n;
  GST_VIDEO_INFO_FPS_D(&info) = s.fps_d;
  state->caps = gst_video_info_to_caps(&info);
  state->frame_duration = gst_util_uint64_scale_int(GST_SECOND, s.fps_d, s.fps_n);

  // The seed in GStreamer's default RGB layout (rows padded to 4 bytes).
  state->seed = gst_buffer_new_allocate(NULL, info.size, NULL);
  GstVideoFrame frame;
  if (!gst_video_frame_map(&frame, &info, state->seed, GST_MAP_WRITE)) {
    GST_ELEMENT_ERROR(self, RESOURCE, FAILED, ("could not map the seed"), (NULL));
    return nullptr;
  }
  guint8* dst = (guint8*) GST_VIDEO_FRAME_PLANE_DATA(&frame, 0);
  const gint stride = GST_VIDEO_FRAME_PLANE_STRIDE(&frame, 0);
  for (int y = 0; y < rgb.rows; y++)
    memcpy(dst + (gsize) y * stride, rgb.ptr(y), (gsize) rgb.cols * 3);
  gst_video_frame_unmap(&frame);

  auto channel = rip::FeedbackChannel::get(s.channel);
  if (!channel->attach_source(rip::FeedbackChannel::Payload(
          gst_caps_ref(state->caps), [](void* caps) { gst_caps_unref(GST_CAPS(caps)); }))) {
    GST_ELEMENT_ERROR(self, RESOURCE, BUSY,
        ("channel '%s' already has a feedbacksrc", s.channel.c_str()),
        ("give every loop its own channel name"));
    return nullptr;
  }
  state->channel = channel;

  GST_INFO_OBJECT(self, "seed %s: %dx%d, %u iterations on channel '%s'", s.location.c_str(),
      rgb.cols, rgb.rows, s.iterations, s.channel.c_str());
  return state.release();
}

static void drop_state(State* state) {
  if (state && state->channel) state->channel->detach_source();
  delete state;
}

// Everything that can fail is done before GstBaseSrc starts: when its start
// fails, it posts a generic "state change failed and some element failed to
// post a proper error message" after our own error.
static GstStateChangeReturn gst_feedback_src_change_state(
    GstElement* element, GstStateChange transition) {
  GstFeedbackSrc* self = GST_FEEDBACK_SRC(element);
  if (transition == GST_STATE_CHANGE_READY_TO_PAUSED) {
    State* prepared = prepare_state(self);
    if (!prepared) return GST_STATE_CHANGE_FAILURE;
    drop_state(self->prepared);
    self->prepared = prepared;
  }
  GstStateChangeReturn ret = GST_ELEMENT_CLASS(parent_class)->change_state(element, transition);
  if (transition == GST_STATE_CHANGE_READY_TO_PAUSED || ret == GST_STATE_CHANGE_FAILURE) {
    drop_state(self->prepared);  // not taken by start when it failed
    self->prepared = nullptr;
  }
  return ret;
}

static gboolean gst_feedback_src_start(GstBaseSrc* base) {
  GstFeedbackSrc* self = GST_FEEDBACK_SRC(base);
  // Prepared by change_state; started otherwise (never in a pipeline), now.
  State* state = self->prepared ? self->prepared : prepare_state(self);
  self->prepared = nullptr;
  self->state = state;
  return state != nullptr;
}

static gboolean gst_feedback_src_stop(GstBaseSrc* base) {
  GstFeedbackSrc* self = GST_FEEDBACK_SRC(base);
  State* state = self->state;
  self->state = nullptr;
  if (state && state->channel) state->channel->detach_source();
  delete state;
  return TRUE;
}

static GstCaps* gst_feedback_src_get_caps(GstBaseSrc* base, GstCaps* filter) {
  GstFeedbackSrc* self = GST_FEEDBACK_SRC(base);
  GstCaps* caps;

  if (self->state && self->state->caps) {
    caps = gst_caps_ref(self->state->caps);
  } else {
    caps = gst_pad_get_pad_template_caps(GST_BASE_SRC_PAD(base));
    // Before start the size is already known when both sides are set (any
    // fit but none brings the seed to them): downstream elements check
    // their settings against it on READY->PAUSED.
    GST_OBJECT_LOCK(self);
    const Settings s = *self->settings;
    GST_OBJECT_UNLOCK(self);
    if (s.width > 0 && s.height > 0 && s.fit != rip::FitMode::None) {
      caps = gst_caps_make_writable(caps);
      gst_caps_set_simple(caps, "width", G_TYPE_INT, s.width, "height", G_TYPE_INT, s.height, NULL);
    }
  }
  if (filter) {
    GstCaps* tmp = gst_caps_intersect_full(filter, caps, GST_CAPS_INTERSECT_FIRST);
    gst_caps_unref(caps);
    caps = tmp;
  }
  return caps;
}

static gboolean gst_feedback_src_is_seekable(GstBaseSrc*) {
  return FALSE;
}

static gboolean gst_feedback_src_unlock(GstBaseSrc* base) {
  GstFeedbackSrc* self = GST_FEEDBACK_SRC(base);
  // state is set before the streaming thread starts and cleared after it
  // stopped, so it is stable while unlock can be called.
  if (self->state) self->state->channel->set_flushing(true);
  return TRUE;
}

static gboolean gst_feedback_src_unlock_stop(GstBaseSrc* base) {
  GstFeedbackSrc* self = GST_FEEDBACK_SRC(base);
  if (self->state) self->state->channel->set_flushing(false);
  return TRUE;
}

static GstFlowReturn gst_feedback_src_create(GstPushSrc* push, GstBuffer** out) {
  GstFeedbackSrc* self = GST_FEEDBACK_SRC(push);
  State& st = *self->state;
  const Settings& s = st.settings;
  const guint64 k = st.next_frame;
  GstBuffer* buf;

  if (k > s.iterations) {
    GST_DEBUG_OBJECT(self, "all %u iterations emitted", s.iterations);
    return GST_FLOW_EOS;
  }

  if (k == 0) {
    buf = gst_buffer_copy(st.seed);
  } else {
    std::optional<std::chrono::milliseconds> timeout;
    if (s.timeout_ms > 0) timeout = std::chrono::milliseconds(s.timeout_ms);
    const auto taken = st.channel->take(timeout, k == s.iterations);
    switch (taken.status) {
      case rip::FeedbackChannel::TakeStatus::TimedOut:
        GST_ELEMENT_ERROR(self, STREAM, FAILED,
            ("no frame came back to feedbacksink on channel '%s' within %u ms "
             "(waiting for the output of iteration %" G_GUINT64_FORMAT " of %u)",
                s.channel.c_str(), s.timeout_ms, k, s.iterations),
            ("%s",
                st.channel->sink_count() == 0
                    ? "no feedbacksink with this channel is running: add one and "
                      "give it the same channel name"
                    : "an element between feedbacksrc and feedbacksink dropped or "
                      "held back a frame (sinks need sync=false, no QoS in the "
                      "loop), or the inpainter is slower than the timeout: raise "
                      "timeout (0 waits for ever)"));
        return GST_FLOW_ERROR;
      case rip::FeedbackChannel::TakeStatus::Flushing:
      case rip::FeedbackChannel::TakeStatus::Closed:
        GST_DEBUG_OBJECT(self, "interrupted while waiting");
        return GST_FLOW_FLUSHING;
      case rip::FeedbackChannel::TakeStatus::EndOfStream:
        GST_INFO_OBJECT(self, "feedbacksink got EOS after %" G_GUINT64_FORMAT " of %u iterations",
            k - 1, s.iterations);
        return GST_FLOW_EOS;
      case rip::FeedbackChannel::TakeStatus::Frame: break;
    }
    GstBuffer* returned = GST_BUFFER(taken.frame.get());

    // A fresh buffer with the returned pixels only: the previous
    // iteration's mask meta and flags must not ride along.
    buf = gst_buffer_new();
    gst_buffer_copy_into(buf, returned, GST_BUFFER_COPY_MEMORY, 0, -1);
  }

  if (k == 0 && s.iterations == 0) st.channel->finish_source();

  GST_BUFFER_PTS(buf) = k * st.frame_duration;
  GST_BUFFER_DTS(buf) = GST_CLOCK_TIME_NONE;
  GST_BUFFER_DURATION(buf) = st.frame_duration;
  GST_BUFFER_OFFSET(buf) = k;
  GST_BUFFER_OFFSET_END(buf) = k + 1;
  if (k == 0) GST_BUFFER_FLAG_SET(buf, GST_BUFFER_FLAG_DISCONT);
  st.next_frame = k + 1;
  GST_LOG_OBJECT(self, "frame %" G_GUINT64_FORMAT, k);
  *out = buf;
  return GST_FLOW_OK;
}

static void gst_feedback_src_finalize(GObject* object) {
  GstFeedbackSrc* self = GST_FEEDBACK_SRC(object);
  delete self->state;
  drop_state(self->prepared);
  delete self->settings;
  G_OBJECT_CLASS(parent_class)->finalize(object);
}

static void gst_feedback_src_class_init(GstFeedbackSrcClass* klass) {
  GObjectClass* gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass* element_class = GST_ELEMENT_CLASS(klass);
  GstBaseSrcClass* basesrc_class = GST_BASE_SRC_CLASS(klass);
  GstPushSrcClass* pushsrc_class = GST_PUSH_SRC_CLASS(klass);

  GST_DEBUG_CATEGORY_INIT(feedbacksrc_debug, "feedbacksrc", 0, "recursive-inpainting loop source");

  gobject_class->set_property = gst_feedback_src_set_property;
  gobject_class->get_property = gst_feedback_src_get_property;
  gobject_class->finalize = gst_feedback_src_finalize;

  const GParamFlags rw =
      (GParamFlags) (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);

  g_object_class_install_property(gobject_class, PROP_CHANNEL,
      g_param_spec_string("channel", "Channel",
          "Name that joins this source to the feedbacksink whose frames it "
          "re-emits; every loop in a process needs its own name",
          DEFAULT_CHANNEL, rw));
  g_object_class_install_property(gobject_class, PROP_LOCATION,
      g_param_spec_string("location", "Seed image",
          "Image file emitted as frame 0 (PNG, JPEG, WebP, TIFF, BMP; "
          "converted to RGB)",
          DEFAULT_LOCATION, rw));
  g_object_class_install_property(gobject_class, PROP_WIDTH,
      g_param_spec_int("width", "Width", "Width of the frames in pixels (0 = the seed's own width)",
          0, 32768, DEFAULT_WIDTH, rw));
  g_object_class_install_property(gobject_class, PROP_HEIGHT,
      g_param_spec_int("height", "Height",
          "Height of the frames in pixels (0 = the seed's own height)", 0, 32768, DEFAULT_HEIGHT,
          rw));
  g_object_class_install_property(gobject_class, PROP_FIT,
      g_param_spec_enum("fit", "Fit",
          "How the seed is brought to width x height: pad (keep the aspect, "
          "black bands; the reference study), crop (keep the aspect, centre "
          "crop), stretch, or none (the seed must already have that size)",
          GST_TYPE_RIP_FIT_MODE, static_cast<gint>(DEFAULT_FIT), rw));
  gst_type_mark_as_plugin_api(GST_TYPE_RIP_FIT_MODE, (GstPluginAPIFlags) 0);
  g_object_class_install_property(gobject_class, PROP_ITERATIONS,
      g_param_spec_uint("iterations", "Iterations",
          "Returned frames to emit after the seed before EOS (the output is "
          "iterations + 1 frames)",
          0, G_MAXUINT, DEFAULT_ITERATIONS, rw));
  g_object_class_install_property(gobject_class, PROP_FRAMERATE,
      gst_param_spec_fraction("framerate", "Frame rate",
          "Frame rate written into the timestamps and caps, i.e. how fast a "
          "recording of the recursion plays",
          1, G_MAXINT, G_MAXINT, 1, DEFAULT_FPS_N, DEFAULT_FPS_D, rw));
  g_object_class_install_property(gobject_class, PROP_TIMEOUT,
      g_param_spec_uint("timeout", "Timeout",
          "Milliseconds to wait for a frame to come back before posting an "
          "error (0 = wait for ever); raise it for slow inpainters",
          0, G_MAXUINT, DEFAULT_TIMEOUT_MS, rw));

  gst_element_class_set_static_metadata(element_class, "Feedback loop source", "Source/Video",
      "Emits a seed image, then every frame that comes back to the "
      "feedbacksink on the same channel, so each output frame is the next "
      "iteration's input",
      "gst-rip developers");
  gst_element_class_add_static_pad_template(element_class, &src_template);

  element_class->change_state = GST_DEBUG_FUNCPTR(gst_feedback_src_change_state);
  basesrc_class->start = GST_DEBUG_FUNCPTR(gst_feedback_src_start);
  basesrc_class->stop = GST_DEBUG_FUNCPTR(gst_feedback_src_stop);
  basesrc_class->get_caps = GST_DEBUG_FUNCPTR(gst_feedback_src_get_caps);
  basesrc_class->is_seekable = GST_DEBUG_FUNCPTR(gst_feedback_src_is_seekable);
  basesrc_class->unlock = GST_DEBUG_FUNCPTR(gst_feedback_src_unlock);
  basesrc_class->unlock_stop = GST_DEBUG_FUNCPTR(gst_feedback_src_unlock_stop);
  pushsrc_class->create = GST_DEBUG_FUNCPTR(gst_feedback_src_create);
}

static void gst_feedback_src_init(GstFeedbackSrc* self) {
  self->settings = new Settings();
  self->state = nullptr;
  self->prepared = nullptr;
  gst_base_src_set_format(GST_BASE_SRC(self), GST_FORMAT_TIME);
  gst_base_src_set_live(GST_BASE_SRC(self), FALSE);
}
