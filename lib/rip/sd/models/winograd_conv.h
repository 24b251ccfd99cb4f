// SPDX-License-Identifier: LGPL-2.1-or-later
//
// 3x3 convolutions by oneDNN's Winograd F(4x4, 3x3) kernel on the CPU.
//
// A direct 3x3 convolution on a modern x86-64 core already runs near the
// core's peak of multiply-adds; Winograd's transform needs 2.25x fewer of
// them, so where the images are large (SD2's 64x64 and 32x32 latent levels
// at 512x512, the VAE's decoder) the convolution takes 0.4x the time of the
// direct kernel libtorch calls. The transformed weights take 4x the space of
// the layer's own, so only layers whose output has at least 32x32 pixels
// take it, and only with at least 128 channels in and out (no tiny test
// model does: their goldens keep diffusers' bits). Its rounding is that of
// oneDNN's own direct kernels (docs/models.md); RIP_SD_WINOGRAD=0 in the
// environment when a model loads keeps libtorch's convolution.
//
// Internal to lib/rip/sd/models. Builds without oneDNN's headers
// (libdnnl-dev) have the class, and it always declines.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>

namespace rip::sd {

class WinogradConv {
 public:
  // The kernel for a layer of nn.Conv2d(weight, bias, stride, padding), or
  // nullptr where it cannot or should not take it: not a 3x3, stride-1,
  // padding-1 float32 CPU layer with at least 128 channels in and out, no
  // oneDNN in this build, or RIP_SD_WINOGRAD=0.
  static std::shared_ptr<const WinogradConv> for_layer(
      const at::Tensor& weight, const at::Tensor& bias, int64_t stride, int64_t padding);
  // Whether this build can run it (found oneDNN's headers).
  static bool built_in();

  // Whether x is an input it takes: [N, in, H, W] float32 on the CPU with
  // H * W >= 1024.
  bool applies_to(const at::Tensor& x) const;
  // conv2d(x, weight, bias, stride 1, padding 1) for an x it applies_to; an
  // undefined tensor for any other x, or where oneDNN has no Winograd
  // kernel for this CPU and shape (the caller then runs libtorch's
  // convolution). The first call for a new shape transforms the weights,
  // which takes 10-1000 ms per layer; the threads of a process share them.
  at::Tensor forward(const at::Tensor& x) const;

  struct Impl;
  explicit WinogradConv(std::unique_ptr<Impl> impl);
  ~WinogradConv();

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace rip::sd
