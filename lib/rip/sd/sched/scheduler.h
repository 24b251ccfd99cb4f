// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Noise schedulers as diffusers v0.31.0 computes them: PNDMScheduler (the
// model's own), DDIMScheduler, EulerAncestralDiscreteScheduler and
// DPMSolverMultistepScheduler. Every schedule (betas, alphas_cumprod,
// timesteps, sigmas) and every step is evaluated with the same ATen ops on the
// same dtypes and operand kinds (0-dim CPU float32 tensors, Python-number
// scalars), or, where diffusers uses NumPy float64, with the same float64
// arithmetic, so results match diffusers bit for bit on the same libtorch.
//
// How a pipeline drives a scheduler (StableDiffusionInpaintPipeline.__call__):
//   auto s = make_pipeline_scheduler(SchedulerConfig::load(dir/"scheduler_config.json"), name);
//   s->set_timesteps(steps);
//   auto plan = get_timesteps(*s, steps, strength);   // slices, calls set_begin_index
//   strength 1:  latents = randn_tensor(...) * s->init_noise_sigma();
//   strength <1: latents = s->add_noise(image_latents, noise, plan.timesteps.slice(0, 0, 1).repeat({batch}));
//   for each t in plan.timesteps (0-dim tensors, in order):
//     x = s->scale_model_input(cat([latents] * 2), t); ... UNet, guidance ...
//     latents = s->step(noise_pred, t, latents, generator, eta).prev_sample;
// The schedulers keep their own state (PNDM's counter and past model outputs,
// the step index of Euler ancestral and DPM-Solver), as diffusers does, so
// the timesteps must be passed in the order of plan.timesteps, each once.
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>
#include <c10/util/Optional.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace rip::sd {

// A scheduler_config.json as written: the keys present in the file. Keys
// that are absent take the default of the class that is built from it, as
// diffusers' from_config does (config._use_default_values): e.g. without
// "timestep_spacing", PNDM and DDIM use "leading" but Euler ancestral and
// DPM-Solver use "linspace".
struct SchedulerConfig {
  std::string class_name;  // "_class_name" ("" when absent)
  std::string source;      // the file (or a description), for messages
  nlohmann::json values;   // every key of the file, "_" keys included

  // Reads the file. Non-standard JSON that Python's json module writes
  // (-Infinity, Infinity, NaN, e.g. DPM-Solver's lambda_min_clipped) is
  // accepted. rip::Error names the file on a missing file or a syntax error.
  static SchedulerConfig load(const std::filesystem::path& path);
  // From an already parsed object (tests, tools); source is used in messages.
  static SchedulerConfig from_json(const nlohmann::json& values, const std::string& source);

  bool has(const std::string& key) const;  // present and not null
};

// Parses JSON as Python's json module writes it: the bare words NaN,
// Infinity and -Infinity outside strings become the strings "NaN",
// "Infinity", "-Infinity" (which SchedulerConfig's number keys accept).
// rip::Error names source on a syntax error.
nlohmann::json parse_python_json(const std::string& text, const std::string& source);

struct StepOutput {
  at::Tensor prev_sample;
  // Where diffusers' step output has it (DDIM, Euler ancestral); else undefined.
  at::Tensor pred_original_sample;
};

class Scheduler {
 public:
  virtual ~Scheduler();

  // The diffusers class name, e.g. "PNDMScheduler".
  virtual std::string name() const = 0;
  // diffusers' `order` class attribute (1 for all four).
  virtual int64_t order() const { return 1; }

  // Computes the timesteps (and sigmas) for num_inference_steps and resets
  // the running state, like diffusers' set_timesteps.
  virtual void set_timesteps(int64_t num_inference_steps) = 0;
  // All timesteps after set_timesteps, on the CPU: int64 for PNDM, DDIM and
  // DPM-Solver, float32 for Euler ancestral (as diffusers). PNDM with
  // skip_prk_steps has num_inference_steps + 1 entries (one repeated).
  virtual const at::Tensor& timesteps() const = 0;
  // The sigmas (float32, timesteps + 1 entries) for Euler ancestral and
  // DPM-Solver; undefined for PNDM and DDIM.
  virtual const at::Tensor& sigmas() const;

