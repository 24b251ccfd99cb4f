// SPDX-License-Identifier: LGPL-2.1-or-later
//
// diffusers' PNDMScheduler (scheduling_pndm.py): pseudo numerical methods.
// With skip_prk_steps (Stable Diffusion's configs) it is PLMS: a
// second-order start (the first timestep pair is evaluated twice) then
// linear multistep of order up to 4. Without it, 12 Runge-Kutta evaluations
// come first (F-PNDM).
#pragma once

#include <vector>

#include "rip/sd/sched/schedule_common.h"

namespace rip::sd {

struct PNDMSettings {
  sched::CommonSettings common;  // prediction_type "epsilon" or "v_prediction"
  bool skip_prk_steps = false;
  bool set_alpha_to_one = false;

  static PNDMSettings from_config(const SchedulerConfig& config);
};

class PNDMScheduler : public Scheduler {
 public:
  explicit PNDMScheduler(const PNDMSettings& settings);

  std::string name() const override { return "PNDMScheduler"; }
  void set_timesteps(int64_t num_inference_steps) override;
  const at::Tensor& timesteps() const override { return timesteps_; }
  const at::Tensor& betas() const override { return schedule_.betas; }
  const at::Tensor& alphas_cumprod() const override { return schedule_.alphas_cumprod; }
  StepOutput step(const at::Tensor& model_output, const at::Tensor& timestep,
      const at::Tensor& sample, const c10::optional<at::Generator>& generator = c10::nullopt,
      double eta = 0.0) override;
  at::Tensor add_noise(const at::Tensor& original_samples, const at::Tensor& noise,
      const at::Tensor& timesteps) override;

  const PNDMSettings& settings() const { return settings_; }
  const sched::NoiseSchedule& schedule() const { return schedule_; }

 private:
  at::Tensor step_prk(const at::Tensor& model_output, int64_t timestep, const at::Tensor& sample);
  at::Tensor step_plms(const at::Tensor& model_output, int64_t timestep, const at::Tensor& sample);
  at::Tensor prev_sample(const at::Tensor& sample, int64_t timestep, int64_t prev_timestep,
      at::Tensor model_output) const;

  PNDMSettings settings_;
  sched::NoiseSchedule schedule_;
  at::Tensor final_alpha_cumprod_;
  int64_t num_inference_steps_ = 0;  // 0: set_timesteps not called yet
  at::Tensor timesteps_;
  std::vector<int64_t> prk_timesteps_;
  // Running values, as diffusers' counter, ets, cur_sample, cur_model_output.
  int64_t counter_ = 0;
  std::vector<at::Tensor> ets_;
  at::Tensor cur_sample_;        // undefined = None
  at::Tensor cur_model_output_;  // undefined = the integer 0
};

}  // namespace rip::sd
