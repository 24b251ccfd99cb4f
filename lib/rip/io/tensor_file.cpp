// SPDX-License-Identifier: LGPL-2.1-or-later
#include "rip/io/tensor_file.h"

#include <cstring>
#include <unordered_map>
#include <unordered_set>

#include "rip/error.h"
#include "rip/io/bytes.h"
#include "rip/io/pickle.h"
#include "rip/io/safetensors.h"
#include "rip/io/zip.h"

namespace rip::io {

const char* tensor_file_format_name(TensorFileFormat format) {
  switch (format) {
    case TensorFileFormat::TorchZip: return "PyTorch zip";
    case TensorFileFormat::TorchLegacy: return "legacy PyTorch";
    case TensorFileFormat::Safetensors: return "safetensors";
  }
  return "?";
}

int64_t TensorEntry::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

struct TensorFile::Impl {
  std::string path;
  TensorFileFormat format = TensorFileFormat::TorchZip;
  std::shared_ptr<const MappedFile> file;
  const uint8_t* base = nullptr;
  uint64_t size = 0;

  std::vector<TensorEntry> tensors;
  std::unordered_map<std::string, size_t> by_name;  // index into tensors
  // Zip and legacy: how each tensor views its storage.
  std::vector<PickledStorage> storages;
  std::vector<PickledTensor> pickled;  // parallel to tensors
  std::vector<ZipEntry> zip;
  std::vector<size_t> storage_entry;  // zip: entry index per storage
  struct Span {
    uint64_t offset = 0;
    uint64_t numel = 0;
  };
  std::unordered_map<std::string, Span> legacy;  // root key -> raw data
  // Where a tensor's first element lies; deflated zip entries are inflated
  // into scratch (in_mapping false).
  struct Located {
    const uint8_t* first = nullptr;
    bool contiguous = true;
    bool in_mapping = true;
  };
  Located locate(const TensorEntry& tensor, std::vector<uint8_t>& scratch) const;
  // Safetensors: read by the safetensors reader, on the same mapping.
  std::shared_ptr<const SafetensorsFile> st;
  std::vector<const SafetensorsEntry*> st_info;  // parallel to tensors

