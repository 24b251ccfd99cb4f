// SPDX-License-Identifier: LGPL-2.1-or-later
//
// The safetensors reader checks the header the way the reference reader
// (huggingface/safetensors, src/tensor.rs) does, and a bit more: every size is
// computed with overflow checks in 64 bits before it is compared with the file,
// so nothing a hostile header says can make us read outside the file.
#include "rip/io/safetensors.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <set>

#include <nlohmann/json.hpp>

#include "rip/error.h"
#include "rip/io/bytes.h"
#include "rip/io/shape.h"

namespace rip::io {

namespace {

using nlohmann::json;

// The reference reader refuses larger headers (MAX_HEADER_SIZE); so do we,
// which also bounds what a hostile length can make us allocate.
constexpr uint64_t kMaxHeaderSize = 100'000'000;
// A valid header nests three deep ({name: {shape: [...]}}); anything much
// deeper is hostile, and refusing it early keeps the parser's and the json
// destructor's work bounded.
constexpr int kMaxJsonDepth = 16;

constexpr DType kDTypes[] = {DType::Bool, DType::U8, DType::I8, DType::I16, DType::U16, DType::F16,
    DType::BF16, DType::I32, DType::U32, DType::F32, DType::F64, DType::I64, DType::U64};
// In the format but not read here (no at::ScalarType in libtorch 1.13, and no
// Stable Diffusion file uses them): named in the error so it is not mistaken
// for corruption.
constexpr const char* kOtherFormatDTypes[] = {"C64", "F8_E5M2", "F8_E4M3", "F8_E8M0", "F8_E4M3FNUZ",
    "F8_E5M2FNUZ", "F4", "F6_E2M3", "F6_E3M2"};

std::string supported_dtype_list() {
  std::string out;
  for (DType d : kDTypes) {
    if (!out.empty()) out += ", ";
    out += dtype_name(d);
  }
  return out;
}

// A JSON value quoted for an error message, cut short: a hostile header can
// hold megabytes in one value.
std::string short_dump(const json& value) {
  std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return text;
}

class HeaderParser {
 public:
  HeaderParser(const std::string& path, const uint8_t* base, uint64_t size)
      : path_(path), base_(base), size_(size) {}

  [[noreturn]] void corrupt(const std::string& what) const {
    throw rip::Error("'" + path_ + "' is not a valid safetensors file: " + what +
        "; re-download or re-export it");
  }
  [[noreturn]] void truncated(const std::string& what) const {
    throw rip::Error("'" + path_ + "' is truncated: " + what + "; re-download it");
  }

  void parse(std::vector<SafetensorsEntry>& tensors, std::map<std::string, std::string>& metadata) {
    if (size_ < 8) {
      if (size_ == 0) corrupt("the file is empty");
      truncated("it has " + std::to_string(size_) +
          " bytes, fewer than the 8-byte header length that starts every safetensors file");
    }
    const uint64_t header_len = load_le(base_, 8);
    check_not_lfs_pointer();
    if (header_len > kMaxHeaderSize) {
      corrupt("its first 8 bytes give a header length of " + std::to_string(header_len) +
          " bytes, more than the " + std::to_string(kMaxHeaderSize) +
          " the format allows (is it a safetensors file at all?)");
    }
    if (header_len > size_ - 8) {
      truncated("its header is " + std::to_string(header_len) + " bytes long but the file ends " +
          std::to_string(size_ - 8) + " bytes after the 8-byte length");
    }
    if (header_len == 0 || base_[8] != '{') {
      corrupt("the JSON header does not start with '{'");
    }
    buffer_start_ = 8 + header_len;
    buffer_size_ = size_ - buffer_start_;
    const json header = parse_json(reinterpret_cast<const char*>(base_ + 8), header_len);
    if (!header.is_object()) corrupt("the JSON header is not an object");

    for (const auto& item : header.items()) {
      if (item.key() == "__metadata__") {
        read_metadata(item.value(), metadata);
      } else {
        tensors.push_back(read_entry(item.key(), item.value()));
      }
    }
    check_truncation(tensors);
    check_layout(tensors);
    std::sort(tensors.begin(), tensors.end(),
        [](const SafetensorsEntry& a, const SafetensorsEntry& b) { return a.name < b.name; });
  }

