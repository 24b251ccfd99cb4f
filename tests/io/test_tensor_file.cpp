// SPDX-License-Identifier: LGPL-2.1-or-later
//
// The torch-free weight-file readers: real torch.save output (zip), lpips'
// legacy .pth files, safetensors, checked against what torch.load reads
// (CRC-32 of every tensor, from the reference harness); and hostile input:
// code-running pickles, truncation, corruption.
#include <zlib.h>

#include <string>
#include <vector>

#include "rip/error.h"
#include "rip/io/tensor_file.h"
#include "rip/io/pickle.h"
#include "../lpips/testutil.h"

using namespace rip::io;
using lpipstest::contains_all;
using lpipstest::error_of;

namespace {

uint32_t crc_of(const std::vector<uint8_t>& bytes) {
  return uint32_t(crc32(crc32(0L, Z_NULL, 0), bytes.data(), uInt(bytes.size())));
}

std::string path_of(const std::string& ref) {
  const auto colon = ref.find(':');
  if (ref.substr(0, colon) == "shared")
    return lpipstest::shared_dir() + "/data/lpips/" + ref.substr(colon + 1);
  return lpipstest::data_dir() + "/" + ref.substr(colon + 1);
}

// Every tensor torch.load found, with the same shape and bytes, and nothing
// else.
void expect_matches_torch_load(const std::string& ref) {
  SCOPED_TRACE(ref);
  const auto& want = lpipstest::goldens()["checkpoints"][ref];
  ASSERT_FALSE(want.is_null()) << "no checksums for " << ref;
  auto ck = TensorFile::open(path_of(ref));
  EXPECT_EQ(ck->tensors().size(), want.size());
  for (const auto& [name, info] : want.items()) {
    const TensorEntry* t = ck->find(name);
    ASSERT_NE(t, nullptr) << name;
    EXPECT_EQ(t->dtype, DType::F32) << name;
    EXPECT_EQ(t->shape, info["shape"].get<std::vector<int64_t>>()) << name;
    EXPECT_EQ(crc_of(ck->read(*t)), info["crc32"].get<uint32_t>()) << name;
  }
}

// A string literal with its NUL bytes (hand-made pickles).
#define P(lit) std::string(lit, sizeof(lit) - 1)

// pickle opcodes spelled out, for hand-made hostile pickles.
std::vector<uint8_t> bytes(const std::string& s) {
  return std::vector<uint8_t>(s.begin(), s.end());
}

std::string unpickle_error(const std::string& pickle) {
  return error_of([&] {
    auto b = bytes(pickle);
    Unpickler u(b.data(), b.size(), "test.pkl");
    u.load(0);
    u.state_dict();
  });
}

}  // namespace

// ---------------------------------------------------------- real files

TEST(TensorFile, TorchSaveZipBackbonesMatchTorchLoad) {
  for (const char* ref : {"data:alexnet.pth", "data:squeezenet1_1.pth"}) {
    expect_matches_torch_load(ref);
    EXPECT_EQ(TensorFile::open(path_of(ref))->format(), TensorFileFormat::TorchZip);
  }
}

TEST(TensorFile, LegacyLinFilesMatchTorchLoad) {
  // v0.0 files use torch._utils._rebuild_tensor, v0.1 _rebuild_tensor_v2;
  // both are pickled by Python 2 (SHORT_BINSTRING keys, OrderedDict built
  // from a list of pairs) with cuda:0 storages.
  for (const char* net : {"alex", "vgg", "squeeze"}) {
    const std::string ref = std::string("data:lin_v0.0/") + net + ".pth";
    expect_matches_torch_load(ref);
    EXPECT_EQ(TensorFile::open(path_of(ref))->format(), TensorFileFormat::TorchLegacy);
  }
  LPIPS_NEEDS_SHARED();
  for (const char* net : {"alex", "vgg", "squeeze"})
    expect_matches_torch_load(std::string("shared:weights/v0.1/") + net + ".pth");
}

