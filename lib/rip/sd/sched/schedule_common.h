// SPDX-License-Identifier: LGPL-2.1-or-later
//
// What the four schedulers share: reading their config keys with the class's
// own defaults, the beta schedule, and the NumPy float64 helpers diffusers
// computes timesteps and sigmas with (linspace, arange, round, interp),
// reproduced operation by operation.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/Optional.h>

#include <cstdint>
#include <string>
#include <vector>

#include "rip/sd/sched/scheduler.h"

namespace rip::sd::sched {

// Typed access to a SchedulerConfig for one class: a key absent from the
// file (or null) gives the class default; a key of the wrong type is an
// error naming the file, the key and the class.
class ConfigValues {
 public:
  ConfigValues(const SchedulerConfig& config, std::string class_name);
  int64_t get_int(const std::string& key, int64_t fallback) const;
  double get_double(const std::string& key, double fallback) const;
  bool get_bool(const std::string& key, bool fallback) const;
  std::string get_string(const std::string& key, const std::string& fallback) const;
  c10::optional<std::string> get_optional_string(const std::string& key) const;
  c10::optional<std::vector<double>> get_double_list(const std::string& key) const;
  // Throws rip::Error: "<file>: <class> does not support <key> = <value>: <why>".
  [[noreturn]] void unsupported(
      const std::string& key, const std::string& value, const std::string& why) const;
  const std::string& class_name() const { return class_name_; }
  const std::string& source() const { return config_.source; }

 private:
  const nlohmann::json* find(const std::string& key) const;
  [[noreturn]] void wrong_type(const std::string& key, const char* expected) const;
  const SchedulerConfig& config_;
  std::string class_name_;
};

// The keys every class reads (the __init__ arguments they share).
struct CommonSettings {
  int64_t num_train_timesteps = 1000;
  double beta_start = 0.0001;
  double beta_end = 0.02;
  std::string beta_schedule = "linear";
  c10::optional<std::vector<double>> trained_betas;
  bool rescale_betas_zero_snr = false;  // not a PNDM key
  std::string prediction_type = "epsilon";
  std::string timestep_spacing;
  int64_t steps_offset = 0;

  // default_spacing: the class's default timestep_spacing; predictions: the
  // prediction types the class implements. Checks the choices.
  static CommonSettings read(const ConfigValues& values, bool has_rescale_key,
      const std::string& default_spacing, const std::vector<std::string>& predictions);
};

// betas, alphas = 1 - betas, alphas_cumprod = cumprod(alphas) as float32 CPU
// tensors, made exactly as diffusers' __init__ does.
struct NoiseSchedule {
  at::Tensor betas;
  at::Tensor alphas;
  at::Tensor alphas_cumprod;
  static NoiseSchedule make(const CommonSettings& settings, const std::string& class_name);
};

// PNDM's and DDIM's alpha for the step past the last timestep.
at::Tensor final_alpha_cumprod(const NoiseSchedule& schedule, bool set_alpha_to_one);

// DDIM's timesteps for n steps (descending; PNDM's are the same ascending).
std::vector<int64_t> ddim_timesteps(const CommonSettings& settings, int64_t n);

// prediction_type / timestep_spacing values with an error for the others.
void check_choice(const ConfigValues& values, const std::string& key, const std::string& value,
    const std::vector<std::string>& supported);

// NumPy float64 semantics.
std::vector<double> np_linspace(double start, double stop, int64_t num);  // endpoint=True
std::vector<double> np_arange(double start, double stop, double step);
double np_round(double x);  // round half to even, as np.round
// np.interp(x, xp, fp) with the default left/right (fp[0], fp[-1]).
std::vector<double> np_interp(
    const std::vector<double>& x, const std::vector<double>& xp, const std::vector<double>& fp);
std::vector<double> to_doubles(const at::Tensor& t);  // any CPU 1-D tensor
at::Tensor int64_tensor(const std::vector<int64_t>& values);
at::Tensor float32_tensor(const std::vector<double>& values);  // each rounded to float32

// The timestep list checks diffusers does not do (so that a bad number
// is an error, not a crash).
void check_num_inference_steps(
    const std::string& class_name, int64_t num_inference_steps, int64_t num_train_timesteps);

// DDPMScheduler.add_noise, which PNDM and DDIM copy:
// sqrt(alphas_cumprod[t]) * original + sqrt(1 - alphas_cumprod[t]) * noise
// in original's dtype, timesteps a 1-D integer tensor (one per batch item).
at::Tensor ddpm_add_noise(const at::Tensor& alphas_cumprod, const at::Tensor& original_samples,
    const at::Tensor& noise, const at::Tensor& timesteps);

// The sigma per batch item that Euler ancestral's and DPM-Solver's
// add_noise use, shaped to broadcast over original ([n,1,1,1]) in its dtype:
// sigmas[step_index] once stepping began, else sigmas[begin_index] when it
// is set, else each timestep's own index in schedule (index_for_timestep;
// no_match for one that is not there, or an error when no_match < 0).
at::Tensor add_noise_sigmas(const at::Tensor& sigmas, const at::Tensor& schedule,
    const at::Tensor& timesteps, int64_t step_index, int64_t begin_index, int64_t no_match,
    const at::Tensor& original, const std::string& class_name);

// The error for thresholding = true (DDIM, DPM-Solver).
void reject_thresholding(const ConfigValues& values);

// Diffusers' index_for_timestep: the position of timestep in schedule
// (the second one when it occurs twice); no match gives no_match.
int64_t index_for_timestep(
    const at::Tensor& schedule, const at::Tensor& timestep, int64_t no_match);

}  // namespace rip::sd::sched
