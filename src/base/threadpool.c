#include "base/threadpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "base/status.h"

/*
 * Each job is one parallel_for cut into at most `size` chunks, which the
 * threads (the caller included) claim until none is left, so no queue is
 * needed.  Claiming instead of fixed chunk-per-thread assignment lets the
 * caller run a chunk whose worker has not woken up yet (or is held back by
 * the OS or a hypervisor).  (Finer chunks, 4 per thread, measured no better
 * on YOLO11n, YOLOX-nano or YOLOv8n on 2 threads.)
 *
 * A job is over when its chunks are done, not when every worker has looked
 * at it: a worker that sleeps, or whose vCPU the host has descheduled, costs
 * the caller nothing once the caller has run that worker's share itself.
 * Waiting for every worker to check in made a 2-thread run wait for a
 * wake-up on every operator (on a busy VM, tens to hundreds of
 * microseconds each).  A worker that wakes late must then not take a chunk
 * of a later job with a stale view of it, so the claim word carries the
 * job's number and chunk count next to the next chunk index, and a chunk is
 * taken by compare-and-swap on the whole word; the job's fields are written
 * before the word is published and change only after all its chunks are
 * done, so whoever holds a chunk reads them safely.
 *
 * Each thread takes the chunk of its own index first (the caller chunk 0):
 * a kernel that cuts an operator into fixed shares then runs the same share
 * on the same core from one operator to the next, and reads what that core
 * wrote.  Handed out in claim order, a 2-thread run of 40x40 Winograd
 * layers had the worker take chunk 0 in 17-42% of the jobs.
 *
 * Between the back-to-back jobs of an inference (one per operator, often
 * well under a millisecond) workers and caller spin on the atomics for up
 * to SPIN_NS before falling back to condition variables: a futex wake-up
 * per job costs more than many small operators take.  A spin of 4000
 * `pause`s (40 us on the Xeons we measure on) let YOLO11n's worker fall
 * asleep about once per run besides the gap between runs, and the caller
 * as often; 300 us leaves only the gap between runs.  The mutex and the
 * condition variables are touched only when someone sleeps: a thread
 * announces it (`sleepers`, `caller_waiting`) before it checks its
 * condition under the lock, and the other side publishes its change before
 * it reads the announcement (both sequentially consistent), so one of them
 * always sees the other.  Taking the lock on every job made the caller and
 * a finishing worker contend for it.  Only one job runs at a time: a
 * second caller (another session run on another thread) does not wait for
 * the pool but runs its loop inline, which keeps concurrent runs
 * deadlock-free.
 */
#define SPIN_NS 300000

/* A spin that gives up after SPIN_NS: call spin_on() once per round until it
 * returns 0.  Counted in time, not in rounds: a `pause` takes 10 ns on some
 * cores and 140 cycles on others. */
typedef struct spin {
    unsigned rounds;
    uint64_t t0;
} spin;

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static int spin_on(spin *sp)
{
    if (sp->rounds++ % 64 == 0) {
        uint64_t t = now_ns();
        if (sp->t0 == 0)
            sp->t0 = t;
        else if (t - sp->t0 > SPIN_NS)
            return 0;
    }
    cvm_cpu_relax();
    return 1;
}

/* claim word: job number (32 bits) | chunk count (16) | next chunk (16) */
#define CLAIM_JOB(v) ((uint32_t)((v) >> 32))
#define CLAIM_COUNT(v) ((unsigned)(((v) >> 16) & 0xFFFFu))
#define CLAIM_NEXT(v) ((unsigned)((v)&0xFFFFu)) /* or, up to 16 chunks, the mask of those taken */
#define CLAIM_MASK_MAX 16

typedef struct worker_arg {
    struct cvm_threadpool *pool;
    int index;
} worker_arg;

