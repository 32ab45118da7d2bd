/*
 * CVM_ASAN is defined in AddressSanitizer builds (gcc or clang): the memory
 * helpers that keep blocks back from free() or map them themselves (bigmem,
 * bufcache) step aside there, so that the checker sees every allocation.
 */
#ifndef CVM_BASE_SANITIZE_H
#define CVM_BASE_SANITIZE_H

#if defined(__SANITIZE_ADDRESS__)
#define CVM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CVM_ASAN 1
#endif
#endif

#endif
