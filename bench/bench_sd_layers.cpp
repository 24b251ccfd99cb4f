// SPDX-License-Identifier: LGPL-2.1-or-later
//
// The UNet's transformer layers at SD2's three attention levels (512x512),
// gst-rip's forward beside diffusers' sequence of the same libtorch ops, in
// one process, with random weights of the real shapes:
//
//   build/bench/bench-sd-layers [BATCH] [THREADS] [REPEATS]
//
// attention: the heads' q·kᵀ, softmax and ·v (diffusers: head_to_batch_dim,
// baddbmm, softmax, bmm, batch_to_head_dim); square linear: to_q-like
// layers (oneDNN from 512 rows against at::linear); feed-forward: GEGLU and
// net.2 (diffusers: proj, chunk, hidden * gelu(gate), net.2). Each figure
// is the fastest of REPEATS (default 5) calls after a warm-up, in ms.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>

#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "rip/core/memory.h"
#include "rip/sd/models/blocks.h"

namespace {

double fastest_ms(const std::function<at::Tensor()>& fn, int repeats) {
  fn();
  double best = 1e30;
  for (int i = 0; i < repeats; ++i) {
    const auto start = std::chrono::steady_clock::now();
    const at::Tensor result = fn();
    best = std::min(
        best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return best * 1e3;
}
// A layer with weights of unit-variance outputs, as trained layers have.
rip::sd::Linear random_linear(int64_t in, int64_t out, at::Generator& gen) {
  rip::sd::Linear layer;
  layer.weight = at::randn({out, in}, gen) / std::sqrt(static_cast<double>(in));
  layer.bias = at::randn({out}, gen);
  return layer;
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t batch = argc > 1 ? std::stoll(argv[1]) : 2;
  const int threads = argc > 2 ? std::stoi(argv[2]) : 2;
  const int repeats = argc > 3 ? std::stoi(argv[3]) : 5;
  rip::keep_freed_memory();  // as rip-inpaint and sdinpaint do
  at::set_num_threads(threads);
  c10::InferenceMode inference;
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(0);
  std::printf("SD2's transformer layers at 512x512, batch %ld, %d threads, fastest of %d, ms\n",
      batch, threads, repeats);
  std::printf("%-6s %7s | %9s %9s | %9s %9s | %9s %9s\n", "tokens", "channels", "attn ours",
      "diffusers", "lin. ours", "at::linear", "ff ours", "diffusers");
  // Tokens, channels and heads of SD2's three attention levels (head size 64).
  for (const auto& [tokens, dim, heads] :
      std::vector<std::array<int64_t, 3>>{{4096, 320, 5}, {1024, 640, 10}, {256, 1280, 20}}) {
    const at::Tensor x = at::randn({batch, tokens, dim}, gen);
    const at::Tensor q = at::randn({batch, tokens, dim}, gen);
    const at::Tensor k = at::randn({batch, tokens, dim}, gen);
    const at::Tensor v = at::randn({batch, tokens, dim}, gen);
    rip::sd::Attention attention;
    attention.heads = heads;
    attention.scale = 1.0 / 8;  // 64 ** -0.5
    const double attn_ours = fastest_ms([&] { return attention.attend_heads(q, k, v); }, repeats);
    const double attn_diffusers = fastest_ms(
        [&] {
          const at::Tensor qh = rip::sd::head_to_batch_dim(q, heads),
                           kh = rip::sd::head_to_batch_dim(k, heads);
          const at::Tensor scores = at::baddbmm(at::zeros({qh.size(0), tokens, tokens}), qh,
              kh.transpose(-1, -2), 1, attention.scale);
          return rip::sd::batch_to_head_dim(
              at::bmm(scores.softmax(-1), rip::sd::head_to_batch_dim(v, heads)), heads);
        },
        repeats);

    const rip::sd::Linear square = random_linear(dim, dim, gen);
    const double lin_ours = fastest_ms([&] { return square.forward(x); }, repeats);
    const double lin_blas =
        fastest_ms([&] { return at::linear(x, square.weight, square.bias); }, repeats);

    const int64_t inner = 4 * dim;
    rip::sd::FeedForward ff;
    ff.proj = random_linear(dim, 2 * inner, gen);
    ff.out = random_linear(inner, dim, gen);
    const rip::sd::Linear &proj = ff.proj, &out = ff.out;
    const double ff_ours = fastest_ms([&] { return ff.forward(x); }, repeats);
    const double ff_diffusers = fastest_ms(
        [&] {
          const std::vector<at::Tensor> hg = at::linear(x, proj.weight, proj.bias).chunk(2, -1);
          return at::linear(hg[0] * at::gelu(hg[1]), out.weight, out.bias);
        },
        repeats);
    std::printf("%-6ld %7ld | %9.1f %9.1f | %9.1f %9.1f | %9.1f %9.1f\n", tokens, dim, attn_ours,
        attn_diffusers, lin_ours, lin_blas, ff_ours, ff_diffusers);
  }
}