struct cvm_threadpool {
    int size;
    pthread_t *threads;
    worker_arg *wargs;
    pthread_mutex_t lock;      /* guards sleeping and waking */
    pthread_cond_t wake, done_cv;
    pthread_mutex_t busy;      /* held by the caller that owns the current job */
    atomic_ullong claim;       /* published after the job fields are written */
    atomic_uint done;          /* chunks of the current job finished */
    atomic_int quit;
    atomic_int sleepers;       /* workers waiting on `wake` (or about to) */
    atomic_int caller_waiting; /* the caller waits on `done_cv` (or is about to) */
    uint32_t job;              /* the last job number (written by the busy holder) */
    cvm_range_fn fn;
    void *arg;
    size_t n, chunk;
};

/* Which member of its pool this thread is (0: not a worker) */
static _Thread_local int member_index;

/* Runs chunks of job `job` until none is left unclaimed: a job of up to
 * CLAIM_MASK_MAX chunks marks each chunk taken in a bit mask, and each
 * thread takes the chunk of its own index first, then the lowest left;
 * larger jobs hand chunks out in order. */
static void run_chunks(cvm_threadpool *p, uint32_t job)
{
    unsigned long long v = atomic_load_explicit(&p->claim, memory_order_acquire);
    for (;;) {
        if (CLAIM_JOB(v) != job)
            return;
        unsigned count = CLAIM_COUNT(v), chunk;
        unsigned long long nv;
        if (count <= CLAIM_MASK_MAX) {
            unsigned taken = CLAIM_NEXT(v), all = (1u << count) - 1;
            if (taken == all)
                return;
            unsigned own = (unsigned)member_index;
            chunk = own < count && !(taken & (1u << own)) ? own
                                                          : (unsigned)__builtin_ctz(~taken & all);
            nv = v | (1ull << chunk);
        } else {
            if (CLAIM_NEXT(v) >= count)
                return;
            chunk = CLAIM_NEXT(v);
            nv = v + 1;
        }
        if (!atomic_compare_exchange_weak_explicit(&p->claim, &v, nv, memory_order_acq_rel,
                                                   memory_order_acquire))
            continue; /* v now holds the current word */
        size_t b = chunk * p->chunk, e = b + p->chunk;
        if (e > p->n)
            e = p->n;
        if (b < e)
            p->fn(p->arg, b, e);
        if (atomic_fetch_add(&p->done, 1) + 1 == count && atomic_load(&p->caller_waiting)) {
            pthread_mutex_lock(&p->lock);
            pthread_cond_signal(&p->done_cv);
            pthread_mutex_unlock(&p->lock);
        }
        v = atomic_load_explicit(&p->claim, memory_order_acquire);
    }
}

int cvm_threadpool_member(void)
{
    return member_index;
}

static void *worker_main(void *varg)
{
    const worker_arg *wa = varg;
    cvm_threadpool *p = wa->pool;
    member_index = wa->index;
    uint32_t seen = 0;
    for (;;) {
        spin sp = {0};
        while (CLAIM_JOB(atomic_load_explicit(&p->claim, memory_order_acquire)) == seen &&
               !atomic_load_explicit(&p->quit, memory_order_relaxed) && spin_on(&sp))
            ;
        if (CLAIM_JOB(atomic_load_explicit(&p->claim, memory_order_acquire)) == seen) {
            pthread_mutex_lock(&p->lock);
            atomic_fetch_add(&p->sleepers, 1);
            while (!atomic_load(&p->quit) && CLAIM_JOB(atomic_load(&p->claim)) == seen)
                pthread_cond_wait(&p->wake, &p->lock);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->lock);
        }
        if (atomic_load(&p->quit))
            break;
        seen = CLAIM_JOB(atomic_load_explicit(&p->claim, memory_order_acquire));
        run_chunks(p, seen);
    }
    return NULL;
}

void cvm_ranges_init(cvm_ranges *r, int64_t items, int n)
{
    if (n < 1)
        n = 1;
    if (n > CVM_RANGES_MAX)
        n = CVM_RANGES_MAX;
    r->items = items;
    r->n = n;
    for (int i = 0; i < n; i++)
        atomic_init(&r->next[i], items * i / n);
}

