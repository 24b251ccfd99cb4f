// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Weights: the committed tiny models read through our reader against values
// read independently (pin_values.py), fp16 variants against the fp32 files,
// diffusers' variant and shard rules, conversions, aliases and the errors.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "rip/io/json_file.h"
#include "rip/io/model_folder.h"
#include "rip/sd/single_file.h"
#include "rip/sd/weights.h"
#include "testutil.h"

namespace rip::sd::test {
namespace {

namespace fs = std::filesystem;
using io::DType;
using io::find_weight_files;
using io::TensorData;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

fs::path tiny(const std::string& model, const std::string& component) {
  return sd_data() / model / component;
}

// The pinned values: the first four values (exact) and the float64 sum of a
// tensor, printed by tests/sd/io/pin_values.py, which reads the files with
// struct + json + numpy (an independent reader). The sum's tolerance covers
// only the summation order (numpy's pairwise sum vs ATen's), ~1e-15 relative.
struct Pinned {
  const char* name;
  std::vector<int64_t> shape;
  std::vector<double> first;
  double sum;
};

void expect_pinned(const Weights& w, const Pinned& p) {
  SCOPED_TRACE(p.name);
  const at::Tensor t = w.get(p.name, at::kFloat, p.shape);
  ASSERT_EQ(t.scalar_type(), at::kFloat);
  const auto flat = t.reshape({-1});
  for (size_t i = 0; i < p.first.size(); ++i) {
    EXPECT_EQ(double(flat[int64_t(i)].item<float>()), p.first[i]) << "value " << i;
  }
  EXPECT_NEAR(t.to(at::kDouble).sum().item<double>(), p.sum, 1e-12 * (1 + std::abs(p.sum)));
}

TEST(Weights, TinySD2UNetMatchesAnIndependentReader) {
  const Weights w = Weights::open(tiny("tiny-sd2", "unet"), "diffusion_pytorch_model");
  EXPECT_EQ(w.names().size(), 684u);
  expect_pinned(w,
      {"conv_in.weight", {32, 9, 3, 3},
          {0x1.d50108p-5, -0x1.91c096p-5, -0x1.60eap-6, 0x1.ab3ae4p-5}, -1.6281073550781002});
  expect_pinned(w,
      {"time_embedding.linear_1.bias", {128},
          {-0x1.37ab58p-3, 0x1.6c125p-3, -0x1.e00108p-4, -0x1.492852p-2}, -0.37601360911503434});
  expect_pinned(w,
      {"down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight", {32, 32},
          {-0x1.4eaa1p-3, 0x1.d7341p-4, 0x1.bc8cdcp-5, -0x1.70082p-4}, -3.0060529257170856});
  expect_pinned(w,
      {"conv_out.bias", {4}, {-0x1.28b36p-8, 0x1.5df67p-4, 0x1.8047eap-3, -0x1.bf6bbcp-4},
          0.15931636840105057});
  const auto unused = w.unused();
  EXPECT_EQ(unused.size(), 684u - 4);
  EXPECT_EQ(std::count(unused.begin(), unused.end(), "conv_in.weight"), 0);
  EXPECT_EQ(std::count(unused.begin(), unused.end(), "conv_in.bias"), 1);
}

TEST(Weights, TinySD2TextEncoder) {
  const Weights w = Weights::open(tiny("tiny-sd2", "text_encoder"), "model");
  expect_pinned(w,
      {"text_model.embeddings.token_embedding.weight", {994, 32},
          {-0x1.34f422p-6, 0x1.d39744p-5, -0x1.b57a5ep-6, -0x1.dd1da4p-10}, -5.82722841460091});
}

TEST(Weights, Fp16VariantEqualsTheFp32WeightsRounded) {
  // make_fp16_variant.py wrote the fp16 files with diffusers from the fp32
  // model and checked they are exactly its .half(): so must ours read.
  const Weights w32 = Weights::open(tiny("tiny-sd2", "unet"), "diffusion_pytorch_model");
  const Weights w16 =
      Weights::open(tiny("tiny-sd2-fp16", "unet"), "diffusion_pytorch_model", "fp16");
  EXPECT_TRUE(contains(w16.describe(), "diffusion_pytorch_model.fp16.safetensors"));
  ASSERT_EQ(w16.names(), w32.names());
  for (const auto& name : w32.names()) {
    const at::Tensor ref = w32.get(name, at::kFloat).to(at::kHalf);
    const at::Tensor as32 = w16.get(name, at::kFloat);
    ASSERT_EQ(as32.scalar_type(), at::kFloat) << name;
    ASSERT_TRUE(at::equal(as32, ref.to(at::kFloat))) << name;
    ASSERT_TRUE(at::equal(w16.get(name, at::kHalf), ref)) << name;
    // And our fp32 -> fp16 conversion is ATen's rounding.
    ASSERT_TRUE(at::equal(w32.get(name, at::kHalf), ref)) << name;
  }
  EXPECT_TRUE(w16.unused().empty());
  EXPECT_TRUE(w32.unused().empty());
  // Pinned fp16 values too (independent reader).
  expect_pinned(w16,
      {"conv_in.weight", {32, 9, 3, 3}, {0x1.d5p-5, -0x1.91cp-5, -0x1.61p-6, 0x1.ab4p-5},
          -1.6270698308944702});
  expect_pinned(w16,
      {"time_embedding.linear_1.bias", {128}, {-0x1.37cp-3, 0x1.6cp-3, -0x1.ep-4, -0x1.494p-2},
          -0.3757667541503906});
  // With no variant asked for, the fp16 file is the fallback when alone.
  const Weights fallback = Weights::open(tiny("tiny-sd2-fp16", "vae"), "diffusion_pytorch_model");
  EXPECT_TRUE(contains(fallback.describe(), "diffusion_pytorch_model.fp16.safetensors"));
}

TEST(Weights, ZeroCopyViewsOutliveTheWeights) {
  at::Tensor view, again, converted;
  {
    const Weights w = Weights::open(tiny("tiny-sd2", "unet"), "diffusion_pytorch_model");
    view = w.get("conv_in.weight", at::kFloat);
    again = w.get("conv_in.weight", at::kFloat);
    converted = w.get("conv_in.weight", at::kBFloat16);
    // Views of one mapping: same address; a conversion is a copy.
    EXPECT_EQ(view.data_ptr(), again.data_ptr());
    EXPECT_NE(converted.data_ptr(), view.data_ptr());
    EXPECT_TRUE(view.is_contiguous());
  }
  // The Weights is gone; the view keeps its file mapped.
  EXPECT_EQ(double(view[0][0][0][0].item<float>()), 0x1.d50108p-5);
  EXPECT_TRUE(at::equal(converted, view.to(at::kBFloat16)));
  // The mapping is private: an in-place change neither faults nor reaches
  // the file.
  view.add_(1.0);
  const Weights fresh = Weights::open(tiny("tiny-sd2", "unet"), "diffusion_pytorch_model");
  EXPECT_EQ(
      double(fresh.get("conv_in.weight", at::kFloat)[0][0][0][0].item<float>()), 0x1.d50108p-5);
}

TEST(Weights, ShapeAndMissingTensorErrors) {
  const Weights w = Weights::open(tiny("tiny-sd2", "unet"), "diffusion_pytorch_model");
  const std::string msg = error_of([&] { w.get("conv_in.weight", at::kFloat, {32, 4, 3, 3}); });
  EXPECT_TRUE(contains(msg, "tensor 'conv_in.weight' in '")) << msg;
  EXPECT_TRUE(contains(msg,
      "unet/diffusion_pytorch_model.safetensors' has shape [32, 9, 3, 3] but "
      "this model's config needs [32, 4, 3, 3]"))
      << msg;
  const std::string missing = error_of([&] { w.get("conv_in.weihgt", at::kFloat); });
  EXPECT_TRUE(contains(missing, "tensor 'conv_in.weihgt' is missing from '")) << missing;
  EXPECT_TRUE(contains(missing, "diffusion_pytorch_model.safetensors")) << missing;
  EXPECT_FALSE(w.has("conv_in.weihgt"));
  EXPECT_TRUE(w.has("conv_in.weight"));
  EXPECT_EQ(w.shape("conv_in.weight"), (std::vector<int64_t>{32, 9, 3, 3}));
  EXPECT_TRUE(
      contains(error_of([&] { w.get("conv_in.weight", at::kLong); }), "refusing to truncate"));
  // A failed get marks nothing as used.
  EXPECT_EQ(w.unused().size(), 684u);
}

TEST(Weights, DTypesAlignmentAliasesAndReshape) {
  TempDir dir;
  std::vector<int64_t> ids(77);
  for (int i = 0; i < 77; ++i) ids[size_t(i)] = i;
  // bf16 of 1.5, -2 and 0.1 (0x3dcd rounds 0.1 to 0.10009765625).
  const std::vector<uint16_t> bf16 = {0x3fc0, 0xc000, 0x3dcd};
  std::vector<float> conv_shaped(16);
  for (int i = 0; i < 16; ++i) conv_shaped[size_t(i)] = float(i) / 4;
  io::write_safetensors((dir / "w.safetensors").string(),
      {{"pad", DType::U8, {1}, {9}},  // puts "odd" at an odd offset
          f32_tensor("odd", {3}, {1.25f, -2.5f, 3.75f}),
          {"text_model.embeddings.position_ids", DType::I64, {1, 77}, as_bytes(ids)},
          {"b", DType::BF16, {3}, as_bytes(bf16)}, {"u", DType::U16, {1}, {1, 0}},
          f32_tensor("mid.attentions.0.query.weight", {4, 4, 1, 1}, conv_shaped)});
  Weights w = Weights::from_files({dir / "w.safetensors"});

  const at::Tensor odd = w.get("odd", at::kFloat);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(odd.data_ptr()) % alignof(float), 0u);
  EXPECT_TRUE(at::equal(odd, at::tensor({1.25f, -2.5f, 3.75f})));

