// SPDX-License-Identifier: LGPL-2.1-or-later
//
// The CLIP byte-level BPE tokenizer exactly as transformers' slow
// `CLIPTokenizer` (the class Stable Diffusion's model_index.json names) runs
// it in an environment without ftfy, and exactly as diffusers'
// `encode_prompt` calls it: padding="max_length", truncation=True,
// max_length=model_max_length (77). No torch here.
//
// What transformers does, in order (tokenization_utils.py, tokenization_clip.py
// and tokenization_bert.py at the pinned commit 5728b5ad):
//  1. Added tokens (bos, eos, unk, pad and any from the tokenizer files) are
//     cut out of the prompt first, longest match first; each becomes its own
//     id. SD2's pad token is "!", so every "!" in a prompt is id 0 on its own.
//  2. The pieces between them go through BERT's BasicTokenizer (control
//     characters dropped, whitespace unified, CJK ideographs spaced, NFC,
//     split on whitespace, Python str.lower()), then CLIP's pre-tokenizer
//     regex, byte-to-unicode mapping and BPE with the merges' ranks.
//  3. [bos] + ids + [eos], truncated to max_length, right-padded with pad.
// Unicode: as the reference's Python 3.11 (Unicode 14.0) sees it, on GLib's
// tables; characters assigned only since Unicode 15.0 count as unassigned
// (dropped), like Python 3.11 drops them (a Python 3.12 user's diffusers would
// keep them). Checked code point by code point against Python.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace rip::sd {

class ClipTokenizer {
 public:
  // Reads dir/vocab.json, dir/merges.txt, dir/tokenizer_config.json and
  // dir/special_tokens_map.json (plus the legacy dir/added_tokens.json) the
  // way transformers' from_pretrained does: when tokenizer_config.json has
  // "added_tokens_decoder" it alone decides the special tokens; otherwise
  // (older files such as stabilityai's) special_tokens_map.json overrides it.
  // model_max_length defaults to 77 when absent. Throws rip::Error naming the
  // file on a missing or malformed file.
  static ClipTokenizer load(const std::filesystem::path& dir);

  // The ids the text encoder gets: exactly max_length() ids.
  std::vector<int64_t> encode(const std::string& prompt) const;
  // [bos] + ids + [eos] without truncation or padding (encode_prompt's
  // "part of your input was truncated" check).
  std::vector<int64_t> encode_untruncated(const std::string& prompt) const;
  // The tokens of the prompt (BPE pieces in the byte-to-unicode alphabet,
  // "</w>" marking word ends, added tokens verbatim), without bos/eos.
  std::vector<std::string> tokenize(const std::string& prompt) const;
  // Token ids of tokenize()'s tokens (unknown pieces map to unk).
  int64_t token_to_id(const std::string& token) const;

  int64_t pad_id() const { return pad_id_; }
  int64_t bos_id() const { return bos_id_; }
  int64_t eos_id() const { return eos_id_; }
  int64_t unk_id() const { return unk_id_; }
  int max_length() const { return max_length_; }
  const std::string& pad_token() const { return pad_token_; }
  size_t vocab_size() const { return vocab_.size(); }
  size_t num_merges() const { return ranks_.size(); }

  // Exposed for tests: BasicTokenizer cleanup + lower case as transformers
  // applies it without ftfy (the text the pre-tokenizer regex sees).
  static std::string clean_text(const std::string& utf8);

  // transformers reads merge lines 1 .. 48894 of merges.txt
  // (`[1 : 49152 - 256 - 2 + 1]`); later lines are ignored.
  static constexpr size_t kMaxMergeLines = 49152 - 256 - 2;

 private:
  struct AddedToken {
    std::u32string content;
    std::string utf8;  // the same, as UTF-8
    int64_t id = 0;
    bool lstrip = false, rstrip = false, single_word = false;
  };
  struct Cache;

  ClipTokenizer();
  std::vector<std::string> bpe(const std::string& word) const;
  static constexpr size_t kMaxCachedWords = 1 << 16;
  void tokenize_plain(const std::u32string& text, std::vector<std::string>& out) const;
  std::vector<std::u32string> split_added(const std::u32string& text) const;
  const AddedToken* find_added(const std::u32string& piece) const;

  std::unordered_map<std::string, int64_t> vocab_;
  // Key: first + ' ' + second (no symbol contains a space).
  std::unordered_map<std::string, size_t> ranks_;
  std::vector<AddedToken> added_;
  size_t max_added_length_ = 0;
  bool split_special_tokens_ = false;
  int64_t pad_id_ = 0, bos_id_ = 0, eos_id_ = 0, unk_id_ = 0;
  std::string pad_token_;
  int max_length_ = 77;
  // BPE results per pre-token word, as transformers caches them; shared by
  // copies, guarded by its own mutex (encode is const and may run in
  // several threads).
  std::shared_ptr<Cache> cache_;
};

}  // namespace rip::sd
