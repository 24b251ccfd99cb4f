// SPDX-License-Identifier: LGPL-2.1-or-later
#include "rip/lpips/lpips.h"

#include <cmath>
#include <cstring>
#include <set>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "rip/error.h"
#include "rip/io/shape.h"
#include "rip/io/tensor_file.h"
#include "rip/lpips/weight_files.h"

namespace rip::lpips {

// One step of a backbone's features, up to its last tap. Conv is conv +
// ReLU (every torchvision conv here is followed by one); Fire is
// SqueezeNet's squeeze/expand module with its ReLUs; Tap records the output.
struct Lpips::Op {
  enum Kind { Conv, Pool, Fire, Tap } kind;
  int feature = 0;  // index in torchvision's `features`
  // Conv: out, in, kernel, stride, padding. Fire: in, squeeze, expand
  // (expand1x1 and expand3x3 have the same width in every SqueezeNet Fire).
  // Pool: kernel, stride, ceil_mode.
  int a = 0, b = 0, c = 0, d = 0, e = 0;
};

namespace {

using Op = Lpips::Op;

Op conv(int feature, int out, int in, int k, int stride, int pad) {
  return {Op::Conv, feature, out, in, k, stride, pad};
}
Op pool(int k, int stride, bool ceil_mode) {
  return {Op::Pool, 0, k, stride, ceil_mode ? 1 : 0, 0, 0};
}
Op fire(int feature, int in, int squeeze, int expand) {
  return {Op::Fire, feature, in, squeeze, expand, 0, 0};
}
const Op tap = {Op::Tap, 0, 0, 0, 0, 0, 0};

// torchvision 0.14 alexnet / vgg16 / squeezenet1_1 `features`, cut where
// lpips.pretrained_networks cuts its slices.
const std::vector<Op>& ops(Net net) {
  static const std::vector<Op> alex = {conv(0, 64, 3, 11, 4, 2), tap, pool(3, 2, false),
      conv(3, 192, 64, 5, 1, 2), tap, pool(3, 2, false), conv(6, 384, 192, 3, 1, 1), tap,
      conv(8, 256, 384, 3, 1, 1), tap, conv(10, 256, 256, 3, 1, 1), tap};
  static const std::vector<Op> vgg = {conv(0, 64, 3, 3, 1, 1), conv(2, 64, 64, 3, 1, 1), tap,
      pool(2, 2, false), conv(5, 128, 64, 3, 1, 1), conv(7, 128, 128, 3, 1, 1), tap,
      pool(2, 2, false), conv(10, 256, 128, 3, 1, 1), conv(12, 256, 256, 3, 1, 1),
      conv(14, 256, 256, 3, 1, 1), tap, pool(2, 2, false), conv(17, 512, 256, 3, 1, 1),
      conv(19, 512, 512, 3, 1, 1), conv(21, 512, 512, 3, 1, 1), tap, pool(2, 2, false),
      conv(24, 512, 512, 3, 1, 1), conv(26, 512, 512, 3, 1, 1), conv(28, 512, 512, 3, 1, 1), tap};
  static const std::vector<Op> squeeze = {conv(0, 64, 3, 3, 2, 0), tap, pool(3, 2, true),
      fire(3, 64, 16, 64), fire(4, 128, 16, 64), tap, pool(3, 2, true), fire(6, 128, 32, 128),
      fire(7, 256, 32, 128), tap, pool(3, 2, true), fire(9, 256, 48, 192), tap,
      fire(10, 384, 48, 192), tap, fire(11, 384, 64, 256), tap, fire(12, 512, 64, 256), tap};
  switch (net) {
    case Net::Alex: return alex;
    case Net::Vgg: return vgg;
    case Net::Squeeze: return squeeze;
  }
  return alex;
}

// Reads named tensors of one file as float32, checking their shapes and
// remembering which were used.
class TensorSource {
 public:
  explicit TensorSource(const TensorFile& file) : file_(file) {}

