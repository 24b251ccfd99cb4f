// SPDX-License-Identifier: LGPL-2.1-or-later
#include "rip/sd/sched/dpm_solver_multistep.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <cmath>

#include "rip/error.h"

namespace rip::sd {

DPMSolverSettings DPMSolverSettings::from_config(const SchedulerConfig& config) {
  sched::ConfigValues v(config, "DPMSolverMultistepScheduler");
  DPMSolverSettings s;
  s.common = sched::CommonSettings::read(
      v, /*has_rescale_key=*/true, "linspace", {"epsilon", "sample", "v_prediction"});
  s.solver_order = v.get_int("solver_order", s.solver_order);
  s.algorithm_type = v.get_string("algorithm_type", s.algorithm_type);
  s.solver_type = v.get_string("solver_type", s.solver_type);
  s.lower_order_final = v.get_bool("lower_order_final", s.lower_order_final);
  s.euler_at_final = v.get_bool("euler_at_final", s.euler_at_final);
  s.final_sigmas_type = v.get_string("final_sigmas_type", s.final_sigmas_type);
  s.lambda_min_clipped = v.get_double("lambda_min_clipped", s.lambda_min_clipped);

  // diffusers maps these legacy names (from DEIS / UniPC configs) itself,
  // but still refuses "deis" with final_sigmas_type "zero".
  if (s.algorithm_type == "deis") {
    if (s.final_sigmas_type == "zero")
      v.unsupported("algorithm_type", "\"deis\"",
          "diffusers refuses it with final_sigmas_type \"zero\"; use \"sigma_min\"");
    s.algorithm_type = "dpmsolver++";
  }
  if (s.solver_type == "logrho" || s.solver_type == "bh1" || s.solver_type == "bh2")
    s.solver_type = "midpoint";

  if (s.algorithm_type == "dpmsolver" || s.algorithm_type == "sde-dpmsolver" ||
      s.algorithm_type == "sde-dpmsolver++")
    v.unsupported("algorithm_type", "\"" + s.algorithm_type + "\"",
        "only \"dpmsolver++\" is implemented in this port");
  sched::check_choice(v, "algorithm_type", s.algorithm_type, {"dpmsolver++"});
  sched::check_choice(v, "solver_type", s.solver_type, {"midpoint", "heun"});
  if (s.solver_order != 1 && s.solver_order != 2)
    v.unsupported("solver_order", std::to_string(s.solver_order),
        "only orders 1 and 2 are implemented in this port (2 is the default)");
  sched::check_choice(v, "final_sigmas_type", s.final_sigmas_type, {"zero", "sigma_min"});
  sched::reject_thresholding(v);
  for (const char* key :
      {"use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas", "use_lu_lambdas"})
    if (v.get_bool(key, false))
      v.unsupported(key, "true", "only the default noise levels are implemented in this port");
  const auto variance_type = v.get_optional_string("variance_type");
  if (variance_type && (*variance_type == "learned" || *variance_type == "learned_range"))
    v.unsupported("variance_type", "\"" + *variance_type + "\"",
        "models that predict their variance are not supported");
  return s;
}

namespace {

// _sigma_to_alpha_sigma_t: alpha_t = 1 / (sigma**2 + 1) ** 0.5 (Python's
// `1 / tensor` is tensor.reciprocal() * 1), sigma_t = sigma * alpha_t.
std::pair<at::Tensor, at::Tensor> alpha_sigma(const at::Tensor& sigma) {
  at::Tensor alpha_t = at::mul(at::reciprocal(at::pow(at::pow(sigma, 2) + 1, 0.5)), 1);
  return {alpha_t, sigma * alpha_t};
}

at::Tensor lambda_of(const std::pair<at::Tensor, at::Tensor>& as) {
  return at::log(as.first) - at::log(as.second);
}

}  // namespace

DPMSolverMultistepScheduler::DPMSolverMultistepScheduler(const DPMSolverSettings& settings)
    : settings_(settings) {
  c10::InferenceMode guard;
  schedule_ = sched::NoiseSchedule::make(settings_.common, name());
  if (settings_.common.rescale_betas_zero_snr)
    schedule_.alphas_cumprod[-1].fill_(std::ldexp(1.0, -24));
  const at::Tensor& ac = schedule_.alphas_cumprod;
  lambda_t_ = at::log(at::sqrt(ac)) - at::log(at::sqrt(at::rsub(ac, 1)));
  sigmas_ = at::pow(at::rsub(ac, 1) / ac, 0.5);
  model_outputs_.resize(static_cast<size_t>(settings_.solver_order));
}

void DPMSolverMultistepScheduler::set_timesteps(int64_t n) {
  c10::InferenceMode guard;
  const sched::CommonSettings& common = settings_.common;
  const int64_t T = common.num_train_timesteps;
  sched::check_num_inference_steps(name(), n, T);
  const at::Tensor& ac = schedule_.alphas_cumprod;
  const int64_t clipped_idx =
      at::searchsorted(at::flip(lambda_t_, {0}), settings_.lambda_min_clipped).item<int64_t>();
  const int64_t last_timestep = T - clipped_idx;
  std::vector<int64_t> ts;
  if (common.timestep_spacing == "linspace") {
    std::vector<double> lin = sched::np_linspace(0, static_cast<double>(last_timestep - 1), n + 1);
    for (int64_t i = n; i >= 1; --i) ts.push_back(static_cast<int64_t>(sched::np_round(lin[i])));
  } else if (common.timestep_spacing == "leading") {
    const int64_t ratio = last_timestep / (n + 1);
    for (int64_t i = n; i >= 1; --i) ts.push_back(i * ratio + common.steps_offset);
  } else {  // trailing
    const double ratio = static_cast<double>(T) / static_cast<double>(n);
    for (double x : sched::np_arange(static_cast<double>(last_timestep), 0, -ratio))
      ts.push_back(static_cast<int64_t>(sched::np_round(x)) - 1);
  }
  // np.interp of the float32 training sigmas at the integer timesteps.
  std::vector<double> train = sched::to_doubles(at::pow(at::rsub(ac, 1) / ac, 0.5));
  std::vector<double> xp(train.size()), x(ts.begin(), ts.end());
  for (size_t i = 0; i < xp.size(); ++i) xp[i] = static_cast<double>(i);
  std::vector<double> s = sched::np_interp(x, xp, train);
  if (settings_.final_sigmas_type == "sigma_min")
    s.push_back(at::pow(at::rsub(ac[0], 1) / ac[0], 0.5).item<double>());
  else
    s.push_back(0.0);
  sigmas_ = sched::float32_tensor(s);
  timesteps_ = sched::int64_tensor(ts);
  timesteps_set_ = true;
  model_outputs_.assign(static_cast<size_t>(settings_.solver_order), at::Tensor());
  lower_order_nums_ = 0;
  step_index_ = -1;
  begin_index_ = -1;
}

void DPMSolverMultistepScheduler::set_begin_index(int64_t begin_index) {
  begin_index_ = begin_index;
}

at::Tensor DPMSolverMultistepScheduler::convert_model_output(
    const at::Tensor& model_output, const at::Tensor& sample) const {
  // DPM-Solver++ integrates the data prediction x0.
  if (settings_.common.prediction_type == "sample") return model_output;
  auto [alpha_t, sigma_t] = alpha_sigma(sigmas_[step_index_]);
  if (settings_.common.prediction_type == "epsilon")
    return (sample - sigma_t * model_output) / alpha_t;
  return alpha_t * sample - sigma_t * model_output;  // v_prediction
}

at::Tensor DPMSolverMultistepScheduler::first_order_update(
    const at::Tensor& model_output, const at::Tensor& sample) const {
  const auto t = alpha_sigma(sigmas_[step_index_ + 1]);
  const auto s = alpha_sigma(sigmas_[step_index_]);
  at::Tensor h = lambda_of(t) - lambda_of(s);
  const at::Tensor& alpha_t = t.first;
  return t.second / s.second * sample - alpha_t * (at::exp(-h) - 1.0) * model_output;
}

at::Tensor DPMSolverMultistepScheduler::second_order_update(const at::Tensor& sample) const {
  const auto t = alpha_sigma(sigmas_[step_index_ + 1]);
  const auto s0 = alpha_sigma(sigmas_[step_index_]);
  const auto s1 = alpha_sigma(sigmas_[step_index_ - 1]);
  at::Tensor lambda_t = lambda_of(t), lambda_s0 = lambda_of(s0), lambda_s1 = lambda_of(s1);
  const at::Tensor& m0 = model_outputs_[model_outputs_.size() - 1];
  const at::Tensor& m1 = model_outputs_[model_outputs_.size() - 2];
  at::Tensor h = lambda_t - lambda_s0;
  at::Tensor h_0 = lambda_s0 - lambda_s1;
  at::Tensor r0 = h_0 / h;
  const at::Tensor& D0 = m0;
  at::Tensor D1 = at::mul(at::reciprocal(r0), 1.0) * (m0 - m1);
  const at::Tensor& alpha_t = t.first;
  if (settings_.solver_type == "midpoint")
    return t.second / s0.second * sample - alpha_t * (at::exp(-h) - 1.0) * D0 -
        at::mul(alpha_t * (at::exp(-h) - 1.0), 0.5) * D1;
  return t.second / s0.second * sample - alpha_t * (at::exp(-h) - 1.0) * D0 +
      alpha_t * ((at::exp(-h) - 1.0) / h + 1.0) * D1;  // heun
}

StepOutput DPMSolverMultistepScheduler::step(const at::Tensor& model_output_in,
    const at::Tensor& timestep, const at::Tensor& sample, const c10::optional<at::Generator>&,
    double) {
  c10::InferenceMode guard;
  if (!timesteps_set_)
    throw rip::Error(name() + ": step() before set_timesteps(); call set_timesteps first");
  const int64_t n = timesteps_.size(0);
  if (step_index_ < 0) {
    if (!timestep.defined() || timestep.numel() != 1)
      throw rip::Error(name() + ": step() takes one timestep from timesteps()");
    step_index_ =
        begin_index_ >= 0 ? begin_index_ : sched::index_for_timestep(timesteps_, timestep, n - 1);
  }
  if (step_index_ >= n)
    throw rip::Error(name() + ": more steps than timesteps; call set_timesteps before a new run");

  const bool lower_order_final = step_index_ == n - 1 &&
      (settings_.euler_at_final || (settings_.lower_order_final && n < 15) ||
          settings_.final_sigmas_type == "zero");
  // (diffusers' lower_order_second only chooses order 2 over order 3.)

  at::Tensor model_output = convert_model_output(model_output_in, sample);
  for (size_t i = 0; i + 1 < model_outputs_.size(); ++i) model_outputs_[i] = model_outputs_[i + 1];
  model_outputs_.back() = model_output;

  at::Tensor x = sample.to(at::kFloat);
  at::Tensor prev_sample;
  if (settings_.solver_order == 1 || lower_order_nums_ < 1 || lower_order_final)
    prev_sample = first_order_update(model_output, x);
  else  // solver_order 2 (order 3 is refused by the config)
    prev_sample = second_order_update(x);
  if (lower_order_nums_ < settings_.solver_order) ++lower_order_nums_;
  prev_sample = prev_sample.to(model_output.scalar_type());
  ++step_index_;
  return {prev_sample, at::Tensor()};
}

at::Tensor DPMSolverMultistepScheduler::add_noise(
    const at::Tensor& original_samples, const at::Tensor& noise, const at::Tensor& timesteps) {
  c10::InferenceMode guard;
  if (!timesteps_set_)
    throw rip::Error(name() + ": add_noise() before set_timesteps(); call set_timesteps first");
  at::Tensor sigma = sched::add_noise_sigmas(sigmas_, timesteps_, timesteps, step_index_,
      begin_index_, /*no_match=*/timesteps_.size(0) - 1, original_samples, name());
  auto [alpha_t, sigma_t] = alpha_sigma(sigma);
  return alpha_t * original_samples + sigma_t * noise;
}

}  // namespace rip::sd
