// SPDX-License-Identifier: LGPL-2.1-or-later
//
// The safetensors reader checks the header the way the reference reader
// (huggingface/safetensors, src/tensor.rs) does, and a bit more: every size is
// computed with overflow checks in 64 bits before it is compared with the file,
// so nothing a hostile header says can make us read outside the file.
#include "rip/sd/io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <set>

#include <nlohmann/json.hpp>

#include "rip/error.h"

namespace rip::st {

namespace {

using nlohmann::json;

// The reference reader refuses larger headers (MAX_HEADER_SIZE); so do we,
// which also bounds what a hostile length can make us allocate.
constexpr uint64_t kMaxHeaderSize = 100'000'000;
// A valid header nests three deep ({name: {shape: [...]}}); anything much
// deeper is hostile, and refusing it early keeps the parser's and the json
// destructor's work bounded.
constexpr int kMaxJsonDepth = 16;

struct DTypeName {
  DType dtype;
  const char* name;
  size_t size;
};
constexpr DTypeName kDTypes[] = {
    {DType::Bool, "BOOL", 1}, {DType::U8, "U8", 1}, {DType::I8, "I8", 1},
    {DType::I16, "I16", 2}, {DType::U16, "U16", 2}, {DType::F16, "F16", 2},
    {DType::BF16, "BF16", 2}, {DType::I32, "I32", 4}, {DType::U32, "U32", 4},
    {DType::F32, "F32", 4}, {DType::F64, "F64", 8}, {DType::I64, "I64", 8},
    {DType::U64, "U64", 8},
};
// In the format but not read here (no at::ScalarType in libtorch 1.13, and no
// Stable Diffusion file uses them): named in the error so it is not mistaken
// for corruption.
constexpr const char* kOtherFormatDTypes[] = {"C64", "F8_E5M2", "F8_E4M3", "F8_E8M0",
    "F8_E4M3FNUZ", "F8_E5M2FNUZ", "F4", "F6_E2M3", "F6_E3M2"};

std::string supported_dtype_list() {
  std::string out;
  for (const auto& d : kDTypes) {
    if (!out.empty()) out += ", ";
    out += d.name;
  }
  return out;
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

// A JSON value quoted for an error message, cut short: a hostile header can
// hold megabytes in one value.
std::string short_dump(const json& value) {
  std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return text;
}

uint64_t read_le_u64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
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

  void parse(std::vector<TensorInfo>& tensors, std::map<std::string, std::string>& metadata) {
    if (size_ < 8) {
      if (size_ == 0) corrupt("the file is empty");
      truncated("it has " + std::to_string(size_) +
          " bytes, fewer than the 8-byte header length that starts every safetensors file");
    }
    const uint64_t header_len = read_le_u64(base_);
    check_not_lfs_pointer();
    if (header_len > kMaxHeaderSize) {
      corrupt("its first 8 bytes give a header length of " + std::to_string(header_len) +
          " bytes, more than the " + std::to_string(kMaxHeaderSize) +
          " the format allows (is it a safetensors file at all?)");
    }
    if (header_len > size_ - 8) {
      truncated("its header is " + std::to_string(header_len) +
          " bytes long but the file ends " + std::to_string(size_ - 8) +
          " bytes after the 8-byte length");
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
        [](const TensorInfo& a, const TensorInfo& b) { return a.name < b.name; });
  }

 private:
  // Git LFS pointers are what a clone without `git lfs` leaves behind; their
  // text would otherwise be read as an absurd header length.
  void check_not_lfs_pointer() const {
    static const char kLfs[] = "version https://git-lfs";
    const size_t n = sizeof(kLfs) - 1;
    if (size_ >= n && std::memcmp(base_, kLfs, n) == 0) {
      throw rip::Error("'" + path_ + "' is a Git LFS pointer file, not the weights: fetch the "
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
            corrupt("the JSON header nests deeper than " + std::to_string(kMaxJsonDepth) +
                " levels");
          }
          if (event == json::parse_event_t::object_start) keys_per_object.emplace_back();
          break;
        case json::parse_event_t::object_end:
          --depth;
          keys_per_object.pop_back();
          break;
        case json::parse_event_t::array_end:
          --depth;
          break;
        case json::parse_event_t::key:
          if (!keys_per_object.back().insert(parsed.get<std::string>()).second) {
            corrupt("the JSON header has the key " + short_dump(parsed) + " twice" +
                (depth == 1 ? " (two tensors with one name)" : ""));
          }
          break;
        case json::parse_event_t::value:
          break;
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

  TensorInfo read_entry(const std::string& name, const json& entry) const {
    const std::string what = "tensor '" + name + "'";
    if (!entry.is_object()) corrupt(what + " is described by " + short_dump(entry) + ", not an object");
    TensorInfo info;
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
  void check_truncation(std::vector<TensorInfo>& tensors) const {
    const TensorInfo* last = nullptr;
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
    for (const auto& d : kDTypes) {
      if (name == d.name) return d.dtype;
    }
    for (const char* other : kOtherFormatDTypes) {
      if (name == other) {
        throw rip::Error("'" + path_ + "': " + what + " has dtype " + name +
            ", which this reader does not support (it reads " + supported_dtype_list() +
            "); convert the file to F32, F16 or BF16");
      }
    }
    corrupt(what + " has the unknown dtype " + short_dump(json(name)) + " (known: " +
        supported_dtype_list() + ")");
  }

  // The tensors must tile the byte buffer exactly, as the reference reader
  // requires: no overlap (two tensors sharing bytes) and no hole (bytes that
  // belong to nobody, which is how a wrong offset usually shows).
  void check_layout(const std::vector<TensorInfo>& tensors) const {
    std::vector<const TensorInfo*> by_offset;
    for (const auto& t : tensors) by_offset.push_back(&t);
    std::sort(by_offset.begin(), by_offset.end(), [](const TensorInfo* a, const TensorInfo* b) {
      return a->offset != b->offset ? a->offset < b->offset : a->nbytes < b->nbytes;
    });
    uint64_t covered = buffer_start_;  // absolute offset reached so far
    const TensorInfo* previous = nullptr;
    for (const TensorInfo* t : by_offset) {
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

  std::string range(const TensorInfo& t) const {
    return std::to_string(t.offset) + " to " + std::to_string(t.offset + t.nbytes);
  }

  const std::string& path_;
  const uint8_t* base_;
  uint64_t size_;
  uint64_t buffer_start_ = 0;
  uint64_t buffer_size_ = 0;
};

std::string errno_text(int err) { return std::strerror(err); }

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

const char* dtype_name(DType dtype) {
  for (const auto& d : kDTypes) {
    if (d.dtype == dtype) return d.name;
  }
  return "?";
}

size_t dtype_size(DType dtype) {
  for (const auto& d : kDTypes) {
    if (d.dtype == dtype) return d.size;
  }
  return 0;
}

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;  // cannot overflow: checked when parsed
  return n;
}

std::shared_ptr<const File> File::open(const std::string& path) {
  std::shared_ptr<File> file(new File());
  file->path_ = path;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    throw rip::Error("cannot open the weights file '" + path + "': " + errno_text(err));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw rip::Error("'" + path + "' is not a regular file; expected a .safetensors file");
  }
  file->size_ = uint64_t(st.st_size);
  if (file->size_ > 0) {
    // MAP_PRIVATE with PROT_WRITE: see the comment on open() in the header.
    void* m = ::mmap(nullptr, file->size_, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (m != MAP_FAILED) {
      file->mapping_ = m;
      file->base_ = static_cast<const uint8_t*>(m);
    }
  }
  if (!file->mapping_) {
    try {
      file->owned_.resize(file->size_);
    } catch (const std::bad_alloc&) {
      ::close(fd);
      throw rip::Error("'" + path + "' could not be memory-mapped and there is not enough "
          "memory to read its " + std::to_string(file->size_) + " bytes");
    }
    uint64_t done = 0;
    while (done < file->size_) {
      const ssize_t n = ::read(fd, file->owned_.data() + done, file->size_ - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        const int err = errno;
        ::close(fd);
        throw rip::Error("cannot read the weights file '" + path + "': " +
            (n == 0 ? std::string("it shrank while being read") : errno_text(err)));
      }
      done += uint64_t(n);
    }
    file->base_ = file->owned_.data();
  }
  ::close(fd);  // the mapping stays valid without the descriptor
  file->parse();
  return file;
}

std::shared_ptr<const File> File::from_bytes(std::vector<uint8_t> bytes, const std::string& name) {
  std::shared_ptr<File> file(new File());
  file->path_ = name;
  file->owned_ = std::move(bytes);
  file->base_ = file->owned_.data();
  file->size_ = file->owned_.size();
  file->parse();
  return file;
}

File::~File() {
  if (mapping_) ::munmap(mapping_, size_);
}

void File::parse() { HeaderParser(path_, base_, size_).parse(tensors_, metadata_); }

const TensorInfo* File::find(const std::string& name) const {
  auto it = std::lower_bound(tensors_.begin(), tensors_.end(), name,
      [](const TensorInfo& t, const std::string& n) { return t.name < n; });
  return it != tensors_.end() && it->name == name ? &*it : nullptr;
}

std::vector<uint8_t> serialize(const std::vector<TensorData>& tensors,
    const std::map<std::string, std::string>& metadata) {
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
    if (t.name == "__metadata__") throw rip::Error("safetensors writer: \"__metadata__\" is not a tensor name");
    if (!names.insert(t.name).second) throw rip::Error("safetensors writer: tensor '" + t.name + "' given twice");
    uint64_t numel = 1;
    for (int64_t d : t.shape) {
      if (d < 0) throw rip::Error("safetensors writer: tensor '" + t.name + "' has a negative dimension");
      numel *= uint64_t(d);
    }
    if (numel * dtype_size(t.dtype) != t.bytes.size()) {
      throw rip::Error("safetensors writer: tensor '" + t.name + "' has " +
          std::to_string(t.bytes.size()) + " bytes but dtype " + dtype_name(t.dtype) +
          " and shape " + shape_string(t.shape) + " need " +
          std::to_string(numel * dtype_size(t.dtype)));
    }
    header += quoted(t.name) + ":{\"dtype\":\"" + dtype_name(t.dtype) + "\",\"shape\":" +
        json(t.shape).dump() + ",\"data_offsets\":[" + std::to_string(offset) + "," +
        std::to_string(offset + t.bytes.size()) + "]},";
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

void write_file(const std::string& path, const std::vector<TensorData>& tensors,
    const std::map<std::string, std::string>& metadata) {
  const std::vector<uint8_t> bytes = serialize(tensors, metadata);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (out) out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  if (out) out.close();
  if (!out) {
    const int err = errno;
    throw rip::Error("cannot write the safetensors file '" + path + "': " + errno_text(err));
  }
}

}  // namespace rip::st
