// SPDX-License-Identifier: LGPL-2.1-or-later
//
// oneDNN's Winograd convolution through its own API: libtorch 1.13 only ever
// asks oneDNN for the direct algorithm. Debian's libtorch links the same
// libdnnl.so.2 that libdnnl-dev's headers describe.
#include "rip/sd/models/winograd_conv.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "rip/error.h"

#ifdef RIP_HAVE_ONEDNN
#include <oneapi/dnnl/dnnl.hpp>
#endif

namespace rip::sd {

namespace {

constexpr int64_t kMinChannels = 128;
constexpr int64_t kMinPixels = 32 * 32;

bool disabled_by_environment() {
  const char* v = std::getenv("RIP_SD_WINOGRAD");
  return v && std::strcmp(v, "0") == 0;
}

}  // namespace

#ifdef RIP_HAVE_ONEDNN

namespace {

dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

// A buffer for oneDNN in libtorch's allocator (and so under the process's
// malloc settings), at least one byte so that it has an address.
at::Tensor bytes(const dnnl::memory::desc& md) {
  return at::empty({std::max<int64_t>(static_cast<int64_t>(md.get_size()), 1)}, at::kByte);
}

// The kernel's scratchpad is, for a large layer, as large as its
// transformed weights (250 MiB for 1280 -> 1280 at 32x32), and the blocked
// copies of input and output are 5-40 MiB in the UNet, up to 256 MiB in the
// VAE at 512x512. Fresh buffers cost a page fault per 4 KiB on every call
// (100+ ms a call on a VM), so each thread keeps one of each and grows it,
// as oneDNN's own scratchpad does; they live as long as the thread.
enum class Slot { kScratchpad, kSource, kDestination, kCount };

void* thread_buffer(Slot slot, size_t size) {
  struct Buffer {
    void* data = nullptr;
    size_t size = 0;
    ~Buffer() { std::free(data); }
  };
  thread_local Buffer buffers[static_cast<int>(Slot::kCount)];
  Buffer& buffer = buffers[static_cast<int>(slot)];
  if (size > buffer.size || !buffer.data) {
    std::free(buffer.data);
    buffer.size = 0;
    buffer.data = std::aligned_alloc(64, std::max<size_t>((size + 63) / 64 * 64, 64));
    if (!buffer.data) throw Error("out of memory for a convolution's buffers");
    buffer.size = size;
  }
  return buffer.data;
}

dnnl::memory thread_memory(Slot slot, const dnnl::memory::desc& md) {
  return dnnl::memory(md, cpu_engine(), thread_buffer(slot, md.get_size()));
}

dnnl::memory wrap(const dnnl::memory::desc& md, const at::Tensor& t) {
  return dnnl::memory(md, cpu_engine(), const_cast<void*>(t.data_ptr()));
}

}  // namespace

struct WinogradConv::Impl {
  at::Tensor weight, bias;  // float32, contiguous; bias undefined when none
  int64_t in = 0, out = 0;

  // The primitives for one input shape. Execution only reads them, so
  // threads share them; every buffer a call writes is its own.
  struct Plan {
    int64_t n = 0, h = 0, w = 0;
    bool supported = false;
    dnnl::memory::desc src_user, dst_user, bias_md;
    dnnl::convolution_forward conv;
    dnnl::convolution_forward::primitive_desc pd;
    dnnl::reorder to_blocked, from_blocked;
    dnnl::memory::desc to_blocked_scratch, from_blocked_scratch;
    bool reorder_src = false, reorder_dst = false;
    at::Tensor packed;  // the weights in pd's layout, shared by plans with that layout
  };

  std::mutex mutex;
  std::vector<std::shared_ptr<const Plan>> plans;
  // The weights in each layout a plan asked for: oneDNN picks the layout's
  // blocking from the shape (batch 3 gets another than 1, 2 and 4, and a
  // 96x96 image another than 64x64), so a layer may hold more than one.
  std::vector<std::pair<dnnl::memory::desc, at::Tensor>> packs;

