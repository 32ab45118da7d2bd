#include "onnx/pb_wire.h"

#include <string.h>

#include "base/status.h"

void cvm_pb_init(cvm_pb *r, const uint8_t *buf, size_t n, const uint8_t *origin, const char *what)
{
    r->p = buf;
    r->end = buf + n;
    r->origin = origin ? origin : buf;
    r->what = what;
}

void cvm_pb_sub(cvm_pb *sub, const cvm_pb *parent, const cvm_pb_field *f, const char *what)
{
    cvm_pb_init(sub, f->data, f->len, parent->origin, what);
}

static size_t off(const cvm_pb *r, const uint8_t *p) { return (size_t)(p - r->origin); }

/* Decodes a varint at *pp (bounded by end); returns false when it runs past
 * end or exceeds the 10 bytes a 64-bit value can need. */
static bool varint(const uint8_t **pp, const uint8_t *end, uint64_t *v)
{
    const uint8_t *p = *pp;
    uint64_t x = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (p >= end)
            return false;
        uint8_t b = *p++;
        x |= (uint64_t)(b & 0x7f) << (shift < 64 ? shift : 63);
        if (!(b & 0x80)) {
            *v = x;
            *pp = p;
            return true;
        }
    }
    return false;
}

static cvm_status varint_error(const cvm_pb *r, const uint8_t *at, const char *which)
{
    /* Distinguish running off the end from an overlong encoding. */
    const uint8_t *p = at;
    int k = 0;
    while (p < r->end && (*p & 0x80) && k < 10) {
        p++;
        k++;
    }
    if (p >= r->end)
        return cvm_errorf(CVM_E_PARSE, "truncated %s: %s runs past the end at byte offset %zu",
                          r->what, which, off(r, at));
    return cvm_errorf(CVM_E_PARSE, "malformed %s: %s is longer than 10 bytes at byte offset %zu",
                      r->what, which, off(r, at));
}

cvm_status cvm_pb_next(cvm_pb *r, cvm_pb_field *f)
{
    const uint8_t *start = r->p;
    uint64_t tag;
    if (!varint(&r->p, r->end, &tag))
        return varint_error(r, start, "field tag");
    f->offset = off(r, start);
    f->wire = (int)(tag & 7);
    if ((tag >> 3) == 0 || (tag >> 3) > 0x1fffffff)
        return cvm_errorf(CVM_E_PARSE, "malformed %s: invalid field number %llu at byte offset %zu",
                          r->what, (unsigned long long)(tag >> 3), f->offset);
    f->num = (uint32_t)(tag >> 3);
    f->u = 0;
    f->data = NULL;
    f->len = 0;
    size_t left;
    switch (f->wire) {
    case CVM_PB_VARINT: {
        const uint8_t *at = r->p;
        if (!varint(&r->p, r->end, &f->u))
            return varint_error(r, at, "varint value");
        return CVM_OK;
    }
    case CVM_PB_I64:
        left = (size_t)(r->end - r->p);
        if (left < 8)
            return cvm_errorf(CVM_E_PARSE, "truncated %s: field %u needs 8 bytes at byte offset %zu, %zu remain",
                              r->what, f->num, off(r, r->p), left);
        for (int i = 7; i >= 0; i--)
            f->u = (f->u << 8) | r->p[i];
        r->p += 8;
        return CVM_OK;
    case CVM_PB_I32:
        left = (size_t)(r->end - r->p);
        if (left < 4)
            return cvm_errorf(CVM_E_PARSE, "truncated %s: field %u needs 4 bytes at byte offset %zu, %zu remain",
                              r->what, f->num, off(r, r->p), left);
        for (int i = 3; i >= 0; i--)
            f->u = (f->u << 8) | r->p[i];
        r->p += 4;
        return CVM_OK;
    case CVM_PB_LEN: {
        const uint8_t *at = r->p;
        uint64_t n;
        if (!varint(&r->p, r->end, &n))
            return varint_error(r, at, "length");
        left = (size_t)(r->end - r->p);
        if (n > left)
            return cvm_errorf(CVM_E_PARSE,
                              "truncated %s: field %u claims %llu bytes at byte offset %zu, %zu remain",
                              r->what, f->num, (unsigned long long)n, off(r, r->p), left);
        f->data = r->p;
        f->len = (size_t)n;
        r->p += n;
        return CVM_OK;
    }
    case CVM_PB_SGROUP:
    case CVM_PB_EGROUP:
        return cvm_errorf(CVM_E_PARSE, "malformed %s: field %u uses the group wire type, which ONNX never uses (byte offset %zu)",
                          r->what, f->num, f->offset);
    default:
        return cvm_errorf(CVM_E_PARSE, "malformed %s: field %u has invalid wire type %d at byte offset %zu",
                          r->what, f->num, f->wire, f->offset);
    }
}

