// SPDX-License-Identifier: LGPL-2.1-or-later
//
// The whole inpainting pipeline against diffusers' own output on the tiny
// SD2 and SD1.5 models (tests/data/sd/goldens/inpaint_*, made by running
// StableDiffusionInpaintPipeline; PROVENANCE.md lists each run).
//
// Tolerance: the bound, at most 1/255 on the 8-bit image. The goldens
// were made with one thread; we run with one thread too, so most runs are bit
// for bit equal. Where the computation legitimately differs (the empty-prompt
// shortcut runs the UNet on a batch of one instead of two; DDIM's and the
// multistep schedulers' float rounding), a pixel may land on the other side
// of a .5 rounding boundary: at most 1 level, on well under 1 % of values.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <filesystem>
#include <functional>
#include <string>
#include <tuple>

#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "rip/core/blas_threading.h"
#include "rip/error.h"
#include "rip/io/image.h"
#include "rip/sd/pipeline/inpaint_pipeline.h"
#include "../threads.h"

namespace fs = std::filesystem;
using rip::sd::InpaintPipeline;
using rip::sd::InpaintSettings;
using rip::sd::PipelineOptions;

namespace {

fs::path data_dir() {
  const char* d = std::getenv("RIP_SD_TEST_DATA");
  return d ? fs::path(d) : fs::path(RIP_SD_TEST_DATA_DEFAULT);
}

cv::Mat load_mask(const fs::path& p) {
  cv::Mat m = cv::imread(p.string(), cv::IMREAD_GRAYSCALE);
  EXPECT_FALSE(m.empty()) << p;
  return m;
}

std::shared_ptr<InpaintPipeline> pipeline(const fs::path& model) {
  PipelineOptions o;
  o.model_dir = model;
  return InpaintPipeline::load(o);
}

struct Case {
  const char* golden;
  const char* model;  // folder under tests/data/sd, or "hub" (see below)
  const char* image;
  const char* mask;
  const char* prompt;
  const char* negative;
  double strength;
  const char* scheduler;
};

void PrintTo(const Case& c, std::ostream* os) {
  *os << c.golden;
}

class PipelineParity : public ::testing::TestWithParam<Case> {
 protected:
  static void SetUpTestSuite() {
    // The goldens were made with OMP_NUM_THREADS=1.
    rip::sd::test::set_threads(1, 1);
    // The real stable-diffusion-2-inpainting scheduler_config.json has no
    // timestep_spacing key, the tiny model's has "leading": a copy of the
    // tiny model with the hub-shaped config (goldens "*_hubcfg").
    hub_ = fs::temp_directory_path() / ("rip-hub-model-" + std::to_string(::getpid()));
    fs::remove_all(hub_);
    fs::copy(data_dir() / "tiny-sd2", hub_, fs::copy_options::recursive);
    fs::copy_file(data_dir() / "goldens" / "hub_like_sd2_inpainting_scheduler_config.json",
        hub_ / "scheduler" / "scheduler_config.json", fs::copy_options::overwrite_existing);
  }
  static void TearDownTestSuite() { fs::remove_all(hub_); }
  static fs::path hub_;
};
fs::path PipelineParity::hub_;

TEST_P(PipelineParity, MatchesDiffusers) {
  const Case& c = GetParam();
  const fs::path g = data_dir() / "goldens";
  const fs::path model = std::string(c.model) == "hub" ? hub_ : data_dir() / c.model;
  cv::Mat image = rip::io::load_rgb_image((g / c.image).string());
  cv::Mat mask = load_mask(g / c.mask);
  cv::Mat expected =
      rip::io::load_rgb_image((g / (std::string("inpaint_") + c.golden + ".png")).string());

  InpaintSettings s;
  s.prompt = c.prompt;
  s.negative_prompt = c.negative;
  s.steps = 10;
  s.guidance_scale = 7.5;
  s.seed = 42;
  s.strength = c.strength;
  s.scheduler = c.scheduler;
  s.paste_back = false;  // diffusers' raw output
  int progress_calls = 0;
  cv::Mat out = pipeline(model)->inpaint(image, mask, s, [&](int, int) { progress_calls++; });

  ASSERT_EQ(out.size(), expected.size());
  cv::Mat diff;
  cv::absdiff(out, expected, diff);
  double max_diff = 0;
  cv::minMaxLoc(diff.reshape(1), nullptr, &max_diff);
  const double off = cv::countNonZero(diff.reshape(1)) / double(diff.total() * diff.channels());
  EXPECT_LE(max_diff, 1.0) << c.golden;
  EXPECT_LT(off, 0.01) << c.golden << ": share of values off by one";
  EXPECT_GT(progress_calls, 0);
}

const Case kCases[] = {
    {"sd2_empty", "tiny-sd2", "image.png", "mask.png", "", "", 1.0, ""},
    {"sd2_cfg", "tiny-sd2", "image.png", "mask.png", "a painting of a starry night", "blurry", 1.0,
        ""},
    {"sd2_strength075", "tiny-sd2", "image.png", "mask.png", "", "", 0.75, ""},
    {"sd2_w96h64", "tiny-sd2", "image_w96h64.png", "mask_w96h64.png", "", "", 1.0, ""},
    {"sd2_empty_ddim", "tiny-sd2", "image.png", "mask.png", "", "", 1.0, "ddim"},
    {"sd2_empty_euler_a", "tiny-sd2", "image.png", "mask.png", "", "", 1.0, "euler-ancestral"},
    {"sd2_empty_dpmpp2m", "tiny-sd2", "image.png", "mask.png", "", "", 1.0, "dpm-solver++"},
    {"sd2_empty_euler_a_hubcfg", "hub", "image.png", "mask.png", "", "", 1.0, "euler-ancestral"},
    {"sd2_empty_dpmpp2m_hubcfg", "hub", "image.png", "mask.png", "", "", 1.0, "dpm-solver++"},
    {"sd15_empty", "tiny-sd15", "image.png", "mask.png", "", "", 1.0, ""},
    {"sd15_cfg", "tiny-sd15", "image.png", "mask.png", "a painting of a starry night", "blurry",
        1.0, ""},
    {"sd15_strength075", "tiny-sd15", "image.png", "mask.png", "", "", 0.75, ""},
    {"sd15_w96h64", "tiny-sd15", "image_w96h64.png", "mask_w96h64.png", "", "", 1.0, ""},
};

INSTANTIATE_TEST_SUITE_P(Goldens, PipelineParity, ::testing::ValuesIn(kCases),
    [](const ::testing::TestParamInfo<Case>& info) { return std::string(info.param.golden); });

class Pipeline : public ::testing::Test {
 protected:
  void SetUp() override {
    rip::sd::test::set_threads(1, 1);
    g_ = data_dir() / "goldens";
    image_ = rip::io::load_rgb_image((g_ / "image.png").string());
    mask_ = load_mask(g_ / "mask.png");
    s_.steps = 3;
    s_.seed = 7;
  }
  fs::path g_;
  cv::Mat image_, mask_;
  InpaintSettings s_;
};

TEST_F(Pipeline, PasteBackChangesOnlyMaskedPixels) {
  auto p = pipeline(data_dir() / "tiny-sd2");
  s_.paste_back = true;
  cv::Mat pasted = p->inpaint(image_, mask_, s_);
  s_.paste_back = false;
  cv::Mat raw = p->inpaint(image_, mask_, s_);
  cv::Mat keep = mask_ < 128;
  cv::Mat d;
  cv::absdiff(pasted, image_, d);
  cv::Mat outside;
  d.copyTo(outside, keep);
  EXPECT_EQ(cv::countNonZero(outside.reshape(1)), 0);
  // Inside the mask: diffusers' pixels.
  cv::Mat inside_p, inside_r;
  pasted.copyTo(inside_p, ~keep);
  raw.copyTo(inside_r, ~keep);
  EXPECT_EQ(cv::norm(inside_p, inside_r, cv::NORM_INF), 0);
  // Without paste-back the VAE changes unmasked pixels too (diffusers'
  // known behaviour, the reason the study pastes back).
  cv::Mat raw_outside;
  cv::absdiff(raw, image_, d);
  d.copyTo(raw_outside, keep);
  EXPECT_GT(cv::countNonZero(raw_outside.reshape(1)), 0);
}

TEST_F(Pipeline, SameSeedSameImageOtherSeedDiffers) {
  auto p = pipeline(data_dir() / "tiny-sd2");
  cv::Mat a = p->inpaint(image_, mask_, s_);
  cv::Mat b = p->inpaint(image_, mask_, s_);
  EXPECT_EQ(cv::norm(a, b, cv::NORM_INF), 0);
  s_.seed = 8;
  cv::Mat c = p->inpaint(image_, mask_, s_);
  EXPECT_GT(cv::norm(a, c, cv::NORM_INF), 0);
}

TEST_F(Pipeline, SameModelSharesWeights) {
  auto a = pipeline(data_dir() / "tiny-sd2");
  auto b = pipeline(data_dir() / "tiny-sd2" / ".." / "tiny-sd2");
  auto c = pipeline(data_dir() / "tiny-sd15");
  EXPECT_TRUE(a->shares_weights_with(*b));
  EXPECT_FALSE(a->shares_weights_with(*c));
  PipelineOptions bf;
  bf.model_dir = data_dir() / "tiny-sd2";
  bf.dtype = "bf16";
  EXPECT_FALSE(a->shares_weights_with(*InpaintPipeline::load(bf)));
}

TEST_F(Pipeline, Bf16AndFp16VariantRunOnCpu) {
  // bf16 compute on the CPU, reading the .fp16 variant files: not
  // bit-comparable with fp32, but close to it.
  PipelineOptions o;
  o.model_dir = data_dir() / "tiny-sd2-fp16";
  o.dtype = "bf16";
  cv::Mat out = InpaintPipeline::load(o)->inpaint(image_, mask_, s_);
  cv::Mat ref = pipeline(data_dir() / "tiny-sd2")->inpaint(image_, mask_, s_);
  cv::Mat d;
  cv::absdiff(out, ref, d);
  EXPECT_LT(cv::mean(d.reshape(1))[0], 20.0);
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const rip::Error& e) {
    return e.what();
  }
  return "";
}

