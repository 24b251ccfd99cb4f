// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Speed and peak memory of the Stable Diffusion port, one measurement per
// process (so the peak memory is that measurement's):
//
//   build/bench/bench-sd MODEL unet1|unet2|vae|inpaint-empty|inpaint-prompt [STEPS] [SIZE]
//
// vae: one VAE encode and decode at SIZE (the fixed part of an inpaint).
// unet1 / unet2: one UNet call at SIZE (batch 1 = our step with the empty
// prompt, batch 2 = a classifier-free-guidance step); inpaint-*: a whole
// inpaint with STEPS steps, without paste-back (diffusers' own image).
// Prints one JSON line like
// bench/bench_sd_diffusers.py does; bench/run-sd-bench.sh runs both and
// prints the ratios. With RIP_BENCH_PROFILE=FILE set, a unet measurement
// also writes a Chrome trace of the last timed call (both sides). Besides
// times and peak memory it prints the minor page faults of the timed call,
// the major ones (pages read back from the files) of all timed calls,
// the BLAS libtorch ran on, and output_fnv1a, a hash of the result's bytes:
// the same hash from two builds or settings means the same bits out.
// RIP_BENCH_DTYPE=fp32|bf16 (default fp32) is the compute dtype; the JSON
// line says which, and which of the CPU's features bf16 can use.
// RIP_BENCH_SAVE=FILE writes the result for bench/compare_outputs.py: a unet
// call's output as raw float32, an inpaint's image as PNG (vae: the decode).
#include <sys/resource.h>
#include <time.h>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>

#include <torch/csrc/autograd/profiler_legacy.h>

#include "rip/core/blas_threading.h"
#include "rip/core/memory.h"
#include "rip/sd/models/unet.h"
#include "rip/sd/models/vae.h"
#include "rip/sd/pipeline/inpaint_pipeline.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

// CPU time of the whole process (all threads), user + system: on a machine
// shared with other work it varies much less than the wall time.
static double cpu_seconds() {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// RIP_BENCH_REPEATS=N: time N calls and keep the best (a 2-core VM shared
// with other work is noisy; the best call is the machine's speed).
static int bench_repeats() {
  const char* env = std::getenv("RIP_BENCH_REPEATS");
  return env ? std::max(1, std::atoi(env)) : 1;
}

// FNV-1a over the bytes of a result: two builds (or settings) that print
// the same fingerprint computed the same bits, so a speed change can be
// shown not to change a result.
static uint64_t fingerprint(const void* data, size_t bytes, uint64_t h = 1469598103934665603ull) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < bytes; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

static uint64_t fingerprint(const at::Tensor& t, uint64_t h = 1469598103934665603ull) {
  const at::Tensor c = t.contiguous();
  return fingerprint(c.data_ptr(), c.numel() * c.element_size(), h);
}

// Minor page faults so far: on a VM every fault of fresh memory costs
// microseconds, so the faults of a timed call are part of its time.
static long minor_faults() {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_minflt;
}

// Major page faults so far: pages of the memory-mapped weights that the
// kernel dropped and reads back from the file. A machine that reclaims
// memory not used for a while (DAMON's pageout scheme, memory pressure)
// drops mapped weights, never anonymous copies: docs/models.md.
static long major_faults() {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_majflt;
}

// The CPU's name and the /proc/cpuinfo flags that decide how bf16 runs:
// oneDNN's bf16 convolutions need AVX-512 (avx512bw); avx512_bf16 gives
// native bf16 dot products, amx_bf16 the matrix tiles.
static std::string cpu_json() {
  std::ifstream in("/proc/cpuinfo");
  std::string line, name, flags;
  while (std::getline(in, line) && (name.empty() || flags.empty())) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string key = line.substr(0, line.find_first_of(" \t"));
    const std::string value = colon + 2 <= line.size() ? line.substr(colon + 2) : "";
    if (key == "model" && line.rfind("model name", 0) == 0 && name.empty()) name = value;
    if (key == "flags" && flags.empty()) flags = " " + value + " ";
  }
  std::string found;
  for (const char* f : {"avx2", "avx512bw", "avx512_bf16", "amx_bf16"})
    if (flags.find(std::string(" ") + f + " ") != std::string::npos)
      found += std::string(found.empty() ? "" : " ") + f;
  std::string quoted;
  for (char c : name)
    if (c != '"' && c != '\\') quoted += c;
  return "\"cpu\": \"" + quoted + "\", \"cpu_flags\": \"" + found + "\", ";
}

