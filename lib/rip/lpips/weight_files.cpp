// SPDX-License-Identifier: LGPL-2.1-or-later
#include "rip/lpips/weight_files.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "rip/error.h"

namespace fs = std::filesystem;

namespace rip::lpips {

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

bool is_dir(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}

// The first candidate that exists in the first folder that has one.
std::string first_existing(
    const std::vector<std::string>& dirs, const std::vector<std::string>& names) {
  for (const auto& d : dirs)
    for (const auto& n : names)
      if (is_file(fs::path(d) / n)) return (fs::path(d) / n).string();
  return "";
}

std::string join(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : sep) + s;
  return out;
}

}  // namespace

std::string torch_hub_checkpoints_dir() {
  std::string torch_home = env("TORCH_HOME");
  if (torch_home.empty()) {
    std::string cache = env("XDG_CACHE_HOME");
    if (cache.empty()) cache = env("HOME") + "/.cache";
    torch_home = cache + "/torch";
  }
  return torch_home + "/hub/checkpoints";
}

std::vector<std::string> python_site_dirs() {
  std::vector<std::string> roots;
  std::vector<std::string> out;
  auto add = [&](const fs::path& p) {
    if (is_dir(p) && std::find(out.begin(), out.end(), p.string()) == out.end())
      out.push_back(p.string());
  };
  std::stringstream pythonpath(env("PYTHONPATH"));
  for (std::string item; std::getline(pythonpath, item, ':');)
    if (!item.empty()) add(item);
  // <prefix>/lib/python3.X/{site,dist}-packages for every python3.X there.
  std::vector<std::string> prefixes = {
      env("VIRTUAL_ENV"), env("CONDA_PREFIX"), env("HOME") + "/.local", "/usr/local", "/usr"};
  for (const auto& prefix : prefixes) {
    if (prefix.empty() || !is_dir(fs::path(prefix) / "lib")) continue;
    std::vector<std::string> versions;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(fs::path(prefix) / "lib", ec)) {
      const std::string name = e.path().filename().string();
      if (name.rfind("python3", 0) == 0) versions.push_back(name);
    }
    std::sort(versions.begin(), versions.end());
    for (const auto& v : versions) {
      add(fs::path(prefix) / "lib" / v / "site-packages");
      add(fs::path(prefix) / "lib" / v / "dist-packages");
    }
  }
  add("/usr/lib/python3/dist-packages");  // Debian's python3-* packages
  return out;
}

std::string find_backbone_file(Net net, const std::string& dir) {
  const std::string arch = torchvision_arch(net);
  std::vector<std::string> dirs;
  if (!dir.empty()) dirs.push_back(dir);
  dirs.push_back(torch_hub_checkpoints_dir());
  std::vector<std::string> names = {torchvision_file(net), arch + ".pth", arch + ".safetensors"};
  std::string found = first_existing(dirs, names);
  if (!found.empty()) return found;
  // Another release of the same architecture, e.g. alexnet-owt-4df8aa71.pth.
  for (const auto& d : dirs) {
    std::vector<std::string> others;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(d, ec)) {
      const std::string name = e.path().filename().string();
      if (name.rfind(arch + "-", 0) == 0 && name.size() > 4 &&
          name.compare(name.size() - 4, 4, ".pth") == 0 && is_file(e.path()))
        others.push_back(e.path().string());
    }
    if (!others.empty()) {
      std::sort(others.begin(), others.end());
      return others.front();
    }
  }
  throw Error("the " + std::string(net_name(net)) + " backbone weights (" + torchvision_file(net) +
      ", torchvision's ImageNet " + arch +
      ") were "
      "not found: looked for " +
      join(names, ", ") + " and " + arch + "-*.pth in " + join(dirs, ", ") +
      ". Run tools/get-lpips-weights to "
      "download them into " +
      torch_hub_checkpoints_dir() +
      ", or give the folder that holds it: lpipsmeter weights=DIR, rip-study's "
      "lpips_weights, rip-lpips --weights DIR (or --backbone FILE)");
}

std::string find_lin_file(Net net, Version version, const std::string& dir) {
  const std::string n = net_name(net);
  const std::string v = std::string("v") + version_name(version);
  std::vector<std::string> names = {v + "/" + n + ".pth", v + "/" + n + ".safetensors",
      "lpips/" + v + "/" + n + ".pth", "lpips/" + v + "/" + n + ".safetensors",
      "lin_" + v + "_" + n + ".safetensors", "lin_" + v + "_" + n + ".pth"};
  // A bare alex.pth is the current (v0.1) file, as lpips ships it.
  if (version == Version::V0_1) {
    names.push_back(n + ".pth");
    names.push_back(n + ".safetensors");
  }
  std::vector<std::string> dirs;
  if (!dir.empty()) dirs.push_back(dir);
  dirs.push_back(torch_hub_checkpoints_dir());
  std::vector<std::string> package_dirs;
  for (const auto& site : python_site_dirs()) package_dirs.push_back(site + "/lpips/weights");
  dirs.insert(dirs.end(), package_dirs.begin(), package_dirs.end());
  std::string found = first_existing(dirs, names);
  if (!found.empty()) return found;
  throw Error("the LPIPS " + v + " linear weights for " + n + " (" + n +
      ".pth) were not found: looked for " + join(names, ", ") + " in " + join(dirs, ", ") +
      ". Run tools/get-lpips-weights to download them, "
      "install the lpips Python package (pip install lpips), or give the "
      "folder that holds it: lpipsmeter weights=DIR, rip-study's lpips_weights, "
      "rip-lpips --weights DIR (or --lin FILE)");
}

}  // namespace rip::lpips
