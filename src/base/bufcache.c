#include "base/bufcache.h"

#include <pthread.h>
#include <stdlib.h>

#include "base/sanitize.h"

#ifdef CVM_ASAN
#define BC_OFF 1
#endif

#ifndef BC_OFF
typedef struct bc_entry {
    void *p;
    size_t n;
    unsigned long long age; /* when it was given back; the oldest goes first */
} bc_entry;

static struct {
    pthread_mutex_t mu;
    bc_entry e[CVM_BUFCACHE_ENTRIES];
    size_t bytes;
    unsigned long long clock;
} bc = {PTHREAD_MUTEX_INITIALIZER, {{0}}, 0, 0};
#endif

void *cvm_bufcache_take(size_t n)
{
#ifdef BC_OFF
    (void)n;
    return NULL;
#else
    if (n < CVM_BUFCACHE_MIN)
        return NULL;
    /* a quarter larger at most: a big block should not serve a small tensor */
    size_t most = n + n / 4;
    void *p = NULL;
    pthread_mutex_lock(&bc.mu);
    int best = -1;
    for (int i = 0; i < CVM_BUFCACHE_ENTRIES; i++)
        if (bc.e[i].p && bc.e[i].n >= n && bc.e[i].n <= most && (best < 0 || bc.e[i].n < bc.e[best].n))
            best = i;
    if (best >= 0) {
        p = bc.e[best].p;
        bc.bytes -= bc.e[best].n;
        bc.e[best].p = NULL;
    }
    pthread_mutex_unlock(&bc.mu);
    return p;
#endif
}

int cvm_bufcache_give(void *p, size_t n)
{
#ifdef BC_OFF
    (void)p, (void)n;
    return 0;
#else
    if (!p || n < CVM_BUFCACHE_MIN || n > CVM_BUFCACHE_BYTES)
        return 0;
    void *evict[CVM_BUFCACHE_ENTRIES];
    int ne = 0;
    pthread_mutex_lock(&bc.mu);
    /* make room: the oldest blocks go until this one fits both bounds */
    for (;;) {
        int free_slot = -1, oldest = -1;
        for (int i = 0; i < CVM_BUFCACHE_ENTRIES; i++) {
            if (!bc.e[i].p)
                free_slot = free_slot < 0 ? i : free_slot;
            else if (oldest < 0 || bc.e[i].age < bc.e[oldest].age)
                oldest = i;
        }
        if (free_slot >= 0 && bc.bytes + n <= CVM_BUFCACHE_BYTES) {
            bc.e[free_slot] = (bc_entry){p, n, ++bc.clock};
            bc.bytes += n;
            break;
        }
        if (oldest < 0)
            break; /* cannot happen: n alone fits */
        evict[ne++] = bc.e[oldest].p;
        bc.bytes -= bc.e[oldest].n;
        bc.e[oldest].p = NULL;
    }
    pthread_mutex_unlock(&bc.mu);
    for (int i = 0; i < ne; i++)
        free(evict[i]);
    return 1;
#endif
}
