// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Speed of the GStreamer-free core on one 512x512 RIP iteration: each
// cvinpaint method on one mask cell, and each metric on one frame pair.
// Prints a table; never asserts (timings are not tests).
//
//   build/bench/bench-core [IMAGE] [REPEATS] [--all]
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "rip/core/image_fit.h"
#include "rip/io/image.h"
#include "rip/core/inpaint_cv.h"
#include "rip/core/mask.h"
#include "rip/core/metrics.h"

static double time_ms(const std::function<void()>& fn, int repeats) {
  fn();  // warm-up
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < repeats; i++) fn();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() /
      repeats;
}

int main(int argc, char** argv) {
  bool all = false;
  std::vector<std::string> args;
  for (int i = 1; i < argc; i++) {
    if (std::string(argv[i]) == "--all")
      all = true;
    else
      args.push_back(argv[i]);
  }
  const std::string path = args.size() > 0 && !args[0].empty()
      ? args[0]
      : "/usr/share/doc/opencv-doc/examples/data/starry_night.jpg";
  const int repeats = args.size() > 1 ? std::stoi(args[1]) : 5;
  cv::Mat seed = rip::fit_image(rip::io::load_rgb_image(path), 512, 512, rip::FitMode::Pad);
  std::printf("image %s, 512x512, mean of %d runs\n\n", path.c_str(), repeats);

  std::printf("%-10s %8s %14s %14s\n", "method", "mask", "ms/iteration", "iterations/s");
  for (int size : {64, 128, 256}) {
    rip::MaskSamplerConfig cfg;
    cfg.cell_size = size;
    rip::MaskSampler sampler(cfg, 512, 512);
    cv::Mat mask = sampler.next().to_image(512, 512);
    for (auto m : {rip::CvInpaintMethod::Telea, rip::CvInpaintMethod::NavierStokes,
             rip::CvInpaintMethod::FsrFast, rip::CvInpaintMethod::FsrBest,
             rip::CvInpaintMethod::ShiftMap}) {
      // The xphoto methods take seconds per cell: one run each, and
      // fsr-best on 256 px cells (over 2 minutes) only with --all.
      const bool slow = m == rip::CvInpaintMethod::FsrBest || m == rip::CvInpaintMethod::ShiftMap ||
          m == rip::CvInpaintMethod::FsrFast;
      const int n = slow ? 1 : repeats;
      if (m == rip::CvInpaintMethod::FsrBest && size == 256 && !all) {
        std::printf("%-10s %6d px %14s\n", "fsr-best", size, "(skipped: about 2 min; --all)");
        continue;
      }
      double ms = time_ms(
          [&] {
            cv::Mat img = seed.clone();
            rip::cv_inpaint_masked(img, mask, m, 3.0);
          },
          n);
      std::printf(
          "%-10s %6d px %14.1f %14.2f\n", rip::cv_inpaint_method_name(m), size, ms, 1000.0 / ms);
    }
  }

  cv::Mat other = seed.clone();
  {
    rip::MaskSamplerConfig cfg;
    rip::MaskSampler sampler(cfg, 512, 512);
    rip::cv_inpaint_masked(
        other, sampler.next().to_image(512, 512), rip::CvInpaintMethod::Telea, 3.0);
  }
  std::printf("\n%-10s %14s\n", "metric", "ms/frame");
  for (auto m : {rip::Metric::Ssim, rip::Metric::MsSsim, rip::Metric::Psnr})
    std::printf("%-10s %14.2f\n", rip::metric_name(m),
        time_ms([&] { rip::compute_metric(m, seed, other); }, repeats));
  return 0;
}
