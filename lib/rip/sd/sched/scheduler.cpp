// SPDX-License-Identifier: LGPL-2.1-or-later
#include "rip/sd/sched/scheduler.h"

#include <ATen/ATen.h>

#include <fstream>
#include <sstream>

#include "rip/error.h"
#include "rip/sd/sched/ddim.h"
#include "rip/sd/sched/dpm_solver_multistep.h"
#include "rip/sd/sched/euler_ancestral.h"
#include "rip/sd/sched/pndm.h"

namespace rip::sd {

namespace {

// Python's json.dump writes NaN, Infinity and -Infinity as bare words
// (diffusers saves lambda_min_clipped = -inf that way). Outside strings,
// they become the strings "NaN", "Infinity", "-Infinity", which the
// number getters accept.
std::string quote_python_specials(const std::string& text) {
  std::string out;
  out.reserve(text.size() + 16);
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      out += c;
      if (c == '\\' && i + 1 < text.size())
        out += text[++i];
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
      out += c;
      continue;
    }
    bool replaced = false;
    for (const char* word : {"-Infinity", "Infinity", "NaN"}) {
      const size_t n = std::char_traits<char>::length(word);
      if (text.compare(i, n, word) == 0) {
        out += '"';
        out += word;
        out += '"';
        i += n - 1;
        replaced = true;
        break;
      }
    }
    if (!replaced) out += c;
  }
  return out;
}

struct ClassInfo {
  const char* class_name;
  std::vector<const char*> aliases;
};

const std::vector<ClassInfo>& classes() {
  static const std::vector<ClassInfo> list = {
      {"PNDMScheduler", {"pndm"}},
      {"DDIMScheduler", {"ddim"}},
      {"EulerAncestralDiscreteScheduler", {"euler-ancestral", "euler_a"}},
      {"DPMSolverMultistepScheduler", {"dpm-solver++", "dpmpp2m"}},
  };
  return list;
}

std::string accepted_names() {
  std::string s;
  for (const auto& c : classes()) {
    for (const char* a : c.aliases) s += std::string(s.empty() ? "" : ", ") + a;
    s += std::string(", ") + c.class_name;
  }
  return s;
}

}  // namespace

SchedulerConfig SchedulerConfig::load(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw rip::Error(path.string() +
        ": cannot read the scheduler config (missing file?); a "
        "diffusers model folder has scheduler/scheduler_config.json");
  std::stringstream buffer;
  buffer << in.rdbuf();
  return from_json(parse_python_json(buffer.str(), path.string()), path.string());
}

nlohmann::json parse_python_json(const std::string& text, const std::string& source) {
  try {
    return nlohmann::json::parse(quote_python_specials(text));
  } catch (const nlohmann::json::parse_error& e) {
    throw rip::Error(source + ": not valid JSON: " + e.what());
  }
}

SchedulerConfig SchedulerConfig::from_json(
    const nlohmann::json& values, const std::string& source) {
  if (!values.is_object()) throw rip::Error(source + ": a scheduler config must be a JSON object");
  SchedulerConfig c;
  c.source = source;
  c.values = values;
  auto it = values.find("_class_name");
  if (it != values.end() && !it->is_null()) {
    if (!it->is_string()) throw rip::Error(source + ": \"_class_name\" must be a string");
    c.class_name = it->get<std::string>();
  }
  return c;
}

bool SchedulerConfig::has(const std::string& key) const {
  auto it = values.find(key);
  return it != values.end() && !it->is_null();
}

Scheduler::~Scheduler() = default;

const at::Tensor& Scheduler::sigmas() const {
  static const at::Tensor none;
  return none;
}

void Scheduler::set_begin_index(int64_t) {}

at::Tensor Scheduler::scale_model_input(const at::Tensor& sample, const at::Tensor&) {
  return sample;
}

std::string canonical_scheduler_name(const std::string& name) {
  for (const auto& c : classes()) {
    if (name == c.class_name) return c.class_name;
    for (const char* a : c.aliases)
      if (name == a) return c.class_name;
  }
  throw rip::Error(
      "unknown or unsupported scheduler \"" + name + "\"; use one of: " + accepted_names());
}

