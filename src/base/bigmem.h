/*
 * Large, long-lived buffers: the packed weights that kernels build once in
 * prepare().  Each is mapped and populated by one system call instead of
 * taking a page fault for every 4 KiB page as the packing first writes it:
 * on a KVM guest, faulting in 256 MiB page by page took 125-220 ms, mapping
 * it populated 91 ms, and a session build is mostly these faults (YOLOv8m's
 * weight packing: a third of its build, 26 of those 35 points in faults).
 * Small requests go to malloc.  Memory is zeroed.
 */
#ifndef CVM_BASE_BIGMEM_H
#define CVM_BASE_BIGMEM_H

#include <stddef.h>

/* n bytes, 64-byte aligned and zeroed, or NULL when out of memory. */
void *cvm_big_alloc(size_t n);
/* Releases what cvm_big_alloc returned (NULL: nothing). */
void cvm_big_free(void *p);

#endif