 private:
  // Git LFS pointers are what a clone without `git lfs` leaves behind; their
  // text would otherwise be read as an absurd header length.
  void check_not_lfs_pointer() const {
    static const char kLfs[] = "version https://git-lfs";
    const size_t n = sizeof(kLfs) - 1;
    if (size_ >= n && std::memcmp(base_, kLfs, n) == 0) {
      throw rip::Error("'" + path_ +
          "' is a Git LFS pointer file, not the weights: fetch the "
          "real file (`git lfs install && git lfs pull` in the model's clone, or download it "
          "again)");
    }
  }

  json parse_json(const char* text, uint64_t len) const {
    // Depth and duplicate keys are checked while parsing: nlohmann keeps the
    // last of duplicate keys silently, and the reference reader refuses them.
    std::vector<std::set<std::string>> keys_per_object;
    int depth = 0;
    auto callback = [&](int, json::parse_event_t event, json& parsed) {
      switch (event) {
        case json::parse_event_t::object_start:
        case json::parse_event_t::array_start:
          if (++depth > kMaxJsonDepth) {
            corrupt(
                "the JSON header nests deeper than " + std::to_string(kMaxJsonDepth) + " levels");
          }
          if (event == json::parse_event_t::object_start) keys_per_object.emplace_back();
          break;
        case json::parse_event_t::object_end:
          --depth;
          keys_per_object.pop_back();
          break;
        case json::parse_event_t::array_end: --depth; break;
        case json::parse_event_t::key:
          if (!keys_per_object.back().insert(parsed.get<std::string>()).second) {
            corrupt("the JSON header has the key " + short_dump(parsed) + " twice" +
                (depth == 1 ? " (two tensors with one name)" : ""));
          }
          break;
        case json::parse_event_t::value: break;
      }
      return true;
    };
    // nlohmann's lexer takes a NUL byte for the end of the input, so
    // "{...}\0garbage" would pass; JSON text never holds a raw NUL.
    if (const void* nul = std::memchr(text, 0, len)) {
      corrupt("the JSON header cannot be parsed (a NUL byte at header byte " +
          std::to_string(static_cast<const char*>(nul) - text) + ")");
    }
    try {
      return json::parse(text, text + len, callback);
    } catch (const json::exception& e) {
      // The message names the column and what the parser expected there;
      // its "[json.exception.parse_error.101] " tag is dropped.
      std::string what = e.what();
      const size_t tag_end = what.rfind("] ", what.find(' '));
      if (tag_end != std::string::npos) what = what.substr(tag_end + 2);
      corrupt("the JSON header cannot be parsed (" + what + ")");
    }
  }

  void read_metadata(const json& value, std::map<std::string, std::string>& metadata) const {
    if (value.is_null()) return;  // the reference reads it as Option<HashMap>
    if (!value.is_object()) corrupt("\"__metadata__\" is " + short_dump(value) + ", not an object");
    for (const auto& item : value.items()) {
      if (!item.value().is_string()) {
        corrupt("\"__metadata__\" maps " + short_dump(json(item.key())) + " to " +
            short_dump(item.value()) + "; its values must be strings");
      }
      metadata[item.key()] = item.value().get<std::string>();
    }
  }

  SafetensorsEntry read_entry(const std::string& name, const json& entry) const {
    const std::string what = "tensor '" + name + "'";
    if (!entry.is_object())
      corrupt(what + " is described by " + short_dump(entry) + ", not an object");
    SafetensorsEntry info;
    info.name = name;

    const auto dtype = entry.find("dtype");
    if (dtype == entry.end()) corrupt(what + " has no \"dtype\"");
    if (!dtype->is_string()) corrupt(what + " has dtype " + short_dump(*dtype) + ", not a string");
    info.dtype = parse_dtype(what, dtype->get<std::string>());

    const auto shape = entry.find("shape");
    if (shape == entry.end()) corrupt(what + " has no \"shape\"");
    if (!shape->is_array()) corrupt(what + " has shape " + short_dump(*shape) + ", not a list");
    uint64_t numel = 1;
    for (const auto& dim : *shape) {
      if (!dim.is_number_unsigned() ||
          dim.get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max())) {
        corrupt(what + " has shape " + short_dump(*shape) +
            ": dimensions must be non-negative integers");
      }
      const uint64_t d = dim.get<uint64_t>();
      info.shape.push_back(int64_t(d));
      if (__builtin_mul_overflow(numel, d, &numel) ||
          numel > uint64_t(std::numeric_limits<int64_t>::max())) {
        corrupt(what + " has shape " + short_dump(*shape) + ", whose element count overflows");
      }
    }
    uint64_t nbytes = 0;
    if (__builtin_mul_overflow(numel, uint64_t(dtype_size(info.dtype)), &nbytes)) {
      corrupt(what + " has shape " + short_dump(*shape) + ", whose byte count overflows");
    }

