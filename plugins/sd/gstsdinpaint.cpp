// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * SECTION:element-sdinpaint
 * @title: sdinpaint
 * @see_also: masksampler, cvinpaint, feedbacksrc
 *
 * Stable Diffusion inpainting (libtorch) reproducing diffusers'
 * StableDiffusionInpaintPipeline on a diffusers model folder
 * (#GstSdInpaint:model), e.g. stabilityai/stable-diffusion-2-inpainting as
 * downloaded, or on a single-file original checkpoint such as
 * 512-inpainting-ema.safetensors (then #GstSdInpaint:tokenizer, and
 * #GstSdInpaint:config for models that are not SD 1.x/2-sized). On every frame with an `inpaint-mask` region of interest (from
 * #masksampler) it runs the whole pipeline on the frame and the mask: with
 * #GstSdInpaint:paste-back (default) only the masked pixels change, the
 * reference study's step; without it the frame is diffusers' raw output
 * (every pixel goes through the VAE). Frames without a mask pass untouched.
 *
 * Frames are RGB and both sides must be multiples of 8; the pipeline runs at
 * the frame's size, as diffusers does when called with height and width of
 * the image (diffusers' own default would resize to 512x512).
 *
 * Seeds: the n-th frame this element inpaints (n = 0, 1, ... counted from
 * the start of the stream) uses torch.Generator().manual_seed(seed + n), so
 * a rerun with the same settings reproduces every frame, and frame n equals
 * diffusers run with that seed on the same image and mask.
 *
 * The model is loaded on the READY to PAUSED change. Elements in one process
 * that name the same model, device and dtype share one copy of the weights.
 * With the prompt equal to the negative prompt (the study's empty prompt)
 * guidance changes nothing, and the UNet runs once per step instead of
 * twice. Prompt embeddings are computed once.
 *
 * A progress message `sdinpaint-progress` (fields `frame` guint64, `step`,
 * `steps` gint) is posted after every denoising step. A warning message is
 * posted once per process when libtorch's BLAS will make it slow (the
 * reference BLAS, or OpenBLAS's pthreads build with more than one thread),
 * saying what to install.
 *
 * Going down (PAUSED to READY) or a flush stops an inpaint in progress before
 * its next model call, so a 50-step inpaint does not hold the pipeline for
 * the rest of its steps; the frame is dropped, nothing is posted.
 *
 * #GstSdInpaint:threads sets libtorch's thread count for the whole process
 * when the model loads (0: OMP_NUM_THREADS, else every CPU available).
 *
 * Batching across loops: with #GstSdInpaint:max-batch N > 1, loops in one
 * process that share the model (several pipelines, or several loops in one)
 * send their UNet calls (off the CPU their VAE calls too) through one
 * batcher, which runs the calls that meet as one batch of up to N loops. A
 * batch waits only for loops in the middle of an inpaint; each loop keeps its
 * own generator, so every image is the one the loop gives alone, bit for bit
 * on the CPU. It pays where a batch costs less than its parts (a GPU; on a
 * CPU it is about even). The read-only
 * #GstSdInpaint:batches tells how the calls ran (docs/models.md: batching).
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 feedbacksrc channel=sd location=seed.png iterations=64 timeout=0 \
 *     ! masksampler size=128 ! sdinpaint model=stable-diffusion-2-inpainting \
 *     ! tee name=t t. ! queue ! feedbacksink channel=sd \
 *     t. ! queue ! lpipsmeter location=sd.csv ! fakesink
 * ]| The reference study's recursion (PNDM, 50 steps, guidance 7.5, empty
 * prompt) with 128 px masks.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstsdinpaint.h"

#include <memory>
#include <string>

#include "common/enums.h"
#include "common/properties.h"
#include "common/framemat.h"
#include "rip/error.h"
#include "rip/core/blas_threading.h"
#include "rip/core/memory.h"
#include "rip/sd/pipeline/inpaint_pipeline.h"
#include "common/ripmask.h"

GST_DEBUG_CATEGORY_STATIC(sdinpaint_debug);
#define GST_CAT_DEFAULT sdinpaint_debug

#define DEFAULT_STEPS 50
#define DEFAULT_GUIDANCE 7.5
#define DEFAULT_STRENGTH 1.0
#define DEFAULT_SEED 0
#define DEFAULT_DEVICE "cpu"
#define DEFAULT_SCHEDULER GST_RIP_SD_SCHEDULER_MODEL
#define DEFAULT_DTYPE GST_RIP_SD_DTYPE_FP32
#define DEFAULT_PASTE_BACK TRUE
#define DEFAULT_THREADS 0
#define DEFAULT_MAX_BATCH 1

enum {
  PROP_0,
  PROP_MODEL,
  PROP_PROMPT,
  PROP_NEGATIVE_PROMPT,
  PROP_STEPS,
  PROP_GUIDANCE_SCALE,
  PROP_STRENGTH,
  PROP_SCHEDULER,
  PROP_SEED,
  PROP_DEVICE,
  PROP_DTYPE,
  PROP_PASTE_BACK,
  PROP_THREADS,
  PROP_CONFIG,
  PROP_TOKENIZER,
  PROP_PREDICTION_TYPE,
  PROP_MAX_BATCH,
  PROP_BATCHES,
};

namespace {

struct Settings {
  std::string model;
  std::string config;     // single files: a diffusers folder for the configs
  std::string tokenizer;  // single files: the tokenizer folder
  GstRipSdPredictionType prediction_type = GST_RIP_SD_PREDICTION_MODEL;
  rip::sd::InpaintSettings inpaint;  // inpaint.scheduler follows scheduler
  GstRipSdScheduler scheduler = DEFAULT_SCHEDULER;
  std::string device = DEFAULT_DEVICE;
  GstRipSdDtype dtype = DEFAULT_DTYPE;
  guint threads = DEFAULT_THREADS;
};

struct State {
  Settings settings;
  std::shared_ptr<rip::sd::InpaintPipeline> pipeline;
  guint64 inpainted = 0;
};

}  // namespace

struct _GstSdInpaint {
  GstVideoFilter parent;

  /* < private > */
  Settings* settings;  // guarded by the object lock
  State* state;        // start .. stop
  gint cancelled;      // atomic: stop the inpaint in progress
};

#define gst_sd_inpaint_parent_class parent_class
G_DEFINE_TYPE(GstSdInpaint, gst_sd_inpaint, GST_TYPE_VIDEO_FILTER);
GST_ELEMENT_REGISTER_DEFINE(sdinpaint, "sdinpaint", GST_RANK_NONE, GST_TYPE_SD_INPAINT);

#define CAPS GST_VIDEO_CAPS_MAKE("RGB")
static GstStaticPadTemplate sink_template =
    GST_STATIC_PAD_TEMPLATE("sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS(CAPS));
static GstStaticPadTemplate src_template =
    GST_STATIC_PAD_TEMPLATE("src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS(CAPS));

static void gst_sd_inpaint_set_property(
    GObject* object, guint prop_id, const GValue* value, GParamSpec* pspec) {
  GstSdInpaint* self = GST_SD_INPAINT(object);
  GST_OBJECT_LOCK(self);
  Settings& s = *self->settings;
  switch (prop_id) {
    case PROP_MODEL: s.model = rip_value_string(value); break;
    case PROP_PROMPT: s.inpaint.prompt = rip_value_string(value); break;
    case PROP_NEGATIVE_PROMPT: s.inpaint.negative_prompt = rip_value_string(value); break;
    case PROP_STEPS: s.inpaint.steps = (int) g_value_get_uint(value); break;
    case PROP_GUIDANCE_SCALE: s.inpaint.guidance_scale = g_value_get_double(value); break;
    case PROP_STRENGTH: s.inpaint.strength = g_value_get_double(value); break;
    case PROP_SCHEDULER:
      s.scheduler = static_cast<GstRipSdScheduler>(g_value_get_enum(value));
      s.inpaint.scheduler = rip_sd_scheduler_name(s.scheduler);
      break;
    case PROP_SEED: s.inpaint.seed = g_value_get_uint64(value); break;
    case PROP_DEVICE: s.device = rip_value_string(value); break;
    case PROP_DTYPE: s.dtype = static_cast<GstRipSdDtype>(g_value_get_enum(value)); break;
    case PROP_PASTE_BACK: s.inpaint.paste_back = g_value_get_boolean(value); break;
    case PROP_THREADS: s.threads = g_value_get_uint(value); break;
    case PROP_CONFIG: s.config = rip_value_string(value); break;
    case PROP_TOKENIZER: s.tokenizer = rip_value_string(value); break;
    case PROP_PREDICTION_TYPE:
      s.prediction_type = static_cast<GstRipSdPredictionType>(g_value_get_enum(value));
      break;
    case PROP_MAX_BATCH: s.inpaint.max_batch = (int) g_value_get_uint(value); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec); break;
  }
  GST_OBJECT_UNLOCK(self);
}

// "unet: 3 x 12, 2 x 4; vae-encode: ..." (loops per batch x batches, the
// largest batches first), over every element sharing the model.
static std::string batches_text(const rip::sd::InpaintPipeline& pipeline) {
  std::string text;
  for (const auto& [kind, counts] : pipeline.batch_counts()) {
    text += (text.empty() ? "" : "; ") + kind + ":";
    const char* sep = " ";
    for (auto it = counts.rbegin(); it != counts.rend(); ++it, sep = ", ")
      text += sep + std::to_string(it->first) + " x " + std::to_string(it->second);
  }
  return text;
}

static void gst_sd_inpaint_get_property(
    GObject* object, guint prop_id, GValue* value, GParamSpec* pspec) {
  GstSdInpaint* self = GST_SD_INPAINT(object);
  GST_OBJECT_LOCK(self);
  const Settings& s = *self->settings;
  switch (prop_id) {
    case PROP_MODEL: g_value_set_string(value, rip_string_or_null(s.model)); break;
    case PROP_PROMPT: g_value_set_string(value, s.inpaint.prompt.c_str()); break;
    case PROP_NEGATIVE_PROMPT: g_value_set_string(value, s.inpaint.negative_prompt.c_str()); break;
    case PROP_STEPS: g_value_set_uint(value, (guint) s.inpaint.steps); break;
    case PROP_GUIDANCE_SCALE: g_value_set_double(value, s.inpaint.guidance_scale); break;
    case PROP_STRENGTH: g_value_set_double(value, s.inpaint.strength); break;
    case PROP_SCHEDULER: g_value_set_enum(value, s.scheduler); break;
    case PROP_SEED: g_value_set_uint64(value, s.inpaint.seed); break;
    case PROP_DEVICE: g_value_set_string(value, s.device.c_str()); break;
    case PROP_DTYPE: g_value_set_enum(value, s.dtype); break;
    case PROP_PASTE_BACK: g_value_set_boolean(value, s.inpaint.paste_back); break;
    case PROP_THREADS: g_value_set_uint(value, s.threads); break;
    case PROP_CONFIG: g_value_set_string(value, rip_string_or_null(s.config)); break;
    case PROP_TOKENIZER: g_value_set_string(value, rip_string_or_null(s.tokenizer)); break;
    case PROP_PREDICTION_TYPE: g_value_set_enum(value, s.prediction_type); break;
    case PROP_MAX_BATCH: g_value_set_uint(value, (guint) s.inpaint.max_batch); break;
    case PROP_BATCHES:
      g_value_set_string(value,
          self->state && self->state->pipeline ? batches_text(*self->state->pipeline).c_str() : "");
      break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec); break;
  }
  GST_OBJECT_UNLOCK(self);
}

static gboolean gst_sd_inpaint_start(GstBaseTransform* trans) {
  GstSdInpaint* self = GST_SD_INPAINT(trans);
  auto state = std::make_unique<State>();
  GST_OBJECT_LOCK(self);
  state->settings = *self->settings;
  GST_OBJECT_UNLOCK(self);
  const Settings& s = state->settings;

  rip::sd::PipelineOptions options;
  options.model_dir = s.model;
  options.config_dir = s.config;
  options.tokenizer_dir = s.tokenizer;
  options.prediction_type = rip_sd_prediction_type_name(s.prediction_type);
  options.device = s.device;
  options.dtype = gst_rip_enum_nick(GST_TYPE_RIP_SD_DTYPE, s.dtype);
  // A UNet step frees and reallocates hundreds of MB: keep them in the
  // process instead of faulting them in again every step (rip/memory.h).
  rip::keep_freed_memory();
  const int threads = rip::sd::set_compute_threads(static_cast<int>(s.threads));
  try {
    GST_INFO_OBJECT(
        self, "loading %s (%s, %s)", s.model.c_str(), s.device.c_str(), options.dtype.c_str());
    state->pipeline = rip::sd::InpaintPipeline::load(options);
  } catch (const std::exception& e) {
    GST_ELEMENT_ERROR(self, RESOURCE, OPEN_READ, ("sdinpaint cannot load its model: %s", e.what()),
        ("model=%s device=%s dtype=%s", s.model.c_str(), s.device.c_str(), options.dtype.c_str()));
    return FALSE;
  }
  const char* blas = rip::blas_name(rip::loaded_blas());
  GST_INFO_OBJECT(self, "BLAS: %s, %d threads", blas, threads);
  // Once per process (the first element to load): a slow BLAS set-up costs
  // every frame, and the user can fix it (rip/blas_threading.h says why).
  static const bool blas_checked = [&] {
    const std::string advice = rip::blas_advice();
    if (!advice.empty())
      GST_ELEMENT_WARNING(self, RESOURCE, SETTINGS,
          ("sdinpaint will run slower than it can: %s", advice.c_str()),
          ("BLAS: %s, %d threads", blas, threads));
    return true;
  }();
  (void) blas_checked;
  GST_OBJECT_LOCK(self);  // the batches property reads it
  delete self->state;
  self->state = state.release();
  GST_OBJECT_UNLOCK(self);
  return TRUE;
}

static gboolean gst_sd_inpaint_stop(GstBaseTransform* trans) {
  GstSdInpaint* self = GST_SD_INPAINT(trans);
  GST_OBJECT_LOCK(self);
  delete self->state;
  self->state = nullptr;
  GST_OBJECT_UNLOCK(self);
  return TRUE;
}

static gboolean gst_sd_inpaint_set_info(
    GstVideoFilter* filter, GstCaps*, GstVideoInfo* in_info, GstCaps*, GstVideoInfo*) {
  GstSdInpaint* self = GST_SD_INPAINT(filter);
  const int w = GST_VIDEO_INFO_WIDTH(in_info);
  const int h = GST_VIDEO_INFO_HEIGHT(in_info);
  if (w % 8 != 0 || h % 8 != 0) {
    GST_ELEMENT_ERROR(self, STREAM, FORMAT,
        ("sdinpaint needs frame sides that are multiples of 8, got %dx%d", w, h),
        ("set feedbacksrc width/height (e.g. 512x512) or add "
         "videoscale before masksampler"));
    return FALSE;
  }
  return TRUE;
}

static GstFlowReturn gst_sd_inpaint_transform_frame_ip(
    GstVideoFilter* filter, GstVideoFrame* frame) {
  GstSdInpaint* self = GST_SD_INPAINT(filter);
  State& st = *self->state;
  const int w = GST_VIDEO_FRAME_WIDTH(frame);
  const int h = GST_VIDEO_FRAME_HEIGHT(frame);
  auto mask = rip_mask_read(frame->buffer, w, h);
  if (!mask) return GST_FLOW_OK;

  rip::sd::InpaintSettings settings = st.settings.inpaint;
  settings.seed = st.settings.inpaint.seed + st.inpainted;
  const guint64 index = st.inpainted++;
  try {
    cv::Mat image = frame_as_mat(frame);
    cv::Mat input = image.clone();
    auto progress = [self, index](int step, int steps) {
      gst_element_post_message(GST_ELEMENT(self),
          gst_message_new_element(GST_OBJECT(self),
              gst_structure_new("sdinpaint-progress", "frame", G_TYPE_UINT64, index, "step",
                  G_TYPE_INT, step, "steps", G_TYPE_INT, steps, NULL)));
    };
    settings.cancelled = [self] { return g_atomic_int_get(&self->cancelled) != 0; };
    cv::Mat out = st.pipeline->inpaint(input, mask->to_image(w, h), settings, progress);
    out.copyTo(image);
  } catch (const rip::sd::InpaintCancelled&) {
    GST_DEBUG_OBJECT(self, "inpaint of frame %" G_GUINT64_FORMAT " cancelled", index);
    return GST_FLOW_FLUSHING;
  } catch (const std::exception& e) {
    GST_ELEMENT_ERROR(self, STREAM, FAILED, ("sdinpaint failed: %s", e.what()), (NULL));
    return GST_FLOW_ERROR;
  }
  return GST_FLOW_OK;
}

// Set before the pads deactivate (which waits for the streaming thread),
// cleared when the element may stream again.
static GstStateChangeReturn gst_sd_inpaint_change_state(
    GstElement* element, GstStateChange transition) {
  GstSdInpaint* self = GST_SD_INPAINT(element);
  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY) g_atomic_int_set(&self->cancelled, 1);
  if (transition == GST_STATE_CHANGE_READY_TO_PAUSED) g_atomic_int_set(&self->cancelled, 0);
  return GST_ELEMENT_CLASS(parent_class)->change_state(element, transition);
}

// FLUSH_START arrives outside the streaming thread, while it may be in the
// middle of an inpaint; FLUSH_STOP comes after it has left.
static gboolean gst_sd_inpaint_sink_event(GstBaseTransform* trans, GstEvent* event) {
  GstSdInpaint* self = GST_SD_INPAINT(trans);
  if (GST_EVENT_TYPE(event) == GST_EVENT_FLUSH_START) g_atomic_int_set(&self->cancelled, 1);
  if (GST_EVENT_TYPE(event) == GST_EVENT_FLUSH_STOP) g_atomic_int_set(&self->cancelled, 0);
  return GST_BASE_TRANSFORM_CLASS(parent_class)->sink_event(trans, event);
}

static void gst_sd_inpaint_finalize(GObject* object) {
  GstSdInpaint* self = GST_SD_INPAINT(object);
  delete self->state;
  delete self->settings;
  G_OBJECT_CLASS(parent_class)->finalize(object);
}

static void gst_sd_inpaint_class_init(GstSdInpaintClass* klass) {
  GObjectClass* gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass* element_class = GST_ELEMENT_CLASS(klass);
  GstBaseTransformClass* trans_class = GST_BASE_TRANSFORM_CLASS(klass);
  GstVideoFilterClass* filter_class = GST_VIDEO_FILTER_CLASS(klass);

  GST_DEBUG_CATEGORY_INIT(sdinpaint_debug, "sdinpaint", 0, "Stable Diffusion inpainting");

  gobject_class->set_property = gst_sd_inpaint_set_property;
  gobject_class->get_property = gst_sd_inpaint_get_property;
  gobject_class->finalize = gst_sd_inpaint_finalize;

  const GParamFlags rw =
      (GParamFlags) (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);
  g_object_class_install_property(gobject_class, PROP_MODEL,
      g_param_spec_string("model", "Model",
          "Diffusers model folder as downloaded (model_index.json, unet/, "
          "vae/, text_encoder/, tokenizer/, scheduler/), e.g. "
          "stable-diffusion-2-inpainting, or a single-file original checkpoint "
          "(512-inpainting-ema.safetensors, sd-v1-5-inpainting.ckpt)",
          NULL, rw));
  g_object_class_install_property(gobject_class, PROP_CONFIG,
      g_param_spec_string("config", "Config folder",
          "With a single-file model: a diffusers folder of the same architecture "
          "whose config.json files, tokenizer/ and scheduler/ are used (unset: "
          "inferred from the file, PNDM)",
          NULL, rw));
  g_object_class_install_property(gobject_class, PROP_TOKENIZER,
      g_param_spec_string("tokenizer", "Tokenizer folder",
          "With a single-file model, which holds no tokenizer: a folder with "
          "vocab.json and merges.txt, or a diffusers folder with tokenizer/ "
          "(unset: config's)",
          NULL, rw));
  g_object_class_install_property(gobject_class, PROP_PREDICTION_TYPE,
      g_param_spec_enum("prediction-type", "Prediction type",
          "What the UNet predicts, for files that cannot tell: model (the "
          "scheduler config's; epsilon for single files), epsilon, v-prediction, sample",
          GST_TYPE_RIP_SD_PREDICTION_TYPE, GST_RIP_SD_PREDICTION_MODEL, rw));
  gst_type_mark_as_plugin_api(GST_TYPE_RIP_SD_PREDICTION_TYPE, (GstPluginAPIFlags) 0);
  g_object_class_install_property(gobject_class, PROP_PROMPT,
      g_param_spec_string("prompt", "Prompt", "Text prompt (the reference study: empty)", "", rw));
  g_object_class_install_property(gobject_class, PROP_NEGATIVE_PROMPT,
      g_param_spec_string("negative-prompt", "Negative prompt",
          "Negative prompt for classifier-free guidance (empty = diffusers' "
          "default)",
          "", rw));
  g_object_class_install_property(gobject_class, PROP_STEPS,
      g_param_spec_uint("steps", "Steps",
          "Denoising steps (num_inference_steps; PNDM runs steps + 1 UNet "
          "calls)",
          1, 1000, DEFAULT_STEPS, rw));
  g_object_class_install_property(gobject_class, PROP_GUIDANCE_SCALE,
      g_param_spec_double("guidance-scale", "Guidance scale",
          "Classifier-free guidance scale; <= 1 turns guidance off", 0.0, 100.0, DEFAULT_GUIDANCE,
          rw));
  g_object_class_install_property(gobject_class, PROP_STRENGTH,
      g_param_spec_double("strength", "Strength",
          "How much of the masked area to re-noise (1.0 = from pure noise, "
          "diffusers' default)",
          0.0, 1.0, DEFAULT_STRENGTH, rw));
  g_object_class_install_property(gobject_class, PROP_SCHEDULER,
      g_param_spec_enum("scheduler", "Scheduler",
          "Scheduler: model = the model's scheduler_config.json (PNDM for "
          "SD2-inpainting), or pndm, ddim, euler-ancestral, dpm-solver++",
          GST_TYPE_RIP_SD_SCHEDULER, DEFAULT_SCHEDULER, rw));
  gst_type_mark_as_plugin_api(GST_TYPE_RIP_SD_SCHEDULER, (GstPluginAPIFlags) 0);
  g_object_class_install_property(gobject_class, PROP_SEED,
      g_param_spec_uint64("seed", "Seed",
          "Seed of the first inpainted frame; the n-th inpainted frame uses "
          "seed + n (torch.Generator().manual_seed)",
          0, G_MAXUINT64, DEFAULT_SEED, rw));
  g_object_class_install_property(gobject_class, PROP_DEVICE,
      g_param_spec_string("device", "Device",
          "Where to run: cpu, cuda or cuda:N (needs a CUDA libtorch)", DEFAULT_DEVICE, rw));
  g_object_class_install_property(gobject_class, PROP_DTYPE,
      g_param_spec_enum("dtype", "Data type",
          "Compute precision: fp32 (diffusers' default), fp16 (CUDA only) "
          "or bf16 (a GPU, or a CPU with AVX-512: other samples than fp32's, "
          "see docs/models.md)",
          GST_TYPE_RIP_SD_DTYPE, DEFAULT_DTYPE, rw));
  gst_type_mark_as_plugin_api(GST_TYPE_RIP_SD_DTYPE, (GstPluginAPIFlags) 0);
  g_object_class_install_property(gobject_class, PROP_PASTE_BACK,
      g_param_spec_boolean("paste-back", "Paste back",
          "Change only the masked pixels (the study); off = diffusers' raw "
          "output, where the VAE also touches unmasked pixels",
          DEFAULT_PASTE_BACK, rw));
  g_object_class_install_property(gobject_class, PROP_THREADS,
      g_param_spec_uint("threads", "Threads",
          "CPU threads for libtorch, set for the whole process when the model "
          "loads (READY to PAUSED); 0 = OMP_NUM_THREADS when set, else every "
          "CPU the process may use. Results differ in the last bits between "
          "thread counts",
          0, 1024, DEFAULT_THREADS, rw));
  g_object_class_install_property(gobject_class, PROP_MAX_BATCH,
      g_param_spec_uint("max-batch", "Max batch",
          "The most loops whose UNet calls (off the CPU also VAE calls) run as one batch: loops in "
          "this process that share the model wait for each other at each call "
          "and run it together (1 = this element's calls run alone). The "
          "images are the same either way",
          1, 64, DEFAULT_MAX_BATCH, rw));
  g_object_class_install_property(gobject_class, PROP_BATCHES,
      g_param_spec_string("batches", "Batches",
          "How the shared model's calls have run so far, over every element "
          "using it: per call, loops per batch x batches, e.g. "
          "\"unet: 3 x 12, 2 x 4; vae-decode: 3 x 1\" (empty before the model loads)",
          "", (GParamFlags) (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));

  gst_element_class_set_static_metadata(element_class, "Stable Diffusion inpainting",
      "Filter/Effect/Video",
      "Inpaints the pixels under the inpaint-mask region of interest with a "
      "Stable Diffusion inpainting model in libtorch, as diffusers' "
      "StableDiffusionInpaintPipeline does",
      "gst-rip developers");
  gst_element_class_add_static_pad_template(element_class, &sink_template);
  gst_element_class_add_static_pad_template(element_class, &src_template);

  element_class->change_state = GST_DEBUG_FUNCPTR(gst_sd_inpaint_change_state);
  trans_class->sink_event = GST_DEBUG_FUNCPTR(gst_sd_inpaint_sink_event);
  trans_class->start = GST_DEBUG_FUNCPTR(gst_sd_inpaint_start);
  trans_class->stop = GST_DEBUG_FUNCPTR(gst_sd_inpaint_stop);
  filter_class->set_info = GST_DEBUG_FUNCPTR(gst_sd_inpaint_set_info);
  filter_class->transform_frame_ip = GST_DEBUG_FUNCPTR(gst_sd_inpaint_transform_frame_ip);
}

static void gst_sd_inpaint_init(GstSdInpaint* self) {
  self->settings = new Settings();
  self->settings->inpaint.steps = DEFAULT_STEPS;
  self->settings->inpaint.guidance_scale = DEFAULT_GUIDANCE;
  self->settings->inpaint.strength = DEFAULT_STRENGTH;
  self->settings->inpaint.paste_back = DEFAULT_PASTE_BACK;
  self->settings->inpaint.max_batch = DEFAULT_MAX_BATCH;
  self->state = nullptr;
  self->cancelled = 0;
  gst_base_transform_set_qos_enabled(GST_BASE_TRANSFORM(self), FALSE);
}
