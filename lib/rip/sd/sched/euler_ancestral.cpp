// SPDX-License-Identifier: LGPL-2.1-or-later
#include "rip/sd/sched/euler_ancestral.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <cmath>

#include "rip/error.h"

namespace rip::sd {

EulerAncestralSettings EulerAncestralSettings::from_config(const SchedulerConfig& config) {
  sched::ConfigValues v(config, "EulerAncestralDiscreteScheduler");
  EulerAncestralSettings s;
  s.common = sched::CommonSettings::read(
      v, /*has_rescale_key=*/true, "linspace", {"epsilon", "v_prediction"});
  return s;
}

namespace {

// ((1 - alphas_cumprod) / alphas_cumprod) ** 0.5 in float32, as NumPy values.
std::vector<double> train_sigmas(const at::Tensor& alphas_cumprod) {
  return sched::to_doubles(at::pow(at::rsub(alphas_cumprod, 1) / alphas_cumprod, 0.5));
}

}  // namespace

EulerAncestralDiscreteScheduler::EulerAncestralDiscreteScheduler(
    const EulerAncestralSettings& settings)
    : settings_(settings) {
  c10::InferenceMode guard;
  schedule_ = sched::NoiseSchedule::make(settings_.common, name());
  // Zero terminal SNR would make the last sigma infinite; diffusers pins
  // alphas_cumprod[-1] to 2**-24 instead.
  if (settings_.common.rescale_betas_zero_snr)
    schedule_.alphas_cumprod[-1].fill_(std::ldexp(1.0, -24));
  // Before set_timesteps diffusers holds all training sigmas, reversed, + 0.
  std::vector<double> s = train_sigmas(schedule_.alphas_cumprod);
  std::reverse(s.begin(), s.end());
  s.push_back(0.0);
  sigmas_ = sched::float32_tensor(s);
}

double EulerAncestralDiscreteScheduler::init_noise_sigma() const {
  c10::InferenceMode guard;
  at::Tensor max = sigmas_.max();
  const std::string& spacing = settings_.common.timestep_spacing;
  if (spacing == "linspace" || spacing == "trailing") return max.item<double>();
  return at::pow(at::pow(max, 2) + 1, 0.5).item<double>();
}

void EulerAncestralDiscreteScheduler::set_timesteps(int64_t n) {
  c10::InferenceMode guard;
  const int64_t T = settings_.common.num_train_timesteps;
  sched::check_num_inference_steps(name(), n, T);
  // Timesteps as float32 NumPy values (float64 maths, then astype).
  std::vector<double> ts;
  if (settings_.common.timestep_spacing == "linspace") {
    for (double x : sched::np_linspace(0, static_cast<double>(T - 1), n))
      ts.push_back(static_cast<float>(x));
    std::reverse(ts.begin(), ts.end());
  } else if (settings_.common.timestep_spacing == "leading") {
    const int64_t ratio = T / n;
    for (int64_t i = n - 1; i >= 0; --i)
      ts.push_back(static_cast<float>(
          static_cast<float>(i * ratio) + static_cast<float>(settings_.common.steps_offset)));
  } else {  // trailing
    const double ratio = static_cast<double>(T) / static_cast<double>(n);
    for (double x : sched::np_arange(static_cast<double>(T), 0, -ratio))
      ts.push_back(static_cast<float>(static_cast<float>(sched::np_round(x)) - 1.0f));
  }
  // np.interp over the training sigmas at the (float32) timesteps, in
  // float64, then a final 0 and float32.
  std::vector<double> train = train_sigmas(schedule_.alphas_cumprod);
  std::vector<double> xp(train.size());
  for (size_t i = 0; i < xp.size(); ++i) xp[i] = static_cast<double>(i);
  std::vector<double> s = sched::np_interp(ts, xp, train);
  s.push_back(0.0);
  sigmas_ = sched::float32_tensor(s);
  timesteps_ = sched::float32_tensor(ts);
  timesteps_set_ = true;
  step_index_ = -1;
  begin_index_ = -1;
}

void EulerAncestralDiscreteScheduler::set_begin_index(int64_t begin_index) {
  begin_index_ = begin_index;
}

void EulerAncestralDiscreteScheduler::init_step_index(const at::Tensor& timestep) {
  if (!timesteps_set_)
    throw rip::Error(name() + ": used before set_timesteps(); call set_timesteps first");
  if (begin_index_ >= 0) {
    step_index_ = begin_index_;
    return;
  }
  step_index_ = sched::index_for_timestep(timesteps_, timestep, -1);
  if (step_index_ < 0)
    throw rip::Error(name() + ": timestep " + std::to_string(timestep.item<double>()) +
        " is not one of timesteps()");
}

at::Tensor EulerAncestralDiscreteScheduler::scale_model_input(
    const at::Tensor& sample, const at::Tensor& timestep) {
  c10::InferenceMode guard;
  if (step_index_ < 0) init_step_index(timestep);
  if (step_index_ >= sigmas_.size(0))
    throw rip::Error(name() + ": more steps than timesteps; call set_timesteps before a new run");
  at::Tensor sigma = sigmas_[step_index_];
  return sample / at::pow(at::pow(sigma, 2) + 1, 0.5);
}

StepOutput EulerAncestralDiscreteScheduler::step(const at::Tensor& model_output,
    const at::Tensor& timestep, const at::Tensor& sample,
    const c10::optional<at::Generator>& generator, double) {
  c10::InferenceMode guard;
  if (!timestep.defined() || timestep.numel() != 1 || !timestep.is_floating_point())
    throw rip::Error(name() +
        ": step() takes one of timesteps() (a float timestep), not an "
        "integer index");
  if (step_index_ < 0) init_step_index(timestep);
  if (step_index_ + 1 >= sigmas_.size(0))
    throw rip::Error(name() + ": more steps than timesteps; call set_timesteps before a new run");

  at::Tensor sigma = sigmas_[step_index_];
  at::Tensor x = sample.to(at::kFloat);
  at::Tensor pred_original_sample;
  if (settings_.common.prediction_type == "epsilon") {
    pred_original_sample = x - sigma * model_output;
  } else {  // v_prediction
    pred_original_sample = model_output * (-sigma / at::pow(at::pow(sigma, 2) + 1, 0.5)) +
        (x / (at::pow(sigma, 2) + 1));
  }
  at::Tensor sigma_from = sigmas_[step_index_];
  at::Tensor sigma_to = sigmas_[step_index_ + 1];
  at::Tensor sigma_up = at::pow(at::pow(sigma_to, 2) *
          (at::pow(sigma_from, 2) - at::pow(sigma_to, 2)) / at::pow(sigma_from, 2),
      0.5);
  at::Tensor sigma_down = at::pow(at::pow(sigma_to, 2) - at::pow(sigma_up, 2), 0.5);
  at::Tensor derivative = (x - pred_original_sample) / sigma;
  at::Tensor dt = sigma_down - sigma;
  at::Tensor prev_sample = x + derivative * dt;
  at::Tensor noise = randn_tensor(
      model_output.sizes(), generator, model_output.device(), model_output.scalar_type());
  prev_sample = (prev_sample + noise * sigma_up).to(model_output.scalar_type());
  ++step_index_;
  return {prev_sample, pred_original_sample};
}

at::Tensor EulerAncestralDiscreteScheduler::add_noise(
    const at::Tensor& original_samples, const at::Tensor& noise, const at::Tensor& timesteps) {
  c10::InferenceMode guard;
  if (!timesteps_set_)
    throw rip::Error(name() + ": add_noise() before set_timesteps(); call set_timesteps first");
  at::Tensor sigma = sched::add_noise_sigmas(sigmas_, timesteps_, timesteps, step_index_,
      begin_index_, /*no_match=*/-1, original_samples, name());
  return original_samples + noise * sigma;
}

}  // namespace rip::sd
