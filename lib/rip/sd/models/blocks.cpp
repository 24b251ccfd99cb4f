// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Weight loading, plain layers, ResnetBlock2D, Down/Upsample2D and the
// timestep embedding. Each forward mirrors the diffusers v0.31.0 module of
// the same name call for call (see blocks.h for why the layouts matter).
#include "rip/sd/models/blocks.h"

#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <sstream>

#include "rip/error.h"
#include "rip/io/shape.h"
#include "rip/sd/models/caller_rows.h"
#include "rip/sd/models/winograd_conv.h"

namespace rip::sd {

void check_dtype_and_device(
    at::ScalarType dtype, at::Device device, const std::string& model_name) {
  if (dtype != at::kFloat && dtype != at::kHalf && dtype != at::kBFloat16 && dtype != at::kDouble) {
    throw Error(model_name + ": dtype " + std::string(c10::toString(dtype)) +
        " is not supported; use float32, float16 or bfloat16.");
  }
  if (dtype == at::kHalf && device.is_cpu()) {
    throw Error(model_name +
        ": float16 needs a CUDA device (libtorch has no float16 "
        "convolutions or matrix products on the CPU); use float32 or bfloat16 on the CPU.");
  }
}

// ---- WeightLoader -----------------------------------------------------------

WeightLoader::WeightLoader(
    const Weights& weights, at::ScalarType dtype, at::Device device, std::string prefix)
    : weights_(weights), dtype_(dtype), device_(device), prefix_(std::move(prefix)) {}

WeightLoader WeightLoader::sub(const std::string& name) const {
  return WeightLoader(weights_, dtype_, device_, prefix_ + name + ".");
}

WeightLoader WeightLoader::sub(const std::string& name, size_t index) const {
  return sub(name + "." + std::to_string(index));
}

bool WeightLoader::has(const std::string& name) const {
  return weights_.has(prefix_ + name);
}

at::Tensor WeightLoader::place(const at::Tensor& t) const {
  // Weights gives CPU tensors (views of the mapped file when the dtype
  // matches); only another device needs a copy.
  return t.device() == device_ ? t : t.to(device_);
}

at::Tensor WeightLoader::get(const std::string& name, at::IntArrayRef shape) const {
  return place(weights_.get(prefix_ + name, dtype_, shape));
}

at::Tensor WeightLoader::get_matrix(const std::string& name, int64_t out, int64_t in) const {
  at::Tensor t = weights_.get(prefix_ + name, dtype_);
  if (t.dim() == 4 && t.size(0) == out && t.size(1) == in && t.size(2) == 1 && t.size(3) == 1) {
    t = t.view({out, in});
  }
  if (t.dim() != 2 || t.size(0) != out || t.size(1) != in) {
    throw Error(weights_.describe() + ": tensor '" + prefix_ + name + "' has shape " +
        io::shape_string(t.sizes()) + ", expected " + io::shape_string({out, in}) + " (or " +
        io::shape_string({out, in, 1, 1}) +
        "). The weights do not match the model's config.json: use the config that came "
        "with these weights.");
  }
  return place(t);
}

void check_all_weights_used(const Weights& weights, const std::string& model_name) {
  const std::vector<std::string> unused = weights.unused();
  if (unused.empty()) return;
  std::ostringstream msg;
  msg << weights.describe() << ": " << unused.size() << " tensor(s) are not part of the "
      << model_name << " that config.json describes, e.g.";
  for (size_t i = 0; i < unused.size() && i < 8; ++i) msg << (i ? ", '" : " '") << unused[i] << "'";
  msg << ". The weights belong to another model or another config: use the folder's own "
         "config.json.";
  throw Error(msg.str());
}

constexpr int64_t kOneDnnRows = 512;

bool rows_take_onednn(const at::Tensor& x) {
  if (!x.device().is_cpu() || x.scalar_type() != at::kFloat || !at::hasMKLDNN()) return false;
  return x.dim() > 0 && x.size(-1) > 0 && x.numel() / x.size(-1) >= kOneDnnRows;
}

// ---- layers -----------------------------------------------------------------

Conv2d Conv2d::load(const WeightLoader& w, int64_t in, int64_t out, int64_t kernel, int64_t stride,
    int64_t padding, bool with_bias) {
  Conv2d c;
  c.weight = w.get("weight", {out, in, kernel, kernel});
  if (with_bias) c.bias = w.get("bias", {out});
  c.stride = stride;
  c.padding = padding;
  c.winograd = WinogradConv::for_layer(c.weight, c.bias, stride, padding);
  return c;
}

// ---- CallerRows -------------------------------------------------------------

namespace {
thread_local const std::vector<int64_t>* current_caller_rows = nullptr;
}  // namespace

CallerRows::CallerRows(std::vector<int64_t> rows)
    : rows_(std::move(rows)), outer_(current_caller_rows) {
  current_caller_rows = &rows_;
}

CallerRows::~CallerRows() {
  current_caller_rows = outer_;
}

const std::vector<int64_t>* CallerRows::current() {
  return current_caller_rows;
}

namespace {

// Whether libtorch 1.13's at::conv2d takes oneDNN for this input of `batch`
// rows (ConvParams::use_mkldnn in aten/src/ATen/native/ConvUtils.h, for a
// CPU float, non-transposed, undilated, ungrouped convolution); otherwise it
// runs its native kernel, whose bits differ. bf16 always takes oneDNN.
bool conv_takes_onednn(
    const at::Tensor& x, const at::Tensor& weight, int64_t stride, int64_t batch) {
  if (!x.device().is_cpu() || x.scalar_type() != at::kFloat) return true;  // no choice to mirror
  if (!at::globalContext().userEnabledMkldnn()) return false;
  const bool one_by_one = weight.size(-1) == 1 && weight.size(-2) == 1;
  const bool big_kernel = weight.size(-1) > 3 && weight.size(-2) > 3;
  const int64_t values = batch * x.size(1) * x.size(2) * x.size(3);
  return (stride != 1 || batch >= 16 || !one_by_one || at::get_num_threads() > 1) &&
      (big_kernel || batch > 1 || values > 20480);
}

}  // namespace

const std::vector<int64_t>* several_callers(const at::Tensor& x) {
  const std::vector<int64_t>* callers = CallerRows::current();
  if (!callers || callers->size() < 2) return nullptr;
  int64_t total = 0;
  for (int64_t rows : *callers) total += rows;
  return total == x.size(0) ? callers : nullptr;
}

at::Tensor per_caller(const at::Tensor& x, const std::vector<int64_t>& callers,
    const std::function<at::Tensor(const at::Tensor&)>& fn) {
  std::vector<at::Tensor> parts;
  int64_t offset = 0;
  for (int64_t rows : callers) {
    parts.push_back(fn(x.narrow(0, offset, rows)));
    offset += rows;
  }
  return at::cat(parts);
}

at::Tensor Conv2d::forward(const at::Tensor& x) const {
  // nn.Conv2d: F.conv2d(x, weight, bias, stride, padding, dilation 1, groups 1)
  const auto conv = [this](const at::Tensor& in) {
    return at::conv2d(in, weight, bias, {stride, stride}, {padding, padding}, {1, 1}, 1);
  };
  if (winograd && winograd->applies_to(x)) {
    const auto winograd_or_conv = [this, &conv](const at::Tensor& in) {
      at::Tensor y = winograd->forward(in);
      return y.defined() ? y : conv(in);
    };
    // oneDNN picks the Winograd kernel's blocking, and with it the order of
    // its sums, from the batch size: several callers' rows go alone.
    if (const std::vector<int64_t>* callers = several_callers(x))
      return per_caller(x, *callers, winograd_or_conv);
    return winograd_or_conv(x);
  }
  if (const std::vector<int64_t>* callers = several_callers(x)) {
    // A batch of several callers: where one caller's rows alone would take
    // another kernel than the whole batch, run each caller's rows alone.
    const bool whole = conv_takes_onednn(x, weight, stride, x.size(0));
    for (int64_t rows : *callers)
      if (conv_takes_onednn(x, weight, stride, rows) != whole) return per_caller(x, *callers, conv);
  }
  return conv(x);
}

Linear Linear::load(const WeightLoader& w, int64_t in, int64_t out, bool with_bias) {
  Linear l;
  l.weight = w.get_matrix("weight", out, in);
  if (with_bias) l.bias = w.get("bias", {out});
  return l;
}

namespace {

// oneDNN's inner product takes 0.54-0.96x OpenBLAS's time for a square
// weight and many rows (SD2's attention projections and proj_in/out at
// 512x512), and 1.05-2.9x for a wide or tall one (the feed-forward's), on
// 2 cores of an AMD EPYC and of an Intel Xeon with AVX-512 (docs/models.md).
// Below rows_take_onednn's 512 rows (every tiny test model) OpenBLAS stays,
// and with it diffusers' bits; above, the rounding is oneDNN's, within 1/255
// of diffusers end to end.
bool linear_takes_onednn(const at::Tensor& x, const at::Tensor& weight) {
  return weight.size(0) == weight.size(1) && rows_take_onednn(x);
}

at::Tensor onednn_linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  std::vector<int64_t> shape = x.sizes().vec();
  const at::Tensor rows = x.reshape({-1, shape.back()}).contiguous();
  shape.back() = weight.size(0);
  return at::mkldnn_linear(
      rows.to_mkldnn(), weight, bias.defined() ? c10::optional<at::Tensor>(bias) : c10::nullopt)
      .to_dense()
      .view(shape);
}

}  // namespace

