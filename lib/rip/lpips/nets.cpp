// SPDX-License-Identifier: LGPL-2.1-or-later
#include "rip/lpips/nets.h"

#include "rip/error.h"

namespace rip::lpips {

Net parse_net(const std::string& name) {
  if (name == "alex") return Net::Alex;
  if (name == "vgg" || name == "vgg16") return Net::Vgg;
  if (name == "squeeze") return Net::Squeeze;
  throw Error("unknown LPIPS network '" + name +
      "': use alex, vgg or "
      "squeeze");
}

const char* net_name(Net net) {
  switch (net) {
    case Net::Alex: return "alex";
    case Net::Vgg: return "vgg";
    case Net::Squeeze: return "squeeze";
  }
  return "?";
}

Version parse_version(const std::string& name) {
  if (name == "0.1") return Version::V0_1;
  if (name == "0.0") return Version::V0_0;
  throw Error("unknown LPIPS version '" + name +
      "': use 0.1 (the default "
      "of the lpips package) or 0.0 (the original release)");
}

const char* version_name(Version version) {
  return version == Version::V0_0 ? "0.0" : "0.1";
}

const char* torchvision_arch(Net net) {
  switch (net) {
    case Net::Alex: return "alexnet";
    case Net::Vgg: return "vgg16";
    case Net::Squeeze: return "squeezenet1_1";
  }
  return "?";
}

const char* torchvision_file(Net net) {
  switch (net) {
    case Net::Alex: return "alexnet-owt-7be5be79.pth";
    case Net::Vgg: return "vgg16-397923af.pth";
    case Net::Squeeze: return "squeezenet1_1-b8a52dc0.pth";
  }
  return "?";
}

const std::vector<int>& tap_channels(Net net) {
  static const std::vector<int> alex = {64, 192, 384, 256, 256};
  static const std::vector<int> vgg = {64, 128, 256, 512, 512};
  static const std::vector<int> squeeze = {64, 128, 256, 384, 384, 512, 512};
  switch (net) {
    case Net::Alex: return alex;
    case Net::Vgg: return vgg;
    case Net::Squeeze: return squeeze;
  }
  return alex;
}

int min_input_size(Net net) {
  // Checked with torchvision: one pixel less leaves a pooled map empty.
  switch (net) {
    case Net::Alex: return 31;
    case Net::Vgg: return 16;
    case Net::Squeeze: return 17;
  }
  return 1;
}

}  // namespace rip::lpips
