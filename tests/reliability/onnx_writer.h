/*
 * A minimal ONNX (protobuf) writer for the reliability tests.  Tests build the
 * exact model they need in memory -- including ones no exporter would write --
 * and feed it to cvm_session_create_from_memory, so no fixture file has to be
 * kept in sync with the test.  Allocation failures abort the test process:
 * this is test code, the library itself never aborts.
 */
#ifndef CVM_TESTS_ONNX_WRITER_H
#define CVM_TESTS_ONNX_WRITER_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ow_buf {
    uint8_t *p;
    size_t n, cap;
} ow_buf;

static inline void ow_put(ow_buf *b, const void *src, size_t n)
{
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n)
            cap *= 2;
        uint8_t *np = realloc(b->p, cap);
        if (!np) {
            fprintf(stderr, "onnx_writer: out of memory\n");
            abort();
        }
        b->p = np;
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->n, src, n);
    b->n += n;
}

static inline void ow_free(ow_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

static inline void ow_varint(ow_buf *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t k = 0;
    do {
        tmp[k++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    ow_put(b, tmp, k);
}

static inline void ow_tag(ow_buf *b, unsigned field, unsigned wire) { ow_varint(b, ((uint64_t)field << 3) | wire); }
static inline void ow_int(ow_buf *b, unsigned field, int64_t v)
{
    ow_tag(b, field, 0);
    ow_varint(b, (uint64_t)v);
}
static inline void ow_bytes(ow_buf *b, unsigned field, const void *p, size_t n)
{
    ow_tag(b, field, 2);
    ow_varint(b, n);
    ow_put(b, p, n);
}
static inline void ow_str(ow_buf *b, unsigned field, const char *s) { ow_bytes(b, field, s, strlen(s)); }
/* Appends `sub` as an embedded message and frees it. */
static inline void ow_msg(ow_buf *b, unsigned field, ow_buf *sub)
{
    ow_bytes(b, field, sub->p, sub->n);
    ow_free(sub);
}

/* ValueInfoProto for a tensor; dims < 0 are written as the symbolic dim "N".
 * ndim < 0 writes no shape at all. */
static inline void ow_value_info(ow_buf *graph, unsigned field, const char *name, int dtype, int ndim,
                          const int64_t *dims)
{
    ow_buf vi = {0}, type = {0}, tt = {0}, shape = {0};
    ow_str(&vi, 1, name);
    ow_int(&tt, 1, dtype);
    if (ndim >= 0) {
        for (int i = 0; i < ndim; i++) {
            ow_buf dim = {0};
            if (dims[i] >= 0)
                ow_int(&dim, 1, dims[i]);
            else
                ow_str(&dim, 2, "N");
            ow_msg(&shape, 1, &dim);
        }
        /* An empty TensorShapeProto still marks the value as a scalar. */
        if (ndim == 0)
            ow_bytes(&tt, 2, "", 0);
        else
            ow_msg(&tt, 2, &shape);
    }
    ow_free(&shape);
    ow_msg(&type, 1, &tt);
    ow_msg(&vi, 2, &type);
    ow_msg(graph, field, &vi);
}

static inline void ow_input(ow_buf *g, const char *name, int dtype, int ndim, const int64_t *dims)
{
    ow_value_info(g, 11, name, dtype, ndim, dims);
}
static inline void ow_output(ow_buf *g, const char *name, int dtype, int ndim, const int64_t *dims)
{
    ow_value_info(g, 12, name, dtype, ndim, dims);
}

/* An initializer with raw little-endian data. */
static inline void ow_initializer(ow_buf *g, const char *name, int dtype, int ndim, const int64_t *dims,
                           const void *raw, size_t nbytes)
{
    ow_buf t = {0};
    for (int i = 0; i < ndim; i++)
        ow_int(&t, 1, dims[i]);
    ow_int(&t, 2, dtype);
    ow_str(&t, 8, name);
    ow_bytes(&t, 9, raw, nbytes);
    ow_msg(g, 5, &t);
}

/* A node; inputs/outputs are NULL-terminated name lists; `attrs` is an
 * optional pre-built list of AttributeProto messages (already tagged). */
static inline void ow_node(ow_buf *g, const char *op, const char *name, const char *const *in,
                    const char *const *out, ow_buf *attrs)
{
    ow_buf n = {0};
    for (; in && *in; in++)
        ow_str(&n, 1, *in);
    for (; out && *out; out++)
        ow_str(&n, 2, *out);
    ow_str(&n, 3, name);
    ow_str(&n, 4, op);
    if (attrs) {
        ow_put(&n, attrs->p, attrs->n);
        ow_free(attrs);
    }
    ow_msg(g, 1, &n);
}

/* AttributeProto of type INTS (7). */
static inline void ow_attr_ints(ow_buf *attrs, const char *name, int n, const int64_t *v)
{
    ow_buf a = {0};
    ow_str(&a, 1, name);
    for (int i = 0; i < n; i++)
        ow_int(&a, 8, v[i]);
    ow_int(&a, 20, 7);
    ow_msg(attrs, 5, &a);
}

/* AttributeProto of type INT (2). */
static inline void ow_attr_int(ow_buf *attrs, const char *name, int64_t v)
{
    ow_buf a = {0};
    ow_str(&a, 1, name);
    ow_int(&a, 3, v);
    ow_int(&a, 20, 2);
    ow_msg(attrs, 5, &a);
}

/* Wraps a finished graph into a ModelProto (IR 8, default domain at `opset`). */
static inline ow_buf ow_model(ow_buf *graph, int opset)
{
    ow_buf m = {0}, os = {0};
    ow_int(&m, 1, 8);
    ow_str(&m, 2, "cvm-tests");
    ow_str(graph, 2, "g");
    ow_msg(&m, 7, graph);
    ow_str(&os, 1, "");
    ow_int(&os, 2, opset);
    ow_msg(&m, 8, &os);
    return m;
}

#endif
