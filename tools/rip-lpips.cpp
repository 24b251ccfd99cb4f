// SPDX-License-Identifier: LGPL-2.1-or-later
//
// rip-lpips: the LPIPS distance between two images, as the lpips package's
// lpips_2imgs.py prints it, or between the pairs listed in a file.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "rip/error.h"
#include "rip/io/image.h"
#include "rip/lpips/image.h"
#include "rip/lpips/lpips.h"
#include "rip/core/memory.h"
#include "rip/core/lpips_backend.h"

namespace {

const char* kUsage =
    "usage: rip-lpips IMG0 IMG1 [options]\n"
    "       rip-lpips --list PAIRS [options]\n"
    "\n"
    "Prints the LPIPS distance between two images as lpips_2imgs.py does\n"
    "(\"Distance: 0.123\"), computed as lpips.LPIPS(net, version) computes it.\n"
    "Images are read as lpips.load_image reads them (OpenCV, 8-bit RGB) and\n"
    "mapped to [-1,1]; both must have the same size.\n"
    "\n"
    "options:\n"
    "  --net alex|vgg|squeeze  backbone (default alex, as lpips_2imgs.py)\n"
    "  --version 0.1|0.0       LPIPS version (default 0.1)\n"
    "  --weights DIR           folder searched first for the weight files\n"
    "                          (then torch's hub cache and an installed lpips\n"
    "                          package; tools/get-lpips-weights fetches them)\n"
    "  --backbone FILE         torchvision checkpoint to use (no search)\n"
    "  --lin FILE              lpips linear weights to use (no search)\n"
    "  --map OUT               write the spatial distance map: a heat map\n"
    "                          (PNG...) or raw float32 (.tif); with --list,\n"
    "                          a pattern with one %d (the pair's number)\n"
    "  --map-max X             map value of the brightest colour (default 1)\n"
    "  --digits N              decimals printed (default 3, as lpips_2imgs.py)\n"
    "  --threads N             CPU threads (default: libtorch's choice)\n"
    "  --list PAIRS            one pair per line: IMG0<TAB>IMG1 (or two\n"
    "                          space-separated paths); prints\n"
    "                          IMG0<TAB>IMG1<TAB>distance per line\n"
    "  -v, --verbose           print the weight files used (stderr)\n";

struct Options {
  std::vector<std::string> images;
  std::string list;
  rip::lpips::LoadOptions load;
  std::string map;
  double map_max = 1.0;
  int digits = 3;
  int threads = 0;
  bool verbose = false;
};

[[noreturn]] void usage_error(const std::string& msg) {
  std::fprintf(stderr, "rip-lpips: %s\n\n%s", msg.c_str(), kUsage);
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; i++) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage_error(a + " needs a value");
      return argv[++i];
    };
    auto number = [&](double lo) {
      const std::string v = value();
      char* end = nullptr;
      const double d = std::strtod(v.c_str(), &end);
      if (v.empty() || *end || !(d >= lo))
        usage_error(a + " needs a number of at least " + std::to_string(lo) + ", got '" + v + "'");
      return d;
    };
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else if (a == "--net") {
      o.load.net = rip::lpips::parse_net(value());
    } else if (a == "--version") {
      o.load.version = rip::lpips::parse_version(value());
    } else if (a == "--weights") {
      o.load.weights_dir = value();
    } else if (a == "--backbone") {
      o.load.backbone_file = value();
    } else if (a == "--lin") {
      o.load.lin_file = value();
    } else if (a == "--map") {
      o.map = value();
    } else if (a == "--map-max") {
      o.map_max = number(1e-9);
    } else if (a == "--digits") {
      o.digits = int(number(0));
      if (o.digits > 17) usage_error("--digits takes 0 to 17");
    } else if (a == "--threads") {
      o.threads = int(number(1));
    } else if (a == "--list") {
      o.list = value();
    } else if (a == "-v" || a == "--verbose") {
      o.verbose = true;
    } else if (!a.empty() && a[0] == '-') {
      usage_error("unknown option " + a);
    } else {
      o.images.push_back(a);
    }
  }
  if (o.list.empty() && o.images.size() != 2) usage_error("give two images, or --list PAIRS");
  if (!o.list.empty() && !o.images.empty())
    usage_error("give either two images or --list, not both");
  return o;
}

