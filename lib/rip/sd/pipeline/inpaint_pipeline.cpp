// SPDX-License-Identifier: LGPL-2.1-or-later
//
// The data flow follows diffusers v0.31.0
// src/diffusers/pipelines/stable_diffusion/pipeline_stable_diffusion_inpaint.py
// step by step (see shared/reference/sd2-inpaint-spec.md §2.2 for the
// commented walk-through). Comments "diffusers:" quote what each line mirrors.
#include "rip/sd/pipeline/inpaint_pipeline.h"

#include <sched.h>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>

#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>

#include "rip/error.h"
#include "rip/io/json_file.h"
#include "rip/sd/single_file.h"
#include "rip/sd/weights.h"
#include "rip/sd/pipeline/call_batcher.h"
#include "rip/sd/models/unet.h"
#include "rip/sd/models/vae.h"
#include "rip/sd/sched/scheduler.h"
#include "rip/sd/text/clip_text.h"
#include "rip/sd/text/tokenizer.h"

namespace fs = std::filesystem;

namespace rip::sd {

namespace {

at::ScalarType parse_dtype(const std::string& dtype) {
  if (dtype == "fp32" || dtype == "float32") return at::kFloat;
  if (dtype == "fp16" || dtype == "float16") return at::kHalf;
  if (dtype == "bf16" || dtype == "bfloat16") return at::kBFloat16;
  throw Error("unknown dtype '" + dtype + "': use fp32, fp16 or bf16");
}

at::Device parse_device(const std::string& device) {
  if (device == "cpu") return at::Device(at::kCPU);
  if (device == "cuda" || device.rfind("cuda:", 0) == 0) {
    int index = 0;
    if (device.size() > 5) {
      try {
        size_t used = 0;
        index = std::stoi(device.substr(5), &used);
        if (used != device.size() - 5 || index < 0) throw std::invalid_argument("index");
      } catch (const std::exception&) {
        throw Error("bad device '" + device + "': use cpu, cuda or cuda:N");
      }
    }
    return at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  throw Error("unknown device '" + device + "': use cpu, cuda or cuda:N");
}

// The model folder's components, shared by every pipeline that names the
// same folder, device, dtype and variant.
struct Models {
  fs::path dir;
  at::Device device = at::Device(at::kCPU);
  at::ScalarType dtype = at::kFloat;
  std::unique_ptr<ClipTokenizer> tokenizer;
  std::unique_ptr<ClipTextModel> text_encoder;
  std::unique_ptr<UNet2DConditionModel> unet;
  std::unique_ptr<AutoencoderKL> vae;
  SchedulerConfig scheduler_config;
  int vae_scale_factor = 8;
  // Every UNet and VAE call of the pipelines sharing these weights: one
  // at a time, batched across loops where their settings allow.
  CallBatcher batcher;
  // Guards the text encoder's prompt cache.
  std::mutex prompt_mutex;
  std::map<std::string, at::Tensor> prompt_cache;
};

std::string choose_variant(const PipelineOptions& options, at::ScalarType dtype) {
  if (options.variant != "auto") return options.variant;
  return dtype == at::kFloat ? "" : "fp16";
}

void require_file(const fs::path& path, const std::string& what) {
  if (!fs::exists(path))
    throw Error("the model folder has no " + path.filename().string() + " in " +
        path.parent_path().string() + " (" + what +
        "); download "
        "the whole diffusers folder (docs/models.md)");
}

// The tokenizer folder of a single file: tokenizer_dir (itself or its
// tokenizer/), else config_dir's tokenizer/.
fs::path single_file_tokenizer(const PipelineOptions& o) {
  if (!o.tokenizer_dir.empty()) {
    if (fs::exists(o.tokenizer_dir / "vocab.json")) return o.tokenizer_dir;
    if (fs::exists(o.tokenizer_dir / "tokenizer" / "vocab.json"))
      return o.tokenizer_dir / "tokenizer";
    throw Error("tokenizer folder '" + o.tokenizer_dir.string() +
        "' has no vocab.json (nor tokenizer/vocab.json): give the tokenizer/ folder of the "
        "model's diffusers repository (vocab.json, merges.txt)");
  }
  if (!o.config_dir.empty()) return o.config_dir / "tokenizer";
  throw Error("'" + o.model_dir.string() +
      "' is a single-file checkpoint, which holds no tokenizer: set tokenizer to a folder "
      "with vocab.json and merges.txt (the tokenizer/ folder of "
      "stabilityai/stable-diffusion-2-inpainting or runwayml/stable-diffusion-inpainting, "
      "1.6 MB), or config to a diffusers folder of the same model (docs/models.md)");
}

// A component's config for a single file: config_dir's config.json, else the
// one inferred from the file.
io::ConfigReader single_file_config(const PipelineOptions& o, const nlohmann::json& inferred,
    const std::string& component, const std::string& what) {
  if (!o.config_dir.empty()) {
    const fs::path file = o.config_dir / component / "config.json";
    if (!fs::exists(file))
      throw Error("config folder '" + o.config_dir.string() + "' has no " + component +
          "/config.json: give a diffusers folder of the same architecture");
    return io::ConfigReader::open(file);
  }
  if (inferred.contains("num_attention_heads_unknown"))
    throw Error("cannot tell the attention head count of the " + what + " in '" +
        o.model_dir.string() +
        "' (neither Stable Diffusion 1.x- nor 2-sized): set config to a diffusers folder of "
        "the same architecture, whose config.json files are used");
  return io::ConfigReader{o.model_dir.string() + " (" + component + ", inferred)", inferred};
}

// A model's empty Models for its folder or file, on the options' device and
// dtype (checked: e.g. CUDA asked of a CPU build).
std::shared_ptr<Models> new_models(const PipelineOptions& o) {
  auto m = std::make_shared<Models>();
  m->dtype = parse_dtype(o.dtype);
  m->device = parse_device(o.device);
  check_device(o.device, o.dtype);
  m->dir = o.model_dir;
  return m;
}

// What every model needs once its components are in: diffusers'
// vae_scale_factor = 2 ** (len(vae.config.block_out_channels) - 1), and an
// inpainting UNet. unet_where and needs go into the error.
void finish_models(Models& m, const std::string& unet_where, const std::string& needs) {
  m.vae_scale_factor = 1 << (m.vae->config().block_out_channels.size() - 1);
  if (m.unet->config().in_channels != 9)
    throw Error("the UNet in '" + unet_where + "' takes " +
        std::to_string(m.unet->config().in_channels) + " input channels; sdinpaint needs " + needs);
}

std::shared_ptr<Models> load_single_file_models(const PipelineOptions& o) {
  auto m = new_models(o);
  const at::ScalarType dtype = m->dtype;
  const at::Device device = m->device;
  if (!o.config_dir.empty() && !fs::is_directory(o.config_dir))
    throw Error("config folder '" + o.config_dir.string() + "' does not exist");
  const fs::path tokenizer = single_file_tokenizer(o);
  int text_layers = -1;
  std::optional<ClipTextConfig> text_config;
  if (!o.config_dir.empty()) {
    text_config = ClipTextConfig::from(
        single_file_config(o, nlohmann::json::object(), "text_encoder", "text encoder"));
    text_layers = text_config->num_hidden_layers;
  }
  const SingleFile file = open_single_file(o.model_dir, text_layers);
  if (!text_config)
    text_config = ClipTextConfig::from(
        single_file_config(o, file.text_encoder_config, "text_encoder", "text encoder"));

  m->tokenizer = std::make_unique<ClipTokenizer>(ClipTokenizer::load(tokenizer));
  m->text_encoder = std::make_unique<ClipTextModel>(*text_config, file.text_encoder, dtype, device);
  m->unet = std::make_unique<UNet2DConditionModel>(
      UNetConfig::from(single_file_config(o, file.unet_config, "unet", "UNet")), file.unet, dtype,
      device);
  m->vae = std::make_unique<AutoencoderKL>(
      VaeConfig::from(single_file_config(o, file.vae_config, "vae", "VAE")), file.vae, dtype,
      device);
  if (!o.config_dir.empty()) {
    const fs::path sched = o.config_dir / "scheduler" / "scheduler_config.json";
    require_file(sched, "the scheduler settings");
    m->scheduler_config = SchedulerConfig::load(sched);
  } else {
    // stabilityai/stable-diffusion-2-inpainting's and runwayml's scheduler:
    // PNDM as the original ldm sampler configs describe it.
    m->scheduler_config = SchedulerConfig::from_json(
        nlohmann::json{{"_class_name", "PNDMScheduler"}, {"beta_end", 0.012},
            {"beta_schedule", "scaled_linear"}, {"beta_start", 0.00085}, {"clip_sample", false},
            {"num_train_timesteps", 1000}, {"prediction_type", "epsilon"},
            {"set_alpha_to_one", false}, {"skip_prk_steps", true}, {"steps_offset", 1},
            {"trained_betas", nullptr}},
        "the single-file default scheduler (PNDM)");
  }
  finish_models(*m, o.model_dir.string(),
      "an inpainting checkpoint (9 channels: latents, mask, masked-image latents), e.g. "
      "512-inpainting-ema.safetensors");
  return m;
}

std::shared_ptr<Models> load_models(const PipelineOptions& options) {
  const fs::path dir = options.model_dir;
  if (dir.empty())
    throw Error(
        "no model folder given: set model to a diffusers folder "
        "such as stable-diffusion-2-inpainting (docs/models.md)");
  if (is_single_file(dir)) return load_single_file_models(options);
  if (!fs::is_directory(dir)) throw Error("model folder '" + dir.string() + "' does not exist");
  if (!fs::exists(dir / "model_index.json"))
    throw Error("'" + dir.string() +
        "' has no model_index.json, so it is not a diffusers model folder: set model to "
        "the folder as downloaded (e.g. stable-diffusion-2-inpainting: model_index.json, "
        "unet/, vae/, text_encoder/, tokenizer/, scheduler/) or to a single-file "
        "checkpoint such as 512-inpainting-ema.safetensors (docs/models.md)");
  auto m = new_models(options);
  const at::ScalarType dtype = m->dtype;
  const at::Device device = m->device;
  const std::string variant = choose_variant(options, dtype);

  auto index = io::read_json(dir / "model_index.json");
  if (index.contains("_class_name") && index["_class_name"].is_string()) {
    const std::string cls = index["_class_name"];
    if (cls.find("Inpaint") == std::string::npos)
      throw Error("model folder '" + dir.string() + "' holds a " + cls +
          ", not an inpainting model: use e.g. "
          "stabilityai/stable-diffusion-2-inpainting");
  }

  m->tokenizer = std::make_unique<ClipTokenizer>(ClipTokenizer::load(dir / "tokenizer"));
  m->text_encoder = std::make_unique<ClipTextModel>(
      ClipTextModel::load(dir / "text_encoder", dtype, device, variant));
  m->unet = std::make_unique<UNet2DConditionModel>(
      UNet2DConditionModel::load(dir / "unet", variant, dtype, device));
  m->vae =
      std::make_unique<AutoencoderKL>(AutoencoderKL::load(dir / "vae", variant, dtype, device));
  require_file(dir / "scheduler" / "scheduler_config.json", "the scheduler settings");
  m->scheduler_config = SchedulerConfig::load(dir / "scheduler" / "scheduler_config.json");
  // from_pretrained builds the class model_index.json names for the
  // scheduler, whatever the file's _class_name says.
  if (index.contains("scheduler") && index["scheduler"].is_array() &&
      index["scheduler"].size() == 2 && index["scheduler"][1].is_string())
    m->scheduler_config.class_name = index["scheduler"][1].get<std::string>();
  finish_models(*m, (dir / "unet").string(),
      "an inpainting UNet (9 channels: latents, mask, masked-image latents)");
  return m;
}

std::mutex registry_mutex;
std::map<std::string, std::weak_ptr<Models>> registry;

std::shared_ptr<Models> shared_models(const PipelineOptions& options) {
  std::error_code ec;
  fs::path canonical = fs::weakly_canonical(options.model_dir, ec);
  const std::string key = (ec ? options.model_dir : canonical).string() + "|" + options.device +
      "|" + options.dtype + "|" + options.variant + "|" + options.config_dir.string() + "|" +
      options.tokenizer_dir.string() + "|" + options.prediction_type;
  const std::string& prediction = options.prediction_type;
  if (!prediction.empty() && prediction != "epsilon" && prediction != "v_prediction" &&
      prediction != "sample")
    throw Error(
        "unknown prediction type '" + prediction + "': use epsilon, v_prediction or sample");
  std::lock_guard<std::mutex> guard(registry_mutex);
  if (auto existing = registry[key].lock()) return existing;
  auto models = load_models(options);
  if (!prediction.empty()) models->scheduler_config.values["prediction_type"] = prediction;
  registry[key] = models;
  return models;
}

// diffusers encode_prompt: tokenizer(padding="max_length", truncation=True)
// then text_encoder(ids)[0], in the text encoder's dtype.
at::Tensor encode_prompt(Models& m, const std::string& prompt) {
  std::lock_guard<std::mutex> guard(m.prompt_mutex);
  auto it = m.prompt_cache.find(prompt);
  if (it != m.prompt_cache.end()) return it->second;
  std::vector<int64_t> ids = m.tokenizer->encode(prompt);
  at::Tensor t = at::tensor(ids, at::kLong).unsqueeze(0).to(m.device);
  at::Tensor embeds = m.text_encoder->forward(t);
  if (m.prompt_cache.size() > 64)
    m.prompt_cache.clear();  // a long-running element with changing prompts
  m.prompt_cache.emplace(prompt, embeds);
  return embeds;
}

// How many loops' VAE calls may share a batch. On the CPU none: libtorch
// 1.13's kernels in the VAE do not give a row the same bits in a batch as
// alone (1e-5 apart on the tiny model, beyond what caller_rows.h mends), and
// the VAE is 2 of a step count + 3 calls. CUDA batches them (its kernels
// are not bit-stable across batch sizes anyway).
int vae_max_batch(const Models& m) {
  return m.device.is_cpu() ? 1 : 0;
}

// diffusers: retrieve_latents(vae.encode(x), generator) * scaling_factor.
// Each caller samples with its own generator.
at::Tensor encode_vae_image(
    Models& m, const CallBatcher::Member& member, const at::Tensor& image, at::Generator& gen) {
  const CallBatcher::Fn fn = [&m](const std::vector<at::Tensor>& in) {
    return m.vae->encode_moments(in[0]);
  };
  auto posterior =
      AutoencoderKL::posterior(m.batcher.call(member, "vae-encode", {image}, fn, vae_max_batch(m)));
  return posterior.sample(gen) * m.vae->scaling_factor();
}

}  // namespace

struct InpaintPipeline::Impl {
  PipelineOptions options;
  std::shared_ptr<Models> models;
};

InpaintPipeline::InpaintPipeline(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

InpaintPipeline::~InpaintPipeline() = default;

std::shared_ptr<InpaintPipeline> InpaintPipeline::load(const PipelineOptions& options) {
  auto impl = std::make_shared<Impl>();
  impl->options = options;
  try {
    impl->models = shared_models(options);
  } catch (const c10::Error& e) {
    throw Error("loading the model from '" + options.model_dir.string() +
        "' failed in libtorch: " + e.what_without_backtrace());
  }
  return std::shared_ptr<InpaintPipeline>(new InpaintPipeline(impl));
}

int InpaintPipeline::default_size() const {
  return impl_->models->unet->config().sample_size * impl_->models->vae_scale_factor;
}

const PipelineOptions& InpaintPipeline::options() const {
  return impl_->options;
}

std::string InpaintPipeline::scheduler_name() const {
  return impl_->models->scheduler_config.class_name;
}

std::map<std::string, std::map<int, int64_t>> InpaintPipeline::batch_counts() const {
  return impl_->models->batcher.batch_counts();
}

bool InpaintPipeline::shares_weights_with(const InpaintPipeline& other) const {
  return impl_->models == other.impl_->models;
}

void check_device(const std::string& device, const std::string& dtype) {
  const at::Device d = parse_device(device);
  const at::ScalarType t = parse_dtype(dtype);
  if (d.is_cuda()) {
    if (!at::hasCUDA())
      throw Error("device '" + device +
          "' asked, but this libtorch was built "
          "without CUDA (Debian's libtorch is CPU-only): use device=cpu, or "
          "build gst-rip against a CUDA libtorch (docs/models.md)");
    // at::cuda::device_count() lives in the CUDA library; the context
    // knows whether the index can exist.
    if (d.has_index() && d.index() >= static_cast<int>(at::detail::getCUDAHooks().getNumGPUs()))
      throw Error("device '" + device + "' does not exist: this machine has " +
          std::to_string(at::detail::getCUDAHooks().getNumGPUs()) + " CUDA device(s)");
  } else if (t == at::kHalf) {
    throw Error(
        "dtype fp16 needs a CUDA device: libtorch has no fp16 "
        "convolutions on the CPU. Use fp32 (diffusers' default) or bf16 on "
        "the CPU");
  } else if (t == at::kBFloat16) {
    // On a CPU with AVX-512, libtorch 1.13 hands bf16 convolutions and
    // matrix products to oneDNN, which throws its own exception type (not
    // c10::Error) when it has no kernel for the CPU, e.g. when limited by
    // ONEDNN_MAX_CPU_ISA: try one before loading gigabytes.
    try {
      at::conv2d(at::ones({1, 1, 4, 4}, at::kBFloat16), at::ones({1, 1, 3, 3}, at::kBFloat16));
    } catch (const std::exception& e) {
      throw Error(std::string("dtype bf16 does not run on this CPU: a bf16 test convolution "
                              "failed (") +
          e.what() +
          "). Use dtype=fp32 (diffusers' default), or bf16 on a GPU; a set "
          "ONEDNN_MAX_CPU_ISA or DNNL_MAX_CPU_ISA below AVX512_CORE causes this too");
    }
  }
}

cv::Mat InpaintPipeline::inpaint(const cv::Mat& image, const cv::Mat& mask,
    const InpaintSettings& s, const ProgressFn& progress) {
  Models& m = *impl_->models;
  if (image.type() != CV_8UC3) throw Error("the image must be 8-bit RGB");
  if (mask.type() != CV_8UC1 || mask.size() != image.size())
    throw Error("the mask must be 8-bit single-channel and the image's size");
  const int H = image.rows, W = image.cols;
  const int f = m.vae_scale_factor;
  if (H % f != 0 || W % f != 0)
    throw Error("the image is " + std::to_string(W) + "x" + std::to_string(H) +
        ": Stable Diffusion needs both sides to be multiples of " + std::to_string(f) +
        " (diffusers refuses other sizes too)");
  if (s.steps < 1) throw Error("steps must be at least 1");
  if (!(s.strength > 0.0 && s.strength <= 1.0)) throw Error("strength must be in (0, 1]");

  c10::InferenceMode inference;
  const at::Device dev = m.device;
  const at::ScalarType dtype = m.dtype;

  // 3. Prompts. diffusers: do_classifier_free_guidance = guidance_scale > 1;
  // uncond = negative_prompt or "" ; prompt_embeds = cat([uncond, cond]).
  const bool cfg = s.guidance_scale > 1.0;
  at::Tensor cond = encode_prompt(m, s.prompt);
  at::Tensor prompt_embeds = cond;
  // When the prompt equals the negative prompt (the study's empty prompt)
  // both halves of the CFG batch are the same and
  // u + g * (c - u) == u: one UNet call per step gives the same result.
  const bool cfg_batch = cfg && s.prompt != s.negative_prompt;
  if (cfg_batch) prompt_embeds = at::cat({encode_prompt(m, s.negative_prompt), cond});

  // 4. Timesteps (get_timesteps: slices for strength < 1 and sets the
  // scheduler's begin index where diffusers does).
  auto scheduler = make_pipeline_scheduler(m.scheduler_config, s.scheduler);
  scheduler->set_timesteps(s.steps);
  const TimestepPlan plan = get_timesteps(*scheduler, s.steps, s.strength);
  if (plan.num_inference_steps < 1)
    throw Error("strength " + std::to_string(s.strength) + " with " + std::to_string(s.steps) +
        " steps leaves no denoising step: raise "
        "steps or strength");
  const at::Tensor& timesteps = plan.timesteps;
  const bool strength_max = s.strength == 1.0;

  // 5. Image: uint8 HWC -> float32 / 255 -> 2x - 1, NCHW view of HWC data
  // (channels-last strides, as torch.from_numpy(...).transpose gives).
  cv::Mat rgb = image.isContinuous() ? image : image.clone();
  at::Tensor img = at::from_blob(rgb.data, {1, H, W, 3}, at::kByte)
                       .to(at::kFloat)
                       .div(255.0)
                       .permute({0, 3, 1, 2});
  at::Tensor init_image = img.mul(2.0).sub(1.0);
  // 7. Mask: /255, binarise at 0.5.
  cv::Mat mk = mask.isContinuous() ? mask : mask.clone();
  at::Tensor mask_condition =
      at::from_blob(mk.data, {1, 1, H, W}, at::kByte).to(at::kFloat).div(255.0);
  mask_condition = at::where(
      mask_condition < 0.5, at::zeros_like(mask_condition), at::ones_like(mask_condition));
  at::Tensor masked_image = init_image * (mask_condition < 0.5);

  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(s.seed);
  // From here on this inpaint's model calls may share batches with other
  // loops' (joined after the prompts, whose encoding is not batched, so
  // that nobody waits for it).
  const CallBatcher::Member member = m.batcher.join(s.max_batch);

  // 6. prepare_latents. With strength < 1 the image is encoded first (one
  // draw), then the noise; with strength 1 only the noise.
  const int64_t lh = H / f, lw = W / f;
  const std::vector<int64_t> latent_shape = {1, int64_t(m.vae->config().latent_channels), lh, lw};
  at::Tensor latents;
  {
    at::Tensor image_latents;
    if (!strength_max) image_latents = encode_vae_image(m, member, init_image.to(dev, dtype), gen);
    at::Tensor noise = randn_tensor(latent_shape, gen, dev, dtype);
    if (strength_max) {
      latents = noise * scheduler->init_noise_sigma();
    } else {
      latents = scheduler->add_noise(image_latents, noise, timesteps.slice(0, 0, 1));
    }
  }

  // 7. prepare_mask_latents: nearest downsample; masked image latents.
  at::Tensor mask_latents = at::upsample_nearest2d(mask_condition, {lh, lw}).to(dev, dtype);
  at::Tensor masked_image_latents = encode_vae_image(m, member, masked_image.to(dev, dtype), gen);
  if (cfg_batch) {
    mask_latents = at::cat({mask_latents, mask_latents});
    masked_image_latents = at::cat({masked_image_latents, masked_image_latents});
  }

  // 10. Denoising loop. The timestep goes in once per row, so that rows
  // of loops at other steps can share the call.
  const CallBatcher::Fn unet = [&m](const std::vector<at::Tensor>& in) {
    return m.unet->forward(in[0], in[1], in[2]);
  };
  const int64_t n = timesteps.size(0);
  const auto stop_if_cancelled = [&s] {
    if (s.cancelled && s.cancelled()) throw InpaintCancelled();
  };
  for (int64_t i = 0; i < n; i++) {
    stop_if_cancelled();
    at::Tensor t = timesteps[i];
    at::Tensor x = cfg_batch ? at::cat({latents, latents}) : latents;
    x = scheduler->scale_model_input(x, t);
    x = at::cat({x, mask_latents, masked_image_latents}, 1);
    at::Tensor noise_pred = m.batcher.call(
        member, "unet", {x, t.reshape({1}).expand({x.size(0)}), prompt_embeds}, unet);
    if (cfg_batch) {
      auto halves = noise_pred.chunk(2);
      noise_pred = halves[0] + s.guidance_scale * (halves[1] - halves[0]);
    }
    latents = scheduler->step(noise_pred, t, latents, gen, s.eta).prev_sample;
    if (progress) progress(int(i + 1), int(n));
  }

  // Decode and postprocess: (x / 2 + 0.5).clamp(0, 1), * 255, round half
  // to even (numpy's round), uint8.
  const CallBatcher::Fn decode = [&m](const std::vector<at::Tensor>& in) {
    return m.vae->decode(in[0]);
  };
  stop_if_cancelled();
  at::Tensor decoded = m.batcher.call(
      member, "vae-decode", {latents / m.vae->scaling_factor()}, decode, vae_max_batch(m));
  at::Tensor out =
      (decoded * 0.5 + 0.5).clamp(0, 1).to(at::kCPU).permute({0, 2, 3, 1}).to(at::kFloat);
  out = (out * 255).round().to(at::kByte).contiguous();
  cv::Mat result(H, W, CV_8UC3);
  std::memcpy(result.data, out.data_ptr(), size_t(H) * W * 3);

  if (s.paste_back) {
    // The study's step: only the masked pixels change.
    cv::Mat keep = mk < 128;
    image.copyTo(result, keep);
  }
  return result;
}

int set_compute_threads(int n) {
  if (n <= 0) {
    const char* env = std::getenv("OMP_NUM_THREADS");
    n = env ? std::atoi(env) : 0;
  }
  if (n <= 0) {
    cpu_set_t set;
    n = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
  }
  at::set_num_threads(n);
  return at::get_num_threads();
}

}  // namespace rip::sd
