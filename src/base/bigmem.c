#include "base/bigmem.h"

#include <stdint.h>
#include <stdlib.h>

#include "base/sanitize.h"

/* Sanitizer builds keep malloc, whose leak checker sees every block. */
#if defined(__linux__) && !defined(CVM_ASAN)
#include <sys/mman.h>
#define BIG_MMAP 1
#endif

/* Below this, malloc's own reuse of freed memory beats a mapping. */
#define BIG_MIN ((size_t)1 << 20)
/* The header before the returned pointer: the mapping's length, or 0 for a
 * malloc block (whose start follows), keeping 64-byte alignment. */
#define BIG_HDR 64

typedef struct big_hdr {
    size_t mapped; /* bytes mapped, header included; 0: from malloc */
    void *block;   /* the malloc block */
} big_hdr;

void *cvm_big_alloc(size_t n)
{
    if (n > SIZE_MAX - BIG_HDR - 64)
        return NULL;
#ifdef BIG_MMAP
    if (n >= BIG_MIN) {
        size_t len = n + BIG_HDR;
        void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
                       -1, 0);
        if (m != MAP_FAILED) {
            big_hdr *h = m;
            h->mapped = len;
            h->block = NULL;
            return (char *)m + BIG_HDR;
        }
        /* fall back on malloc (a mapping limit, say) */
    }
#endif
    void *b = calloc(1, n + BIG_HDR + 64);
    if (!b)
        return NULL;
    char *p = (char *)(((uintptr_t)b + BIG_HDR + 63) & ~(uintptr_t)63);
    big_hdr *h = (big_hdr *)(p - BIG_HDR);
    h->mapped = 0;
    h->block = b;
    return p;
}

void cvm_big_free(void *p)
{
    if (!p)
        return;
    big_hdr *h = (big_hdr *)((char *)p - BIG_HDR);
#ifdef BIG_MMAP
    if (h->mapped) {
        munmap(h, h->mapped);
        return;
    }
#endif
    free(h->block);
}