TEST(TensorFile, LegacyZipAndSafetensorsCopiesAreIdentical) {
  LPIPS_NEEDS_SHARED();
  for (const char* net : {"alex", "vgg", "squeeze"}) {
    SCOPED_TRACE(net);
    auto legacy = TensorFile::open(lpipstest::shared_lin(net));
    auto zip = TensorFile::open(
        lpipstest::shared_dir() + "/data/lpips/weights/v0.1-zip-plaindict/" + net + ".pt");
    auto st = TensorFile::open(lpipstest::data_dir() + "/lin_v0.1_" + net + ".safetensors");
    EXPECT_EQ(st->format(), TensorFileFormat::Safetensors);
    ASSERT_EQ(legacy->tensors().size(), zip->tensors().size());
    ASSERT_EQ(legacy->tensors().size(), st->tensors().size());
    for (const auto& t : legacy->tensors()) {
      for (auto other : {zip, st}) {
        const TensorEntry* o = other->find(t.name);
        ASSERT_NE(o, nullptr) << t.name;
        EXPECT_EQ(o->shape, t.shape);
        EXPECT_EQ(other->read(*o), legacy->read(t)) << t.name;
      }
    }
  }
}

TEST(TensorFile, DeflatedZipEntriesAreInflated) {
  expect_matches_torch_load("data:alex_deflated.pt");
}

// view() is the zero-copy path sd's Weights takes: every tensor stored
// contiguously and uncompressed is viewed in the mapping with exactly the
// bytes read() copies out; a deflated entry has no view and is copied.
TEST(TensorFile, ViewsAreTheStoredBytesInPlace) {
  LPIPS_NEEDS_SHARED();
  for (const std::string& file :
      {lpipstest::shared_lin("alex"), lpipstest::data_dir() + "/lin_v0.1_alex.safetensors"}) {
    SCOPED_TRACE(file);
    auto f = TensorFile::open(file);
    ASSERT_FALSE(f->tensors().empty());
    for (const auto& t : f->tensors()) {
      const uint8_t* v = f->view(t);
      ASSERT_NE(v, nullptr) << t.name;
      const std::vector<uint8_t> copy = f->read(t);
      EXPECT_EQ(std::vector<uint8_t>(v, v + copy.size()), copy) << t.name;
    }
  }
  auto deflated = TensorFile::open(path_of("data:alex_deflated.pt"));
  for (const auto& t : deflated->tensors()) EXPECT_EQ(deflated->view(t), nullptr) << t.name;
}

TEST(TensorFile, LinWeightSumsAreThePublishedOnes) {
  LPIPS_NEEDS_SHARED();
  // lpips-spec §2.1 (torch.load on Debian 12).
  auto ck = TensorFile::open(lpipstest::shared_lin("alex"));
  const double sums[] = {2.34953, 16.1430, 39.2684, 27.1972, 20.3172};
  for (int k = 0; k < 5; k++) {
    const TensorEntry* t = ck->find("lin" + std::to_string(k) + ".model.1.weight");
    ASSERT_NE(t, nullptr);
    double sum = 0;
    for (float v : ck->read_float(*t)) sum += v;
    EXPECT_NEAR(sum, sums[k], 1e-4) << k;
  }
}

// ------------------------------------------------------ hostile pickles

TEST(Unpickler, RefusesToCallAnythingElse) {
  // pickle.dumps(os.system) / eval / NEWOBJ: refused at the GLOBAL, naming
  // it; nothing from the file ever runs.
  EXPECT_TRUE(contains_all(unpickle_error(P("\x80\x02"
                                            "cposix\nsystem\nq\x00X\x02\x00\x00\x00lsq\x01\x85R.")),
      {"refused", "'posix.system'"}));
  EXPECT_TRUE(contains_all(unpickle_error(P("\x80\x02"
                                            "cbuiltins\neval\nX\x01\x00\x00\x00"
                                            "1\x85R.")),
      {"refused", "'builtins.eval'"}));
  // STACK_GLOBAL (protocol 4).
  EXPECT_TRUE(contains_all(
      unpickle_error("\x80\x04\x8c\x02os\x8c\x06system\x93."), {"refused", "'os.system'"}));
  // A whitelisted name called in a way a state dict never does.
  EXPECT_TRUE(contains_all(unpickle_error("\x80\x02"
                                          "ctorch\nFloatStorage\n)R."),
      {"refused", "torch.FloatStorage(...)"}));
  EXPECT_TRUE(contains_all(unpickle_error("\x80\x02"
                                          "ccollections\nOrderedDict\n)\x81."),
      {"refused", "collections.OrderedDict (object creation)"}));
  EXPECT_TRUE(contains_all(unpickle_error("\x80\x02"
                                          "ctorch._utils\n_rebuild_from_type_v2\n."),
      {"refused", "torch._utils._rebuild_from_type_v2"}));
}

