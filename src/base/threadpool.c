#include "base/threadpool.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/status.h"

/*
 * Workers sleep on a condition variable and wake for each job; a job is one
 * parallel_for split into exactly `size` chunks so that no queue is needed.
 * A generation counter tells workers a new job has arrived.  Only one job runs
 * at a time: a second caller (another session run on another thread) does not
 * wait for the pool but runs its loop inline, which keeps concurrent runs
 * deadlock-free and still uses the cores.
 */
struct cvm_threadpool {
    int size;
    pthread_t *threads;
    pthread_mutex_t lock;
    pthread_cond_t wake, done;
    pthread_mutex_t busy;      /* held by the caller that owns the current job */
    unsigned long generation;
    int remaining;             /* chunks of the current job not finished yet */
    int quit;
    cvm_range_fn fn;
    void *arg;
    size_t n, chunk;
};

typedef struct worker_arg {
    cvm_threadpool *p;
    int index;
} worker_arg;

static void run_chunk(cvm_threadpool *p, int index)
{
    size_t b = (size_t)index * p->chunk;
    size_t e = b + p->chunk;
    if (e > p->n)
        e = p->n;
    if (b < e)
        p->fn(p->arg, b, e);
}

static void *worker_main(void *varg)
{
    worker_arg *wa = varg;
    cvm_threadpool *p = wa->p;
    int index = wa->index;
    free(wa);
    unsigned long seen = 0;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->quit && p->generation == seen)
            pthread_cond_wait(&p->wake, &p->lock);
        if (p->quit)
            break;
        seen = p->generation;
        pthread_mutex_unlock(&p->lock);
        run_chunk(p, index);
        pthread_mutex_lock(&p->lock);
        if (--p->remaining == 0)
            pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
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
    pthread_cond_init(&p->done, NULL);
    if (threads > 1) {
        p->threads = calloc((size_t)threads - 1, sizeof *p->threads);
        if (!p->threads) {
            cvm_threadpool_free(p);
            return cvm_errorf(CVM_E_NOMEM, "out of memory creating a thread pool");
        }
        for (int i = 1; i < threads; i++) {
            worker_arg *wa = malloc(sizeof *wa);
            if (wa) {
                wa->p = p;
                wa->index = i;
            }
            if (!wa || pthread_create(&p->threads[i - 1], NULL, worker_main, wa) != 0) {
                free(wa);
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
    p->quit = 1;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    for (int i = 1; i < p->size; i++)
        pthread_join(p->threads[i - 1], NULL);
    free(p->threads);
    pthread_mutex_destroy(&p->lock);
    pthread_mutex_destroy(&p->busy);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
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
    pthread_mutex_lock(&p->lock);
    p->fn = fn;
    p->arg = arg;
    p->n = n;
    p->chunk = (n + (size_t)p->size - 1) / (size_t)p->size;
    p->remaining = p->size - 1;
    p->generation++;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    run_chunk(p, 0);
    pthread_mutex_lock(&p->lock);
    while (p->remaining > 0)
        pthread_cond_wait(&p->done, &p->lock);
    pthread_mutex_unlock(&p->lock);
    pthread_mutex_unlock(&p->busy);
}