TEST_F(Pipeline, BinFolderGivesTheSafetensorsFolderImage) {
  // pickle/tiny-sd2-bin is tiny-sd2-fp16 saved by diffusers with
  // safe_serialization=False (PyTorch .bin pickles): the same weights, so
  // the same image to the byte.
  cv::Mat from_bin = pipeline(data_dir() / "pickle" / "tiny-sd2-bin")->inpaint(image_, mask_, s_);
  cv::Mat from_safetensors = pipeline(data_dir() / "tiny-sd2-fp16")->inpaint(image_, mask_, s_);
  ASSERT_EQ(from_bin.size(), from_safetensors.size());
  EXPECT_EQ(cv::norm(from_bin, from_safetensors, cv::NORM_INF), 0);
}

TEST_F(Pipeline, SingleFilesGiveTheFolderImage) {
  // diffusers' converter wrote tiny-sd2 as original single files (halved:
  // tiny-sd2-fp16's values). With the folder's configs (the tiny model's head
  // counts cannot be inferred), the image is the folder's to the byte.
  const cv::Mat folder = pipeline(data_dir() / "tiny-sd2-fp16")->inpaint(image_, mask_, s_);
  for (const char* name : {"tiny-sd2.fp16.safetensors", "tiny-sd2-openclip.fp16.ckpt"}) {
    SCOPED_TRACE(name);
    PipelineOptions o;
    o.model_dir = data_dir() / "single" / name;
    o.config_dir = data_dir() / "tiny-sd2-fp16";
    const cv::Mat single = InpaintPipeline::load(o)->inpaint(image_, mask_, s_);
    ASSERT_EQ(single.size(), folder.size());
    EXPECT_EQ(cv::norm(single, folder, cv::NORM_INF), 0);
  }
}

