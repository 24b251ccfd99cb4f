// SPDX-License-Identifier: LGPL-2.1-or-later
#include "rip/sd/text/tokenizer.h"

#include <glib.h>

#include <algorithm>
#include <array>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>

#include "rip/error.h"
#include "rip/io/json_file.h"

namespace rip::sd {

namespace fs = std::filesystem;
using json = nlohmann::json;

// ---------------------------------------------------------------------------
// Unicode helpers reproducing what Python 3.11 (Unicode 14.0) does, on top of
// GLib's tables (Unicode 15.0 on Debian 12). Checked code point by code point
// against Python for every character: categories, str.lower() and the
// Final_Sigma context.
namespace {

// Code points unassigned in Unicode 14.0 (Python 3.11's unicodedata, the
// reference's) but assigned in Unicode 15.0/15.1 (GLib's): Python reports
// them as "Cn", which BasicTokenizer drops as control characters.
constexpr std::array<std::pair<char32_t, char32_t>, 35> kNewSinceUnicode14 = {{
    {0xCF3, 0xCF3},
    {0xECE, 0xECE},
    {0x2FFC, 0x2FFF},
    {0x31EF, 0x31EF},
    {0x10EFD, 0x10EFF},
    {0x1123F, 0x11241},
    {0x11B00, 0x11B09},
    {0x11F00, 0x11F10},
    {0x11F12, 0x11F3A},
    {0x11F3E, 0x11F59},
    {0x1342F, 0x1342F},
    {0x13439, 0x13455},
    {0x1B132, 0x1B132},
    {0x1B155, 0x1B155},
    {0x1D2C0, 0x1D2D3},
    {0x1DF25, 0x1DF2A},
    {0x1E030, 0x1E06D},
    {0x1E08F, 0x1E08F},
    {0x1E4D0, 0x1E4F9},
    {0x1F6DC, 0x1F6DC},
    {0x1F774, 0x1F776},
    {0x1F77B, 0x1F77F},
    {0x1F7D9, 0x1F7D9},
    {0x1FA75, 0x1FA77},
    {0x1FA87, 0x1FA88},
    {0x1FAAD, 0x1FAAF},
    {0x1FABB, 0x1FABD},
    {0x1FABF, 0x1FABF},
    {0x1FACE, 0x1FACF},
    {0x1FADA, 0x1FADB},
    {0x1FAE8, 0x1FAE8},
    {0x1FAF7, 0x1FAF8},
    {0x2B739, 0x2B739},
    {0x2EBF0, 0x2EE5D},
    {0x31350, 0x323AF},
}};

bool in_ranges(char32_t c, const std::pair<char32_t, char32_t>* begin,
    const std::pair<char32_t, char32_t>* end) {
  for (auto* r = begin; r != end; ++r)
    if (c >= r->first && c <= r->second) return true;
  return false;
}

GUnicodeType category(char32_t c) {
  if (in_ranges(
          c, kNewSinceUnicode14.data(), kNewSinceUnicode14.data() + kNewSinceUnicode14.size()))
    return G_UNICODE_UNASSIGNED;
  return g_unichar_type(c);
}

bool is_letter(GUnicodeType t) {
  return t == G_UNICODE_LOWERCASE_LETTER || t == G_UNICODE_MODIFIER_LETTER ||
      t == G_UNICODE_OTHER_LETTER || t == G_UNICODE_TITLECASE_LETTER ||
      t == G_UNICODE_UPPERCASE_LETTER;
}

bool is_number(GUnicodeType t) {
  return t == G_UNICODE_DECIMAL_NUMBER || t == G_UNICODE_LETTER_NUMBER ||
      t == G_UNICODE_OTHER_NUMBER;
}

// Python's str.isspace() (used by str.split/strip): bidi class WS/B/S or Zs.
bool py_isspace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
      c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
      c == 0x205F || c == 0x3000;
}

// transformers' _is_control / _is_whitespace (tokenization_utils.py).
bool is_control(char32_t c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;
  switch (category(c)) {
    case G_UNICODE_CONTROL:
    case G_UNICODE_FORMAT:
    case G_UNICODE_UNASSIGNED:
    case G_UNICODE_PRIVATE_USE:
    case G_UNICODE_SURROGATE: return true;
    default: return false;
  }
}

bool is_bert_whitespace(char32_t c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
      category(c) == G_UNICODE_SPACE_SEPARATOR;
}

// BasicTokenizer._is_chinese_char: the CJK ideograph blocks.
bool is_cjk(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
      (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
      (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
      (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

// Unicode "Cased" = Lu/Ll/Lt + Other_Lowercase + Other_Uppercase.
constexpr std::array<std::pair<char32_t, char32_t>, 24> kOtherCased = {{
    {0xAA, 0xAA},
    {0xBA, 0xBA},
    {0x2B0, 0x2B8},
    {0x2C0, 0x2C1},
    {0x2E0, 0x2E4},
    {0x345, 0x345},
    {0x37A, 0x37A},
    {0x10FC, 0x10FC},
    {0x1D2C, 0x1D6A},
    {0x1D78, 0x1D78},
    {0x1D9B, 0x1DBF},
    {0x2071, 0x2071},
    {0x207F, 0x207F},
    {0x2090, 0x209C},
    {0x2160, 0x217F},
    {0x24B6, 0x24E9},
    {0x2C7C, 0x2C7D},
    {0xA69C, 0xA69D},
    {0xA770, 0xA770},
    {0xA7F8, 0xA7F9},
    {0xAB5C, 0xAB5F},
    {0x1F130, 0x1F149},
    {0x1F150, 0x1F169},
    {0x1F170, 0x1F189},
}};

bool is_cased(char32_t c) {
  GUnicodeType t = category(c);
  return t == G_UNICODE_UPPERCASE_LETTER || t == G_UNICODE_LOWERCASE_LETTER ||
      t == G_UNICODE_TITLECASE_LETTER ||
      in_ranges(c, kOtherCased.data(), kOtherCased.data() + kOtherCased.size());
}

// Unicode "Case_Ignorable" = Mn, Me, Cf, Lm, Sk + Word_Break MidLetter,
// MidNumLet and Single_Quote.
bool is_case_ignorable(char32_t c) {
  switch (category(c)) {
    case G_UNICODE_NON_SPACING_MARK:
    case G_UNICODE_ENCLOSING_MARK:
    case G_UNICODE_FORMAT:
    case G_UNICODE_MODIFIER_LETTER:
    case G_UNICODE_MODIFIER_SYMBOL: return true;
    default: break;
  }
  static constexpr char32_t kMid[] = {0x27, 0x2E, 0x3A, 0xB7, 0x387, 0x55F, 0x5F4, 0x2018, 0x2019,
      0x2024, 0x2027, 0xFE13, 0xFE52, 0xFE55, 0xFF07, 0xFF0E, 0xFF1A};
  return std::find(std::begin(kMid), std::end(kMid), c) != std::end(kMid);
}

// Python's str.lower() on one string: full lowercase mapping (U+0130 is the
// only multi-character one) and the Final_Sigma rule for U+03A3. GLib's
// g_unichar_tolower only maps Lu/Lt; Python also maps the Roman numerals
// (Nl) and circled capitals (So).
void py_lower_append(const std::u32string& s, std::u32string& out) {
  for (size_t i = 0; i < s.size(); ++i) {
    char32_t c = s[i];
    if (c == 0x130) {
      out.push_back(U'i');
      out.push_back(0x307);
    } else if (c == 0x3A3) {
      // Final_Sigma: cased, case-ignorables, Σ, not (case-ignorables, cased).
      size_t j = i;
      while (j > 0 && is_case_ignorable(s[j - 1])) --j;
      bool final_sigma = j > 0 && is_cased(s[j - 1]);
      if (final_sigma) {
        size_t k = i + 1;
        while (k < s.size() && is_case_ignorable(s[k])) ++k;
        final_sigma = k == s.size() || !is_cased(s[k]);
      }
      out.push_back(final_sigma ? 0x3C2 : 0x3C3);
    } else if (c >= 0x2160 && c <= 0x216F) {
      out.push_back(c + 0x10);
    } else if (c >= 0x24B6 && c <= 0x24CF) {
      out.push_back(c + 26);
    } else {
      out.push_back(g_unichar_tolower(c));
    }
  }
}

// Strict UTF-8 decoding (no overlongs, surrogates or values past U+10FFFF).
// Unlike g_utf8_validate it accepts U+0000, which a Python str may hold
// (BasicTokenizer drops it).
std::u32string utf8_to_u32(const std::string& s, const char* what) {
  std::u32string out;
  out.reserve(s.size());
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  for (size_t i = 0; i < n;) {
    const unsigned char b = p[i];
    size_t len = 0;
    char32_t c = 0, min = 0;
    if (b < 0x80) {
      len = 1, c = b;
    } else if ((b & 0xE0) == 0xC0) {
      len = 2, c = b & 0x1F, min = 0x80;
    } else if ((b & 0xF0) == 0xE0) {
      len = 3, c = b & 0x0F, min = 0x800;
    } else if ((b & 0xF8) == 0xF0) {
      len = 4, c = b & 0x07, min = 0x10000;
    }
    bool ok = len > 0 && i + len <= n;
    for (size_t k = 1; ok && k < len; ++k) {
      ok = (p[i + k] & 0xC0) == 0x80;
      c = (c << 6) | (p[i + k] & 0x3F);
    }
    if (!ok || c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
      throw rip::Error(std::string(what) + " is not valid UTF-8 (byte " + std::to_string(i) +
          "); pass the text as UTF-8");
    out.push_back(c);
    i += len;
  }
  return out;
}

void append_utf8(char32_t c, std::string& out) {
  char buf[8];
  int n = g_unichar_to_utf8(c, buf);
  out.append(buf, static_cast<size_t>(n));
}

std::string u32_to_utf8(const std::u32string& s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : s) append_utf8(c, out);
  return out;
}

std::u32string nfc(const std::u32string& s) {
  std::string utf8 = u32_to_utf8(s);
  gchar* n = g_utf8_normalize(utf8.data(), static_cast<gssize>(utf8.size()), G_NORMALIZE_NFC);
  if (!n) throw rip::Error("ClipTokenizer: NFC normalisation failed (invalid UTF-8)");
  std::string normalized(n);
  g_free(n);
  return utf8_to_u32(normalized, "normalised text");
}

// Python's str.split() with no argument.
std::vector<std::u32string> py_split(const std::u32string& s) {
  std::vector<std::u32string> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && py_isspace(s[i])) ++i;
    size_t b = i;
    while (i < s.size() && !py_isspace(s[i])) ++i;
    if (i > b) out.emplace_back(s.substr(b, i - b));
  }
  return out;
}

std::u32string py_lstrip(const std::u32string& s) {
  size_t b = 0;
  while (b < s.size() && py_isspace(s[b])) ++b;
  return s.substr(b);
}

std::u32string py_rstrip(const std::u32string& s) {
  size_t e = s.size();
  while (e > 0 && py_isspace(s[e - 1])) --e;
  return s.substr(0, e);
}

// BasicTokenizer(strip_accents=False, do_split_on_punc=False).tokenize(text)
// joined with spaces, which is what CLIPTokenizer._tokenize uses without
// ftfy.
std::u32string basic_clean(const std::u32string& text) {
  // _clean_text, then _tokenize_chinese_chars.
  std::u32string cleaned;
  cleaned.reserve(text.size());
  for (char32_t c : text) {
    if (c == 0 || c == 0xFFFD || is_control(c)) continue;
    if (is_bert_whitespace(c)) {
      cleaned.push_back(U' ');
    } else if (is_cjk(c)) {
      cleaned.push_back(U' ');
      cleaned.push_back(c);
      cleaned.push_back(U' ');
    } else {
      cleaned.push_back(c);
    }
  }
  // NFC, whitespace_tokenize, lower() per token (do_lower_case; accents are
  // kept because strip_accents is False; no punctuation split), then
  // whitespace_tokenize(" ".join(...)) and CLIP's " ".join(...).
  std::u32string lowered;
  for (const auto& token : py_split(nfc(cleaned))) {
    if (!lowered.empty()) lowered.push_back(U' ');
    py_lower_append(token, lowered);
  }
  std::u32string out;
  for (const auto& token : py_split(lowered)) {
    if (!out.empty()) out.push_back(U' ');
    out += token;
  }
  return out;
}

// bytes_to_unicode(): every byte to a printable code point, as UTF-8.
const std::array<std::string, 256>& byte_encoder() {
  static const std::array<std::string, 256> table = [] {
    std::array<std::string, 256> t;
    std::array<bool, 256> printable{};
    for (int b = '!'; b <= '~'; ++b) printable[b] = true;
    for (int b = 0xA1; b <= 0xAC; ++b) printable[b] = true;
    for (int b = 0xAE; b <= 0xFF; ++b) printable[b] = true;
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      char32_t c = printable[b] ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + n++);
      append_utf8(c, t[b]);
    }
    return t;
  }();
  return table;
}

// CLIP's pre-tokenizer: findall of
//   <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
// (IGNORECASE changes nothing on lower-cased text; Python's `regex` does not
// fold U+017F to 's' here, checked). The first alternative matching at a
// position wins; the text has no whitespace but single spaces.
std::vector<std::u32string> pre_tokenize(const std::u32string& text) {
  static const std::u32string kLiterals[] = {
      U"<|startoftext|>", U"<|endoftext|>", U"'s", U"'t", U"'re", U"'ve", U"'m", U"'ll", U"'d"};
  std::vector<std::u32string> out;
  size_t i = 0;
  const size_t n = text.size();
  while (i < n) {
    bool matched = false;
    for (const auto& lit : kLiterals) {
      if (text.compare(i, lit.size(), lit) == 0) {
        out.push_back(lit);
        i += lit.size();
        matched = true;
        break;
      }
    }
    if (matched) continue;
    GUnicodeType t = category(text[i]);
    size_t b = i;
    if (is_letter(t)) {
      while (i < n && is_letter(category(text[i]))) ++i;
    } else if (is_number(t)) {
      ++i;
    } else if (!py_isspace(text[i])) {
      while (i < n && !py_isspace(text[i]) && !is_letter(category(text[i])) &&
          !is_number(category(text[i])))
        ++i;
    } else {
      ++i;
      continue;
    }
    out.emplace_back(text.substr(b, i - b));
  }
  return out;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw rip::Error("ClipTokenizer: cannot read " + path.string() +
        " (a diffusers tokenizer/ folder has vocab.json and merges.txt)");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// merges.txt as Python reads it: universal newlines, read().strip()
// .split("\n")[1 : 49152 - 256 - 2 + 1], each line split on whitespace;
// a repeated pair keeps its last rank (dict(zip(merges, range(n)))).
// Key: first + ' ' + second.
std::unordered_map<std::string, size_t> read_merge_ranks(const fs::path& path) {
  const std::u32string text = utf8_to_u32(read_file(path), path.string().c_str());
  std::u32string unified;
  unified.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == U'\r') {
      unified.push_back(U'\n');
      if (i + 1 < text.size() && text[i + 1] == U'\n') ++i;
    } else {
      unified.push_back(text[i]);
    }
  }
  unified = py_rstrip(py_lstrip(unified));
  std::unordered_map<std::string, size_t> ranks;
  size_t line_no = 0, rank = 0, begin = 0;
  while (begin <= unified.size() && line_no <= ClipTokenizer::kMaxMergeLines) {
    size_t end = unified.find(U'\n', begin);
    if (end == std::u32string::npos) end = unified.size();
    if (line_no >= 1) {
      const auto parts = py_split(unified.substr(begin, end - begin));
      if (parts.size() == 2) ranks[u32_to_utf8(parts[0]) + " " + u32_to_utf8(parts[1])] = rank;
      ++rank;  // malformed lines still take a rank, as in Python
    }
    ++line_no;
    begin = end + 1;
  }
  return ranks;
}

