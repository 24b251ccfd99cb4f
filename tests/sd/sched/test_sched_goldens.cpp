// SPDX-License-Identifier: LGPL-2.1-or-later
//
// The schedulers against diffusers v0.31.0 (goldens in tests/data/sd/goldens,
// see PROVENANCE.md): schedules, timesteps and sigmas for 5/10/25/50 steps,
// every step of full runs, non-default configs (sched_variants), the
// pipeline's strength < 1 path (sched_strength) and the scheduler steps
// recorded inside the end-to-end pipeline runs (inpaint_*.dump). All
// comparisons are bit for bit on the goldens' machine, within a few float32
// ulps elsewhere (see expect_same).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <iostream>

#include "golden.h"
#include "rip/sd/sched/scheduler.h"

namespace rip::sd {
namespace {

using test::expect_same;
using test::Golden;

// One step of a golden run: the model output (compared with the stored
// one), then step() against prev_sample.k and pred_original_sample.k.
at::Tensor check_step(Scheduler& s, const Golden& g, const std::string& prefix, int64_t k,
    const at::Tensor& model_output, const at::Tensor& t, const at::Tensor& sample,
    const c10::optional<at::Generator>& generator, double eta) {
  const std::string K = "." + std::to_string(k);
  expect_same(model_output, g.get(prefix + "model_output" + K), prefix + "model_output" + K);
  StepOutput out = s.step(model_output, t, sample, generator, eta);
  expect_same(out.prev_sample, g.get(prefix + "prev_sample" + K), prefix + "prev_sample" + K);
  if (g.has(prefix + "pred_original_sample" + K))
    expect_same(out.pred_original_sample, g.get(prefix + "pred_original_sample" + K),
        prefix + "pred_original_sample" + K);
  else
    EXPECT_FALSE(out.pred_original_sample.defined()) << prefix << K;
  return out.prev_sample;
}

// The step loop of make_scheduler_goldens.py: sample_0 = randn(seed 0) *
// init_noise_sigma, model_output_k = 0.1 * scale_model_input(sample_k) +
// randn(seed 1000 + k), then step. The random numbers are drawn here with
// libtorch's CPU generator and compared with the stored ones too.
void check_run(Scheduler& s, const Golden& g, const std::string& prefix, int64_t n, bool loop,
    at::IntArrayRef shape, double eta, c10::optional<uint64_t> generator_seed) {
  SCOPED_TRACE(prefix);
  s.set_timesteps(n);
  expect_same(s.timesteps(), g.get(prefix + "timesteps"), prefix + "timesteps");
  if (g.has(prefix + "sigmas"))
    expect_same(s.sigmas(), g.get(prefix + "sigmas"), prefix + "sigmas");
  else
    EXPECT_FALSE(s.sigmas().defined());
  expect_same(at::scalar_tensor(s.init_noise_sigma(), at::kFloat),
      g.get(prefix + "init_noise_sigma"), prefix + "init_noise_sigma");
  if (!loop) return;

  c10::optional<at::Generator> generator;
  if (generator_seed) generator = test::cpu_generator(*generator_seed);
  at::Tensor sample = test::seeded_randn(shape, 0) * s.init_noise_sigma();
  expect_same(sample, g.get(prefix + "sample.0"), prefix + "sample.0");
  const int64_t steps = s.timesteps().size(0);
  for (int64_t k = 0; k < steps; ++k) {
    const std::string K = "." + std::to_string(k);
    at::Tensor t = s.timesteps()[k];
    at::Tensor model_input = s.scale_model_input(sample, t);
    expect_same(model_input, g.get(prefix + "model_input" + K), prefix + "model_input" + K);
    sample = check_step(s, g, prefix, k,
        at::mul(model_input, 0.1) + test::seeded_randn(shape, 1000 + k), t, sample, generator, eta);
  }
  EXPECT_FALSE(g.has(prefix + "prev_sample." + std::to_string(steps)))
      << "fewer steps than diffusers";
}

std::filesystem::path tiny_sd2_config() {
  return test::sd_data() / "tiny-sd2" / "scheduler" / "scheduler_config.json";
}
std::filesystem::path hub_config() {
  return test::goldens() / "hub_like_sd2_inpainting_scheduler_config.json";
}

// sched_<name>[_hubcfg].safetensors: Cls.from_config(PNDMScheduler config
// of tiny-sd2, or of the hub-like file without timestep_spacing).
struct MainCase {
  const char* file;  // golden name without .safetensors
  const char* scheduler;
  bool hub;
  const char* class_name;
};

void PrintTo(const MainCase& c, std::ostream* os) {
  *os << c.file;
}

class SchedMainGolden : public ::testing::TestWithParam<MainCase> {};

TEST_P(SchedMainGolden, SchedulesAndStepsMatchDiffusers) {
  const MainCase& c = GetParam();
  Golden g(test::goldens() / (std::string(c.file) + ".safetensors"));
  const auto config = SchedulerConfig::load(c.hub ? hub_config() : tiny_sd2_config());
  auto s = make_pipeline_scheduler(config, c.scheduler);
  ASSERT_EQ(s->name(), c.class_name);
  ASSERT_EQ(s->name(), g.metadata("class"));
  expect_same(s->betas(), g.get("betas"), "betas");
  expect_same(s->alphas_cumprod(), g.get("alphas_cumprod"), "alphas_cumprod");
  expect_same(test::seeded_randn({1, 4, 8, 8}, 0), g.get("noise"), "noise");
  const bool euler = std::string(c.class_name) == "EulerAncestralDiscreteScheduler";
  for (int64_t n : {5, 10, 25, 50}) {
    check_run(*s, g, "n" + std::to_string(n) + ".", n, n <= 10, {1, 4, 8, 8}, 0.0,
        euler ? c10::optional<uint64_t>(1234) : c10::nullopt);
  }
}

INSTANTIATE_TEST_SUITE_P(All, SchedMainGolden,
    ::testing::Values(MainCase{"sched_pndm", "", false, "PNDMScheduler"},
        MainCase{"sched_pndm_hubcfg", "pndm", true, "PNDMScheduler"},
        MainCase{"sched_ddim", "ddim", false, "DDIMScheduler"},
        MainCase{"sched_ddim_hubcfg", "DDIMScheduler", true, "DDIMScheduler"},
        MainCase{"sched_euler_a", "euler-ancestral", false, "EulerAncestralDiscreteScheduler"},
        MainCase{"sched_euler_a_hubcfg", "euler_a", true, "EulerAncestralDiscreteScheduler"},
        MainCase{"sched_dpmpp2m", "dpm-solver++", false, "DPMSolverMultistepScheduler"},
        MainCase{"sched_dpmpp2m_hubcfg", "DPMSolverMultistepScheduler", true,
            "DPMSolverMultistepScheduler"}),
    [](const auto& info) { return std::string(info.param.file).substr(6); });

// sched_variants.safetensors: every non-default config this port implements
// (spacings, prediction types, PRK, clipping, eta, beta schedules, zero
// terminal SNR, DPM-Solver options). The metadata holds each config.
TEST(SchedVariants, NonDefaultConfigsMatchDiffusers) {
  Golden g(test::goldens() / "sched_variants.safetensors");
  const auto variants = nlohmann::json::parse(g.metadata("variants"));
  ASSERT_GE(variants.size(), 30u);
  for (const auto& [name, v] : variants.items()) {
    SCOPED_TRACE(name);
    auto s = make_scheduler(
        SchedulerConfig::from_json(v["config"], "variant " + name), v["class"].get<std::string>());
    ASSERT_EQ(s->name(), v["class"].get<std::string>());
    if (g.has(name + ".alphas_cumprod"))
      expect_same(s->alphas_cumprod(), g.get(name + ".alphas_cumprod"), name + ".alphas_cumprod");
    const bool euler = s->name() == "EulerAncestralDiscreteScheduler";
    const double eta = v.value("eta", 0.0);
    const c10::optional<uint64_t> seed = (euler || v.contains("eta"))
        ? c10::optional<uint64_t>(v["seed"].get<uint64_t>())
        : c10::nullopt;
    for (int64_t n : v["steps"])
      check_run(*s, g, name + ".n" + std::to_string(n) + ".", n, true, {1, 4, 4, 4}, eta, seed);
  }
}

// sched_strength.safetensors: the pipeline's strength < 1 path
// (get_timesteps with set_begin_index, add_noise, CFG-batched
// scale_model_input, step with prepare_extra_step_kwargs).
TEST(SchedStrength, PipelinePathMatchesDiffusers) {
  Golden g(test::goldens() / "sched_strength.safetensors");
  const auto runs = nlohmann::json::parse(g.metadata("runs"));
  ASSERT_GE(runs.size(), 10u);
  const std::vector<int64_t> shape = {1, 4, 4, 4};
  for (const auto& [name, r] : runs.items()) {
    SCOPED_TRACE(name);
    const std::string p = name + ".";
    auto s = make_pipeline_scheduler(
        SchedulerConfig::load(r["config"] == "hub" ? hub_config() : tiny_sd2_config()),
        r["class"].get<std::string>());
    const int64_t n = r["steps"];
    s->set_timesteps(n);
    at::Generator generator = test::cpu_generator(r["seed"].get<uint64_t>());
    TimestepPlan plan = get_timesteps(*s, n, r["strength"].get<double>());
    expect_same(plan.timesteps, g.get(p + "timesteps"), p + "timesteps");
    EXPECT_EQ(plan.num_inference_steps, n - r["t_start"].get<int64_t>());
    at::Tensor latent_timestep = plan.timesteps.slice(0, 0, 1).repeat({1});
    expect_same(latent_timestep, g.get(p + "latent_timestep"), p + "latent_timestep");
    at::Tensor image_latents = test::seeded_randn(shape, 7);
    at::Tensor noise = test::seeded_randn(shape, 8);
    expect_same(image_latents, g.get(p + "image_latents"), p + "image_latents");
    expect_same(noise, g.get(p + "noise"), p + "noise");
    at::Tensor latents = s->add_noise(image_latents, noise, latent_timestep);
    expect_same(latents, g.get(p + "sample.0"), p + "sample.0");
    const double eta = r["eta"];
    for (int64_t k = 0; k < plan.timesteps.size(0); ++k) {
      const std::string K = "." + std::to_string(k);
      at::Tensor t = plan.timesteps[k];
      at::Tensor model_input = s->scale_model_input(at::cat({latents, latents}), t);
      expect_same(model_input, g.get(p + "model_input" + K), p + "model_input" + K);
      latents = check_step(*s, g, p, k,
          at::mul(model_input.slice(0, 0, 1), 0.1) + test::seeded_randn(shape, 1000 + k), t,
          latents, generator, eta);
    }
    EXPECT_FALSE(g.has(p + "prev_sample." + std::to_string(plan.timesteps.size(0))));
  }
}

// The scheduler calls recorded inside the end-to-end runs of
// StableDiffusionInpaintPipeline (inpaint_*.dump.safetensors): the same
// timesteps, the CFG-batched scale_model_input that feeds the UNet, and
// every step from the recorded guided model output, with the pipeline's
// generator replayed for Euler ancestral (its draws before the loop: the
// initial noise and the masked image's VAE sample, plus the init image's
// VAE sample first when strength < 1).
struct DumpCase {
  const char* name;
  const char* model;  // tiny-sd2 / tiny-sd15
  bool hub;
  const char* scheduler;
};

void PrintTo(const DumpCase& c, std::ostream* os) {
  *os << c.name;
}

class SchedPipelineDump : public ::testing::TestWithParam<DumpCase> {};

TEST_P(SchedPipelineDump, StepsMatchThePipelineRun) {
  const DumpCase& c = GetParam();
  Golden g(test::goldens() / (std::string(c.name) + ".dump.safetensors"));
  const auto harness = parse_python_json(g.metadata("harness"), c.name);
  const auto config_path =
      c.hub ? hub_config() : test::sd_data() / c.model / "scheduler" / "scheduler_config.json";
  auto s = make_pipeline_scheduler(SchedulerConfig::load(config_path), c.scheduler);
  ASSERT_EQ(s->name(), harness["scheduler"].get<std::string>());
  const int64_t steps = harness["steps"];
  const double strength = harness["strength"].is_null() ? 1.0 : harness["strength"].get<double>();
  const double eta = harness["eta"].is_null() ? 0.0 : harness["eta"].get<double>();
  s->set_timesteps(steps);
  expect_same(s->timesteps(), g.get("timesteps"), "timesteps");
  TimestepPlan plan = get_timesteps(*s, steps, strength);

  at::Tensor latents = g.get("sched.0.sample");
  at::Generator generator = test::cpu_generator(harness["seed"].get<uint64_t>());
  const int draws = strength < 1.0 ? 3 : 2;
  for (int i = 0; i < draws; ++i) {
    at::Tensor r = randn_tensor(latents.sizes(), generator, at::kCPU, at::kFloat);
    if (i == draws - 2) expect_same(r, g.get("prepare_latents.noise"), "initial noise");
  }
  if (strength == 1.0)
    expect_same(latents, g.get("prepare_latents.noise") * s->init_noise_sigma(), "initial latents");

  ASSERT_TRUE(g.has("sched." + std::to_string(plan.timesteps.size(0) - 1) + ".prev_sample"));
  ASSERT_FALSE(g.has("sched." + std::to_string(plan.timesteps.size(0)) + ".prev_sample"));
  for (int64_t k = 0; k < plan.timesteps.size(0); ++k) {
    const std::string P = "sched." + std::to_string(k) + ".";
    at::Tensor t = plan.timesteps[k];
    expect_same(t, g.get(P + "timestep"), P + "timestep");
    expect_same(latents, g.get(P + "sample"), P + "sample");
    at::Tensor unet_in = s->scale_model_input(at::cat({latents, latents}), t);
    expect_same(unet_in, g.get("unet." + std::to_string(k) + ".sample").slice(1, 0, 4),
        "unet." + std::to_string(k) + ".sample[:, :4]");
    StepOutput out = s->step(g.get(P + "model_output"), t, latents, generator, eta);
    expect_same(out.prev_sample, g.get(P + "prev_sample"), P + "prev_sample");
    latents = out.prev_sample;
  }
}

INSTANTIATE_TEST_SUITE_P(All, SchedPipelineDump,
    ::testing::Values(DumpCase{"inpaint_sd2_empty", "tiny-sd2", false, ""},
        DumpCase{"inpaint_sd2_cfg", "tiny-sd2", false, ""},
        DumpCase{"inpaint_sd2_strength075", "tiny-sd2", false, ""},
        DumpCase{"inpaint_sd2_w96h64", "tiny-sd2", false, ""},
        DumpCase{"inpaint_sd2_empty_ddim", "tiny-sd2", false, "ddim"},
        DumpCase{"inpaint_sd2_empty_euler_a", "tiny-sd2", false, "euler-ancestral"},
        DumpCase{"inpaint_sd2_empty_dpmpp2m", "tiny-sd2", false, "dpm-solver++"},
        DumpCase{"inpaint_sd2_empty_euler_a_hubcfg", "tiny-sd2", true, "euler-ancestral"},
        DumpCase{"inpaint_sd2_empty_dpmpp2m_hubcfg", "tiny-sd2", true, "dpm-solver++"},
        DumpCase{"inpaint_sd15_empty", "tiny-sd15", false, ""},
        DumpCase{"inpaint_sd15_cfg", "tiny-sd15", false, ""},
        DumpCase{"inpaint_sd15_strength075", "tiny-sd15", false, ""},
        DumpCase{"inpaint_sd15_w96h64", "tiny-sd15", false, ""}),
    [](const auto& info) { return std::string(info.param.name).substr(8); });

class StatsPrinter : public ::testing::Environment {
 public:
  void TearDown() override {
    const auto& s = test::ErrorStats::global();
    std::cout << "[sched] " << s.compared << " tensor comparisons, " << s.bit_exact
              << " bit-exact; largest difference: abs " << s.max_abs << ", rel " << s.max_rel
              << "\n";
  }
};
const auto* const stats_printer = ::testing::AddGlobalTestEnvironment(new StatsPrinter);

}  // namespace
}  // namespace rip::sd
