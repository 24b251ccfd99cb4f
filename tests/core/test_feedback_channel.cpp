// SPDX-License-Identifier: LGPL-2.1-or-later
//
// The hand-off rules of rip::FeedbackChannel, one test each, without
// GStreamer: frames are ints whose deleter records their release.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include "rip/core/feedback_channel.h"

namespace {

using rip::FeedbackChannel;
using std::chrono::milliseconds;
using Status = FeedbackChannel::TakeStatus;

std::atomic<int> released{0};

FeedbackChannel::Payload frame(int value) {
  return FeedbackChannel::Payload(new int(value), [](void* p) {
    delete static_cast<int*>(p);
    released++;
  });
}

int value_of(const FeedbackChannel::Taken& t) {
  return t.frame ? *static_cast<int*>(t.frame.get()) : -1;
}

// A channel with a source attached, as feedbacksrc's start() leaves it.
std::shared_ptr<FeedbackChannel> attached(const std::string& name) {
  auto ch = FeedbackChannel::get(name);
  EXPECT_TRUE(ch->attach_source(frame(0)));
  return ch;
}

// Runs take() on another thread, as basesrc's streaming thread does.
std::future<FeedbackChannel::Taken> take_async(const std::shared_ptr<FeedbackChannel>& ch,
    std::optional<milliseconds> timeout = std::nullopt, bool last = false) {
  return std::async(std::launch::async, [ch, timeout, last] { return ch->take(timeout, last); });
}

// The taker is blocked: its future is not ready after a while.
void expect_blocked(std::future<FeedbackChannel::Taken>& f) {
  EXPECT_EQ(f.wait_for(milliseconds(50)), std::future_status::timeout);
}

// It returned promptly once woken.
FeedbackChannel::Taken woken(std::future<FeedbackChannel::Taken>& f) {
  EXPECT_EQ(f.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  return f.get();
}

TEST(FeedbackChannel, OneChannelPerNameWhileItIsHeld) {
  auto a = FeedbackChannel::get("same");
  EXPECT_EQ(FeedbackChannel::get("same"), a);
  EXPECT_NE(FeedbackChannel::get("other"), a);
  a->attach_sink();
  a.reset();
  // Nobody holds it: the name gives a fresh channel (no state carried over).
  auto b = FeedbackChannel::get("same");
  EXPECT_EQ(b->sink_count(), 0);
  EXPECT_FALSE(b->format());
}

TEST(FeedbackChannel, PutThenTakeHandsTheFrameOver) {
  auto ch = attached("put-take");
  EXPECT_EQ(ch->put(frame(7)), FeedbackChannel::PutStatus::Stored);
  const auto t = ch->take(milliseconds(100), false);
  EXPECT_EQ(t.status, Status::Frame);
  EXPECT_EQ(value_of(t), 7);
  // The slot is empty again: the next take waits.
  EXPECT_EQ(ch->take(milliseconds(10), false).status, Status::TimedOut);
}

TEST(FeedbackChannel, TakeWaitsForThePut) {
  auto ch = attached("wait-put");
  auto f = take_async(ch);
  expect_blocked(f);
  ch->put(frame(3));
  const auto t = woken(f);
  EXPECT_EQ(t.status, Status::Frame);
  EXPECT_EQ(value_of(t), 3);
}

TEST(FeedbackChannel, TakeTimesOut) {
  auto ch = attached("timeout");
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(ch->take(milliseconds(30), false).status, Status::TimedOut);
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(30));
}

TEST(FeedbackChannel, ASecondPutReplacesAndIsCounted) {
  auto ch = attached("replace");
  const int before = released;
  EXPECT_EQ(ch->put(frame(1)), FeedbackChannel::PutStatus::Stored);
  EXPECT_EQ(ch->put(frame(2)), FeedbackChannel::PutStatus::Replaced);
  EXPECT_EQ(ch->replaced_count(), 1u);
  EXPECT_EQ(released - before, 1);  // the replaced frame is released
  EXPECT_EQ(value_of(ch->take(milliseconds(10), false)), 2);
}

TEST(FeedbackChannel, AfterTheLastTakePutsAreDropped) {
  auto ch = attached("last");
  ch->put(frame(1));
  EXPECT_EQ(ch->take(milliseconds(10), true).status, Status::Frame);
  EXPECT_EQ(ch->put(frame(2)), FeedbackChannel::PutStatus::Dropped);
  EXPECT_EQ(ch->take(milliseconds(10), false).status, Status::TimedOut);
}

TEST(FeedbackChannel, FinishedSourceDropsPuts) {
  auto ch = attached("finished");
  ch->finish_source();
  EXPECT_EQ(ch->put(frame(1)), FeedbackChannel::PutStatus::Dropped);
}

TEST(FeedbackChannel, EndOfStreamWakesTheTakerAndDropsLaterPuts) {
  auto ch = attached("eos");
  auto f = take_async(ch);
  expect_blocked(f);
  ch->end_of_stream();
  EXPECT_EQ(woken(f).status, Status::EndOfStream);
  EXPECT_EQ(ch->put(frame(1)), FeedbackChannel::PutStatus::Dropped);
}

TEST(FeedbackChannel, AFrameBeforeEndOfStreamIsStillTaken) {
  auto ch = attached("eos-after-frame");
  ch->put(frame(5));
  ch->end_of_stream();
  EXPECT_EQ(value_of(ch->take(milliseconds(10), false)), 5);
  EXPECT_EQ(ch->take(milliseconds(10), false).status, Status::EndOfStream);
}

TEST(FeedbackChannel, FlushEmptiesTheSlotAndFlushStopForgetsEndOfStream) {
  auto ch = attached("flush");
  ch->put(frame(1));
  ch->flush();
  EXPECT_EQ(ch->take(milliseconds(10), false).status, Status::TimedOut);
  ch->end_of_stream();
  ch->flush_stop();
  EXPECT_EQ(ch->put(frame(2)), FeedbackChannel::PutStatus::Stored);
  EXPECT_EQ(value_of(ch->take(milliseconds(10), false)), 2);
}

// The pipeline goes to NULL while the source waits for a frame that never
// comes: basesrc's unlock() sets the channel flushing, and the taker must
// return at once, not after its timeout.
TEST(FeedbackChannel, FlushingWakesABlockedTaker) {
  auto ch = attached("unlock");
  auto f = take_async(ch, milliseconds(60000));
  expect_blocked(f);
  ch->set_flushing(true);
  EXPECT_EQ(woken(f).status, Status::Flushing);
  // While flushing, take() does not wait at all.
  EXPECT_EQ(ch->take(std::nullopt, false).status, Status::Flushing);
  ch->set_flushing(false);  // unlock_stop: waiting works again
  EXPECT_EQ(ch->take(milliseconds(10), false).status, Status::TimedOut);
}

TEST(FeedbackChannel, DetachingTheSourceClosesAWaitingTake) {
  auto ch = attached("close");
  auto f = take_async(ch);
  expect_blocked(f);
  ch->detach_source();
  EXPECT_EQ(woken(f).status, Status::Closed);
  EXPECT_FALSE(ch->format());
}

TEST(FeedbackChannel, OneSourceAtATimeAndEachAttachStartsAfresh) {
  auto ch = attached("one-source");
  EXPECT_FALSE(ch->attach_source(frame(1)));
  ch->put(frame(1));
  ch->put(frame(2));
  ch->end_of_stream();
  ch->detach_source();
  ASSERT_TRUE(ch->attach_source(frame(9)));
  EXPECT_EQ(*static_cast<int*>(ch->format().get()), 9);
  EXPECT_EQ(ch->replaced_count(), 0u);
  EXPECT_EQ(ch->put(frame(3)), FeedbackChannel::PutStatus::Stored);  // no EOS left over
  EXPECT_EQ(value_of(ch->take(milliseconds(10), false)), 3);
}

TEST(FeedbackChannel, SinksAreCountedAndALeavingSinkEmptiesTheSlot) {
  auto ch = attached("sinks");
  EXPECT_EQ(ch->sink_count(), 0);
  ch->attach_sink();
  ch->attach_sink();
  EXPECT_EQ(ch->sink_count(), 2);
  ch->put(frame(1));
  ch->detach_sink();
  EXPECT_EQ(ch->sink_count(), 1);
  EXPECT_EQ(ch->take(milliseconds(10), false).status, Status::TimedOut);
}

TEST(FeedbackChannel, EveryFrameIsReleasedOnce) {
  const int before = released;
  {
    auto ch = attached("release");
    ch->put(frame(1));
    ch->put(frame(2));                  // releases 1
    ch->take(milliseconds(10), false);  // 2 handed out and dropped here
    ch->put(frame(3));
    ch->detach_source();  // releases 3 and the format
  }
  EXPECT_EQ(released - before, 4);
}

// A loop in lockstep over two threads, as in a pipeline: the sink puts
// frame k once the source took frame k - 1. Every frame arrives, in order,
// and none is replaced.
TEST(FeedbackChannel, LockstepLoopOverThreads) {
  auto ch = attached("lockstep");
  constexpr int kFrames = 500;
  std::atomic<int> taken{0};
  std::thread sink([&] {
    for (int k = 1; k <= kFrames; ++k) {
      while (taken.load() < k - 1) std::this_thread::yield();
      EXPECT_EQ(ch->put(frame(k)), FeedbackChannel::PutStatus::Stored);
    }
  });
  for (int k = 1; k <= kFrames; ++k) {
    const auto t = ch->take(milliseconds(5000), k == kFrames);
    ASSERT_EQ(t.status, Status::Frame);
    EXPECT_EQ(value_of(t), k);
    taken.store(k);
  }
  sink.join();
  EXPECT_EQ(ch->replaced_count(), 0u);
}

}  // namespace
