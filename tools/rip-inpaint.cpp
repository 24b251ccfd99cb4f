// SPDX-License-Identifier: LGPL-2.1-or-later
//
// rip-inpaint: one Stable Diffusion inpainting from the command line, the
// same code as the sdinpaint element, for scripts and for comparing with
// diffusers or other tools.
//
//   rip-inpaint --model DIR|FILE --image IN --mask MASK --out OUT [--prompt P]
//       [--config DIR] [--tokenizer DIR]
//       [--negative-prompt P] [--steps N] [--guidance G] [--strength S]
//       [--seed S] [--scheduler NAME] [--no-paste-back] [--device D]
//       [--dtype T] [--height H --width W] [--threads N] [--quiet]
//
// Like diffusers: mask white = repaint (binarised at 50 %); the output size
// is --height x --width, by default the model's (512x512 for SD2), and
// inputs of another size are resized to it (Lanczos).

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "rip/core/blas_threading.h"
#include "rip/error.h"
#include "rip/core/memory.h"
#include "rip/io/image.h"
#include "rip/sd/pipeline/inpaint_pipeline.h"

namespace {

void usage(FILE* out) {
  std::fputs(
      "usage: rip-inpaint --model DIR|FILE --image IN --mask MASK --out OUT\n"
      "         [--config DIR] [--tokenizer DIR]\n"
      "         [--prediction-type epsilon|v-prediction|sample]\n"
      "         [--prompt P] [--negative-prompt P] [--steps N] [--guidance G]\n"
      "         [--strength S] [--seed S] [--scheduler "
      "model|pndm|ddim|euler-ancestral|dpm-solver++]\n"
      "         [--no-paste-back]\n"
      "         [--device cpu|cuda|cuda:N] [--dtype fp32|fp16|bf16]\n"
      "         [--height H] [--width W] [--threads N] [--quiet]\n"
      "Stable Diffusion inpainting as diffusers' StableDiffusionInpaintPipeline\n"
      "runs it (defaults: 50 steps, guidance 7.5, strength 1, seed 0, the\n"
      "model's scheduler). MASK: white = repaint. With paste-back (default)\n"
      "only the masked pixels of IN change; --no-paste-back gives diffusers'\n"
      "raw output. --model: a diffusers folder or a single-file original\n"
      "checkpoint; for a single file, --tokenizer (vocab.json, merges.txt) and,\n"
      "when it is not SD 1.x/2-sized, --config (a diffusers folder).\n"
      "--threads: CPU threads (default OMP_NUM_THREADS, else every\n"
      "CPU available).\n",
      out);
}

[[noreturn]] void fail(const std::string& message) {
  std::fprintf(stderr, "rip-inpaint: %s\n", message.c_str());
  std::exit(2);
}

double to_double(const std::string& flag, const std::string& v) {
  char* end = nullptr;
  double d = std::strtod(v.c_str(), &end);
  if (v.empty() || *end) fail(flag + " needs a number, got '" + v + "'");
  return d;
}

long long to_int(const std::string& flag, const std::string& v) {
  char* end = nullptr;
  long long d = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end || d < 0) fail(flag + " needs a non-negative integer, got '" + v + "'");
  return d;
}

}  // namespace

