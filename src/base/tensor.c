#include "base/tensor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/bufcache.h"
#include "base/half.h"
#include "base/status.h"

size_t cvm_dtype_size(cvm_dtype t)
{
    switch (t) {
    case CVM_DTYPE_FLOAT32: case CVM_DTYPE_INT32: case CVM_DTYPE_UINT32: return 4;
    case CVM_DTYPE_UINT8: case CVM_DTYPE_INT8: case CVM_DTYPE_BOOL: return 1;
    case CVM_DTYPE_UINT16: case CVM_DTYPE_INT16: case CVM_DTYPE_FLOAT16: case CVM_DTYPE_BFLOAT16: return 2;
    case CVM_DTYPE_INT64: case CVM_DTYPE_FLOAT64: case CVM_DTYPE_UINT64: return 8;
    default: return 0;
    }
}

const char *cvm_dtype_name(cvm_dtype t)
{
    switch (t) {
    case CVM_DTYPE_FLOAT32: return "float32";
    case CVM_DTYPE_UINT8: return "uint8";
    case CVM_DTYPE_INT8: return "int8";
    case CVM_DTYPE_UINT16: return "uint16";
    case CVM_DTYPE_INT16: return "int16";
    case CVM_DTYPE_INT32: return "int32";
    case CVM_DTYPE_INT64: return "int64";
    case CVM_DTYPE_STRING: return "string";
    case CVM_DTYPE_BOOL: return "bool";
    case CVM_DTYPE_FLOAT16: return "float16";
    case CVM_DTYPE_FLOAT64: return "float64";
    case CVM_DTYPE_UINT32: return "uint32";
    case CVM_DTYPE_UINT64: return "uint64";
    case CVM_DTYPE_BFLOAT16: return "bfloat16";
    default: return "?";
    }
}

bool cvm_dtype_valid(int t) { return cvm_dtype_size((cvm_dtype)t) != 0; }

bool cvm_dtype_is_float(cvm_dtype t)
{
    return t == CVM_DTYPE_FLOAT32 || t == CVM_DTYPE_FLOAT16 || t == CVM_DTYPE_FLOAT64 ||
           t == CVM_DTYPE_BFLOAT16;
}

bool cvm_shape_numel(int ndim, const int64_t *dims, int64_t *numel)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] < 0)
            return false;
        if (dims[i] != 0 && n > INT64_MAX / dims[i])
            return false;
        n *= dims[i];
    }
    *numel = n;
    return true;
}

bool cvm_shape_nbytes(cvm_dtype dt, int ndim, const int64_t *dims, size_t *nbytes)
{
    int64_t n;
    size_t es = cvm_dtype_size(dt);
    if (!es || !cvm_shape_numel(ndim, dims, &n))
        return false;
    if ((uint64_t)n > SIZE_MAX / es)
        return false;
    *nbytes = (size_t)n * es;
    return true;
}

const char *cvm_shape_str(int ndim, const int64_t *dims, char *buf, size_t cap)
{
    size_t k = 0;
    if (cap == 0)
        return buf;
    buf[0] = '\0';
    k += (size_t)snprintf(buf + k, cap - k, "[");
    for (int i = 0; i < ndim && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, i ? ",%lld" : "%lld", (long long)dims[i]);
    if (k < cap)
        snprintf(buf + k, cap - k, "]");
    return buf;
}

int64_t cvm_tensor_numel(const cvm_tensor *t)
{
    int64_t n = 0;
    /* Headers may be filled in by callers: never read past dims[]. */
    if (!t || t->ndim < 0 || t->ndim > CVM_MAX_DIMS || !cvm_shape_numel(t->ndim, t->dims, &n))
        return 0;
    return n;
}

static cvm_status check_shape(cvm_dtype dtype, int ndim, const int64_t *dims, size_t *nbytes)
{
    if (!cvm_dtype_valid((int)dtype))
        return cvm_errorf(CVM_E_TYPE, "unsupported tensor dtype %d", (int)dtype);
    if (ndim < 0 || ndim > CVM_MAX_DIMS)
        return cvm_errorf(CVM_E_SHAPE, "tensor rank %d outside 0..%d", ndim, CVM_MAX_DIMS);
    if (ndim > 0 && !dims)
        return cvm_errorf(CVM_E_INVALID_ARG, "dims is NULL for a rank-%d tensor", ndim);
    if (!cvm_shape_nbytes(dtype, ndim, dims, nbytes))
        return cvm_errorf(CVM_E_SHAPE, "tensor shape has a negative dim or overflows");
    return CVM_OK;
}

