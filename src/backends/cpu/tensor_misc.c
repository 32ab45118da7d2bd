/* CPU kernels for Pad and the generator/shape operators: Range,
 * ConstantOfShape, Constant, Shape, Size, Trilu, CumSum, EyeLike,
 * ReverseSequence. */
#include "backends/cpu/tensor_internal.h"
#include "base/half.h"

#define PAR_MIN_BYTES ((size_t)1 << 18)

/* Writes `n` copies of the element at `val`. */
static void fill(char *dst, const void *val, size_t es, int64_t n)
{
    if (n <= 0)
        return;
    int zero = 1;
    for (size_t i = 0; i < es; i++)
        zero &= ((const uint8_t *)val)[i] == 0;
    if (zero) {
        memset(dst, 0, (size_t)n * es);
        return;
    }
    memcpy(dst, val, es);
    /* Doubling copies keep this a handful of memcpys for long runs. */
    size_t have = es, want = (size_t)n * es;
    while (have < want) {
        size_t k = have < want - have ? have : want - have;
        memcpy(dst + have, dst, k);
        have += k;
    }
}

/* ----------------------------------------------------------------- Pad */

typedef struct pad_job {
    const cvm_kernel_ctx *c;
    size_t es;
    int r, mode;
    int64_t begin[CVM_MAX_DIMS];
    int64_t ist[CVM_MAX_DIMS];
    uint8_t value[8];
} pad_job;

/* Source index for output index i - begin on an axis of extent n, or -1 when
 * the constant is used. */
static int64_t pad_src(int64_t i, int64_t n, int mode)
{
    if (i >= 0 && i < n)
        return i;
    switch (mode) {
    case CVM_PAD_EDGE: return i < 0 ? 0 : n - 1;
    case CVM_PAD_WRAP: return ((i % n) + n) % n;
    case CVM_PAD_REFLECT: {
        if (n == 1)
            return 0;
        int64_t p = 2 * (n - 1), m = ((i % p) + p) % p;
        return m < n ? m : p - m;
    }
    default: return -1;
    }
}

static void pad_range(void *arg, size_t b, size_t e)
{
    const pad_job *j = arg;
    const cvm_tensor *x = j->c->in[0];
    const cvm_tensor *y = j->c->out[0];
    int r = j->r;
    size_t es = j->es;
    int64_t W = y->dims[r - 1], w = x->dims[r - 1], pb = j->begin[r - 1];
    int64_t pos[CVM_MAX_DIMS];
    int64_t u = (int64_t)b;
    for (int d = r - 2; d >= 0; d--) {
        pos[d] = u % y->dims[d];
        u /= y->dims[d];
    }
    const char *src = x->data;
    for (size_t row = b; row < e; row++) {
        char *dst = (char *)y->data + row * (size_t)W * es;
        int64_t off = 0;
        int constant_row = 0;
        for (int d = 0; d < r - 1; d++) {
            int64_t s = pad_src(pos[d] - j->begin[d], x->dims[d], j->mode);
            if (s < 0) {
                constant_row = 1;
                break;
            }
            off += s * j->ist[d];
        }
        if (constant_row || w == 0) {
            fill(dst, j->value, es, W);
        } else {
            /* Output columns [lo, hi) map straight onto the input row. */
            int64_t lo = pb > 0 ? pb : 0, hi = pb + w < W ? pb + w : W;
            if (hi < lo)
                hi = lo;
            const char *srow = src + (size_t)off * es;
            if (hi > lo)
                memcpy(dst + (size_t)lo * es, srow + (size_t)(lo - pb) * es, (size_t)(hi - lo) * es);
            if (j->mode == CVM_PAD_CONSTANT) {
                fill(dst, j->value, es, lo);
                fill(dst + (size_t)hi * es, j->value, es, W - hi);
            } else {
                for (int64_t k = 0; k < W; k++) {
                    if (k == lo)
                        k = hi;
                    if (k >= W)
                        break;
                    int64_t s = pad_src(k - pb, w, j->mode);
                    cvm_copy_small(dst + (size_t)k * es, srow + (size_t)s * es, es);
                }
            }
        }
        for (int d = r - 2; d >= 0; d--) {
            if (++pos[d] < y->dims[d])
                break;
            pos[d] = 0;
        }
    }
}

