// SPDX-License-Identifier: LGPL-2.1-or-later
//
// CallBatcher's rules one by one (rip/sd/pipeline/call_batcher.h), with a
// cheap batched call that records what it was given.
#include <ATen/ATen.h>

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>

#include <gtest/gtest.h>

#include "rip/sd/models/caller_rows.h"
#include "rip/sd/pipeline/call_batcher.h"

using rip::sd::CallBatcher;
using namespace std::chrono_literals;

namespace {

// Doubles its input and records the rows of every batch it ran.
struct Doubler {
  std::mutex mutex;
  std::vector<int64_t> batch_rows;
  std::vector<std::vector<int64_t>> callers;  // CallerRows::current() per batch
  CallBatcher::Fn fn = [this](const std::vector<at::Tensor>& in) {
    std::lock_guard<std::mutex> lock(mutex);
    batch_rows.push_back(in[0].size(0));
    const std::vector<int64_t>* rows = rip::sd::CallerRows::current();
    callers.push_back(rows ? *rows : std::vector<int64_t>{});
    return in[0] * 2;
  };
};

at::Tensor rows(std::initializer_list<float> values, int64_t width = 3) {
  std::vector<float> v;
  for (float x : values)
    for (int64_t i = 0; i < width; i++) v.push_back(x);
  return at::tensor(v).reshape({int64_t(values.size()), width});
}

// Calls on its own thread; the future is ready once the call returned.
std::future<at::Tensor> call_async(CallBatcher& b, const CallBatcher::Member& m, at::Tensor x,
    const CallBatcher::Fn& fn, const std::string& kind = "unet") {
  return std::async(
      std::launch::async, [&b, &m, x, &fn, kind] { return b.call(m, kind, {x}, fn); });
}

// Calls once on its own thread, then leaves (its loop's inpaint ends).
std::future<at::Tensor> call_and_leave(CallBatcher& b, CallBatcher::Member&& m, at::Tensor x,
    const CallBatcher::Fn& fn, const std::string& kind = "unet") {
  auto member = std::make_shared<CallBatcher::Member>(std::move(m));
  return std::async(std::launch::async, [&b, member, x, &fn, kind]() mutable {
    at::Tensor out = b.call(*member, kind, {x}, fn);
    member.reset();
    return out;
  });
}

bool ready(std::future<at::Tensor>& f, std::chrono::milliseconds wait = 0ms) {
  return f.wait_for(wait) == std::future_status::ready;
}

}  // namespace

TEST(CallBatcher, ALoneCallerRunsAtOnce) {
  CallBatcher b;
  Doubler d;
  auto m = b.join(4);
  at::Tensor out = b.call(m, "unet", {rows({1, 2})}, d.fn);
  EXPECT_TRUE(out.equal(rows({2, 4})));
  EXPECT_EQ(d.batch_rows, std::vector<int64_t>{2});
  EXPECT_EQ(b.batch_counts().at("unet").at(1), 1);
}

TEST(CallBatcher, WaitsForEveryMemberThenRunsOneBatch) {
  CallBatcher b;
  Doubler d;
  auto m1 = b.join(4);
  auto m2 = b.join(4);
  auto f1 = call_async(b, m1, rows({1}), d.fn);
  EXPECT_FALSE(ready(f1, 100ms)) << "ran before the other member called";
  // Rows per caller may differ (a loop with guidance sends two).
  auto f2 = call_async(b, m2, rows({5, 6}), d.fn);
  EXPECT_TRUE(f1.get().equal(rows({2})));
  EXPECT_TRUE(f2.get().equal(rows({10, 12})));
  EXPECT_EQ(d.batch_rows, std::vector<int64_t>{3});
  // The models learn whose rows are whose (rip/sd/models/caller_rows.h).
  EXPECT_EQ(d.callers, (std::vector<std::vector<int64_t>>{{1, 2}}));
  EXPECT_EQ(rip::sd::CallerRows::current(), nullptr);
  EXPECT_EQ(b.batch_counts().at("unet").at(2), 1);
}

TEST(CallBatcher, AMemberThatLeavesWakesTheOthers) {
  CallBatcher b;
  Doubler d;
  auto m1 = b.join(4);
  std::future<at::Tensor> f1;
  {
    auto m2 = b.join(4);
    f1 = call_async(b, m1, rows({1}), d.fn);
    EXPECT_FALSE(ready(f1, 50ms));
  }  // m2 ends (its loop stopped early) without calling
  EXPECT_TRUE(ready(f1, 5s));
  EXPECT_TRUE(f1.get().equal(rows({2})));
  EXPECT_EQ(d.batch_rows, std::vector<int64_t>{1});
}

