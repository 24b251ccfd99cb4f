// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Helpers of the LPIPS tests: data folders, temporary folders, the
// synthetic VGG16 backbone and the reference goldens.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "../core/testutil.h"
#include "synthetic.h"

namespace lpipstest {

// tests/data/lpips, and the shared data folder (../shared beside the
// checkout; may be absent).
std::string data_dir();
std::string shared_dir();
bool have_shared();
// The v0.1 lin weights in ../shared/data/lpips/weights/v0.1.
std::string shared_lin(const std::string& net);
// tests/data/lpips/goldens.json.
const nlohmann::json& goldens();
// "shared:imgs/ex_ref.png" / "data:images/x.png" -> a path.
std::string golden_image(const std::string& ref);

#define LPIPS_NEEDS_SHARED()                                                                       \
  do {                                                                                             \
    if (!lpipstest::have_shared())                                                                 \
      GTEST_SKIP() << "SKIPPED: needs the LPIPS weights and images in " << lpipstest::shared_dir() \
                   << "/data/lpips (set RIP_SHARED_DIR)";                                          \
  } while (0)

// From tests/core: TempDir, error_of (the rip::Error's message; a failure
// when nothing is thrown), contains_all.
using riptest::contains_all;
using riptest::error_of;
using riptest::TempDir;

// The backbone file of a net in the test data ("vgg": written into dir).
std::string test_backbone(const std::string& net, const std::string& dir);

}  // namespace lpipstest
