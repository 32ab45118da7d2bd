#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/bigmem.h"
#include "base/bufcache.h"
#include "base/half.h"
#include "base/sanitize.h"
#include "base/status.h"
#include "base/tensor.h"
#include "base/threadpool.h"

static void test_error_message(void **st)
{
    (void)st;
    cvm_status s = cvm_errorf(CVM_E_PARSE, "bad %s at %d", "thing", 7);
    assert_int_equal(s, CVM_E_PARSE);
    assert_string_equal(cvm_last_error(), "bad thing at 7");
    cvm_error_wrap(s, "loading x");
    assert_string_equal(cvm_last_error(), "loading x: bad thing at 7");
}

static void test_tensor_create_limits(void **st)
{
    (void)st;
    cvm_tensor *t = NULL;
    int64_t dims[2] = {2, 3};
    assert_int_equal(cvm_tensor_create(CVM_DTYPE_FLOAT32, 2, dims, &t), CVM_OK);
    assert_int_equal(t->nbytes, 24);
    assert_int_equal(cvm_tensor_numel(t), 6);
    cvm_tensor_free(t);
    int64_t huge[3] = {INT64_MAX / 2, 4, 4};
    assert_int_equal(cvm_tensor_create(CVM_DTYPE_FLOAT32, 3, huge, &t), CVM_E_SHAPE);
    assert_null(t);
    int64_t neg[1] = {-1};
    assert_int_equal(cvm_tensor_create(CVM_DTYPE_FLOAT32, 1, neg, &t), CVM_E_SHAPE);
    assert_int_equal(cvm_tensor_create((cvm_dtype)99, 1, dims, &t), CVM_E_TYPE);
    assert_true(strstr(cvm_last_error(), "dtype") != NULL);
}

static void test_half_roundtrip(void **st)
{
    (void)st;
    /* Every finite half converts to float and back unchanged. */
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7c00) == 0x7c00)
            continue;
        float f = cvm_f16_to_f32((uint16_t)h);
        assert_int_equal(cvm_f32_to_f16(f), h);
    }
    assert_int_equal(cvm_f32_to_f16(1.0f), 0x3c00);
    assert_int_equal(cvm_f32_to_f16(65520.0f), 0x7c00);
    assert_int_equal(cvm_f32_to_f16(1.0f + 1.0f / 2048), 0x3c00); /* tie to even */
    assert_int_equal(cvm_f32_to_bf16(1.0f), 0x3f80);
}

static void sum_range(void *arg, size_t b, size_t e)
{
    int64_t *v = arg;
    for (size_t i = b; i < e; i++)
        v[i] = (int64_t)i * 2;
}

static void test_threadpool(void **st)
{
    (void)st;
    cvm_threadpool *p;
    assert_int_equal(cvm_threadpool_create(3, &p), CVM_OK);
    int64_t v[1000];
    for (int rep = 0; rep < 100; rep++) {
        memset(v, 0, sizeof v);
        cvm_parallel_for(p, 1000, 1, sum_range, v);
        for (int i = 0; i < 1000; i++)
            assert_int_equal(v[i], i * 2);
    }
    cvm_threadpool_free(p);
}

static void count_range(void *arg, size_t b, size_t e)
{
    _Atomic int *hits = arg;
    for (size_t i = b; i < e; i++)
        atomic_fetch_add(&hits[i], 1);
}

/* `reps` jobs of 1-64 items back to back on a pool of `threads`, grains 1
 * to max_grain: every item of a job runs exactly once. */
static void run_each_once(int threads, int reps, int max_grain)
{
    cvm_threadpool *p;
    assert_int_equal(cvm_threadpool_create(threads, &p), CVM_OK);
    _Atomic int hits[64];
    for (int rep = 0; rep < reps; rep++) {
        size_t n = 1 + (size_t)(rep * 7919) % 64, grain = 1 + (size_t)rep % (size_t)max_grain;
        for (size_t i = 0; i < 64; i++)
            atomic_init(&hits[i], 0);
        cvm_parallel_for(p, n, grain, count_range, hits);
        for (size_t i = 0; i < 64; i++)
            assert_int_equal(atomic_load(&hits[i]), i < n ? 1 : 0);
    }
    cvm_threadpool_free(p);
}

/* Many small jobs back to back: workers that wake late (a job may be over
 * before a worker has looked at it) must never run a chunk twice, skip one,
 * or run a chunk of a job that is over. */