TEST_F(Pipeline, PredictionTypeOverridesTheSchedulerConfig) {
  // diffusers with PNDMScheduler.from_config(config, prediction_type=
  // "v_prediction") on tiny-sd2 (make_v_prediction_golden.py): <= 1/255.
  s_.paste_back = false;
  PipelineOptions o;
  o.model_dir = data_dir() / "tiny-sd2";
  o.prediction_type = "v_prediction";
  const cv::Mat v = InpaintPipeline::load(o)->inpaint(image_, mask_, s_);
  const cv::Mat theirs = rip::io::load_rgb_image((g_ / "inpaint_sd2_v_prediction.png").string());
  ASSERT_EQ(v.size(), theirs.size());
  EXPECT_LE(cv::norm(v, theirs, cv::NORM_INF), 1);
  EXPECT_GT(
      cv::norm(v, pipeline(data_dir() / "tiny-sd2")->inpaint(image_, mask_, s_), cv::NORM_INF), 1);
  o.prediction_type = "velocity";
  EXPECT_NE(error_of([&] { InpaintPipeline::load(o); }).find("unknown prediction type 'velocity'"),
      std::string::npos);
}

TEST_F(Pipeline, SingleFilesMatchDiffusersFromSingleFile) {
  // diffusers' StableDiffusionInpaintPipeline.from_single_file on the same
  // file and config folder (no paste-back: its raw output), <= 1/255 like
  // every whole-pipeline comparison. SD 2 (PNDM) and SD 1.5 (convolutional
  // projections, DDIM from the tiny folder).
  s_.paste_back = false;
  for (const auto& [file, config, golden] :
      {std::tuple<const char*, const char*, const char*>{
           "tiny-sd2.fp16.safetensors", "tiny-sd2-fp16", "single_tiny-sd2_from_single_file.png"},
          {"tiny-sd15.fp16.ckpt", "tiny-sd15", "single_tiny-sd15_from_single_file.png"}}) {
    SCOPED_TRACE(file);
    PipelineOptions o;
    o.model_dir = data_dir() / "single" / file;
    o.config_dir = data_dir() / config;
    const cv::Mat ours = InpaintPipeline::load(o)->inpaint(image_, mask_, s_);
    const cv::Mat theirs = rip::io::load_rgb_image((g_ / golden).string());
    ASSERT_EQ(ours.size(), theirs.size());
    EXPECT_LE(cv::norm(ours, theirs, cv::NORM_INF), 1);
  }
}

