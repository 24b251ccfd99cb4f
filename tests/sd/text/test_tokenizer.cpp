// SPDX-License-Identifier: LGPL-2.1-or-later
//
// ClipTokenizer against transformers' slow CLIPTokenizer (the goldens in
// tests/data/sd/goldens, made by make_tokenizer_goldens.py and
// make_tokenizer_variant_goldens.py in the reference harness). Ids must be
// identical: any difference changes the prompt embedding.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "rip/error.h"
#include "rip/sd/text/tokenizer.h"
#include "testutil.h"  // tests/sd/io: sd_data(), TempDir

namespace rip::sd {
namespace {

using test::sd_data;
using test::TempDir;
using json = nlohmann::json;

json read_golden_json(const std::string& name) {
  std::ifstream in(sd_data() / "goldens" / name);
  EXPECT_TRUE(in.good()) << name;
  return json::parse(in);
}

// What convert_ids_to_tokens prints for an id: the golden's "tokens" name
// unknown pieces by the unk token, ours by the piece itself.
void expect_tokens(const ClipTokenizer& tok, const std::string& prompt,
    const std::vector<std::string>& golden_tokens, const std::vector<int64_t>& golden_ids) {
  std::vector<std::string> ours = tok.tokenize(prompt);
  ASSERT_EQ(ours.size() + 2, golden_tokens.size()) << prompt;
  for (size_t i = 0; i < ours.size(); ++i) {
    if (golden_ids[i + 1] == tok.unk_id() && ours[i] != golden_tokens[i + 1]) {
      EXPECT_EQ(tok.token_to_id(ours[i]), tok.unk_id()) << prompt << " token " << i;
      continue;
    }
    EXPECT_EQ(ours[i], golden_tokens[i + 1]) << prompt << " token " << i;
  }
}

void check_family(
    const std::filesystem::path& tokenizer_dir, const std::string& golden, int64_t expected_pad) {
  const ClipTokenizer tok = ClipTokenizer::load(tokenizer_dir);
  EXPECT_EQ(tok.pad_id(), expected_pad);
  EXPECT_EQ(tok.bos_id(), 992);
  EXPECT_EQ(tok.eos_id(), 993);
  EXPECT_EQ(tok.max_length(), 77);
  EXPECT_EQ(tok.vocab_size(), 994u);
  const json cases = read_golden_json(golden);
  ASSERT_GE(cases.size(), 30u) << "regenerate " << golden << " with make_tokenizer_goldens.py";
  for (auto it = cases.begin(); it != cases.end(); ++it) {
    const std::string& prompt = it.key();
    const auto ids = it.value()["input_ids"].get<std::vector<int64_t>>();
    const auto untruncated = it.value()["untruncated_ids"].get<std::vector<int64_t>>();
    EXPECT_EQ(tok.encode(prompt), ids) << "prompt: " << json(prompt).dump();
    EXPECT_EQ(tok.encode_untruncated(prompt), untruncated) << "prompt: " << json(prompt).dump();
    expect_tokens(tok, prompt, it.value()["tokens"].get<std::vector<std::string>>(), untruncated);
  }
}

TEST(ClipTokenizer, Sd2GoldensPadWithExclamationMark) {
  check_family(sd_data() / "tiny-sd2" / "tokenizer", "tokenizer_sd2.json", 0);
}

TEST(ClipTokenizer, Sd15GoldensPadWithEndOfText) {
  check_family(sd_data() / "tiny-sd15" / "tokenizer", "tokenizer_sd15.json", 993);
}

// The re-saved fp16 folder writes the pad token as an AddedToken object.
TEST(ClipTokenizer, Fp16FolderPadTokenObject) {
  check_family(sd_data() / "tiny-sd2-fp16" / "tokenizer", "tokenizer_sd2.json", 0);
}

TEST(ClipTokenizer, ExclamationMarksAreSplitForSd2Only) {
  const ClipTokenizer sd2 = ClipTokenizer::load(sd_data() / "tiny-sd2" / "tokenizer");
  const ClipTokenizer sd15 = ClipTokenizer::load(sd_data() / "tiny-sd15" / "tokenizer");
  const std::vector<int64_t> sd2_ids = sd2.encode_untruncated("!!!");
  EXPECT_EQ(sd2_ids, (std::vector<int64_t>{992, 0, 0, 0, 993}));
  EXPECT_EQ(sd15.encode_untruncated("!!!"), (std::vector<int64_t>{992, 0, 0, 256, 993}));
  EXPECT_EQ(sd2.pad_token(), "!");
  EXPECT_EQ(sd15.pad_token(), "<|endoftext|>");
}

// Folders shaped otherwise (stabilityai's legacy files, no config, extra
// added tokens, merges.txt longer than transformers reads, CRLF, repeated
// merges): rebuilt from the recipe stored in the golden.
TEST(ClipTokenizer, FolderVariantsAsTransformersReadsThem) {
  const json variants = read_golden_json("tokenizer_variants.json");
  ASSERT_GE(variants.size(), 8u);
  const std::filesystem::path src = sd_data() / "tiny-sd2" / "tokenizer";
  std::vector<std::string> base_merges;
  {
    std::ifstream in(src / "merges.txt", std::ios::binary);
    std::string line;
    while (std::getline(in, line)) base_merges.push_back(line);
    while (!base_merges.empty() && base_merges.back().empty()) base_merges.pop_back();
  }
  for (auto it = variants.begin(); it != variants.end(); ++it) {
    SCOPED_TRACE(it.key());
    const json& v = it.value();
    const json& r = v["recipe"];
    TempDir dir;
    std::filesystem::copy_file(src / "vocab.json", dir / "vocab.json");
    {
      std::vector<std::string> lines = base_merges;
      const size_t until = r["merges_filler_until"].get<size_t>();
      for (size_t k = lines.size(); lines.size() < until; ++k)
        lines.push_back("x" + std::to_string(k) + " y" + std::to_string(k));
      for (const auto& l : r["merges_append"]) lines.push_back(l.get<std::string>());
      const std::string nl = r["merges_newline"].get<std::string>();
      std::ofstream out(dir / "merges.txt", std::ios::binary);
      for (const auto& l : lines) out << l << nl;
    }
    for (const auto& [file, key] :
        {std::pair<std::string, std::string>{"tokenizer_config.json", "tokenizer_config"},
            {"special_tokens_map.json", "special_tokens_map"}}) {
      if (!r[key].is_null())
        std::ofstream(dir / file, std::ios::binary) << r[key].get<std::string>();
    }
    const ClipTokenizer tok = ClipTokenizer::load(dir.path());
    EXPECT_EQ(tok.pad_id(), v["pad_id"].get<int64_t>());
    EXPECT_EQ(tok.bos_id(), v["bos_id"].get<int64_t>());
    EXPECT_EQ(tok.eos_id(), v["eos_id"].get<int64_t>());
    // transformers has no limit without model_max_length; we default to the
    // 77 positions of every CLIP text encoder.
    EXPECT_EQ(
        tok.max_length(), v["model_max_length"].is_null() ? 77 : v["model_max_length"].get<int>());
    for (auto c = v["cases"].begin(); c != v["cases"].end(); ++c) {
      const std::string& prompt = c.key();
      const auto untruncated = c.value()["untruncated_ids"].get<std::vector<int64_t>>();
      EXPECT_EQ(tok.encode_untruncated(prompt), untruncated) << json(prompt).dump();
      if (c.value().contains("input_ids")) {
        EXPECT_EQ(tok.encode(prompt), c.value()["input_ids"].get<std::vector<int64_t>>())
            << json(prompt).dump();
      }
      expect_tokens(tok, prompt, c.value()["tokens"].get<std::vector<std::string>>(), untruncated);
    }
  }
}

TEST(ClipTokenizer, MergeSlicingRule) {
  EXPECT_EQ(ClipTokenizer::kMaxMergeLines, 48894u);
  const ClipTokenizer tok = ClipTokenizer::load(sd_data() / "tiny-sd2" / "tokenizer");
  EXPECT_EQ(tok.num_merges(), 480u);  // every line of the tiny merges.txt after "#version"
}

TEST(ClipTokenizer, CleanTextLikeBasicTokenizer) {
  EXPECT_EQ(ClipTokenizer::clean_text("  A\tPAINTING\n\nOf  "), "a painting of");
  EXPECT_EQ(ClipTokenizer::clean_text("\xE4\xBD\xA0\xE5\xA5\xBD"), "\xE4\xBD\xA0 \xE5\xA5\xBD");
  EXPECT_EQ(ClipTokenizer::clean_text("cafe\xCC\x81"), "caf\xC3\xA9");  // NFC
  EXPECT_EQ(ClipTokenizer::clean_text("\xCE\xA3\xCE\x91\xCE\xA3"),      // ΣΑΣ -> σας
      "\xCF\x83\xCE\xB1\xCF\x82");
}

TEST(ClipTokenizer, Errors) {
  EXPECT_THROW(ClipTokenizer::load(sd_data() / "no-such-folder"), rip::Error);
  {
    TempDir dir;  // no vocab.json
    EXPECT_THROW(ClipTokenizer::load(dir.path()), rip::Error);
  }
  {
    TempDir dir;
    std::ofstream(dir / "vocab.json") << "{\"a\": ";  // truncated
    std::ofstream(dir / "merges.txt") << "#version: 0.2\n";
    EXPECT_THROW(ClipTokenizer::load(dir.path()), rip::Error);
  }
  {
    TempDir dir;
    std::ofstream(dir / "vocab.json") << "{\"a\": \"x\"}";  // id not an integer
    std::ofstream(dir / "merges.txt") << "#version: 0.2\n";
    EXPECT_THROW(ClipTokenizer::load(dir.path()), rip::Error);
  }
  {
    TempDir dir;  // unk token missing from the vocab
    std::ofstream(dir / "vocab.json") << "{\"a</w>\": 0}";
    std::ofstream(dir / "merges.txt") << "#version: 0.2\n";
    EXPECT_THROW(ClipTokenizer::load(dir.path()), rip::Error);
  }
  const ClipTokenizer tok = ClipTokenizer::load(sd_data() / "tiny-sd2" / "tokenizer");
  EXPECT_THROW(tok.encode("bad \xC3\x28 utf-8"), rip::Error);
  EXPECT_THROW(tok.encode(std::string("\xFF")), rip::Error);
}

// encode() is const and shares its BPE cache: several threads at once give
// the same ids as one.
TEST(ClipTokenizer, ThreadSafeCache) {
  const ClipTokenizer tok = ClipTokenizer::load(sd_data() / "tiny-sd2" / "tokenizer");
  const json cases = read_golden_json("tokenizer_sd2.json");
  std::vector<std::pair<std::string, std::vector<int64_t>>> expected;
  for (auto it = cases.begin(); it != cases.end(); ++it)
    expected.emplace_back(it.key(), it.value()["input_ids"].get<std::vector<int64_t>>());
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (size_t t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 20; ++round) {
        for (size_t i = 0; i < expected.size(); ++i) {
          const auto& [prompt, ids] = expected[(i + t) % expected.size()];
          if (tok.encode(prompt) != ids) ++failures;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST(ClipTokenizer, Timing) {
  using clock = std::chrono::steady_clock;
  const json cases = read_golden_json("tokenizer_sd2.json");
  std::string longest;
  for (auto it = cases.begin(); it != cases.end(); ++it)
    if (it.key().size() > longest.size()) longest = it.key();
  auto t0 = clock::now();
  const ClipTokenizer tok = ClipTokenizer::load(sd_data() / "tiny-sd2" / "tokenizer");
  auto t1 = clock::now();
  tok.encode(longest);  // fills the cache
  auto t2 = clock::now();
  for (int i = 0; i < 100; ++i) tok.encode(longest);
  auto t3 = clock::now();
  auto ms = [](auto a, auto b) { return std::chrono::duration<double, std::milli>(b - a).count(); };
  std::printf(
      "tokenizer: load %.2f ms, first encode of a %zu-byte prompt %.3f ms, cached %.3f ms\n",
      ms(t0, t1), longest.size(), ms(t1, t2), ms(t2, t3) / 100);
}

}  // namespace
}  // namespace rip::sd