// A special token as transformers stores it: "text", or an AddedToken dict
// {"content": ..., "lstrip": ..., ...} (older files add "__type").
struct TokenSpec {
  std::string content;
  bool lstrip = false, rstrip = false, single_word = false;
};

TokenSpec token_spec(const json& value, const fs::path& file, const std::string& key) {
  TokenSpec spec;
  if (value.is_string()) {
    spec.content = value.get<std::string>();
  } else if (value.is_object() && value.contains("content") && value["content"].is_string()) {
    spec.content = value["content"].get<std::string>();
    auto flag = [&](const char* name) {
      return value.contains(name) && value[name].is_boolean() && value[name].get<bool>();
    };
    spec.lstrip = flag("lstrip");
    spec.rstrip = flag("rstrip");
    spec.single_word = flag("single_word");
  } else {
    throw rip::Error("ClipTokenizer: " + file.string() + ": \"" + key +
        "\" must be a string or an object with \"content\"");
  }
  return spec;
}

}  // namespace

// ---------------------------------------------------------------------------

struct ClipTokenizer::Cache {
  std::mutex mutex;
  std::unordered_map<std::string, std::vector<std::string>> words;
};

ClipTokenizer::ClipTokenizer() : cache_(std::make_shared<Cache>()) {}

std::string ClipTokenizer::clean_text(const std::string& utf8) {
  return u32_to_utf8(basic_clean(utf8_to_u32(utf8, "prompt")));
}