TEST_F(Pipeline, ClearErrors) {
  PipelineOptions o;
  o.model_dir = "/nonexistent/model";
  EXPECT_NE(error_of([&] { InpaintPipeline::load(o); }).find("'/nonexistent/model' does not exist"),
      std::string::npos);
  o.model_dir = data_dir() / "goldens";  // a folder, but not a model's
  const std::string not_a_model = error_of([&] { InpaintPipeline::load(o); });
  EXPECT_NE(not_a_model.find("has no model_index.json, so it is not a diffusers model folder"),
      std::string::npos)
      << not_a_model;
  o.model_dir = data_dir() / "tiny-sd2";
  o.dtype = "fp16";
  EXPECT_NE(error_of([&] { InpaintPipeline::load(o); }).find("fp16 needs a CUDA device"),
      std::string::npos);
  o.dtype = "fp64";
  EXPECT_NE(
      error_of([&] { InpaintPipeline::load(o); }).find("unknown dtype 'fp64'"), std::string::npos);
  o.dtype = "fp32";
  o.device = "cuda:0";
  EXPECT_NE(error_of([&] { InpaintPipeline::load(o); }).find("without CUDA"), std::string::npos);
  o.device = "tpu";
  EXPECT_NE(
      error_of([&] { InpaintPipeline::load(o); }).find("unknown device 'tpu'"), std::string::npos);

  auto p = pipeline(data_dir() / "tiny-sd2");
  cv::Mat odd(60, 60, CV_8UC3, cv::Scalar::all(0));
  cv::Mat odd_mask(60, 60, CV_8UC1, cv::Scalar(255));
  EXPECT_NE(
      error_of([&] { p->inpaint(odd, odd_mask, s_); }).find("multiples of 8"), std::string::npos);
  s_.scheduler = "lms";
  EXPECT_FALSE(error_of([&] { p->inpaint(image_, mask_, s_); }).empty());

  // Single files: no tokenizer, head counts that cannot be told, configs
  // that are not there.
  o = PipelineOptions();
  o.model_dir = data_dir() / "single" / "tiny-sd2.fp16.safetensors";
  std::string e = error_of([&] { InpaintPipeline::load(o); });
  EXPECT_NE(e.find("holds no tokenizer: set tokenizer"), std::string::npos) << e;
  o.tokenizer_dir = data_dir() / "tiny-sd2";
  e = error_of([&] { InpaintPipeline::load(o); });
  EXPECT_NE(e.find("cannot tell the attention head count"), std::string::npos) << e;
  EXPECT_NE(e.find("set config"), std::string::npos) << e;
  o.config_dir = data_dir() / "goldens";
  e = error_of([&] { InpaintPipeline::load(o); });
  EXPECT_NE(e.find("has no text_encoder/config.json"), std::string::npos) << e;
}