int main(int argc, char** argv) {
  // Keep freed activation buffers for reuse (rip/memory.h says why).
  rip::keep_freed_memory();

  rip::sd::PipelineOptions options;
  rip::sd::InpaintSettings settings;
  std::string image_path, mask_path, out_path;
  int height = 0, width = 0, threads = 0;
  bool quiet = false;

  for (int i = 1; i < argc; i++) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) fail(a + " needs a value");
      return argv[++i];
    };
    if (a == "-h" || a == "--help") {
      usage(stdout);
      return 0;
    } else if (a == "--model") {
      options.model_dir = value();
    } else if (a == "--config") {
      options.config_dir = value();
    } else if (a == "--tokenizer") {
      options.tokenizer_dir = value();
    } else if (a == "--prediction-type") {
      // The element's nick v-prediction is diffusers' v_prediction.
      options.prediction_type = value();
      if (options.prediction_type == "v-prediction") options.prediction_type = "v_prediction";
      if (options.prediction_type == "model") options.prediction_type = "";
    } else if (a == "--image") {
      image_path = value();
    } else if (a == "--mask") {
      mask_path = value();
    } else if (a == "--out") {
      out_path = value();
    } else if (a == "--prompt") {
      settings.prompt = value();
    } else if (a == "--negative-prompt") {
      settings.negative_prompt = value();
    } else if (a == "--steps") {
      settings.steps = int(to_int(a, value()));
    } else if (a == "--guidance") {
      settings.guidance_scale = to_double(a, value());
    } else if (a == "--strength") {
      settings.strength = to_double(a, value());
    } else if (a == "--seed") {
      settings.seed = uint64_t(to_int(a, value()));
    } else if (a == "--scheduler") {
      // "model" is the element's name for the model's own scheduler.
      settings.scheduler = value();
      if (settings.scheduler == "model") settings.scheduler = "";
    } else if (a == "--eta") {
      settings.eta = to_double(a, value());
    } else if (a == "--no-paste-back") {
      settings.paste_back = false;
    } else if (a == "--device") {
      options.device = value();
    } else if (a == "--dtype") {
      options.dtype = value();
    } else if (a == "--height") {
      height = int(to_int(a, value()));
    } else if (a == "--width") {
      width = int(to_int(a, value()));
    } else if (a == "--threads") {
      threads = int(to_int(a, value()));
    } else if (a == "--quiet" || a == "-q") {
      quiet = true;
    } else {
      usage(stderr);
      fail("unknown argument '" + a + "'");
    }
  }
  if (options.model_dir.empty() || image_path.empty() || mask_path.empty() || out_path.empty()) {
    usage(stderr);
    fail("--model, --image, --mask and --out are required");
  }

  try {
    rip::sd::set_compute_threads(threads);
    auto t0 = std::chrono::steady_clock::now();
    auto pipeline = rip::sd::InpaintPipeline::load(options);
    const int size = pipeline->default_size();
    const int H = height ? height : size, W = width ? width : size;

    cv::Mat image = rip::io::load_rgb_image(image_path);
    cv::Mat mask = cv::imread(mask_path, cv::IMREAD_GRAYSCALE);
    if (mask.empty())
      fail("cannot read the mask '" + mask_path +
          "' (an image file, white "
          "= repaint)");
    if (image.cols != W || image.rows != H) {
      // diffusers resizes with Pillow's Lanczos; OpenCV's differs in the
      // last bits, so say so rather than pretend parity.
      if (!quiet)
        std::fprintf(stderr,
            "rip-inpaint: resizing %dx%d input to %dx%d "
            "(OpenCV Lanczos; diffusers uses Pillow's: pass %dx%d images "
            "for bit-comparable results)\n",
            image.cols, image.rows, W, H, W, H);
      cv::resize(image, image, cv::Size(W, H), 0, 0, cv::INTER_LANCZOS4);
    }
    if (mask.cols != W || mask.rows != H)
      cv::resize(mask, mask, cv::Size(W, H), 0, 0, cv::INTER_LANCZOS4);

    if (!quiet) {
      const std::string advice = rip::blas_advice();
      if (!advice.empty()) std::fprintf(stderr, "rip-inpaint: %s\n", advice.c_str());
    }
    auto t1 = std::chrono::steady_clock::now();
    auto progress = [&](int step, int steps) {
      if (!quiet) std::fprintf(stderr, "\rstep %d/%d", step, steps);
    };
    cv::Mat out = pipeline->inpaint(image, mask, settings, progress);
    auto t2 = std::chrono::steady_clock::now();
    rip::io::save_rgb_image(out_path, out);
    if (!quiet)
      std::fprintf(stderr, "\n%s: load %.1f s, inpaint %.1f s\n", out_path.c_str(),
          std::chrono::duration<double>(t1 - t0).count(),
          std::chrono::duration<double>(t2 - t1).count());
  } catch (const rip::Error& e) {
    fail(e.what());
  } catch (const std::exception& e) {
    fail(std::string("unexpected failure: ") + e.what());
  }
  return 0;
}
