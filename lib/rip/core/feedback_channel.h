// SPDX-License-Identifier: LGPL-2.1-or-later
//
// The named rendezvous of a RIP loop: the sink end puts each finished frame
// in, the source end takes it out as the next iteration's input.
//
// feedbacksink and feedbacksrc are not linked by pads: a pad cycle makes
// GstBin warn ("loop detected") and the CAPS queries then run round the ring
// until the stack overflows. Instead they share a process-global channel,
// found by name. The channel owns every hand-off rule, so the elements hold
// no locks of their own for it:
//  * one source per channel (a second attach_source is refused), any number
//    of sinks (counted, so a source that waits in vain can say none runs);
//  * one slot: put() stores a frame, a second put() before take() replaces it
//    and counts the replacement (the loop is not one-in-one-out);
//  * take() waits until a frame is there, the sinks saw end-of-stream, the
//    source is flushing (the pipeline leaves PLAYING/PAUSED) or the channel
//    is closed (the source detached), or until its timeout;
//  * once the source took its last frame, or a sink saw end-of-stream, put()
//    drops frames: there is no next iteration for them;
//  * flush() empties the slot; flush_stop() also forgets end-of-stream.
// Frames and the source's format are opaque to the channel (the elements put
// GstBuffers and GstCaps in), so it is GStreamer-free and tested on its own.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace rip {

class FeedbackChannel {
 public:
  // A frame or a format, with its owner's release function as deleter.
  using Payload = std::shared_ptr<void>;

  // The channel called name, created if needed. It lives as long as some
  // element holds the pointer.
  static std::shared_ptr<FeedbackChannel> get(const std::string& name);

  explicit FeedbackChannel(std::string name) : name_(std::move(name)) {}
  FeedbackChannel(const FeedbackChannel&) = delete;
  FeedbackChannel& operator=(const FeedbackChannel&) = delete;

  const std::string& name() const { return name_; }

  // ---- the source end ----
  // Claims the channel for a source that emits `format`, starting a new run:
  // empty slot, no end-of-stream, not flushing, nothing replaced. False when
  // another source holds it.
  bool attach_source(Payload format);
  // Releases the channel: the slot is emptied, the format forgotten, and a
  // take() still waiting returns Closed.
  void detach_source();

  enum class TakeStatus { Frame, EndOfStream, Flushing, Closed, TimedOut };
  struct Taken {
    TakeStatus status;
    Payload frame;  // set for Frame
  };
  // Waits for the next frame (no timeout: for ever). `last`: this is the
  // final iteration's frame, after which put() drops frames.
  Taken take(std::optional<std::chrono::milliseconds> timeout, bool last);
  // The source will take nothing more (a loop of 0 iterations).
  void finish_source();
  // While flushing, take() returns Flushing at once (basesrc's unlock and
  // unlock_stop).
  void set_flushing(bool flushing);

  // ---- the sink end ----
  void attach_sink();
  // The slot is emptied too: what a leaving sink put is stale.
  void detach_sink();
  int sink_count() const;

  enum class PutStatus { Stored, Replaced, Dropped };
  PutStatus put(Payload frame);
  // Frames put() replaced since the source attached.
  uint64_t replaced_count() const;
  // A sink saw end-of-stream: a waiting take() returns EndOfStream once the
  // slot is empty.
  void end_of_stream();
  void flush();       // FLUSH_START: the slot is emptied
  void flush_stop();  // FLUSH_STOP: the slot is emptied, end-of-stream forgotten
  // What the source emits (nullptr before a source attached).
  Payload format() const;

 private:
  const std::string name_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  // All below are guarded by mutex_.
  Payload slot_;    // the returned frame the source has not taken
  Payload format_;  // what the source emits; the sinks must match
  bool has_source_ = false;
  bool eos_ = false;          // a sink saw end-of-stream
  bool flushing_ = false;     // the source was told to unlock
  bool source_done_ = false;  // the source took its last frame
  int sinks_ = 0;
  uint64_t replaced_ = 0;
};

}  // namespace rip
