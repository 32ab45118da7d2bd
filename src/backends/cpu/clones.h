/*
 * CVM_CPU_CLONES: compile a hot loop for AVX-512, AVX2 and baseline x86-64
 * and let the loader pick one for this CPU (GNU ifunc), so that kernels run
 * 16 or 8 lanes wide without a -march build.
 *
 * Off under sanitizers: their runtimes are not initialised yet when the
 * dynamic loader calls the clones' ifunc resolvers, and an instrumented
 * resolver crashes before main (seen with ThreadSanitizer under gcc 12 and
 * clang 14).
 */
#ifndef CVM_BACKENDS_CPU_CLONES_H
#define CVM_BACKENDS_CPU_CLONES_H

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CVM_CPU_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define CVM_CPU_SANITIZED 1
#endif
#endif

#if defined(__GNUC__) && defined(__x86_64__) && !defined(CVM_CPU_SANITIZED)
#define CVM_CPU_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define CVM_CPU_CLONES
#endif

#endif
