// SPDX-License-Identifier: LGPL-2.1-or-later
#include "rip/sd/sched/schedule_common.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include "rip/error.h"

namespace rip::sd::sched {

namespace {

// Python's json module writes these bare words; SchedulerConfig::load turns
// them into strings, read back here.
bool special_double(const nlohmann::json& v, double* out) {
  if (!v.is_string()) return false;
  const auto& s = v.get_ref<const std::string&>();
  if (s == "-Infinity")
    *out = -std::numeric_limits<double>::infinity();
  else if (s == "Infinity")
    *out = std::numeric_limits<double>::infinity();
  else if (s == "NaN")
    *out = std::numeric_limits<double>::quiet_NaN();
  else
    return false;
  return true;
}

}  // namespace

ConfigValues::ConfigValues(const SchedulerConfig& config, std::string class_name)
    : config_(config), class_name_(std::move(class_name)) {}

const nlohmann::json* ConfigValues::find(const std::string& key) const {
  if (!config_.values.is_object()) return nullptr;
  auto it = config_.values.find(key);
  if (it == config_.values.end() || it->is_null()) return nullptr;
  return &*it;
}

void ConfigValues::wrong_type(const std::string& key, const char* expected) const {
  throw rip::Error(config_.source + ": \"" + key + "\" must be " + expected + " (read for " +
      class_name_ + "), but it is " + find(key)->dump() + "; fix the scheduler config file");
}

void ConfigValues::unsupported(
    const std::string& key, const std::string& value, const std::string& why) const {
  throw rip::Error(config_.source + ": " + class_name_ + " with " + key + " = " + value +
      " is not supported: " + why);
}

int64_t ConfigValues::get_int(const std::string& key, int64_t fallback) const {
  const auto* v = find(key);
  if (!v) return fallback;
  if (v->is_number_integer()) return v->get<int64_t>();
  wrong_type(key, "an integer");
}

double ConfigValues::get_double(const std::string& key, double fallback) const {
  const auto* v = find(key);
  if (!v) return fallback;
  double special = 0;
  if (special_double(*v, &special)) return special;
  if (v->is_number()) return v->get<double>();
  wrong_type(key, "a number");
}

bool ConfigValues::get_bool(const std::string& key, bool fallback) const {
  const auto* v = find(key);
  if (!v) return fallback;
  if (v->is_boolean()) return v->get<bool>();
  wrong_type(key, "true or false");
}

std::string ConfigValues::get_string(const std::string& key, const std::string& fallback) const {
  const auto* v = find(key);
  if (!v) return fallback;
  if (v->is_string()) return v->get<std::string>();
  wrong_type(key, "a string");
}

c10::optional<std::string> ConfigValues::get_optional_string(const std::string& key) const {
  if (!find(key)) return c10::nullopt;
  return get_string(key, "");
}

c10::optional<std::vector<double>> ConfigValues::get_double_list(const std::string& key) const {
  const auto* v = find(key);
  if (!v) return c10::nullopt;
  if (!v->is_array()) wrong_type(key, "a list of numbers");
  std::vector<double> out;
  for (const auto& e : *v) {
    if (!e.is_number()) wrong_type(key, "a list of numbers");
    out.push_back(e.get<double>());
  }
  return out;
}

CommonSettings CommonSettings::read(const ConfigValues& values, bool has_rescale_key,
    const std::string& default_spacing, const std::vector<std::string>& predictions) {
  CommonSettings s;
  s.num_train_timesteps = values.get_int("num_train_timesteps", s.num_train_timesteps);
  s.beta_start = values.get_double("beta_start", s.beta_start);
  s.beta_end = values.get_double("beta_end", s.beta_end);
  s.beta_schedule = values.get_string("beta_schedule", s.beta_schedule);
  s.trained_betas = values.get_double_list("trained_betas");
  if (has_rescale_key) s.rescale_betas_zero_snr = values.get_bool("rescale_betas_zero_snr", false);
  s.prediction_type = values.get_string("prediction_type", s.prediction_type);
  s.timestep_spacing = values.get_string("timestep_spacing", default_spacing);
  s.steps_offset = values.get_int("steps_offset", s.steps_offset);
  if (s.num_train_timesteps < 2 || s.num_train_timesteps > 100000)
    values.unsupported(
        "num_train_timesteps", std::to_string(s.num_train_timesteps), "expected 2..100000");
  if (s.trained_betas && static_cast<int64_t>(s.trained_betas->size()) != s.num_train_timesteps)
    values.unsupported("trained_betas", std::to_string(s.trained_betas->size()) + " values",
        "expected num_train_timesteps = " + std::to_string(s.num_train_timesteps) + " values");
  if (!s.trained_betas)
    check_choice(
        values, "beta_schedule", s.beta_schedule, {"linear", "scaled_linear", "squaredcos_cap_v2"});
  check_choice(values, "prediction_type", s.prediction_type, predictions);
  check_choice(values, "timestep_spacing", s.timestep_spacing, {"linspace", "leading", "trailing"});
  return s;
}

namespace {

// diffusers' betas_for_alpha_bar (cosine), in Python float64 maths.
at::Tensor betas_for_alpha_bar(int64_t n) {
  const double max_beta = 0.999;
  auto alpha_bar = [](double t) { return std::pow(std::cos((t + 0.008) / 1.008 * M_PI / 2), 2.0); };
  std::vector<double> betas;
  for (int64_t i = 0; i < n; ++i) {
    const double t1 = static_cast<double>(i) / static_cast<double>(n);
    const double t2 = static_cast<double>(i + 1) / static_cast<double>(n);
    betas.push_back(std::min(1 - alpha_bar(t2) / alpha_bar(t1), max_beta));
  }
  return float32_tensor(betas);
}

// diffusers' rescale_zero_terminal_snr, op by op on float32 tensors.
at::Tensor rescale_zero_terminal_snr(const at::Tensor& betas) {
  at::Tensor alphas = at::rsub(betas, 1.0);
  at::Tensor alphas_cumprod = at::cumprod(alphas, 0);
  at::Tensor alphas_bar_sqrt = alphas_cumprod.sqrt();
  at::Tensor sqrt_0 = alphas_bar_sqrt[0].clone();
  at::Tensor sqrt_T = alphas_bar_sqrt[-1].clone();
  alphas_bar_sqrt.sub_(sqrt_T);
  alphas_bar_sqrt.mul_(sqrt_0 / (sqrt_0 - sqrt_T));
  at::Tensor alphas_bar = at::pow(alphas_bar_sqrt, 2);
  at::Tensor ratios = alphas_bar.slice(0, 1) / alphas_bar.slice(0, 0, -1);
  at::Tensor all = at::cat({alphas_bar.slice(0, 0, 1), ratios});
  return at::rsub(all, 1);
}

}  // namespace

NoiseSchedule NoiseSchedule::make(const CommonSettings& s, const std::string& class_name) {
  NoiseSchedule out;
  const auto f32 = at::TensorOptions().dtype(at::kFloat);
  if (s.trained_betas) {
    out.betas = float32_tensor(*s.trained_betas);
  } else if (s.beta_schedule == "linear") {
    out.betas = at::linspace(s.beta_start, s.beta_end, s.num_train_timesteps, f32);
  } else if (s.beta_schedule == "scaled_linear") {
    // The square roots are Python floats (pow(x, 0.5) in libm); linspace
    // runs in float32 (its first half start + i*step, second half
    // end - (n-1-i)*step), then ** 2.
    out.betas = at::pow(at::linspace(std::pow(s.beta_start, 0.5), std::pow(s.beta_end, 0.5),
                            s.num_train_timesteps, f32),
        2);
  } else if (s.beta_schedule == "squaredcos_cap_v2") {
    out.betas = betas_for_alpha_bar(s.num_train_timesteps);
  } else {
    throw rip::Error(class_name + ": beta_schedule \"" + s.beta_schedule +
        "\" is not "
        "supported; use \"linear\", \"scaled_linear\" or \"squaredcos_cap_v2\"");
  }
  if (s.rescale_betas_zero_snr) out.betas = rescale_zero_terminal_snr(out.betas);
  out.alphas = at::rsub(out.betas, 1.0);
  // The CPU cumprod accumulates in double and rounds each output to float,
  // which is what diffusers gets at construction (always on the CPU).
  out.alphas_cumprod = at::cumprod(out.alphas, 0);
  return out;
}

at::Tensor final_alpha_cumprod(const NoiseSchedule& schedule, bool set_alpha_to_one) {
  return set_alpha_to_one ? at::scalar_tensor(1.0, at::kFloat) : schedule.alphas_cumprod[0];
}

std::vector<int64_t> ddim_timesteps(const CommonSettings& s, int64_t n) {
  const int64_t T = s.num_train_timesteps;
  std::vector<int64_t> ts;
  if (s.timestep_spacing == "linspace") {
    for (double x : np_linspace(0, static_cast<double>(T - 1), n))
      ts.push_back(static_cast<int64_t>(np_round(x)));
    std::reverse(ts.begin(), ts.end());
  } else if (s.timestep_spacing == "leading") {
    const int64_t ratio = T / n;
    for (int64_t i = n - 1; i >= 0; --i) ts.push_back(i * ratio + s.steps_offset);
  } else {  // trailing
    const double ratio = static_cast<double>(T) / static_cast<double>(n);
    for (double x : np_arange(static_cast<double>(T), 0, -ratio))
      ts.push_back(static_cast<int64_t>(np_round(x)) - 1);
  }
  return ts;
}

void check_choice(const ConfigValues& values, const std::string& key, const std::string& value,
    const std::vector<std::string>& supported) {
  for (const auto& s : supported)
    if (s == value) return;
  std::string list;
  for (const auto& s : supported) list += (list.empty() ? "\"" : ", \"") + s + "\"";
  values.unsupported(key, "\"" + value + "\"", "use one of " + list);
}

std::vector<double> np_linspace(double start, double stop, int64_t num) {
  // numpy.linspace: y = arange(num) * step + start with step = (stop -
  // start) / (num - 1), the last element set to stop.
  std::vector<double> y(static_cast<size_t>(std::max<int64_t>(num, 0)));
  const int64_t div = num - 1;
  const double delta = stop - start;
  if (div > 0) {
    const double step = delta / static_cast<double>(div);
    for (int64_t i = 0; i < num; ++i) {
      double v = (step == 0) ? (static_cast<double>(i) / static_cast<double>(div)) * delta
                             : static_cast<double>(i) * step;
      y[static_cast<size_t>(i)] = v + start;
    }
    y.back() = stop;
  } else if (num == 1) {
    y[0] = start;
  }
  return y;
}

std::vector<double> np_arange(double start, double stop, double step) {
  // numpy.arange for floats: length ceil((stop - start) / step); the buffer
  // gets start and start + step, then fill() writes start + i * delta with
  // delta = (start + step) - start.
  const double len_d = std::ceil((stop - start) / step);
  if (!(len_d > 0)) return {};
  const auto len = static_cast<size_t>(len_d);
  std::vector<double> y(len);
  y[0] = start;
  if (len > 1) y[1] = start + step;
  const double delta = (len > 1) ? y[1] - start : 0.0;
  for (size_t i = 2; i < len; ++i) y[i] = start + static_cast<double>(i) * delta;
  return y;
}

double np_round(double x) {
  return std::nearbyint(x);
}

std::vector<double> np_interp(
    const std::vector<double>& x, const std::vector<double>& xp, const std::vector<double>& fp) {
  // NumPy's arr_interp (compiled_base.c) for len(xp) >= 2: j = last index
  // with xp[j] <= x; exact hits and the right end return fp[j]; otherwise
  // slope * (x - xp[j]) + fp[j] with slope = (fp[j+1] - fp[j]) / (xp[j+1] - xp[j]).
  const size_t n = xp.size();
  std::vector<double> out(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double v = x[i];
    if (std::isnan(v)) {
      out[i] = v;
      continue;
    }
    if (v > xp[n - 1]) {
      out[i] = fp[n - 1];
      continue;
    }
    if (v < xp[0]) {
      out[i] = fp[0];
      continue;
    }
    const size_t j =
        static_cast<size_t>(std::upper_bound(xp.begin(), xp.end(), v) - xp.begin()) - 1;
    if (j == n - 1 || xp[j] == v) {
      out[i] = fp[j];
      continue;
    }
    const double slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j]);
    double r = slope * (v - xp[j]) + fp[j];
    if (std::isnan(r)) {
      r = slope * (v - xp[j + 1]) + fp[j + 1];
      if (std::isnan(r) && fp[j] == fp[j + 1]) r = fp[j];
    }
    out[i] = r;
  }
  return out;
}

