// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Process-wide allocator settings for the libtorch models (Stable Diffusion,
// LPIPS). Header-only and torch-free so that every entry point (the CLIs,
// the elements, the LPIPS backend, the benchmarks) can call it without
// linking more.
#pragma once

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <climits>

namespace rip {

// Makes glibc keep freed memory for reuse instead of returning it to the
// kernel: no mmap for large blocks (M_MMAP_MAX 0) and no trimming of the heap
// below 2 GiB of free space at its top (M_TRIM_THRESHOLD).
//
// Why: a network pass frees and reallocates activations of tens to hundreds
// of megabytes (64 MiB per head for SD2's 64x64 self-attention). With glibc's
// defaults each is unmapped when freed and faulted in, page by page, the next
// time, on every frame or denoising step: page faults then dominate the run
// (figures in docs/building.md, Memory allocator). The cost: the process keeps its
// peak memory.
//
// It affects the whole process, so the libraries never call it themselves;
// the entry points do (rip-inpaint, rip-lpips, sdinpaint and lpipsmeter when
// they load a model, the benchmarks). Safe to call more than once; does
// nothing off glibc.
inline void keep_freed_memory() {
#ifdef __GLIBC__
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, INT_MAX);
#endif
}

}  // namespace rip