  at::Tensor get(const std::string& name, const std::vector<int64_t>& shape) {
    const io::TensorEntry* e = file_.find(name);
    if (!e) {
      missing_.push_back(name);
      return {};
    }
    used_.insert(name);
    if (e->shape != shape)
      throw Error(file_.path() + ": tensor '" + name + "' has shape " + io::shape_string(e->shape) +
          ", expected " + io::shape_string(shape) + " (is this the right file for this network?)");
    std::vector<float> values = file_.read_float(*e);
    at::Tensor t = at::empty(shape, at::kFloat);
    std::memcpy(t.data_ptr<float>(), values.data(), values.size() * 4);
    return t;
  }

  // Throws when tensors were missing; lists what the file holds instead.
  void check_missing(const std::string& what) const {
    if (missing_.empty()) return;
    std::string msg = file_.path() + " is not " + what + ": it lacks ";
    for (size_t k = 0; k < missing_.size() && k < 4; k++) msg += (k ? ", " : "") + missing_[k];
    if (missing_.size() > 4) msg += " and " + std::to_string(missing_.size() - 4) + " more";
    msg += "; it holds ";
    const auto& all = file_.tensors();
    if (all.empty()) msg += "no tensors";
    for (size_t k = 0; k < all.size() && k < 4; k++) msg += (k ? ", " : "") + all[k].name;
    if (all.size() > 4) msg += ", ... (" + std::to_string(all.size()) + " tensors)";
    throw Error(msg);
  }

  std::vector<std::string> unused(const std::string& prefix) const {
    std::vector<std::string> out;
    for (const auto& e : file_.tensors())
      if (e.name.rfind(prefix, 0) == 0 && !used_.count(e.name)) out.push_back(e.name);
    return out;
  }