// One pair of a list file: tab-separated, else two whitespace-separated
// fields.
bool split_pair(const std::string& line, std::string& a, std::string& b) {
  const auto tab = line.find('\t');
  if (tab != std::string::npos) {
    a = line.substr(0, tab);
    b = line.substr(tab + 1);
    return !a.empty() && !b.empty() && b.find('\t') == std::string::npos;
  }
  std::istringstream ss(line);
  std::string extra;
  return bool(ss >> a >> b) && !(ss >> extra);
}

std::string format(double d, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, d);
  return buf;
}

int run(const Options& o) {
  if (o.threads > 0) at::set_num_threads(o.threads);
  rip::keep_freed_memory();  // list mode: no page faults per pair
  // Two images: read them first, so a wrong name fails before the weights load.
  at::Tensor x0, x1;
  if (o.list.empty()) {
    x0 = rip::lpips::image_to_tensor(rip::io::load_rgb_image(o.images[0]));
    x1 = rip::lpips::image_to_tensor(rip::io::load_rgb_image(o.images[1]));
  }
  const rip::lpips::Lpips model = rip::lpips::Lpips::load(o.load);
  if (o.verbose) std::fprintf(stderr, "rip-lpips: %s\n", model.description().c_str());
  rip::lpips::ForwardOptions fo;
  fo.spatial = !o.map.empty();

  if (o.list.empty()) {
    if (x0.sizes() != x1.sizes())
      throw rip::Error("the images differ in size (" + o.images[0] + ": " +
          std::to_string(x0.size(3)) + "x" + std::to_string(x0.size(2)) + ", " + o.images[1] +
          ": " + std::to_string(x1.size(3)) + "x" + std::to_string(x1.size(2)) +
          "); LPIPS compares images of one "
          "size");
    rip::lpips::LpipsResult r = model.forward(x0, x1, fo);
    std::printf("Distance: %s\n", format(r.distance.item<double>(), o.digits).c_str());
    if (fo.spatial) rip::write_lpips_map(o.map, rip::lpips::map_to_mat(r.spatial), o.map_max);
    return 0;
  }

  std::ifstream in(o.list);
  if (!in) throw rip::Error("cannot read the pair list " + o.list);
  if (!o.map.empty()) rip::format_frame_path(o.map, 0);  // checks the pattern up front
  int failed = 0;
  uint64_t index = 0;
  std::string cached_path;
  rip::lpips::LpipsFeatures cached;  // a reference listed on many lines
  std::string line;
  for (int number = 1; std::getline(in, line); number++) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos || line[0] == '#') continue;
    std::string a, b;
    if (!split_pair(line, a, b)) {
      std::fprintf(stderr, "rip-lpips: %s:%d: expected IMG0<TAB>IMG1\n", o.list.c_str(), number);
      failed++;
      continue;
    }
    try {
      if (a != cached_path) {
        cached_path.clear();
        cached = model.features(rip::lpips::image_to_tensor(rip::io::load_rgb_image(a)), fo);
        cached_path = a;
      }
      const auto f1 = model.features(rip::lpips::image_to_tensor(rip::io::load_rgb_image(b)), fo);
      if (f1.width != cached.width || f1.height != cached.height)
        throw rip::Error("the images differ in size");
      rip::lpips::LpipsResult r = model.compare(cached, f1, fo);
      std::printf("%s\t%s\t%s\n", a.c_str(), b.c_str(),
          format(r.distance.item<double>(), o.digits).c_str());
      std::fflush(stdout);
      if (fo.spatial)
        rip::write_lpips_map(
            rip::format_frame_path(o.map, index), rip::lpips::map_to_mat(r.spatial), o.map_max);
    } catch (const rip::Error& e) {
      std::fprintf(stderr, "rip-lpips: %s:%d: %s\n", o.list.c_str(), number, e.what());
      failed++;
    }
    index++;
  }
  return failed ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse(argc, argv));
  } catch (const rip::Error& e) {
    std::fprintf(stderr, "rip-lpips: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rip-lpips: unexpected error: %s\n", e.what());
    return 1;
  }
}
