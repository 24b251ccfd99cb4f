// SPDX-License-Identifier: LGPL-2.1-or-later
#include "feedbackchannel.h"

#include <map>

namespace {
std::mutex registry_lock;
std::map<std::string, std::weak_ptr<FeedbackChannel>> registry;
}  // namespace

FeedbackChannel::~FeedbackChannel()
{
  gst_clear_buffer(&slot);
  gst_clear_caps(&caps);
}

void
FeedbackChannel::clear_slot_locked()
{
  gst_clear_buffer(&slot);
}

std::shared_ptr<FeedbackChannel>
feedback_channel_get(const std::string& name)
{
  std::lock_guard<std::mutex> guard(registry_lock);
  auto it = registry.find(name);
  if (it != registry.end()) {
    if (auto existing = it->second.lock())
      return existing;
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
