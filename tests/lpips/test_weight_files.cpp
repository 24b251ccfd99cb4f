// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Finding the weight files where users have them.
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>

#include "rip/lpips/weight_files.h"
#include "testutil.h"

using namespace rip::lpips;
using lpipstest::contains_all;
using lpipstest::error_of;
namespace fs = std::filesystem;

namespace {

// Sets environment variables for one test and restores them after.
class Env {
 public:
  void set(const std::string& name, const std::string& value) {
    save(name);
    setenv(name.c_str(), value.c_str(), 1);
  }
  void unset(const std::string& name) {
    save(name);
    unsetenv(name.c_str());
  }
  ~Env() {
    for (auto& [name, value] : saved_)
      if (value.first)
        setenv(name.c_str(), value.second.c_str(), 1);
      else
        unsetenv(name.c_str());
  }

 private:
  void save(const std::string& name) {
    if (saved_.count(name)) return;
    const char* v = std::getenv(name.c_str());
    saved_[name] = {v != nullptr, v ? v : ""};
  }
  std::map<std::string, std::pair<bool, std::string>> saved_;
};

void touch(const std::string& path) {
  fs::create_directories(fs::path(path).parent_path());
  lpipstest::write_bytes(path, {1});
}

// No stray weight files from this machine: an empty torch home and no
// Python package folders but the ones a test makes.
void isolate(Env& env, const lpipstest::TempDir& tmp) {
  env.set("TORCH_HOME", tmp.file("torch"));
  env.set("HOME", tmp.file("home"));
  env.unset("XDG_CACHE_HOME");
  env.unset("VIRTUAL_ENV");
  env.unset("CONDA_PREFIX");
  env.set("PYTHONPATH", "");
}

}  // namespace

TEST(WeightFiles, TorchHubDirFollowsTorch) {
  Env env;
  env.set("TORCH_HOME", "/x/torch");
  EXPECT_EQ(torch_hub_checkpoints_dir(), "/x/torch/hub/checkpoints");
  env.unset("TORCH_HOME");
  env.set("XDG_CACHE_HOME", "/x/cache");
  EXPECT_EQ(torch_hub_checkpoints_dir(), "/x/cache/torch/hub/checkpoints");
  env.unset("XDG_CACHE_HOME");
  env.set("HOME", "/home/u");
  EXPECT_EQ(torch_hub_checkpoints_dir(), "/home/u/.cache/torch/hub/checkpoints");
}

TEST(WeightFiles, BackboneSearchOrder) {
  Env env;
  lpipstest::TempDir tmp;
  isolate(env, tmp);
  const std::string hub = tmp.file("torch/hub/checkpoints");
  const std::string dir = tmp.file("given");
  touch(hub + "/alexnet-owt-7be5be79.pth");
  EXPECT_EQ(find_backbone_file(Net::Alex, ""), hub + "/alexnet-owt-7be5be79.pth");
  EXPECT_EQ(find_backbone_file(Net::Alex, dir), hub + "/alexnet-owt-7be5be79.pth");
  // The given folder comes first; the official name before others.
  touch(dir + "/alexnet.safetensors");
  EXPECT_EQ(find_backbone_file(Net::Alex, dir), dir + "/alexnet.safetensors");
  touch(dir + "/alexnet-owt-7be5be79.pth");
  EXPECT_EQ(find_backbone_file(Net::Alex, dir), dir + "/alexnet-owt-7be5be79.pth");
  // Another release of the architecture.
  touch(hub + "/squeezenet1_1-f364aa15.pth");
  EXPECT_EQ(find_backbone_file(Net::Squeeze, dir), hub + "/squeezenet1_1-f364aa15.pth");
}

TEST(WeightFiles, MissingBackboneNamesFileAndPlaces) {
  Env env;
  lpipstest::TempDir tmp;
  isolate(env, tmp);
  const std::string msg = error_of([&] { find_backbone_file(Net::Vgg, tmp.file("given")); });
  EXPECT_TRUE(contains_all(msg,
      {"vgg16-397923af.pth", "vgg16.safetensors", tmp.file("given"),
          tmp.file("torch/hub/checkpoints"), "tools/get-lpips-weights"}))
      << msg;
}

TEST(WeightFiles, LinSearchOrder) {
  Env env;
  lpipstest::TempDir tmp;
  isolate(env, tmp);
  const std::string dir = tmp.file("given");
  // An installed lpips package, found through PYTHONPATH.
  env.set("PYTHONPATH", tmp.file("site"));
  touch(tmp.file("site/lpips/weights/v0.1/alex.pth"));
  touch(tmp.file("site/lpips/weights/v0.0/alex.pth"));
  EXPECT_EQ(
      find_lin_file(Net::Alex, Version::V0_1, dir), tmp.file("site/lpips/weights/v0.1/alex.pth"));
  EXPECT_EQ(
      find_lin_file(Net::Alex, Version::V0_0, ""), tmp.file("site/lpips/weights/v0.0/alex.pth"));
  // Where tools/get-lpips-weights puts them.
  touch(tmp.file("torch/hub/checkpoints/lpips/v0.1/alex.pth"));
  EXPECT_EQ(find_lin_file(Net::Alex, Version::V0_1, dir),
      tmp.file("torch/hub/checkpoints/lpips/v0.1/alex.pth"));
  // A bare alex.pth in the given folder is v0.1, not v0.0.
  touch(dir + "/alex.pth");
  EXPECT_EQ(find_lin_file(Net::Alex, Version::V0_1, dir), dir + "/alex.pth");
  EXPECT_EQ(
      find_lin_file(Net::Alex, Version::V0_0, dir), tmp.file("site/lpips/weights/v0.0/alex.pth"));
  touch(dir + "/v0.1/alex.pth");
  EXPECT_EQ(find_lin_file(Net::Alex, Version::V0_1, dir), dir + "/v0.1/alex.pth");
}

TEST(WeightFiles, MissingLinNamesFileAndPlaces) {
  Env env;
  lpipstest::TempDir tmp;
  isolate(env, tmp);
  fs::create_directories(tmp.file("home/.local/lib/python3.11/site-packages"));
  const std::string msg =
      error_of([&] { find_lin_file(Net::Squeeze, Version::V0_1, tmp.file("given")); });
  EXPECT_TRUE(contains_all(msg,
      {"v0.1/squeeze.pth", "squeeze.pth", tmp.file("given"), tmp.file("torch/hub/checkpoints"),
          tmp.file("home/.local/lib/python3.11/site-packages/lpips/weights"), "pip install lpips",
          "tools/get-lpips-weights"}))
      << msg;
}

TEST(WeightFiles, NetAndVersionNames) {
  EXPECT_EQ(parse_net("vgg16"), Net::Vgg);
  EXPECT_TRUE(
      contains_all(error_of([] { parse_net("resnet"); }), {"'resnet'", "alex, vgg or squeeze"}));
  EXPECT_TRUE(contains_all(error_of([] { parse_version("0.2"); }), {"'0.2'", "0.1", "0.0"}));
  EXPECT_STREQ(torchvision_file(Net::Squeeze), "squeezenet1_1-b8a52dc0.pth");
}
