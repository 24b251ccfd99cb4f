// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Reading scheduler_config.json: class defaults for absent keys (as
// diffusers' from_config), the pipeline's corrections of outdated configs,
// names, and clear errors for what is wrong or not implemented.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "golden.h"
#include "rip/error.h"
#include "rip/sd/sched/ddim.h"
#include "rip/sd/sched/dpm_solver_multistep.h"
#include "rip/sd/sched/euler_ancestral.h"
#include "rip/sd/sched/pndm.h"
#include "rip/sd/sched/scheduler.h"

namespace rip::sd {
namespace {

using nlohmann::json;

// A SD2-inpainting-like config with `changes` applied (null removes a key).
SchedulerConfig config_with(const json& changes, const std::string& cls = "PNDMScheduler") {
  json j = {{"_class_name", cls}, {"beta_end", 0.012}, {"beta_schedule", "scaled_linear"},
      {"beta_start", 0.00085}, {"clip_sample", false}, {"num_train_timesteps", 1000},
      {"set_alpha_to_one", false}, {"skip_prk_steps", true}, {"steps_offset", 1},
      {"trained_betas", nullptr}};
  for (const auto& [k, v] : changes.items()) {
    if (v.is_null())
      j.erase(k);
    else
      j[k] = v;
  }
  return SchedulerConfig::from_json(j, "test config");
}

// Expects rip::Error whose message contains every one of `parts`.
template <typename F>
void expect_error(F&& f, std::initializer_list<std::string> parts) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one mentioning " << *parts.begin();
  } catch (const rip::Error& e) {
    const std::string msg = e.what();
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << msg;
  }
}

template <typename T>
const T& as(const std::unique_ptr<Scheduler>& s) {
  const T* p = dynamic_cast<const T*>(s.get());
  if (!p) throw std::runtime_error("unexpected scheduler class " + s->name());
  return *p;
}

std::string temp_file(const std::string& name, const std::string& text) {
  const auto path = std::filesystem::temp_directory_path() / ("rip-sd-sched-" + name);
  std::ofstream(path, std::ios::binary) << text;
  return path.string();
}

TEST(SchedConfig, AbsentKeysTakeEachClassDefault) {
  // The real SD2-inpainting file has no timestep_spacing and no
  // prediction_type-independent keys of the other classes.
  const auto hub =
      SchedulerConfig::load(test::goldens() / "hub_like_sd2_inpainting_scheduler_config.json");
  EXPECT_EQ(hub.class_name, "PNDMScheduler");
  auto pndm = make_scheduler(hub);
  EXPECT_EQ(as<PNDMScheduler>(pndm).settings().common.timestep_spacing, "leading");
  EXPECT_TRUE(as<PNDMScheduler>(pndm).settings().skip_prk_steps);
  auto ddim = make_scheduler(hub, "ddim");
  EXPECT_EQ(as<DDIMScheduler>(ddim).settings().common.timestep_spacing, "leading");
  EXPECT_FALSE(as<DDIMScheduler>(ddim).settings().clip_sample);       // from the file
  EXPECT_FALSE(as<DDIMScheduler>(ddim).settings().set_alpha_to_one);  // from the file
  auto euler = make_scheduler(hub, "euler-ancestral");
  EXPECT_EQ(
      as<EulerAncestralDiscreteScheduler>(euler).settings().common.timestep_spacing, "linspace");
  auto dpm = make_scheduler(hub, "dpm-solver++");
  const auto& d = as<DPMSolverMultistepScheduler>(dpm).settings();
  EXPECT_EQ(d.common.timestep_spacing, "linspace");
  EXPECT_EQ(d.solver_order, 2);
  EXPECT_EQ(d.algorithm_type, "dpmsolver++");
  EXPECT_EQ(d.solver_type, "midpoint");
  EXPECT_TRUE(d.lower_order_final);
  EXPECT_EQ(d.final_sigmas_type, "zero");
  EXPECT_TRUE(std::isinf(d.lambda_min_clipped) && d.lambda_min_clipped < 0);

  // A file without any key: every class default (PNDM: linear betas 1e-4..0.02).
  auto bare = make_scheduler(SchedulerConfig::from_json(json::object(), "empty"), "ddim");
  const auto& b = as<DDIMScheduler>(bare).settings();
  EXPECT_EQ(b.common.beta_schedule, "linear");
  EXPECT_TRUE(b.clip_sample);
  EXPECT_TRUE(b.set_alpha_to_one);
  EXPECT_EQ(b.common.steps_offset, 0);

  // tiny-sd15 names DDIMScheduler itself.
  auto sd15 = make_pipeline_scheduler(
      SchedulerConfig::load(test::sd_data() / "tiny-sd15" / "scheduler" / "scheduler_config.json"));
  EXPECT_EQ(sd15->name(), "DDIMScheduler");
}

