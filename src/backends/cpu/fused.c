/* Kernels of the operators that the fusion pass creates (domain "cvm"). */
#include "backends/cpu/nn_kernels.h"
#include "graph/fuse.h"

const cvm_kernel_def cvm_cpu_kernels_fused[] = {
    {CVM_FUSED_DOMAIN, "FusedConv", cvm_nn_conv_prepare, cvm_nn_free_state, cvm_nn_conv_run, 0},
    {CVM_FUSED_DOMAIN, "FusedMatMul", cvm_nn_matmul_prepare, cvm_nn_mm_release, cvm_nn_matmul_run,
     0},
    {CVM_FUSED_DOMAIN, "FusedAttention", cvm_nn_attention_prepare, cvm_nn_attention_release,
     cvm_nn_attention_run, 0},
    {CVM_FUSED_DOMAIN, "SoftmaxDot", NULL, NULL, cvm_nn_softmax_dot_run, 0},
    {0},
};
