// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Attention (diffusers' classic AttnProcessor, which is what diffusers runs
// on torch 1.13: no F.scaled_dot_product_attention there), GEGLU
// feed-forward, BasicTransformerBlock and Transformer2DModel.
#include <ATen/ATen.h>

#include <algorithm>

#include "rip/error.h"
#include "rip/sd/models/blocks.h"

namespace rip::sd {

// Attention.head_to_batch_dim: [B, L, heads*d] -> [B*heads, L, d].
at::Tensor head_to_batch_dim(const at::Tensor& t, int64_t heads) {
  const int64_t b = t.size(0), l = t.size(1), dim = t.size(2);
  return t.reshape({b, l, heads, dim / heads})
      .permute({0, 2, 1, 3})
      .reshape({b * heads, l, dim / heads});
}

// Attention.batch_to_head_dim: [B*heads, L, d] -> [B, L, heads*d].
at::Tensor batch_to_head_dim(const at::Tensor& t, int64_t heads) {
  const int64_t bh = t.size(0), l = t.size(1), dim = t.size(2);
  return t.reshape({bh / heads, heads, l, dim})
      .permute({0, 2, 1, 3})
      .reshape({bh / heads, l, dim * heads});
}

// ---- Attention --------------------------------------------------------------

Attention Attention::load(const WeightLoader& w, const Options& o) {
  Attention a;
  const int64_t inner = o.heads * o.dim_head;
  const int64_t kv_dim = o.cross_attention_dim > 0 ? o.cross_attention_dim : o.query_dim;
  if (o.norm_num_groups > 0) {
    a.group_norm = GroupNorm::load(w.sub("group_norm"), o.norm_num_groups, o.query_dim, o.eps);
  }
  a.to_q = Linear::load(w.sub("to_q"), o.query_dim, inner, o.bias);
  a.to_k = Linear::load(w.sub("to_k"), kv_dim, inner, o.bias);
  a.to_v = Linear::load(w.sub("to_v"), kv_dim, inner, o.bias);
  a.to_out = Linear::load(w.sub("to_out.0"), inner, o.query_dim, true);
  a.heads = o.heads;
  a.scale = std::pow(static_cast<double>(o.dim_head), -0.5);
  a.upcast_attention = o.upcast_attention;
  a.upcast_softmax = o.upcast_softmax;
  a.residual_connection = o.residual_connection;
  a.rescale_output_factor = o.rescale_output_factor;
  return a;
}

namespace {

// The [B*heads, L, S] scores are by far the largest tensors of the model
// (670 MB for SD2's 64x64 self-attention at batch 2, 3.4 GB at 768x768), and
// diffusers holds three of them at once (baddbmm's input, its result, the
// softmax). Up to kAllHeadsBytes the scores of all heads are one tensor, as
// in diffusers. Above, one head at a time, and on the CPU a head whose
// scores exceed kRowBlockBytes in blocks of query rows of about that size,
// so that a block's GEMM, softmax and GEMM with v stay in cache instead of
// streaming 64 MB through memory three times (docs/models.md).
constexpr int64_t kAllHeadsBytes = int64_t{16} << 20;
constexpr int64_t kRowBlockBytes = int64_t{4} << 20;

// The query rows per block for scores of s columns.
int64_t row_block(int64_t l, int64_t s, int64_t elem, bool cpu) {
  if (!cpu || l * s * elem <= kRowBlockBytes) return l;
  return std::max<int64_t>(1, kRowBlockBytes / (s * elem));
}

// All heads at once, or head by head. A head that goes in row blocks does
// so whatever the batch size, so that a loop batched with others (several
// callers in the batch) gets the bits it gets alone.
bool all_heads_at_once(int64_t bh, int64_t l, int64_t s, int64_t elem, bool cpu) {
  return bh * l * s * elem <= kAllHeadsBytes && row_block(l, s, elem, cpu) == l;
}

}  // namespace

// Attention.get_attention_scores without a mask, then bmm with v, for one
// head: q [L, d], k [S, d], v [S, dv], written into out [L, dv]. Any of them
// may be a head's columns of a [L, heads*d] matrix (a row stride larger than
// d): GEMMs read and write those in place, with the same bits as on a copy.
//
// diffusers calls baddbmm(empty, q, k^T, beta=0, alpha=scale); torch 1.13's
// CPU baddbmm reads the uninitialised buffer when beta is 0 (random NaNs), so
// the reference harness evaluates it as baddbmm(zeros, ..., beta=1), which is
// the value beta=0 must give. Here the buffer's first use adds to zeros (beta
// 1); later uses find the previous block's softmax there: finite, so beta 0
// gives exactly 0 + alpha*qk, the same bits as zeroing it again (BLAS sets C
// to 0 for beta 0; ATen's small-matrix kernel computes c*0 + alpha*qk, and
// c*0 is only NaN when c is not finite) without a pass over the buffer.
void Attention::attend_one_head(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
    at::Tensor out, ScoreBuffer& buffer) const {
  const int64_t l = q.size(0), s = k.size(0);
  const int64_t elem = static_cast<int64_t>(c10::elementSize(q.scalar_type()));
  const int64_t rows = row_block(l, s, elem, q.device().is_cpu());
  if (!buffer.scores.defined() || buffer.scores.size(0) < rows || buffer.scores.size(1) != s) {
    buffer.scores = at::zeros({rows, s}, q.options());
    buffer.zeroed = true;
  }
  const at::Tensor kt = k.t();
  for (int64_t r = 0; r < l; r += rows) {
    const int64_t n = std::min(rows, l - r);
    at::Tensor scores = buffer.scores.narrow(0, 0, n);
    scores.addmm_(q.narrow(0, r, n), kt, /*beta=*/buffer.zeroed ? 1 : 0, /*alpha=*/scale);
    buffer.zeroed = false;
    at::Tensor out_rows = out.narrow(0, r, n);
    at::mm_out(out_rows, softmax_in_place(scores, v.scalar_type()), v);
  }
}

// softmax writes into the scores (same kernel; it reads each row before
// writing it), in float32 first where upcast_softmax asks for it.
at::Tensor Attention::softmax_in_place(at::Tensor scores, at::ScalarType dtype) const {
  if (upcast_softmax) scores = scores.to(at::kFloat);
  at::_softmax_out(scores, scores, -1, false);
  return scores.to(dtype);
}

at::Tensor Attention::attend(
    const at::Tensor& q_in, const at::Tensor& k_in, const at::Tensor& v) const {
  at::Tensor q = q_in, k = k_in;
  if (upcast_attention) {
    q = q.to(at::kFloat);
    k = k.to(at::kFloat);
  }
  const int64_t bh = q.size(0), l = q.size(1), s = k.size(1);
  const int64_t elem = static_cast<int64_t>(c10::elementSize(q.scalar_type()));
  if (all_heads_at_once(bh, l, s, elem, q.device().is_cpu())) {
    // baddbmm_ works in place on the zeros (baddbmm copies its input into a
    // new result, then runs the same GEMM on it).
    at::Tensor scores = at::zeros({bh, l, s}, q.options());
    scores.baddbmm_(q, k.transpose(-1, -2), /*beta=*/1, /*alpha=*/scale);
    return at::bmm(softmax_in_place(scores, q_in.scalar_type()), v);
  }
  // ATen's bmm runs one GEMM per batch entry anyway: a head at a time gives
  // the same bits (AttentionTest checks, with one and two threads).
  at::Tensor out = at::empty({bh, l, v.size(2)}, v.options());
  ScoreBuffer buffer;
  for (int64_t b = 0; b < bh; ++b) attend_one_head(q[b], k[b], v[b], out[b], buffer);
  return out;
}

at::Tensor Attention::attend_heads(
    const at::Tensor& q_in, const at::Tensor& k_in, const at::Tensor& v) const {
  const int64_t b = q_in.size(0), l = q_in.size(1), s = k_in.size(1);
  const int64_t dim = q_in.size(2) / heads, dim_v = v.size(2) / heads;
  const int64_t elem =
      static_cast<int64_t>(c10::elementSize(upcast_attention ? at::kFloat : q_in.scalar_type()));
  if (all_heads_at_once(b * heads, l, s, elem, q_in.device().is_cpu()))
    return batch_to_head_dim(attend(head_to_batch_dim(q_in, heads), head_to_batch_dim(k_in, heads),
                                 head_to_batch_dim(v, heads)),
        heads);
  at::Tensor q = q_in, k = k_in;
  if (upcast_attention) {
    q = q.to(at::kFloat);
    k = k.to(at::kFloat);
  }
  // Each head's columns of q, k, v and of the output are used in place:
  // head_to_batch_dim's copies (and batch_to_head_dim's) are not needed.
  at::Tensor out = at::empty({b, l, heads * dim_v}, v.options());
  ScoreBuffer buffer;
  for (int64_t i = 0; i < b; ++i)
    for (int64_t h = 0; h < heads; ++h)
      attend_one_head(q[i].narrow(1, h * dim, dim), k[i].narrow(1, h * dim, dim),
          v[i].narrow(1, h * dim_v, dim_v), out[i].narrow(1, h * dim_v, dim_v), buffer);
  return out;
}

at::Tensor Attention::forward(const at::Tensor& hidden_in, const at::Tensor& context) const {
  const at::Tensor residual = hidden_in;
  at::Tensor hidden = hidden_in;
  const bool spatial = hidden.dim() == 4;
  int64_t b = 0, c = 0, h = 0, w = 0;
  if (spatial) {
    b = hidden.size(0), c = hidden.size(1), h = hidden.size(2), w = hidden.size(3);
    hidden = hidden.view({b, c, h * w}).transpose(1, 2);
  }
  if (group_norm) hidden = group_norm->forward(hidden.transpose(1, 2)).transpose(1, 2);
  at::Tensor q = to_q.forward(hidden);
  const at::Tensor& kv_source = context.defined() ? context : hidden;
  at::Tensor k = to_k.forward(kv_source);
  at::Tensor v = to_v.forward(kv_source);
  at::Tensor out =
      to_out.forward(attend_heads(q, k, v));  // to_out.1 is dropout: identity at inference
  if (spatial) out = out.transpose(-1, -2).reshape({b, c, h, w});
  // out is a fresh tensor here (Linear's result, or reshape's copy of the
  // transposed one): in place gives the same bits with one pass less.
  if (residual_connection) out.add_(residual);
  return out.div_(rescale_output_factor);
}

// ---- FeedForward (GEGLU) ----------------------------------------------------

FeedForward FeedForward::load(const WeightLoader& w, int64_t dim, int64_t mult) {
  FeedForward f;
  const int64_t inner = dim * mult;
  f.proj = Linear::load(w.sub("net.0.proj"), dim, 2 * inner);
  f.out = Linear::load(w.sub("net.2"), inner, dim);
  return f;
}

namespace {

// Outputs [first, first + count) of a linear layer: views of its weight and
// bias. Their GEMM alone gives the bits of those columns of the whole one.
Linear output_rows(const Linear& layer, int64_t first, int64_t count) {
  Linear part;
  part.weight = layer.weight.narrow(0, first, count);
  if (layer.bias.defined()) part.bias = layer.bias.narrow(0, first, count);
  return part;
}

}  // namespace

at::Tensor FeedForward::forward(const at::Tensor& x) const {
  // gelu on the chunk takes another vectorised path for another batch size
  // when a row is one token (the tiny UNet's middle): a batch of several
  // callers runs each caller's rows alone (caller_rows.h).
  if (x.device().is_cpu())
    if (const std::vector<int64_t>* callers = several_callers(x))
      return per_caller(x, *callers, [this](const at::Tensor& in) { return forward(in); });
  // GEGLU: hidden * exact-erf gelu(gate); then dropout (identity) and net.2.
  if (rows_take_onednn(x)) {
    // libtorch's own erf-gelu kernel, which diffusers' strided chunk gets,
    // takes 3 ns a value; a contiguous gate goes to oneDNN's, 8x faster and
    // within 5e-7 of it. Each half's GEMM alone gives the chunk's bits, or
    // (where OpenBLAS's kernel depends on the width) its accuracy.
    const int64_t inner = proj.weight.size(0) / 2;
    at::Tensor gate = output_rows(proj, inner, inner).forward(x);
    return out.forward(at::gelu_(gate).mul_(output_rows(proj, 0, inner).forward(x)));
  }
  const std::vector<at::Tensor> hg = proj.forward(x).chunk(2, -1);
  return out.forward(at::gelu(hg[1]).mul_(hg[0]));
}

// ---- BasicTransformerBlock --------------------------------------------------

BasicTransformerBlock BasicTransformerBlock::load(const WeightLoader& w, int64_t dim, int64_t heads,
    int64_t dim_head, int64_t cross_attention_dim, bool upcast_attention) {
  BasicTransformerBlock t;
  // norm_type "layer_norm", norm_eps 1e-5, elementwise affine.
  t.norm1 = LayerNorm::load(w.sub("norm1"), dim, 1e-5);
  t.norm2 = LayerNorm::load(w.sub("norm2"), dim, 1e-5);
  t.norm3 = LayerNorm::load(w.sub("norm3"), dim, 1e-5);
  Attention::Options a;
  a.query_dim = dim;
  a.heads = heads;
  a.dim_head = dim_head;
  a.upcast_attention = upcast_attention;
  t.attn1 = Attention::load(w.sub("attn1"), a);
  a.cross_attention_dim = cross_attention_dim;
  t.attn2 = Attention::load(w.sub("attn2"), a);
  t.ff = FeedForward::load(w.sub("ff"), dim);
  return t;
}

at::Tensor BasicTransformerBlock::forward(const at::Tensor& x, const at::Tensor& context) const {
  // Each sublayer's output is fresh: adding the residual in place gives the
  // same bits as diffusers' `out + x` with one allocation less.
  at::Tensor h = attn1.forward(norm1.forward(x), at::Tensor()).add_(x);
  h = attn2.forward(norm2.forward(h), context).add_(h);
  return ff.forward(norm3.forward(h)).add_(h);
}

// ---- Transformer2DModel -----------------------------------------------------

Transformer2DModel Transformer2DModel::load(const WeightLoader& w, const Options& o) {
  Transformer2DModel t;
  const int64_t dim_head = o.channels / o.heads;
  const int64_t inner = o.heads * dim_head;
  t.norm = GroupNorm::load(w.sub("norm"), o.norm_num_groups, o.channels, 1e-6);
  t.use_linear_projection = o.use_linear_projection;
  if (o.use_linear_projection) {
    t.proj_in_linear = Linear::load(w.sub("proj_in"), o.channels, inner);
    t.proj_out_linear = Linear::load(w.sub("proj_out"), inner, o.channels);
  } else {
    t.proj_in_conv = Conv2d::load(w.sub("proj_in"), o.channels, inner, 1);
    t.proj_out_conv = Conv2d::load(w.sub("proj_out"), inner, o.channels, 1);
  }
  for (int64_t i = 0; i < o.layers; ++i) {
    t.transformer_blocks.push_back(BasicTransformerBlock::load(w.sub("transformer_blocks", i),
        inner, o.heads, dim_head, o.cross_attention_dim, o.upcast_attention));
  }
  return t;
}

at::Tensor Transformer2DModel::forward(const at::Tensor& x, const at::Tensor& context) const {
  const int64_t b = x.size(0), height = x.size(2), width = x.size(3);
  at::Tensor h = norm.forward(x);
  int64_t inner = 0;
  if (!use_linear_projection) {
    h = proj_in_conv.forward(h);
    inner = h.size(1);
    h = h.permute({0, 2, 3, 1}).reshape({b, height * width, inner});
  } else {
    inner = h.size(1);
    h = h.permute({0, 2, 3, 1}).reshape({b, height * width, inner});
    h = proj_in_linear.forward(h);
  }
  for (const BasicTransformerBlock& block : transformer_blocks) h = block.forward(h, context);
  if (!use_linear_projection) {
    h = h.reshape({b, height, width, inner}).permute({0, 3, 1, 2}).contiguous();
    h = proj_out_conv.forward(h);
  } else {
    h = proj_out_linear.forward(h);
    h = h.reshape({b, height, width, inner}).permute({0, 3, 1, 2}).contiguous();
  }
  return h.add_(x);  // h is fresh (conv output or contiguous copy)
}

}  // namespace rip::sd