static void test_threadpool_back_to_back(void **st)
{
    (void)st;
    run_each_once(4, 20000, 5);
}

/* Each thread that runs a chunk records (its pthread, its member index). */
typedef struct member_log {
    pthread_mutex_t lock;
    pthread_t who[64];
    int idx[64];
    int n;
    _Atomic int entered;
} member_log;

static void log_member(void *arg, size_t b, size_t e)
{
    member_log *l = arg;
    (void)b, (void)e;
    pthread_mutex_lock(&l->lock);
    if (l->n < 64) {
        l->who[l->n] = pthread_self();
        l->idx[l->n++] = cvm_threadpool_member();
    }
    pthread_mutex_unlock(&l->lock);
    /* Hold the chunk until a second thread has entered one (or 2 s pass):
     * a caller that finishes every chunk before a worker wakes up would
     * leave the workers' indices untested. */
    atomic_fetch_add(&l->entered, 1);
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        sched_yield();
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while (atomic_load(&l->entered) < 2 &&
             (t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) < 2000000000L);
}

/* cvm_threadpool_member: 0 for the calling thread, 1..size-1 for the
 * workers, one fixed value per thread, different threads different values. */
static void test_threadpool_member(void **st)
{
    (void)st;
    assert_int_equal(cvm_threadpool_member(), 0);
    cvm_threadpool *p;
    assert_int_equal(cvm_threadpool_create(4, &p), CVM_OK);
    pthread_t seen[4];
    int seen_idx[4], nseen = 0, workers_seen = 0;
    for (int rep = 0; rep < 50; rep++) {
        member_log l = {.n = 0};
        atomic_init(&l.entered, 0);
        pthread_mutex_init(&l.lock, NULL);
        cvm_parallel_for(p, 4, 1, log_member, &l);
        pthread_mutex_destroy(&l.lock);
        for (int i = 0; i < l.n; i++) {
            assert_true(l.idx[i] >= 0 && l.idx[i] < 4);
            if (pthread_equal(l.who[i], pthread_self()))
                assert_int_equal(l.idx[i], 0);
            int k = 0;
            while (k < nseen && !pthread_equal(seen[k], l.who[i]))
                k++;
            if (k == nseen) {
                assert_true(nseen < 4);
                for (int q = 0; q < nseen; q++)
                    assert_int_not_equal(seen_idx[q], l.idx[i]);
                seen[nseen] = l.who[i];
                seen_idx[nseen++] = l.idx[i];
                if (l.idx[i] != 0)
                    workers_seen++;
            } else {
                assert_int_equal(seen_idx[k], l.idx[i]);
            }
        }
    }
    /* every job holds its first chunk until a second thread arrives, and
     * only workers can arrive */
    assert_true(workers_seen >= 1);
    cvm_threadpool_free(p);
}

/* Two chunks of a 2-thread job; each records who ran it and waits (up to
 * 50 ms) for the other to start, so that both threads are in the job. */
typedef struct own_log {
    _Atomic int started[2];
    int member[2];
} own_log;

static void log_own(void *arg, size_t b, size_t e)
{
    own_log *l = arg;
    for (size_t c = b; c < e; c++) {
        l->member[c] = cvm_threadpool_member();
        atomic_store(&l->started[c], 1);
        struct timespec t0, t;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        do {
            clock_gettime(CLOCK_MONOTONIC, &t);
        } while (!atomic_load(&l->started[1 - c]) &&
                 (t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) < 50000000L);
    }
}

/* Each thread takes the chunk of its own index first: the caller runs chunk
 * 0 of every job (handed out in claim order, the worker took it whenever it
 * claimed first), and a worker that is awake runs chunk 1. */
static void test_threadpool_own_chunk(void **st)
{
    (void)st;
    cvm_threadpool *p;
    assert_int_equal(cvm_threadpool_create(2, &p), CVM_OK);
    int worker_ran_one = 0;
    for (int rep = 0; rep < 200; rep++) {
        own_log l = {.member = {-1, -1}};
        atomic_init(&l.started[0], 0);
        atomic_init(&l.started[1], 0);
        cvm_parallel_for(p, 2, 1, log_own, &l);
        assert_int_equal(l.member[0], 0);
        worker_ran_one += l.member[1] == 1;
    }
    assert_true(worker_ran_one >= 100);
    cvm_threadpool_free(p);
}

