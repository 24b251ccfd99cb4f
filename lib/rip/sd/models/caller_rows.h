// SPDX-License-Identifier: LGPL-2.1-or-later
//
// A model call whose batch holds the rows of several callers (batching
// across loops, rip/sd/pipeline/call_batcher.h) must give each caller the
// bits it gets alone. Most layers compute row by row; two do not, on the
// CPU: libtorch's float convolution takes oneDNN for a batch of several rows
// but its native kernel for one small image (at most 20480 values, or a 1x1
// kernel on one thread), and OpenBLAS's GEMM rounds differently for other
// matrix heights. Such a convolution, and every linear layer, runs once per
// caller instead (the rest, and the convolutions of large images, stay
// batched). That is enough for the UNet (tests/sd/pipeline/test_batching.cpp);
// the VAE is not batched on the CPU (rip/sd/pipeline/inpaint_pipeline.cpp).
// CallBatcher sets it for the span of one batched call, on the thread that
// runs it; torch-free.
#pragma once

#include <cstdint>
#include <vector>

namespace rip::sd {

class CallerRows {
 public:
  // rows: each caller's rows, in batch order.
  explicit CallerRows(std::vector<int64_t> rows);
  ~CallerRows();
  CallerRows(const CallerRows&) = delete;
  CallerRows& operator=(const CallerRows&) = delete;
  // The innermost on this thread, or nullptr when none is set.
  static const std::vector<int64_t>* current();

 private:
  std::vector<int64_t> rows_;
  const std::vector<int64_t>* outer_;
};

}  // namespace rip::sd
