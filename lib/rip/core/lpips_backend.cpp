// SPDX-License-Identifier: LGPL-2.1-or-later
#include "rip/core/lpips_backend.h"

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <vector>

#include <dlfcn.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "rip/error.h"

// Set by lib/rip/meson.build.
#ifndef RIP_LPIPS_BACKEND_BUILD_PATH
#define RIP_LPIPS_BACKEND_BUILD_PATH ""
#endif
#ifndef RIP_LPIPS_BACKEND_INSTALL_PATH
#define RIP_LPIPS_BACKEND_INSTALL_PATH ""
#endif
#ifndef RIP_LPIPS_BACKEND_BUILT
#define RIP_LPIPS_BACKEND_BUILT 0
#endif

namespace rip {

namespace {

constexpr const char* kLibrary = "librip-lpips.so";

std::mutex backend_mutex;
const RipLpipsBackendApi* backend_api = nullptr;
std::string backend_file;

const RipLpipsBackendApi* try_open(const std::string& path, std::string& why) {
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* e = dlerror();
    why = e ? e : "cannot be loaded";
    return nullptr;
  }
  using Entry = const RipLpipsBackendApi* (*) ();
  auto entry = reinterpret_cast<Entry>(dlsym(handle, "rip_lpips_backend_api"));
  const RipLpipsBackendApi* api = entry ? entry() : nullptr;
  if (!api || api->abi != RIP_LPIPS_BACKEND_ABI || api->size < sizeof(RipLpipsBackendApi)) {
    why =
        "not a gst-rip LPIPS backend of this version (rebuild and "
        "reinstall gst-rip)";
    dlclose(handle);
    return nullptr;
  }
  // Kept loaded for the life of the process: libtorch cannot be unloaded.
  return api;
}

const RipLpipsBackendApi* backend() {
  std::lock_guard<std::mutex> lock(backend_mutex);
  if (backend_api) return backend_api;
  std::vector<std::pair<std::string, std::string>> tried;  // where, why
  std::vector<std::string> candidates;
  const char* env = std::getenv("RIP_LPIPS_BACKEND");
  if (env && *env) {
    candidates.push_back(env);
  } else {
    for (const char* p : {RIP_LPIPS_BACKEND_BUILD_PATH, RIP_LPIPS_BACKEND_INSTALL_PATH})
      if (*p) candidates.push_back(p);
    candidates.push_back(kLibrary);  // the dynamic linker's search
  }
  for (const auto& path : candidates) {
    std::error_code ec;
    if (path.find('/') != std::string::npos && !std::filesystem::exists(path, ec)) {
      tried.emplace_back(path, "no such file");
      continue;
    }
    std::string why;
    if (const RipLpipsBackendApi* api = try_open(path, why)) {
      backend_api = api;
      backend_file = path;
      return api;
    }
    tried.emplace_back(path, why);
  }
  std::string msg = "the LPIPS metrics need gst-rip's LPIPS backend (" + std::string(kLibrary) +
      ", built with libtorch), which could not be "
      "loaded:";
  for (const auto& [where, why] : tried) msg += " " + where + ": " + why + ";";
  if (env && *env)
    msg +=
        " (RIP_LPIPS_BACKEND is set, so only it was tried: unset it or "
        "fix the path)";
  else if (!RIP_LPIPS_BACKEND_BUILT)
    msg +=
        " this gst-rip was built without libtorch: install it (Debian: "
        "apt install libtorch-dev nlohmann-json3-dev), reconfigure with "
        "meson setup -Dtorch=enabled, rebuild and meson install";
  else
    msg +=
        " run meson install (or build the rip-lpips target), or point "
        "RIP_LPIPS_BACKEND at librip-lpips.so";
  throw Error(msg);
}

void check(int rc, const char* err) {
  if (rc != 0) throw Error(err);
}

void check_rgb(const cv::Mat& rgb) {
  if (rgb.empty() || rgb.type() != CV_8UC3) throw Error("LPIPS measures 8-bit RGB images");
}

}  // namespace