TEST(CallBatcher, AFullBatchRunsWithoutWaitingForTheRest) {
  CallBatcher b;
  Doubler d;
  auto m1 = b.join(2);
  auto m2 = b.join(2);
  auto m3 = b.join(2);  // never calls
  auto f1 = call_async(b, m1, rows({1}), d.fn);
  auto f2 = call_async(b, m2, rows({2}), d.fn);
  EXPECT_TRUE(ready(f1, 5s));
  EXPECT_TRUE(ready(f2, 5s));
  EXPECT_EQ(d.batch_rows, std::vector<int64_t>{2});
}

TEST(CallBatcher, MaxBatchOneIsNeverBatched) {
  CallBatcher b;
  Doubler d;
  auto m1 = b.join(1);
  auto m2 = b.join(4);
  auto f1 = call_async(b, m1, rows({1}), d.fn);
  auto f2 = call_async(b, m2, rows({2}), d.fn);
  EXPECT_TRUE(f1.get().equal(rows({2})));
  EXPECT_TRUE(f2.get().equal(rows({4})));
  EXPECT_EQ(d.batch_rows, (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(b.batch_counts().at("unet").at(1), 2);
}

TEST(CallBatcher, OtherShapesAndKindsGoInTheirOwnBatches) {
  CallBatcher b;
  Doubler d;
  auto m1 = b.join(4);
  auto m2 = b.join(4);
  auto m3 = b.join(4);
  auto f1 = call_and_leave(b, std::move(m1), rows({1}, 3), d.fn);
  auto f2 = call_and_leave(b, std::move(m2), rows({2}, 5), d.fn);
  auto f3 = call_and_leave(b, std::move(m3), rows({3}, 3), d.fn, "vae-decode");
  EXPECT_TRUE(f1.get().equal(rows({2}, 3)));
  EXPECT_TRUE(f2.get().equal(rows({4}, 5)));
  EXPECT_TRUE(f3.get().equal(rows({6}, 3)));
  EXPECT_EQ(d.batch_rows, (std::vector<int64_t>{1, 1, 1}));
  const auto counts = b.batch_counts();
  EXPECT_EQ(counts.at("unet").at(1), 2);
  EXPECT_EQ(counts.at("vae-decode").at(1), 1);
}

TEST(CallBatcher, AnErrorReachesEveryCallerOfTheBatch) {
  CallBatcher b;
  const CallBatcher::Fn fails = [](const std::vector<at::Tensor>&) -> at::Tensor {
    throw std::runtime_error("out of memory");
  };
  auto m1 = b.join(4);
  auto m2 = b.join(4);
  auto f1 = call_async(b, m1, rows({1}), fails);
  auto f2 = call_async(b, m2, rows({2}), fails);
  EXPECT_THROW(f1.get(), std::runtime_error);
  EXPECT_THROW(f2.get(), std::runtime_error);
  // The batcher is usable afterwards.
  Doubler d;
  auto g1 = call_async(b, m1, rows({1}), d.fn);
  auto g2 = call_async(b, m2, rows({2}), d.fn);
  EXPECT_TRUE(g1.get().equal(rows({2})));
  EXPECT_TRUE(g2.get().equal(rows({4})));
}

TEST(CallBatcher, OneBatchRunsAtATime) {
  CallBatcher b;
  std::atomic<int> inside{0}, most{0};
  const CallBatcher::Fn slow = [&](const std::vector<at::Tensor>& in) {
    most = std::max(most.load(), ++inside);
    std::this_thread::sleep_for(20ms);
    inside--;
    return in[0].clone();
  };
  // Four loops, each alone in its batches, calling five times.
  std::vector<std::future<void>> loops;
  for (int k = 0; k < 4; k++)
    loops.push_back(std::async(std::launch::async, [&b, &slow] {
      auto m = b.join(1);
      for (int i = 0; i < 5; i++) b.call(m, "unet", {rows({1})}, slow);
    }));
  for (auto& l : loops) l.get();
  EXPECT_EQ(most.load(), 1);
  EXPECT_EQ(b.batch_counts().at("unet").at(1), 20);
}