ClipTokenizer ClipTokenizer::load(const fs::path& dir) {
  ClipTokenizer tok;
  const fs::path vocab_path = dir / "vocab.json";
  const fs::path merges_path = dir / "merges.txt";
  const fs::path config_path = dir / "tokenizer_config.json";
  const fs::path map_path = dir / "special_tokens_map.json";
  const fs::path added_path = dir / "added_tokens.json";
  if (!fs::is_directory(dir))
    throw rip::Error("ClipTokenizer: " + dir.string() +
        " is not a folder; point it at the model's tokenizer/ folder");

  // vocab.json: {token: id}.
  json vocab = io::read_json(vocab_path);
  if (!vocab.is_object() || vocab.empty())
    throw rip::Error("ClipTokenizer: " + vocab_path.string() + " is not a {token: id} object");
  tok.vocab_.reserve(vocab.size());
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    if (!it.value().is_number_integer())
      throw rip::Error("ClipTokenizer: " + vocab_path.string() + ": the id of token \"" + it.key() +
          "\" is not an integer");
    tok.vocab_[it.key()] = it.value().get<int64_t>();
  }

  tok.ranks_ = read_merge_ranks(merges_path);

  // Which special tokens: tokenizer_config.json, overridden by
  // special_tokens_map.json only for files without "added_tokens_decoder"
  // (PreTrainedTokenizerBase._from_pretrained).
  json config = fs::exists(config_path) ? io::read_json(config_path) : json::object();
  if (!config.is_object())
    throw rip::Error("ClipTokenizer: " + config_path.string() + " is not a JSON object");
  std::map<std::string, std::pair<json, fs::path>> specials;  // key -> value, file
  for (const char* key : {"bos_token", "eos_token", "unk_token", "sep_token", "pad_token",
           "cls_token", "mask_token", "additional_special_tokens"}) {
    if (config.contains(key) && !config[key].is_null()) specials[key] = {config[key], config_path};
  }
  std::vector<AddedToken> added;  // in file order
  std::map<std::string, TokenSpec> decoder_specs;
  auto add_token = [&](const TokenSpec& spec, int64_t id) {
    AddedToken t;
    t.content = utf8_to_u32(spec.content, "an added token");
    t.utf8 = spec.content;
    t.id = id;
    t.lstrip = spec.lstrip;
    t.rstrip = spec.rstrip;
    t.single_word = spec.single_word;
    for (auto& existing : added) {
      if (existing.id == id) {  // a later entry with the same id replaces it
        existing = t;
        return;
      }
    }
    added.push_back(t);
  };
  if (config.contains("added_tokens_decoder") && config["added_tokens_decoder"].is_object()) {
    // Sorted by id, as transformers' added_tokens_decoder is.
    std::map<int64_t, TokenSpec> by_id;
    for (auto it = config["added_tokens_decoder"].begin();
         it != config["added_tokens_decoder"].end(); ++it) {
      int64_t id = 0;
      try {
        id = std::stoll(it.key());
      } catch (const std::exception&) {
        throw rip::Error("ClipTokenizer: " + config_path.string() +
            ": added_tokens_decoder key \"" + it.key() + "\" is not an id");
      }
      by_id[id] = token_spec(it.value(), config_path, "added_tokens_decoder." + it.key());
    }
    for (auto& [id, spec] : by_id) {
      add_token(spec, id);
      decoder_specs[spec.content] = spec;
    }
  } else {
    if (fs::exists(map_path)) {
      json map = io::read_json(map_path);
      if (!map.is_object())
        throw rip::Error("ClipTokenizer: " + map_path.string() + " is not a JSON object");
      for (auto it = map.begin(); it != map.end(); ++it) {
        if (it.key() == "additional_special_tokens" && specials.count(it.key()) &&
            it.value().is_array()) {
          // Appended to those of tokenizer_config.json, without repeats.
          json merged = specials[it.key()].first;
          for (const auto& v : it.value())
            if (std::find(merged.begin(), merged.end(), v) == merged.end()) merged.push_back(v);
          specials[it.key()] = {merged, map_path};
        } else {
          specials[it.key()] = {it.value(), map_path};
        }
      }
    }
    if (fs::exists(added_path)) {
      json extra = io::read_json(added_path);
      if (!extra.is_object())
        throw rip::Error("ClipTokenizer: " + added_path.string() + " is not a {token: id} object");
      for (auto it = extra.begin(); it != extra.end(); ++it) {
        if (!it.value().is_number_integer())
          throw rip::Error("ClipTokenizer: " + added_path.string() + ": id of \"" + it.key() +
              "\" is not an integer");
        TokenSpec spec;
        spec.content = it.key();
        add_token(spec, it.value().get<int64_t>());
      }
    }
    // A fast tokenizer's tokenizer.json lends the slow one its added tokens.
    const fs::path fast_path = dir / "tokenizer.json";
    if (fs::exists(fast_path)) {
      json fast = io::read_json(fast_path);
      if (fast.is_object() && fast.contains("added_tokens") && fast["added_tokens"].is_array()) {
        for (const auto& entry : fast["added_tokens"]) {
          if (!entry.is_object() || !entry.contains("id") || !entry["id"].is_number_integer())
            throw rip::Error("ClipTokenizer: " + fast_path.string() +
                ": an added_tokens entry has no integer \"id\"");
          add_token(token_spec(entry, fast_path, "added_tokens"), entry["id"].get<int64_t>());
        }
      }
    }
  }

  // CLIPTokenizer.__init__'s defaults, then every special token not yet an
  // added token is added (its vocab id when in the vocab, else a new id).
  auto spec_of = [&](const std::string& key, const char* fallback) -> std::vector<TokenSpec> {
    std::vector<TokenSpec> out;
    auto it = specials.find(key);
    if (it == specials.end()) {
      if (fallback) out.push_back(TokenSpec{fallback});
      return out;
    }
    const auto& [value, file] = it->second;
    if (key == "additional_special_tokens") {
      if (!value.is_array())
        throw rip::Error("ClipTokenizer: " + file.string() + ": \"" + key + "\" must be a list");
      for (const auto& v : value) out.push_back(token_spec(v, file, key));
    } else {
      out.push_back(token_spec(value, file, key));
    }
    // With added_tokens_decoder, a named token takes that entry's flags.
    for (auto& spec : out) {
      auto d = decoder_specs.find(spec.content);
      if (d != decoder_specs.end()) spec = d->second;
    }
    return out;
  };
  const TokenSpec bos = spec_of("bos_token", "<|startoftext|>").at(0);
  const TokenSpec eos = spec_of("eos_token", "<|endoftext|>").at(0);
  const TokenSpec unk = spec_of("unk_token", "<|endoftext|>").at(0);
  const TokenSpec pad = spec_of("pad_token", "<|endoftext|>").at(0);
  std::vector<TokenSpec> all_special = {bos, eos, unk};
  for (const char* key : {"sep_token"})
    for (auto& s : spec_of(key, nullptr)) all_special.push_back(s);
  all_special.push_back(pad);
  for (const char* key : {"cls_token", "mask_token", "additional_special_tokens"})
    for (auto& s : spec_of(key, nullptr)) all_special.push_back(s);

  auto added_id = [&](const std::u32string& content) -> const AddedToken* {
    for (const auto& t : added)
      if (t.content == content) return &t;
    return nullptr;
  };
  {
    // _add_tokens: new ids start at len(get_vocab()) (vocab + added, by key).
    std::set<std::string> keys;
    for (const auto& [k, v] : tok.vocab_) keys.insert(k);
    for (const auto& t : added) keys.insert(u32_to_utf8(t.content));
    int64_t next_id = static_cast<int64_t>(keys.size());
    for (const auto& spec : all_special) {
      if (spec.content.empty()) continue;
      std::u32string content = utf8_to_u32(spec.content, "a special token");
      if (added_id(content)) continue;
      auto v = tok.vocab_.find(spec.content);
      int64_t id = v != tok.vocab_.end() ? v->second : next_id++;
      add_token(spec, id);
    }
  }
  tok.added_ = added;
  for (const auto& t : added)
    tok.max_added_length_ = std::max(tok.max_added_length_, t.content.size());
  // The trie matches longest first regardless of order; keep ids sorted like
  // transformers' added_tokens_decoder for predictable messages.
  std::sort(tok.added_.begin(), tok.added_.end(),
      [](const AddedToken& a, const AddedToken& b) { return a.id < b.id; });

  tok.pad_token_ = pad.content;
  tok.bos_id_ = tok.token_to_id(bos.content);
  tok.eos_id_ = tok.token_to_id(eos.content);
  tok.pad_id_ = tok.token_to_id(pad.content);
  {
    auto u = tok.vocab_.find(unk.content);
    if (u == tok.vocab_.end())
      throw rip::Error("ClipTokenizer: the unknown token \"" + unk.content + "\" is not in " +
          vocab_path.string() + "; the vocabulary does not match the tokenizer files");
    tok.unk_id_ = u->second;
  }

  if (config.contains("model_max_length") && !config["model_max_length"].is_null()) {
    if (!config["model_max_length"].is_number())
      throw rip::Error(
          "ClipTokenizer: " + config_path.string() + ": model_max_length is not a number");
    double m = config["model_max_length"].get<double>();
    // transformers stores "no limit" as 1e30; the text encoder has 77 positions.
    tok.max_length_ = m > 1e6 ? 77 : static_cast<int>(m);
  }
  if (tok.max_length_ < 2)
    throw rip::Error("ClipTokenizer: " + config_path.string() + ": model_max_length " +
        std::to_string(tok.max_length_) + " leaves no room for bos and eos");
  if (config.contains("split_special_tokens") && config["split_special_tokens"].is_boolean())
    tok.split_special_tokens_ = config["split_special_tokens"].get<bool>();
  for (const char* key : {"padding_side", "truncation_side"}) {
    if (config.contains(key) && config[key].is_string() &&
        config[key].get<std::string>() != "right")
      throw rip::Error("ClipTokenizer: " + config_path.string() + ": " + key + " \"" +
          config[key].get<std::string>() +
          "\" is not supported (Stable Diffusion tokenizers use \"right\")");
  }
  return tok;
}