TEST(SchedConfig, PythonJsonSpecialsAreRead) {
  // diffusers saves lambda_min_clipped = -inf as a bare -Infinity.
  const auto path = temp_file("dpm.json",
      "{\"_class_name\": \"DPMSolverMultistepScheduler\", \"lambda_min_clipped\": -Infinity, "
      "\"variance_type\": null, \"note\": \"-Infinity in a string stays\"}");
  const auto config = SchedulerConfig::load(path);
  EXPECT_EQ(config.values["note"], "-Infinity in a string stays");
  auto s = make_scheduler(config);
  EXPECT_EQ(s->name(), "DPMSolverMultistepScheduler");
  EXPECT_TRUE(std::isinf(as<DPMSolverMultistepScheduler>(s).settings().lambda_min_clipped));
  std::filesystem::remove(path);
}

TEST(SchedConfig, PipelineCorrectsOutdatedConfigs) {
  // The file's own class: steps_offset becomes 1, skip_prk_steps true.
  auto own = make_pipeline_scheduler(config_with({{"steps_offset", 0}, {"skip_prk_steps", false}}));
  EXPECT_EQ(as<PNDMScheduler>(own).settings().common.steps_offset, 1);
  EXPECT_TRUE(as<PNDMScheduler>(own).settings().skip_prk_steps);
  auto own_absent = make_pipeline_scheduler(
      config_with({{"steps_offset", nullptr}, {"skip_prk_steps", nullptr}}));
  EXPECT_EQ(as<PNDMScheduler>(own_absent).settings().common.steps_offset, 1);
  EXPECT_TRUE(as<PNDMScheduler>(own_absent).settings().skip_prk_steps);
  // Naming the file's own class is the same as not overriding.
  auto named = make_pipeline_scheduler(config_with({{"steps_offset", 0}}), "pndm");
  EXPECT_EQ(as<PNDMScheduler>(named).settings().common.steps_offset, 1);

  // Swapped in with from_config: corrected values of keys that are in the
  // file are passed on; absent keys take the new class's default.
  auto swapped = make_pipeline_scheduler(config_with({{"steps_offset", 0}}), "ddim");
  EXPECT_EQ(as<DDIMScheduler>(swapped).settings().common.steps_offset, 1);
  auto swapped_absent = make_pipeline_scheduler(config_with({{"steps_offset", nullptr}}), "ddim");
  EXPECT_EQ(as<DDIMScheduler>(swapped_absent).settings().common.steps_offset, 0);
  auto to_pndm =
      make_pipeline_scheduler(config_with({{"skip_prk_steps", nullptr}}, "DDIMScheduler"), "pndm");
  EXPECT_FALSE(as<PNDMScheduler>(to_pndm).settings().skip_prk_steps);
  auto to_pndm_false =
      make_pipeline_scheduler(config_with({{"skip_prk_steps", false}}, "DDIMScheduler"), "pndm");
  EXPECT_TRUE(as<PNDMScheduler>(to_pndm_false).settings().skip_prk_steps);

  // Plain make_scheduler (Cls.from_config) corrects nothing.
  auto plain = make_scheduler(config_with({{"steps_offset", 0}}));
  EXPECT_EQ(as<PNDMScheduler>(plain).settings().common.steps_offset, 0);
  // An unsupported class in the file is fine when another one is named.
  auto other = make_pipeline_scheduler(config_with({}, "LMSDiscreteScheduler"), "euler-ancestral");
  EXPECT_EQ(other->name(), "EulerAncestralDiscreteScheduler");
}

TEST(SchedConfig, Names) {
  EXPECT_EQ(canonical_scheduler_name("pndm"), "PNDMScheduler");
  EXPECT_EQ(canonical_scheduler_name("DDIMScheduler"), "DDIMScheduler");
  EXPECT_EQ(canonical_scheduler_name("euler-ancestral"), "EulerAncestralDiscreteScheduler");
  EXPECT_EQ(canonical_scheduler_name("euler_a"), "EulerAncestralDiscreteScheduler");
  EXPECT_EQ(canonical_scheduler_name("dpm-solver++"), "DPMSolverMultistepScheduler");
  EXPECT_EQ(canonical_scheduler_name("dpmpp2m"), "DPMSolverMultistepScheduler");
  EXPECT_EQ(scheduler_names(),
      (std::vector<std::string>{"pndm", "ddim", "euler-ancestral", "dpm-solver++"}));
  for (const auto& n : scheduler_names()) EXPECT_EQ(make_scheduler(config_with({}), n)->order(), 1);
}

