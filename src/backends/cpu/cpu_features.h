/* Whether the hand-written AVX-512 paths of the data-movement kernels may
 * run.  CVM_CPU_NO_AVX512=1 turns them off (the portable loops run instead),
 * to compare the two or to rule the vector code out; the unit tests use it
 * to run both paths on an AVX-512 machine.  Read when a kernel starts, on the
 * calling thread, never inside a parallel loop. */
#ifndef CVM_BACKENDS_CPU_CPU_FEATURES_H
#define CVM_BACKENDS_CPU_CPU_FEATURES_H

#include <stdlib.h>

static inline int cvm_cpu_avx512_allowed(void)
{
#if defined(__x86_64__) || defined(__i386__)
    const char *off = getenv("CVM_CPU_NO_AVX512");
    return !(off && off[0] && off[0] != '0') && __builtin_cpu_supports("avx512f");
#else
    return 0;
#endif
}

#endif
