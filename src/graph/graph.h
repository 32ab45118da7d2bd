/*
 * The graph IR: what the ONNX loader produces and the passes and runtime
 * consume.  Values (edges) and nodes live in arrays and refer to each other
 * by index, so that passes can rewrite the graph without pointer chasing.
 */
#ifndef CVM_GRAPH_GRAPH_H
#define CVM_GRAPH_GRAPH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cvm/cvm.h"

typedef enum cvm_attr_type {
    CVM_ATTR_UNDEFINED = 0,
    CVM_ATTR_FLOAT = 1,
    CVM_ATTR_INT = 2,
    CVM_ATTR_STRING = 3,
    CVM_ATTR_TENSOR = 4,
    CVM_ATTR_GRAPH = 5,
    CVM_ATTR_FLOATS = 6,
    CVM_ATTR_INTS = 7,
    CVM_ATTR_STRINGS = 8,
    CVM_ATTR_TENSORS = 9,
    CVM_ATTR_GRAPHS = 10,
    CVM_ATTR_SPARSE_TENSOR = 11,
    CVM_ATTR_SPARSE_TENSORS = 12,
    CVM_ATTR_TYPE_PROTO = 13,
    CVM_ATTR_TYPE_PROTOS = 14
} cvm_attr_type;

struct cvm_graph;

typedef struct cvm_attr {
    char *name;
    cvm_attr_type type;
    float f;
    int64_t i;
    char *s;           /* NUL-terminated copy; s_len excludes the terminator */
    size_t s_len;
    cvm_tensor *t;
    struct cvm_graph *g;
    size_t n;          /* element count of the list forms below */
    float *floats;
    int64_t *ints;
    char **strings;
    cvm_tensor **tensors;
    struct cvm_graph **graphs;
} cvm_attr;

/* A dimension as declared in the model: a fixed value, or a symbol. */
typedef struct cvm_dim {
    int64_t value;     /* >= 0 when fixed, -1 when symbolic or unknown */
    char *param;       /* symbol name, or NULL */
} cvm_dim;

typedef struct cvm_value {
    char *name;
    cvm_dtype dtype;         /* declared element type; UNDEFINED if not declared */
    int ndim;                /* declared rank; -1 if not declared */
    cvm_dim dims[CVM_MAX_DIMS];
    cvm_tensor *init;        /* constant data (initializer or folded), or NULL */
    int producer;            /* node index producing it, or -1 */
} cvm_value;

typedef struct cvm_node {
    char *name;
    char *op_type;
    char *domain;            /* "" for the default ONNX domain (also "ai.onnx") */
    int opset;               /* opset version imported for the node's domain */
    int n_in, n_out;
    int *in;                 /* value indices; -1 marks an omitted optional input */
    int *out;                /* value indices; -1 marks an omitted optional output */
    int n_attr;
    cvm_attr *attrs;
} cvm_node;

typedef struct cvm_opset_import {
    char *domain;
    int64_t version;
} cvm_opset_import;

typedef struct cvm_graph {
    char *name;
    int n_values, cap_values;
    cvm_value *values;
    int n_nodes, cap_nodes;
    cvm_node *nodes;
    int n_inputs, n_outputs;
    int *inputs;             /* graph inputs that are not initializers */
    int *outputs;
    int n_opsets;
    cvm_opset_import *opsets; /* model-level imports, copied into the main graph */
    int64_t ir_version;
} cvm_graph;

/* Construction (used by the loader, the passes and tests). */
cvm_status cvm_graph_create(cvm_graph **out);
void cvm_graph_free(cvm_graph *g);
/* Index of the value with this name, creating an undeclared one if absent. */
cvm_status cvm_graph_value(cvm_graph *g, const char *name, int *index);
/* Index of the value with this name, or -1. */
int cvm_graph_find_value(const cvm_graph *g, const char *name);
/* Appends a node; `in`/`out` are value indices (copied). */
cvm_status cvm_graph_add_node(cvm_graph *g, const char *op_type, const char *domain,
                              const char *name, int n_in, const int *in, int n_out,
                              const int *out, int *index);
void cvm_attr_clear(cvm_attr *a);
/* Frees what a node owns (name, type, domain, value lists, attributes) and
 * zeroes it; the node array itself is the graph's. */
void cvm_node_clear(cvm_node *n);

/* Attribute lookup for kernels and shape inference. */
const cvm_attr *cvm_node_attr(const cvm_node *n, const char *name);
int64_t cvm_attr_int(const cvm_node *n, const char *name, int64_t def);
float cvm_attr_float(const cvm_node *n, const char *name, float def);
/* Returns the string or `def`. */
const char *cvm_attr_string(const cvm_node *n, const char *name, const char *def);
/* Returns the list and its length in *count, or NULL (count 0) when absent. */
const int64_t *cvm_attr_ints(const cvm_node *n, const char *name, size_t *count);
const float *cvm_attr_floats(const cvm_node *n, const char *name, size_t *count);

#endif