std::vector<std::string> scheduler_names() {
  std::vector<std::string> names;
  for (const auto& c : classes()) names.emplace_back(c.aliases.front());
  return names;
}

std::unique_ptr<Scheduler> make_scheduler(const SchedulerConfig& config, const std::string& name) {
  const std::string requested = name.empty() ? config.class_name : name;
  if (requested.empty())
    throw rip::Error(config.source +
        ": no \"_class_name\" in the scheduler config; name the "
        "scheduler to use (" +
        accepted_names() + ")");
  std::string cls;
  try {
    cls = canonical_scheduler_name(requested);
  } catch (const rip::Error& e) {
    throw rip::Error(config.source + ": " + e.what());
  }
  if (cls == "PNDMScheduler")
    return std::make_unique<PNDMScheduler>(PNDMSettings::from_config(config));
  if (cls == "DDIMScheduler")
    return std::make_unique<DDIMScheduler>(DDIMSettings::from_config(config));
  if (cls == "EulerAncestralDiscreteScheduler")
    return std::make_unique<EulerAncestralDiscreteScheduler>(
        EulerAncestralSettings::from_config(config));
  return std::make_unique<DPMSolverMultistepScheduler>(DPMSolverSettings::from_config(config));
}

std::unique_ptr<Scheduler> make_pipeline_scheduler(
    const SchedulerConfig& file_config, const std::string& override_name) {
  const std::string own = file_config.class_name;
  const bool swapped =
      !override_name.empty() && (own.empty() || canonical_scheduler_name(override_name) != own);
  // StableDiffusionInpaintPipeline.__init__ rewrites outdated values in the
  // config of the scheduler it is given (the file's class): steps_offset
  // becomes 1 and skip_prk_steps true. A class swapped in later with
  // from_config(pipe.scheduler.config) sees those corrected values only for
  // keys that were in the file: the others are in _use_default_values and
  // take the new class's defaults.
  SchedulerConfig config = file_config;
  if (!swapped || config.has("steps_offset")) config.values["steps_offset"] = 1;
  if (config.has("skip_prk_steps") || (!swapped && own == "PNDMScheduler"))
    config.values["skip_prk_steps"] = true;
  return make_scheduler(config, swapped ? override_name : std::string());
}

TimestepPlan get_timesteps(Scheduler& scheduler, int64_t num_inference_steps, double strength) {
  // init_timestep = min(int(N * strength), N); int() truncates toward zero.
  const auto init_timestep =
      std::min(static_cast<int64_t>(static_cast<double>(num_inference_steps) * strength),
          num_inference_steps);
  const int64_t t_start = std::max<int64_t>(num_inference_steps - init_timestep, 0);
  const int64_t begin = t_start * scheduler.order();
  if (!scheduler.timesteps().defined())
    throw rip::Error(scheduler.name() + ": get_timesteps() before set_timesteps()");
  TimestepPlan plan;
  plan.timesteps = scheduler.timesteps().slice(0, std::min(begin, scheduler.timesteps().size(0)));
  plan.num_inference_steps = num_inference_steps - t_start;
  if (scheduler.has_begin_index()) scheduler.set_begin_index(begin);
  return plan;
}

at::Tensor randn_tensor(at::IntArrayRef shape, const c10::optional<at::Generator>& generator,
    at::Device device, at::ScalarType dtype) {
  if (generator.has_value() && generator->defined()) {
    const at::Device gen_device = generator->device();
    if (gen_device.type() != device.type() && gen_device.is_cpu())
      return at::randn(shape, generator, at::TensorOptions().dtype(dtype).device(at::kCPU))
          .to(device);
    if (gen_device.type() != device.type())
      throw rip::Error(
          "cannot draw a " + device.str() + " tensor from a generator on " + gen_device.str());
    return at::randn(shape, generator, at::TensorOptions().dtype(dtype).device(device));
  }
  return at::randn(shape, at::TensorOptions().dtype(dtype).device(device));
}

}  // namespace rip::sd