int64_t ClipTokenizer::token_to_id(const std::string& token) const {
  // _convert_token_to_id_with_added_voc: added tokens first, then the vocab,
  // else unk.
  for (const auto& t : added_)
    if (t.utf8 == token) return t.id;
  auto it = vocab_.find(token);
  return it != vocab_.end() ? it->second : unk_id_;
}

const ClipTokenizer::AddedToken* ClipTokenizer::find_added(const std::u32string& piece) const {
  if (piece.size() > max_added_length_) return nullptr;
  for (const auto& t : added_)
    if (t.content == piece) return &t;
  return nullptr;
}

// Trie.split of tokenization_utils.py, ported statement by statement (its
// lookahead has quirks that a plain longest-match scan would not reproduce
// for overlapping added tokens).
std::vector<std::u32string> ClipTokenizer::split_added(const std::u32string& text) const {
  struct Node {
    std::map<char32_t, int> next;
    bool end = false;
  };
  std::vector<Node> nodes(1);
  for (const auto& t : added_) {
    if (t.content.empty()) continue;
    int cur = 0;
    for (char32_t c : t.content) {
      auto it = nodes[cur].next.find(c);
      if (it == nodes[cur].next.end()) {
        nodes.emplace_back();
        int id = static_cast<int>(nodes.size()) - 1;
        nodes[cur].next[c] = id;
        cur = id;
      } else {
        cur = it->second;
      }
    }
    nodes[cur].end = true;
  }
  auto child = [&](int node, char32_t c) {
    auto it = nodes[node].next.find(c);
    return it == nodes[node].next.end() ? -1 : it->second;
  };

  const size_t n = text.size();
  std::map<size_t, int> states;  // start -> trie node (ordered as Python's)
  std::vector<size_t> offsets = {0};
  size_t skip = 0;
  for (size_t current = 0; current < n; ++current) {
    const char32_t current_char = text[current];
    if (skip && current < skip) continue;
    std::set<size_t> to_remove;
    bool reset = false;
    for (auto& [state_start, node] : states) {
      size_t start = state_start;
      if (nodes[node].end) {
        size_t end = 0;
        for (auto& [lookstart, look_node_initial] : states) {
          int looknode = look_node_initial;
          size_t lookahead_index;
          if (lookstart > start) {
            break;
          } else if (lookstart < start) {
            lookahead_index = current + 1;
            end = current + 1;
          } else {
            lookahead_index = current;
            end = current;
          }
          bool has_next = lookahead_index < n;
          char32_t next_char = has_next ? text[lookahead_index] : 0;
          if (nodes[looknode].end) {
            start = lookstart;
            end = lookahead_index;
            skip = lookahead_index;
          }
          while (has_next && child(looknode, next_char) >= 0) {
            looknode = child(looknode, next_char);
            ++lookahead_index;
            if (nodes[looknode].end) {
              start = lookstart;
              end = lookahead_index;
              skip = lookahead_index;
            }
            if (lookahead_index == n) break;
            next_char = text[lookahead_index];
          }
        }
        offsets.push_back(start);
        offsets.push_back(end);
        reset = true;
        break;
      } else if (child(node, current_char) >= 0) {
        node = child(node, current_char);
      } else {
        to_remove.insert(state_start);
      }
    }
    if (reset) {
      states.clear();
    } else {
      for (size_t s : to_remove) states.erase(s);
    }
    if (current >= skip && child(0, current_char) >= 0) states[current] = child(0, current_char);
  }
  for (auto& [start, node] : states) {
    if (nodes[node].end) {
      offsets.push_back(start);
      offsets.push_back(n);
      break;
    }
  }
  // cut_text
  offsets.push_back(n);
  std::vector<std::u32string> pieces;
  size_t start = 0;
  for (size_t end : offsets) {
    if (start >= end) continue;  // zero-width cut, or Python's logged "bug" case
    pieces.push_back(text.substr(start, end - start));
    start = end;
  }
  return pieces;
}

