// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * SECTION:element-masksampler
 * @title: masksampler
 * @see_also: cvinpaint, sdinpaint, lpipsmeter
 *
 * Picks the region to repaint on each frame and attaches it to the buffer;
 * the pixels pass through unchanged.
 *
 * Modes (#GstMaskSampler:mode):
 *
 * * `random` (default, the reference study): the frame is divided into
 *   square cells of #GstMaskSampler:size pixels and each frame gets one
 *   cell drawn uniformly at random, with replacement. 64, 128 and 256 on
 *   512x512 are the study's sizes (64, 16 and 4 cells).
 * * `sweep`: every cell once per pass, each pass in a new random order.
 * * `free`: a size x size square at a uniformly random position (not
 *   aligned to the grid).
 * * `file`: the same mask on every frame, read from
 *   #GstMaskSampler:mask-location (white = repaint, as in diffusers).
 *
 * #GstMaskSampler:seed makes the sequence reproducible: the same seed, mode,
 * size and frame size give the same masks on every machine. With
 * #GstMaskSampler:skip-first (default) the first frame, the loop's seed
 * image, gets no mask: inpainters pass it through untouched, so a recording
 * shows it once and no inference is spent on it.
 *
 * The mask is a #GstVideoRegionOfInterestMeta with roi_type `inpaint-mask`
 * whose rectangle is the mask's bounding box, and a `rip-mask` parameter
 * structure with `index` (guint64, the mask's number in the sequence),
 * `pixels` (gint64, pixels repainted) and, for non-rectangular masks only,
 * `bitmap` (GstBuffer of w*h bytes, non-zero = repaint). Keep elements that
 * drop metas (videoconvert, videoscale) out of the stretch between
 * masksampler and the inpainter.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 feedbacksrc channel=c location=seed.png iterations=16 \
 *     ! masksampler mode=sweep size=128 seed=7 ! cvinpaint ! feedbacksink channel=c
 * ]| Repaints each of the 16 cells of a 512x512 seed exactly once.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstmasksampler.h"

#include <memory>
#include <string>

#include "rip/error.h"
#include "rip/core/mask.h"
#include "common/enums.h"
#include "common/properties.h"
#include "common/ripmask.h"
#include "common/upstream_caps.h"

GST_DEBUG_CATEGORY_STATIC(masksampler_debug);
#define GST_CAT_DEFAULT masksampler_debug

#define DEFAULT_MODE rip::MaskMode::Random
#define DEFAULT_SIZE 128
#define DEFAULT_SEED 0
#define DEFAULT_SKIP_FIRST TRUE

enum {
  PROP_0,
  PROP_MODE,
  PROP_SIZE,
  PROP_SEED,
  PROP_SKIP_FIRST,
  PROP_MASK_LOCATION,
};

namespace {

struct Settings {
  rip::MaskMode mode = DEFAULT_MODE;
  int size = DEFAULT_SIZE;
  guint64 seed = DEFAULT_SEED;
  bool skip_first = DEFAULT_SKIP_FIRST;
  std::string mask_location;
};

struct State {
  Settings settings;
  std::unique_ptr<rip::MaskSampler> sampler;
  int width = 0, height = 0;
  guint64 frames = 0;
  guint64 masks = 0;
};

}  // namespace

struct _GstMaskSampler {
  GstVideoFilter parent;

  /* < private > */
  Settings* settings;  // guarded by the object lock
  State* state;        // created in start, freed in stop
};

#define gst_mask_sampler_parent_class parent_class
G_DEFINE_TYPE(GstMaskSampler, gst_mask_sampler, GST_TYPE_VIDEO_FILTER);
GST_ELEMENT_REGISTER_DEFINE(masksampler, "masksampler", GST_RANK_NONE, GST_TYPE_MASK_SAMPLER);

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE("sink", GST_PAD_SINK,
    GST_PAD_ALWAYS, GST_STATIC_CAPS(GST_VIDEO_CAPS_MAKE(GST_VIDEO_FORMATS_ALL)));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE("src", GST_PAD_SRC,
    GST_PAD_ALWAYS, GST_STATIC_CAPS(GST_VIDEO_CAPS_MAKE(GST_VIDEO_FORMATS_ALL)));

static void gst_mask_sampler_set_property(
    GObject* object, guint prop_id, const GValue* value, GParamSpec* pspec) {
  GstMaskSampler* self = GST_MASK_SAMPLER(object);
  GST_OBJECT_LOCK(self);
  Settings& s = *self->settings;
  switch (prop_id) {
    case PROP_MODE: s.mode = static_cast<rip::MaskMode>(g_value_get_enum(value)); break;
    case PROP_SIZE: s.size = g_value_get_int(value); break;
    case PROP_SEED: s.seed = g_value_get_uint64(value); break;
    case PROP_SKIP_FIRST: s.skip_first = g_value_get_boolean(value); break;
    case PROP_MASK_LOCATION: s.mask_location = rip_value_string(value); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec); break;
  }
  GST_OBJECT_UNLOCK(self);
}

