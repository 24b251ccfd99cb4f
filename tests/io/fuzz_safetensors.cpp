// SPDX-License-Identifier: LGPL-2.1-or-later
//
// libFuzzer target: any bytes given to the safetensors reader must give a
// File whose every tensor lies inside the bytes, or a rip::Error; anything
// else (a crash, a sanitizer report, another exception) is a bug. How to build
// and run it: see tests/sd/io/meson.build.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "rip/error.h"
#include "rip/io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto file =
        rip::io::SafetensorsFile::from_bytes(std::vector<uint8_t>(data, data + size), "fuzz");
    uint64_t sum = 0;
    for (const auto& t : file->tensors()) {
      if (t.offset > file->size() || t.nbytes > file->size() - t.offset ||
          uint64_t(t.numel()) * rip::io::dtype_size(t.dtype) != t.nbytes) {
        std::abort();  // the reader let an impossible tensor through
      }
      // Touch every byte so that ASan sees any out-of-bounds view.
      const uint8_t* p = file->data(t);
      for (uint64_t i = 0; i < t.nbytes; ++i) sum += p[i];
    }
    for (const auto& [key, value] : file->metadata()) sum += key.size() + value.size();
    volatile uint64_t sink = sum;
    (void) sink;
  } catch (const rip::Error&) {
    // Refused: the expected answer to a corrupt file.
  }
  return 0;
}
