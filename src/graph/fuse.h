/*
 * Graph fusion for inference: a Conv and the elementwise work that follows it
 * (BatchNormalization folded into constant weights; an activation; the add of
 * a residual) become one FusedConv node of domain "cvm", whose kernel applies
 * the activation and the add to each output tile while it is still in cache.
 *
 * FusedConv(X, W, [B], [R]) -> Y, attributes of Conv plus
 *   activation: "" (none), "Relu", "LeakyRelu", "Sigmoid", "SiLU" (x * sigmoid(x)),
 *               "HardSigmoid", "HardSwish", "Clip"
 *   alpha, beta: LeakyRelu alpha; HardSigmoid alpha/beta; Clip min/max
 *   add_first:   0: Y = act(conv) + R;  1: Y = act(conv + R)
 * R must broadcast to the convolution's output shape.
 */
#ifndef CVM_GRAPH_FUSE_H
#define CVM_GRAPH_FUSE_H

#include "base/status.h"
#include "graph/graph.h"
#include "graph/schema.h"

enum {
    CVM_FUSED_NONE = 0,
    CVM_FUSED_RELU,
    CVM_FUSED_LEAKY_RELU,
    CVM_FUSED_SIGMOID,
    CVM_FUSED_SILU,
    CVM_FUSED_HARD_SIGMOID,
    CVM_FUSED_HARD_SWISH,
    CVM_FUSED_CLIP,
    CVM_FUSED_GELU /* exact (erf) GELU; FusedMatMul only */
};

/* The domain of the fused operators. */
#define CVM_FUSED_DOMAIN "cvm"

/* Rewrites g in place.  Only intermediates with a single consumer that are not
 * graph outputs disappear; the graph computes the same values afterwards. */
cvm_status cvm_graph_fuse(cvm_graph *g);

/* Reads a FusedConv or FusedMatMul node's activation attributes (with their defaults). */
cvm_status cvm_fused_act_parse(const cvm_node *n, int *act, float *alpha, float *beta);

/* Schemas of the fused operators (shape_fused.c). */
extern const cvm_op_schema cvm_schemas_fused[];

#endif