static const char *wire_name(int w)
{
    switch (w) {
    case CVM_PB_VARINT: return "varint";
    case CVM_PB_I64: return "fixed64";
    case CVM_PB_LEN: return "length-delimited";
    case CVM_PB_I32: return "fixed32";
    default: return "group";
    }
}

cvm_status cvm_pb_expect(const cvm_pb *r, const cvm_pb_field *f, int wire)
{
    if (f->wire == wire)
        return CVM_OK;
    return cvm_errorf(CVM_E_PARSE, "malformed %s: field %u is %s, expected %s (byte offset %zu)",
                      r->what, f->num, wire_name(f->wire), wire_name(wire), f->offset);
}

cvm_status cvm_pb_scalar_count(const cvm_pb *r, const cvm_pb_field *f, int elem_wire, size_t *count)
{
    if (f->wire == elem_wire) {
        *count = 1;
        return CVM_OK;
    }
    if (f->wire != CVM_PB_LEN)
        return cvm_pb_expect(r, f, elem_wire);
    size_t width = elem_wire == CVM_PB_I32 ? 4 : elem_wire == CVM_PB_I64 ? 8 : 0;
    if (width) {
        if (f->len % width)
            return cvm_errorf(CVM_E_PARSE, "malformed %s: packed field %u has %zu bytes, not a multiple of %zu (byte offset %zu)",
                              r->what, f->num, f->len, width, f->offset);
        *count = f->len / width;
        return CVM_OK;
    }
    /* Packed varints: every byte without the continuation bit ends one; the
     * last byte must end one and none may exceed 10 bytes. */
    size_t n = 0, run = 0;
    for (size_t i = 0; i < f->len; i++) {
        if (f->data[i] & 0x80) {
            if (++run >= 10)
                return cvm_errorf(CVM_E_PARSE, "malformed %s: packed field %u holds a varint longer than 10 bytes (byte offset %zu)",
                                  r->what, f->num, f->offset);
        } else {
            n++;
            run = 0;
        }
    }
    if (run)
        return cvm_errorf(CVM_E_PARSE, "truncated %s: packed field %u ends inside a varint (byte offset %zu)",
                          r->what, f->num, f->offset);
    *count = n;
    return CVM_OK;
}

void cvm_pb_iter_init(cvm_pb_iter *it, const cvm_pb_field *f, int elem_wire)
{
    it->elem_wire = elem_wire;
    if (f->wire == CVM_PB_LEN) {
        it->p = f->data;
        it->end = f->data + f->len;
        it->state = 1;
    } else {
        it->p = it->end = NULL;
        it->single = f->u;
        it->state = 0;
    }
}

bool cvm_pb_iter_next(cvm_pb_iter *it, uint64_t *v)
{
    if (it->state == 0) {
        *v = it->single;
        it->state = 2;
        return true;
    }
    if (it->state != 1 || it->p >= it->end)
        return false;
    if (it->elem_wire == CVM_PB_VARINT)
        return varint(&it->p, it->end, v);
    int width = it->elem_wire == CVM_PB_I32 ? 4 : 8;
    if (it->end - it->p < width)
        return false;
    uint64_t x = 0;
    for (int i = width - 1; i >= 0; i--)
        x = (x << 8) | it->p[i];
    it->p += width;
    *v = x;
    return true;
}
