#include "runtime/memplan.h"

#include <stdlib.h>

#include "base/status.h"

#define ALIGN 64

/*
 * Greedy by size: place the largest buffers first, each at the lowest offset
 * that does not collide with an already placed buffer alive at the same time.
 * Large activations then share the bottom of the arena and small ones fill the
 * gaps, which on YOLO-style graphs comes close to the peak live size.
 */
static int by_size_desc(const void *a, const void *b)
{
    const cvm_mem_request *x = *(cvm_mem_request *const *)a, *y = *(cvm_mem_request *const *)b;
    if (x->bytes != y->bytes)
        return x->bytes < y->bytes ? 1 : -1;
    return x->first - y->first;
}

static int by_offset(const void *a, const void *b)
{
    const cvm_mem_request *x = *(cvm_mem_request *const *)a, *y = *(cvm_mem_request *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

cvm_status cvm_memplan_assign(cvm_mem_request *req, size_t n, size_t *total)
{
    return cvm_memplan_assign_with(req, n, total, NULL, NULL);
}

cvm_status cvm_memplan_assign_with(cvm_mem_request *req, size_t n, size_t *total,
                                   int (*conflict)(void *ctx, size_t i, size_t j), void *ctx)
{
    *total = 0;
    if (n == 0)
        return CVM_OK;
    cvm_mem_request **order = malloc(n * sizeof *order);
    cvm_mem_request **placed = malloc(n * sizeof *placed);
    cvm_mem_request **live = malloc(n * sizeof *live);
    if (!order || !placed || !live) {
        free(order); free(placed); free(live);
        return cvm_errorf(CVM_E_NOMEM, "out of memory planning buffers");
    }
    for (size_t i = 0; i < n; i++)
        order[i] = &req[i];
    qsort(order, n, sizeof *order, by_size_desc);
    size_t n_placed = 0, top = 0;
    for (size_t i = 0; i < n; i++) {
        cvm_mem_request *r = order[i];
        size_t sz = (r->bytes + ALIGN - 1) / ALIGN * ALIGN;
        if (sz == 0)
            sz = ALIGN;
        size_t n_live = 0;
        for (size_t j = 0; j < n_placed; j++)
            if (conflict ? conflict(ctx, (size_t)(placed[j] - req), (size_t)(r - req))
                         : placed[j]->first <= r->last && r->first <= placed[j]->last)
                live[n_live++] = placed[j];
        qsort(live, n_live, sizeof *live, by_offset);
        size_t off = 0;
        for (size_t j = 0; j < n_live; j++) {
            size_t lsz = (live[j]->bytes + ALIGN - 1) / ALIGN * ALIGN;
            if (lsz == 0)
                lsz = ALIGN;
            if (off + sz <= live[j]->offset)
                break;
            if (live[j]->offset + lsz > off)
                off = live[j]->offset + lsz;
        }
        r->offset = off;
        if (off + sz > top)
            top = off + sz;
        placed[n_placed++] = r;
    }
    free(order);
    free(placed);
    free(live);
    *total = top;
    return CVM_OK;
}