  void parse();
  void parse_zip();
  void parse_legacy();
  void parse_safetensors();
  void take_state_dict(const PickleResult& r);
  [[noreturn]] void fail(const std::string& msg) const { throw Error(path + ": " + msg); }
};

namespace {

bool starts_with(const uint8_t* p, uint64_t n, const char* magic, size_t m) {
  return n >= m && std::memcmp(p, magic, m) == 0;
}

}  // namespace

void TensorFile::Impl::take_state_dict(const PickleResult& r) {
  storages = r.storages;
  std::unordered_set<std::string> seen;
  for (const auto& [name, t] : r.tensors) {
    if (!seen.insert(name).second) fail("tensor '" + name + "' appears twice");
    TensorEntry e;
    e.name = name;
    e.dtype = storages[t.storage].dtype;
    e.shape = t.shape;
    tensors.push_back(std::move(e));
    pickled.push_back(t);
  }
}

void TensorFile::Impl::parse_zip() {
  zip = read_zip_directory(base, size, path);
  // torch names every entry <archive>/...; the archive folder is the
  // file's stem at save time, so find it through data.pkl.
  std::string prefix;
  const ZipEntry* pkl = nullptr;
  for (const auto& e : zip) {
    const std::string suffix = "/data.pkl";
    if (e.name.size() > suffix.size() &&
        e.name.compare(e.name.size() - suffix.size(), suffix.size(), suffix) == 0 &&
        e.name.find('/') == e.name.size() - suffix.size()) {
      prefix = e.name.substr(0, e.name.size() - suffix.size());
      pkl = &e;
      break;
    }
  }
  if (!pkl)
    fail(
        "zip archive without <folder>/data.pkl: not a checkpoint written "
        "by torch.save");
  std::unordered_map<std::string, size_t> entry_index;
  for (size_t k = 0; k < zip.size(); k++) entry_index.emplace(zip[k].name, k);
  std::vector<uint8_t> scratch;
  auto it = entry_index.find(prefix + "/byteorder");
  if (it != entry_index.end()) {
    const ZipEntry& e = zip[it->second];
    const uint8_t* p = zip_entry_bytes(base, size, e, scratch, path);
    if (std::string(reinterpret_cast<const char*>(p), size_t(e.size)) != "little")
      fail(
          "the tensors are stored big-endian; re-save the checkpoint on a "
          "little-endian machine");
  }
  const uint8_t* p = zip_entry_bytes(base, size, *pkl, scratch, path);
  Unpickler u(p, size_t(pkl->size), path + " (" + pkl->name + ")");
  u.load(0);
  take_state_dict(u.state_dict());
  for (const auto& s : storages) {
    auto entry = entry_index.find(prefix + "/data/" + s.key);
    if (entry == entry_index.end())
      fail("storage '" + s.key + "' has no entry " + prefix + "/data/" + s.key +
          " in the archive; the file is incomplete");
    storage_entry.push_back(entry->second);
  }
}

void TensorFile::Impl::parse_legacy() {
  // 0x1950a86a20f9469cfc6c, little-endian, as pickle LONG1 holds it.
  static const std::vector<uint8_t> kMagic = {
      0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
  const size_t n = size_t(size);
  Unpickler magic(base, n, path);
  size_t pos = magic.load(0);
  if (!magic.is_big_int_bytes(kMagic))
    fail(
        "starts with a pickle but not with torch's magic number: not a "
        "PyTorch checkpoint");
  Unpickler proto(base, n, path);
  pos = proto.load(pos);
  if (proto.as_int() != 1001)
    fail("legacy checkpoint protocol " + std::to_string(proto.as_int()) +
        " is not supported (only 1001, torch 0.4 to 1.5)");
  Unpickler sys(base, n, path);
  pos = sys.load(pos);
  if (!sys.dict_bool("little_endian", true))
    fail(
        "the tensors are stored big-endian; re-save the checkpoint on a "
        "little-endian machine");
  Unpickler main(base, n, path);
  pos = main.load(pos);
  take_state_dict(main.state_dict());
  Unpickler keys(base, n, path);
  pos = keys.load(pos);
  // The raw storages follow in the order of the key list.
  uint64_t at = pos;
  std::unordered_map<std::string, const PickledStorage*> by_key;
  for (const auto& candidate : storages) by_key.emplace(candidate.key, &candidate);
  for (const std::string& key : keys.as_string_list()) {
    auto found = by_key.find(key);
    const PickledStorage* s = found == by_key.end() ? nullptr : found->second;
    if (!s) fail("storage '" + key + "' is listed but no tensor uses it");
    if (size - at < 8) fail("truncated: storage '" + key + "' is missing");
    const uint64_t count = load_le(base + at, 8);
    const uint64_t es = dtype_size(s->dtype);
    if (count > (size - at - 8) / es)
      fail("truncated: storage '" + key + "' needs " + std::to_string(count) + " elements of " +
          std::to_string(es) + " bytes, the file ends before");
    if (!legacy.emplace(key, Span{at + 8, count}).second)
      fail("storage '" + key + "' is listed twice");
    at += 8 + count * es;
  }
  for (const auto& s : storages)
    if (!legacy.count(s.key)) fail("storage '" + s.key + "' has no data in the file");
}

void TensorFile::Impl::parse_safetensors() {
  st = SafetensorsFile::open(file);
  for (const SafetensorsEntry& info : st->tensors()) {
    TensorEntry e;
    e.name = info.name;
    e.shape = info.shape;
    e.dtype = info.dtype;
    tensors.push_back(std::move(e));
    st_info.push_back(&info);
  }
}

void TensorFile::Impl::parse() {
  if (starts_with(base, size, "PK\x03\x04", 4) || starts_with(base, size, "PK\x05\x06", 4)) {
    format = TensorFileFormat::TorchZip;
    parse_zip();
  } else if (size >= 10 && load_le(base, 8) <= size - 8 && base[8] == '{') {
    // Before the pickle test: a header of 640 bytes (0x280) starts with the
    // bytes 80 02, pickle's "protocol 2". A legacy file's first 8 bytes
    // (80 02 8a 0a and the magic number) are never a length that fits.
    format = TensorFileFormat::Safetensors;
    parse_safetensors();
  } else if (size >= 2 && base[0] == 0x80) {
    format = TensorFileFormat::TorchLegacy;
    parse_legacy();
  } else if (size > 262 && std::memcmp(base + 257, "ustar", 5) == 0) {
    fail(
        "this is the tar checkpoint format of torch before 0.4, which is "
        "not supported: load it with torch and re-save it with torch.save");
  } else {
    fail(
        "not a PyTorch checkpoint (zip or legacy .pth) nor a safetensors "
        "file");
  }
}

TensorFile::TensorFile(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TensorFile::~TensorFile() = default;

std::shared_ptr<const TensorFile> TensorFile::open(const std::string& path) {
  return open(MappedFile::open(path));
}

std::shared_ptr<const TensorFile> TensorFile::from_bytes(
    std::vector<uint8_t> bytes, const std::string& name) {
  return open(MappedFile::from_bytes(std::move(bytes), name));
}

std::shared_ptr<const TensorFile> TensorFile::open(std::shared_ptr<const MappedFile> file) {
  if (file->size() == 0)
    throw Error("the weight file " + file->path() +
        " is empty (an "
        "interrupted download?)");
  auto impl = std::make_unique<Impl>();
  impl->path = file->path();
  impl->base = file->data();
  impl->size = file->size();
  impl->file = std::move(file);
  impl->parse();
  for (size_t k = 0; k < impl->tensors.size(); k++) impl->by_name.emplace(impl->tensors[k].name, k);
  return std::shared_ptr<const TensorFile>(new TensorFile(std::move(impl)));
}

const std::string& TensorFile::path() const {
  return impl_->path;
}

TensorFileFormat TensorFile::format() const {
  return impl_->format;
}

uint64_t TensorFile::size() const {
  return impl_->size;
}

const std::map<std::string, std::string>& TensorFile::metadata() const {
  static const std::map<std::string, std::string> none;
  return impl_->st ? impl_->st->metadata() : none;
}

const std::vector<TensorEntry>& TensorFile::tensors() const {
  return impl_->tensors;
}

const TensorEntry* TensorFile::find(const std::string& name) const {
  auto it = impl_->by_name.find(name);
  return it == impl_->by_name.end() ? nullptr : &impl_->tensors[it->second];
}

TensorFile::Impl::Located TensorFile::Impl::locate(
    const TensorEntry& tensor, std::vector<uint8_t>& scratch) const {
  const size_t index = size_t(&tensor - tensors.data());
  if (&tensor < tensors.data() || index >= tensors.size())
    throw Error(path + ": read() of a tensor of another file");
  if (format == TensorFileFormat::Safetensors) return {st->data(*st_info[index]), true, true};
  const size_t es = dtype_size(tensor.dtype);
  const PickledTensor& t = pickled[index];
  const PickledStorage& s = storages[t.storage];
  // The root storage's bytes.
  const uint8_t* root;
  uint64_t root_numel;
  bool in_mapping = true;
  if (format == TensorFileFormat::TorchZip) {
    const ZipEntry& e = zip[storage_entry[t.storage]];
    root = zip_entry_bytes(base, size, e, scratch, path);
    root_numel = e.size / es;
    in_mapping = e.method == 0;
  } else {
    const Span& span = legacy.at(s.key);
    root = base + span.offset;
    root_numel = span.numel;
  }
  if (s.offset + s.numel > root_numel)
    throw Error(path + ": tensor '" + tensor.name + "' needs " +
        std::to_string(s.offset + s.numel) + " elements of storage '" + s.key +
        "', the file holds " + std::to_string(root_numel) + "; the file is truncated or corrupt");
  // Overlapping (broadcast) strides would address more elements than the
  // storage holds; a state dict never has them and refusing them keeps a
  // hostile file from asking for huge buffers.
  if (uint64_t(tensor.numel()) > s.numel)
    throw Error(path + ": tensor '" + tensor.name +
        "' has more elements "
        "than its storage (overlapping strides are not supported)");
  bool contiguous = true;
  int64_t expect = 1;
  for (size_t d = t.shape.size(); d-- > 0;) {
    if (t.shape[d] != 1 && t.stride[d] != expect) contiguous = false;
    expect *= t.shape[d];
  }
  return {root + (s.offset + t.offset) * es, contiguous, in_mapping};
}

const uint8_t* TensorFile::view(const TensorEntry& tensor) const {
  std::vector<uint8_t> scratch;
  const Impl::Located at = impl_->locate(tensor, scratch);
  return at.contiguous && at.in_mapping ? at.first : nullptr;
}

std::vector<uint8_t> TensorFile::read(const TensorEntry& tensor) const {
  std::vector<uint8_t> scratch;
  const Impl::Located at = impl_->locate(tensor, scratch);
  const size_t es = dtype_size(tensor.dtype);
  const uint64_t numel = uint64_t(tensor.numel());
  std::vector<uint8_t> out(size_t(numel * es));
  if (numel == 0) return out;
  // pickle.cpp checked that every element the strides reach lies inside the
  // storage view.
  if (at.contiguous) {
    std::memcpy(out.data(), at.first, out.size());
    return out;
  }
  const PickledTensor& t = impl_->pickled[size_t(&tensor - impl_->tensors.data())];
  std::vector<int64_t> idx(t.shape.size(), 0);
  for (uint64_t k = 0; k < numel; k++) {
    uint64_t off = 0;
    for (size_t d = 0; d < idx.size(); d++) off += uint64_t(idx[d]) * uint64_t(t.stride[d]);
    std::memcpy(out.data() + k * es, at.first + off * es, es);
    for (size_t d = idx.size(); d-- > 0;) {
      if (++idx[d] < t.shape[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

std::vector<float> TensorFile::read_float(const TensorEntry& tensor) const {
  if (!dtype_is_float(tensor.dtype))
    throw Error(impl_->path + ": tensor '" + tensor.name + "' holds " + dtype_name(tensor.dtype) +
        " values, expected floating point "
        "weights");
  const std::vector<uint8_t> raw = read(tensor);
  return to_float32(tensor.dtype, raw.data(), size_t(tensor.numel()));
}

}  // namespace rip::io
