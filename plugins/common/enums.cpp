// SPDX-License-Identifier: LGPL-2.1-or-later
#include "enums.h"

#include "rip/core/image_fit.h"
#include "rip/core/inpaint_cv.h"
#include "rip/core/mask.h"

namespace {

// Registers name once per process. Both plugins link this file, so a type
// may already exist when the other plugin registered it first.
GType register_enum(const char* name, const GEnumValue* values) {
  GType type = g_type_from_name(name);
  return type ? type : g_enum_register_static(name, values);
}

// One GEnumValue per lib enum value (0 .. N-1), nicks from lib's name
// function. The tables live for the process (GLib keeps pointers to them).
template <typename E, size_t N>
GType lib_enum_type(
    const char* type_name, const char* const (&descriptions)[N], const char* (*nick)(E)) {
  static GEnumValue values[N + 1];
  for (size_t i = 0; i < N; i++)
    values[i] = {static_cast<gint>(i), descriptions[i], nick(static_cast<E>(i))};
  values[N] = {0, nullptr, nullptr};
  return register_enum(type_name, values);
}

// The type `make` registers, made on the first call (thread-safe).
template <typename Make>
GType once(gsize& type, Make make) {
  if (g_once_init_enter(&type)) g_once_init_leave(&type, make());
  return type;
}

}  // namespace

GType gst_rip_fit_mode_get_type(void) {
  static gsize type = 0;
  return once(type, [] {
    static const char* const descriptions[] = {
        "Keep the aspect, scale to fit, centre on black bands (the study)",
        "Keep the aspect, scale to cover, cut the overhang (centre crop)",
        "Scale each axis independently",
        "Keep the image as it is (width/height must match or be 0)"};
    static_assert(static_cast<int>(rip::FitMode::None) == 3, "table follows rip::FitMode");
    return lib_enum_type<rip::FitMode>("GstRipFitMode", descriptions, rip::fit_mode_name);
  });
}

GType gst_rip_mask_mode_get_type(void) {
  static gsize type = 0;
  return once(type, [] {
    static const char* const descriptions[] = {
        "One grid cell, uniform, with replacement (the reference study)",
        "Every grid cell once per pass, each pass in a new random order",
        "A size x size square anywhere", "The image at mask-location, every iteration"};
    static_assert(static_cast<int>(rip::MaskMode::File) == 3, "table follows rip::MaskMode");
    return lib_enum_type<rip::MaskMode>("GstRipMaskMode", descriptions, rip::mask_mode_name);
  });
}

GType gst_rip_cv_inpaint_method_get_type(void) {
  static gsize type = 0;
  return once(type, [] {
    static const char* const descriptions[] = {"OpenCV Telea (fast marching)",
        "OpenCV Navier-Stokes", "OpenCV xphoto FSR, fast", "OpenCV xphoto FSR, best (slow)",
        "OpenCV xphoto shift-map (colour frames only)"};
    static_assert(static_cast<int>(rip::CvInpaintMethod::ShiftMap) == 4,
        "table follows rip::CvInpaintMethod");
    return lib_enum_type<rip::CvInpaintMethod>(
        "GstRipCvInpaintMethod", descriptions, rip::cv_inpaint_method_name);
  });
}

GType gst_rip_sd_scheduler_get_type(void) {
  static gsize type = 0;
  return once(type, [] {
    static const GEnumValue values[] = {
        {GST_RIP_SD_SCHEDULER_MODEL, "The model's scheduler_config.json (PNDM for SD2-inpainting)",
            "model"},
        {GST_RIP_SD_SCHEDULER_PNDM, "PNDM (PLMS, skip_prk_steps)", "pndm"},
        {GST_RIP_SD_SCHEDULER_DDIM, "DDIM", "ddim"},
        {GST_RIP_SD_SCHEDULER_EULER_ANCESTRAL, "Euler ancestral", "euler-ancestral"},
        {GST_RIP_SD_SCHEDULER_DPM_SOLVER_PP, "DPM-Solver++ 2M", "dpm-solver++"},
        {0, nullptr, nullptr},
    };
    return register_enum("GstRipSdScheduler", values);
  });
}

GType gst_rip_sd_dtype_get_type(void) {
  static gsize type = 0;
  return once(type, [] {
    static const GEnumValue values[] = {
        {GST_RIP_SD_DTYPE_FP32, "float32 (diffusers' default)", "fp32"},
        {GST_RIP_SD_DTYPE_FP16, "float16 (CUDA only)", "fp16"},
        {GST_RIP_SD_DTYPE_BF16, "bfloat16", "bf16"},
        {0, nullptr, nullptr},
    };
    return register_enum("GstRipSdDtype", values);
  });
}

GType gst_rip_sd_prediction_type_get_type(void) {
  static gsize type = 0;
  return once(type, [] {
    static const GEnumValue values[] = {
        {GST_RIP_SD_PREDICTION_MODEL, "The scheduler config's prediction_type", "model"},
        {GST_RIP_SD_PREDICTION_EPSILON, "The noise (SD 1.x, SD 2 inpainting)", "epsilon"},
        {GST_RIP_SD_PREDICTION_V, "The velocity (SD 2 768-v models)", "v-prediction"},
        {GST_RIP_SD_PREDICTION_SAMPLE, "The denoised sample", "sample"},
        {0, nullptr, nullptr},
    };
    return register_enum("GstRipSdPredictionType", values);
  });
}

const gchar* gst_rip_enum_nick(GType type, gint value) {
  GEnumClass* klass = static_cast<GEnumClass*>(g_type_class_ref(type));
  const GEnumValue* v = g_enum_get_value(klass, value);
  const gchar* nick = v ? v->value_nick : nullptr;
  g_type_class_unref(klass);  // registered static types keep their class
  return nick;
}

const char* rip_sd_prediction_type_name(GstRipSdPredictionType type) {
  switch (type) {
    case GST_RIP_SD_PREDICTION_MODEL: return "";
    case GST_RIP_SD_PREDICTION_EPSILON: return "epsilon";
    case GST_RIP_SD_PREDICTION_V: return "v_prediction";
    case GST_RIP_SD_PREDICTION_SAMPLE: return "sample";
  }
  return "";
}

const char* rip_sd_scheduler_name(GstRipSdScheduler scheduler) {
  if (scheduler == GST_RIP_SD_SCHEDULER_MODEL) return "";
  const gchar* nick = gst_rip_enum_nick(GST_TYPE_RIP_SD_SCHEDULER, scheduler);
  return nick ? nick : "";
}
