// SPDX-License-Identifier: LGPL-2.1-or-later
#include "rip/sd/sched/ddim.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>

#include "rip/error.h"

namespace rip::sd {

DDIMSettings DDIMSettings::from_config(const SchedulerConfig& config) {
  sched::ConfigValues v(config, "DDIMScheduler");
  DDIMSettings s;
  s.common = sched::CommonSettings::read(
      v, /*has_rescale_key=*/true, "leading", {"epsilon", "sample", "v_prediction"});
  s.clip_sample = v.get_bool("clip_sample", s.clip_sample);
  s.clip_sample_range = v.get_double("clip_sample_range", s.clip_sample_range);
  s.set_alpha_to_one = v.get_bool("set_alpha_to_one", s.set_alpha_to_one);
  sched::reject_thresholding(v);
  return s;
}

DDIMScheduler::DDIMScheduler(const DDIMSettings& settings) : settings_(settings) {
  c10::InferenceMode guard;
  schedule_ = sched::NoiseSchedule::make(settings_.common, name());
  final_alpha_cumprod_ = sched::final_alpha_cumprod(schedule_, settings_.set_alpha_to_one);
}

void DDIMScheduler::set_timesteps(int64_t n) {
  c10::InferenceMode guard;
  sched::check_num_inference_steps(name(), n, settings_.common.num_train_timesteps);
  num_inference_steps_ = n;
  timesteps_ = sched::int64_tensor(sched::ddim_timesteps(settings_.common, n));
}

StepOutput DDIMScheduler::step(const at::Tensor& model_output, const at::Tensor& timestep,
    const at::Tensor& sample, const c10::optional<at::Generator>& generator, double eta) {
  c10::InferenceMode guard;
  if (num_inference_steps_ == 0)
    throw rip::Error("DDIMScheduler: step() before set_timesteps(); call set_timesteps first");
  if (!timestep.defined() || timestep.numel() != 1 || timestep.is_floating_point())
    throw rip::Error("DDIMScheduler: step() takes one integer timestep from timesteps()");
  const int64_t T = settings_.common.num_train_timesteps;
  const int64_t t = timestep.item<int64_t>();
  const int64_t prev_t = t - T / num_inference_steps_;
  if (t < 0 || t >= T)
    throw rip::Error(
        "DDIMScheduler: timestep " + std::to_string(t) + " is outside 0.." + std::to_string(T - 1));

  // The scalars are 0-dim float32 CPU tensors and every expression keeps
  // diffusers' evaluation order (DDIM paper formulas (12) and (16)).
  const at::Tensor& ac = schedule_.alphas_cumprod;
  at::Tensor alpha_prod_t = ac[t];
  at::Tensor alpha_prod_t_prev = prev_t >= 0 ? ac[prev_t] : final_alpha_cumprod_;
  at::Tensor beta_prod_t = at::rsub(alpha_prod_t, 1);

  at::Tensor pred_original_sample, pred_epsilon;
  const std::string& prediction_type = settings_.common.prediction_type;
  if (prediction_type == "epsilon") {
    pred_original_sample =
        (sample - at::pow(beta_prod_t, 0.5) * model_output) / at::pow(alpha_prod_t, 0.5);
    pred_epsilon = model_output;
  } else if (prediction_type == "sample") {
    pred_original_sample = model_output;
    pred_epsilon =
        (sample - at::pow(alpha_prod_t, 0.5) * pred_original_sample) / at::pow(beta_prod_t, 0.5);
  } else {  // v_prediction
    pred_original_sample =
        at::pow(alpha_prod_t, 0.5) * sample - at::pow(beta_prod_t, 0.5) * model_output;
    pred_epsilon = at::pow(alpha_prod_t, 0.5) * model_output + at::pow(beta_prod_t, 0.5) * sample;
  }
  if (settings_.clip_sample)
    pred_original_sample =
        pred_original_sample.clamp(-settings_.clip_sample_range, settings_.clip_sample_range);

  // _get_variance
  at::Tensor beta_prod_t_prev = at::rsub(alpha_prod_t_prev, 1);
  at::Tensor variance =
      (beta_prod_t_prev / beta_prod_t) * at::rsub(alpha_prod_t / alpha_prod_t_prev, 1);
  at::Tensor std_dev_t = at::mul(at::pow(variance, 0.5), eta);

  at::Tensor pred_sample_direction =
      at::pow(at::rsub(alpha_prod_t_prev, 1) - at::pow(std_dev_t, 2), 0.5) * pred_epsilon;
  at::Tensor prev_sample =
      at::pow(alpha_prod_t_prev, 0.5) * pred_original_sample + pred_sample_direction;
  if (eta > 0) {
    at::Tensor variance_noise = randn_tensor(
        model_output.sizes(), generator, model_output.device(), model_output.scalar_type());
    prev_sample = prev_sample + std_dev_t * variance_noise;
  }
  return {prev_sample, pred_original_sample};
}

at::Tensor DDIMScheduler::add_noise(
    const at::Tensor& original_samples, const at::Tensor& noise, const at::Tensor& timesteps) {
  c10::InferenceMode guard;
  return sched::ddpm_add_noise(schedule_.alphas_cumprod, original_samples, noise, timesteps);
}

}  // namespace rip::sd