std::vector<double> to_doubles(const at::Tensor& t) {
  at::Tensor d = t.to(at::kDouble).contiguous();
  const double* p = d.data_ptr<double>();
  return std::vector<double>(p, p + d.numel());
}

at::Tensor int64_tensor(const std::vector<int64_t>& values) {
  at::Tensor t = at::empty({static_cast<int64_t>(values.size())}, at::kLong);
  std::copy(values.begin(), values.end(), t.data_ptr<int64_t>());
  return t;
}

at::Tensor float32_tensor(const std::vector<double>& values) {
  at::Tensor t = at::empty({static_cast<int64_t>(values.size())}, at::kFloat);
  float* p = t.data_ptr<float>();
  for (size_t i = 0; i < values.size(); ++i) p[i] = static_cast<float>(values[i]);
  return t;
}

void check_num_inference_steps(const std::string& class_name, int64_t n, int64_t train) {
  if (n < 1 || n > train)
    throw rip::Error(class_name + ": the number of inference steps must be between 1 and " +
        "num_train_timesteps (" + std::to_string(train) + "), not " + std::to_string(n));
}

at::Tensor ddpm_add_noise(const at::Tensor& alphas_cumprod, const at::Tensor& original,
    const at::Tensor& noise, const at::Tensor& timesteps) {
  at::Tensor ac = alphas_cumprod.to(original.device()).to(original.scalar_type());
  at::Tensor t = timesteps.to(original.device());
  auto unsqueeze_to = [&](at::Tensor x) {
    x = x.flatten();
    while (x.dim() < original.dim()) x = x.unsqueeze(-1);
    return x;
  };
  at::Tensor sqrt_alpha_prod = unsqueeze_to(at::pow(ac.index({t}), 0.5));
  at::Tensor sqrt_one_minus_alpha_prod = unsqueeze_to(at::pow(at::rsub(ac.index({t}), 1), 0.5));
  return sqrt_alpha_prod * original + sqrt_one_minus_alpha_prod * noise;
}