at::Tensor Linear::forward(const at::Tensor& x) const {
  // On the CPU the GEMM's rounding depends on the matrix height (OpenBLAS
  // picks its kernels by size), so a batch of several callers runs each
  // caller's rows alone; the rows of one caller stay one GEMM, as alone.
  const auto linear = [this](const at::Tensor& in) {
    if (linear_takes_onednn(in, weight)) return onednn_linear(in, weight, bias);
    return at::linear(in, weight, bias);
  };
  if (x.device().is_cpu())
    if (const std::vector<int64_t>* callers = several_callers(x))
      return per_caller(x, *callers, linear);
  return linear(x);
}

GroupNorm GroupNorm::load(const WeightLoader& w, int64_t groups, int64_t channels, double eps) {
  if (groups <= 0 || channels % groups != 0) {
    throw Error(w.weights().describe() + ": GroupNorm '" + w.prefix() + "' has " +
        std::to_string(channels) + " channels, not divisible into " + std::to_string(groups) +
        " groups (norm_num_groups in config.json).");
  }
  GroupNorm g;
  g.weight = w.get("weight", {channels});
  g.bias = w.get("bias", {channels});
  g.groups = groups;
  g.eps = eps;
  return g;
}

at::Tensor GroupNorm::forward(const at::Tensor& x) const {
  // F.group_norm passes torch.backends.cudnn.enabled (true).
  return at::group_norm(x, groups, weight, bias, eps, true);
}