TEST(Unpickler, ChecksEveryIndexAndLength) {
  EXPECT_TRUE(contains_all(unpickle_error(P("\x80\x02h\x05.")), {"memo entry 5"}));
  EXPECT_TRUE(contains_all(unpickle_error("\x80\x02X\xff\xff\xff\x7f"), {"truncated"}));
  EXPECT_TRUE(contains_all(unpickle_error("\x80\x02."), {"underflow"}));
  EXPECT_TRUE(contains_all(unpickle_error("\x80\x02]"), {"truncated"}));
  EXPECT_TRUE(contains_all(
      unpickle_error(P("\x80\x02]q\x00.")), {"holds a pickled list, not a state dict"}));
  EXPECT_TRUE(contains_all(unpickle_error("\x80\x02\xff."), {"unsupported pickle opcode 0xff"}));
  EXPECT_TRUE(contains_all(unpickle_error("\x80\x02(t"), {"truncated"}));
  // APPEND into a dict.
  EXPECT_TRUE(contains_all(unpickle_error("\x80\x02}Na."), {"APPEND target is a dict"}));
}

TEST(Unpickler, RefusesTensorsOutsideTheirStorage) {
  // {'w': _rebuild_tensor_v2(storage('0', FloatStorage, 4 elements),
  //  offset, size, stride, False, None)}
  auto state_dict = [](const std::string& offset, const std::string& size,
                        const std::string& stride) {
    return P("\x80\x02}X\x01\x00\x00\x00w") + "ctorch._utils\n_rebuild_tensor_v2\n(" +
        P("(X\x07\x00\x00\x00storagectorch\nFloatStorage\n"
          "X\x01\x00\x00\x00"
          "0X\x03\x00\x00\x00"
          "cpuK\x04tQ") +
        offset + size + stride + "\x89NtRs.";
  };
  // 4 elements: fine.
  EXPECT_NO_THROW({
    auto b = bytes(state_dict(P("K\x00"), "K\x04\x85", "K\x01\x85"));
    Unpickler u(b.data(), b.size(), "test.pkl");
    u.load(0);
    EXPECT_EQ(u.state_dict().tensors.size(), 1u);
  });
  // Reaches element 4 of 4.
  EXPECT_TRUE(contains_all(unpickle_error(state_dict(P("K\x00"), "K\x03\x85", "K\x02\x85")),
      {"tensor reaches element 4 of a storage of 4"}));
  EXPECT_TRUE(contains_all(
      unpickle_error(state_dict("K\x01", "K\x04\x85", "K\x01\x85")), {"reaches element 4"}));
  // Negative sizes, strides, offsets.
  EXPECT_TRUE(contains_all(
      unpickle_error(state_dict(P("K\x00"), "J\xff\xff\xff\xff\x85", "K\x01\x85")), {"negative"}));
  EXPECT_TRUE(contains_all(
      unpickle_error(state_dict("J\xff\xff\xff\xff", "K\x01\x85", "K\x01\x85")), {"negative"}));
  // Size and stride of different lengths; huge sizes.
  EXPECT_TRUE(contains_all(
      unpickle_error(state_dict(P("K\x00"), "K\x01K\x01\x86", "K\x01\x85")), {"differ in length"}));
  EXPECT_TRUE(contains_all(unpickle_error(state_dict(P("K\x00"),
                               P("\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x40\x85"), "K\x01\x85")),
      {"overflows"}));
}