  std::shared_ptr<const Plan> plan_for(int64_t n, int64_t h, int64_t w) {
    std::lock_guard<std::mutex> lock(mutex);
    for (const auto& p : plans)
      if (p->n == n && p->h == h && p->w == w) return p;
    auto plan = std::make_shared<Plan>();
    plan->n = n;
    plan->h = h;
    plan->w = w;
    try {
      build(*plan);
    } catch (const dnnl::error&) {
      // No Winograd kernel for this CPU (it needs AVX-512) or shape.
      plan->supported = false;
    }
    plans.push_back(plan);
    return plan;
  }

  void build(Plan& plan) {
    using dnnl::memory;
    using tag = memory::format_tag;
    const auto f32 = memory::data_type::f32;
    const memory::dims src_dims{plan.n, in, plan.h, plan.w}, dst_dims{plan.n, out, plan.h, plan.w};
    const memory::dims weight_dims{out, in, 3, 3};
    plan.src_user = memory::desc(src_dims, f32, tag::nchw);
    plan.dst_user = memory::desc(dst_dims, f32, tag::nchw);
    const memory::desc src_any(src_dims, f32, tag::any), dst_any(dst_dims, f32, tag::any);
    const memory::desc weight_any(weight_dims, f32, tag::any);
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    const memory::dims ones{1, 1};
    const auto desc = bias.defined()
        ? dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference,
              dnnl::algorithm::convolution_winograd, src_any, weight_any,
              memory::desc({out}, f32, tag::x), dst_any, ones, ones, ones)
        : dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference,
              dnnl::algorithm::convolution_winograd, src_any, weight_any, dst_any, ones, ones,
              ones);
    plan.pd = dnnl::convolution_forward::primitive_desc(desc, attr, cpu_engine());
    plan.conv = dnnl::convolution_forward(plan.pd);
    if (bias.defined()) plan.bias_md = memory::desc({out}, f32, tag::x);

    plan.reorder_src = plan.pd.src_desc() != plan.src_user;
    if (plan.reorder_src) {
      const dnnl::reorder::primitive_desc r(
          cpu_engine(), plan.src_user, cpu_engine(), plan.pd.src_desc(), attr);
      plan.to_blocked = dnnl::reorder(r);
      plan.to_blocked_scratch = r.scratchpad_desc();
    }
    plan.reorder_dst = plan.pd.dst_desc() != plan.dst_user;
    if (plan.reorder_dst) {
      const dnnl::reorder::primitive_desc r(
          cpu_engine(), plan.pd.dst_desc(), cpu_engine(), plan.dst_user, attr);
      plan.from_blocked = dnnl::reorder(r);
      plan.from_blocked_scratch = r.scratchpad_desc();
    }

    const memory::desc packed_md = plan.pd.weights_desc();
    for (const auto& [md, packed] : packs)
      if (md == packed_md) plan.packed = packed;
    if (!plan.packed.defined()) {
      plan.packed = bytes(packed_md);
      memory user = wrap(memory::desc(weight_dims, f32, tag::oihw), weight);
      memory dst = wrap(packed_md, plan.packed);
      dnnl::stream stream(cpu_engine());
      dnnl::reorder(user, dst).execute(stream, user, dst);
      stream.wait();
      packs.emplace_back(packed_md, plan.packed);
    }
    plan.supported = true;
  }
};

bool WinogradConv::built_in() {
  return true;
}

std::shared_ptr<const WinogradConv> WinogradConv::for_layer(
    const at::Tensor& weight, const at::Tensor& bias, int64_t stride, int64_t padding) {
  if (disabled_by_environment()) return nullptr;
  if (!weight.defined() || !weight.device().is_cpu() || weight.scalar_type() != at::kFloat ||
      weight.dim() != 4 || weight.size(2) != 3 || weight.size(3) != 3 || stride != 1 ||
      padding != 1 || weight.size(0) < kMinChannels || weight.size(1) < kMinChannels) {
    return nullptr;
  }
  if (bias.defined() && (bias.scalar_type() != at::kFloat || !bias.device().is_cpu())) {
    return nullptr;
  }
  auto impl = std::make_unique<Impl>();
  impl->weight = weight.contiguous();
  if (bias.defined()) impl->bias = bias.contiguous();
  impl->out = weight.size(0);
  impl->in = weight.size(1);
  return std::make_shared<const WinogradConv>(std::move(impl));
}

