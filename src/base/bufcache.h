/*
 * Large tensor buffers taken back and handed out again.  A run's outputs are
 * new tensors that the caller frees; when the allocator hands such a block
 * back to the system, the next run's output faults in fresh pages: about
 * 2 ms of a 28 ms YOLOv8n run on a KVM guest when driven from Python, and
 * half of a lone stride-2 layer's time.  So cvm_tensor_free keeps a few
 * recently freed large blocks (plain malloc blocks, so anything that frees
 * tensor data with free() stays right) and tensor creation reuses one of
 * nearly the right size.  Bounded: CVM_BUFCACHE_ENTRIES blocks and
 * CVM_BUFCACHE_BYTES in all; off in sanitizer builds, whose checkers must see
 * every free.
 */
#ifndef CVM_BASE_BUFCACHE_H
#define CVM_BASE_BUFCACHE_H

#include <stddef.h>

#define CVM_BUFCACHE_MIN ((size_t)128 << 10) /* smaller blocks: malloc reuses them well */
#define CVM_BUFCACHE_ENTRIES 8
#define CVM_BUFCACHE_BYTES ((size_t)64 << 20)

/* A cached block of at least n bytes (and not much more), or NULL. */
void *cvm_bufcache_take(size_t n);
/* Offers block p (from malloc, at least n bytes usable); returns 1 when
 * kept, 0 when the caller must free it. */
int cvm_bufcache_give(void *p, size_t n);

#endif