TEST(SchedConfig, UnknownClassesAreErrors) {
  expect_error([] { canonical_scheduler_name("lms"); }, {"\"lms\"", "pndm", "dpm-solver++"});
  expect_error([] { make_scheduler(config_with({}, "LMSDiscreteScheduler")); },
      {"test config", "LMSDiscreteScheduler", "euler-ancestral"});
  expect_error([] { make_pipeline_scheduler(config_with({}), "Euler"); }, {"\"Euler\""});
  expect_error([] { make_scheduler(SchedulerConfig::from_json(json::object(), "nameless")); },
      {"nameless", "_class_name"});
}

TEST(SchedConfig, BadFilesAreErrors) {
  expect_error([] { SchedulerConfig::load("/nonexistent/scheduler_config.json"); },
      {"/nonexistent/scheduler_config.json"});
  const auto broken = temp_file("broken.json", "{\"_class_name\": \"PNDMScheduler\",\n  oops}");
  expect_error([&] { SchedulerConfig::load(broken); }, {broken, "JSON"});
  const auto list = temp_file("list.json", "[1, 2]");
  expect_error([&] { SchedulerConfig::load(list); }, {list, "object"});
  std::filesystem::remove(broken);
  std::filesystem::remove(list);
  expect_error(
      [] {
        make_scheduler(config_with({{"num_train_timesteps", "1000"}}));
      },
      {"test config", "num_train_timesteps", "integer", "PNDMScheduler"});
  expect_error(
      [] {
        make_scheduler(config_with({{"beta_start", "small"}}), "ddim");
      },
      {"beta_start", "number"});
  expect_error(
      [] {
        make_scheduler(config_with({{"clip_sample", 1}}), "ddim");
      },
      {"clip_sample", "true or false"});
  expect_error(
      [] {
        make_scheduler(config_with({{"trained_betas", json::array({0.1, 0.2})}}));
      },
      {"trained_betas", "1000"});
}

TEST(SchedConfig, UnsupportedValuesAreErrors) {
  expect_error(
      [] {
        make_scheduler(config_with({{"prediction_type", "sample"}}));
      },
      {"PNDMScheduler", "prediction_type", "\"sample\"", "epsilon"});
  expect_error(
      [] {
        make_scheduler(config_with({{"prediction_type", "x0"}}), "euler-ancestral");
      },
      {"EulerAncestralDiscreteScheduler", "prediction_type"});
  expect_error(
      [] {
        make_scheduler(config_with({{"timestep_spacing", "uniform"}}), "ddim");
      },
      {"timestep_spacing", "\"uniform\"", "trailing"});
  expect_error(
      [] {
        make_scheduler(config_with({{"beta_schedule", "cosine"}}), "dpm-solver++");
      },
      {"beta_schedule", "\"cosine\"", "squaredcos_cap_v2"});
  expect_error(
      [] {
        make_scheduler(config_with({{"thresholding", true}}), "ddim");
      },
      {"thresholding"});
  expect_error(
      [] {
        make_scheduler(config_with({{"thresholding", true}}), "dpm-solver++");
      },
      {"thresholding"});
  expect_error(
      [] {
        make_scheduler(config_with({{"algorithm_type", "sde-dpmsolver++"}}), "dpm-solver++");
      },
      {"algorithm_type", "sde-dpmsolver++", "dpmsolver++"});
  expect_error(
      [] {
        make_scheduler(config_with({{"algorithm_type", "unipc"}}), "dpm-solver++");
      },
      {"algorithm_type", "unipc"});
  expect_error(
      [] {
        make_scheduler(config_with({{"algorithm_type", "deis"}}), "dpm-solver++");
      },
      {"deis", "sigma_min"});
  expect_error(
      [] {
        make_scheduler(config_with({{"solver_order", 3}}), "dpm-solver++");
      },
      {"solver_order", "3"});
  expect_error(
      [] {
        make_scheduler(config_with({{"solver_type", "bh3"}}), "dpm-solver++");
      },
      {"solver_type", "bh3"});
  expect_error(
      [] {
        make_scheduler(config_with({{"use_karras_sigmas", true}}), "dpm-solver++");
      },
      {"use_karras_sigmas"});
  expect_error(
      [] {
        make_scheduler(config_with({{"use_lu_lambdas", true}}), "dpm-solver++");
      },
      {"use_lu_lambdas"});
  expect_error(
      [] {
        make_scheduler(config_with({{"final_sigmas_type", "denoise_to_zero"}}), "dpm-solver++");
      },
      {"final_sigmas_type"});
  expect_error(
      [] {
        make_scheduler(config_with({{"variance_type", "learned_range"}}), "dpm-solver++");
      },
      {"variance_type"});
  // Keys of other classes are ignored, as diffusers does.
  EXPECT_NO_THROW(make_scheduler(config_with({{"solver_order", 3}}), "pndm"));
}

