// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Batching across loops on the tiny models: loops that share one model and
// let their calls be batched (InpaintSettings::max_batch) give the images
// they give alone, bit for bit. The loops start at different times, one
// ends early, one uses guidance (two rows per call) and one has another
// frame size (its own batches); each feeds its output back in, as the RIP
// loop does.
#include <ATen/ATen.h>

#include <filesystem>
#include <iostream>
#include <future>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>

#include "rip/io/image.h"
#include "rip/sd/pipeline/inpaint_pipeline.h"
#include "../threads.h"
#include "testutil.h"  // tests/io: sd_data()

namespace fs = std::filesystem;
using rip::sd::InpaintPipeline;
using rip::sd::InpaintSettings;

namespace {

struct Loop {
  std::string image, mask;
  InpaintSettings settings;
  int iterations;
};

// One loop: each output is the next input, seed + n as sdinpaint does.
// `started` is called after the first denoising step of the first inpaint.
std::vector<cv::Mat> run_loop(InpaintPipeline& p, const Loop& loop, int max_batch, int threads,
    const std::function<void(int)>& progress = {}) {
  rip::sd::test::set_threads(threads, threads);  // the count shapes the last bits
  const fs::path g = rip::sd::test::sd_data() / "goldens";
  cv::Mat image = rip::io::load_rgb_image((g / loop.image).string());
  const cv::Mat mask = cv::imread((g / loop.mask).string(), cv::IMREAD_GRAYSCALE);
  std::vector<cv::Mat> out;
  for (int n = 0; n < loop.iterations; n++) {
    InpaintSettings s = loop.settings;
    s.seed += n;
    s.max_batch = max_batch;
    image = p.inpaint(image, mask, s, [&](int step, int) {
      if (n == 0 && progress) progress(step);
    });
    out.push_back(image.clone());
  }
  return out;
}

std::shared_ptr<InpaintPipeline> tiny_sd2() {
  rip::sd::PipelineOptions o;
  o.model_dir = rip::sd::test::sd_data() / "tiny-sd2";
  return InpaintPipeline::load(o);
}

// Every loop's images batched equal its images alone, to the bit.
void expect_same_images(std::vector<std::future<std::vector<cv::Mat>>>& together,
    const std::vector<std::vector<cv::Mat>>& alone) {
  for (size_t k = 0; k < alone.size(); k++) {
    const std::vector<cv::Mat> images = together[k].get();
    ASSERT_EQ(images.size(), alone[k].size());
    for (size_t n = 0; n < images.size(); n++)
      EXPECT_EQ(cv::norm(images[n], alone[k][n], cv::NORM_INF), 0)
          << "loop " << k << ", iteration " << n << ": batched differs from alone";
  }
}

int64_t batches_of_two_or_more(const std::map<int, int64_t>& counts) {
  int64_t k = 0;
  for (const auto& [size, count] : counts)
    if (size >= 2) k += count;
  return k;
}

}  // namespace

// With one thread and with two: libtorch's kernel choices depend on both.
class Batching : public ::testing::TestWithParam<int> {};

TEST_P(Batching, LoopsBatchedAcrossGiveTheImagesTheyGiveAlone) {
  const int threads = GetParam();
  auto p = tiny_sd2();
  InpaintSettings base;
  base.steps = 6;
  Loop a{"image.png", "mask.png", base, 3};
  a.settings.seed = 1;
  Loop b = a;  // guidance with a prompt: two rows per UNet call
  b.settings.seed = 2;
  b.settings.prompt = "a red square";
  Loop c = a;  // ends early
  c.settings.seed = 3;
  c.settings.steps = 2;
  c.iterations = 1;
  Loop d{"image_w96h64.png", "mask_w96h64.png", base, 2};  // another shape
  d.settings.seed = 4;
  const std::vector<Loop*> loops = {&a, &b, &c, &d};

  // Alone: one loop after the other, each on a thread of its own as in a
  // pipeline.
  std::vector<std::vector<cv::Mat>> alone;
  for (Loop* l : loops)
    alone.push_back(
        std::async(std::launch::async, [&] { return run_loop(*p, *l, 1, threads); }).get());
  const auto before = p->batch_counts();
  for (const auto& [kind, counts] : before)
    EXPECT_EQ(batches_of_two_or_more(counts), 0) << kind << " was batched with max_batch 1";

  // Together, up to 4 loops per batch: A first, C and D once A has done its
  // first step, B after A's third.
  std::promise<void> early, late;
  std::shared_future<void> early_go = early.get_future().share();
  std::shared_future<void> late_go = late.get_future().share();
  std::vector<std::future<std::vector<cv::Mat>>> together;
  together.push_back(std::async(std::launch::async, [&] {
    return run_loop(*p, a, 4, threads, [&](int step) {
      if (step == 1) early.set_value();
      if (step == 3) late.set_value();
    });
  }));
  together.push_back(std::async(std::launch::async, [&] {
    late_go.wait();
    return run_loop(*p, b, 4, threads);
  }));
  for (Loop* l : {&c, &d})
    together.push_back(std::async(std::launch::async, [&, l] {
      early_go.wait();
      return run_loop(*p, *l, 4, threads);
    }));
  expect_same_images(together, alone);
  // The test means something only if calls were batched.
  const auto after = p->batch_counts();
  EXPECT_GT(batches_of_two_or_more(after.at("unet")), 0);
  for (const auto& [kind, counts] : after) {
    std::string line = kind + ":";
    for (const auto& [size, count] : counts) {
      const int64_t was =
          before.count(kind) && before.at(kind).count(size) ? before.at(kind).at(size) : 0;
      if (count > was) line += " " + std::to_string(size) + " x " + std::to_string(count - was);
    }
    std::cout << "batches " << line << "\n";
  }
}

TEST_P(Batching, LoopsStartingTogetherBatchTheUNetOnly) {
  // As rip-study starts its jobs: together, so the VAE encode and decode
  // calls meet as well; on the CPU they still run one loop at a time
  // (inpaint_pipeline.cpp: vae_max_batch), or the images would differ.
  const int threads = GetParam();
  auto p = tiny_sd2();
  InpaintSettings base;
  base.steps = 2;
  base.strength = 0.75;  // strength < 1 encodes the image too
  std::vector<Loop> loops;
  for (int k = 0; k < 3; k++) {
    loops.push_back(Loop{"image.png", "mask.png", base, 3});
    loops.back().settings.seed = uint64_t(10 + k);
  }
  std::vector<std::vector<cv::Mat>> alone;
  for (const Loop& l : loops)
    alone.push_back(
        std::async(std::launch::async, [&] { return run_loop(*p, l, 1, threads); }).get());
  std::vector<std::future<std::vector<cv::Mat>>> together;
  for (const Loop& l : loops)
    together.push_back(std::async(std::launch::async, [&] { return run_loop(*p, l, 3, threads); }));
  expect_same_images(together, alone);
  const auto counts = p->batch_counts();
  EXPECT_GT(batches_of_two_or_more(counts.at("unet")), 0) << "the UNet was never batched";
  for (const char* kind : {"vae-encode", "vae-decode"})
    EXPECT_EQ(batches_of_two_or_more(counts.at(kind)), 0) << kind << " batched on the CPU";
}

INSTANTIATE_TEST_SUITE_P(
    Threads, Batching, ::testing::Values(1, 2), [](const ::testing::TestParamInfo<int>& info) {
      return std::to_string(info.param) + "_threads";
    });