cvm_status cvm_k_pad(const cvm_kernel_ctx *c)
{
    const cvm_tensor *x = c->in[0];
    cvm_tensor *y = c->out[0];
    pad_job j = {.c = c, .r = x->ndim};
    int64_t end[CVM_MAX_DIMS];
    CVM_TRY(cvm_elem_size(c, x->dtype, &j.es));
    CVM_TRY(cvm_pad_plan(c->node, c->opset, c->n_in, c->in, j.begin, end, &j.mode));
    if (cvm_tensor_numel(y) == 0)
        return CVM_OK;
    if (x->ndim == 0) {
        memcpy(y->data, x->data, j.es);
        return CVM_OK;
    }
    const cvm_tensor *cv = c->opset >= 11 && c->n_in > 2 ? c->in[2] : NULL;
    if (cv && cv->data) {
        memcpy(j.value, cv->data, j.es);
    } else if (c->opset < 11) {
        float f = cvm_attr_float(c->node, "value", 0.0f);
        cvm_convert(CVM_DTYPE_FLOAT32, &f, x->dtype, j.value, 1);
    }
    cvm_row_strides(x->ndim, x->dims, j.ist);
    int64_t rows = cvm_dims_prod(y->dims, 0, x->ndim - 1);
    size_t row_bytes = (size_t)y->dims[x->ndim - 1] * j.es;
    if (!c->pool || (size_t)rows * row_bytes < PAR_MIN_BYTES || rows < 2)
        pad_range(&j, 0, (size_t)rows);
    else
        cvm_parallel_for(c->pool, (size_t)rows, 1 + ((size_t)1 << 16) / (row_bytes ? row_bytes : 1), pad_range, &j);
    return CVM_OK;
}

/* --------------------------------------------------------------- Range */

cvm_status cvm_k_range(const cvm_kernel_ctx *c)
{
    cvm_tensor *y = c->out[0];
    int64_t n = y->dims[0];
    switch (y->dtype) {
    case CVM_DTYPE_FLOAT32: {
        float s = *(const float *)c->in[0]->data, d = *(const float *)c->in[2]->data;
        for (int64_t i = 0; i < n; i++)
            ((float *)y->data)[i] = s + (float)i * d;
        break;
    }
    case CVM_DTYPE_FLOAT64: {
        double s = *(const double *)c->in[0]->data, d = *(const double *)c->in[2]->data;
        for (int64_t i = 0; i < n; i++)
            ((double *)y->data)[i] = s + (double)i * d;
        break;
    }
    case CVM_DTYPE_FLOAT16:
    case CVM_DTYPE_BFLOAT16: {
        float s = (float)cvm_tensor_get_f64(c->in[0], 0), d = (float)cvm_tensor_get_f64(c->in[2], 0);
        for (int64_t i = 0; i < n; i++) {
            float v = s + (float)i * d;
            ((uint16_t *)y->data)[i] = y->dtype == CVM_DTYPE_FLOAT16 ? cvm_f32_to_f16(v) : cvm_f32_to_bf16(v);
        }
        break;
    }
    case CVM_DTYPE_INT16:
    case CVM_DTYPE_INT32:
    case CVM_DTYPE_INT64: {
        uint64_t s = (uint64_t)cvm_tensor_get_i64(c->in[0], 0), d = (uint64_t)cvm_tensor_get_i64(c->in[2], 0);
        for (int64_t i = 0; i < n; i++) {
            int64_t v = (int64_t)(s + (uint64_t)i * d);
            if (y->dtype == CVM_DTYPE_INT16)
                ((int16_t *)y->data)[i] = (int16_t)v;
            else if (y->dtype == CVM_DTYPE_INT32)
                ((int32_t *)y->data)[i] = (int32_t)v;
            else
                ((int64_t *)y->data)[i] = v;
        }
        break;
    }
    default:
        return cvm_node_error(c->node, CVM_E_UNSUPPORTED, "element type %s is not supported",
                              cvm_dtype_name(y->dtype));
    }
    return CVM_OK;
}