TEST(SchedConfig, MisuseIsAnError) {
  for (const auto& name : scheduler_names()) {
    SCOPED_TRACE(name);
    auto s = make_scheduler(config_with({}), name);
    at::Tensor x = at::zeros({1, 4, 2, 2});
    at::Tensor t = name == "euler-ancestral" ? at::scalar_tensor(1.0, at::kFloat)
                                             : at::scalar_tensor(1, at::kLong);
    expect_error([&] { s->step(x, t, x); }, {"set_timesteps"});
    expect_error([&] { s->set_timesteps(0); }, {"between 1 and"});
    expect_error([&] { s->set_timesteps(1001); }, {"between 1 and"});
  }
  auto euler = make_scheduler(config_with({}), "euler-ancestral");
  euler->set_timesteps(4);
  at::Tensor x = at::zeros({1, 4, 2, 2});
  expect_error([&] { euler->step(x, at::scalar_tensor(1, at::kLong), x); }, {"integer"});
  expect_error(
      [&] { euler->step(x, at::scalar_tensor(3.5, at::kFloat), x); }, {"not one of timesteps"});
  auto prk = make_scheduler(config_with({{"skip_prk_steps", false}}));
  expect_error([&] { prk->set_timesteps(3); }, {"at least 4"});
  auto pndm = make_scheduler(config_with({}));
  pndm->set_timesteps(2);
  for (int i = 0; i < 3; ++i) pndm->step(x, pndm->timesteps()[i], x);
  expect_error([&] { pndm->step(x, at::scalar_tensor(2000, at::kLong), x); }, {"2000"});
  auto dpm = make_scheduler(config_with({}), "dpm-solver++");
  dpm->set_timesteps(2);
  for (int i = 0; i < 2; ++i) dpm->step(x, dpm->timesteps()[i], x);
  expect_error([&] { dpm->step(x, dpm->timesteps()[1], x); }, {"more steps than timesteps"});
}

TEST(SchedConfig, GetTimestepsFollowsThePipeline) {
  auto s = make_scheduler(config_with({}), "dpm-solver++");
  s->set_timesteps(10);
  TimestepPlan full = get_timesteps(*s, 10, 1.0);
  EXPECT_TRUE(at::equal(full.timesteps, s->timesteps()));
  EXPECT_EQ(full.num_inference_steps, 10);
  TimestepPlan part = get_timesteps(*s, 10, 0.75);  // int(7.5) = 7 steps
  EXPECT_EQ(part.num_inference_steps, 7);
  EXPECT_TRUE(at::equal(part.timesteps, s->timesteps().slice(0, 3)));
  TimestepPlan none = get_timesteps(*s, 10, 0.05);  // the pipeline refuses 0 steps
  EXPECT_EQ(none.num_inference_steps, 0);
  EXPECT_EQ(none.timesteps.size(0), 0);
  auto pndm = make_scheduler(config_with({}));
  pndm->set_timesteps(10);
  TimestepPlan p = get_timesteps(*pndm, 10, 0.75);
  EXPECT_EQ(p.timesteps.size(0), 8);  // 11 entries (961-like repeat), 3 skipped
  EXPECT_FALSE(pndm->has_begin_index());
}

TEST(SchedConfig, RandnTensorMatchesTorchRandn) {
  at::Generator g = test::cpu_generator(42);
  at::Tensor a = randn_tensor({1, 4, 8, 8}, g, at::kCPU, at::kFloat);
  EXPECT_TRUE(at::equal(a, test::seeded_randn({1, 4, 8, 8}, 42)));
  at::Tensor b = randn_tensor({2, 3}, c10::nullopt, at::kCPU, at::kFloat);
  EXPECT_EQ(b.sizes(), (std::vector<int64_t>{2, 3}));
}

}  // namespace
}  // namespace rip::sd