    const auto offsets = entry.find("data_offsets");
    if (offsets == entry.end()) corrupt(what + " has no \"data_offsets\"");
    if (!offsets->is_array() || offsets->size() != 2 || !(*offsets)[0].is_number_unsigned() ||
        !(*offsets)[1].is_number_unsigned()) {
      corrupt(what + " has data_offsets " + short_dump(*offsets) +
          ", not [begin, end] with non-negative integers");
    }
    const uint64_t begin = (*offsets)[0].get<uint64_t>();
    const uint64_t end = (*offsets)[1].get<uint64_t>();
    if (begin > end) {
      corrupt(what + " has data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
          "] that end before they begin");
    }
    if (end - begin != nbytes) {
      corrupt(what + " has data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
          "] (" + std::to_string(end - begin) + " bytes) but dtype " + dtype_name(info.dtype) +
          " and shape " + shape_string(info.shape) + " need " + std::to_string(nbytes) + " bytes");
    }
    info.offset = begin;  // relative until check_truncation() has checked it
    info.nbytes = nbytes;
    return info;
  }

  // Names the tensor that reaches furthest (the one a cut file lost), then
  // makes the offsets absolute: after this check they cannot overflow.
  void check_truncation(std::vector<SafetensorsEntry>& tensors) const {
    const SafetensorsEntry* last = nullptr;
    for (const auto& t : tensors) {
      if (!last || t.offset + t.nbytes > last->offset + last->nbytes ||
          (t.offset + t.nbytes == last->offset + last->nbytes && t.nbytes > last->nbytes)) {
        last = &t;
      }
    }
    if (last && last->offset + last->nbytes > buffer_size_) {
      const uint64_t end = last->offset + last->nbytes;
      truncated("tensor '" + last->name + "' ends at byte " +
          (end > std::numeric_limits<uint64_t>::max() - buffer_start_
                  ? std::string("(past 2^64)")
                  : std::to_string(buffer_start_ + end)) +
          " but the file has " + std::to_string(size_) + " bytes");
    }
    for (auto& t : tensors) t.offset += buffer_start_;
  }

  DType parse_dtype(const std::string& what, const std::string& name) const {
    for (DType d : kDTypes) {
      if (name == dtype_name(d)) return d;
    }
    for (const char* other : kOtherFormatDTypes) {
      if (name == other) {
        throw rip::Error("'" + path_ + "': " + what + " has dtype " + name +
            ", which this reader does not support (it reads " + supported_dtype_list() +
            "); convert the file to F32, F16 or BF16");
      }
    }
    corrupt(what + " has the unknown dtype " + short_dump(json(name)) +
        " (known: " + supported_dtype_list() + ")");
  }

  // The tensors must tile the byte buffer exactly, as the reference reader
  // requires: no overlap (two tensors sharing bytes) and no hole (bytes that
  // belong to nobody, which is how a wrong offset usually shows).
  void check_layout(const std::vector<SafetensorsEntry>& tensors) const {
    std::vector<const SafetensorsEntry*> by_offset;
    for (const auto& t : tensors) by_offset.push_back(&t);
    std::sort(by_offset.begin(), by_offset.end(),
        [](const SafetensorsEntry* a, const SafetensorsEntry* b) {
          return a->offset != b->offset ? a->offset < b->offset : a->nbytes < b->nbytes;
        });
    uint64_t covered = buffer_start_;  // absolute offset reached so far
    const SafetensorsEntry* previous = nullptr;
    for (const SafetensorsEntry* t : by_offset) {
      if (t->offset < covered) {
        corrupt("tensor '" + t->name + "' (bytes " + range(*t) + ") overlaps tensor '" +
            previous->name + "' (bytes " + range(*previous) + ")");
      }
      if (t->offset > covered) {
        corrupt("bytes " + std::to_string(covered) + " to " + std::to_string(t->offset) +
            " belong to no tensor (a hole before tensor '" + t->name + "')");
      }
      covered = t->offset + t->nbytes;
      previous = t;
    }
    if (covered != size_) {
      corrupt("bytes " + std::to_string(covered) + " to " + std::to_string(size_) +
          " at the end belong to no tensor");
    }
  }