  const at::Tensor pos = w.get("text_model.embeddings.position_ids", at::kLong, {1, 77});
  EXPECT_TRUE(at::equal(pos, at::arange(77, at::kLong).reshape({1, 77})));
  EXPECT_TRUE(at::equal(w.get("text_model.embeddings.position_ids", at::kFloat),
      at::arange(77, at::kFloat).reshape({1, 77})));

  EXPECT_TRUE(at::equal(w.get("b", at::kFloat), at::tensor({1.5f, -2.0f, 0.10009765625f})));
  EXPECT_EQ(w.get("b", at::kBFloat16).scalar_type(), at::kBFloat16);
  EXPECT_TRUE(contains(error_of([&] { w.get("u", at::kFloat); }), "U16"));

  // Legacy VAE attention names and [C, C, 1, 1] conv-shaped projections.
  EXPECT_FALSE(w.has("mid.attentions.0.to_q.weight"));
  w.add_alias("mid.attentions.0.to_q.weight", "mid.attentions.0.query.weight");
  EXPECT_TRUE(w.has("mid.attentions.0.to_q.weight"));
  EXPECT_EQ(w.shape("mid.attentions.0.to_q.weight"), (std::vector<int64_t>{4, 4, 1, 1}));
  const std::string msg = error_of([&] {
    w.get("mid.attentions.0.to_q.weight", at::kFloat, {4, 4});
  });
  EXPECT_TRUE(contains(msg, "'mid.attentions.0.query.weight'")) << msg;
  EXPECT_TRUE(contains(msg, "(read as 'mid.attentions.0.to_q.weight')")) << msg;
  const at::Tensor q = w.get_reshaped("mid.attentions.0.to_q.weight", at::kFloat, {4, 4});
  EXPECT_EQ(q.sizes(), (at::IntArrayRef{4, 4}));
  EXPECT_EQ(q[1][2].item<float>(), 6.0f / 4);
  const std::string bad = error_of([&] {
    w.get_reshaped("mid.attentions.0.to_q.weight", at::kFloat, {4, 5});
  });
  EXPECT_TRUE(contains(
      bad, "has shape [4, 4, 1, 1] (16 values) but this model's config needs [4, 5] (20 values)"))
      << bad;
  EXPECT_TRUE(contains(error_of([&] { w.get("mid.attentions.0.to_k.weight", at::kFloat); }),
      "tensor 'mid.attentions.0.to_k.weight' is missing"));
  w.add_alias("x.to_k.weight", "x.key.weight");
  const std::string missing_alias = error_of([&] { w.get("x.to_k.weight", at::kFloat); });
  EXPECT_TRUE(contains(missing_alias, "tensor 'x.to_k.weight' or 'x.key.weight' is missing"))
      << missing_alias;

