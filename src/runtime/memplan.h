/* Offsets for intermediate tensors in one arena, reusing memory between
 * tensors whose lifetimes do not overlap. */
#ifndef CVM_RUNTIME_MEMPLAN_H
#define CVM_RUNTIME_MEMPLAN_H

#include <stddef.h>

#include "cvm/cvm.h"

typedef struct cvm_mem_request {
    size_t bytes;
    int first, last;   /* steps during which the buffer must stay intact (inclusive) */
    size_t offset;     /* result */
} cvm_mem_request;

/* Assigns offsets (64-byte aligned) to every request and returns the arena
 * size in *total. */
cvm_status cvm_memplan_assign(cvm_mem_request *req, size_t n, size_t *total);

/* The same, with conflict(ctx, i, j) deciding whether requests i and j are
 * in use at the same time instead of their intervals. */
cvm_status cvm_memplan_assign_with(cvm_mem_request *req, size_t n, size_t *total,
                                   int (*conflict)(void *ctx, size_t i, size_t j), void *ctx);

#endif
