// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Thread counts for the parity tests. Debian's libtorch runs fp32 GEMMs in
// OpenBLAS. Its pthreads build keeps its own thread count, fixed from
// OMP_NUM_THREADS at start-up and not changed by at::set_num_threads; its
// OpenMP build (what tools/setup-debian.sh selects) follows OpenMP's count.
// A one-thread reference run is reproduced bit for bit only when both are
// set, so set both whichever build is loaded (bf16 GEMMs are ATen's own and
// follow ATen's count).
#pragma once

#include <dlfcn.h>

#include <ATen/Parallel.h>

namespace rip::sd::test {

// OpenBLAS's thread count, or 0 when libtorch does not use OpenBLAS.
inline int blas_threads() {
  using Get = int (*)();
  auto get = reinterpret_cast<Get>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  return get ? get() : 0;
}

// Sets ATen's intra-op thread count and, when blas > 0, OpenBLAS's.
inline void set_threads(int n, int blas) {
  at::set_num_threads(n);
  using Set = void (*)(int);
  auto set = reinterpret_cast<Set>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  if (set && blas > 0) set(blas);
}

// Both thread counts set to n for one scope.
class Threads {
 public:
  explicit Threads(int n) : saved_(at::get_num_threads()), saved_blas_(blas_threads()) {
    set_threads(n, n);
  }
  ~Threads() { set_threads(saved_, saved_blas_); }
  Threads(const Threads&) = delete;
  Threads& operator=(const Threads&) = delete;

 private:
  int saved_;
  int saved_blas_;
};

}  // namespace rip::sd::test