/* ------------------------------------------- ConstantOfShape, Constant */

cvm_status cvm_k_constant_of_shape(const cvm_kernel_ctx *c)
{
    cvm_tensor *y = c->out[0];
    size_t es;
    CVM_TRY(cvm_elem_size(c, y->dtype, &es));
    const cvm_attr *v = cvm_node_attr(c->node, "value");
    uint8_t val[8] = {0};
    if (v && v->t && v->t->data && v->t->dtype == y->dtype && es <= sizeof val)
        memcpy(val, v->t->data, es);
    fill(y->data, val, es, cvm_tensor_numel(y));
    return CVM_OK;
}

cvm_status cvm_k_constant(const cvm_kernel_ctx *c)
{
    cvm_tensor *y = c->out[0];
    const cvm_attr *a;
    size_t nb;
    if (!cvm_shape_nbytes(y->dtype, y->ndim, y->dims, &nb))
        return cvm_node_error(c->node, CVM_E_SHAPE, "output shape overflows");
    if ((a = cvm_node_attr(c->node, "value")) && a->t) {
        if (a->t->nbytes < nb || (nb && !a->t->data))
            return cvm_node_error(c->node, CVM_E_PARSE, "attribute 'value' holds fewer bytes than its shape");
        memcpy(y->data, a->t->data, nb);
    } else if ((a = cvm_node_attr(c->node, "value_float"))) {
        memcpy(y->data, &a->f, sizeof a->f);
    } else if ((a = cvm_node_attr(c->node, "value_int"))) {
        memcpy(y->data, &a->i, sizeof a->i);
    } else if ((a = cvm_node_attr(c->node, "value_floats")) && a->n) {
        memcpy(y->data, a->floats, a->n * sizeof *a->floats);
    } else if ((a = cvm_node_attr(c->node, "value_ints")) && a->n) {
        memcpy(y->data, a->ints, a->n * sizeof *a->ints);
    }
    return CVM_OK;
}

/* --------------------------------------------------------- Shape, Size */

cvm_status cvm_k_shape(const cvm_kernel_ctx *c)
{
    /* Only the input's header is read: the runtime may run this before the
     * input's data exists. */
    const cvm_tensor *x = c->in[0];
    int r = x->ndim;
    int64_t s = c->opset >= 15 ? cvm_attr_int(c->node, "start", 0) : 0;
    s = s < 0 ? s + r : s;
    s = s < 0 ? 0 : s > r ? r : s;
    int64_t n = c->out[0]->dims[0];
    if (s + n > r)
        return cvm_node_error(c->node, CVM_E_INTERNAL, "output length differs from the planned one");
    for (int64_t i = 0; i < n; i++)
        ((int64_t *)c->out[0]->data)[i] = x->dims[s + i];
    return CVM_OK;
}

cvm_status cvm_k_size(const cvm_kernel_ctx *c)
{
    *(int64_t *)c->out[0]->data = cvm_tensor_numel(c->in[0]);
    return CVM_OK;
}

/* --------------------------------------------------------------- Trilu */

