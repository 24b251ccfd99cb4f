// SPDX-License-Identifier: LGPL-2.1-or-later
#include "testutil.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "rip/error.h"

namespace lpipstest {

std::string data_dir() {
  return riptest::test_data_dir() + "/lpips";
}

std::string shared_dir() {
  return riptest::shared_dir();
}

bool have_shared() {
  std::error_code ec;
  return std::filesystem::exists(shared_dir() +
          "/data/lpips/weights/v0.1/"
          "alex.pth",
      ec);
}

std::string shared_lin(const std::string& net) {
  return shared_dir() + "/data/lpips/weights/v0.1/" + net + ".pth";
}

const nlohmann::json& goldens() {
  static const nlohmann::json j = [] {
    std::ifstream in(data_dir() + "/goldens.json");
    if (!in) throw std::runtime_error("cannot read " + data_dir() + "/goldens.json");
    return nlohmann::json::parse(in);
  }();
  return j;
}

std::string golden_image(const std::string& ref) {
  const auto colon = ref.find(':');
  const std::string kind = ref.substr(0, colon), rel = ref.substr(colon + 1);
  return kind == "shared" ? shared_dir() + "/data/lpips/" + rel : data_dir() + "/" + rel;
}

std::string test_backbone(const std::string& net, const std::string& dir) {
  if (net == "alex") return data_dir() + "/alexnet.pth";
  if (net == "squeeze") return data_dir() + "/squeezenet1_1.pth";
  const std::string path = dir + "/vgg16.safetensors";
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) write_synthetic_vgg16(dir);
  return path;
}

}  // namespace lpipstest