std::string lpips_backend_path() {
  std::lock_guard<std::mutex> lock(backend_mutex);
  return backend_file;
}

void load_lpips_backend() {
  backend();
}

LpipsModel::LpipsModel(const LpipsSettings& s) : api_(backend()), model_(nullptr) {
  char err[4096] = "";
  model_ = api_->create(s.net.c_str(), s.version.c_str(), s.weights_dir.c_str(),
      s.backbone_file.c_str(), s.lin_file.c_str(), err, sizeof err);
  if (!model_) throw Error(err[0] ? err : "the LPIPS backend failed to load a model");
}

LpipsModel::~LpipsModel() {
  if (model_) api_->destroy(model_);
}

bool LpipsModel::shares_network_with(const LpipsModel& other) const {
  return api_->shares_network(model_, other.model_) != 0;
}

std::string LpipsModel::description() const {
  return api_->describe(model_);
}

void LpipsModel::set_reference(const cv::Mat& rgb) {
  check_rgb(rgb);
  char err[4096] = "";
  check(api_->set_reference(model_, rgb.data, rgb.cols, rgb.rows, rgb.step, err, sizeof err), err);
}

double LpipsModel::distance(const cv::Mat& rgb, cv::Mat* map) {
  check_rgb(rgb);
  char err[4096] = "";
  double d = 0;
  float* out = nullptr;
  if (map) {
    map->create(rgb.rows, rgb.cols, CV_32FC1);
    out = map->ptr<float>();
  }
  check(api_->distance(model_, rgb.data, rgb.cols, rgb.rows, rgb.step, &d, out, err, sizeof err),
      err);
  return d;
}

void write_lpips_map(const std::string& path, const cv::Mat& map, double max) {
  if (map.empty() || map.type() != CV_32FC1)
    throw Error("an LPIPS map is a single-channel float image");
  if (!(max > 0)) throw Error("the LPIPS map scale must be above 0");
  const std::string ext = std::filesystem::path(path).extension().string();
  bool ok;
  try {
    if (ext == ".tif" || ext == ".tiff") {
      ok = cv::imwrite(path, map);
    } else {
      cv::Mat grey, colour;
      map.convertTo(grey, CV_8U, 255.0 / max);  // saturates at max
      cv::applyColorMap(grey, colour, cv::COLORMAP_INFERNO);
      ok = cv::imwrite(path, colour);
    }
  } catch (const cv::Exception& e) {
    throw Error("cannot write the LPIPS map " + path + ": " + e.what());
  }
  if (!ok)
    throw Error("cannot write the LPIPS map " + path +
        ": check that the "
        "folder exists and is writable and the extension is an image "
        "format (png, jpg, tif)");
}

std::string format_frame_path(const std::string& pattern, uint64_t index) {
  std::string out;
  int conversions = 0;
  for (size_t k = 0; k < pattern.size(); k++) {
    if (pattern[k] != '%') {
      out += pattern[k];
      continue;
    }
    if (k + 1 < pattern.size() && pattern[k + 1] == '%') {
      out += '%';
      k++;
      continue;
    }
    size_t j = k + 1;
    const bool zero = j < pattern.size() && pattern[j] == '0';
    size_t width_start = j;
    while (j < pattern.size() && isdigit(static_cast<unsigned char>(pattern[j]))) j++;
    if (j >= pattern.size() || pattern[j] != 'd' || j - width_start > 2)
      throw Error("the file pattern '" + pattern +
          "' must hold one %d (or "
          "%05d...) for the frame number, and %% for a literal %");
    const int width =
        j > width_start ? std::atoi(pattern.substr(width_start, j - width_start).c_str()) : 0;
    std::string digits = std::to_string(index);
    if (int(digits.size()) < width)
      digits.insert(0, size_t(width) - digits.size(), zero ? '0' : ' ');
    out += digits;
    conversions++;
    k = j;
  }
  if (conversions != 1)
    throw Error("the file pattern '" + pattern +
        "' must hold exactly one "
        "%d (or %05d...) for the frame number, e.g. map-%05d.png");
  return out;
}

}  // namespace rip