  // A get() that failed ("u") marks nothing as used.
  EXPECT_EQ(w.unused(), (std::vector<std::string>{"pad", "u"}));
}

TEST(Weights, DuplicateTensorAcrossFilesIsAnError) {
  TempDir dir;
  io::write_safetensors((dir / "a.safetensors").string(), {f32_tensor("x", {1}, {1})});
  io::write_safetensors((dir / "b.safetensors").string(), {f32_tensor("x", {1}, {2})});
  const std::string msg = error_of([&] {
    Weights::from_files({dir / "a.safetensors", dir / "b.safetensors"});
  });
  EXPECT_TRUE(contains(msg, "tensor 'x' is in both")) << msg;
}

// --- which files: diffusers' variant rules ---------------------------------

const std::string kBase = "diffusion_pytorch_model";

void put(const fs::path& dir, const std::string& name, float value = 1) {
  io::write_safetensors((dir / name).string(), {f32_tensor("w", {1}, {value})});
}

std::vector<std::string> found(const fs::path& dir, const std::string& variant) {
  std::vector<std::string> names;
  for (const auto& p : find_weight_files(dir, kBase, variant).files)
    names.push_back(p.filename().string());
  return names;
}

using Names = std::vector<std::string>;

TEST(WeightFiles, VariantRules) {
  TempDir plain, fp16, both, bf16;
  put(plain.path(), kBase + ".safetensors");
  put(fp16.path(), kBase + ".fp16.safetensors");
  put(both.path(), kBase + ".safetensors");
  put(both.path(), kBase + ".fp16.safetensors");
  put(bf16.path(), kBase + ".bf16.safetensors");

  EXPECT_EQ(found(plain.path(), ""), Names{kBase + ".safetensors"});
  EXPECT_EQ(found(plain.path(), "fp16"), Names{kBase + ".safetensors"});  // component without it
  EXPECT_EQ(found(fp16.path(), ""), Names{kBase + ".fp16.safetensors"});  // the only one
  EXPECT_EQ(found(fp16.path(), "fp16"), Names{kBase + ".fp16.safetensors"});
  EXPECT_EQ(found(both.path(), ""), Names{kBase + ".safetensors"});
  EXPECT_EQ(found(both.path(), "fp16"), Names{kBase + ".fp16.safetensors"});
  EXPECT_EQ(found(bf16.path(), "bf16"), Names{kBase + ".bf16.safetensors"});

  const std::string msg = error_of([&] { found(bf16.path(), ""); });
  EXPECT_TRUE(contains(msg, "no weights found in '" + bf16.path().string() + "'")) << msg;
  EXPECT_TRUE(contains(msg,
      "looked for " + kBase + ".safetensors.index.json, " + kBase + ".safetensors, " + kBase +
          ".bin.index.json, " + kBase + ".bin, " + kBase + ".safetensors.index.fp16.json"))
      << msg;
  EXPECT_TRUE(contains(msg, "The folder has " + kBase + ".bf16.safetensors")) << msg;
  const std::string fp16_for_bf16 = error_of([&] { found(fp16.path(), "bf16"); });
  EXPECT_TRUE(contains(fp16_for_bf16, kBase + ".bf16.safetensors")) << fp16_for_bf16;
}

TEST(WeightFiles, PickleFilesOfOlderFoldersAreFound) {
  // Folders saved before safetensors hold PyTorch pickles, named as diffusers
  // and transformers name them; safetensors files win when both are there.
  TempDir bin, text, fp16, both, sharded, ckpt;
  write_text(bin / (kBase + ".bin"), "pickle");
  write_text(text / "pytorch_model.bin", "pickle");
  write_text(fp16 / (kBase + ".fp16.bin"), "pickle");
  put(both.path(), kBase + ".safetensors");
  write_text(both / (kBase + ".bin"), "pickle");
  write_text(sharded / (kBase + ".bin.index.json"),
      R"({"weight_map": {"a": "x-00001-of-00002.bin", "b": "x-00002-of-00002.bin"}})");
  write_text(sharded / "x-00001-of-00002.bin", "pickle");
  write_text(sharded / "x-00002-of-00002.bin", "pickle");
  write_text(ckpt / "model.ckpt", "pickle");
  EXPECT_EQ(found(bin.path(), ""), Names{kBase + ".bin"});
  EXPECT_EQ(find_weight_files(text.path(), "model", "").files,
      std::vector<fs::path>{text / "pytorch_model.bin"});
  EXPECT_EQ(found(fp16.path(), "fp16"), Names{kBase + ".fp16.bin"});
  EXPECT_EQ(found(fp16.path(), ""), Names{kBase + ".fp16.bin"});  // the fp16 fallback
  EXPECT_EQ(found(both.path(), ""), Names{kBase + ".safetensors"});
  EXPECT_EQ(found(sharded.path(), ""), (Names{"x-00001-of-00002.bin", "x-00002-of-00002.bin"}));
  const std::string msg = error_of([&] { found(ckpt.path(), ""); });
  EXPECT_TRUE(contains(msg, "no weights found")) << msg;
  EXPECT_TRUE(contains(msg, "The folder has model.ckpt")) << msg;
}

TEST(WeightFiles, EmptyAndMissingFolders) {
  TempDir empty;
  const std::string none = error_of([&] { found(empty.path(), ""); });
  EXPECT_TRUE(contains(none, empty.path().string())) << none;
  EXPECT_TRUE(contains(none, kBase + ".safetensors")) << none;
  EXPECT_TRUE(contains(none, "Download the model's weights")) << none;
  const std::string absent = error_of([&] { found(empty / "unet", ""); });
  EXPECT_TRUE(contains(absent, "'" + (empty / "unet").string() + "' does not exist")) << absent;
  EXPECT_TRUE(contains(error_of([&] { Weights::open(empty.path(), kBase); }), "no weights found"));
}

// ------------------------------------------------ PyTorch pickle files

// Every tensor of a equals b's (same names, shapes, stored dtype, values).
void expect_same_stored_tensors(const Weights& a, const Weights& b, at::ScalarType dtype) {
  ASSERT_EQ(a.names(), b.names());
  for (const auto& name : a.names()) {
    SCOPED_TRACE(name);
    ASSERT_EQ(a.shape(name), b.shape(name));
    EXPECT_TRUE(a.get(name, dtype).equal(b.get(name, dtype)));
  }
}

TEST(PickleCheckpoints, BinFolderHasTheSafetensorsTensors) {
  // diffusers' save_pretrained(safe_serialization=False) of tiny-sd2-fp16
  // (torch.save's zip format), read through the restricted unpickler.
  const fs::path bin = sd_data() / "pickle" / "tiny-sd2-bin";
  for (const auto& [component, base] : {std::pair<std::string, std::string>{"unet", kBase},
           {"vae", kBase}, {"text_encoder", "model"}}) {
    SCOPED_TRACE(component);
    const Weights a = Weights::open(bin / component, base, "fp16");
    EXPECT_TRUE(contains(a.describe(), ".fp16.bin")) << a.describe();
    expect_same_stored_tensors(
        a, Weights::open(sd_data() / "tiny-sd2-fp16" / component, base, "fp16"), at::kHalf);
  }
}

TEST(PickleCheckpoints, LegacyFormatEqualsTheSafetensorsFile) {
  // torch.save(..., _use_new_zipfile_serialization=False): the pre-1.6 format.
  const Weights legacy = Weights::open(sd_data() / "pickle" / "legacy" / "text_encoder", "model");
  EXPECT_TRUE(contains(legacy.describe(), "pytorch_model.bin")) << legacy.describe();
  expect_same_stored_tensors(
      legacy, Weights::open(sd_data() / "tiny-sd2" / "text_encoder", "model"), at::kFloat);
}

TEST(PickleCheckpoints, HostilePickleIsRefusedAndNothingRuns) {
  // A .bin whose pickle calls os.system("touch MARKER"), as a malicious
  // checkpoint does: refused at the global, naming it; the command never runs.
  const fs::path marker = "/tmp/rip-hostile-pickle-ran";
  fs::remove(marker);
  const std::string msg =
      error_of([&] { Weights::open(sd_data() / "pickle" / "hostile" / "unet", kBase).names(); });
  EXPECT_TRUE(contains(msg, "diffusion_pytorch_model.bin")) << msg;
  EXPECT_TRUE(contains(msg, "'posix.system'")) << msg;
  EXPECT_TRUE(contains(msg, "refused")) << msg;
  EXPECT_FALSE(fs::exists(marker));
}

// ------------------------------------------------ single-file checkpoints

TEST(SingleFile, PartsHaveTheFolderTensorsUnderDiffusersNames) {
  // Files written by diffusers' convert_diffusers_to_original_stable_diffusion.py
  // from tiny-sd2 (halved: tiny-sd2-fp16's values). Mapped back, every part
  // has the folder's names and values; the VAE's attention stays in the
  // file's 1x1-conv shape, which the VAE accepts.
  const fs::path folder = sd_data() / "tiny-sd2-fp16";
  for (const char* name : {"tiny-sd2.fp16.safetensors", "tiny-sd2-openclip.fp16.ckpt"}) {
    SCOPED_TRACE(name);
    const SingleFile f = open_single_file(sd_data() / "single" / name, 3);
    EXPECT_EQ(f.openclip, std::string(name).find("openclip") != std::string::npos);
    const std::pair<const Weights*, Weights> parts[] = {
        {&f.unet, Weights::open(folder / "unet", kBase, "fp16")},
        {&f.vae, Weights::open(folder / "vae", kBase, "fp16")},
        {&f.text_encoder, Weights::open(folder / "text_encoder", "model", "fp16")}};
    for (const auto& [mine, theirs] : parts) {
      ASSERT_EQ(mine->names(), theirs.names()) << mine->describe();
      for (const auto& n : theirs.names()) {
        SCOPED_TRACE(n);
        const at::Tensor a = mine->get(n, at::kHalf), b = theirs.get(n, at::kHalf);
        ASSERT_EQ(a.numel(), b.numel());
        EXPECT_TRUE(a.reshape(-1).equal(b.reshape(-1)));
      }
    }
  }
}

TEST(SingleFile, Sd15PartsHaveTheFolderTensorsRounded) {
  // tiny-sd15 (convolutional projections) converted with --half: the
  // folder's fp32 values rounded to fp16, under the folder's names.
  const fs::path folder = sd_data() / "tiny-sd15";
  const SingleFile f = open_single_file(sd_data() / "single" / "tiny-sd15.fp16.ckpt");
  EXPECT_FALSE(f.openclip);
  EXPECT_EQ(f.unet_config["use_linear_projection"], false);
  const std::pair<const Weights*, Weights> parts[] = {
      {&f.unet, Weights::open(folder / "unet", kBase)},
      {&f.vae, Weights::open(folder / "vae", kBase)},
      {&f.text_encoder, Weights::open(folder / "text_encoder", "model")}};
  for (const auto& [mine, theirs] : parts) {
    ASSERT_EQ(mine->names(), theirs.names()) << mine->describe();
    for (const auto& n : theirs.names()) {
      SCOPED_TRACE(n);
      const at::Tensor a = mine->get(n, at::kHalf), b = theirs.get(n, at::kFloat).to(at::kHalf);
      ASSERT_EQ(a.numel(), b.numel());
      EXPECT_TRUE(a.reshape(-1).equal(b.reshape(-1)));
    }
  }
}

TEST(SingleFile, ConfigsAreInferredFromTheTensors) {
  const nlohmann::json unet = io::read_json(sd_data() / "tiny-sd2" / "unet" / "config.json");
  const nlohmann::json vae = io::read_json(sd_data() / "tiny-sd2" / "vae" / "config.json");
  const nlohmann::json text =
      io::read_json(sd_data() / "tiny-sd2" / "text_encoder" / "config.json");
  for (const char* name : {"tiny-sd2.fp16.safetensors", "tiny-sd2-openclip.fp16.ckpt"}) {
    SCOPED_TRACE(name);
    const SingleFile f = open_single_file(sd_data() / "single" / name);
    for (const char* key : {"in_channels", "out_channels", "block_out_channels", "layers_per_block",
             "down_block_types", "up_block_types", "cross_attention_dim", "use_linear_projection"})
      EXPECT_EQ(f.unet_config[key], unet[key]) << key;
    // A 32-wide context is neither SD 1.x's 768 nor SD 2's 1024.
    EXPECT_TRUE(f.unet_config.contains("num_attention_heads_unknown"));
    for (const char* key : {"block_out_channels", "layers_per_block", "latent_channels",
             "in_channels", "out_channels"})
      EXPECT_EQ(f.vae_config[key], vae[key]) << key;
    for (const char* key : {"hidden_size", "intermediate_size", "vocab_size"})
      EXPECT_EQ(f.text_encoder_config[key], text[key]) << key;
    // SD 2's text encoder runs all but OpenCLIP's last block; CLIP-L all.
    EXPECT_EQ(f.text_encoder_config["num_hidden_layers"], f.openclip ? 2 : 3);
    EXPECT_EQ(f.text_encoder_config["hidden_act"], f.openclip ? "gelu" : "quick_gelu");
  }
}

TEST(SingleFile, OtherFilesAreRefusedClearly) {
  // A diffusers component file is not a single-file checkpoint.
  const std::string unet_only = error_of([&] {
    open_single_file(sd_data() / "tiny-sd2" / "unet" / "diffusion_pytorch_model.safetensors");
  });
  EXPECT_TRUE(contains(unet_only, "not a single-file Stable Diffusion checkpoint")) << unet_only;
  EXPECT_TRUE(contains(unet_only, "model.diffusion_model")) << unet_only;
  // An extra tensor in a part is named, not skipped.
  TempDir tmp;
  const auto file =
      io::SafetensorsFile::open((sd_data() / "single" / "tiny-sd2.fp16.safetensors").string());
  std::vector<TensorData> tensors;
  for (const auto& t : file->tensors())
    tensors.push_back(
        {t.name, t.dtype, t.shape, std::vector<uint8_t>(file->data(t), file->data(t) + t.nbytes)});
  tensors.push_back(f32_tensor("model.diffusion_model.label_emb.0.0.weight", {1}, {1}));
  io::write_safetensors((tmp / "sdxl-ish.safetensors").string(), tensors);
  const std::string extra = error_of([&] { open_single_file(tmp / "sdxl-ish.safetensors"); });
  EXPECT_TRUE(contains(extra, "model.diffusion_model.label_emb.0.0.weight")) << extra;
  EXPECT_TRUE(contains(extra, "no place")) << extra;
}

// Splits a real file into two shards with an index, as save_pretrained does
// for big models (transformers/diffusers: "<base>-0000k-of-00002.safetensors"
// named by weight_map in the index).
void write_sharded(const fs::path& src, const fs::path& dir, const std::string& shard_prefix,
    const std::string& index_name) {
  const auto file = io::SafetensorsFile::open(src.string());
  std::vector<TensorData> shard[2];
  nlohmann::json map = nlohmann::json::object();
  const std::string names[2] = {
      shard_prefix + "-00001-of-00002.safetensors", shard_prefix + "-00002-of-00002.safetensors"};
  size_t i = 0;
  for (const auto& t : file->tensors()) {
    const int k = i++ < file->tensors().size() / 2 ? 0 : 1;
    shard[k].push_back(
        {t.name, t.dtype, t.shape, std::vector<uint8_t>(file->data(t), file->data(t) + t.nbytes)});
    map[t.name] = names[k];
  }
  for (int k = 0; k < 2; ++k)
    io::write_safetensors((dir / names[k]).string(), shard[k], {{"format", "pt"}});
  write_text(dir / index_name,
      nlohmann::json{{"metadata", {{"total_size", 1}}}, {"weight_map", map}}.dump(2));
}

void expect_same_tensors(const Weights& a, const Weights& b) {
  ASSERT_EQ(a.names(), b.names());
  for (const auto& name : a.names()) {
    ASSERT_TRUE(at::equal(a.get(name, at::kFloat), b.get(name, at::kFloat))) << name;
  }
}

TEST(WeightFiles, ShardedCheckpoints) {
  const fs::path src = tiny("tiny-sd2", "text_encoder") / "model.safetensors";
  const Weights whole = Weights::from_files({src});
  TempDir plain, variant, legacy;
  write_sharded(src, plain.path(), "model", "model.safetensors.index.json");
  // An index takes precedence over a single file, as in diffusers.
  put(plain.path(), "model.safetensors", 5);
  write_sharded(src, variant.path(), "model.fp16", "model.safetensors.index.fp16.json");
  write_sharded(src, legacy.path(), "model.fp16", "model.safetensors.fp16.index.json");

  const Weights w = Weights::open(plain.path(), "model");
  EXPECT_EQ(find_weight_files(plain.path(), "model", "").files.size(), 2u);
  expect_same_tensors(w, whole);
  EXPECT_TRUE(w.unused().empty());
  EXPECT_TRUE(contains(w.describe(), "model-00002-of-00002.safetensors"));
  expect_same_tensors(Weights::open(variant.path(), "model", "fp16"), whole);
  expect_same_tensors(Weights::open(variant.path(), "model"), whole);  // fp16 fallback
  expect_same_tensors(Weights::open(legacy.path(), "model", "fp16"), whole);
}

TEST(WeightFiles, BrokenShardIndexes) {
  const fs::path src = tiny("tiny-sd2", "text_encoder") / "model.safetensors";
  const std::string index = "model.safetensors.index.json";
  {
    TempDir dir;
    write_sharded(src, dir.path(), "model", index);
    fs::remove(dir / "model-00002-of-00002.safetensors");
    const std::string msg = error_of([&] { Weights::open(dir.path(), "model"); });
    EXPECT_TRUE(contains(msg, "model-00002-of-00002.safetensors' is missing: the shard index"))
        << msg;
  }
  {
    TempDir dir;
    write_sharded(src, dir.path(), "model", index);
    // Swap the shards' names: every tensor is in the other file.
    fs::rename(dir / "model-00001-of-00002.safetensors", dir / "tmp");
    fs::rename(dir / "model-00002-of-00002.safetensors", dir / "model-00001-of-00002.safetensors");
    fs::rename(dir / "tmp", dir / "model-00002-of-00002.safetensors");
    const std::string msg = error_of([&] { Weights::open(dir.path(), "model"); });
    EXPECT_TRUE(contains(msg, "the shards do not belong to this index")) << msg;
  }
  {
    TempDir dir;
    write_text(dir / index, R"({"weight_map": {"a": "../../etc/passwd"}})");
    EXPECT_TRUE(contains(error_of([&] { Weights::open(dir.path(), "model"); }),
        "which is not a file name in that folder"));
    write_text(dir / index, R"({"metadata": {}})");
    EXPECT_TRUE(
        contains(error_of([&] { Weights::open(dir.path(), "model"); }), "no \"weight_map\""));
    write_text(dir / index, R"({"weight_map": {}})");
    EXPECT_TRUE(
        contains(error_of([&] { Weights::open(dir.path(), "model"); }), "lists no tensors"));
    write_text(dir / index, "{");
    EXPECT_TRUE(contains(
        error_of([&] { Weights::open(dir.path(), "model"); }), index + "' is not valid JSON"));
  }
}

TEST(Weights, CorruptFileInAFolderNamesIt) {
  TempDir dir;
  auto bytes = read_bytes(tiny("tiny-sd2", "vae") / (kBase + ".safetensors"));
  bytes.resize(bytes.size() / 2);
  std::ofstream(dir / (kBase + ".safetensors"), std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()), long(bytes.size()));
  const std::string msg = error_of([&] { Weights::open(dir.path(), kBase); });
  EXPECT_TRUE(contains(msg, (dir / (kBase + ".safetensors")).string() + "' is truncated: tensor '"))
      << msg;
  EXPECT_TRUE(contains(msg, "re-download it")) << msg;
}

}  // namespace
}  // namespace rip::sd::test