LayerNorm LayerNorm::load(const WeightLoader& w, int64_t dim, double eps) {
  LayerNorm n;
  n.weight = w.get("weight", {dim});
  n.bias = w.get("bias", {dim});
  n.dim = dim;
  n.eps = eps;
  return n;
}

at::Tensor LayerNorm::forward(const at::Tensor& x) const {
  return at::layer_norm(x, {dim}, weight, bias, eps, true);
}

// ---- ResnetBlock2D ----------------------------------------------------------

ResnetBlock2D ResnetBlock2D::load(const WeightLoader& w, const Options& o) {
  ResnetBlock2D r;
  r.norm1 = GroupNorm::load(w.sub("norm1"), o.groups, o.in, o.eps);
  r.conv1 = Conv2d::load(w.sub("conv1"), o.in, o.out, 3, 1, 1);
  if (o.temb_channels > 0) {
    r.time_emb_proj =
        Linear::load(w.sub("time_emb_proj"), o.temb_channels, o.scale_shift ? 2 * o.out : o.out);
  }
  r.norm2 = GroupNorm::load(w.sub("norm2"), o.groups, o.out, o.eps);
  r.conv2 = Conv2d::load(w.sub("conv2"), o.out, o.out, 3, 1, 1);
  if (o.in != o.out) r.conv_shortcut = Conv2d::load(w.sub("conv_shortcut"), o.in, o.out, 1);
  r.scale_shift = o.scale_shift;
  r.output_scale_factor = o.output_scale_factor;
  return r;
}

