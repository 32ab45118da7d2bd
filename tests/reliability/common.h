/* Code shared by the reliability programs (not cmocka: they are long-running
 * drivers with their own command lines and figures). */
#ifndef CVM_TESTS_RELIABILITY_COMMON_H
#define CVM_TESTS_RELIABILITY_COMMON_H

#include <dirent.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cvm/cvm.h"

static inline double rel_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Exits the program: these drivers stop at the first failure. */
static inline void rel_check(cvm_status st, const char *what)
{
    if (st != CVM_OK) {
        fprintf(stderr, "FAIL: %s: %s: %s\n", what, cvm_status_name(st), cvm_last_error());
        exit(1);
    }
}

/* Float inputs for every graph input, with symbolic dims fed `sym` (or the
 * per-call override for dims 2 and 3 when hw > 0, for image models).  The
 * values are the export pattern shifted by `variant`, so different variants
 * give different inputs. */
static inline void rel_make_inputs(cvm_session *s, int hw, int variant, size_t *n, const char **names,
                            cvm_tensor **in, size_t cap)
{
    rel_check(cvm_session_input_count(s, n), "input count");
    if (*n > cap) {
        fprintf(stderr, "FAIL: the model has %zu inputs, at most %zu are supported\n", *n, cap);
        exit(1);
    }
    for (size_t i = 0; i < *n; i++) {
        cvm_value_info vi;
        rel_check(cvm_session_input_info(s, i, &vi), "input info");
        int64_t dims[CVM_MAX_DIMS];
        int nd = vi.ndim < 0 ? 0 : vi.ndim;
        for (int d = 0; d < nd; d++) {
            dims[d] = vi.dims[d] < 0 ? 1 : vi.dims[d];
            if (hw > 0 && nd == 4 && d >= 2)
                dims[d] = hw;
        }
        rel_check(cvm_tensor_create(vi.dtype, nd, dims, &in[i]), "input tensor");
        names[i] = vi.name;
        if (vi.dtype != CVM_DTYPE_FLOAT32)
            continue;
        float *p = in[i]->data;
        int64_t c = nd == 4 ? dims[1] : 1, h = nd == 4 ? dims[2] : 1, w = nd == 4 ? dims[3] : cvm_tensor_numel(in[i]);
        int64_t k = 0;
        for (int64_t b = 0; b < cvm_tensor_numel(in[i]) / (c * h * w); b++)
            for (int64_t ci = 0; ci < c; ci++)
                for (int64_t y = 0; y < h; y++)
                    for (int64_t x = 0; x < w; x++)
                        p[k++] = (float)((ci * 97 + y * 13 + x * 7 + variant * 31) % 256) / 255.0f;
    }
}

static inline int rel_same_tensor(const cvm_tensor *a, const cvm_tensor *b)
{
    if (a->dtype != b->dtype || a->ndim != b->ndim || a->nbytes != b->nbytes)
        return 0;
    for (int d = 0; d < a->ndim; d++)
        if (a->dims[d] != b->dims[d])
            return 0;
    return a->nbytes == 0 || memcmp(a->data, b->data, a->nbytes) == 0;
}

static inline int rel_count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the directory stream itself */
}

static inline int rel_count_threads(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    int n = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "Threads:", 8) == 0)
            n = atoi(line + 8);
    fclose(f);
    return n;
}

/* Resident memory in KiB from /proc/self/statm: `anon` = resident minus
 * shared (file-backed) pages, i.e. the heap, stacks and anonymous maps where a
 * leak would show; code pages of the program and libc come and go with page
 * cache pressure from other processes and would only add noise. */
static inline long rel_rss_kib(long *anon)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return -1;
    long size = 0, res = -1, shared = 0;
    if (fscanf(f, "%ld %ld %ld", &size, &res, &shared) != 3)
        res = -1;
    fclose(f);
    long page_kib = sysconf(_SC_PAGESIZE) / 1024;
    if (anon)
        *anon = res < 0 ? -1 : (res - shared) * page_kib;
    return res < 0 ? -1 : res * page_kib;
}

/* Heap in live allocations in KiB (glibc's mallinfo2), -1 where unknown.
 * Unlike resident memory this ignores free space the allocator keeps, so it
 * tells a leak from fragmentation. */
static inline double rel_heap_in_use_kib(void)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
    struct mallinfo2 mi = mallinfo2();
    return (double)(mi.uordblks + mi.hblkhd) / 1024.0;
#else
    return -1;
#endif
}

#endif