TEST(Unpickler, DeepNestingIsBoundedNotRecursive) {
  // 200000 nested lists: no recursion in the reader, so no stack overflow.
  std::string p = "\x80\x02";
  for (int k = 0; k < 200000; k++) p += "]";
  for (int k = 0; k < 199999; k++) p += "a";
  p += ".";
  EXPECT_TRUE(contains_all(unpickle_error(p), {"not a state dict"}));
  // A dict that contains itself.
  EXPECT_TRUE(contains_all(unpickle_error(P("\x80\x02}q\x00X\x01\x00\x00\x00"
                                            "ah\x00s.")),
      {"nested deeper"}));
}

// -------------------------------------------------- corrupt files

TEST(TensorFile, EveryTruncationIsAnErrorNotACrash) {
  LPIPS_NEEDS_SHARED();
  for (const std::string& file : {lpipstest::shared_lin("alex"),
           lpipstest::shared_dir() + "/data/lpips/weights/v0.1-zip-plaindict/alex.pt",
           lpipstest::data_dir() + "/lin_v0.1_alex.safetensors"}) {
    const auto all = lpipstest::read_bytes(file);
    for (size_t n = 0; n < all.size(); n++) {
      std::vector<uint8_t> part(all.begin(), all.begin() + long(n));
      const std::string err = error_of([&] {
        auto ck = TensorFile::from_bytes(part, "cut.pth");
        for (const auto& t : ck->tensors()) ck->read(t);
      });
      // A zip cut inside its comment-free tail can still parse its
      // directory only if nothing is missing: never here.
      EXPECT_FALSE(err.empty()) << file << " cut at " << n;
    }
  }
}

TEST(TensorFile, FlippedBytesAreErrorsOrHarmless) {
  LPIPS_NEEDS_SHARED();
  // Every bit of the small files flipped in turn: the reader either
  // reports an Error or reads tensors of the declared sizes; it never
  // crashes or reads out of bounds (run under ASan by the fuzzer build).
  for (const std::string& file : {lpipstest::shared_lin("alex"),
           lpipstest::shared_dir() + "/data/lpips/weights/v0.1-zip-plaindict/alex.pt"}) {
    auto all = lpipstest::read_bytes(file);
    int errors = 0;
    for (size_t n = 0; n < all.size(); n++) {
      for (int bit = 0; bit < 8; bit += 3) {
        all[n] ^= uint8_t(1 << bit);
        try {
          auto ck = TensorFile::from_bytes(all, "flipped.pth");
          for (const auto& t : ck->tensors())
            EXPECT_EQ(ck->read(t).size(), size_t(t.numel()) * dtype_size(t.dtype));
        } catch (const rip::Error&) {
          errors++;
        }
        all[n] ^= uint8_t(1 << bit);
      }
    }
    EXPECT_GT(errors, 0) << file;
  }
}

TEST(TensorFile, ZipDataCorruptionFailsTheCrc) {
  LPIPS_NEEDS_SHARED();
  auto all = lpipstest::read_bytes(
      lpipstest::shared_dir() + "/data/lpips/weights/v0.1-zip-plaindict/alex.pt");
  all[800] ^= 1;  // inside alex/data/0 (64 floats after its header at 640)
  auto ck = TensorFile::from_bytes(all, "alex.pt");
  EXPECT_TRUE(contains_all(error_of([&] { ck->read(ck->tensors()[0]); }),
      {"alex.pt", "alex/data/0", "CRC-32", "download it again"}));
}

TEST(TensorFile, UnsupportedCompressionIsNamed) {
  LPIPS_NEEDS_SHARED();
  auto all = lpipstest::read_bytes(
      lpipstest::shared_dir() + "/data/lpips/weights/v0.1-zip-plaindict/alex.pt");
  // Set the method of every central directory entry to 12 (bzip2).
  for (size_t k = 0; k + 46 < all.size(); k++)
    if (all[k] == 'P' && all[k + 1] == 'K' && all[k + 2] == 1 && all[k + 3] == 2) all[k + 10] = 12;
  EXPECT_TRUE(contains_all(error_of([&] { TensorFile::from_bytes(all, "alex.pt"); }),
      {"compression method 12", "torch.save"}));
}

