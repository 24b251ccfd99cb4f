// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Batching across loops: inpaints per minute for 1, 2 and 4 loops sharing
// one model, one at a time (max_batch 1) against batched (max_batch =
// loops), and whether the images are the same.
//
//   build/bench/bench-batching MODEL [--loops 1,2,4] [--inpaints K]
//       [--steps N] [--size S] [--device cpu|cuda] [--dtype fp32|bf16|fp16]
//       [--threads N]
//
// Each loop is a thread (as each pipeline's streaming thread is) that runs K
// inpaints, feeding each output back in as the RIP loop does, with the
// empty prompt (the study's: one UNet row per loop and step). The first
// inpaint of the run is a warm-up and not timed. bench/run-batching-bench.sh
// runs it on the tiny and the full-size model.
#include <ATen/Parallel.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <sstream>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "rip/core/blas_threading.h"
#include "rip/core/memory.h"
#include "rip/sd/pipeline/inpaint_pipeline.h"

using rip::sd::InpaintPipeline;
using rip::sd::InpaintSettings;

namespace {

struct Options {
  std::string model;
  std::vector<int> loops = {1, 2, 4};
  int inpaints = 2;
  int steps = 10;
  int size = 0;  // 0 = the model's default
  std::string device = "cpu", dtype = "fp32";
  int threads = 0;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
      "bench-batching: %s\n"
      "usage: bench-batching MODEL [--loops 1,2,4] [--inpaints K] [--steps N] [--size S]\n"
      "       [--device cpu|cuda] [--dtype fp32|bf16|fp16] [--threads N]\n",
      why);
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  if (argc < 2) usage("no model given");
  o.model = argv[1];
  for (int i = 2; i < argc; i++) {
    const std::string a = argv[i];
    if (i + 1 >= argc) usage(("no value after " + a).c_str());
    const std::string v = argv[++i];
    if (a == "--loops") {
      o.loops.clear();
      std::stringstream ss(v);
      for (std::string n; std::getline(ss, n, ',');) o.loops.push_back(std::atoi(n.c_str()));
    } else if (a == "--inpaints") {
      o.inpaints = std::atoi(v.c_str());
    } else if (a == "--steps") {
      o.steps = std::atoi(v.c_str());
    } else if (a == "--size") {
      o.size = std::atoi(v.c_str());
    } else if (a == "--device") {
      o.device = v;
    } else if (a == "--dtype") {
      o.dtype = v;
    } else if (a == "--threads") {
      o.threads = std::atoi(v.c_str());
    } else {
      usage(("unknown option " + a).c_str());
    }
  }
  if (o.inpaints < 1 || o.steps < 1) usage("--inpaints and --steps must be at least 1");
  for (int n : o.loops)
    if (n < 1) usage("--loops takes positive counts");
  return o;
}

// A seed image with structure at every scale, and a centred square mask of
// a quarter of the side, as a 128 px mask is on 512x512.
cv::Mat seed_image(int size, int loop) {
  cv::Mat img(size, size, CV_8UC3);
  cv::RNG rng(1234 + loop);
  rng.fill(img, cv::RNG::UNIFORM, 0, 255);
  cv::GaussianBlur(img, img, cv::Size(0, 0), size / 64.0 + 1);
  return img;
}

cv::Mat centre_mask(int size) {
  cv::Mat mask(size, size, CV_8UC1, cv::Scalar(0));
  const int side = size / 4;
  mask(cv::Rect((size - side) / 2, (size - side) / 2, side, side)).setTo(255);
  return mask;
}

struct Result {
  double seconds = 0;
  std::vector<std::vector<cv::Mat>> images;  // per loop, per inpaint
};

Result run(InpaintPipeline& p, const Options& o, int size, int loops, int max_batch) {
  const cv::Mat mask = centre_mask(size);
  Result r;
  r.images.resize(loops);
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::future<void>> threads;
  for (int l = 0; l < loops; l++)
    threads.push_back(std::async(std::launch::async, [&, l] {
      cv::Mat image = seed_image(size, l);
      for (int k = 0; k < o.inpaints; k++) {
        InpaintSettings s;
        s.steps = o.steps;
        s.seed = uint64_t(100 * l + k);
        s.max_batch = max_batch;
        image = p.inpaint(image, mask, s);
        r.images[l].push_back(image.clone());
      }
    }));
  for (auto& t : threads) t.get();
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

std::string counts_text(const std::map<int, int64_t>& now, const std::map<int, int64_t>& before) {
  std::string text;
  for (auto it = now.rbegin(); it != now.rend(); ++it) {
    const int64_t was = before.count(it->first) ? before.at(it->first) : 0;
    if (it->second == was) continue;
    text += (text.empty() ? "" : ", ") + std::to_string(it->first) + " x " +
        std::to_string(it->second - was);
  }
  return text;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  rip::keep_freed_memory();
  const int threads = rip::sd::set_compute_threads(o.threads);
  rip::sd::PipelineOptions po;
  po.model_dir = o.model;
  po.device = o.device;
  po.dtype = o.dtype;
  std::shared_ptr<InpaintPipeline> p;
  try {
    p = InpaintPipeline::load(po);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench-batching: %s\n", e.what());
    return 1;
  }
  const int size = o.size ? o.size : p->default_size();
  std::printf("model %s, %dx%d, %d steps, %s %s, %d threads, BLAS %s, %d inpaints per loop\n",
      o.model.c_str(), size, size, o.steps, o.device.c_str(), o.dtype.c_str(), threads,
      rip::blas_name(rip::loaded_blas()), o.inpaints);
  {  // warm-up: first-touch of weights and allocator
    InpaintSettings s;
    s.steps = 1;
    p->inpaint(seed_image(size, 0), centre_mask(size), s);
  }
  std::printf(
      "| loops | one at a time (inpaints/min) | batched (inpaints/min) | ratio | same "
      "images | UNet batches (loops x calls) |\n|---|---|---|---|---|---|\n");
  for (int loops : o.loops) {
    const Result alone = run(*p, o, size, loops, 1);
    const auto before = p->batch_counts();
    const Result batched = run(*p, o, size, loops, loops);
    const auto after = p->batch_counts();
    bool same = true;
    for (int l = 0; l < loops; l++)
      for (int k = 0; k < o.inpaints; k++)
        same = same && cv::norm(alone.images[l][k], batched.images[l][k], cv::NORM_INF) == 0;
    const double n = double(loops) * o.inpaints;
    const double per_min_alone = 60.0 * n / alone.seconds;
    const double per_min_batched = 60.0 * n / batched.seconds;
    const std::map<int, int64_t> empty;
    std::printf("| %d | %.2f | %.2f | %.2f | %s | %s |\n", loops, per_min_alone, per_min_batched,
        per_min_batched / per_min_alone, same ? "yes" : "NO",
        counts_text(after.count("unet") ? after.at("unet") : empty,
            before.count("unet") ? before.at("unet") : empty)
            .c_str());
    std::fflush(stdout);
  }
  return 0;
}
