/* Window geometry of the convolution and pooling operators, shared by their
 * shape inference (shape_nn.c) and their kernels. */
#ifndef CVM_GRAPH_SHAPE_NN_H
#define CVM_GRAPH_SHAPE_NN_H

#include "graph/schema.h"

#define CVM_NN_MAX_SPATIAL 3

typedef struct cvm_nn_geom {
    int nsp;                              /* spatial rank, 1..CVM_NN_MAX_SPATIAL */
    int64_t in[CVM_NN_MAX_SPATIAL];       /* input extent */
    int64_t k[CVM_NN_MAX_SPATIAL];        /* kernel extent */
    int64_t s[CVM_NN_MAX_SPATIAL];        /* stride */
    int64_t d[CVM_NN_MAX_SPATIAL];        /* dilation */
    int64_t pb[CVM_NN_MAX_SPATIAL];       /* padding before */
    int64_t pe[CVM_NN_MAX_SPATIAL];       /* padding after (may be negative for ConvTranspose) */
    int64_t out[CVM_NN_MAX_SPATIAL];      /* output extent */
} cvm_nn_geom;

/* Conv and pooling windows: reads auto_pad, pads, strides, dilations (and
 * ceil_mode when use_ceil) from the node; `kernel` is the window extent. */
cvm_status cvm_nn_window_geom(const cvm_node *n, int nsp, const int64_t *in, const int64_t *kernel,
                              int use_ceil, cvm_nn_geom *g);
/* ConvTranspose: also output_padding and output_shape. */
cvm_status cvm_nn_convtranspose_geom(const cvm_node *n, int nsp, const int64_t *in,
                                     const int64_t *kernel, cvm_nn_geom *g);


/* A parsed Einsum equation.  Letters get ids 0..51; the axes covered by an
 * ellipsis get ids 52.. (right-aligned across the inputs, as numpy does). */
#define CVM_EINSUM_MAX_IN 16
#define CVM_EINSUM_MAX_LABELS (52 + CVM_MAX_DIMS)

typedef struct cvm_einsum {
    int n_in;
    int rank[CVM_EINSUM_MAX_IN];
    int label[CVM_EINSUM_MAX_IN][CVM_MAX_DIMS];   /* label id of each input axis */
    int out_rank;
    int out_label[CVM_MAX_DIMS];
    int64_t dim[CVM_EINSUM_MAX_LABELS];          /* extent of each label (-1 unused) */
} cvm_einsum;

/* Parses the node's equation against the input shapes. */
cvm_status cvm_einsum_parse(const cvm_node *n, int n_in, const cvm_tensor *const *in, cvm_einsum *e);

#endif
