// SPDX-License-Identifier: LGPL-2.1-or-later
#include "rip/core/blas_threading.h"

#include <dlfcn.h>

#include <cstring>
#include <thread>

namespace rip {

BlasKind loaded_blas() {
  // openblas_get_parallel(): 0 sequential, 1 pthreads, 2 OpenMP (OpenBLAS
  // >= 0.2.9; Debian 12 has 0.3.21).
  using GetParallel = int (*)();
  if (auto get = reinterpret_cast<GetParallel>(dlsym(RTLD_DEFAULT, "openblas_get_parallel"))) {
    switch (get()) {
      case 0: return BlasKind::kOpenBlasSerial;
      case 1: return BlasKind::kOpenBlasPthreads;
      case 2: return BlasKind::kOpenBlasOpenMp;
      default: return BlasKind::kUnknown;
    }
  }
  // Debian installs the reference BLAS as .../blas/libblas.so.3.
  void* sgemm = dlsym(RTLD_DEFAULT, "sgemm_");
  Dl_info info{};
  if (sgemm && dladdr(sgemm, &info) && info.dli_fname &&
      std::strstr(info.dli_fname, "/blas/libblas.so")) {
    return BlasKind::kReference;
  }
  return BlasKind::kUnknown;
}

const char* blas_name(BlasKind kind) {
  switch (kind) {
    case BlasKind::kReference: return "reference";
    case BlasKind::kOpenBlasSerial: return "openblas-serial";
    case BlasKind::kOpenBlasPthreads: return "openblas-pthreads";
    case BlasKind::kOpenBlasOpenMp: return "openblas-openmp";
    case BlasKind::kUnknown: break;
  }
  return "unknown";
}

namespace {
const char kInstall[] =
    " Install libopenblas0-openmp and select it with update-alternatives for "
    "libblas.so.3, libopenblas.so.0 and liblapack.so.3 (all three: the first two "
    "load the third); tools/setup-debian.sh does both, docs/building.md#blas has "
    "the commands.";
}  // namespace

int openmp_threads() {
  using GetMax = int (*)();
  if (auto get = reinterpret_cast<GetMax>(dlsym(RTLD_DEFAULT, "omp_get_max_threads"))) return get();
  return static_cast<int>(std::thread::hardware_concurrency());
}

std::string blas_advice() {
  switch (loaded_blas()) {
    case BlasKind::kReference:
      return std::string(
                 "libtorch is using Debian's reference BLAS, about 40x slower than "
                 "OpenBLAS for the models' matrix products.") +
          kInstall;
    case BlasKind::kOpenBlasPthreads:
      if (openmp_threads() <= 1) return {};
      return std::string(
                 "libtorch is using OpenBLAS's pthreads build, whose threads compete "
                 "with libtorch's OpenMP threads: the models run up to 1.7x slower "
                 "than with the OpenMP build (same results).") +
          kInstall;
    default: return {};
  }
}

}  // namespace rip
