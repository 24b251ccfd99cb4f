// SPDX-License-Identifier: LGPL-2.1-or-later
#include "rip/core/feedback_channel.h"

#include <map>

namespace rip {

namespace {
std::mutex registry_mutex;
std::map<std::string, std::weak_ptr<FeedbackChannel>> registry;
}  // namespace

std::shared_ptr<FeedbackChannel> FeedbackChannel::get(const std::string& name) {
  std::lock_guard<std::mutex> guard(registry_mutex);
  auto it = registry.find(name);
  if (it != registry.end()) {
    if (auto existing = it->second.lock()) return existing;
  }
  // Drop entries whose channels are gone so the map does not grow with
  // every channel name a long-running process ever used.
  for (auto i = registry.begin(); i != registry.end();) {
    if (i->second.expired())
      i = registry.erase(i);
    else
      ++i;
  }
  auto channel = std::make_shared<FeedbackChannel>(name);
  registry[name] = channel;
  return channel;
}

bool FeedbackChannel::attach_source(Payload format) {
  std::lock_guard<std::mutex> guard(mutex_);
  if (has_source_) return false;
  has_source_ = true;
  slot_.reset();
  format_ = std::move(format);
  eos_ = false;
  flushing_ = false;
  source_done_ = false;
  replaced_ = 0;
  return true;
}

void FeedbackChannel::detach_source() {
  Payload slot, format;  // released outside the lock
  {
    std::lock_guard<std::mutex> guard(mutex_);
    has_source_ = false;
    slot = std::move(slot_);
    format = std::move(format_);
  }
  changed_.notify_all();
}

FeedbackChannel::Taken FeedbackChannel::take(
    std::optional<std::chrono::milliseconds> timeout, bool last) {
  std::unique_lock<std::mutex> lock(mutex_);
  auto ready = [this] { return slot_ || flushing_ || eos_ || !has_source_; };
  if (!timeout)
    changed_.wait(lock, ready);
  else if (!changed_.wait_for(lock, *timeout, ready))
    return {TakeStatus::TimedOut, nullptr};
  if (flushing_) return {TakeStatus::Flushing, nullptr};
  if (!has_source_) return {TakeStatus::Closed, nullptr};
  if (!slot_) return {TakeStatus::EndOfStream, nullptr};
  if (last) source_done_ = true;
  return {TakeStatus::Frame, std::move(slot_)};
}

void FeedbackChannel::finish_source() {
  std::lock_guard<std::mutex> guard(mutex_);
  source_done_ = true;
}

void FeedbackChannel::set_flushing(bool flushing) {
  {
    std::lock_guard<std::mutex> guard(mutex_);
    flushing_ = flushing;
  }
  if (flushing) changed_.notify_all();
}

void FeedbackChannel::attach_sink() {
  std::lock_guard<std::mutex> guard(mutex_);
  sinks_++;
}

void FeedbackChannel::detach_sink() {
  Payload slot;
  std::lock_guard<std::mutex> guard(mutex_);
  sinks_--;
  slot = std::move(slot_);
}

int FeedbackChannel::sink_count() const {
  std::lock_guard<std::mutex> guard(mutex_);
  return sinks_;
}

FeedbackChannel::PutStatus FeedbackChannel::put(Payload frame) {
  Payload previous;  // released outside the lock
  PutStatus status = PutStatus::Stored;
  {
    std::lock_guard<std::mutex> guard(mutex_);
    if (source_done_ || eos_) return PutStatus::Dropped;
    if (slot_) {
      replaced_++;
      status = PutStatus::Replaced;
    }
    previous = std::move(slot_);
    slot_ = std::move(frame);
  }
  changed_.notify_all();
  return status;
}

uint64_t FeedbackChannel::replaced_count() const {
  std::lock_guard<std::mutex> guard(mutex_);
  return replaced_;
}

void FeedbackChannel::end_of_stream() {
  {
    std::lock_guard<std::mutex> guard(mutex_);
    eos_ = true;
  }
  changed_.notify_all();
}

void FeedbackChannel::flush() {
  Payload slot;
  std::lock_guard<std::mutex> guard(mutex_);
  slot = std::move(slot_);
}

void FeedbackChannel::flush_stop() {
  Payload slot;
  std::lock_guard<std::mutex> guard(mutex_);
  slot = std::move(slot_);
  eos_ = false;
}

FeedbackChannel::Payload FeedbackChannel::format() const {
  std::lock_guard<std::mutex> guard(mutex_);
  return format_;
}

}  // namespace rip
