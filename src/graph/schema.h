/*
 * Operator schemas: what an operator does to types and shapes, independent
 * of any backend.  Shape inference, constant folding and memory planning are
 * driven by these; kernels live in src/backends/.
 */
#ifndef CVM_GRAPH_SCHEMA_H
#define CVM_GRAPH_SCHEMA_H

#include "base/status.h"
#include "base/tensor.h"
#include "graph/graph.h"

/* Returned by an infer function when an output shape depends on the value of
 * an input that is not known yet (in[i]->data == NULL).  Not an error: the
 * runtime then sizes the output at run time, when the values exist. */
#define CVM_E_DYNAMIC ((cvm_status)100)

typedef struct cvm_infer_ctx {
    const cvm_node *node;
    int opset;                    /* the opset version the node was written against */
    int n_in, n_out;
    /* in[i] is NULL for an omitted optional input.  dtype/ndim/dims are always
     * set; data is non-NULL only when the value is known at this point
     * (initializer, folded constant, or during a run). */
    const cvm_tensor *const *in;
    /* infer sets dtype, ndim and dims of every present output (out[i] NULL for
     * an omitted optional output).  It never allocates data. */
    cvm_tensor *const *out;
} cvm_infer_ctx;

enum {
    /* Outputs depend only on input shapes (Shape, Size): fold as soon as the
     * shapes are known even if the data is not. */
    CVM_SCHEMA_SHAPE_ONLY = 1u << 0,
    /* Never evaluate at build time (random generators). */
    CVM_SCHEMA_NO_FOLD = 1u << 1
};

typedef struct cvm_op_schema {
    const char *domain;           /* "" for ai.onnx */
    const char *type;
    int min_in, max_in;           /* input count bounds (max -1 = variadic) */
    int min_out, max_out;
    cvm_status (*infer)(const cvm_infer_ctx *c);
    unsigned flags;
} cvm_op_schema;

/* Looks up the schema for (domain, op_type); NULL when unknown. */
const cvm_op_schema *cvm_schema_find(const char *domain, const char *type);
/* Calls fn for every registered schema (for listings and the conformance table). */
void cvm_schema_each(void (*fn)(const cvm_op_schema *s, void *arg), void *arg);

/* ---- helpers shared by infer functions ---- */

/* Sets out to dtype/shape. */
void cvm_set_shape(cvm_tensor *out, cvm_dtype dt, int ndim, const int64_t *dims);
/* Multidirectional (numpy) broadcast of two shapes into out_dims; returns
 * CVM_E_SHAPE with a message naming both shapes when they do not broadcast. */
cvm_status cvm_broadcast_shape(int na, const int64_t *a, int nb, const int64_t *b, int *nout,
                               int64_t *out);
/* Normalises a possibly negative axis against rank, or fails with a message. */
cvm_status cvm_norm_axis(int64_t axis, int rank, const char *op, int *out);
/* Errors for kernels and schemas that name the node. */
cvm_status cvm_node_error(const cvm_node *n, cvm_status s, const char *fmt, ...) CVM_PRINTF(3, 4);

#endif