static void gst_mask_sampler_get_property(
    GObject* object, guint prop_id, GValue* value, GParamSpec* pspec) {
  GstMaskSampler* self = GST_MASK_SAMPLER(object);
  GST_OBJECT_LOCK(self);
  const Settings& s = *self->settings;
  switch (prop_id) {
    case PROP_MODE: g_value_set_enum(value, static_cast<gint>(s.mode)); break;
    case PROP_SIZE: g_value_set_int(value, s.size); break;
    case PROP_SEED: g_value_set_uint64(value, s.seed); break;
    case PROP_SKIP_FIRST: g_value_set_boolean(value, s.skip_first); break;
    case PROP_MASK_LOCATION: g_value_set_string(value, rip_string_or_null(s.mask_location)); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec); break;
  }
  GST_OBJECT_UNLOCK(self);
}

// The sampler for w x h frames; throws rip::Error when it cannot mask them.
static void configure_sampler(State& st, int w, int h) {
  rip::MaskSamplerConfig config;
  config.mode = st.settings.mode;
  config.cell_size = st.settings.size;
  config.seed = st.settings.seed;
  if (st.settings.mode == rip::MaskMode::File)
    config.file_mask = rip::load_mask_file(st.settings.mask_location, w, h);
  st.sampler = std::make_unique<rip::MaskSampler>(config, w, h);
  st.width = w;
  st.height = h;
}

static void post_sampler_error(
    GstMaskSampler* self, const State& st, int w, int h, const rip::Error& e) {
  GST_ELEMENT_ERROR(self, STREAM, FORMAT,
      ("masksampler cannot mask %dx%d frames: %s", w, h, e.what()),
      ("mode=%s size=%d", rip::mask_mode_name(st.settings.mode), st.settings.size));
}

static gboolean gst_mask_sampler_start(GstBaseTransform* trans) {
  GstMaskSampler* self = GST_MASK_SAMPLER(trans);
  auto state = std::make_unique<State>();
  GST_OBJECT_LOCK(self);
  state->settings = *self->settings;
  GST_OBJECT_UNLOCK(self);
  // What can be checked before streaming is checked here, so that the
  // state change fails (plugins/common/upstream_caps.h says why).
  if (state->settings.size < 1 || state->settings.size > 32768) {
    GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS,
        ("masksampler size=%d is not a mask size: give the square's side in pixels, "
         "1 to 32768 (the study: 64, 128 or 256 on 512x512)",
            state->settings.size),
        (NULL));
    return FALSE;
  }
  if (state->settings.mode == rip::MaskMode::File && state->settings.mask_location.empty()) {
    GST_ELEMENT_ERROR(self, RESOURCE, NOT_FOUND,
        ("masksampler mode=file needs a mask image: set mask-location to a PNG "
         "of the frame's size whose white pixels mark what to repaint"),
        (NULL));
    return FALSE;
  }
  GstVideoInfo upstream;
  if (rip_upstream_fixed_video_info(trans, &upstream)) {
    const int w = GST_VIDEO_INFO_WIDTH(&upstream), h = GST_VIDEO_INFO_HEIGHT(&upstream);
    try {
      configure_sampler(*state, w, h);
    } catch (const rip::Error& e) {
      post_sampler_error(self, *state, w, h, e);
      return FALSE;
    }
  }
  delete self->state;
  self->state = state.release();
  return TRUE;
}

static gboolean gst_mask_sampler_stop(GstBaseTransform* trans) {
  GstMaskSampler* self = GST_MASK_SAMPLER(trans);
  delete self->state;
  self->state = nullptr;
  return TRUE;
}

static gboolean gst_mask_sampler_set_info(
    GstVideoFilter* filter, GstCaps*, GstVideoInfo* in_info, GstCaps*, GstVideoInfo*) {
  GstMaskSampler* self = GST_MASK_SAMPLER(filter);
  State& st = *self->state;
  const int w = GST_VIDEO_INFO_WIDTH(in_info);
  const int h = GST_VIDEO_INFO_HEIGHT(in_info);
  if (st.sampler && w == st.width && h == st.height)
    return TRUE;  // same geometry: keep the sequence going
  try {
    configure_sampler(st, w, h);
  } catch (const rip::Error& e) {
    post_sampler_error(self, st, w, h, e);
    return FALSE;
  }
  GST_INFO_OBJECT(self, "%dx%d frames, mode %s, %d px, %d cells", w, h,
      rip::mask_mode_name(st.settings.mode), st.settings.size, st.sampler->cell_count());
  return TRUE;
}