TEST_F(Pipeline, TruncatedWeightsNameTheFile) {
  const fs::path copy =
      fs::temp_directory_path() / ("rip-broken-model-" + std::to_string(::getpid()));
  fs::remove_all(copy);
  fs::copy(data_dir() / "tiny-sd2", copy, fs::copy_options::recursive);
  const fs::path unet = copy / "unet" / "diffusion_pytorch_model.safetensors";
  fs::resize_file(unet, fs::file_size(unet) / 2);
  PipelineOptions o;
  o.model_dir = copy;
  std::string e = error_of([&] { InpaintPipeline::load(o); });
  EXPECT_NE(e.find("diffusion_pytorch_model.safetensors"), std::string::npos) << e;
  EXPECT_NE(e.find("truncated"), std::string::npos) << e;
  fs::remove_all(copy);
}

}  // namespace

// rip/blas_threading.h: libtorch links libblas.so.3, so the kind is known
// once it is loaded, and the advice is given exactly for the slow set-ups.
TEST(BlasThreading, NamesTheLoadedBlasAndAdvisesOnlyWhenSlow) {
  at::mm(at::ones({8, 8}), at::ones({8, 8}));  // libtorch, and its BLAS, in use
  const rip::BlasKind kind = rip::loaded_blas();
  std::printf("BLAS: %s, %d OpenMP threads\n", rip::blas_name(kind), rip::openmp_threads());
  ASSERT_NE(kind, rip::BlasKind::kUnknown)
      << "Debian's libtorch calls libblas.so.3: OpenBLAS or the reference BLAS";
  {
    rip::sd::test::Threads two(2);
    EXPECT_EQ(rip::openmp_threads(), 2) << "at::set_num_threads sets OpenMP's count";
    const std::string advice = rip::blas_advice();
    if (kind == rip::BlasKind::kOpenBlasOpenMp || kind == rip::BlasKind::kOpenBlasSerial) {
      EXPECT_EQ(advice, "");
    } else {
      EXPECT_NE(advice.find("libopenblas0-openmp"), std::string::npos) << advice;
    }
  }
  rip::sd::test::Threads one(1);
  if (kind == rip::BlasKind::kOpenBlasPthreads) {
    EXPECT_EQ(rip::blas_advice(), "") << "one thread: nothing competes";
  }
}
