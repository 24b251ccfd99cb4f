// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Batching across loops: several threads (one per loop) that inpaint on one
// shared model send their model calls through one CallBatcher, which runs
// the calls of the same kind and input shapes as one batch. Each caller
// keeps its own generator and scheduler; only the network calls are shared.
// A batch of several callers runs under rip/sd/models/caller_rows.h, which
// tells the models whose rows are whose, so that a caller's rows come out as
// they would alone (checked bit for bit by tests/sd/pipeline/test_batching.cpp).
//
// The rules (each has a test in tests/sd/pipeline/test_call_batcher.cpp):
// - A caller joins (join()) for the span of one inpaint and leaves when the
//   returned Member is destroyed; only members call.
// - One batch runs at a time; it is run by the thread whose call completes
//   it (no thread of the batcher's own).
// - A batch runs when the calls waiting for it reach their limit (the
//   smallest max_batch of its members), or when every member that may share
//   a batch (max_batch > 1) is waiting: nobody else can come, so waiting
//   longer gains nothing. A member that leaves wakes the others, so a loop
//   that ends early holds nobody up.
// - Calls group by kind and by the shapes of their inputs past dim 0; the
//   oldest waiting call's group goes first.
// - An exception thrown by the batched call reaches every caller in it.
#pragma once

#include <ATen/ATen.h>

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace rip::sd {

class CallBatcher {
 public:
  // The batched call: each input concatenated along dim 0 over the callers
  // -> one output whose dim 0 has the inputs' rows, in the same order. With
  // several callers it runs under a CallerRows of each caller's rows.
  using Fn = std::function<at::Tensor(const std::vector<at::Tensor>&)>;

  class Member {
   public:
    Member(Member&& other) noexcept;
    Member& operator=(Member&&) = delete;
    ~Member();
    int max_batch() const { return max_batch_; }

   private:
    friend class CallBatcher;
    Member(CallBatcher* batcher, int max_batch) : batcher_(batcher), max_batch_(max_batch) {}
    CallBatcher* batcher_;
    int max_batch_;
  };

  // max_batch: the most callers whose calls this one's may share a batch
  // with (itself included); 1 = never batched.
  Member join(int max_batch);

  // Runs fn on inputs (all with the same dim 0), batched with other
  // members' calls of the same kind and shapes; returns this caller's rows
  // of the output. Blocks until its batch has run. max_batch > 0 lowers the
  // member's limit for this call (1: run alone, still one at a time).
  at::Tensor call(const Member& member, const std::string& kind,
      const std::vector<at::Tensor>& inputs, const Fn& fn, int max_batch = 0);

  // How many batches of each size (callers) ran, per kind, since the
  // batcher was made: {"unet": {3: 12, 2: 4}}.
  std::map<std::string, std::map<int, int64_t>> batch_counts() const;

 private:
  struct Request {
    std::string kind;
    std::string key;  // kind and shapes
    std::vector<at::Tensor> inputs;
    const Fn* fn = nullptr;
    int max_batch = 1;
    bool done = false;
    at::Tensor output;
    std::exception_ptr error;
  };

  void leave(int max_batch);
  std::vector<Request*> next_batch();  // with mutex_ held; empty = wait
  static void run(const std::vector<Request*>& batch);

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  int batching_members_ = 0;  // members with max_batch > 1
  bool running_ = false;
  std::list<Request*> waiting_;  // oldest first
  std::map<std::string, std::map<int, int64_t>> counts_;
};

}  // namespace rip::sd