int64_t cvm_ranges_next(cvm_ranges *r, int *cursor)
{
    int own = member_index % r->n;
    for (; *cursor < r->n; ++*cursor) {
        int i = (own + *cursor) % r->n;
        int64_t end = r->items * (i + 1) / r->n;
        int64_t it = atomic_fetch_add_explicit(&r->next[i], 1, memory_order_relaxed);
        if (it < end)
            return it;
    }
    return -1;
}

int cvm_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}

cvm_status cvm_threadpool_create(int threads, cvm_threadpool **out)
{
    *out = NULL;
    if (threads <= 0)
        threads = cvm_cpu_count();
    if (threads > 256)
        return cvm_errorf(CVM_E_INVALID_ARG, "%d threads requested; at most 256 are supported", threads);
    cvm_threadpool *p = calloc(1, sizeof *p);
    if (!p)
        return cvm_errorf(CVM_E_NOMEM, "out of memory creating a thread pool");
    p->size = threads;
    pthread_mutex_init(&p->lock, NULL);
    pthread_mutex_init(&p->busy, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done_cv, NULL);
    if (threads > 1) {
        p->threads = calloc((size_t)threads - 1, sizeof *p->threads);
        p->wargs = calloc((size_t)threads - 1, sizeof *p->wargs);
        if (!p->threads || !p->wargs) {
            p->size = 1; /* no worker started: nothing to join */
            cvm_threadpool_free(p);
            return cvm_errorf(CVM_E_NOMEM, "out of memory creating a thread pool");
        }
        for (int i = 1; i < threads; i++) {
            p->wargs[i - 1] = (worker_arg){p, i};
            if (pthread_create(&p->threads[i - 1], NULL, worker_main, &p->wargs[i - 1]) != 0) {
                p->size = i; /* free joins only the threads that started */
                cvm_threadpool_free(p);
                return cvm_errorf(CVM_E_NOMEM, "could not start worker thread %d", i);
            }
        }
    }
    *out = p;
    return CVM_OK;
}

void cvm_threadpool_free(cvm_threadpool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    atomic_store(&p->quit, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    for (int i = 1; i < p->size; i++)
        pthread_join(p->threads[i - 1], NULL);
    free(p->threads);
    free(p->wargs);
    pthread_mutex_destroy(&p->lock);
    pthread_mutex_destroy(&p->busy);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done_cv);
    free(p);
}

int cvm_threadpool_size(const cvm_threadpool *p) { return p ? p->size : 1; }

void cvm_parallel_for(cvm_threadpool *p, size_t n, size_t grain, cvm_range_fn fn, void *arg)
{
    if (n == 0)
        return;
    if (grain == 0)
        grain = 1;
    int parts = p ? p->size : 1;
    if ((size_t)parts > (n + grain - 1) / grain)
        parts = (int)((n + grain - 1) / grain);
    if (parts <= 1 || pthread_mutex_trylock(&p->busy) != 0) {
        fn(arg, 0, n);
        return;
    }
    size_t most = (n + grain - 1) / grain;
    size_t nchunks = most < (size_t)p->size ? most : (size_t)p->size;
    p->fn = fn;
    p->arg = arg;
    p->n = n;
    p->chunk = (n + nchunks - 1) / nchunks;
    atomic_store_explicit(&p->done, 0, memory_order_relaxed);
    /* job 0 is what a new worker has seen: skip it when the count wraps */
    if (++p->job == 0)
        p->job = 1;
    uint32_t job = p->job;
    atomic_store(&p->claim, (unsigned long long)job << 32 | (unsigned long long)nchunks << 16);
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->lock);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->lock);
    }
    run_chunks(p, job);
    spin sp = {0};
    while (atomic_load_explicit(&p->done, memory_order_acquire) < nchunks && spin_on(&sp))
        ;
    if (atomic_load_explicit(&p->done, memory_order_acquire) < nchunks) {
        pthread_mutex_lock(&p->lock);
        atomic_store(&p->caller_waiting, 1);
        while (atomic_load(&p->done) < nchunks)
            pthread_cond_wait(&p->done_cv, &p->lock);
        atomic_store(&p->caller_waiting, 0);
        pthread_mutex_unlock(&p->lock);
    }
    pthread_mutex_unlock(&p->busy);
}