cvm_status cvm_k_trilu(const cvm_kernel_ctx *c)
{
    const cvm_tensor *x = c->in[0];
    size_t es;
    CVM_TRY(cvm_elem_size(c, x->dtype, &es));
    int r = x->ndim;
    int64_t N = x->dims[r - 2], M = x->dims[r - 1], mats = cvm_dims_prod(x->dims, 0, r - 2);
    int64_t k = c->n_in > 1 && c->in[1] ? cvm_tensor_get_i64(c->in[1], 0) : 0;
    /* Past +-(N + M) every k keeps all or nothing; clamping avoids overflow. */
    int64_t lim = N + M;
    k = k > lim ? lim : k < -lim ? -lim : k;
    int upper = cvm_attr_int(c->node, "upper", 1) != 0;
    const char *src = x->data;
    char *dst = c->out[0]->data;
    for (int64_t m = 0; m < mats; m++)
        for (int64_t i = 0; i < N; i++) {
            size_t row = (size_t)((m * N + i) * M) * es;
            /* upper keeps columns j >= i + k; lower keeps j <= i + k. */
            int64_t cut = upper ? i + k : i + k + 1;
            cut = cut < 0 ? 0 : cut > M ? M : cut;
            if (upper) {
                memset(dst + row, 0, (size_t)cut * es);
                memcpy(dst + row + (size_t)cut * es, src + row + (size_t)cut * es, (size_t)(M - cut) * es);
            } else {
                memcpy(dst + row, src + row, (size_t)cut * es);
                memset(dst + row + (size_t)cut * es, 0, (size_t)(M - cut) * es);
            }
        }
    return CVM_OK;
}

/* -------------------------------------------------------------- CumSum */

/* ACC is the accumulator type: unsigned for the integer types so that
 * overflow wraps instead of being undefined. */
#define CUMSUM_FN(NAME, T, ACC, LOAD, STORE)                                                   \
    static void NAME(const void *xv, void *yv, int64_t outer, int64_t A, int64_t inner, int excl, \
                     int rev)                                                                  \
    {                                                                                          \
        const T *x = xv;                                                                       \
        T *y = yv;                                                                             \
        for (int64_t o = 0; o < outer; o++)                                                    \
            for (int64_t i = 0; i < inner; i++) {                                              \
                ACC acc = 0;                                                                   \
                for (int64_t t = 0; t < A; t++) {                                              \
                    int64_t a = rev ? A - 1 - t : t;                                           \
                    int64_t p = (o * A + a) * inner + i;                                       \
                    ACC v = LOAD(x[p]);                                                        \
                    if (excl) {                                                                \
                        y[p] = STORE(acc);                                                     \
                        acc += v;                                                              \
                    } else {                                                                   \
                        acc += v;                                                              \
                        y[p] = STORE(acc);                                                     \
                    }                                                                          \
                }                                                                              \
            }                                                                                  \
    }

#define ID(v) (v)
#define TO_I32(v) ((int32_t)(v))
#define TO_I64(v) ((int64_t)(v))
#define FROM_I32(v) ((uint32_t)(v))
#define FROM_I64(v) ((uint64_t)(v))
CUMSUM_FN(cumsum_f32, float, float, ID, ID)
CUMSUM_FN(cumsum_f64, double, double, ID, ID)
CUMSUM_FN(cumsum_i32, int32_t, uint32_t, FROM_I32, TO_I32)
CUMSUM_FN(cumsum_i64, int64_t, uint64_t, FROM_I64, TO_I64)
CUMSUM_FN(cumsum_u32, uint32_t, uint32_t, ID, ID)
CUMSUM_FN(cumsum_u64, uint64_t, uint64_t, ID, ID)
CUMSUM_FN(cumsum_f16, uint16_t, float, cvm_f16_to_f32, cvm_f32_to_f16)
CUMSUM_FN(cumsum_bf16, uint16_t, float, cvm_bf16_to_f32, cvm_f32_to_bf16)

