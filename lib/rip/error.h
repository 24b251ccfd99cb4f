// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <stdexcept>
#include <string>

namespace rip {

// Every failure the core reports is an Error whose message says what is
// wrong and what to do about it; the GStreamer elements turn it into an
// element error verbatim, so the text is written for users.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

}  // namespace rip