TEST(TensorFile, SafetensorsGoThroughTheSafetensorsReader) {
  // The format's own checks are tested in test_safetensors.cpp; here: its
  // errors come through naming the file, and the tensors read back.
  using lpipstest::F32Tensor;
  auto good =
      lpipstest::safetensors_bytes({F32Tensor{"a", {2, 2}, {1, 2, 3, 4}}, F32Tensor{"b", {0}, {}}});
  auto ck = TensorFile::from_bytes(good, "t.safetensors");
  ASSERT_EQ(ck->tensors().size(), 2u);
  EXPECT_EQ(ck->format(), TensorFileFormat::Safetensors);
  EXPECT_EQ(ck->read_float(*ck->find("a")), (std::vector<float>{1, 2, 3, 4}));
  EXPECT_TRUE(ck->read_float(*ck->find("b")).empty());

  auto with_header = [](const std::string& json, size_t data) {
    std::vector<uint8_t> b(8);
    for (int k = 0; k < 8; k++) b[k] = uint8_t(uint64_t(json.size()) >> (8 * k));
    b.insert(b.end(), json.begin(), json.end());
    b.resize(b.size() + data);
    return b;
  };
  auto err = [&](const std::string& json, size_t data) {
    return error_of([&] { TensorFile::from_bytes(with_header(json, data), "t.safetensors"); });
  };
  EXPECT_TRUE(contains_all(err(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8),
      {"t.safetensors", "'a'", "truncated"}));
  EXPECT_TRUE(contains_all(err(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8),
      {"t.safetensors", "8 bytes", "need 12 bytes"}));
  EXPECT_TRUE(
      contains_all(err(R"({"a":{"dtype":"F32"}})", 0), {"t.safetensors", "has no \"shape\""}));
  EXPECT_TRUE(contains_all(err("{not json", 0), {"t.safetensors", "cannot be parsed"}));
  // Every dtype of the format is listed; reading one as float weights that
  // is not floating point is refused, naming file, tensor and dtype.
  auto u32 = TensorFile::from_bytes(
      with_header(R"({"a":{"dtype":"U32","shape":[2],"data_offsets":[0,8]}})", 8), "t.safetensors");
  EXPECT_EQ(u32->find("a")->dtype, DType::U32);
  EXPECT_EQ(u32->read(*u32->find("a")).size(), 8u);
  EXPECT_TRUE(contains_all(
      error_of([&] { u32->read_float(*u32->find("a")); }), {"t.safetensors", "'a'", "U32"}));
  // A header of 0x280 bytes begins the file with 80 02, pickle's protocol
  // 2 opcode: still a safetensors file.
  std::string json = R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
  json.resize(0x280, ' ');
  std::vector<uint8_t> padded = with_header(json, 4);
  ASSERT_EQ(padded[0], 0x80);
  ASSERT_EQ(padded[1], 0x02);
  auto st = TensorFile::from_bytes(padded, "t.safetensors");
  EXPECT_EQ(st->format(), TensorFileFormat::Safetensors);
  EXPECT_EQ(st->read_float(*st->find("a")).size(), 1u);
}

TEST(TensorFile, ErrorsNameTheFile) {
  lpipstest::TempDir tmp;
  EXPECT_TRUE(contains_all(error_of([&] { TensorFile::open(tmp.file("missing.pth")); }),
      {"missing.pth", "No such file"}));
  lpipstest::write_bytes(tmp.file("empty.pth"), {});
  EXPECT_TRUE(contains_all(
      error_of([&] { TensorFile::open(tmp.file("empty.pth")); }), {"empty.pth", "empty"}));
  lpipstest::write_bytes(tmp.file("text.pth"), bytes("hello, world"));
  EXPECT_TRUE(contains_all(error_of([&] { TensorFile::open(tmp.file("text.pth")); }),
      {"text.pth", "not a PyTorch checkpoint"}));
  // A pickle that is not torch's legacy format.
  lpipstest::write_bytes(tmp.file("plain.pkl"), bytes("\x80\x02}."));
  EXPECT_TRUE(contains_all(
      error_of([&] { TensorFile::open(tmp.file("plain.pkl")); }), {"plain.pkl", "magic number"}));
}
