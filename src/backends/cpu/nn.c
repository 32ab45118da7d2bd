#include "backends/cpu/kernel_tables.h"
#include "backends/cpu/nn_kernels.h"

const cvm_kernel_def cvm_cpu_kernels_nn[] = {
    {"", "Conv", cvm_nn_conv_prepare, cvm_nn_free_state, cvm_nn_conv_run, 0},
    {"", "ConvTranspose", cvm_nn_convt_prepare, cvm_nn_free_state, cvm_nn_convt_run, 0},
    {"", "MaxPool", NULL, NULL, cvm_nn_pool_run, 0},
    {"", "AveragePool", NULL, NULL, cvm_nn_pool_run, 0},
    {"", "LpPool", NULL, NULL, cvm_nn_pool_run, 0},
    {"", "GlobalAveragePool", NULL, NULL, cvm_nn_global_pool_run, 0},
    {"", "GlobalMaxPool", NULL, NULL, cvm_nn_global_pool_run, 0},
    {"", "GlobalLpPool", NULL, NULL, cvm_nn_global_pool_run, 0},
    {"", "BatchNormalization", NULL, NULL, cvm_nn_batchnorm_run, 0},
    {"", "InstanceNormalization", NULL, NULL, cvm_nn_instancenorm_run, 0},
    {"", "LayerNormalization", NULL, NULL, cvm_nn_layernorm_run, 0},
    {"", "GroupNormalization", NULL, NULL, cvm_nn_groupnorm_run, 0},
    {"", "LpNormalization", NULL, NULL, cvm_nn_lpnorm_run, 0},
    {"", "LRN", NULL, NULL, cvm_nn_lrn_run, 0},
    {"", "Gemm", cvm_nn_gemm_prepare, cvm_nn_mm_release, cvm_nn_gemm_run, 0},
    {"", "MatMul", cvm_nn_matmul_prepare, cvm_nn_mm_release, cvm_nn_matmul_run, 0},
    {"", "Einsum", NULL, NULL, cvm_nn_einsum_run, 0},
    {"", "Softmax", NULL, NULL, cvm_nn_softmax_run, 0},
    {"", "LogSoftmax", NULL, NULL, cvm_nn_softmax_run, 0},
    {"", "Hardmax", NULL, NULL, cvm_nn_softmax_run, 0},
    {"", "Dropout", NULL, NULL, cvm_nn_dropout_run, CVM_KERNEL_ANY_FLOAT},
    {0},
};
