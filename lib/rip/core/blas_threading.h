// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Which BLAS the process's libtorch calls, and whether its threading fights
// libtorch's own. Torch-free (dlsym only), so the elements and CLIs can ask
// before or after loading a model.
//
// Why it matters: Debian's libtorch runs float32 matrix products in whatever
// libblas.so.3 the alternatives system selects, and everything else
// (convolutions in oneDNN, element-wise ops, softmax, norms) in its OpenMP
// thread pool. With OpenBLAS's pthreads build there are two pools: after each
// matrix product OpenBLAS's workers spin for about 0.1 s waiting for the next
// one while OpenMP's threads run the next op, and OpenMP's threads spin while
// OpenBLAS works. On few cores each pool takes cores from the other; the
// figures are in docs/building.md (BLAS).
#pragma once

#include <string>

namespace rip {

enum class BlasKind {
  kUnknown,    // no sgemm_ in the process yet, or a BLAS not named here
  kReference,  // Debian's reference BLAS (libblas3): far slower (docs/building.md)
  kOpenBlasSerial,
  kOpenBlasPthreads,
  kOpenBlasOpenMp,
};

// Looks at the BLAS already loaded in the process (call it after the model
// library is loaded; libtorch pulls libblas.so.3 in).
BlasKind loaded_blas();

// "openblas-openmp", "openblas-pthreads", "openblas-serial", "reference",
// "unknown".
const char* blas_name(BlasKind kind);

// libtorch's intra-op thread count as OpenMP has it (at::set_num_threads sets
// it too), or the number of cores when OpenMP is not loaded.
int openmp_threads();

// A sentence for the user when the loaded BLAS will cost speed (the
// reference BLAS; OpenBLAS's pthreads build with more than one thread),
// saying what to install; empty when all is well.
std::string blas_advice();

}  // namespace rip