static GstFlowReturn gst_mask_sampler_transform_ip(GstBaseTransform* trans, GstBuffer* buf) {
  GstMaskSampler* self = GST_MASK_SAMPLER(trans);
  State& st = *self->state;
  const guint64 frame = st.frames++;
  if (frame == 0 && st.settings.skip_first) {
    GST_LOG_OBJECT(self, "first frame passes without a mask");
    return GST_FLOW_OK;
  }
  try {
    rip::Mask mask = st.sampler->next();
    rip_mask_attach(buf, mask, st.masks++);
    GST_LOG_OBJECT(self, "frame %" G_GUINT64_FORMAT ": mask %d,%d %dx%d", frame, mask.box.x,
        mask.box.y, mask.box.width, mask.box.height);
  } catch (const std::exception& e) {
    GST_ELEMENT_ERROR(self, STREAM, FAILED, ("masksampler failed: %s", e.what()), (NULL));
    return GST_FLOW_ERROR;
  }
  return GST_FLOW_OK;
}

static void gst_mask_sampler_finalize(GObject* object) {
  GstMaskSampler* self = GST_MASK_SAMPLER(object);
  delete self->state;
  delete self->settings;
  G_OBJECT_CLASS(parent_class)->finalize(object);
}

static void gst_mask_sampler_class_init(GstMaskSamplerClass* klass) {
  GObjectClass* gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass* element_class = GST_ELEMENT_CLASS(klass);
  GstBaseTransformClass* trans_class = GST_BASE_TRANSFORM_CLASS(klass);
  GstVideoFilterClass* filter_class = GST_VIDEO_FILTER_CLASS(klass);

  GST_DEBUG_CATEGORY_INIT(masksampler_debug, "masksampler", 0, "inpainting mask sampler");

  gobject_class->set_property = gst_mask_sampler_set_property;
  gobject_class->get_property = gst_mask_sampler_get_property;
  gobject_class->finalize = gst_mask_sampler_finalize;

  const GParamFlags rw =
      (GParamFlags) (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);
  g_object_class_install_property(gobject_class, PROP_MODE,
      g_param_spec_enum("mode", "Mode",
          "How masks are chosen: random (one grid cell, uniform, with "
          "replacement; the reference study), sweep (every cell once per "
          "pass, random order), free (a size x size square anywhere), file "
          "(the mask in mask-location on every frame)",
          GST_TYPE_RIP_MASK_MODE, static_cast<gint>(DEFAULT_MODE), rw));
  gst_type_mark_as_plugin_api(GST_TYPE_RIP_MASK_MODE, (GstPluginAPIFlags) 0);
  g_object_class_install_property(gobject_class, PROP_SIZE,
      g_param_spec_int("size", "Size",
          "Side of the square mask and of the grid cells in pixels (the "
          "study: 64, 128, 256 on 512x512); the frame must divide into "
          "cells in random and sweep modes; 1 to 32768 (others are refused "
          "when the element starts)",
          // Wide on purpose, as cvinpaint's radius: GLib would ignore an
          // out-of-range value with a warning and run with the default.
          G_MININT, G_MAXINT, DEFAULT_SIZE, rw));
  g_object_class_install_property(gobject_class, PROP_SEED,
      g_param_spec_uint64("seed", "Seed",
          "Seed of the mask sequence; the same seed gives the same masks on "
          "every machine",
          0, G_MAXUINT64, DEFAULT_SEED, rw));
  g_object_class_install_property(gobject_class, PROP_SKIP_FIRST,
      g_param_spec_boolean("skip-first", "Skip first",
          "Let the first frame (the loop's seed image) pass without a mask", DEFAULT_SKIP_FIRST,
          rw));
  g_object_class_install_property(gobject_class, PROP_MASK_LOCATION,
      g_param_spec_string("mask-location", "Mask file",
          "Mask image for mode=file, the frame's size, white = repaint", NULL, rw));

  gst_element_class_set_static_metadata(element_class, "Inpainting mask sampler", "Filter/Video",
      "Chooses the region to repaint on each frame (a random grid cell as "
      "in the recursive-inpainting study, a sweep, a free square or a mask "
      "file) and attaches it as an inpaint-mask region-of-interest meta",
      "gst-rip developers");
  gst_element_class_add_static_pad_template(element_class, &sink_template);
  gst_element_class_add_static_pad_template(element_class, &src_template);

  trans_class->start = GST_DEBUG_FUNCPTR(gst_mask_sampler_start);
  trans_class->stop = GST_DEBUG_FUNCPTR(gst_mask_sampler_stop);
  // Only metadata is added: skip GstVideoFilter's writable frame mapping,
  // which would copy pixels still shared with the recording branch.
  trans_class->transform_ip = GST_DEBUG_FUNCPTR(gst_mask_sampler_transform_ip);
  trans_class->transform_ip_on_passthrough = FALSE;
  filter_class->set_info = GST_DEBUG_FUNCPTR(gst_mask_sampler_set_info);
}

static void gst_mask_sampler_init(GstMaskSampler* self) {
  self->settings = new Settings();
  self->state = nullptr;
  // Frames must never be dropped inside the loop: the source would wait
  // for a frame that never comes back.
  gst_base_transform_set_qos_enabled(GST_BASE_TRANSFORM(self), FALSE);
  gst_base_transform_set_in_place(GST_BASE_TRANSFORM(self), TRUE);
}
