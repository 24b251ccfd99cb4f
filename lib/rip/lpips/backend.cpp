// SPDX-License-Identifier: LGPL-2.1-or-later
//
// librip-lpips.so: the C ABI of rip/lpips_backend.h over rip::lpips::Lpips,
// loaded at run time by code that does not link libtorch (lpipsmeter).
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <ATen/ATen.h>
#include <opencv2/core.hpp>

#include "rip/error.h"
#include "rip/lpips/image.h"
#include "rip/lpips/lpips.h"
#include "rip/lpips/weight_files.h"
#include "rip/core/memory.h"
#include "rip/core/lpips_backend.h"

using rip::lpips::Lpips;

// One meter's view of a network: the network is shared by every model of
// the process that reads the same files; the reference is its own.
struct RipLpipsModel {
  explicit RipLpipsModel(std::shared_ptr<const Lpips> m)
      : model(std::move(m)), description(model->description()) {}
  std::shared_ptr<const Lpips> model;
  std::string description;
  rip::lpips::LpipsFeatures reference;
};

namespace {

// One Lpips per (net, version, backbone file, lin file) in the process, as
// sdinpaint shares its models: a study's loops read each weight file once.
// Kept for the life of the process (3 to 60 MB a network), so loops that
// run one after another do not load it again either. Lpips is immutable
// after loading and its forward is const, so meters in several streaming
// threads use it at once.
std::shared_ptr<const Lpips> shared_lpips(rip::lpips::LoadOptions o) {
  namespace fs = std::filesystem;
  if (o.backbone_file.empty())
    o.backbone_file = rip::lpips::find_backbone_file(o.net, o.weights_dir);
  if (o.lin_file.empty()) o.lin_file = rip::lpips::find_lin_file(o.net, o.version, o.weights_dir);
  auto canonical = [](const std::string& p) {
    std::error_code ec;
    const fs::path c = fs::weakly_canonical(p, ec);
    return ec ? p : c.string();
  };
  const std::string key = std::to_string(int(o.net)) + "|" + std::to_string(int(o.version)) + "|" +
      canonical(o.backbone_file) + "|" + canonical(o.lin_file);
  static std::mutex mutex;
  // Never destroyed: libtorch's own statics may be gone at exit.
  static auto* registry = new std::map<std::string, std::shared_ptr<const Lpips>>();
  std::lock_guard<std::mutex> guard(mutex);
  if (auto existing = (*registry)[key]) return existing;
  auto model = std::make_shared<const Lpips>(Lpips::load(o));
  (*registry)[key] = model;
  return model;
}

void set_error(char* err, size_t size, const char* msg) {
  if (err && size) std::snprintf(err, size, "%s", msg);
}

// Runs f, turning any exception into a message; 0 on success.
template <typename F>
int guarded(char* err, size_t size, F&& f) {
  try {
    f();
    return 0;
  } catch (const std::exception& e) {
    set_error(err, size, e.what());
  } catch (...) {
    set_error(err, size, "unknown error in the LPIPS backend");
  }
  return -1;
}

at::Tensor image(const uint8_t* rgb, int width, int height, size_t stride) {
  if (!rgb || width <= 0 || height <= 0 || stride < size_t(width) * 3)
    throw rip::Error("LPIPS got an empty or malformed image");
  const cv::Mat m(height, width, CV_8UC3, const_cast<uint8_t*>(rgb), stride);
  return rip::lpips::image_to_tensor(m);
}

RipLpipsModel* create(const char* net, const char* version, const char* weights_dir,
    const char* backbone_file, const char* lin_file, char* err, size_t err_size) {
  RipLpipsModel* out = nullptr;
  auto str = [](const char* s) { return std::string(s ? s : ""); };
  guarded(err, err_size, [&] {
    // Per-frame activations stay in the heap (see lpips.h).
    rip::keep_freed_memory();
    rip::lpips::LoadOptions o;
    o.net = rip::lpips::parse_net(str(net));
    o.version = rip::lpips::parse_version(str(version).empty() ? "0.1" : str(version));
    o.weights_dir = str(weights_dir);
    o.backbone_file = str(backbone_file);
    o.lin_file = str(lin_file);
    out = new RipLpipsModel(shared_lpips(o));
  });
  return out;
}

void destroy(RipLpipsModel* model) {
  delete model;
}

const char* describe(RipLpipsModel* model) {
  return model->description.c_str();
}

int set_reference(RipLpipsModel* model, const uint8_t* rgb, int width, int height, size_t stride,
    char* err, size_t err_size) {
  return guarded(err, err_size,
      [&] { model->reference = model->model->features(image(rgb, width, height, stride)); });
}

int distance(RipLpipsModel* model, const uint8_t* rgb, int width, int height, size_t stride,
    double* out, float* map, char* err, size_t err_size) {
  return guarded(err, err_size, [&] {
    if (model->reference.taps.empty()) throw rip::Error("LPIPS has no reference image yet");
    if (model->reference.width != width || model->reference.height != height)
      throw rip::Error("LPIPS compares images of the reference's size (" +
          std::to_string(model->reference.width) + "x" + std::to_string(model->reference.height) +
          "), got " + std::to_string(width) + "x" + std::to_string(height));
    rip::lpips::ForwardOptions o;
    o.spatial = map != nullptr;
    auto f = model->model->features(image(rgb, width, height, stride), o);
    auto r = model->model->compare(model->reference, f, o);
    *out = r.distance.item<double>();
    if (map) {
      at::Tensor m = r.spatial.contiguous();
      std::memcpy(map, m.data_ptr<float>(), size_t(width) * height * sizeof(float));
    }
  });
}

int shares_network(RipLpipsModel* a, RipLpipsModel* b) {
  return a && b && a->model == b->model;
}

const RipLpipsBackendApi api = {RIP_LPIPS_BACKEND_ABI, sizeof(RipLpipsBackendApi), create, destroy,
    describe, set_reference, distance, shares_network};

}  // namespace

extern "C" __attribute__((visibility("default"))) const RipLpipsBackendApi* rip_lpips_backend_api(
    void) {
  return &api;
}