std::vector<std::string> ClipTokenizer::bpe(const std::string& word) const {
  {
    std::lock_guard<std::mutex> lock(cache_->mutex);
    auto it = cache_->words.find(word);
    if (it != cache_->words.end()) return it->second;
  }
  std::vector<std::string> symbols;
  if (word == "<|startoftext|>" || word == "<|endoftext|>") {
    symbols.push_back(word);  // CLIPTokenizer's cache is seeded with these
  } else {
    // The word's characters, "</w>" glued to the last one.
    for (const char* p = word.data(); p < word.data() + word.size();) {
      const char* next = g_utf8_next_char(p);
      symbols.emplace_back(p, static_cast<size_t>(next - p));
      p = next;
    }
    if (!symbols.empty()) symbols.back() += "</w>";
    std::string key;
    while (symbols.size() > 1) {
      size_t best_rank = SIZE_MAX;
      std::string first, second;
      for (size_t i = 0; i + 1 < symbols.size(); ++i) {
        key.assign(symbols[i]).append(" ").append(symbols[i + 1]);
        auto r = ranks_.find(key);
        if (r != ranks_.end() && r->second < best_rank) {
          best_rank = r->second;
          first = symbols[i];
          second = symbols[i + 1];
        }
      }
      if (best_rank == SIZE_MAX) break;
      std::vector<std::string> merged;
      merged.reserve(symbols.size());
      for (size_t i = 0; i < symbols.size();) {
        if (symbols[i] == first && i + 1 < symbols.size() && symbols[i + 1] == second) {
          merged.push_back(first + second);
          i += 2;
        } else {
          merged.push_back(symbols[i]);
          ++i;
        }
      }
      symbols.swap(merged);
    }
  }
  std::lock_guard<std::mutex> lock(cache_->mutex);
  // transformers' cache grows without bound; a long-running element that
  // sees many prompts should not.
  if (cache_->words.size() >= kMaxCachedWords) cache_->words.clear();
  cache_->words.emplace(word, symbols);
  return symbols;
}

