// SPDX-License-Identifier: LGPL-2.1-or-later
//
// LPIPS throughput: image pairs per second at 512x512 (by default) for each
// network, as rip::lpips::Lpips::forward computes them (both images through
// the backbone), and per frame when one side is a fixed reference whose
// features are computed once (what lpipsmeter does).
//
//   build/bench/bench-lpips WEIGHTS_DIR [--net alex|vgg|squeeze|all]
//       [--size 512] [--repeats 5] [--threads N]
// Prints one line per network:
//   RESULT <net> <size> threads=<n> pairs_per_s=<x> ms_per_pair=<median>
//       frames_per_s_cached_reference=<y>
// bench/run-lpips-bench.sh runs it beside the reference lpips package.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "rip/error.h"
#include "rip/lpips/lpips.h"
#include "rip/core/memory.h"

using rip::lpips::Lpips;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

template <typename F>
double median_seconds(int repeats, F&& f) {
  f();  // warm-up: allocator, oneDNN primitives
  std::vector<double> t;
  for (int k = 0; k < repeats; k++) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return median(t);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
        "usage: bench-lpips WEIGHTS_DIR [--net alex|vgg|"
        "squeeze|all] [--size 512] [--repeats 5] [--threads N]\n");
    return 2;
  }
  std::string dir = argv[1], net = "all";
  int size = 512, repeats = 5, threads = 0;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--net")
      net = v;
    else if (a == "--size")
      size = std::atoi(v.c_str());
    else if (a == "--repeats")
      repeats = std::max(1, std::atoi(v.c_str()));
    else if (a == "--threads")
      threads = std::atoi(v.c_str());
  }
  if (threads > 0) at::set_num_threads(threads);
  // As rip-lpips and lpipsmeter run (see lpips.h); RIP_LPIPS_DEFAULT_MALLOC=1
  // measures with glibc's defaults instead.
  const char* plain = std::getenv("RIP_LPIPS_DEFAULT_MALLOC");
  if (!plain || std::string(plain) != "1") rip::keep_freed_memory();
  std::vector<std::string> nets = {"alex", "vgg", "squeeze"};
  if (net != "all") nets = {net};
  try {
    for (const auto& n : nets) {
      rip::lpips::LoadOptions o;
      o.net = rip::lpips::parse_net(n);
      o.weights_dir = dir;
      Lpips m = Lpips::load(o);
      // Inputs as lpips.im2tensor makes them, in [-1, 1].
      at::manual_seed(0);
      at::Tensor a = at::rand({1, 3, size, size}) * 2 - 1;
      at::Tensor b = at::rand({1, 3, size, size}) * 2 - 1;
      double d = 0;
      const double pair = median_seconds(repeats, [&] { d = m.forward(a, b).item<double>(); });
      const auto ref = m.features(a);
      const double cached = median_seconds(
          repeats, [&] { d = m.compare(ref, m.features(b)).distance.item<double>(); });
      std::printf(
          "RESULT %s %d threads=%d pairs_per_s=%.3f ms_per_pair=%.1f "
          "frames_per_s_cached_reference=%.3f distance=%.6f\n",
          n.c_str(), size, at::get_num_threads(), 1.0 / pair, pair * 1e3, 1.0 / cached, d);
      std::fflush(stdout);
    }
  } catch (const rip::Error& e) {
    std::fprintf(stderr, "bench-lpips: %s\n", e.what());
    return 1;
  }
  return 0;
}
