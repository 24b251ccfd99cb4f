// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Stable Diffusion inpainting exactly as diffusers' StableDiffusionInpaintPipeline
// runs it (v0.31), on a diffusers model folder. This header is torch-free
// (the GStreamer element and the CLI include it); the maths is in the .cpp.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include <opencv2/core.hpp>

namespace rip::sd {

struct InpaintSettings {
  std::string prompt;           // "" = the study's empty prompt
  std::string negative_prompt;  // "" = diffusers' default (None -> "")
  int steps = 50;               // num_inference_steps
  double guidance_scale = 7.5;  // classifier-free guidance when > 1
  double strength = 1.0;        // 1.0 = start from pure noise
  uint64_t seed = 0;            // torch.Generator().manual_seed(seed)
  std::string scheduler;        // "" = the model's scheduler_config.json
  double eta = 0.0;             // DDIM only
  bool paste_back = true;       // keep every unmasked pixel of the input
  // The most loops (this one included) whose UNet calls (and, off the CPU,
  // VAE calls) may run as one batch when they share the model; 1 = this
  // loop's calls run alone. The image is the same either way on the CPU
  // (docs/models.md: batching across loops).
  int max_batch = 1;
  // Asked before every model call; true stops the inpaint there with
  // InpaintCancelled (the element's way out of a 50-step inpaint when the
  // pipeline goes down or flushes). Empty: never.
  std::function<bool()> cancelled;
};

// The inpaint stopped because settings.cancelled said so: not a failure.
class InpaintCancelled : public std::exception {
 public:
  const char* what() const noexcept override { return "the inpaint was cancelled"; }
};

struct PipelineOptions {
  // A diffusers folder (model_index.json), or a single-file original
  // checkpoint (.safetensors, .ckpt: rip/sd/single_file.h).
  std::filesystem::path model_dir;
  // For a single file: a diffusers folder of the same architecture whose
  // config.json files, tokenizer/ and scheduler/ are used instead of the
  // ones inferred (diffusers' from_single_file(config=...)). "" = infer.
  std::filesystem::path config_dir;
  // For a single file, which has no tokenizer: a folder with vocab.json and
  // merges.txt, or a diffusers folder with tokenizer/. "" = config_dir's.
  std::filesystem::path tokenizer_dir;
  // What the UNet predicts, for a model whose files cannot tell (a single
  // file, a folder with a wrong scheduler_config.json): "epsilon",
  // "v_prediction" or "sample"; "" = the scheduler config's.
  std::string prediction_type;
  std::string device = "cpu";  // "cpu", "cuda", "cuda:N"
  std::string dtype = "fp32";  // "fp32", "fp16", "bf16"
  // Weight file variant: "auto" reads "<name>.fp16.safetensors" for fp16/bf16
  // when present (smaller), else the plain file; "" or "fp16" force one.
  std::string variant = "auto";
};

// Called after each denoising step: (step done, steps in total).
using ProgressFn = std::function<void(int, int)>;

class InpaintPipeline {
 public:
  // Loads (or shares: same folder, device, dtype and variant in one process
  // give one copy of the weights) the model. Throws rip::Error naming the
  // file or setting that is wrong.
  static std::shared_ptr<InpaintPipeline> load(const PipelineOptions& options);
  ~InpaintPipeline();

  // image: 8-bit RGB (CV_8UC3), mask: 8-bit (CV_8UC1; >= 128 = repaint, as
  // diffusers binarises at 0.5), same size, both multiples of 8. Returns the
  // RGB result of the same size: diffusers' image, with the unmasked pixels
  // of `image` pasted back when settings.paste_back. Thread-safe: the model
  // calls of pipelines sharing one model run one at a time, or as one batch
  // (settings.max_batch).
  cv::Mat inpaint(const cv::Mat& image, const cv::Mat& mask, const InpaintSettings& settings,
      const ProgressFn& progress = {});

  // The UNet's default output size (unet sample_size * 8), as diffusers uses
  // when height/width are not given.
  int default_size() const;
  const PipelineOptions& options() const;
  std::string scheduler_name() const;  // the model's own
  // How many batches of each size (loops) the model's calls ran in, per
  // call ("unet", "vae-encode", "vae-decode"), over every pipeline sharing
  // this model: {"unet": {3: 12, 2: 4}}.
  std::map<std::string, std::map<int, int64_t>> batch_counts() const;
  // True when both pipelines use one copy of the weights.
  bool shares_weights_with(const InpaintPipeline& other) const;

  struct Impl;

 private:
  explicit InpaintPipeline(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

// Checks a device string and that this libtorch can use it; throws
// rip::Error with what to do otherwise (e.g. CUDA asked of a CPU build).
void check_device(const std::string& device, const std::string& dtype);

// Sets libtorch's intra-op thread count for the whole process (ATen's OpenMP
// pool, and with OpenBLAS's OpenMP build its matrix products too) and returns
// it. n = 0 picks OMP_NUM_THREADS when set, else every CPU this process may
// run on. Why not libtorch's own default: it counts physical cores as its
// CPU-info library sees them, which is 1 on some 2-CPU VMs.
// Results depend on the count in the last bits (docs/models.md).
int set_compute_threads(int n);

}  // namespace rip::sd
