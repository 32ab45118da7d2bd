/*
 * Fusions of the elementwise chains around transformer-style and mobile
 * blocks (run after the Conv/MatMul passes of cvm_graph_fuse).
 *
 * ScaleShift(X) -> Y  (domain "cvm"), Y = X * scale + bias, attributes
 *   scale, bias: the two constants
 *   min_rank:    Y's rank is at least this (the constants' rank, which
 *                broadcasting would otherwise add in front of X's shape)
 * The product is rounded to float before the sum, as the Mul and Add it
 * replaces compute it.
 */
#ifndef CVM_GRAPH_FUSE_ELEMENTWISE_H
#define CVM_GRAPH_FUSE_ELEMENTWISE_H

#include "base/status.h"
#include "graph/graph.h"
#include "graph/schema.h"

/* Rewrites g in place; only single-use intermediates that are not graph
 * outputs disappear. */
cvm_status cvm_fuse_elementwise(cvm_graph *g);

/* Shape inference of ScaleShift (listed in cvm_schemas_fused). */
cvm_status cvm_infer_scale_shift(const cvm_infer_ctx *c);

#endif
