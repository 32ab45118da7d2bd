/* Kernels of the reduce group that live in their own files. */
#ifndef CVM_BACKENDS_CPU_REDUCE_KERNELS_H
#define CVM_BACKENDS_CPU_REDUCE_KERNELS_H

#include "backends/backend.h"

/* Resize and Upsample (resize_cpu.c). */
cvm_status cvm_cpu_resize_prepare(const cvm_kernel_ctx *c, void **state, size_t *scratch_bytes);
cvm_status cvm_cpu_resize_run(const cvm_kernel_ctx *c);
/* GridSample (gridsample_cpu.c). */
cvm_status cvm_cpu_gridsample_run(const cvm_kernel_ctx *c);

#endif