 private:
  const TensorFile& file_;
  std::set<std::string> used_;
  std::vector<std::string> missing_;
};

// lpips.normalize_tensor: f / (sqrt(sum_c f^2) + eps), eps outside the sqrt.
at::Tensor unit_normalize(const at::Tensor& f) {
  at::Tensor norm = at::sqrt(at::sum(at::pow(f, 2), {1}, true));
  return f / (norm + 1e-10);
}

}  // namespace

Lpips Lpips::load(const LoadOptions& o) {
  auto b = TensorFile::open(
      o.backbone_file.empty() ? find_backbone_file(o.net, o.weights_dir) : o.backbone_file);
  auto l = TensorFile::open(
      o.lin_file.empty() ? find_lin_file(o.net, o.version, o.weights_dir) : o.lin_file);
  return Lpips(o.net, o.version, *b, *l);
}

Lpips::Lpips(Net net, Version version, const TensorFile& backbone, const TensorFile& lin)
    : net_(net), version_(version), backbone_path_(backbone.path()), lin_path_(lin.path()) {
  const std::string arch = torchvision_arch(net);
  TensorSource src(backbone);
  auto add = [&](const std::string& key, int out, int in, int k, int stride, int pad) {
    Conv c;
    c.weight = src.get(key + ".weight", {out, in, k, k});
    if (c.weight.defined())  // matches the channels-last activations
      c.weight = c.weight.contiguous(at::MemoryFormat::ChannelsLast);
    c.bias = src.get(key + ".bias", {out});
    c.stride = stride;
    c.padding = pad;
    convs_.push_back(c);
  };
  for (const Op& op : ops(net)) {
    const std::string f = "features." + std::to_string(op.feature);
    if (op.kind == Op::Conv) {
      add(f, op.a, op.b, op.c, op.d, op.e);
    } else if (op.kind == Op::Fire) {
      add(f + ".squeeze", op.b, op.a, 1, 1, 0);
      add(f + ".expand1x1", op.c, op.b, 1, 1, 0);
      add(f + ".expand3x3", op.c, op.b, 3, 1, 1);
    }
  }
  src.check_missing("a torchvision " + arch +
      " checkpoint (features.* "
      "tensors)");
  // Every features.* tensor of the architecture is used; more mean another
  // architecture.
  const auto extra = src.unused("features.");
  if (!extra.empty())
    throw Error(backbone.path() + " is not a torchvision " + arch + " checkpoint: it has " +
        extra.front() + " (and " + std::to_string(extra.size()) +
        " unexpected features.* tensors in "
        "all); use " +
        torchvision_file(net) + " for the " + net_name(net) + " network");

  TensorSource lsrc(lin);
  const auto& chns = tap_channels(net);
  for (size_t k = 0; k < chns.size(); k++) {
    const std::string key = "lin" + std::to_string(k) + ".model.1.weight";
    at::Tensor w = lsrc.get(key, {1, chns[k], 1, 1});
    if (w.defined()) {
      const float* p = w.data_ptr<float>();
      for (int c = 0; c < chns[k]; c++)
        if (!(p[c] >= 0) || !std::isfinite(p[c]))
          throw Error(lin.path() + ": tensor '" + key + "' has the weight " + std::to_string(p[c]) +
              " at channel " + std::to_string(c) +
              "; trained LPIPS weights are finite and >= 0, so this is not "
              "an lpips " +
              net_name(net) + " lin file");
    }
    lin_.push_back(w);
  }
  lsrc.check_missing(std::string("an lpips ") + net_name(net) +
      " lin "
      "weights file (lin0.model.1.weight ...)");
  const auto extra_lin = lsrc.unused("");
  if (!extra_lin.empty())
    throw Error(lin.path() + " has the tensor " + extra_lin.front() + ", which an lpips " +
        net_name(net) +
        " lin file does not have "
        "(it has " +
        std::to_string(chns.size()) +
        " tensors "
        "lin0..lin" +
        std::to_string(chns.size() - 1) + ".model.1.weight)");

  // lpips.ScalingLayer buffers, converted from double as torch.Tensor([..])
  // does.
  shift_ = at::empty({1, 3, 1, 1}, at::kFloat);
  scale_ = at::empty({1, 3, 1, 1}, at::kFloat);
  const double shift[3] = {-.030, -.088, -.188};
  const double scale[3] = {.458, .448, .450};
  for (int c = 0; c < 3; c++) {
    shift_.data_ptr<float>()[c] = float(shift[c]);
    scale_.data_ptr<float>()[c] = float(scale[c]);
  }
}

std::string Lpips::description() const {
  return std::string("LPIPS ") + net_name(net_) + " v" + version_name(version_) + " (backbone " +
      backbone_path_ + ", lin " + lin_path_ + ")";
}

at::Tensor Lpips::check_input(
    const at::Tensor& x, const ForwardOptions& o, const char* which) const {
  auto shape = [&] {
    std::string s = "[";
    for (int64_t k = 0; k < x.dim(); k++) s += (k ? "," : "") + std::to_string(x.size(k));
    return s + "]";
  };
  if (!x.defined() || x.dim() != 4 || x.size(1) != 3 || x.size(0) < 1)
    throw Error(std::string("LPIPS ") + which +
        " must be an RGB batch "
        "[N,3,H,W], got " +
        (x.defined() ? shape() : "no tensor"));
  const int min = min_input_size(net_);
  if (x.size(2) < min || x.size(3) < min)
    throw Error(std::string("LPIPS ") + net_name(net_) +
        " needs images of "
        "at least " +
        std::to_string(min) + "x" + std::to_string(min) + " px, got " + std::to_string(x.size(3)) +
        "x" + std::to_string(x.size(2)));
  at::Tensor f = x.to(at::kFloat).contiguous();
  if (o.check_range) {
    const double lo = o.normalize ? 0.0 : -1.0;
    auto [mn, mx] = at::aminmax(f);
    const double a = mn.item<double>(), b = mx.item<double>();
    if (!(a >= lo - 1e-6 && b <= 1.0 + 1e-6))
      throw Error(std::string("LPIPS ") + which + " has values in [" + std::to_string(a) + ", " +
          std::to_string(b) + "], expected [" + (o.normalize ? "0" : "-1") + ", 1]" +
          (o.normalize ? ""
                       : " (for [0,1] images use normalize; 8-bit "
                         "images map v -> v/127.5 - 1)"));
  }
  if (o.normalize) f = 2 * f - 1;
  return f;
}

std::vector<at::Tensor> Lpips::taps(const at::Tensor& input) const {
  std::vector<at::Tensor> out;
  // Channels-last (NHWC) all the way: oneDNN convolves it without
  // reordering every activation to and from its blocked layout, which
  // roughly halves the time of a VGG16 pass on CPU.
  at::Tensor h = input.contiguous(at::MemoryFormat::ChannelsLast);
  size_t c = 0;
  auto run = [&](const at::Tensor& x) {
    const Conv& cv = convs_[c++];
    at::Tensor y = at::conv2d(x, cv.weight, cv.bias, cv.stride, cv.padding);
    return at::relu_(y);  // in place, as torchvision's ReLU(inplace=True)
  };
  for (const Op& op : ops(net_)) {
    switch (op.kind) {
      case Op::Conv: h = run(h); break;
      case Op::Pool: h = at::max_pool2d(h, op.a, op.b, 0, 1, op.c != 0); break;
      case Op::Fire: {
        at::Tensor s = run(h);
        at::Tensor e1 = run(s);
        at::Tensor e3 = run(s);
        h = at::cat({e1, e3}, 1);
        break;
      }
      case Op::Tap: out.push_back(h); break;
    }
  }
  return out;
}

LpipsFeatures Lpips::features(const at::Tensor& x, const ForwardOptions& options) const {
  c10::InferenceMode guard;
  return checked_features(check_input(x, options, "input"));
}

LpipsFeatures Lpips::checked_features(const at::Tensor& x) const {
  at::Tensor in = x;
  if (version_ == Version::V0_1) in = (in - shift_) / scale_;
  LpipsFeatures f;
  f.height = x.size(2);
  f.width = x.size(3);
  for (const at::Tensor& t : taps(in)) f.taps.push_back(unit_normalize(t));
  return f;
}

LpipsResult Lpips::compare(
    const LpipsFeatures& f0, const LpipsFeatures& f1, const ForwardOptions& options) const {
  c10::InferenceMode guard;
  if (f0.height != f1.height || f0.width != f1.width || f0.taps.size() != lin_.size() ||
      f1.taps.size() != lin_.size())
    throw Error(
        "LPIPS compares images of the same size with the same "
        "network: got " +
        std::to_string(f0.width) + "x" + std::to_string(f0.height) + " and " +
        std::to_string(f1.width) + "x" + std::to_string(f1.height));
  const int64_t n0 = f0.taps[0].size(0), n1 = f1.taps[0].size(0);
  if (n0 != n1 && n0 != 1 && n1 != 1)
    throw Error("LPIPS batches of " + std::to_string(n0) + " and " + std::to_string(n1) +
        " images cannot be paired");
  LpipsResult r;
  at::Tensor total, map;
  for (size_t k = 0; k < lin_.size(); k++) {
    at::Tensor diff = at::pow(f0.taps[k] - f1.taps[k], 2);
    at::Tensor m = at::conv2d(diff, lin_[k]);
    at::Tensor term = m.mean({2, 3}, true);
    // lpips starts from val = 0; 0 + x == x exactly, so start from term 0.
    total = k == 0 ? term : total + term;
    if (options.per_layer) r.per_layer.push_back(term);
    if (options.spatial) {
      at::Tensor up = at::upsample_bilinear2d(m, {f0.height, f0.width}, false);
      map = k == 0 ? up : map + up;
    }
  }
  r.distance = total;
  r.spatial = map;
  return r;
}

at::Tensor Lpips::forward(const at::Tensor& in0, const at::Tensor& in1) const {
  return forward(in0, in1, ForwardOptions()).distance;
}

LpipsResult Lpips::forward(
    const at::Tensor& in0, const at::Tensor& in1, const ForwardOptions& options) const {
  c10::InferenceMode guard;
  if (!in0.defined() || !in1.defined() || in0.sizes() != in1.sizes())
    throw Error(
        "LPIPS compares two batches of the same shape [N,3,H,W]; "
        "bring the images to the same size first");
  // One backbone pass per side, as lpips does (one batch of 2N is slower:
  // docs/lpips.md, Benchmark).
  const LpipsFeatures f0 = checked_features(check_input(in0, options, "in0"));
  const LpipsFeatures f1 = checked_features(check_input(in1, options, "in1"));
  return compare(f0, f1, options);
}

}  // namespace rip::lpips
