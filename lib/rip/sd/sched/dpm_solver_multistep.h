// SPDX-License-Identifier: LGPL-2.1-or-later
//
// diffusers' DPMSolverMultistepScheduler (scheduling_dpmsolver_multistep.py)
// for algorithm_type "dpmsolver++" (DPM-Solver++(2M) with the defaults):
// data-prediction multistep solver of order 1 or 2 (midpoint or heun), first
// order at the start and, with lower_order_final / final_sigmas_type "zero",
// at the end. The SDE variants, order 3, Karras/exponential/beta/Lu sigmas,
// thresholding and learned variance are not implemented (a config asking
// for them is an error).
#pragma once

#include <cmath>
#include <vector>

#include "rip/sd/sched/schedule_common.h"

namespace rip::sd {

struct DPMSolverSettings {
  sched::CommonSettings common;  // prediction_type "epsilon", "sample" or "v_prediction"
  int64_t solver_order = 2;      // 1 or 2
  std::string algorithm_type = "dpmsolver++";
  std::string solver_type = "midpoint";  // or "heun"
  bool lower_order_final = true;
  bool euler_at_final = false;
  std::string final_sigmas_type = "zero";  // or "sigma_min"
  double lambda_min_clipped = -INFINITY;

  static DPMSolverSettings from_config(const SchedulerConfig& config);
};

class DPMSolverMultistepScheduler : public Scheduler {
 public:
  explicit DPMSolverMultistepScheduler(const DPMSolverSettings& settings);

  std::string name() const override { return "DPMSolverMultistepScheduler"; }
  void set_timesteps(int64_t num_inference_steps) override;
  const at::Tensor& timesteps() const override { return timesteps_; }
  const at::Tensor& betas() const override { return schedule_.betas; }
  const at::Tensor& alphas_cumprod() const override { return schedule_.alphas_cumprod; }
  const at::Tensor& sigmas() const override { return sigmas_; }
  bool has_begin_index() const override { return true; }
  void set_begin_index(int64_t begin_index) override;
  StepOutput step(const at::Tensor& model_output, const at::Tensor& timestep,
      const at::Tensor& sample, const c10::optional<at::Generator>& generator = c10::nullopt,
      double eta = 0.0) override;
  at::Tensor add_noise(const at::Tensor& original_samples, const at::Tensor& noise,
      const at::Tensor& timesteps) override;

  const DPMSolverSettings& settings() const { return settings_; }
  const sched::NoiseSchedule& schedule() const { return schedule_; }
  int64_t step_index() const { return step_index_; }  // -1: not started

 private:
  at::Tensor convert_model_output(const at::Tensor& model_output, const at::Tensor& sample) const;
  at::Tensor first_order_update(const at::Tensor& model_output, const at::Tensor& sample) const;
  at::Tensor second_order_update(const at::Tensor& sample) const;

  DPMSolverSettings settings_;
  sched::NoiseSchedule schedule_;
  at::Tensor lambda_t_;  // log(sqrt(alphas_cumprod)) - log(sqrt(1 - alphas_cumprod))
  at::Tensor timesteps_;
  at::Tensor sigmas_;
  bool timesteps_set_ = false;
  std::vector<at::Tensor> model_outputs_;  // solver_order entries, oldest first
  int64_t lower_order_nums_ = 0;
  int64_t step_index_ = -1;   // None
  int64_t begin_index_ = -1;  // None
};

}  // namespace rip::sd
