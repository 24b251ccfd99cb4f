// SPDX-License-Identifier: LGPL-2.1-or-later
//
// The named rendezvous between feedbacksink and feedbacksrc.
//
// The two elements are not linked by pads: a pad cycle makes GstBin warn
// ("loop detected") and the CAPS queries then run round the ring until the
// stack overflows. Instead they share a process-global channel, found by
// name: feedbacksink drops each frame it receives into the channel's single
// slot and feedbacksrc takes it out as the next iteration's input.
#pragma once

#include <gst/gst.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>

struct FeedbackChannel {
  explicit FeedbackChannel(std::string n) : name(std::move(n)) {}
  ~FeedbackChannel();

  const std::string name;

  std::mutex lock;
  std::condition_variable cond;

  // All below are guarded by lock.
  GstBuffer* slot = nullptr;   // the returned frame the source has not taken
  GstCaps* caps = nullptr;     // what the source emits; the sink must match
  bool eos = false;            // the sink saw EOS
  bool flushing = false;       // the source was told to unlock
  bool source_done = false;    // the source emitted its last iteration
  bool has_source = false;
  int sinks = 0;
  uint64_t overwritten = 0;    // frames replaced before the source took them

  void clear_slot_locked();
};

// Returns the channel called name, creating it if needed. The channel lives
// as long as some element holds the pointer.
std::shared_ptr<FeedbackChannel> feedback_channel_get(const std::string& name);
