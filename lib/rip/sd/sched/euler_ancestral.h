// SPDX-License-Identifier: LGPL-2.1-or-later
//
// diffusers' EulerAncestralDiscreteScheduler
// (scheduling_euler_ancestral_discrete.py): Euler steps in sigma space with
// fresh noise each step (one randn of the model output's shape per step from
// the pipeline's generator). Timesteps are float32 and may be fractional.
#pragma once

#include "rip/sd/sched/schedule_common.h"

namespace rip::sd {

struct EulerAncestralSettings {
  sched::CommonSettings common;  // prediction_type "epsilon" or "v_prediction"

  static EulerAncestralSettings from_config(const SchedulerConfig& config);
};

class EulerAncestralDiscreteScheduler : public Scheduler {
 public:
  explicit EulerAncestralDiscreteScheduler(const EulerAncestralSettings& settings);

  std::string name() const override { return "EulerAncestralDiscreteScheduler"; }
  void set_timesteps(int64_t num_inference_steps) override;
  const at::Tensor& timesteps() const override { return timesteps_; }
  const at::Tensor& betas() const override { return schedule_.betas; }
  const at::Tensor& alphas_cumprod() const override { return schedule_.alphas_cumprod; }
  const at::Tensor& sigmas() const override { return sigmas_; }
  // max(sigmas) for "linspace" and "trailing" spacing, sqrt(max^2 + 1) for
  // "leading" (computed in float32 as diffusers).
  double init_noise_sigma() const override;
  bool has_begin_index() const override { return true; }
  void set_begin_index(int64_t begin_index) override;
  at::Tensor scale_model_input(const at::Tensor& sample, const at::Tensor& timestep) override;
  StepOutput step(const at::Tensor& model_output, const at::Tensor& timestep,
      const at::Tensor& sample, const c10::optional<at::Generator>& generator = c10::nullopt,
      double eta = 0.0) override;
  at::Tensor add_noise(const at::Tensor& original_samples, const at::Tensor& noise,
      const at::Tensor& timesteps) override;

  const EulerAncestralSettings& settings() const { return settings_; }
  const sched::NoiseSchedule& schedule() const { return schedule_; }
  int64_t step_index() const { return step_index_; }  // -1: not started

 private:
  void init_step_index(const at::Tensor& timestep);

  EulerAncestralSettings settings_;
  sched::NoiseSchedule schedule_;
  at::Tensor timesteps_;
  at::Tensor sigmas_;
  bool timesteps_set_ = false;
  int64_t step_index_ = -1;   // None
  int64_t begin_index_ = -1;  // None
};

}  // namespace rip::sd
