// SPDX-License-Identifier: LGPL-2.1-or-later
//
// libFuzzer target for the weight-file readers (zip, legacy .pth, pickle,
// safetensors): any input must give tensors or rip::Error, never a crash,
// an out-of-bounds access (ASan), a leak or a hang. Built only with clang:
//   CXX=clang++ CC=clang meson setup build-fuzz -Db_sanitize=address
//   ninja -C build-fuzz tests/lpips/fuzz-lpips-checkpoint
//   build-fuzz/tests/lpips/fuzz-lpips-checkpoint -max_len=65536 CORPUS_DIR \
//       ../shared/data/lpips/weights/v0.1 tests/data/lpips/lin_v0.0
#include <cstddef>
#include <cstdint>
#include <vector>

#include "rip/error.h"
#include "rip/io/tensor_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto ck = rip::io::TensorFile::from_bytes(std::vector<uint8_t>(data, data + size), "fuzz");
    for (const auto& t : ck->tensors()) {
      try {
        ck->read(t);
        ck->read_float(t);
      } catch (const rip::Error&) {
      }
    }
  } catch (const rip::Error&) {
  }
  return 0;
}
