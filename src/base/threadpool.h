/* A fixed pool of worker threads that split loops. */
#ifndef CVM_BASE_THREADPOOL_H
#define CVM_BASE_THREADPOOL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "cvm/cvm.h"

typedef struct cvm_threadpool cvm_threadpool;

/* A pool with `threads` workers in all (the caller's thread counts as one). */
cvm_status cvm_threadpool_create(int threads, cvm_threadpool **out);
void cvm_threadpool_free(cvm_threadpool *p);
int cvm_threadpool_size(const cvm_threadpool *p);

typedef void (*cvm_range_fn)(void *arg, size_t begin, size_t end);

/* Runs fn over [0, n) split into contiguous chunks of at least `grain` items,
 * at most one per thread, which the caller and the workers claim as they come
 * free (each the chunk of its own member index first, when there are at most
 * 16), and returns when all are done (whether or not every worker took
 * part).  p may be NULL (runs inline).  Not reentrant: fn must not call
 * cvm_parallel_for on the same pool. */
void cvm_parallel_for(cvm_threadpool *p, size_t n, size_t grain, cvm_range_fn fn, void *arg);

/* The calling thread's place in the pool that runs it: worker i of a pool
 * is i (1..size-1); the thread that calls cvm_parallel_for, and any thread
 * outside a pool, is 0.  Kernels that split work the same way on
 * consecutive operators use it to hand a worker the part of the data it
 * touched last time (a chunk goes to the thread of its index only when that
 * thread is free to claim it in time). */
int cvm_threadpool_member(void);

/* A work split with affinity: `items` cut into `n` contiguous ranges (at
 * most CVM_RANGES_MAX), taken item by item.  Each thread takes from its own
 * range first (chosen by cvm_threadpool_member(), so that consecutive
 * operators give each core the part of the data it wrote last time, in its
 * own L2), then helps with the others'; a thread the OS holds back takes
 * fewer instead of the operator waiting for its fixed share. */
#define CVM_RANGES_MAX 64
typedef struct cvm_ranges {
    int64_t items;
    int n;
    atomic_llong next[CVM_RANGES_MAX]; /* per range: the next item not taken yet */
} cvm_ranges;

/* n is clamped to 1..CVM_RANGES_MAX. */
void cvm_ranges_init(cvm_ranges *r, int64_t items, int n);
/* The calling thread's next item, or -1 when none is left; *cursor starts
 * at 0 for each thread and call of the operator. */
int64_t cvm_ranges_next(cvm_ranges *r, int *cursor);

/* A pause for spin loops (lets the sibling hyperthread run). */
static inline void cvm_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Number of online CPUs (at least 1). */
int cvm_cpu_count(void);

#endif
