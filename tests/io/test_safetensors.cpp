// SPDX-License-Identifier: LGPL-2.1-or-later
//
// The safetensors reader and writer: round trips for every dtype, the exact
// bytes the writer produces, and every kind of corrupt or hostile file the
// reader must refuse with a rip::Error (never a crash or a read outside the
// file): each byte position truncated, hand-made hostile headers, and many
// thousands of seeded random mutations.
#include <gtest/gtest.h>

#include <random>

#include "testutil.h"

namespace rip::sd::test {
namespace {

using io::DType;
using io::SafetensorsFile;
using io::TensorData;

const std::vector<DType> kAllDTypes = {DType::Bool, DType::U8, DType::I8, DType::I16, DType::U16,
    DType::F16, DType::BF16, DType::I32, DType::U32, DType::F32, DType::F64, DType::I64,
    DType::U64};

// A file's bytes: the 8-byte little-endian header length, the header and a
// buffer of `buffer` bytes (values 0, 1, 2, ...).
std::vector<uint8_t> file_bytes(const std::string& header, size_t buffer) {
  std::vector<uint8_t> out;
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out.push_back(uint8_t(n >> (8 * i)));
  out.insert(out.end(), header.begin(), header.end());
  for (size_t i = 0; i < buffer; ++i) out.push_back(uint8_t(i));
  return out;
}

std::vector<uint8_t> with_length(uint64_t n, const std::string& rest) {
  std::vector<uint8_t> out;
  for (int i = 0; i < 8; ++i) out.push_back(uint8_t(n >> (8 * i)));
  out.insert(out.end(), rest.begin(), rest.end());
  return out;
}

std::string entry(const std::string& name, const std::string& dtype, const std::string& shape,
    const std::string& offsets) {
  return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape +
      ",\"data_offsets\":" + offsets + "}";
}

// A small valid file with every feature the parser handles: metadata, a 0-d
// tensor, an empty tensor, mixed dtypes.
std::vector<uint8_t> small_valid_file() {
  std::vector<TensorData> tensors = {
      f32_tensor("weight", {2, 3}, {1, 2, 3, 4, 5, 6}),
      {"ids", DType::I64, {1, 3}, as_bytes(std::vector<int64_t>{0, 1, 2})},
      {"half", DType::F16, {2}, {0x00, 0x3c, 0x00, 0xc0}},  // 1, -2
      f32_tensor("scalar", {}, {7}),
      {"empty", DType::BF16, {0, 4}, {}},
  };
  return io::serialize_safetensors(tensors, {{"format", "pt"}});
}

// What every successfully parsed file must satisfy, whatever its header said;
// reading every byte lets ASan/valgrind catch an out-of-bounds view.
void check_invariants(const SafetensorsFile& file) {
  uint64_t sum = 0;
  for (const auto& t : file.tensors()) {
    ASSERT_LE(t.offset, file.size());
    ASSERT_LE(t.nbytes, file.size() - t.offset);
    ASSERT_EQ(uint64_t(t.numel()) * io::dtype_size(t.dtype), t.nbytes);
    const uint8_t* p = file.data(t);
    for (uint64_t i = 0; i < t.nbytes; ++i) sum += p[i];
  }
  (void) sum;
}

// Parses bytes; true when valid, false on rip::Error, a test failure on
// anything else.
bool parses(std::vector<uint8_t> bytes, const std::string& what) {
  try {
    auto file = SafetensorsFile::from_bytes(std::move(bytes), "mutant.safetensors");
    check_invariants(*file);
    return true;
  } catch (const rip::Error& e) {
    if (std::string(e.what()).find("mutant.safetensors") == std::string::npos) {
      ADD_FAILURE() << what << ": the error does not name the file: " << e.what();
    }
    return false;
  } catch (const std::exception& e) {
    ADD_FAILURE() << what << ": non-rip::Error exception: " << e.what();
    return false;
  }
}

TEST(Safetensors, RoundTripEveryDType) {
  TempDir dir;
  std::mt19937 rng(1);
  std::vector<TensorData> tensors;
  for (DType d : kAllDTypes) {
    TensorData t{std::string("t_") + io::dtype_name(d), d, {2, 3}, {}};
    t.bytes.resize(6 * io::dtype_size(d));
    for (auto& b : t.bytes) b = uint8_t(rng());
    tensors.push_back(t);
  }
  tensors.push_back(f32_tensor("scalar", {}, {3.5f}));
  tensors.push_back({"empty", DType::F16, {3, 0}, {}});
  tensors.push_back({"name with \"quotes\" and \xc3\xa9", DType::U8, {1}, {42}});
  const std::map<std::string, std::string> metadata = {{"format", "pt"}, {"note", "a \"b\"\n"}};
  const auto path = dir / "all.safetensors";
  io::write_safetensors(path.string(), tensors, metadata);

  auto file = SafetensorsFile::open(path.string());
  EXPECT_EQ(file->path(), path.string());
  EXPECT_EQ(file->metadata(), metadata);
  ASSERT_EQ(file->tensors().size(), tensors.size());
  for (const auto& t : tensors) {
    const auto* info = file->find(t.name);
    ASSERT_NE(info, nullptr) << t.name;
    EXPECT_EQ(info->dtype, t.dtype) << t.name;
    EXPECT_EQ(info->shape, t.shape) << t.name;
    ASSERT_EQ(info->nbytes, t.bytes.size()) << t.name;
    EXPECT_EQ(std::vector<uint8_t>(file->data(*info), file->data(*info) + info->nbytes), t.bytes)
        << t.name;
  }
  EXPECT_EQ(file->find("scalar")->numel(), 1);
  EXPECT_EQ(file->find("empty")->numel(), 0);
  EXPECT_EQ(file->find("absent"), nullptr);
  // tensors() is sorted by name, find() relies on it.
  for (size_t i = 1; i < file->tensors().size(); ++i) {
    EXPECT_LT(file->tensors()[i - 1].name, file->tensors()[i].name);
  }
  // The same bytes through from_bytes.
  auto again = SafetensorsFile::from_bytes(read_bytes(path), "copy");
  EXPECT_EQ(again->tensors().size(), tensors.size());
}

TEST(Safetensors, WriterLayoutMatchesTheReferenceWriter) {
  // The reference writer pads the header with spaces to a multiple of 8 so
  // the buffer starts 8-byte aligned; entries keep the caller's order here.
  const auto bytes = io::serialize_safetensors(
      {f32_tensor("b", {1}, {1}), f32_tensor("a", {2}, {2, 3})}, {{"format", "pt"}});
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[i];
  EXPECT_EQ(n % 8, 0u);
  const std::string header(bytes.begin() + 8, bytes.begin() + 8 + long(n));
  const std::string expected =
      "{\"__metadata__\":{\"format\":\"pt\"},"
      "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
      "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}";
  EXPECT_EQ(header.substr(0, expected.size()), expected);
  EXPECT_EQ(header.find_first_not_of(' ', expected.size()), std::string::npos);
  EXPECT_EQ(bytes.size(), 8 + n + 12);
  EXPECT_EQ(io::serialize_safetensors({}), with_length(8, "{}      "));
}

TEST(Safetensors, WriterRefusesBadInput) {
  EXPECT_NE(error_of([] { io::serialize_safetensors({f32_tensor("a", {2}, {1})}); }).find("need 8"),
      std::string::npos);
  EXPECT_NE(error_of([] {
    io::serialize_safetensors({f32_tensor("a", {1}, {1}), f32_tensor("a", {1}, {1})});
  }).find("twice"),
      std::string::npos);
  EXPECT_NE(error_of([] {
    io::serialize_safetensors({f32_tensor("__metadata__", {1}, {1})});
  }).find("__metadata__"),
      std::string::npos);
  EXPECT_NE(error_of([] {
    io::serialize_safetensors({f32_tensor("bad \xff utf8", {1}, {1})});
  }).find("UTF-8"),
      std::string::npos);
  EXPECT_NE(error_of([] {
    io::write_safetensors("/nonexistent-dir/x.safetensors", {f32_tensor("a", {1}, {1})});
  }).find("/nonexistent-dir/x.safetensors"),
      std::string::npos);
}

TEST(Safetensors, OpenErrorsNameThePath) {
  TempDir dir;
  EXPECT_NE(error_of([&] {
    SafetensorsFile::open((dir / "missing.safetensors").string());
  }).find("missing.safetensors"),
      std::string::npos);
  EXPECT_NE(
      error_of([&] { SafetensorsFile::open(dir.path().string()); }).find("not a regular file"),
      std::string::npos);
  write_text(dir / "empty.safetensors", "");
  EXPECT_NE(
      error_of([&] { SafetensorsFile::open((dir / "empty.safetensors").string()); }).find("empty"),
      std::string::npos);
  write_text(dir / "lfs.safetensors",
      "version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 3463726498\n");
  EXPECT_NE(
      error_of([&] { SafetensorsFile::open((dir / "lfs.safetensors").string()); }).find("Git LFS"),
      std::string::npos);
}

TEST(Safetensors, AcceptsEdgeCasesTheFormatAllows) {
  // Zero-size tensors may share an offset with each other and with the start
  // of the next tensor; null metadata is "none"; unknown fields are ignored
  // (as serde does in the reference reader).
  const std::string header = "{\"__metadata__\":null," + entry("e1", "F32", "[0]", "[0,0]") + "," +
      entry("e2", "U8", "[3,0]", "[0,0]") + "," + entry("a", "F32", "[2]", "[0,8]") + "," +
      "\"s\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[8,9],\"extra\":[1,{}]}," +
      entry("e3", "F64", "[0]", "[9,9]") + "}";
  auto file = SafetensorsFile::from_bytes(file_bytes(header, 9), "edge");
  EXPECT_EQ(file->tensors().size(), 5u);
  EXPECT_TRUE(file->metadata().empty());
  EXPECT_EQ(file->find("s")->offset, 8 + header.size() + 8);
  EXPECT_EQ(SafetensorsFile::from_bytes(file_bytes("{}", 0), "none")->tensors().size(), 0u);
  EXPECT_EQ(SafetensorsFile::from_bytes(file_bytes("{}  \n\t ", 0), "ws")->tensors().size(), 0u);
}

struct Hostile {
  const char* what;
  std::vector<uint8_t> bytes;
  const char* expected;  // a piece of the error message
};

std::vector<Hostile> hostile_files() {
  const std::string a = entry("a", "F32", "[2]", "[0,8]");
  const auto one = [](const std::string& e, size_t buffer) {
    return file_bytes("{" + e + "}", buffer);
  };
  std::string deep = "{\"a\":";
  for (int i = 0; i < 100000; ++i) deep += "[";
  for (int i = 0; i < 100000; ++i) deep += "]";
  deep += "}";
  std::string many_fields = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]";
  return {
      {"7 bytes", {1, 0, 0, 0, 0, 0, 0}, "truncated"},
      {"header length 2^64-1", with_length(~uint64_t(0), "{}"), "header length"},
      {"header length 100,000,001", with_length(100000001, "{}"), "header length"},
      {"header past the end", with_length(100, "{}"), "truncated"},
      {"header length 0", with_length(0, "{}"), "start with '{'"},
      {"array header", file_bytes("[]", 0), "start with '{'"},
      {"leading space", file_bytes(" {}", 0), "start with '{'"},
      {"unterminated", file_bytes("{\"a\":", 0), "cannot be parsed"},
      {"trailing garbage", file_bytes("{}x", 0), "cannot be parsed"},
      {"NUL padding", file_bytes(std::string("{}\0\0", 4), 0), "NUL byte"},
      {"NUL then garbage", file_bytes(std::string("{}\0x", 4), 0), "NUL byte"},
      {"invalid UTF-8", file_bytes("{\"\xff\":1}", 0), "cannot be parsed"},
      {"comment", file_bytes("{/* c */}", 0), "cannot be parsed"},
      {"entry not an object", file_bytes("{\"a\":5}", 0), "not an object"},
      {"no dtype", file_bytes("{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8), "no \"dtype\""},
      {"no shape", file_bytes("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8),
          "no \"shape\""},
      {"no offsets", file_bytes("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8),
          "no \"data_offsets\""},
      {"unknown dtype", one(entry("a", "F33", "[2]", "[0,8]"), 8), "unknown dtype"},
      {"lower-case dtype", one(entry("a", "f32", "[2]", "[0,8]"), 8), "unknown dtype"},
      {"dtype not a string",
          file_bytes("{\"a\":{\"dtype\":4,\"shape\":[2],\"data_offsets\":[0,8]}}", 8),
          "not a string"},
      {"unsupported dtype", one(entry("a", "F8_E4M3", "[2]", "[0,2]"), 2), "does not support"},
      {"negative dim", one(entry("a", "F32", "[-1]", "[0,8]"), 8), "non-negative"},
      {"fractional dim", one(entry("a", "F32", "[1.5]", "[0,8]"), 8), "non-negative"},
      {"string dim", one(entry("a", "F32", "[\"2\"]", "[0,8]"), 8), "non-negative"},
      {"dim 2^63", one(entry("a", "U8", "[9223372036854775808]", "[0,8]"), 8), "non-negative"},
      {"dim 2^64", one(entry("a", "U8", "[18446744073709551616]", "[0,8]"), 8), "non-negative"},
      {"dim 1e400", one(entry("a", "U8", "[1e400]", "[0,8]"), 8), ""},
      {"shape not a list", one(entry("a", "F32", "{}", "[0,8]"), 8), "not a list"},
      {"element count overflow", one(entry("a", "U8", "[4294967296,4294967296]", "[0,8]"), 8),
          "overflows"},
      {"element count past int64", one(entry("a", "U8", "[4294967296,2147483648]", "[0,8]"), 8),
          "overflows"},
      {"byte count overflow", one(entry("a", "F32", "[4611686018427387904]", "[0,8]"), 8),
          "overflows"},
      {"one offset", one(entry("a", "F32", "[2]", "[0]"), 8), "[begin, end]"},
      {"three offsets", one(entry("a", "F32", "[2]", "[0,8,8]"), 8), "[begin, end]"},
      {"negative offset", one(entry("a", "F32", "[2]", "[-8,0]"), 8), "[begin, end]"},
      {"offsets not a list", one(entry("a", "F32", "[2]", "8"), 8), "[begin, end]"},
      {"end before begin", one(entry("a", "F32", "[0]", "[8,0]"), 8), "end before they begin"},
      {"size mismatch", one(entry("a", "F32", "[2]", "[0,12]"), 12), "need 8 bytes"},
      {"huge end", one(entry("a", "F32", "[2]", "[0,18446744073709551615]"), 8), "need 8 bytes"},
      {"past EOF", one(entry("a", "F32", "[2]", "[0,8]"), 4), "truncated"},
      {"past 2^64", one(entry("a", "U8", "[7]", "[18446744073709551608,18446744073709551615]"), 8),
          "truncated"},
      {"overlap", file_bytes("{" + a + "," + entry("b", "F32", "[2]", "[4,12]") + "}", 12),
          "overlaps"},
      {"same bytes twice", file_bytes("{" + a + "," + entry("b", "U8", "[8]", "[0,8]") + "}", 8),
          "overlaps"},
      {"empty tensor inside another",
          file_bytes("{" + a + "," + entry("e", "F32", "[0]", "[4,4]") + "}", 8), "overlaps"},
      {"hole between", file_bytes("{" + a + "," + entry("b", "F32", "[2]", "[12,20]") + "}", 20),
          "belong to no tensor"},
      {"hole at start", one(entry("a", "F32", "[2]", "[4,12]"), 12), "belong to no tensor"},
      {"bytes after the last tensor", one(a, 12), "at the end belong to no tensor"},
      {"data without tensors", file_bytes("{}", 4), "at the end belong to no tensor"},
      {"duplicate tensor", file_bytes("{" + a + "," + a + "}", 8), "twice"},
      {"duplicate field", file_bytes(many_fields + ",\"dtype\":\"F32\"}}", 8), "twice"},
      {"metadata value not a string", file_bytes("{\"__metadata__\":{\"k\":1}}", 0),
          "must be strings"},
      {"metadata not an object", file_bytes("{\"__metadata__\":[\"k\"]}", 0), "not an object"},
      {"metadata nested", file_bytes("{\"__metadata__\":{\"k\":{}}}", 0), "must be strings"},
      {"deep nesting", file_bytes(deep, 0), "nests deeper"},
  };
}

TEST(Safetensors, RefusesHostileHeaders) {
  for (const auto& h : hostile_files()) {
    const std::string msg =
        error_of([&] { SafetensorsFile::from_bytes(h.bytes, "hostile.safetensors"); });
    EXPECT_NE(msg.find(h.expected), std::string::npos)
        << h.what << ": expected \"" << h.expected << "\" in: " << msg;
    EXPECT_NE(msg.find("hostile.safetensors"), std::string::npos) << h.what << ": " << msg;
  }
}

TEST(Safetensors, TruncationMessageSaysWhereTheDataEnds) {
  auto bytes = small_valid_file();
  const size_t full = bytes.size();
  bytes.resize(full - 3);
  const std::string msg = error_of([&] { SafetensorsFile::from_bytes(bytes, "unet.safetensors"); });
  // The tensor that reaches furthest is named (the empty tensor after it
  // ends there too but lost nothing).
  EXPECT_NE(
      msg.find("'unet.safetensors' is truncated: tensor 'scalar' ends at byte "), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("ends at byte " + std::to_string(full) + " but the file has " +
                std::to_string(full - 3) + " bytes; re-download it"),
      std::string::npos)
      << msg;
}

TEST(Safetensors, EveryTruncationIsAnError) {
  const auto bytes = small_valid_file();
  ASSERT_TRUE(parses(bytes, "the whole file"));
  for (size_t len = 0; len < bytes.size(); ++len) {
    EXPECT_FALSE(parses(std::vector<uint8_t>(bytes.begin(), bytes.begin() + long(len)),
        "prefix of " + std::to_string(len) + " bytes"))
        << "a " << len << "-byte prefix was accepted";
  }
}

TEST(Safetensors, TruncatedRealFileIsAnError) {
  // The tiny SD2 text encoder: every cut inside the header and its first
  // tensors, and a dense sample of cuts through the data.
  const auto bytes = read_bytes(sd_data() / "tiny-sd2" / "text_encoder" / "model.safetensors");
  ASSERT_GT(bytes.size(), 100000u);
  ASSERT_TRUE(parses(bytes, "the whole file"));
  uint64_t header = 0;
  for (int i = 7; i >= 0; --i) header = (header << 8) | bytes[i];
  std::vector<size_t> cuts;
  for (size_t len = 0; len < 8 + header + 64; ++len) cuts.push_back(len);
  for (size_t len = 8 + header + 64; len < bytes.size(); len += 397) cuts.push_back(len);
  cuts.push_back(bytes.size() - 1);
  for (size_t len : cuts) {
    EXPECT_FALSE(parses(std::vector<uint8_t>(bytes.begin(), bytes.begin() + long(len)),
        "cut at " + std::to_string(len)))
        << "cut at " << len;
  }
}

TEST(Safetensors, EveryHeaderByteOverwritten) {
  // Each header byte (and the length) replaced by each character that means
  // something in JSON or in a number: the reader must answer every one with
  // a result or a rip::Error.
  const auto bytes = small_valid_file();
  uint64_t header = 0;
  for (int i = 7; i >= 0; --i) header = (header << 8) | bytes[i];
  const std::string specials =
      "{}[]\":,-+.0129eE \\\xff\x00"
      "a";
  int accepted = 0;
  for (size_t pos = 0; pos < 8 + header; ++pos) {
    for (char c : specials) {
      auto mutant = bytes;
      mutant[pos] = uint8_t(c);
      accepted +=
          parses(std::move(mutant), "byte " + std::to_string(pos) + " = " + std::to_string(c));
    }
  }
  // Some mutations are harmless (a digit of the header padding, a name's
  // letter); most must have been refused.
  EXPECT_GT(accepted, 0);
  EXPECT_LT(accepted, int((8 + header) * specials.size() / 2));
}

TEST(Safetensors, SeededRandomMutations) {
  const auto bytes = small_valid_file();
  std::mt19937 rng(20240611);
  int accepted = 0;
  const int kRuns = 30000;
  for (int run = 0; run < kRuns; ++run) {
    auto mutant = bytes;
    const int edits = 1 + int(rng() % 4);
    for (int e = 0; e < edits && !mutant.empty(); ++e) {
      const size_t pos = rng() % mutant.size();
      switch (rng() % 6) {
        case 0: mutant[pos] = uint8_t(rng()); break;
        case 1: mutant[pos] ^= uint8_t(1u << (rng() % 8)); break;
        case 2: mutant[pos] = uint8_t("0123456789[]{},:\"-"[rng() % 18]); break;
        case 3: mutant.erase(mutant.begin() + long(pos)); break;
        case 4:
          mutant.insert(mutant.begin() + long(pos), uint8_t("0123456789,\""[rng() % 12]));
          break;
        case 5: mutant.resize(pos); break;
      }
    }
    accepted += parses(std::move(mutant), "run " + std::to_string(run));
  }
  EXPECT_LT(accepted, kRuns / 2);
}

}  // namespace
}  // namespace rip::sd::test