  std::string range(const SafetensorsEntry& t) const {
    return std::to_string(t.offset) + " to " + std::to_string(t.offset + t.nbytes);
  }

  const std::string& path_;
  const uint8_t* base_;
  uint64_t size_;
  uint64_t buffer_start_ = 0;
  uint64_t buffer_size_ = 0;
};

// A JSON string literal for the writer; names must be UTF-8.
std::string quoted(const std::string& text) {
  try {
    return json(text).dump();
  } catch (const json::exception&) {
    throw rip::Error("safetensors writer: the name or metadata string " +
        json(text).dump(-1, ' ', false, json::error_handler_t::replace) + " is not valid UTF-8");
  }
}

}  // namespace

int64_t SafetensorsEntry::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;  // cannot overflow: checked when parsed
  return n;
}

std::shared_ptr<const SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  return open(MappedFile::open(path));
}

std::shared_ptr<const SafetensorsFile> SafetensorsFile::open(
    std::shared_ptr<const MappedFile> file) {
  std::shared_ptr<SafetensorsFile> st(new SafetensorsFile());
  st->file_ = std::move(file);
  st->parse();
  return st;
}

std::shared_ptr<const SafetensorsFile> SafetensorsFile::from_bytes(
    std::vector<uint8_t> bytes, const std::string& name) {
  return open(MappedFile::from_bytes(std::move(bytes), name));
}

void SafetensorsFile::parse() {
  HeaderParser(file_->path(), file_->data(), file_->size()).parse(tensors_, metadata_);
}

const SafetensorsEntry* SafetensorsFile::find(const std::string& name) const {
  auto it = std::lower_bound(tensors_.begin(), tensors_.end(), name,
      [](const SafetensorsEntry& t, const std::string& n) { return t.name < n; });
  return it != tensors_.end() && it->name == name ? &*it : nullptr;
}

std::vector<uint8_t> serialize_safetensors(
    const std::vector<TensorData>& tensors, const std::map<std::string, std::string>& metadata) {
  // Written by hand (not through nlohmann::json, whose objects sort their
  // keys) so that entries keep the caller's order; the JSON string escaping
  // is nlohmann's.
  std::string header = "{";
  if (!metadata.empty()) {
    header += "\"__metadata__\":{";
    for (const auto& [key, value] : metadata) header += quoted(key) + ":" + quoted(value) + ",";
    header.back() = '}';
    header += ",";
  }
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    if (t.name == "__metadata__")
      throw rip::Error("safetensors writer: \"__metadata__\" is not a tensor name");
    if (!names.insert(t.name).second)
      throw rip::Error("safetensors writer: tensor '" + t.name + "' given twice");
    uint64_t numel = 1;
    for (int64_t d : t.shape) {
      if (d < 0)
        throw rip::Error("safetensors writer: tensor '" + t.name + "' has a negative dimension");
      numel *= uint64_t(d);
    }
    if (numel * dtype_size(t.dtype) != t.bytes.size()) {
      throw rip::Error("safetensors writer: tensor '" + t.name + "' has " +
          std::to_string(t.bytes.size()) + " bytes but dtype " + dtype_name(t.dtype) +
          " and shape " + shape_string(t.shape) + " need " +
          std::to_string(numel * dtype_size(t.dtype)));
    }
    header += quoted(t.name) + ":{\"dtype\":\"" + dtype_name(t.dtype) +
        "\",\"shape\":" + json(t.shape).dump() + ",\"data_offsets\":[" + std::to_string(offset) +
        "," + std::to_string(offset + t.bytes.size()) + "]},";
    offset += t.bytes.size();
  }
  if (header.back() == ',') header.pop_back();
  header += "}";
  header.resize((header.size() + 7) / 8 * 8, ' ');

  std::vector<uint8_t> out;
  out.reserve(8 + header.size() + offset);
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out.push_back(uint8_t(n >> (8 * i)));
  out.insert(out.end(), header.begin(), header.end());
  for (const auto& t : tensors) out.insert(out.end(), t.bytes.begin(), t.bytes.end());
  return out;
}

void write_safetensors(const std::string& path, const std::vector<TensorData>& tensors,
    const std::map<std::string, std::string>& metadata) {
  const std::vector<uint8_t> bytes = serialize_safetensors(tensors, metadata);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (out) out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  if (out) out.close();
  if (!out) {
    const int err = errno;
    throw rip::Error("cannot write the safetensors file '" + path + "': " + std::strerror(err));
  }
}

}  // namespace rip::io
