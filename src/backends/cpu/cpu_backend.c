#include <string.h>

#include "backends/cpu/kernel_tables.h"
#include "backends/cpu/nn_kernels.h" /* cvm_cpu_kernels_fused */

static const cvm_kernel_def *const tables[] = {
    cvm_cpu_kernels_elementwise, cvm_cpu_kernels_nn, cvm_cpu_kernels_tensor,
    cvm_cpu_kernels_reduce, cvm_cpu_kernels_quant, cvm_cpu_kernels_fused, cvm_cpu_kernels_detection,
};

static int domain_eq(const char *a, const char *b)
{
    if (!a || !*a || strcmp(a, "ai.onnx") == 0)
        a = "";
    if (!b || !*b || strcmp(b, "ai.onnx") == 0)
        b = "";
    return strcmp(a, b) == 0;
}

static const cvm_kernel_def *find_kernel(const char *domain, const char *type)
{
    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++)
        for (const cvm_kernel_def *k = tables[t]; k->type; k++)
            if (strcmp(k->type, type) == 0 && domain_eq(k->domain, domain))
                return k;
    return NULL;
}

static const cvm_backend cpu = {.name = "cpu", .find_kernel = find_kernel};

const cvm_backend *cvm_backend_cpu(void) { return &cpu; }
