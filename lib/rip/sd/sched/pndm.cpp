// SPDX-License-Identifier: LGPL-2.1-or-later
#include "rip/sd/sched/pndm.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>

#include "rip/error.h"

namespace rip::sd {

PNDMSettings PNDMSettings::from_config(const SchedulerConfig& config) {
  sched::ConfigValues v(config, "PNDMScheduler");
  PNDMSettings s;
  s.common = sched::CommonSettings::read(
      v, /*has_rescale_key=*/false, "leading", {"epsilon", "v_prediction"});
  s.skip_prk_steps = v.get_bool("skip_prk_steps", s.skip_prk_steps);
  s.set_alpha_to_one = v.get_bool("set_alpha_to_one", s.set_alpha_to_one);
  return s;
}

PNDMScheduler::PNDMScheduler(const PNDMSettings& settings) : settings_(settings) {
  c10::InferenceMode guard;
  schedule_ = sched::NoiseSchedule::make(settings_.common, name());
  final_alpha_cumprod_ = sched::final_alpha_cumprod(schedule_, settings_.set_alpha_to_one);
}

void PNDMScheduler::set_timesteps(int64_t n) {
  c10::InferenceMode guard;
  const int64_t T = settings_.common.num_train_timesteps;
  sched::check_num_inference_steps(name(), n, T);
  // _timesteps, ascending.
  std::vector<int64_t> ts = sched::ddim_timesteps(settings_.common, n);
  std::reverse(ts.begin(), ts.end());
  std::vector<int64_t> prk, plms;
  if (settings_.skip_prk_steps) {
    // _timesteps[:-1], _timesteps[-2:-1], _timesteps[-1:], reversed: the
    // second-to-last entry twice.
    plms.assign(ts.begin(), ts.end() - 1);
    if (ts.size() >= 2) plms.push_back(ts[ts.size() - 2]);
    plms.push_back(ts.back());
    std::reverse(plms.begin(), plms.end());
  } else {
    if (ts.size() < 4)
      throw rip::Error(
          "PNDMScheduler with skip_prk_steps = false needs at least 4 inference "
          "steps (its Runge-Kutta start uses the last 4 timesteps), not " +
          std::to_string(n));
    // _timesteps[-4:].repeat(2) + tile([0, T // n // 2], 4), then
    // [:-1].repeat(2)[1:-1], reversed.
    std::vector<int64_t> base;
    for (size_t i = ts.size() - 4; i < ts.size(); ++i) {
      base.push_back(ts[i]);
      base.push_back(ts[i] + T / n / 2);
    }
    base.pop_back();
    std::vector<int64_t> doubled;
    for (int64_t x : base) {
      doubled.push_back(x);
      doubled.push_back(x);
    }
    prk.assign(doubled.begin() + 1, doubled.end() - 1);
    std::reverse(prk.begin(), prk.end());
    plms.assign(ts.begin(), ts.end() - 3);
    std::reverse(plms.begin(), plms.end());
  }
  std::vector<int64_t> all = prk;
  all.insert(all.end(), plms.begin(), plms.end());
  num_inference_steps_ = n;
  prk_timesteps_ = prk;
  timesteps_ = sched::int64_tensor(all);
  // diffusers resets these three here (cur_sample is left as it is).
  ets_.clear();
  counter_ = 0;
  cur_model_output_ = at::Tensor();
}

StepOutput PNDMScheduler::step(const at::Tensor& model_output, const at::Tensor& timestep,
    const at::Tensor& sample, const c10::optional<at::Generator>&, double) {
  c10::InferenceMode guard;
  if (num_inference_steps_ == 0)
    throw rip::Error("PNDMScheduler: step() before set_timesteps(); call set_timesteps first");
  if (!timestep.defined() || timestep.numel() != 1 || timestep.is_floating_point())
    throw rip::Error("PNDMScheduler: step() takes one integer timestep from timesteps()");
  const int64_t t = timestep.item<int64_t>();
  StepOutput out;
  if (counter_ < static_cast<int64_t>(prk_timesteps_.size()) && !settings_.skip_prk_steps)
    out.prev_sample = step_prk(model_output, t, sample);
  else
    out.prev_sample = step_plms(model_output, t, sample);
  return out;
}

at::Tensor PNDMScheduler::step_prk(
    const at::Tensor& model_output, int64_t timestep, const at::Tensor& sample) {
  const int64_t T = settings_.common.num_train_timesteps;
  const int64_t diff_to_prev = (counter_ % 2) ? 0 : T / num_inference_steps_ / 2;
  const int64_t prev_timestep = timestep - diff_to_prev;
  timestep = prk_timesteps_[static_cast<size_t>(counter_ / 4 * 4)];

  // cur_model_output starts as the Python integer 0; `0 + x` is add(x, 0).
  auto accumulate = [this](const at::Tensor& x) {
    if (cur_model_output_.defined())
      cur_model_output_.add_(x);
    else
      cur_model_output_ = at::add(x, 0);
  };
  at::Tensor mo = model_output;
  if (counter_ % 4 == 0) {
    accumulate(at::mul(model_output, 1.0 / 6));
    ets_.push_back(model_output);
    cur_sample_ = sample;
  } else if ((counter_ - 1) % 4 == 0) {
    accumulate(at::mul(model_output, 1.0 / 3));
  } else if ((counter_ - 2) % 4 == 0) {
    accumulate(at::mul(model_output, 1.0 / 3));
  } else {
    at::Tensor last = at::mul(model_output, 1.0 / 6);
    mo = cur_model_output_.defined() ? cur_model_output_ + last : at::add(last, 0);
    cur_model_output_ = at::Tensor();
  }
  const at::Tensor& cur_sample = cur_sample_.defined() ? cur_sample_ : sample;
  at::Tensor prev = prev_sample(cur_sample, timestep, prev_timestep, mo);
  ++counter_;
  return prev;
}

at::Tensor PNDMScheduler::step_plms(
    const at::Tensor& model_output_in, int64_t timestep, const at::Tensor& sample_in) {
  if (!settings_.skip_prk_steps && ets_.size() < 3)
    throw rip::Error(
        "PNDMScheduler: the linear multistep part runs only after 12 "
        "Runge-Kutta steps (skip_prk_steps = false)");
  const int64_t delta = settings_.common.num_train_timesteps / num_inference_steps_;
  int64_t prev_timestep = timestep - delta;
  if (counter_ != 1) {
    if (ets_.size() > 3) ets_.erase(ets_.begin(), ets_.end() - 3);
    ets_.push_back(model_output_in);
  } else {
    // The second evaluation at the first timestep pair corrects the first
    // step: it steps again from the saved sample with the mean of both.
    prev_timestep = timestep;
    timestep = timestep + delta;
  }

  at::Tensor model_output = model_output_in;
  at::Tensor sample = sample_in;
  const size_t n = ets_.size();
  if (n == 1 && counter_ == 0) {
    cur_sample_ = sample;
  } else if (n == 1 && counter_ == 1) {
    model_output = (model_output + ets_[n - 1]) / 2;
    sample = cur_sample_;
    cur_sample_ = at::Tensor();
  } else if (n == 2) {
    model_output = (ets_[n - 1] * 3 - ets_[n - 2]) / 2;
  } else if (n == 3) {
    model_output = (ets_[n - 1] * 23 - ets_[n - 2] * 16 + ets_[n - 3] * 5) / 12;
  } else if (n >= 4) {
    model_output =
        at::mul(ets_[n - 1] * 55 - ets_[n - 2] * 59 + ets_[n - 3] * 37 - ets_[n - 4] * 9, 1.0 / 24);
  } else {
    throw rip::Error("PNDMScheduler: inconsistent multistep state (step " +
        std::to_string(counter_) + " with " + std::to_string(n) +
        " stored outputs); call "
        "set_timesteps before a new run");
  }
  if (!sample.defined())
    throw rip::Error(
        "PNDMScheduler: the correction step has no saved sample; call "
        "set_timesteps before a new run");
  at::Tensor prev = prev_sample(sample, timestep, prev_timestep, model_output);
  ++counter_;
  return prev;
}

at::Tensor PNDMScheduler::prev_sample(const at::Tensor& sample, int64_t timestep,
    int64_t prev_timestep, at::Tensor model_output) const {
  // PNDM paper formula (9), with 0-dim float32 CPU tensors for the scalars
  // and the same evaluation order as diffusers' _get_prev_sample.
  const int64_t T = settings_.common.num_train_timesteps;
  if (timestep < 0 || timestep >= T || prev_timestep >= T)
    throw rip::Error("PNDMScheduler: timestep " + std::to_string(timestep) + " is outside 0.." +
        std::to_string(T - 1) + " for this schedule");
  const at::Tensor& ac = schedule_.alphas_cumprod;
  at::Tensor alpha_prod_t = ac[timestep];
  at::Tensor alpha_prod_t_prev = prev_timestep >= 0 ? ac[prev_timestep] : final_alpha_cumprod_;
  at::Tensor beta_prod_t = at::rsub(alpha_prod_t, 1);
  at::Tensor beta_prod_t_prev = at::rsub(alpha_prod_t_prev, 1);
  if (settings_.common.prediction_type == "v_prediction")
    model_output = at::pow(alpha_prod_t, 0.5) * model_output + at::pow(beta_prod_t, 0.5) * sample;
  at::Tensor sample_coeff = at::pow(alpha_prod_t_prev / alpha_prod_t, 0.5);
  at::Tensor denom = alpha_prod_t * at::pow(beta_prod_t_prev, 0.5) +
      at::pow(alpha_prod_t * beta_prod_t * alpha_prod_t_prev, 0.5);
  return sample_coeff * sample - (alpha_prod_t_prev - alpha_prod_t) * model_output / denom;
}

at::Tensor PNDMScheduler::add_noise(
    const at::Tensor& original_samples, const at::Tensor& noise, const at::Tensor& timesteps) {
  c10::InferenceMode guard;
  return sched::ddpm_add_noise(schedule_.alphas_cumprod, original_samples, noise, timesteps);
}

}  // namespace rip::sd
