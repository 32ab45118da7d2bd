/*
 * Fusion of the integer convolution that dynamic quantisation emits:
 *   ConvInteger(X, W, xz, wz) -> Cast(to float) -> Mul(., S)
 * with S a one-element float becomes one node of domain "cvm":
 *   ConvIntegerScaled(X, W, xz, wz, S) -> Y = float(ConvInteger(...)) * S
 * (attributes of ConvInteger), so the kernel converts and scales each tile
 * while it is in cache and the int32 tensor never reaches memory.  The result
 * is bit for bit that of the three nodes: int32 to float rounds to nearest in
 * both, and one float multiply follows.
 */
#ifndef CVM_GRAPH_FUSE_QUANT_H
#define CVM_GRAPH_FUSE_QUANT_H

#include "base/status.h"
#include "graph/graph.h"
#include "graph/schema.h"

/* Rewrites g in place; does nothing until cvm_schemas_quant_fused is among
 * the registered schema tables (src/graph/schema.c). */
cvm_status cvm_graph_fuse_quant(cvm_graph *g);

/* The schema of ConvIntegerScaled. */
extern const cvm_op_schema cvm_schemas_quant_fused[];

#endif
