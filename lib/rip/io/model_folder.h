// SPDX-License-Identifier: LGPL-2.1-or-later
//
// The weight files of one component of a diffusers model folder (unet/,
// vae/, text_encoder/): plain, variant (fp16...) and sharded checkpoints, as
// diffusers and transformers name them. Torch-free: the files found are read
// with rip::io::TensorFile.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace rip::io {

// Which file(s) of a component to read, as diffusers' `variant` does
// (base: diffusion_pytorch_model for unet/vae, model for text_encoder):
//  * a variant's files are, in diffusers' order of preference, the shard
//    index "<base>.safetensors.index.<v>.json" (or the legacy
//    "<base>.safetensors.<v>.index.json"), whose weight_map names the shards,
//    then the single file "<base>.<v>.safetensors"; the plain files ("" variant)
//    are "<base>.safetensors.index.json", then "<base>.safetensors".
//  * without safetensors files, the PyTorch pickles of folders saved before
//    safetensors, named the same way with "bin" for "safetensors"
//    ("<base>.bin", "<base>.<v>.bin", "<base>.bin.index.json" ...); the
//    text encoder's pickle base is "pytorch_model" (transformers' name).
//    TensorFile reads them without running anything from the file.
//  * variant "v": v's files; when the folder has none, the plain files (what
//    DiffusionPipeline.from_pretrained(variant=v) does for a component
//    without that variant).
//  * variant "": the plain files; when there are none, the fp16 files (a
//    convenience: diffusers would refuse; the weights are the same).
// files: the shard paths in file-name order (one path for a single file).
// Throws rip::Error naming the folder and the names looked for, and saying
// what is there instead: other weight files (another variant's), a shard the
// index lists but that is missing.
struct WeightFiles {
  std::vector<std::filesystem::path> files;
  std::filesystem::path index;                    // empty when not sharded
  std::map<std::string, std::string> weight_map;  // tensor -> shard file name
};
WeightFiles find_weight_files(const std::filesystem::path& component_dir, const std::string& base,
    const std::string& variant);

}  // namespace rip::io
