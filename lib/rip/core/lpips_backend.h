// SPDX-License-Identifier: LGPL-2.1-or-later
//
// LPIPS for code that must not link libtorch (the rip plugin, rip-core).
//
// The LPIPS maths lives in librip-lpips.so (lib/rip/lpips, built only with
// libtorch). LpipsModel loads it at run time, the first time an LPIPS model
// is asked for, from the first of:
//   1. $RIP_LPIPS_BACKEND (a path to the library; when set, only it is tried)
//   2. the build folder of this gst-rip (so uninstalled builds work)
//   3. the install folder, <prefix>/<libdir>/librip-lpips.so
//   4. the dynamic linker's own search (LD_LIBRARY_PATH, ld.so.conf)
// When none loads, the Error says what was tried, why it failed and what to
// install. The library is never unloaded (libtorch does not support it).
//
// The boundary is a small C ABI (below), so the two sides need not share a
// C++ runtime layout and no exception crosses it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include <opencv2/core.hpp>

extern "C" {

#define RIP_LPIPS_BACKEND_ABI 1

typedef struct RipLpipsModel RipLpipsModel;

// Functions return 0 on success; on failure they return -1 (create: NULL)
// and write a NUL-terminated message (truncated to err_size) into err.
// Images are 8-bit RGB, `stride` bytes from one row to the next.
typedef struct RipLpipsBackendApi {
  uint32_t abi;   // RIP_LPIPS_BACKEND_ABI
  uint32_t size;  // sizeof(RipLpipsBackendApi)
  // net: alex, vgg, squeeze; version: 0.1, 0.0; weights_dir, backbone_file,
  // lin_file: NULL or "" = search (see rip/lpips/weight_files.h).
  RipLpipsModel* (*create)(const char* net, const char* version, const char* weights_dir,
      const char* backbone_file, const char* lin_file, char* err, size_t err_size);
  void (*destroy)(RipLpipsModel* model);
  // Which network and files; valid until destroy.
  const char* (*describe)(RipLpipsModel* model);
  // The image every later distance() is measured against.
  int (*set_reference)(RipLpipsModel* model, const uint8_t* rgb, int width, int height,
      size_t stride, char* err, size_t err_size);
  // LPIPS(reference, rgb); map (may be NULL) receives width*height floats,
  // the spatial distance map (lpips spatial=True).
  int (*distance)(RipLpipsModel* model, const uint8_t* rgb, int width, int height, size_t stride,
      double* distance, float* map, char* err, size_t err_size);
  // 1 when both models use one copy of the network (the same files in one
  // process: create shares it), else 0.
  int (*shares_network)(RipLpipsModel* a, RipLpipsModel* b);
} RipLpipsBackendApi;

// The one symbol librip-lpips.so exports.
const RipLpipsBackendApi* rip_lpips_backend_api(void);
}

namespace rip {

struct LpipsSettings {
  std::string net = "alex";  // alex, vgg, squeeze
  std::string version = "0.1";
  std::string weights_dir;  // empty = the default places only
  std::string backbone_file;
  std::string lin_file;
};

class LpipsModel {
 public:
  // Loads the backend (once per process) and the weights. Throws Error.
  explicit LpipsModel(const LpipsSettings& settings);
  ~LpipsModel();
  LpipsModel(const LpipsModel&) = delete;
  LpipsModel& operator=(const LpipsModel&) = delete;

  std::string description() const;
  // rgb: CV_8UC3 RGB.
  void set_reference(const cv::Mat& rgb);
  // LPIPS to the reference (same size). map: if not null, set to the
  // CV_32FC1 spatial distance map of the image's size.
  double distance(const cv::Mat& rgb, cv::Mat* map = nullptr);
  // True when both use one copy of the network's weights: models of the
  // same net and files in one process share it (each keeps its reference).
  bool shares_network_with(const LpipsModel& other) const;

 private:
  const RipLpipsBackendApi* api_;
  RipLpipsModel* model_;
};

// The library file LpipsModel loaded (empty before the first load), and a
// check that loads it without a model (throws the same Error).
std::string lpips_backend_path();
void load_lpips_backend();

// An LPIPS map as an image file: .tif/.tiff get the raw float32 values; other
// extensions (PNG...) a colour heat map, 0 (black) to `max` and above
// (yellow-white), OpenCV's inferno colour map. Throws Error.
void write_lpips_map(const std::string& path, const cv::Mat& map, double max);

// Fills a printf-style frame pattern such as "map-%05d.png" (exactly one
// %d, %Nd or %0Nd; %% for a literal %). Throws Error for other patterns.
std::string format_frame_path(const std::string& pattern, uint64_t index);

}  // namespace rip