bool WinogradConv::applies_to(const at::Tensor& x) const {
  return x.dim() == 4 && x.device().is_cpu() && x.scalar_type() == at::kFloat &&
      x.size(1) == impl_->in && x.size(2) * x.size(3) >= kMinPixels && x.size(0) > 0;
}

at::Tensor WinogradConv::forward(const at::Tensor& x) const {
  if (!applies_to(x)) return {};
  const std::shared_ptr<const Impl::Plan> plan = impl_->plan_for(x.size(0), x.size(2), x.size(3));
  if (!plan->supported) return {};

  const at::Tensor src = x.contiguous();
  at::Tensor result = at::empty({x.size(0), impl_->out, x.size(2), x.size(3)}, x.options());
  try {
    dnnl::stream stream(cpu_engine());
    const dnnl::memory src_user = wrap(plan->src_user, src);
    const dnnl::memory dst_user = wrap(plan->dst_user, result);
    dnnl::memory src_mem = src_user, dst_mem = dst_user;
    if (plan->reorder_src) {
      src_mem = thread_memory(Slot::kSource, plan->pd.src_desc());
      const at::Tensor scratch = bytes(plan->to_blocked_scratch);
      plan->to_blocked.execute(stream,
          {{DNNL_ARG_FROM, src_user}, {DNNL_ARG_TO, src_mem},
              {DNNL_ARG_SCRATCHPAD, wrap(plan->to_blocked_scratch, scratch)}});
    }
    if (plan->reorder_dst) dst_mem = thread_memory(Slot::kDestination, plan->pd.dst_desc());
    std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, src_mem},
        {DNNL_ARG_WEIGHTS, wrap(plan->pd.weights_desc(), plan->packed)}, {DNNL_ARG_DST, dst_mem},
        {DNNL_ARG_SCRATCHPAD, thread_memory(Slot::kScratchpad, plan->pd.scratchpad_desc())}};
    if (impl_->bias.defined()) args.emplace(DNNL_ARG_BIAS, wrap(plan->bias_md, impl_->bias));
    plan->conv.execute(stream, args);
    if (plan->reorder_dst) {
      const at::Tensor out_scratch = bytes(plan->from_blocked_scratch);
      plan->from_blocked.execute(stream,
          {{DNNL_ARG_FROM, dst_mem}, {DNNL_ARG_TO, dst_user},
              {DNNL_ARG_SCRATCHPAD, wrap(plan->from_blocked_scratch, out_scratch)}});
    }
    stream.wait();
  } catch (const dnnl::error& e) {
    throw Error(std::string("oneDNN's Winograd convolution failed (") + e.what() +
        "). Set RIP_SD_WINOGRAD=0 in the environment to use libtorch's convolution instead.");
  }
  return result;
}

#else  // !RIP_HAVE_ONEDNN

struct WinogradConv::Impl {};

bool WinogradConv::built_in() {
  return false;
}

std::shared_ptr<const WinogradConv> WinogradConv::for_layer(
    const at::Tensor&, const at::Tensor&, int64_t, int64_t) {
  (void) disabled_by_environment;
  (void) kMinChannels;
  (void) kMinPixels;
  return nullptr;
}

bool WinogradConv::applies_to(const at::Tensor&) const {
  return false;
}

at::Tensor WinogradConv::forward(const at::Tensor&) const {
  return {};
}

#endif

WinogradConv::WinogradConv(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
WinogradConv::~WinogradConv() = default;

}  // namespace rip::sd