void ClipTokenizer::tokenize_plain(
    const std::u32string& text, std::vector<std::string>& out) const {
  const auto& bytes = byte_encoder();
  for (const auto& piece : pre_tokenize(basic_clean(text))) {
    std::string utf8 = u32_to_utf8(piece), word;
    for (unsigned char b : utf8) word += bytes[b];
    for (const auto& symbol : bpe(word)) out.push_back(symbol);
  }
}

std::vector<std::string> ClipTokenizer::tokenize(const std::string& prompt) const {
  const std::u32string text = utf8_to_u32(prompt, "prompt");
  std::vector<std::u32string> pieces =
      split_special_tokens_ ? std::vector<std::u32string>{text} : split_added(text);
  // PreTrainedTokenizer.tokenize: an added token's lstrip/rstrip eat the
  // whitespace beside it; single_word glues it to a neighbouring word. As in
  // Python, the neighbours are read before this token changes them.
  for (size_t i = 0; i < pieces.size() && !split_special_tokens_; ++i) {
    const AddedToken* t = find_added(pieces[i]);
    if (!t) continue;
    const std::u32string left = i > 0 ? pieces[i - 1] : std::u32string();
    const std::u32string right = i + 1 < pieces.size() ? pieces[i + 1] : std::u32string();
    if (t->rstrip && !right.empty()) pieces[i + 1] = py_lstrip(right);
    if (t->lstrip && !left.empty()) pieces[i - 1] = py_rstrip(left);
    if (t->single_word && !left.empty() && left.back() != U' ') {
      pieces[i - 1] += pieces[i];
      pieces[i].clear();
    } else if (t->single_word && !right.empty() && right.front() != U' ') {
      pieces[i + 1] = pieces[i] + pieces[i + 1];
      pieces[i].clear();
    }
  }
  std::vector<std::string> tokens;
  for (size_t i = 0; i < pieces.size(); ++i) {
    if (pieces[i].empty()) continue;
    if (!split_special_tokens_ && find_added(pieces[i]))
      tokens.push_back(u32_to_utf8(pieces[i]));
    else
      tokenize_plain(pieces[i], tokens);
  }
  return tokens;
}

std::vector<int64_t> ClipTokenizer::encode_untruncated(const std::string& prompt) const {
  std::vector<int64_t> ids = {bos_id_};
  for (const auto& token : tokenize(prompt)) ids.push_back(token_to_id(token));
  ids.push_back(eos_id_);
  return ids;
}

std::vector<int64_t> ClipTokenizer::encode(const std::string& prompt) const {
  // truncation=True keeps the first max_length - 2 tokens, then bos/eos are
  // added; padding="max_length" appends pad ids on the right.
  std::vector<int64_t> untruncated = encode_untruncated(prompt);
  const size_t keep = static_cast<size_t>(max_length_) - 2;
  std::vector<int64_t> ids;
  ids.reserve(static_cast<size_t>(max_length_));
  ids.push_back(bos_id_);
  for (size_t i = 1; i + 1 < untruncated.size() && i <= keep; ++i) ids.push_back(untruncated[i]);
  ids.push_back(eos_id_);
  ids.resize(static_cast<size_t>(max_length_), pad_id_);
  return ids;
}

}  // namespace rip::sd
