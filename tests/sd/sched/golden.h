// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Helpers of the scheduler tests: golden files (made by diffusers, see
// tests/data/sd/PROVENANCE.md) as at::Tensors, and comparisons.
#pragma once

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "rip/io/safetensors.h"
#include "../parity.h"

namespace rip::sd::test {

// tests/data/sd (RIP_TEST_DATA from test_env, else the path meson knew).
inline std::filesystem::path sd_data() {
  const char* env = std::getenv("RIP_TEST_DATA");
  return env ? std::filesystem::path(env) / "sd" : std::filesystem::path(RIP_SD_TEST_DATA_DEFAULT);
}

inline std::filesystem::path goldens() {
  return sd_data() / "goldens";
}

class Golden {
 public:
  explicit Golden(const std::filesystem::path& path)
      : file_(rip::io::SafetensorsFile::open(path.string())) {}

  bool has(const std::string& name) const { return file_->find(name) != nullptr; }

  // A copy of the tensor (float32 or int64 in these files).
  at::Tensor get(const std::string& name) const {
    const auto* info = file_->find(name);
    if (!info) throw std::runtime_error(file_->path() + ": no tensor " + name);
    at::ScalarType type;
    switch (info->dtype) {
      case rip::io::DType::F32: type = at::kFloat; break;
      case rip::io::DType::I64: type = at::kLong; break;
      case rip::io::DType::F64: type = at::kDouble; break;
      default: throw std::runtime_error(file_->path() + ": unexpected dtype of " + name);
    }
    void* data = const_cast<uint8_t*>(file_->data(*info));
    return at::from_blob(data, info->shape, at::TensorOptions().dtype(type)).clone();
  }

  std::string metadata(const std::string& key) const {
    auto it = file_->metadata().find(key);
    if (it == file_->metadata().end())
      throw std::runtime_error(file_->path() + ": no metadata " + key);
    return it->second;
  }

 private:
  std::shared_ptr<const rip::io::SafetensorsFile> file_;
};

// The largest absolute and relative differences seen by all comparisons of
// one test binary, printed at the end (the report quotes them).
struct ErrorStats {
  double max_abs = 0;
  double max_rel = 0;
  long compared = 0;
  long bit_exact = 0;
  static ErrorStats& global() {
    static ErrorStats s;
    return s;
  }
};

// Expects actual == expected: the same dtype and shape, integers equal, and
// floating-point values within kSchedAbsTol + kSchedRelTol * |expected|
// (NaN equal to NaN). Every schedule and step is evaluated with the same
// ATen kernels and the same operation order as diffusers on the same
// libtorch, and on the machine that made the goldens they agree bit for bit
// (RIP_BIT_EXACT=1 demands that, ../parity.h). On another CPU libtorch's
// vectorised exp/log/pow may round the last bit otherwise, and the runs feed
// each step's output into the next: 1e-5 relative (~80 float32 ulps) holds
// that, while a wrong formula (a missing sqrt, an off-by-one timestep) moves
// values by far more.
constexpr double kSchedRelTol = 1e-5;
constexpr double kSchedAbsTol = 1e-6;

inline void expect_same(
    const at::Tensor& actual, const at::Tensor& expected, const std::string& what) {
  auto& stats = ErrorStats::global();
  ++stats.compared;
  ASSERT_TRUE(actual.defined()) << what << ": undefined";
  ASSERT_EQ(actual.scalar_type(), expected.scalar_type()) << what;
  ASSERT_EQ(actual.sizes(), expected.sizes()) << what;
  at::Tensor a = actual.contiguous(), e = expected.contiguous();
  if (at::equal(a, e) ||
      (a.is_floating_point() && at::equal(a.isnan(), e.isnan()) &&
          at::equal(at::nan_to_num(a), at::nan_to_num(e)))) {
    ++stats.bit_exact;
    return;
  }
  if (!a.is_floating_point() || bit_exact_mode()) {
    ADD_FAILURE() << what << ": differs from diffusers"
                  << (a.is_floating_point() ? " (RIP_BIT_EXACT=1 demands identical bits)" : "");
    return;
  }
  const at::Tensor ad = at::nan_to_num(a.to(at::kDouble)), ed = at::nan_to_num(e.to(at::kDouble));
  at::Tensor diff = (ad - ed).abs();
  const double max_abs = diff.max().item<double>();
  const double max_rel = (diff / ed.abs().clamp_min(1e-30)).max().item<double>();
  stats.max_abs = std::max(stats.max_abs, max_abs);
  stats.max_rel = std::max(stats.max_rel, max_rel);
  const bool nan_same = at::equal(a.isnan(), e.isnan());
  const bool within = (diff <= kSchedAbsTol + kSchedRelTol * ed.abs()).all().item<bool>();
  if (!nan_same || !within)
    ADD_FAILURE() << what << ": differs from diffusers, max abs " << max_abs << ", max rel "
                  << max_rel << (nan_same ? "" : " (NaN in other places)");
}

inline at::Generator cpu_generator(uint64_t seed) {
  return at::make_generator<at::CPUGeneratorImpl>(seed);
}

// torch.randn(shape, generator=torch.Generator().manual_seed(seed)).
inline at::Tensor seeded_randn(at::IntArrayRef shape, uint64_t seed) {
  return at::randn(shape, cpu_generator(seed), at::TensorOptions().dtype(at::kFloat));
}

}  // namespace rip::sd::test
