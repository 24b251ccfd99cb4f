// SPDX-License-Identifier: LGPL-2.1-or-later
//
// diffusers' DDIMScheduler (scheduling_ddim.py): denoising diffusion
// implicit models, deterministic for eta = 0 (the pipeline's default); with
// eta > 0 each step adds std_dev_t * randn(generator).
#pragma once

#include "rip/sd/sched/schedule_common.h"

namespace rip::sd {

struct DDIMSettings {
  sched::CommonSettings common;  // prediction_type "epsilon", "sample" or "v_prediction"
  bool clip_sample = true;
  double clip_sample_range = 1.0;
  bool set_alpha_to_one = true;

  static DDIMSettings from_config(const SchedulerConfig& config);
};

class DDIMScheduler : public Scheduler {
 public:
  explicit DDIMScheduler(const DDIMSettings& settings);

  std::string name() const override { return "DDIMScheduler"; }
  void set_timesteps(int64_t num_inference_steps) override;
  const at::Tensor& timesteps() const override { return timesteps_; }
  const at::Tensor& betas() const override { return schedule_.betas; }
  const at::Tensor& alphas_cumprod() const override { return schedule_.alphas_cumprod; }
  StepOutput step(const at::Tensor& model_output, const at::Tensor& timestep,
      const at::Tensor& sample, const c10::optional<at::Generator>& generator = c10::nullopt,
      double eta = 0.0) override;
  at::Tensor add_noise(const at::Tensor& original_samples, const at::Tensor& noise,
      const at::Tensor& timesteps) override;

  const DDIMSettings& settings() const { return settings_; }
  const sched::NoiseSchedule& schedule() const { return schedule_; }

 private:
  DDIMSettings settings_;
  sched::NoiseSchedule schedule_;
  at::Tensor final_alpha_cumprod_;
  int64_t num_inference_steps_ = 0;
  at::Tensor timesteps_;
};

}  // namespace rip::sd