cvm_status cvm_k_cumsum(const cvm_kernel_ctx *c)
{
    const cvm_tensor *x = c->in[0];
    int axis = 0;
    CVM_TRY(cvm_norm_axis(cvm_tensor_get_i64(c->in[1], 0), x->ndim, "CumSum", &axis));
    int excl = cvm_attr_int(c->node, "exclusive", 0) != 0, rev = cvm_attr_int(c->node, "reverse", 0) != 0;
    int64_t outer = cvm_dims_prod(x->dims, 0, axis), A = x->dims[axis];
    int64_t inner = cvm_dims_prod(x->dims, axis + 1, x->ndim);
    void *y = c->out[0]->data;
    switch (x->dtype) {
    case CVM_DTYPE_FLOAT32: cumsum_f32(x->data, y, outer, A, inner, excl, rev); break;
    case CVM_DTYPE_FLOAT64: cumsum_f64(x->data, y, outer, A, inner, excl, rev); break;
    case CVM_DTYPE_INT32: cumsum_i32(x->data, y, outer, A, inner, excl, rev); break;
    case CVM_DTYPE_INT64: cumsum_i64(x->data, y, outer, A, inner, excl, rev); break;
    case CVM_DTYPE_UINT32: cumsum_u32(x->data, y, outer, A, inner, excl, rev); break;
    case CVM_DTYPE_UINT64: cumsum_u64(x->data, y, outer, A, inner, excl, rev); break;
    case CVM_DTYPE_FLOAT16: cumsum_f16(x->data, y, outer, A, inner, excl, rev); break;
    case CVM_DTYPE_BFLOAT16: cumsum_bf16(x->data, y, outer, A, inner, excl, rev); break;
    default:
        return cvm_node_error(c->node, CVM_E_UNSUPPORTED, "element type %s is not supported",
                              cvm_dtype_name(x->dtype));
    }
    return CVM_OK;
}

/* ------------------------------------------------------------- EyeLike */

cvm_status cvm_k_eye_like(const cvm_kernel_ctx *c)
{
    cvm_tensor *y = c->out[0];
    size_t es;
    CVM_TRY(cvm_elem_size(c, y->dtype, &es));
    int64_t N = y->dims[0], M = y->dims[1], k = cvm_attr_int(c->node, "k", 0);
    uint8_t one[8];
    float f = 1.0f;
    cvm_convert(CVM_DTYPE_FLOAT32, &f, y->dtype, one, 1);
    memset(y->data, 0, (size_t)(N * M) * es);
    for (int64_t i = 0; i < N; i++) {
        /* Compare before adding: k may be anything up to INT64_MAX. */
        if (k >= M - i || k < -i)
            continue;
        memcpy((char *)y->data + (size_t)(i * M + i + k) * es, one, es);
    }
    return CVM_OK;
}

/* ----------------------------------------------------- ReverseSequence */

cvm_status cvm_k_reverse_sequence(const cvm_kernel_ctx *c)
{
    const cvm_tensor *x = c->in[0], *lens = c->in[1];
    size_t es;
    CVM_TRY(cvm_elem_size(c, x->dtype, &es));
    int ta = (int)cvm_attr_int(c->node, "time_axis", 0);
    int64_t T = x->dims[ta], B = x->dims[1 - ta], inner = cvm_dims_prod(x->dims, 2, x->ndim);
    size_t row = (size_t)inner * es;
    for (int64_t b = 0; b < B; b++) {
        int64_t L = cvm_tensor_get_i64(lens, b);
        if (L < 0 || L > T)
            return cvm_node_error(c->node, CVM_E_INVALID_ARG,
                                  "sequence length %lld of batch %lld is outside 0..%lld", (long long)L,
                                  (long long)b, (long long)T);
    }
    const char *src = x->data;
    char *dst = c->out[0]->data;
    for (int64_t b = 0; b < B; b++) {
        int64_t L = cvm_tensor_get_i64(lens, b);
        for (int64_t t = 0; t < T; t++) {
            int64_t s = t < L ? L - 1 - t : t;
            size_t od = (size_t)(ta == 0 ? t * B + b : b * T + t), os = (size_t)(ta == 0 ? s * B + b : b * T + s);
            memcpy(dst + od * row, src + os * row, row);
        }
    }
    return CVM_OK;
}
