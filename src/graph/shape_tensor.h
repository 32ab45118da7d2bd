/*
 * Parameter resolution shared by the tensor operators' shape inference and
 * their kernels, so that both read attributes and value inputs (which moved
 * from attributes to inputs across opsets) in exactly one way.
 */
#ifndef CVM_GRAPH_SHAPE_TENSOR_H
#define CVM_GRAPH_SHAPE_TENSOR_H

#include "graph/schema.h"

/* Slice: for every axis of input 0, the first element, the step and the
 * output extent.  CVM_E_DYNAMIC when a parameter input has no data yet. */
cvm_status cvm_slice_plan(const cvm_node *node, int opset, int n_in, const cvm_tensor *const *in,
                          int64_t *start, int64_t *step, int64_t *out_dims);

enum { CVM_PAD_CONSTANT, CVM_PAD_REFLECT, CVM_PAD_EDGE, CVM_PAD_WRAP };

/* Pad: per-axis padding before (begin) and after (end); negative values crop. */
cvm_status cvm_pad_plan(const cvm_node *node, int opset, int n_in, const cvm_tensor *const *in,
                        int64_t *begin, int64_t *end, int *mode);

/* Split: the normalised axis and the extent of each of the n_out outputs. */
cvm_status cvm_split_plan(const cvm_node *node, int opset, int n_in, const cvm_tensor *const *in,
                          int n_out, int *axis, int64_t *sizes);

/* ScatterElements / ScatterND reduction. */
enum { CVM_REDUCE_NONE, CVM_REDUCE_ADD, CVM_REDUCE_MUL, CVM_REDUCE_MAX, CVM_REDUCE_MIN };
cvm_status cvm_scatter_reduction(const cvm_node *node, int opset, int *red);

#endif