static at::ScalarType bench_dtype(std::string& name) {
  const char* env = std::getenv("RIP_BENCH_DTYPE");
  name = env && *env ? env : "fp32";
  if (name == "fp32") return at::kFloat;
  if (name == "bf16") return at::kBFloat16;
  throw std::runtime_error("RIP_BENCH_DTYPE must be fp32 or bf16, not '" + name + "'");
}

// RIP_BENCH_SAVE=FILE: the result's values, raw little-endian float32 in
// its logical (NCHW) order, as bench_sd_diffusers.py writes them.
static void save_tensor(const at::Tensor& t) {
  const char* path = std::getenv("RIP_BENCH_SAVE");
  if (!path || !*path) return;
  const at::Tensor c = t.to(at::kFloat).contiguous();
  std::ofstream out(path, std::ios::binary);
  out.write(static_cast<const char*>(c.data_ptr()), c.numel() * sizeof(float));
  if (!out) throw std::runtime_error(std::string("cannot write ") + path);
}

static double peak_rss_mib() {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024.0;
}

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr,
        "usage: bench-sd MODEL unet1|unet2|vae|inpaint-empty|"
        "inpaint-prompt [STEPS] [SIZE]\n");
    return 2;
  }
  const std::string model = argv[1], what = argv[2];
  // As rip-inpaint and sdinpaint do (rip/memory.h).
  rip::keep_freed_memory();
  const int steps = argc > 3 ? std::stoi(argv[3]) : 50;
  const int size = argc > 4 ? std::stoi(argv[4]) : 512;
  double seconds = 0, cpu = -1, encode_s = -1, decode_s = -1;
  uint64_t output = 0;
  long faults = -1;
  long major0 = 0;  // set when the timed calls begin
  std::string dtype_name;
  try {
    const at::ScalarType dtype = bench_dtype(dtype_name);
    rip::sd::check_device("cpu", dtype_name);
    if (what == "unet1" || what == "unet2") {
      c10::InferenceMode guard;
      auto unet = rip::sd::UNet2DConditionModel::load(
          std::filesystem::path(model) / "unet", "", dtype, at::Device(at::kCPU));
      const int64_t b = what == "unet1" ? 1 : 2;
      auto gen = at::make_generator<at::CPUGeneratorImpl>(0);
      const auto f32 = at::TensorOptions().dtype(at::kFloat);
      // Drawn in fp32 and then rounded, so that both dtypes see the same inputs.
      auto x = at::randn({b, 9, size / 8, size / 8}, gen, f32).to(dtype);
      auto ctx =
          at::randn({b, 77, int64_t(unet.config().cross_attention_dim.at(0))}, gen, f32).to(dtype);
      auto t = at::scalar_tensor(501, at::kLong);
      unet.forward(x, t, ctx);  // warm-up
      // RIP_BENCH_PROFILE=FILE: a Chrome trace of the last timed call's ATen
      // ops (bench/profile_summary.py compares it with diffusers' trace).
      const char* profile = std::getenv("RIP_BENCH_PROFILE");
      std::unique_ptr<torch::autograd::profiler::RecordProfile> recorder;
      const int repeats = bench_repeats();
      major0 = major_faults();
      for (int r = 0; r < repeats; ++r) {
        if (profile && *profile && r + 1 == repeats)
          recorder =
              std::make_unique<torch::autograd::profiler::RecordProfile>(std::string(profile));
        const double c0 = cpu_seconds();
        const long f0 = minor_faults();
        auto t0 = std::chrono::steady_clock::now();
        const at::Tensor result = unet.forward(x, t, ctx);
        output = fingerprint(result);
        if (r + 1 == repeats) save_tensor(result);
        faults = r == 0 ? minor_faults() - f0 : std::min(faults, minor_faults() - f0);
        const double s =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const double c = cpu_seconds() - c0;
        seconds = r == 0 ? s : std::min(seconds, s);
        cpu = r == 0 ? c : std::min(cpu, c);
        recorder.reset();
      }
    } else if (what == "vae") {
      // VAE encode of a SIZE image (channels-last, as the pipeline hands it
      // over) and decode of its latents: the fixed part of every inpaint.
      c10::InferenceMode guard;
      auto vae = rip::sd::AutoencoderKL::load(
          std::filesystem::path(model) / "vae", "", dtype, at::Device(at::kCPU));
      auto gen = at::make_generator<at::CPUGeneratorImpl>(0);
      const auto f32 = at::TensorOptions().dtype(at::kFloat);
      auto x = (at::rand({1, size, size, 3}, gen, f32) * 2 - 1).to(dtype).permute({0, 3, 1, 2});
      auto z = at::randn({1, 4, size / 8, size / 8}, gen, f32).to(dtype);
      vae.encode_moments(x);  // warm-up
      vae.decode(z);
      const int repeats = bench_repeats();
      major0 = major_faults();
      for (int r = 0; r < repeats; ++r) {
        const double c0 = cpu_seconds();
        const long f0 = minor_faults();
        auto t0 = std::chrono::steady_clock::now();
        output = fingerprint(vae.encode_moments(x));
        auto t1 = std::chrono::steady_clock::now();
        const at::Tensor decoded = vae.decode(z);
        output = fingerprint(decoded, output);
        if (r + 1 == repeats) save_tensor(decoded);
        auto t2 = std::chrono::steady_clock::now();
        const double c = cpu_seconds() - c0;
        const double e = std::chrono::duration<double>(t1 - t0).count();
        const double d = std::chrono::duration<double>(t2 - t1).count();
        if (r == 0 || e + d < seconds) {
          seconds = e + d;
          encode_s = e;
          decode_s = d;
        }
        cpu = r == 0 ? c : std::min(cpu, c);
        faults = r == 0 ? minor_faults() - f0 : std::min(faults, minor_faults() - f0);
      }
    } else if (what == "inpaint-empty" || what == "inpaint-prompt") {
      rip::sd::PipelineOptions options;
      options.model_dir = model;
      options.dtype = dtype_name;
      auto pipeline = rip::sd::InpaintPipeline::load(options);
      cv::Mat image(size, size, CV_8UC3, cv::Scalar(120, 90, 60));
      cv::Mat mask = cv::Mat::zeros(size, size, CV_8UC1);
      mask(cv::Rect(size / 4, size / 4, size / 4, size / 4)).setTo(255);
      rip::sd::InpaintSettings s;
      s.steps = steps;
      s.paste_back = false;  // diffusers' own image, for bench/compare_outputs.py
      if (what == "inpaint-prompt") s.prompt = "a painting of a starry night";
      // Warm-up: one 1-step inpaint, so that the timed one finds the weights
      // in memory as diffusers' does after from_pretrained (memory-mapped
      // weights are read on first use) and the prompt encoded, as every
      // frame after the first of a loop does.
      {
        rip::sd::InpaintSettings warm = s;
        warm.steps = 1;
        pipeline->inpaint(image, mask, warm);
      }
      const double c0 = cpu_seconds();
      const long f0 = minor_faults();
      major0 = major_faults();
      auto t0 = std::chrono::steady_clock::now();
      cv::Mat out = pipeline->inpaint(image, mask, s);
      output = fingerprint(out.data, out.total() * out.elemSize());
      const char* save = std::getenv("RIP_BENCH_SAVE");
      if (save && *save) {
        cv::Mat bgr;  // the pipeline's images are RGB, imwrite's BGR
        cv::cvtColor(out, bgr, cv::COLOR_RGB2BGR);
        if (!cv::imwrite(save, bgr)) throw std::runtime_error(std::string("cannot write ") + save);
      }
      seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      cpu = cpu_seconds() - c0;
      faults = minor_faults() - f0;
    } else {
      std::fprintf(stderr, "bench-sd: unknown measurement '%s'\n", what.c_str());
      return 2;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench-sd: %s\n", e.what());
    return 1;
  }
  std::printf(
      "{\"what\": \"%s\", \"dtype\": \"%s\", \"steps\": %d, \"size\": %d, "
      "\"threads\": %d, %s\"blas\": \"%s\", \"seconds\": %.3f, \"cpu_seconds\": %.3f, "
      "%s\"page_faults\": %ld, \"major_faults\": %ld, \"peak_rss_mib\": %.0f, \"output_fnv1a\": "
      "\"%016llx\"}\n",
      what.c_str(), dtype_name.c_str(), steps, size, at::get_num_threads(), cpu_json().c_str(),
      rip::blas_name(rip::loaded_blas()), seconds, cpu,
      encode_s < 0 ? ""
                   : ("\"encode_seconds\": " + std::to_string(encode_s) +
                         ", \"decode_seconds\": " + std::to_string(decode_s) + ", ")
                         .c_str(),
      faults, major_faults() - major0, peak_rss_mib(), static_cast<unsigned long long>(output));
  return 0;
}
