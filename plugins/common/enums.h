// SPDX-License-Identifier: LGPL-2.1-or-later
//
// GEnum types of the elements' fixed-choice properties, so gst-inspect lists
// the values and gst-launch refuses a typo when it parses the line. The nicks
// are lib/'s names (rip::fit_mode_name() ...), the ones the docs show
// (fit=pad, method=telea); the values are lib/'s enum values, so an element
// casts g_value_get_enum() straight to the lib type.
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

// rip::FitMode: pad, crop, stretch, none (feedbacksrc and lpipsmeter fit).
#define GST_TYPE_RIP_FIT_MODE (gst_rip_fit_mode_get_type())
GType gst_rip_fit_mode_get_type(void);

// rip::MaskMode: random, sweep, free, file (masksampler mode).
#define GST_TYPE_RIP_MASK_MODE (gst_rip_mask_mode_get_type())
GType gst_rip_mask_mode_get_type(void);

// rip::CvInpaintMethod: telea, ns, fsr-fast, fsr-best, shiftmap (cvinpaint).
#define GST_TYPE_RIP_CV_INPAINT_METHOD (gst_rip_cv_inpaint_method_get_type())
GType gst_rip_cv_inpaint_method_get_type(void);

// sdinpaint scheduler: model (the model's scheduler_config.json), pndm, ddim,
// euler-ancestral, dpm-solver++. The pipeline takes the name as a string;
// rip_sd_scheduler_name() gives it ("" for model).
typedef enum {
  GST_RIP_SD_SCHEDULER_MODEL,
  GST_RIP_SD_SCHEDULER_PNDM,
  GST_RIP_SD_SCHEDULER_DDIM,
  GST_RIP_SD_SCHEDULER_EULER_ANCESTRAL,
  GST_RIP_SD_SCHEDULER_DPM_SOLVER_PP,
} GstRipSdScheduler;
#define GST_TYPE_RIP_SD_SCHEDULER (gst_rip_sd_scheduler_get_type())
GType gst_rip_sd_scheduler_get_type(void);

// sdinpaint dtype: fp32, fp16, bf16 (the pipeline's names).
typedef enum {
  GST_RIP_SD_DTYPE_FP32,
  GST_RIP_SD_DTYPE_FP16,
  GST_RIP_SD_DTYPE_BF16,
} GstRipSdDtype;
#define GST_TYPE_RIP_SD_DTYPE (gst_rip_sd_dtype_get_type())
GType gst_rip_sd_dtype_get_type(void);

// sdinpaint prediction-type: model (the scheduler config's), epsilon,
// v-prediction, sample; rip_sd_prediction_type_name() gives the pipeline's
// name ("" for model, "v_prediction" for v-prediction).
typedef enum {
  GST_RIP_SD_PREDICTION_MODEL,
  GST_RIP_SD_PREDICTION_EPSILON,
  GST_RIP_SD_PREDICTION_V,
  GST_RIP_SD_PREDICTION_SAMPLE,
} GstRipSdPredictionType;
#define GST_TYPE_RIP_SD_PREDICTION_TYPE (gst_rip_sd_prediction_type_get_type())
GType gst_rip_sd_prediction_type_get_type(void);

// The nick of value in enum type (NULL when the value is not in it).
const gchar* gst_rip_enum_nick(GType type, gint value);

G_END_DECLS

// The scheduler name the sd pipeline takes: "" (the model's own) or a nick.
const char* rip_sd_scheduler_name(GstRipSdScheduler scheduler);
const char* rip_sd_prediction_type_name(GstRipSdPredictionType type);