static cvm_status tensor_new(cvm_dtype dtype, int ndim, const int64_t *dims, int zero,
                             cvm_tensor **out)
{
    size_t nbytes = 0;
    if (!out)
        return cvm_errorf(CVM_E_INVALID_ARG, "cvm_tensor_create: out is NULL");
    *out = NULL;
    CVM_TRY(check_shape(dtype, ndim, dims, &nbytes));
    cvm_tensor *t = calloc(1, sizeof *t);
    void *d = cvm_bufcache_take(nbytes);
    if (d && zero)
        memset(d, 0, nbytes);
    /* calloc(0) may return NULL; allocate at least one byte so data != NULL. */
    if (!d)
        d = zero ? calloc(nbytes ? nbytes : 1, 1) : malloc(nbytes ? nbytes : 1);
    if (!t || !d) {
        free(t);
        free(d);
        return cvm_errorf(CVM_E_NOMEM, "out of memory allocating a %zu-byte tensor", nbytes);
    }
    t->dtype = dtype;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        t->dims[i] = dims[i];
    t->data = d;
    t->nbytes = nbytes;
    t->owns_data = 1;
    *out = t;
    return CVM_OK;
}

cvm_status cvm_tensor_create(cvm_dtype dtype, int ndim, const int64_t *dims, cvm_tensor **out)
{
    return tensor_new(dtype, ndim, dims, 1, out);
}

cvm_status cvm_tensor_create_uninit(cvm_dtype dtype, int ndim, const int64_t *dims,
                                    cvm_tensor **out)
{
    return tensor_new(dtype, ndim, dims, 0, out);
}

cvm_status cvm_tensor_wrap(cvm_dtype dtype, int ndim, const int64_t *dims, void *data,
                           size_t nbytes, cvm_tensor **out)
{
    size_t need = 0;
    if (!out)
        return cvm_errorf(CVM_E_INVALID_ARG, "cvm_tensor_wrap: out is NULL");
    *out = NULL;
    CVM_TRY(check_shape(dtype, ndim, dims, &need));
    if (need > 0 && !data)
        return cvm_errorf(CVM_E_INVALID_ARG, "cvm_tensor_wrap: data is NULL");
    if (nbytes < need)
        return cvm_errorf(CVM_E_SHAPE, "cvm_tensor_wrap: buffer of %zu bytes is smaller than the %zu bytes the shape needs",
                          nbytes, need);
    cvm_tensor *t = calloc(1, sizeof *t);
    if (!t)
        return cvm_errorf(CVM_E_NOMEM, "out of memory");
    t->dtype = dtype;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        t->dims[i] = dims[i];
    t->data = data;
    t->nbytes = need;
    t->owns_data = 0;
    *out = t;
    return CVM_OK;
}

void cvm_tensor_free(cvm_tensor *t)
{
    if (!t)
        return;
    if (t->owns_data && !cvm_bufcache_give(t->data, t->nbytes))
        free(t->data);
    free(t);
}

cvm_status cvm_tensor_clone(const cvm_tensor *src, cvm_tensor **out)
{
    CVM_TRY(cvm_tensor_create(src->dtype, src->ndim, src->dims, out));
    if ((*out)->nbytes)
        memcpy((*out)->data, src->data, (*out)->nbytes);
    return CVM_OK;
}

double cvm_tensor_get_f64(const cvm_tensor *t, int64_t i)
{
    const void *d = t->data;
    switch (t->dtype) {
    case CVM_DTYPE_FLOAT32: return ((const float *)d)[i];
    case CVM_DTYPE_FLOAT64: return ((const double *)d)[i];
    case CVM_DTYPE_FLOAT16: return cvm_f16_to_f32(((const uint16_t *)d)[i]);
    case CVM_DTYPE_BFLOAT16: return cvm_bf16_to_f32(((const uint16_t *)d)[i]);
    case CVM_DTYPE_UINT8: return ((const uint8_t *)d)[i];
    case CVM_DTYPE_BOOL: return ((const uint8_t *)d)[i] != 0;
    case CVM_DTYPE_INT8: return ((const int8_t *)d)[i];
    case CVM_DTYPE_UINT16: return ((const uint16_t *)d)[i];
    case CVM_DTYPE_INT16: return ((const int16_t *)d)[i];
    case CVM_DTYPE_INT32: return ((const int32_t *)d)[i];
    case CVM_DTYPE_UINT32: return ((const uint32_t *)d)[i];
    case CVM_DTYPE_INT64: return (double)((const int64_t *)d)[i];
    case CVM_DTYPE_UINT64: return (double)((const uint64_t *)d)[i];
    default: return 0;
    }
}

