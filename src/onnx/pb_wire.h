/*
 * Protocol-buffer wire format, just enough to walk ONNX messages without
 * libprotobuf.  Every read is bounded by the enclosing message, so a hostile
 * length can never reach outside the buffer; errors name the byte offset in
 * the whole input (the `origin`) so that a broken file can be inspected.
 */
#ifndef CVM_ONNX_PB_WIRE_H
#define CVM_ONNX_PB_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cvm/cvm.h"

enum {
    CVM_PB_VARINT = 0,
    CVM_PB_I64 = 1,
    CVM_PB_LEN = 2,
    CVM_PB_SGROUP = 3,
    CVM_PB_EGROUP = 4,
    CVM_PB_I32 = 5
};

typedef struct cvm_pb {
    const uint8_t *p;       /* next unread byte */
    const uint8_t *end;     /* one past the message */
    const uint8_t *origin;  /* start of the whole input, for error offsets */
    const char *what;       /* message name, for error text */
} cvm_pb;

typedef struct cvm_pb_field {
    uint32_t num;
    int wire;
    uint64_t u;             /* payload of VARINT, I32 and I64 fields */
    const uint8_t *data;    /* payload of LEN fields */
    size_t len;
    size_t offset;          /* offset of the tag within the whole input */
} cvm_pb_field;

void cvm_pb_init(cvm_pb *r, const uint8_t *buf, size_t n, const uint8_t *origin, const char *what);
/* A reader over the payload of a LEN field. */
void cvm_pb_sub(cvm_pb *sub, const cvm_pb *parent, const cvm_pb_field *f, const char *what);
static inline bool cvm_pb_more(const cvm_pb *r) { return r->p < r->end; }

/* Reads the next field (tag and payload).  Groups and the undefined wire types
 * 6 and 7 are refused: ONNX never uses them. */
cvm_status cvm_pb_next(cvm_pb *r, cvm_pb_field *f);

/* Fails with a message naming the field unless it has wire type `wire`. */
cvm_status cvm_pb_expect(const cvm_pb *r, const cvm_pb_field *f, int wire);

/*
 * Repeated scalars arrive either one per field (wire type `elem_wire`) or
 * packed into one LEN field.  cvm_pb_scalar_count validates the field and
 * counts its elements; afterwards cvm_pb_iter walks them without further
 * checks.
 */
cvm_status cvm_pb_scalar_count(const cvm_pb *r, const cvm_pb_field *f, int elem_wire, size_t *count);

typedef struct cvm_pb_iter {
    const uint8_t *p, *end;
    int elem_wire;
    uint64_t single;
    int state;              /* 0: single value pending, 1: packed, 2: done */
} cvm_pb_iter;

void cvm_pb_iter_init(cvm_pb_iter *it, const cvm_pb_field *f, int elem_wire);
bool cvm_pb_iter_next(cvm_pb_iter *it, uint64_t *v);

#endif
