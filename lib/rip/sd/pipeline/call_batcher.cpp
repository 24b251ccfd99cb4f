// SPDX-License-Identifier: LGPL-2.1-or-later
#include "rip/sd/pipeline/call_batcher.h"

#include <algorithm>

#include "rip/error.h"
#include "rip/sd/models/caller_rows.h"

namespace rip::sd {

CallBatcher::Member::Member(Member&& other) noexcept
    : batcher_(other.batcher_), max_batch_(other.max_batch_) {
  other.batcher_ = nullptr;
}

CallBatcher::Member::~Member() {
  if (batcher_) batcher_->leave(max_batch_);
}

CallBatcher::Member CallBatcher::join(int max_batch) {
  std::lock_guard<std::mutex> lock(mutex_);
  max_batch = std::max(1, max_batch);
  if (max_batch > 1) batching_members_++;
  return Member(this, max_batch);
}

void CallBatcher::leave(int max_batch) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (max_batch > 1) batching_members_--;
  changed_.notify_all();
}

std::map<std::string, std::map<int, int64_t>> CallBatcher::batch_counts() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return counts_;
}

namespace {

std::string call_key(const std::string& kind, const std::vector<at::Tensor>& inputs) {
  std::string key = kind;
  for (const at::Tensor& t : inputs) {
    key += '|';
    key += std::string(c10::toString(t.scalar_type()));
    for (int64_t d = 1; d < t.dim(); d++) key += ',' + std::to_string(t.size(d));
  }
  return key;
}

}  // namespace

std::vector<CallBatcher::Request*> CallBatcher::next_batch() {
  if (running_ || waiting_.empty()) return {};
  int batching_waiting = 0;
  for (const Request* r : waiting_) batching_waiting += r->max_batch > 1;
  const bool everyone_waiting = batching_waiting >= batching_members_;
  // The oldest call's group first; a later group only when it is full.
  std::vector<Request*> group;
  std::vector<bool> taken(waiting_.size(), false);
  size_t head_index = 0;
  for (auto head = waiting_.begin(); head != waiting_.end(); ++head, ++head_index) {
    if (taken[head_index]) continue;
    group.clear();
    int limit = (*head)->max_batch;
    size_t i = head_index;
    for (auto it = head; it != waiting_.end(); ++it, ++i) {
      if (taken[i] || (*it)->key != (*head)->key) continue;
      const int with = std::min(limit, (*it)->max_batch);
      if (static_cast<int>(group.size()) >= with) continue;
      limit = with;
      group.push_back(*it);
      taken[i] = true;
    }
    if (static_cast<int>(group.size()) >= limit || everyone_waiting) return group;
  }
  return {};
}

void CallBatcher::run(const std::vector<Request*>& batch) {
  const Request& head = *batch.front();
  try {
    at::Tensor output;
    if (batch.size() == 1) {
      output = (*head.fn)(head.inputs);
    } else {
      std::vector<at::Tensor> inputs;
      for (size_t k = 0; k < head.inputs.size(); k++) {
        std::vector<at::Tensor> parts;
        for (const Request* r : batch) parts.push_back(r->inputs[k]);
        inputs.push_back(at::cat(parts));
      }
      std::vector<int64_t> rows;
      for (const Request* r : batch) rows.push_back(r->inputs.front().size(0));
      const CallerRows callers(std::move(rows));
      output = (*head.fn)(inputs);
    }
    int64_t offset = 0;
    for (Request* r : batch) {
      const int64_t rows = r->inputs.front().size(0);
      r->output = batch.size() == 1 ? output : output.narrow(0, offset, rows);
      offset += rows;
    }
    if (offset != output.size(0))
      throw Error("a batched " + head.kind + " call returned " + std::to_string(output.size(0)) +
          " rows for " + std::to_string(offset) + " inputs");
  } catch (...) {
    const std::exception_ptr error = std::current_exception();
    for (Request* r : batch) {
      r->output = at::Tensor();
      r->error = error;
    }
  }
}

at::Tensor CallBatcher::call(const Member& member, const std::string& kind,
    const std::vector<at::Tensor>& inputs, const Fn& fn, int max_batch) {
  if (member.batcher_ != this) throw Error("CallBatcher::call by a caller that has not joined it");
  if (inputs.empty()) throw Error("CallBatcher::call needs at least one input");
  Request request;
  request.kind = kind;
  request.key = call_key(kind, inputs);
  request.inputs = inputs;
  request.fn = &fn;
  request.max_batch = max_batch > 0 ? std::min(max_batch, member.max_batch()) : member.max_batch();

  std::unique_lock<std::mutex> lock(mutex_);
  waiting_.push_back(&request);
  changed_.notify_all();
  while (!request.done) {
    std::vector<Request*> batch = next_batch();
    if (batch.empty()) {
      changed_.wait(lock);
      continue;
    }
    for (Request* r : batch) waiting_.remove(r);
    running_ = true;
    lock.unlock();
    run(batch);
    lock.lock();
    running_ = false;
    counts_[batch.front()->kind][static_cast<int>(batch.size())]++;
    for (Request* r : batch) r->done = true;
    changed_.notify_all();
  }
  if (request.error) std::rethrow_exception(request.error);
  return request.output;
}

}  // namespace rip::sd