int64_t cvm_tensor_get_i64(const cvm_tensor *t, int64_t i)
{
    const void *d = t->data;
    switch (t->dtype) {
    case CVM_DTYPE_INT64: return ((const int64_t *)d)[i];
    case CVM_DTYPE_UINT64: return (int64_t)((const uint64_t *)d)[i];
    case CVM_DTYPE_INT32: return ((const int32_t *)d)[i];
    case CVM_DTYPE_UINT32: return ((const uint32_t *)d)[i];
    case CVM_DTYPE_INT16: return ((const int16_t *)d)[i];
    case CVM_DTYPE_UINT16: return ((const uint16_t *)d)[i];
    case CVM_DTYPE_INT8: return ((const int8_t *)d)[i];
    case CVM_DTYPE_UINT8: return ((const uint8_t *)d)[i];
    case CVM_DTYPE_BOOL: return ((const uint8_t *)d)[i] != 0;
    default: {
        double v = cvm_tensor_get_f64(t, i);
        if (!(v == v))
            return 0;
        if (v >= 9.2e18)
            return INT64_MAX;
        if (v <= -9.2e18)
            return INT64_MIN;
        return (int64_t)v;
    }
    }
}

/* Saturating double -> integer conversion; NaN maps to 0 so that hostile data
 * never reaches undefined behaviour. */
#define CONV_INT(T, lo, hi)                                                   \
    static T to_##T(double v)                                                 \
    {                                                                         \
        if (!(v == v)) return 0;                                              \
        if (v <= (double)(lo)) return (T)(lo);                                \
        if (v >= (double)(hi)) return (T)(hi);                                \
        return (T)v;                                                          \
    }
CONV_INT(int8_t, INT8_MIN, INT8_MAX)
CONV_INT(uint8_t, 0, UINT8_MAX)
CONV_INT(int16_t, INT16_MIN, INT16_MAX)
CONV_INT(uint16_t, 0, UINT16_MAX)
CONV_INT(int32_t, INT32_MIN, INT32_MAX)
CONV_INT(uint32_t, 0, UINT32_MAX)
CONV_INT(int64_t, INT64_MIN, INT64_MAX)
CONV_INT(uint64_t, 0, UINT64_MAX)

void cvm_convert(cvm_dtype from, const void *src, cvm_dtype to, void *dst, int64_t n)
{
    if (from == to) {
        memmove(dst, src, (size_t)n * cvm_dtype_size(from));
        return;
    }
    cvm_tensor s = {.dtype = from, .data = (void *)src};
    bool int_src = !cvm_dtype_is_float(from);
    for (int64_t i = 0; i < n; i++) {
        /* Integer -> integer conversions go through int64 to keep 64-bit values exact. */
        if (int_src && !cvm_dtype_is_float(to) && to != CVM_DTYPE_BOOL) {
            int64_t v = cvm_tensor_get_i64(&s, i);
            switch (to) {
            case CVM_DTYPE_INT8: ((int8_t *)dst)[i] = (int8_t)v; break;
            case CVM_DTYPE_UINT8: ((uint8_t *)dst)[i] = (uint8_t)v; break;
            case CVM_DTYPE_INT16: ((int16_t *)dst)[i] = (int16_t)v; break;
            case CVM_DTYPE_UINT16: ((uint16_t *)dst)[i] = (uint16_t)v; break;
            case CVM_DTYPE_INT32: ((int32_t *)dst)[i] = (int32_t)v; break;
            case CVM_DTYPE_UINT32: ((uint32_t *)dst)[i] = (uint32_t)v; break;
            case CVM_DTYPE_INT64: ((int64_t *)dst)[i] = v; break;
            case CVM_DTYPE_UINT64: ((uint64_t *)dst)[i] = (uint64_t)v; break;
            default: break;
            }
            continue;
        }
        double v = cvm_tensor_get_f64(&s, i);
        switch (to) {
        case CVM_DTYPE_FLOAT32: ((float *)dst)[i] = (float)v; break;
        case CVM_DTYPE_FLOAT64: ((double *)dst)[i] = v; break;
        case CVM_DTYPE_FLOAT16:
            /* Convert through float only when the source is float32, so that
             * double->half rounds once. */
            ((uint16_t *)dst)[i] = cvm_f32_to_f16((float)v);
            break;
        case CVM_DTYPE_BFLOAT16: ((uint16_t *)dst)[i] = cvm_f32_to_bf16((float)v); break;
        case CVM_DTYPE_BOOL: ((uint8_t *)dst)[i] = v != 0; break;
        case CVM_DTYPE_INT8: ((int8_t *)dst)[i] = to_int8_t(v); break;
        case CVM_DTYPE_UINT8: ((uint8_t *)dst)[i] = to_uint8_t(v); break;
        case CVM_DTYPE_INT16: ((int16_t *)dst)[i] = to_int16_t(v); break;
        case CVM_DTYPE_UINT16: ((uint16_t *)dst)[i] = to_uint16_t(v); break;
        case CVM_DTYPE_INT32: ((int32_t *)dst)[i] = to_int32_t(v); break;
        case CVM_DTYPE_UINT32: ((uint32_t *)dst)[i] = to_uint32_t(v); break;
        case CVM_DTYPE_INT64: ((int64_t *)dst)[i] = to_int64_t(v); break;
        case CVM_DTYPE_UINT64: ((uint64_t *)dst)[i] = to_uint64_t(v); break;
        default: break;
        }
    }
}
