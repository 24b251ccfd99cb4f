// SPDX-License-Identifier: LGPL-2.1-or-later
#include "rip/io/zip.h"

#include <algorithm>
#include <limits>

#include <zlib.h>

#include "rip/error.h"
#include "rip/io/bytes.h"

namespace rip::io {

namespace {

constexpr uint32_t kLocalSig = 0x04034b50;
constexpr uint32_t kCentralSig = 0x02014b50;
constexpr uint32_t kEndSig = 0x06054b50;
constexpr uint32_t kEnd64Sig = 0x06064b50;
constexpr uint32_t kEnd64LocatorSig = 0x07064b50;
constexpr uint64_t kMaxEntries = 1u << 20;

[[noreturn]] void corrupt(const std::string& what, const std::string& msg) {
  throw Error(what + ": broken zip archive: " + msg +
      "; the file is "
      "truncated or corrupt (download it again)");
}

// Replaces 0xFFFFFFFF fields with their zip64 extra-field values, in the
// order the format fixes: size, compressed size, local header offset.
void apply_zip64(const uint8_t* extra, uint64_t n, uint64_t& size, uint64_t& compressed,
    uint64_t& local, const std::string& what) {
  uint64_t pos = 0;
  while (pos + 4 <= n) {
    const uint64_t id = load_le(extra + pos, 2);
    const uint64_t len = load_le(extra + pos + 2, 2);
    pos += 4;
    if (len > n - pos) corrupt(what, "extra field runs past its entry");
    if (id == 1) {
      uint64_t p = pos;
      for (uint64_t* field : {&size, &compressed, &local}) {
        if (*field != 0xffffffffu) continue;
        if (p + 8 > pos + len) corrupt(what, "zip64 field missing");
        *field = load_le(extra + p, 8);
        p += 8;
      }
    }
    pos += len;
  }
}

}  // namespace

std::vector<ZipEntry> read_zip_directory(
    const uint8_t* data, uint64_t size, const std::string& what) {
  if (size < 22) corrupt(what, "too short for a zip end record");
  // The end record is the last 22 bytes plus a comment of at most 64 KiB.
  uint64_t end = size - 22;
  const uint64_t lowest = size > 22 + 65535 ? size - 22 - 65535 : 0;
  for (;;) {
    if (load_le(data + end, 4) == kEndSig) break;
    if (end == lowest) corrupt(what, "no end-of-central-directory record");
    end--;
  }
  uint64_t count = load_le(data + end + 10, 2);
  uint64_t cd_size = load_le(data + end + 12, 4);
  uint64_t cd_offset = load_le(data + end + 16, 4);
  if (count == 0xffff || cd_size == 0xffffffffu || cd_offset == 0xffffffffu) {
    // zip64: a locator just before the end record points at the real one.
    if (end < 20 || load_le(data + end - 20, 4) != kEnd64LocatorSig)
      corrupt(what, "zip64 locator missing");
    const uint64_t rec = load_le(data + end - 20 + 8, 8);
    if (!inside(rec, 56, size) || load_le(data + rec, 4) != kEnd64Sig)
      corrupt(what, "zip64 end record missing");
    count = load_le(data + rec + 32, 8);
    cd_size = load_le(data + rec + 40, 8);
    cd_offset = load_le(data + rec + 48, 8);
  }
  if (!inside(cd_offset, cd_size, size)) corrupt(what, "central directory outside the file");
  if (count > kMaxEntries || count > cd_size / 46 + 1)
    corrupt(what, "implausible entry count " + std::to_string(count));

  std::vector<ZipEntry> entries;
  entries.reserve(size_t(count));
  uint64_t pos = cd_offset;
  const uint64_t cd_end = cd_offset + cd_size;
  for (uint64_t k = 0; k < count; k++) {
    if (!inside(pos, 46, cd_end) || load_le(data + pos, 4) != kCentralSig)
      corrupt(what, "central directory entry " + std::to_string(k) + " is damaged");
    const uint8_t* h = data + pos;
    const uint64_t flags = load_le(h + 8, 2);
    ZipEntry e;
    e.method = uint16_t(load_le(h + 10, 2));
    e.crc = uint32_t(load_le(h + 16, 4));
    e.compressed_size = load_le(h + 20, 4);
    e.size = load_le(h + 24, 4);
    const uint64_t name_len = load_le(h + 28, 2);
    const uint64_t extra_len = load_le(h + 30, 2);
    const uint64_t comment_len = load_le(h + 32, 2);
    uint64_t local = load_le(h + 42, 4);
    if (!inside(pos + 46, name_len + extra_len + comment_len, cd_end))
      corrupt(what, "central directory entry " + std::to_string(k) + " runs past the directory");
    e.name.assign(reinterpret_cast<const char*>(h + 46), size_t(name_len));
    apply_zip64(h + 46 + name_len, extra_len, e.size, e.compressed_size, local, what);
    pos += 46 + name_len + extra_len + comment_len;

    if (flags & 1)
      throw Error(what + ": zip entry '" + e.name +
          "' is encrypted; "
          "checkpoints are never encrypted: use the original file");
    if (e.method != 0 && e.method != 8)
      throw Error(what + ": zip entry '" + e.name +
          "' uses compression "
          "method " +
          std::to_string(e.method) +
          "; only stored (as "
          "torch.save writes) and deflate are supported: re-save it with "
          "torch.save or re-zip it with `zip -0`");
    if (e.method == 0 && e.compressed_size != e.size)
      corrupt(what, "stored entry '" + e.name + "' has two sizes");
    // The data follows the local header, whose name and extra field may
    // differ in length from the central copy (torch pads them to align).
    if (!inside(local, 30, size) || load_le(data + local, 4) != kLocalSig)
      corrupt(what, "local header of '" + e.name + "' missing");
    const uint64_t lname = load_le(data + local + 26, 2);
    const uint64_t lextra = load_le(data + local + 28, 2);
    e.data_offset = local + 30 + lname + lextra;
    if (!inside(e.data_offset, e.compressed_size, size))
      corrupt(what, "entry '" + e.name + "' runs past the end of the file");
    entries.push_back(std::move(e));
  }
  return entries;
}

const uint8_t* zip_entry_bytes(const uint8_t* data, uint64_t size, const ZipEntry& e,
    std::vector<uint8_t>& scratch, const std::string& what) {
  if (!inside(e.data_offset, e.compressed_size, size))
    corrupt(what, "entry '" + e.name + "' runs past the end of the file");
  const uint8_t* bytes = data + e.data_offset;
  if (e.method == 8) {
    // Deflate expands at most ~1032:1; refuse sizes no stream can reach
    // before allocating them.
    if (e.size > e.compressed_size * 1100 + 1024 || e.size > (uint64_t(1) << 40))
      corrupt(what, "entry '" + e.name + "' claims an impossible size");
    scratch.assign(size_t(e.size), 0);
    z_stream zs{};
    if (inflateInit2(&zs, -MAX_WBITS) != Z_OK)
      throw Error(what + ": zlib cannot start (out of memory?)");
    uint64_t in_left = e.compressed_size, out_left = e.size;
    const uint8_t* in = bytes;
    uint8_t* out = scratch.data();
    int rc = Z_OK;
    const uint64_t chunk = std::numeric_limits<uInt>::max();
    while (rc == Z_OK) {
      const uInt in_n = uInt(std::min(in_left, chunk));
      const uInt out_n = uInt(std::min(out_left, chunk));
      zs.next_in = const_cast<Bytef*>(in);
      zs.avail_in = in_n;
      zs.next_out = out;
      zs.avail_out = out_n;
      rc = inflate(&zs, Z_NO_FLUSH);
      in += in_n - zs.avail_in;
      in_left -= in_n - zs.avail_in;
      out += out_n - zs.avail_out;
      out_left -= out_n - zs.avail_out;
      if (rc == Z_OK && zs.avail_in == in_n && zs.avail_out == out_n)
        rc = Z_DATA_ERROR;  // no progress: truncated stream
      if (rc == Z_BUF_ERROR) rc = Z_DATA_ERROR;
    }
    inflateEnd(&zs);
    if (rc != Z_STREAM_END || out_left != 0)
      corrupt(what, "entry '" + e.name + "' does not inflate to its size");
    bytes = scratch.data();
  }
  uLong crc = crc32(0L, Z_NULL, 0);
  for (uint64_t done = 0; done < e.size;) {
    const uInt n = uInt(std::min<uint64_t>(e.size - done, 1u << 30));
    crc = crc32(crc, bytes + done, n);
    done += n;
  }
  if (uint32_t(crc) != e.crc) corrupt(what, "entry '" + e.name + "' fails its CRC-32 check");
  return bytes;
}

}  // namespace rip::io
