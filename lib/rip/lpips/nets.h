// SPDX-License-Identifier: LGPL-2.1-or-later
//
// The LPIPS variants (backbone x version) and the files their weights come
// in, as lpips 0.1.4 and torchvision name them. No torch here.
#pragma once

#include <string>
#include <vector>

namespace rip::lpips {

enum class Net { Alex, Vgg, Squeeze };
enum class Version { V0_0, V0_1 };

// "alex", "vgg" (or "vgg16", as lpips accepts), "squeeze"; throws Error
// listing the names.
Net parse_net(const std::string& name);
const char* net_name(Net net);  // "alex", "vgg", "squeeze"
// "0.1" (default of lpips) or "0.0"; throws Error.
Version parse_version(const std::string& name);
const char* version_name(Version version);

// torchvision: the architecture (also the prefix of its file names) and the
// checkpoint torchvision downloads for pretrained=True (IMAGENET1K_V1).
const char* torchvision_arch(Net net);  // "alexnet", "vgg16", "squeezenet1_1"
const char* torchvision_file(Net net);  // "alexnet-owt-7be5be79.pth", ...

// Channels of the tapped layers (one lin layer each).
const std::vector<int>& tap_channels(Net net);
// Smallest height and width the backbone accepts (smaller ones leave an
// empty feature map).
int min_input_size(Net net);

}  // namespace rip::lpips
