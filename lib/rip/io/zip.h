// SPDX-License-Identifier: LGPL-2.1-or-later
//
// The part of the ZIP format that torch.save (>= 1.6) writes: a central
// directory (zip64 too) of entries that torch stores uncompressed. Deflated
// entries are inflated with zlib so that a checkpoint re-zipped by another
// tool still loads; encrypted or other methods are refused. Every offset and
// size is checked against the buffer, and each entry's CRC-32 is verified
// when it is read.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace rip::io {

struct ZipEntry {
  std::string name;
  uint16_t method = 0;  // 0 stored, 8 deflate
  uint32_t crc = 0;
  uint64_t compressed_size = 0;
  uint64_t size = 0;
  uint64_t data_offset = 0;  // of the (compressed) bytes in the archive
};

// Parses the central directory and each entry's local header. `what` names
// the file in errors.
std::vector<ZipEntry> read_zip_directory(
    const uint8_t* data, uint64_t size, const std::string& what);

// The entry's bytes: a pointer into `data` for stored entries, or into
// `scratch` (filled here) for deflated ones. Verifies the CRC-32.
const uint8_t* zip_entry_bytes(const uint8_t* data, uint64_t size, const ZipEntry& entry,
    std::vector<uint8_t>& scratch, const std::string& what);

}  // namespace rip::io