  // The training noise schedule (float32, num_train_timesteps entries).
  virtual const at::Tensor& betas() const = 0;
  virtual const at::Tensor& alphas_cumprod() const = 0;

  // The factor for the initial noise (1 for PNDM, DDIM, DPM-Solver).
  virtual double init_noise_sigma() const { return 1.0; }

  // diffusers' hasattr(scheduler, "set_begin_index"): true for Euler
  // ancestral and DPM-Solver. The pipeline sets it after slicing the
  // timesteps for strength < 1 (see get_timesteps).
  virtual bool has_begin_index() const { return false; }
  virtual void set_begin_index(int64_t begin_index);

  // Scales the UNet input for timestep (identity except Euler ancestral).
  virtual at::Tensor scale_model_input(const at::Tensor& sample, const at::Tensor& timestep);

  // One denoising step: model_output is the (guided) UNet output for
  // timestep, an element of timesteps() passed as a 0-dim tensor. generator
  // and eta are used where diffusers' step() accepts them (the pipeline
  // passes both when the signature has them): the generator by DDIM with
  // eta > 0 and by Euler ancestral (one randn of model_output's shape per
  // step), eta by DDIM only.
  virtual StepOutput step(const at::Tensor& model_output, const at::Tensor& timestep,
      const at::Tensor& sample, const c10::optional<at::Generator>& generator = c10::nullopt,
      double eta = 0.0) = 0;

  // Noises original_samples to the level of timesteps (a 1-D tensor of
  // timesteps, one per batch element, as the pipeline's latent_timestep).
  virtual at::Tensor add_noise(
      const at::Tensor& original_samples, const at::Tensor& noise, const at::Tensor& timesteps) = 0;
};

// Names accepted for the four classes: the diffusers class names and the
// short names "pndm", "ddim", "euler-ancestral" (or "euler_a"),
// "dpm-solver++" (or "dpmpp2m"). Returns the diffusers class name; throws
// rip::Error listing the accepted names for anything else.
std::string canonical_scheduler_name(const std::string& name);
std::vector<std::string> scheduler_names();  // the short names, for help texts

// `Cls.from_config(config)`: builds class `name` (default: the config's
// _class_name) from the keys present in config, the others at the class's
// defaults. Throws rip::Error for an unknown class or a config value this
// port does not implement (it names the file, the key and the value).
std::unique_ptr<Scheduler> make_scheduler(
    const SchedulerConfig& config, const std::string& name = "");

// The scheduler StableDiffusionInpaintPipeline runs for a model folder whose
// scheduler/scheduler_config.json is file_config:
//  * override_name "" (or naming the file's own class): the file's class,
//    after the pipeline constructor's corrections of outdated configs
//    (steps_offset != 1 becomes 1, skip_prk_steps false becomes true);
//  * another class: `pipe.scheduler = Cls.from_config(pipe.scheduler.config)`:
//    the corrected values of keys that are in the file are passed on, keys
//    absent from the file take Cls's defaults.
// diffusers builds the class that model_index.json names for "scheduler";
// where that differs from the file's _class_name, set file_config.class_name
// to it first.
std::unique_ptr<Scheduler> make_pipeline_scheduler(
    const SchedulerConfig& file_config, const std::string& override_name = "");

// StableDiffusionInpaintPipeline.get_timesteps: the timesteps to run for
// strength, t_start = N - min(int(N * strength), N) steps skipped, and
// set_begin_index(t_start * order) where the scheduler has it. Call after
// set_timesteps(num_inference_steps).
struct TimestepPlan {
  at::Tensor timesteps;         // scheduler.timesteps()[t_start * order:]
  int64_t num_inference_steps;  // N - t_start
};
TimestepPlan get_timesteps(Scheduler& scheduler, int64_t num_inference_steps, double strength);

// diffusers.utils.torch_utils.randn_tensor with one generator: a CPU
// generator draws on the CPU and the result moves to device; without a
// generator the draw uses device's default generator.
at::Tensor randn_tensor(at::IntArrayRef shape, const c10::optional<at::Generator>& generator,
    at::Device device, at::ScalarType dtype);

}  // namespace rip::sd