/* More chunks than the claim mask holds (a pool of 20): handed out in
 * order, each exactly once. */
static void test_threadpool_many_chunks(void **st)
{
    (void)st;
    run_each_once(20, 500, 1);
}

/* Large buffers for packed weights: aligned, zeroed, writable to the last
 * byte, at sizes on both sides of the mapping threshold; NULL frees. */
static void test_big_alloc(void **st)
{
    (void)st;
    static const size_t sizes[] = {1, 63, 4096, (1u << 20) - 1, 1u << 20, (3u << 20) + 5};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        unsigned char *p = cvm_big_alloc(sizes[i]);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 64, 0);
        for (size_t k = 0; k < sizes[i]; k += 997)
            assert_int_equal(p[k], 0);
        assert_int_equal(p[sizes[i] - 1], 0);
        memset(p, 0xA5, sizes[i]);
        cvm_big_free(p);
    }
    cvm_big_free(NULL);
    assert_null(cvm_big_alloc(SIZE_MAX - 8));
}

/* Freed large tensors' blocks come back for tensors of nearly their size
 * (not for much smaller ones), zeroed when cvm_tensor_create asks for it;
 * the cache holds a bounded number of blocks.  Sanitizer builds turn it off,
 * and then only the contents are checked. */
static void test_tensor_buffer_reuse(void **st)
{
    (void)st;
#ifdef CVM_ASAN
    int on = 0;
#else
    int on = 1;
#endif
    int64_t big[1] = {(int64_t)1 << 18}, small[1] = {(int64_t)1 << 16}, tiny[1] = {1000};
    cvm_tensor *a, *b, *c;
    assert_int_equal(cvm_tensor_create_uninit(CVM_DTYPE_FLOAT32, 1, big, &a), CVM_OK);
    memset(a->data, 0x5A, a->nbytes);
    void *pa = a->data;
    cvm_tensor_free(a);
    /* much smaller: not served by the 1 MiB block */
    assert_int_equal(cvm_tensor_create_uninit(CVM_DTYPE_FLOAT32, 1, small, &c), CVM_OK);
    assert_ptr_not_equal(c->data, pa);
    cvm_tensor_free(c);
    assert_int_equal(cvm_tensor_create(CVM_DTYPE_FLOAT32, 1, big, &b), CVM_OK);
    if (on)
        assert_ptr_equal(b->data, pa);
    const float *bd = b->data;
    for (int64_t i = 0; i < big[0]; i += 4099)
        assert_true(bd[i] == 0.0f);
    cvm_tensor_free(b);
    /* small tensors never go through the cache */
    assert_null(cvm_bufcache_take(1000));
    assert_int_equal(cvm_tensor_create(CVM_DTYPE_FLOAT32, 1, tiny, &c), CVM_OK);
    cvm_tensor_free(c);
    /* more blocks than the cache holds: all freed or kept, none lost (ASan
     * and valgrind would see a leak), and at most the bound held */
    cvm_tensor *many[CVM_BUFCACHE_ENTRIES + 4];
    for (int i = 0; i < CVM_BUFCACHE_ENTRIES + 4; i++) {
        int64_t d[1] = {((int64_t)1 << 16) * (i + 2)};
        assert_int_equal(cvm_tensor_create_uninit(CVM_DTYPE_FLOAT32, 1, d, &many[i]), CVM_OK);
    }
    for (int i = 0; i < CVM_BUFCACHE_ENTRIES + 4; i++)
        cvm_tensor_free(many[i]);
    int kept = 0;
    for (int i = 0; i < CVM_BUFCACHE_ENTRIES + 4; i++) {
        void *p = cvm_bufcache_take(((size_t)1 << 18) * (size_t)(i + 2));
        kept += p != NULL;
        free(p);
    }
    assert_true(kept <= CVM_BUFCACHE_ENTRIES);
    if (on)
        assert_true(kept >= CVM_BUFCACHE_ENTRIES / 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_message),
        cmocka_unit_test(test_tensor_create_limits),
        cmocka_unit_test(test_half_roundtrip),
        cmocka_unit_test(test_threadpool),
        cmocka_unit_test(test_threadpool_back_to_back),
        cmocka_unit_test(test_threadpool_member),
        cmocka_unit_test(test_threadpool_own_chunk),
        cmocka_unit_test(test_threadpool_many_chunks),
        cmocka_unit_test(test_big_alloc),
        cmocka_unit_test(test_tensor_buffer_reuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
