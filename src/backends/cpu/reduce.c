#include "backends/cpu/kernel_tables.h"

const cvm_kernel_def cvm_cpu_kernels_reduce[] = {
    {0},
};