at::Tensor add_noise_sigmas(const at::Tensor& sigmas, const at::Tensor& schedule,
    const at::Tensor& timesteps, int64_t step_index, int64_t begin_index, int64_t no_match,
    const at::Tensor& original, const std::string& class_name) {
  const at::Tensor ts = timesteps.reshape({-1});
  std::vector<int64_t> indices;
  for (int64_t i = 0; i < ts.size(0); ++i) {
    int64_t index = step_index >= 0 ? step_index : begin_index;
    if (begin_index < 0) {
      index = index_for_timestep(schedule, ts[i], no_match);
      if (index < 0)
        throw rip::Error(class_name + ": add_noise() timestep " +
            std::to_string(ts[i].item<double>()) + " is not one of timesteps()");
    }
    indices.push_back(index);
  }
  at::Tensor s = sigmas.to(original.device()).to(original.scalar_type());
  at::Tensor sigma = s.index({int64_tensor(indices).to(s.device())}).flatten();
  while (sigma.dim() < original.dim()) sigma = sigma.unsqueeze(-1);
  return sigma;
}

void reject_thresholding(const ConfigValues& values) {
  if (values.get_bool("thresholding", false))
    values.unsupported("thresholding", "true",
        "dynamic thresholding is not implemented (diffusers notes it is unsuitable for "
        "latent-space models such as Stable Diffusion); set it to false");
}

int64_t index_for_timestep(
    const at::Tensor& schedule, const at::Tensor& timestep, int64_t no_match) {
  at::Tensor indices = at::eq(schedule, timestep.to(schedule.device())).nonzero();
  const int64_t count = indices.size(0);
  if (count == 0) return no_match;
  return indices[count > 1 ? 1 : 0].item<int64_t>();
}

}  // namespace rip::sd::sched
