/* The CPU backend's per-group kernel tables (each ends with type == NULL). */
#ifndef CVM_BACKENDS_CPU_KERNEL_TABLES_H
#define CVM_BACKENDS_CPU_KERNEL_TABLES_H

#include "backends/backend.h"

extern const cvm_kernel_def cvm_cpu_kernels_elementwise[]; /* elementwise*.c */
extern const cvm_kernel_def cvm_cpu_kernels_nn[];          /* conv, pool, norm, matmul */
extern const cvm_kernel_def cvm_cpu_kernels_tensor[];      /* data movement */
extern const cvm_kernel_def cvm_cpu_kernels_reduce[];      /* reductions, resize, gridsample */
extern const cvm_kernel_def cvm_cpu_kernels_quant[];       /* quantized ops */
extern const cvm_kernel_def cvm_cpu_kernels_detection[];   /* NonMaxSuppression */

#endif