at::Tensor ResnetBlock2D::forward(const at::Tensor& x, const at::Tensor& temb) const {
  // In-place ops where the left operand is a fresh intermediate: the same
  // kernels and, elementwise, the same bits as diffusers' out-of-place ones
  // (a + b == b + a exactly), minus an allocation and a pass over memory.
  at::Tensor h = norm1.forward(x);
  at::silu_(h);
  h = conv1.forward(h);
  at::Tensor t;
  if (time_emb_proj && temb.defined()) {
    t = time_emb_proj->forward(at::silu(temb)).unsqueeze(-1).unsqueeze(-1);
  }
  if (!scale_shift) {
    if (t.defined()) h.add_(t);
    h = norm2.forward(h);
  } else {
    if (!t.defined()) throw Error("ResnetBlock2D with scale_shift needs a time embedding");
    std::vector<at::Tensor> st = at::chunk(t, 2, 1);
    h = norm2.forward(h);
    h = h * (st[0] + 1) + st[1];
  }
  at::silu_(h);
  h = conv2.forward(h);  // dropout: identity at inference
  const at::Tensor shortcut = conv_shortcut ? conv_shortcut->forward(x) : x;
  return h.add_(shortcut).div_(output_scale_factor);
}

// ---- Downsample2D / Upsample2D ---------------------------------------------

Downsample2D Downsample2D::load(const WeightLoader& w, int64_t channels, int64_t padding) {
  Downsample2D d;
  d.conv = Conv2d::load(w.sub("conv"), channels, channels, 3, 2, padding);
  d.padding = padding;
  return d;
}

at::Tensor Downsample2D::forward(const at::Tensor& x) const {
  if (padding == 0) {
    // The VAE's asymmetric padding: one zero column right, one row bottom.
    return conv.forward(at::pad(x, {0, 1, 0, 1}, "constant", 0.0));
  }
  return conv.forward(x);
}

Upsample2D Upsample2D::load(const WeightLoader& w, int64_t channels) {
  Upsample2D u;
  u.conv = Conv2d::load(w.sub("conv"), channels, channels, 3, 1, 1);
  return u;
}

at::Tensor Upsample2D::forward(const at::Tensor& x, at::IntArrayRef output_size) const {
  at::Tensor h = x;
  const at::ScalarType dtype = h.scalar_type();
  // torch < 2.1 has no bfloat16 nearest upsampling; diffusers goes through float32.
  if (dtype == at::kBFloat16) h = h.to(at::kFloat);
  // diffusers#984: the channels-last kernel fails on large batches.
  if (h.size(0) >= 64) h = h.contiguous();
  if (output_size.empty()) {
    // F.interpolate(scale_factor=2.0, mode="nearest") passes the scale, not a size.
    h = at::upsample_nearest2d(h, c10::nullopt, at::ArrayRef<double>({2.0, 2.0}));
  } else {
    h = at::upsample_nearest2d(h, output_size, c10::nullopt);
  }
  if (dtype == at::kBFloat16) h = h.to(dtype);
  return conv.forward(h);
}

// ---- time embedding ---------------------------------------------------------

at::Tensor timestep_embedding(
    const at::Tensor& timesteps, int64_t dim, bool flip_sin_to_cos, double downscale_freq_shift) {
  const int64_t half_dim = dim / 2;
  at::Tensor exponent =
      at::arange(0, half_dim, at::TensorOptions().dtype(at::kFloat).device(timesteps.device())) *
      (-std::log(10000.0));
  exponent = exponent / (static_cast<double>(half_dim) - downscale_freq_shift);
  at::Tensor emb = at::exp(exponent);
  emb = timesteps.unsqueeze(1).to(at::kFloat) * emb.unsqueeze(0);
  // scale = 1: diffusers multiplies by 1, which changes nothing.
  emb = at::cat({at::sin(emb), at::cos(emb)}, -1);
  if (flip_sin_to_cos) {
    emb = at::cat({emb.slice(1, half_dim), emb.slice(1, 0, half_dim)}, -1);
  }
  if (dim % 2 == 1) emb = at::pad(emb, {0, 1, 0, 0}, "constant", 0.0);
  return emb;
}

TimestepEmbedding TimestepEmbedding::load(const WeightLoader& w, int64_t in, int64_t dim) {
  TimestepEmbedding t;
  t.linear_1 = Linear::load(w.sub("linear_1"), in, dim);
  t.linear_2 = Linear::load(w.sub("linear_2"), dim, dim);
  return t;
}

at::Tensor TimestepEmbedding::forward(const at::Tensor& x) const {
  return linear_2.forward(at::silu(linear_1.forward(x)));
}

}  // namespace rip::sd
