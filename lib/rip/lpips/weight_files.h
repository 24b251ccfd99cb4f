// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Where the weight files are, as users have them (no torch here):
//  * the backbone: torchvision's checkpoint (alexnet-owt-7be5be79.pth, ...)
//    in a given folder, then in torch's hub cache $TORCH_HOME/hub/checkpoints
//    (TORCH_HOME defaults to $XDG_CACHE_HOME/torch, i.e. ~/.cache/torch);
//    <arch>.pth / <arch>.safetensors and other <arch>-*.pth are accepted too;
//  * the lpips linear layers (alex.pth, vgg.pth, squeeze.pth, per version):
//    in a given folder, then in the hub cache (where tools/get-lpips-weights
//    puts them: lpips/v0.1/alex.pth), then in an installed lpips Python
//    package (<site-packages>/lpips/weights/v0.1/alex.pth).
// A missing file gives rip::Error naming it, every folder searched and how to
// get it.
#pragma once

#include <string>
#include <vector>

#include "rip/lpips/nets.h"

namespace rip::lpips {

// $TORCH_HOME/hub/checkpoints, TORCH_HOME defaulting as torch.hub does.
std::string torch_hub_checkpoints_dir();

// Every python3 site-packages/dist-packages folder that exists on this
// machine (system, /usr/local, ~/.local, $VIRTUAL_ENV, $CONDA_PREFIX,
// $PYTHONPATH), without running Python.
std::vector<std::string> python_site_dirs();

// The backbone checkpoint for `net`: searched in `dir` (if not empty), then
// in the hub cache. Throws Error when none is found.
std::string find_backbone_file(Net net, const std::string& dir);

// The lin weights for `net` and `version`: searched in `dir` (if not empty),
// in the hub cache, then in installed lpips packages. Throws Error.
std::string find_lin_file(Net net, Version version, const std::string& dir);

}  // namespace rip::lpips
