// SPDX-License-Identifier: LGPL-2.1-or-later
#include "rip/lpips/checkpoint.h"

#include <cerrno>
#include <cstring>
#include <unordered_map>
#include <unordered_set>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rip/error.h"
#include "rip/lpips/zip.h"
#include "rip/sd/io/safetensors.h"

namespace rip::lpips {

const char*
checkpoint_format_name(CheckpointFormat format)
{
  switch (format) {
    case CheckpointFormat::Zip: return "PyTorch zip";
    case CheckpointFormat::Legacy: return "legacy PyTorch";
    case CheckpointFormat::Safetensors: return "safetensors";
  }
  return "?";
}

int64_t
TensorEntry::numel() const
{
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

struct Checkpoint::Impl {
  std::string path;
  CheckpointFormat format = CheckpointFormat::Zip;
  std::vector<uint8_t> owned;
  void* mapping = nullptr;
  const uint8_t* base = nullptr;
  uint64_t size = 0;

  std::vector<TensorEntry> tensors;
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
  // Safetensors: read by the project's safetensors reader (lib/rip/sd/io).
  std::shared_ptr<const rip::st::File> st;
  std::vector<const rip::st::TensorInfo*> st_info;  // parallel to tensors

  ~Impl()
  {
    if (mapping)
      munmap(mapping, size_t(size));
  }

  void parse();
  void parse_zip();
  void parse_legacy();
  void parse_safetensors();
  void take_state_dict(const PickleResult& r);
  [[noreturn]] void fail(const std::string& msg) const
  {
    throw Error(path + ": " + msg);
  }
};

namespace {

bool
starts_with(const uint8_t* p, uint64_t n, const char* magic, size_t m)
{
  return n >= m && std::memcmp(p, magic, m) == 0;
}

uint64_t
le64(const uint8_t* p)
{
  uint64_t v = 0;
  for (int k = 7; k >= 0; k--)
    v = (v << 8) | p[k];
  return v;
}

float
half_to_float(uint16_t h)
{
  const uint32_t sign = uint32_t(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do {
        e++;
        mant <<= 1;
      } while (!(mant & 0x400));
      bits = sign | (uint32_t(127 - 15 - e) << 23) | ((mant & 0x3ff) << 13);
    }
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

}  // namespace

void
Checkpoint::Impl::take_state_dict(const PickleResult& r)
{
  storages = r.storages;
  std::unordered_set<std::string> seen;
  for (const auto& [name, t] : r.tensors) {
    if (!seen.insert(name).second)
      fail("tensor '" + name + "' appears twice");
    TensorEntry e;
    e.name = name;
    e.dtype = storages[t.storage].dtype;
    e.shape = t.shape;
    tensors.push_back(std::move(e));
    pickled.push_back(t);
  }
}

void
Checkpoint::Impl::parse_zip()
{
  zip = read_zip_directory(base, size, path);
  // torch names every entry <archive>/...; the archive folder is the
  // file's stem at save time, so find it through data.pkl.
  std::string prefix;
  const ZipEntry* pkl = nullptr;
  for (const auto& e : zip) {
    const std::string suffix = "/data.pkl";
    if (e.name.size() > suffix.size() &&
        e.name.compare(e.name.size() - suffix.size(), suffix.size(),
            suffix) == 0 &&
        e.name.find('/') == e.name.size() - suffix.size()) {
      prefix = e.name.substr(0, e.name.size() - suffix.size());
      pkl = &e;
      break;
    }
  }
  if (!pkl)
    fail("zip archive without <folder>/data.pkl: not a checkpoint written "
        "by torch.save");
  std::unordered_map<std::string, size_t> by_name;
  for (size_t k = 0; k < zip.size(); k++)
    by_name.emplace(zip[k].name, k);
  std::vector<uint8_t> scratch;
  auto it = by_name.find(prefix + "/byteorder");
  if (it != by_name.end()) {
    const ZipEntry& e = zip[it->second];
    const uint8_t* p = zip_entry_bytes(base, size, e, scratch, path);
    if (std::string(reinterpret_cast<const char*>(p), size_t(e.size)) !=
        "little")
      fail("the tensors are stored big-endian; re-save the checkpoint on a "
          "little-endian machine");
  }
  const uint8_t* p = zip_entry_bytes(base, size, *pkl, scratch, path);
  Unpickler u(p, size_t(pkl->size), path + " (" + pkl->name + ")");
  u.load(0);
  take_state_dict(u.state_dict());
  for (const auto& s : storages) {
    auto entry = by_name.find(prefix + "/data/" + s.key);
    if (entry == by_name.end())
      fail("storage '" + s.key + "' has no entry " + prefix + "/data/" +
          s.key + " in the archive; the file is incomplete");
    storage_entry.push_back(entry->second);
  }
}

void
Checkpoint::Impl::parse_legacy()
{
  // 0x1950a86a20f9469cfc6c, little-endian, as pickle LONG1 holds it.
  static const std::vector<uint8_t> kMagic = {
      0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
  const size_t n = size_t(size);
  Unpickler magic(base, n, path);
  size_t pos = magic.load(0);
  if (!magic.is_big_int_bytes(kMagic))
    fail("starts with a pickle but not with torch's magic number: not a "
        "PyTorch checkpoint");
  Unpickler proto(base, n, path);
  pos = proto.load(pos);
  if (proto.as_int() != 1001)
    fail("legacy checkpoint protocol " + std::to_string(proto.as_int()) +
        " is not supported (only 1001, torch 0.4 to 1.5)");
  Unpickler sys(base, n, path);
  pos = sys.load(pos);
  if (!sys.dict_bool("little_endian", true))
    fail("the tensors are stored big-endian; re-save the checkpoint on a "
        "little-endian machine");
  Unpickler main(base, n, path);
  pos = main.load(pos);
  take_state_dict(main.state_dict());
  Unpickler keys(base, n, path);
  pos = keys.load(pos);
  // The raw storages follow in the order of the key list.
  uint64_t at = pos;
  std::unordered_map<std::string, const PickledStorage*> by_key;
  for (const auto& candidate : storages)
    by_key.emplace(candidate.key, &candidate);
  for (const std::string& key : keys.as_string_list()) {
    auto found = by_key.find(key);
    const PickledStorage* s = found == by_key.end() ? nullptr : found->second;
    if (!s)
      fail("storage '" + key + "' is listed but no tensor uses it");
    if (size - at < 8)
      fail("truncated: storage '" + key + "' is missing");
    const uint64_t count = le64(base + at);
    const uint64_t es = dtype_size(s->dtype);
    if (count > (size - at - 8) / es)
      fail("truncated: storage '" + key + "' needs " +
          std::to_string(count) + " elements of " + std::to_string(es) +
          " bytes, the file ends before");
    if (!legacy.emplace(key, Span{at + 8, count}).second)
      fail("storage '" + key + "' is listed twice");
    at += 8 + count * es;
  }
  for (const auto& s : storages)
    if (!legacy.count(s.key))
      fail("storage '" + s.key + "' has no data in the file");
}

void
Checkpoint::Impl::parse_safetensors()
{
  // The safetensors reader maps or takes the file itself.
  if (owned.empty()) {
    munmap(mapping, size_t(size));
    mapping = nullptr;
    st = rip::st::File::open(path);
  } else {
    st = rip::st::File::from_bytes(std::move(owned), path);
  }
  base = nullptr;
  for (const rip::st::TensorInfo& info : st->tensors()) {
    TensorEntry e;
    e.name = info.name;
    e.shape = info.shape;
    switch (info.dtype) {
      case rip::st::DType::F32: e.dtype = DType::F32; break;
      case rip::st::DType::F64: e.dtype = DType::F64; break;
      case rip::st::DType::F16: e.dtype = DType::F16; break;
      case rip::st::DType::BF16: e.dtype = DType::BF16; break;
      case rip::st::DType::I64: e.dtype = DType::I64; break;
      case rip::st::DType::I32: e.dtype = DType::I32; break;
      case rip::st::DType::I16: e.dtype = DType::I16; break;
      case rip::st::DType::I8: e.dtype = DType::I8; break;
      case rip::st::DType::U8: e.dtype = DType::U8; break;
      case rip::st::DType::Bool: e.dtype = DType::Bool; break;
      default:
        fail("tensor '" + info.name + "' has dtype " +
            rip::st::dtype_name(info.dtype) + ", which weight files for "
            "LPIPS never use");
    }
    tensors.push_back(std::move(e));
    st_info.push_back(&info);
  }
}

void
Checkpoint::Impl::parse()
{
  if (starts_with(base, size, "PK\x03\x04", 4) ||
      starts_with(base, size, "PK\x05\x06", 4)) {
    format = CheckpointFormat::Zip;
    parse_zip();
  } else if (size >= 2 && base[0] == 0x80) {
    format = CheckpointFormat::Legacy;
    parse_legacy();
  } else if (size > 262 && std::memcmp(base + 257, "ustar", 5) == 0) {
    fail("this is the tar checkpoint format of torch before 0.4, which is "
        "not supported: load it with torch and re-save it with torch.save");
  } else if (size >= 10 && le64(base) <= size - 8 && base[8] == '{') {
    format = CheckpointFormat::Safetensors;
    parse_safetensors();
  } else {
    fail("not a PyTorch checkpoint (zip or legacy .pth) nor a safetensors "
        "file");
  }
}

Checkpoint::Checkpoint(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Checkpoint::~Checkpoint() = default;

std::shared_ptr<const Checkpoint>
Checkpoint::open(const std::string& path)
{
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    throw Error("cannot open the weight file " + path + ": " +
        std::strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error("the weight file " + path + " is not a regular file");
  }
  impl->size = uint64_t(st.st_size);
  if (impl->size == 0) {
    ::close(fd);
    throw Error("the weight file " + path + " is empty (an interrupted "
        "download?)");
  }
  void* m = mmap(nullptr, size_t(impl->size), PROT_READ, MAP_PRIVATE, fd, 0);
  if (m != MAP_FAILED) {
    impl->mapping = m;
    impl->base = static_cast<const uint8_t*>(m);
  } else {
    // Some file systems cannot map: read it instead.
    impl->owned.resize(size_t(impl->size));
    size_t done = 0;
    while (done < impl->owned.size()) {
      const ssize_t r = ::read(fd, impl->owned.data() + done,
          impl->owned.size() - done);
      if (r <= 0) {
        ::close(fd);
        throw Error("cannot read the weight file " + path);
      }
      done += size_t(r);
    }
    impl->base = impl->owned.data();
  }
  ::close(fd);
  impl->parse();
  return std::shared_ptr<const Checkpoint>(new Checkpoint(std::move(impl)));
}

std::shared_ptr<const Checkpoint>
Checkpoint::from_bytes(std::vector<uint8_t> bytes, const std::string& name)
{
  auto impl = std::make_unique<Impl>();
  impl->path = name;
  impl->owned = std::move(bytes);
  impl->base = impl->owned.data();
  impl->size = impl->owned.size();
  if (impl->size == 0)
    throw Error(name + ": empty file");
  impl->parse();
  return std::shared_ptr<const Checkpoint>(new Checkpoint(std::move(impl)));
}

const std::string&
Checkpoint::path() const
{
  return impl_->path;
}

CheckpointFormat
Checkpoint::format() const
{
  return impl_->format;
}

const std::vector<TensorEntry>&
Checkpoint::tensors() const
{
  return impl_->tensors;
}

const TensorEntry*
Checkpoint::find(const std::string& name) const
{
  for (const auto& t : impl_->tensors)
    if (t.name == name)
      return &t;
  return nullptr;
}

std::vector<uint8_t>
Checkpoint::read(const TensorEntry& tensor) const
{
  const Impl& m = *impl_;
  const size_t index = size_t(&tensor - m.tensors.data());
  if (&tensor < m.tensors.data() || index >= m.tensors.size())
    throw Error(m.path + ": read() of a tensor of another file");
  const size_t es = dtype_size(tensor.dtype);
  if (m.format == CheckpointFormat::Safetensors) {
    const rip::st::TensorInfo& info = *m.st_info[index];
    const uint8_t* p = m.st->data(info);
    return std::vector<uint8_t>(p, p + size_t(info.nbytes));
  }
  const PickledTensor& t = m.pickled[index];
  const PickledStorage& s = m.storages[t.storage];
  // The root storage's bytes.
  std::vector<uint8_t> scratch;
  const uint8_t* root;
  uint64_t root_numel;
  if (m.format == CheckpointFormat::Zip) {
    const ZipEntry& e = m.zip[m.storage_entry[t.storage]];
    root = zip_entry_bytes(m.base, m.size, e, scratch, m.path);
    root_numel = e.size / es;
  } else {
    const Impl::Span& span = m.legacy.at(s.key);
    root = m.base + span.offset;
    root_numel = span.numel;
  }
  if (s.offset + s.numel > root_numel)
    throw Error(m.path + ": tensor '" + tensor.name + "' needs " +
        std::to_string(s.offset + s.numel) + " elements of storage '" +
        s.key + "', the file holds " + std::to_string(root_numel) +
        "; the file is truncated or corrupt");
  const uint64_t numel = uint64_t(tensor.numel());
  // Overlapping (broadcast) strides would address more elements than the
  // storage holds; a state dict never has them and refusing them keeps a
  // hostile file from asking for huge buffers.
  if (numel > s.numel)
    throw Error(m.path + ": tensor '" + tensor.name + "' has more elements "
        "than its storage (overlapping strides are not supported)");
  const uint8_t* first = root + (s.offset + t.offset) * es;
  std::vector<uint8_t> out(size_t(numel * es));
  if (numel == 0)
    return out;
  // Row-major contiguous: one copy. pickle.cpp checked that every element
  // the strides reach lies inside the storage view.
  bool contiguous = true;
  int64_t expect = 1;
  for (size_t d = t.shape.size(); d-- > 0;) {
    if (t.shape[d] != 1 && t.stride[d] != expect)
      contiguous = false;
    expect *= t.shape[d];
  }
  if (contiguous) {
    std::memcpy(out.data(), first, out.size());
    return out;
  }
  std::vector<int64_t> idx(t.shape.size(), 0);
  for (uint64_t k = 0; k < numel; k++) {
    uint64_t off = 0;
    for (size_t d = 0; d < idx.size(); d++)
      off += uint64_t(idx[d]) * uint64_t(t.stride[d]);
    std::memcpy(out.data() + k * es, first + off * es, es);
    for (size_t d = idx.size(); d-- > 0;) {
      if (++idx[d] < t.shape[d])
        break;
      idx[d] = 0;
    }
  }
  return out;
}

std::vector<float>
Checkpoint::read_float(const TensorEntry& tensor) const
{
  const std::vector<uint8_t> raw = read(tensor);
  const size_t n = size_t(tensor.numel());
  std::vector<float> out(n);
  switch (tensor.dtype) {
    case DType::F32:
      if (n)  // an empty vector's data() may be null
        std::memcpy(out.data(), raw.data(), n * 4);
      break;
    case DType::F64:
      for (size_t k = 0; k < n; k++) {
        double v;
        std::memcpy(&v, raw.data() + 8 * k, 8);
        out[k] = float(v);
      }
      break;
    case DType::F16:
      for (size_t k = 0; k < n; k++)
        out[k] = half_to_float(uint16_t(raw[2 * k] | (raw[2 * k + 1] << 8)));
      break;
    case DType::BF16:
      for (size_t k = 0; k < n; k++) {
        const uint32_t bits = uint32_t(raw[2 * k] | (raw[2 * k + 1] << 8))
            << 16;
        std::memcpy(&out[k], &bits, 4);
      }
      break;
    default:
      throw Error(impl_->path + ": tensor '" + tensor.name + "' holds " +
          dtype_name(tensor.dtype) + " values, expected floating point "
          "weights");
  }
  return out;
}

}  // namespace rip::lpips
