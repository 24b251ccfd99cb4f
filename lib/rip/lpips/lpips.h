// SPDX-License-Identifier: LGPL-2.1-or-later
//
// LPIPS exactly as lpips.LPIPS(net=..., version=...) of the lpips package
// (0.1.4) computes it in eval mode, in float32 on plain ATen ops:
//
//   x -> (x - shift) / scale                 (version 0.1 only; shift/scale
//                                             are ImageNet mean/std for [-1,1])
//   taps = torchvision <arch>.features, cut after fixed ReLUs / Fire modules
//   per tap k: n = f / (sqrt(sum_c f^2) + 1e-10)       (eps outside the sqrt)
//              d = (n0 - n1)^2
//              m = conv1x1(d, lin_k)                    (no bias; [N,1,h,w])
//              r_k = mean_hw(m)   or   bilinear(m -> H x W, align_corners=0)
//   distance = r_0 + r_1 + ... (in layer order)
//
// AlexNet taps relu1..relu5; VGG16 relu1_2, relu2_2, relu3_3, relu4_3,
// relu5_3; SqueezeNet 1.1 the first ReLU and Fire modules 4, 7, 9, 10, 11, 12
// (max-pools with ceil_mode, Fire output = [expand1x1, expand3x3]).
// The lin dropout of lpips is the identity in eval mode and is left out.
#pragma once

#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "rip/lpips/nets.h"

namespace rip::io {
class TensorFile;
}

namespace rip::lpips {

using io::TensorFile;

struct LoadOptions {
  Net net = Net::Alex;
  Version version = Version::V0_1;
  std::string weights_dir;    // searched first (see weight_files.h)
  std::string backbone_file;  // set: this file, no search
  std::string lin_file;       // set: this file, no search
};

struct ForwardOptions {
  bool spatial = false;    // also the [N,1,H,W] distance map
  bool per_layer = false;  // also each layer's term
  bool normalize = false;  // inputs are in [0,1] (lpips' normalize=True)
  // Refuse inputs outside [-1,1] (or [0,1]): the most common LPIPS mistake
  // is feeding [0,255] or [0,1] data, which gives plausible-looking nonsense.
  bool check_range = true;
};

struct LpipsResult {
  at::Tensor distance;                // [N,1,1,1], as lpips returns it
  std::vector<at::Tensor> per_layer;  // L x [N,1,1,1] (per_layer)
  at::Tensor spatial;                 // [N,1,H,W] (spatial)
};

// The unit-normalised taps of one batch of images, reusable against many
// others (e.g. a fixed reference).
struct LpipsFeatures {
  std::vector<at::Tensor> taps;  // L x [N,C_k,h_k,w_k]
  int64_t height = 0, width = 0;
};

class Lpips {
 public:
  // Finds the files (LoadOptions) and loads them. Throws Error.
  static Lpips load(const LoadOptions& options);
  // From opened files: the backbone holds torchvision's features.* tensors
  // (other keys such as classifier.* are ignored), the lin file exactly
  // lin<k>.model.1.weight. Throws Error naming the file and tensor for
  // anything missing, misshapen, extra or (lin) negative.
  Lpips(Net net, Version version, const TensorFile& backbone, const TensorFile& lin);

  Net net() const { return net_; }
  Version version() const { return version_; }
  const std::string& backbone_path() const { return backbone_path_; }
  const std::string& lin_path() const { return lin_path_; }
  // "lpips alex v0.1 (backbone FILE, lin FILE)".
  std::string description() const;

  // in0, in1: float32 [N,3,H,W] RGB in [-1,1], same shape. Returns [N,1,1,1].
  at::Tensor forward(const at::Tensor& in0, const at::Tensor& in1) const;
  LpipsResult forward(
      const at::Tensor& in0, const at::Tensor& in1, const ForwardOptions& options) const;

  // The two halves of forward, so one side can be computed once.
  LpipsFeatures features(const at::Tensor& x, const ForwardOptions& options = {}) const;
  // f0 and f1 must come from images of the same size; their batch sizes
  // must match or one of them be 1 (it is broadcast).
  LpipsResult compare(
      const LpipsFeatures& f0, const LpipsFeatures& f1, const ForwardOptions& options = {}) const;

  struct Conv {
    at::Tensor weight, bias;
    int64_t stride = 1, padding = 0;
  };
  struct Op;

 private:
  at::Tensor check_input(const at::Tensor& x, const ForwardOptions& o, const char* which) const;
  LpipsFeatures checked_features(const at::Tensor& x) const;
  std::vector<at::Tensor> taps(const at::Tensor& x) const;

  Net net_;
  Version version_;
  std::string backbone_path_, lin_path_;
  std::vector<Conv> convs_;      // in the order the ops use them
  std::vector<at::Tensor> lin_;  // [1,C_k,1,1]
  at::Tensor shift_, scale_;     // [1,3,1,1]
};

}  // namespace rip::lpips
