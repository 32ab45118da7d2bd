/* CPU kernels driven by index or mask tensors: Gather*, Scatter*, NonZero,
 * Compress, TopK, OneHot. */
#include <math.h>
#include <stdlib.h>

#include "backends/cpu/tensor_internal.h"
#include "base/half.h"

#define PAR_MIN_BYTES ((size_t)1 << 18)

/* Wraps a negative index and checks it against `extent`. */
static cvm_status fix_index(const cvm_kernel_ctx *c, int64_t v, int64_t extent, int64_t pos, int axis,
                            int64_t *out)
{
    int64_t w = v < 0 ? v + extent : v;
    if (w < 0 || w >= extent)
        return cvm_node_error(c->node, CVM_E_INVALID_ARG,
                              "index %lld (at position %lld) is out of range for axis %d of extent %lld",
                              (long long)v, (long long)pos, axis, (long long)extent);
    *out = w;
    return CVM_OK;
}

/* ------------------------------------------------------------- Gather */

typedef struct gather_job {
    const char *src;
    char *dst;
    const cvm_tensor *idx;
    int64_t nidx, extent;
    size_t inner_bytes;
} gather_job;

static void gather_range(void *arg, size_t b, size_t e)
{
    const gather_job *j = arg;
    for (size_t u = b; u < e; u++) {
        int64_t o = (int64_t)u / j->nidx, k = (int64_t)u % j->nidx;
        int64_t v = cvm_tensor_get_i64(j->idx, k);
        if (v < 0)
            v += j->extent;
        cvm_copy_small(j->dst + u * j->inner_bytes, j->src + (size_t)(o * j->extent + v) * j->inner_bytes,
                       j->inner_bytes);
    }
}

cvm_status cvm_k_gather(const cvm_kernel_ctx *c)
{
    const cvm_tensor *x = c->in[0], *idx = c->in[1];
    size_t es;
    int axis = 0;
    CVM_TRY(cvm_elem_size(c, x->dtype, &es));
    CVM_TRY(cvm_norm_axis(cvm_attr_int(c->node, "axis", 0), x->ndim, "Gather", &axis));
    int64_t nidx = cvm_tensor_numel(idx), extent = x->dims[axis];
    for (int64_t k = 0; k < nidx; k++) {
        int64_t w = 0;
        CVM_TRY(fix_index(c, cvm_tensor_get_i64(idx, k), extent, k, axis, &w));
    }
    gather_job j = {.src = x->data, .dst = c->out[0]->data, .idx = idx, .nidx = nidx, .extent = extent,
                    .inner_bytes = (size_t)cvm_dims_prod(x->dims, axis + 1, x->ndim) * es};
    size_t units = (size_t)(cvm_dims_prod(x->dims, 0, axis) * nidx);
    if (!units || !j.inner_bytes)
        return CVM_OK;
    if (!c->pool || units * j.inner_bytes < PAR_MIN_BYTES)
        gather_range(&j, 0, units);
    else
        cvm_parallel_for(c->pool, units, 1 + ((size_t)1 << 14) / j.inner_bytes, gather_range, &j);
    return CVM_OK;
}

/* Steps the multi-index `idx` over `dims`; returns the dimension that moved. */
static void odometer(int64_t *idx, const int64_t *dims, int n)
{
    for (int d = n - 1; d >= 0; d--) {
        if (++idx[d] < dims[d])
            return;
        idx[d] = 0;
    }
}

cvm_status cvm_k_gather_elements(const cvm_kernel_ctx *c)
{
    const cvm_tensor *x = c->in[0], *idx = c->in[1];
    size_t es;
    int axis = 0;
    CVM_TRY(cvm_elem_size(c, x->dtype, &es));
    CVM_TRY(cvm_norm_axis(cvm_attr_int(c->node, "axis", 0), x->ndim, "GatherElements", &axis));
    int64_t st[CVM_MAX_DIMS], pos[CVM_MAX_DIMS] = {0};
    cvm_row_strides(x->ndim, x->dims, st);
    int64_t n = cvm_tensor_numel(idx);
    const char *src = x->data;
    char *dst = c->out[0]->data;
    for (int64_t e = 0; e < n; e++, odometer(pos, idx->dims, idx->ndim)) {
        int64_t w = 0, off = 0;
        CVM_TRY(fix_index(c, cvm_tensor_get_i64(idx, e), x->dims[axis], e, axis, &w));
        for (int d = 0; d < x->ndim; d++)
            off += (d == axis ? w : pos[d]) * st[d];
        cvm_copy_small(dst + (size_t)e * es, src + (size_t)off * es, es);
    }
    return CVM_OK;
}

cvm_status cvm_k_gather_nd(const cvm_kernel_ctx *c)
{
    const cvm_tensor *x = c->in[0], *idx = c->in[1];
    size_t es;
    CVM_TRY(cvm_elem_size(c, x->dtype, &es));
    int b = c->opset >= 12 ? (int)cvm_attr_int(c->node, "batch_dims", 0) : 0;
    int q = idx->ndim, k = (int)idx->dims[q - 1];
    int64_t st[CVM_MAX_DIMS];
    cvm_row_strides(x->ndim, x->dims, st);
    int64_t batches = cvm_dims_prod(idx->dims, 0, b), tuples = cvm_dims_prod(idx->dims, b, q - 1);
    int64_t slice = cvm_dims_prod(x->dims, b + k, x->ndim), batch_stride = cvm_dims_prod(x->dims, b, x->ndim);
    const char *src = x->data;
    char *dst = c->out[0]->data;
    for (int64_t bi = 0; bi < batches; bi++)
        for (int64_t t = 0; t < tuples; t++) {
            int64_t row = bi * tuples + t, off = bi * batch_stride;
            for (int j = 0; j < k; j++) {
                int64_t w = 0;
                CVM_TRY(fix_index(c, cvm_tensor_get_i64(idx, row * k + j), x->dims[b + j], row * k + j, b + j, &w));
                off += w * st[b + j];
            }
            memcpy(dst + (size_t)(row * slice) * es, src + (size_t)off * es, (size_t)slice * es);
        }
    return CVM_OK;
}

/* ------------------------------------------------------------ Scatter */

static uint64_t red_u64(int red, uint64_t a, uint64_t b)
{
    switch (red) {
    case CVM_REDUCE_ADD: return a + b;
    case CVM_REDUCE_MUL: return a * b;
    case CVM_REDUCE_MAX: return a > b ? a : b;
    case CVM_REDUCE_MIN: return a < b ? a : b;
    default: return b;
    }
}

static int64_t red_i64(int red, int64_t a, int64_t b)
{
    switch (red) {
    /* Wrap like the integer types do instead of overflowing. */
    case CVM_REDUCE_ADD: return (int64_t)((uint64_t)a + (uint64_t)b);
    case CVM_REDUCE_MUL: return (int64_t)((uint64_t)a * (uint64_t)b);
    case CVM_REDUCE_MAX: return a > b ? a : b;
    case CVM_REDUCE_MIN: return a < b ? a : b;
    default: return b;
    }
}

static double red_f64(int red, double a, double b)
{
    switch (red) {
    case CVM_REDUCE_ADD: return a + b;
    case CVM_REDUCE_MUL: return a * b;
    case CVM_REDUCE_MAX: return fmax(a, b);
    case CVM_REDUCE_MIN: return fmin(a, b);
    default: return b;
    }
}

/* *dst = reduce(*dst, *src) for one element of type dt. */
static void reduce_elem(cvm_dtype dt, int red, void *dst, const void *src)
{
    switch (dt) {
#define INT_CASE(DT, T)                                         \
    case DT: {                                                  \
        T a, b;                                                 \
        memcpy(&a, dst, sizeof a);                              \
        memcpy(&b, src, sizeof b);                              \
        a = (T)red_i64(red, (int64_t)a, (int64_t)b);            \
        memcpy(dst, &a, sizeof a);                              \
        break;                                                  \
    }
        INT_CASE(CVM_DTYPE_INT8, int8_t)
        INT_CASE(CVM_DTYPE_UINT8, uint8_t)
        INT_CASE(CVM_DTYPE_INT16, int16_t)
        INT_CASE(CVM_DTYPE_UINT16, uint16_t)
        INT_CASE(CVM_DTYPE_INT32, int32_t)
        INT_CASE(CVM_DTYPE_UINT32, uint32_t)
        INT_CASE(CVM_DTYPE_INT64, int64_t)
#undef INT_CASE
    case CVM_DTYPE_UINT64: {
        uint64_t a, b;
        memcpy(&a, dst, 8);
        memcpy(&b, src, 8);
        a = red_u64(red, a, b);
        memcpy(dst, &a, 8);
        break;
    }
    case CVM_DTYPE_BOOL: {
        uint8_t a = *(uint8_t *)dst != 0, b = *(const uint8_t *)src != 0;
        *(uint8_t *)dst = (uint8_t)(red == CVM_REDUCE_ADD || red == CVM_REDUCE_MAX ? (a | b)
                                    : red == CVM_REDUCE_NONE                     ? b
                                                                                 : (a & b));
        break;
    }
    case CVM_DTYPE_FLOAT32: {
        float a, b;
        memcpy(&a, dst, 4);
        memcpy(&b, src, 4);
        a = red == CVM_REDUCE_ADD ? a + b : red == CVM_REDUCE_MUL ? a * b : (float)red_f64(red, a, b);
        memcpy(dst, &a, 4);
        break;
    }
    case CVM_DTYPE_FLOAT64: {
        double a, b;
        memcpy(&a, dst, 8);
        memcpy(&b, src, 8);
        a = red_f64(red, a, b);
        memcpy(dst, &a, 8);
        break;
    }
    case CVM_DTYPE_FLOAT16:
    case CVM_DTYPE_BFLOAT16: {
        uint16_t a, b;
        memcpy(&a, dst, 2);
        memcpy(&b, src, 2);
        int h = dt == CVM_DTYPE_FLOAT16;
        float fa = h ? cvm_f16_to_f32(a) : cvm_bf16_to_f32(a), fb = h ? cvm_f16_to_f32(b) : cvm_bf16_to_f32(b);
        float r = (float)red_f64(red, fa, fb);
        a = h ? cvm_f32_to_f16(r) : cvm_f32_to_bf16(r);
        memcpy(dst, &a, 2);
        break;
    }
    default: break;
    }
}

cvm_status cvm_k_scatter_elements(const cvm_kernel_ctx *c)
{
    const cvm_tensor *x = c->in[0], *idx = c->in[1], *u = c->in[2];
    size_t es;
    int axis = 0, red = 0;
    CVM_TRY(cvm_elem_size(c, x->dtype, &es));
    CVM_TRY(cvm_scatter_reduction(c->node, c->opset, &red));
    CVM_TRY(cvm_norm_axis(cvm_attr_int(c->node, "axis", 0), x->ndim, c->node->op_type, &axis));
    char *dst = c->out[0]->data;
    cvm_par_memcpy(c->pool, dst, x->data, (size_t)cvm_tensor_numel(x) * es);
    int64_t st[CVM_MAX_DIMS], pos[CVM_MAX_DIMS] = {0};
    cvm_row_strides(x->ndim, x->dims, st);
    int64_t n = cvm_tensor_numel(idx);
    const char *src = u->data;
    for (int64_t e = 0; e < n; e++, odometer(pos, idx->dims, idx->ndim)) {
        int64_t w = 0, off = 0;
        CVM_TRY(fix_index(c, cvm_tensor_get_i64(idx, e), x->dims[axis], e, axis, &w));
        for (int d = 0; d < x->ndim; d++)
            off += (d == axis ? w : pos[d]) * st[d];
        if (red == CVM_REDUCE_NONE)
            cvm_copy_small(dst + (size_t)off * es, src + (size_t)e * es, es);
        else
            reduce_elem(x->dtype, red, dst + (size_t)off * es, src + (size_t)e * es);
    }
    return CVM_OK;
}

cvm_status cvm_k_scatter_nd(const cvm_kernel_ctx *c)
{
    const cvm_tensor *x = c->in[0], *idx = c->in[1], *u = c->in[2];
    size_t es;
    int red = 0;
    CVM_TRY(cvm_elem_size(c, x->dtype, &es));
    CVM_TRY(cvm_scatter_reduction(c->node, c->opset, &red));
    char *dst = c->out[0]->data;
    cvm_par_memcpy(c->pool, dst, x->data, (size_t)cvm_tensor_numel(x) * es);
    int q = idx->ndim, k = (int)idx->dims[q - 1];
    int64_t st[CVM_MAX_DIMS];
    cvm_row_strides(x->ndim, x->dims, st);
    int64_t tuples = cvm_dims_prod(idx->dims, 0, q - 1), slice = cvm_dims_prod(x->dims, k, x->ndim);
    const char *src = u->data;
    for (int64_t t = 0; t < tuples; t++) {
        int64_t off = 0;
        for (int j = 0; j < k; j++) {
            int64_t w = 0;
            CVM_TRY(fix_index(c, cvm_tensor_get_i64(idx, t * k + j), x->dims[j], t * k + j, j, &w));
            off += w * st[j];
        }
        char *d = dst + (size_t)off * es;
        const char *s = src + (size_t)(t * slice) * es;
        if (red == CVM_REDUCE_NONE)
            memcpy(d, s, (size_t)slice * es);
        else
            for (int64_t e = 0; e < slice; e++)
                reduce_elem(x->dtype, red, d + (size_t)e * es, s + (size_t)e * es);
    }
    return CVM_OK;
}

/* -------------------------------------------------- NonZero, Compress */

static int is_nonzero(const cvm_tensor *t, int64_t i)
{
    if (cvm_dtype_is_float(t->dtype)) {
        double v = cvm_tensor_get_f64(t, i);
        return v != 0 || v != v;
    }
    return cvm_tensor_get_i64(t, i) != 0;
}

cvm_status cvm_k_nonzero(const cvm_kernel_ctx *c)
{
    const cvm_tensor *x = c->in[0];
    cvm_tensor *y = c->out[0];
    int64_t n = cvm_tensor_numel(x), nz = y->dims[1], k = 0;
    int r = x->ndim;
    int64_t pos[CVM_MAX_DIMS] = {0};
    int64_t *out = y->data;
    for (int64_t e = 0; e < n; e++, odometer(pos, x->dims, r)) {
        if (!is_nonzero(x, e))
            continue;
        if (k >= nz)
            return cvm_node_error(c->node, CVM_E_INTERNAL, "more non-zeros than the planned %lld", (long long)nz);
        if (r == 0)
            out[k] = 0;
        for (int d = 0; d < r; d++)
            out[d * nz + k] = pos[d];
        k++;
    }
    if (k != nz)
        return cvm_node_error(c->node, CVM_E_INTERNAL, "fewer non-zeros than the planned %lld", (long long)nz);
    return CVM_OK;
}

cvm_status cvm_k_compress(const cvm_kernel_ctx *c)
{
    const cvm_tensor *x = c->in[0], *cond = c->in[1];
    size_t es;
    CVM_TRY(cvm_elem_size(c, x->dtype, &es));
    const cvm_attr *a = cvm_node_attr(c->node, "axis");
    int64_t outer = 1, extent = cvm_tensor_numel(x), inner = 1;
    if (a) {
        int axis = 0;
        CVM_TRY(cvm_norm_axis(a->i, x->ndim, "Compress", &axis));
        outer = cvm_dims_prod(x->dims, 0, axis);
        extent = x->dims[axis];
        inner = cvm_dims_prod(x->dims, axis + 1, x->ndim);
    }
    int64_t n = cond->dims[0] < extent ? cond->dims[0] : extent;
    int64_t kept = 0;
    for (int64_t i = 0; i < n; i++)
        kept += cvm_tensor_get_f64(cond, i) != 0;
    if (cvm_tensor_numel(c->out[0]) != outer * kept * inner)
        return cvm_node_error(c->node, CVM_E_INTERNAL, "output size differs from the planned one");
    size_t row = (size_t)inner * es;
    const char *src = x->data;
    char *dst = c->out[0]->data;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < n; i++)
            if (cvm_tensor_get_f64(cond, i) != 0) {
                memcpy(dst, src + (size_t)(o * extent + i) * row, row);
                dst += row;
            }
    return CVM_OK;
}

/* ---------------------------------------------------------------- TopK */

/* Sort keys: integers compare as int64 (exact), floats as double. */
typedef union topk_key {
    int64_t i;
    double f;
} topk_key;

typedef struct topk_cmp {
    const topk_key *key;
    int is_float, largest;
} topk_cmp;

/* True when element a must come before element b.  NaN always sorts last, as
 * with numpy's sort; equal keys keep their order (the merge sort is stable),
 * which puts the lower index first. */
static int topk_before(const topk_cmp *k, int64_t a, int64_t b)
{
    if (k->is_float) {
        double x = k->key[a].f, y = k->key[b].f;
        if (x != x)
            return 0;
        if (y != y)
            return 1;
        return k->largest ? x > y : x < y;
    }
    int64_t x = k->key[a].i, y = k->key[b].i;
    return k->largest ? x > y : x < y;
}

static void topk_sort(const topk_cmp *k, int64_t *idx, int64_t *tmp, int64_t n)
{
    for (int64_t w = 1; w < n; w *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * w) {
            int64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            int64_t i = lo, j = mid, o = lo;
            while (i < mid && j < hi)
                tmp[o++] = topk_before(k, idx[j], idx[i]) ? idx[j++] : idx[i++];
            while (i < mid)
                tmp[o++] = idx[i++];
            while (j < hi)
                tmp[o++] = idx[j++];
        }
        memcpy(idx, tmp, (size_t)n * sizeof *idx);
    }
}

/* The order the stable sort produces, made total: better key first, then
 * the lower index. */
static int topk_first(const topk_cmp *k, int64_t a, int64_t b)
{
    if (topk_before(k, a, b))
        return 1;
    if (topk_before(k, b, a))
        return 0;
    return a < b;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* heap[0] is the kept element that comes last in the total order. */
static void topk_sift(const topk_cmp *k, int64_t *heap, int64_t n, int64_t i)
{
    for (;;) {
        int64_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && topk_first(k, heap[w], heap[l]))
            w = l;
        if (r < n && topk_first(k, heap[w], heap[r]))
            w = r;
        if (w == i)
            return;
        int64_t t = heap[i];
        heap[i] = heap[w];
        heap[w] = t;
        i = w;
    }
}

/* The first K of the stable sort of n keys into idx[0..K), in order:
 * for K small against n an insertion list (K <= 16) or a K-element heap
 * (DETR heads take the top 300 of 300 x 80 scores), else the full merge
 * sort. */
static void topk_select(const topk_cmp *k, int64_t *idx, int64_t *tmp, int64_t n, int64_t K)
{
    if (K * 8 > n) {
        for (int64_t a = 0; a < n; a++)
            idx[a] = a;
        topk_sort(k, idx, tmp, n);
        return;
    }
    if (K <= 16) {
        /* a sorted list of the best K so far, each newcomer inserted from
         * the end: no heap, no sort afterwards (DEIMv2 takes the top 4 of
         * 33 in 400 rows).  Later indices never pass an equal key, so the
         * order is the stable sort's. */
        int64_t m = 0;
        for (int64_t a = 0; a < n; a++) {
            if (m == K && !topk_first(k, a, idx[K - 1]))
                continue;
            int64_t p = m < K ? m++ : K - 1;
            while (p > 0 && topk_first(k, a, idx[p - 1])) {
                idx[p] = idx[p - 1];
                p--;
            }
            idx[p] = a;
        }
        return;
    }
    for (int64_t a = 0; a < K; a++)
        idx[a] = a;
    for (int64_t i = K / 2 - 1; i >= 0; i--)
        topk_sift(k, idx, K, i);
    for (int64_t a = K; a < n; a++)
        if (topk_first(k, a, idx[0])) {
            idx[0] = a;
            topk_sift(k, idx, K, 0);
        }
    /* back in index order first, so that the stable sort puts the lower
     * index first among equal keys, as the full sort does */
    qsort(idx, (size_t)K, sizeof *idx, cmp_i64);
    topk_sort(k, idx, tmp, K);
}

cvm_status cvm_k_topk_prepare(const cvm_kernel_ctx *c, void **state, size_t *scratch)
{
    (void)state;
    const cvm_tensor *x = c->in[0];
    int axis = 0;
    CVM_TRY(cvm_norm_axis(cvm_attr_int(c->node, "axis", -1), x->ndim, "TopK", &axis));
    uint64_t a = (uint64_t)x->dims[axis];
    if (a > ((uint64_t)1 << 40))
        return cvm_node_error(c->node, CVM_E_LIMIT, "axis extent %llu is too large", (unsigned long long)a);
    *scratch = (size_t)a * (sizeof(topk_key) + 2 * sizeof(int64_t));
    return CVM_OK;
}

cvm_status cvm_k_topk(const cvm_kernel_ctx *c)
{
    const cvm_tensor *x = c->in[0];
    size_t es;
    int axis = 0;
    CVM_TRY(cvm_elem_size(c, x->dtype, &es));
    CVM_TRY(cvm_norm_axis(cvm_attr_int(c->node, "axis", -1), x->ndim, "TopK", &axis));
    int64_t A = x->dims[axis], K = c->out[0]->dims[axis];
    int64_t outer = cvm_dims_prod(x->dims, 0, axis), inner = cvm_dims_prod(x->dims, axis + 1, x->ndim);
    if (A == 0 || K == 0 || outer * inner == 0)
        return CVM_OK;
    if (!c->scratch)
        return cvm_node_error(c->node, CVM_E_INTERNAL, "TopK ran without its scratch buffer");
    topk_key *key = c->scratch;
    int64_t *idx = (int64_t *)(key + A), *tmp = idx + A;
    topk_cmp cmp = {.key = key, .is_float = cvm_dtype_is_float(x->dtype),
                    .largest = c->opset < 11 || cvm_attr_int(c->node, "largest", 1) != 0};
    const char *src = x->data;
    char *vals = c->out[0]->data;
    int64_t *inds = c->out[1] ? c->out[1]->data : NULL;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            int64_t base = o * A * inner + i;
            if (x->dtype == CVM_DTYPE_FLOAT32) {
                const float *xf = x->data;
                for (int64_t a = 0; a < A; a++)
                    key[a].f = xf[base + a * inner];
            } else {
                for (int64_t a = 0; a < A; a++) {
                    if (cmp.is_float)
                        key[a].f = cvm_tensor_get_f64(x, base + a * inner);
                    else
                        key[a].i = cvm_tensor_get_i64(x, base + a * inner);
                }
            }
            topk_select(&cmp, idx, tmp, A, K);
            for (int64_t k = 0; k < K; k++) {
                int64_t op = (o * K + k) * inner + i;
                if (vals)
                    cvm_copy_small(vals + (size_t)op * es, src + (size_t)(base + idx[k] * inner) * es, es);
                if (inds)
                    inds[op] = idx[k];
            }
        }
    return CVM_OK;
}

/* -------------------------------------------------------------- OneHot */

cvm_status cvm_k_onehot(const cvm_kernel_ctx *c)
{
    const cvm_tensor *idx = c->in[0], *vals = c->in[2];
    cvm_tensor *y = c->out[0];
    size_t es;
    int axis = 0;
    CVM_TRY(cvm_elem_size(c, vals->dtype, &es));
    CVM_TRY(cvm_norm_axis(cvm_attr_int(c->node, "axis", -1), y->ndim, "OneHot", &axis));
    int64_t depth = y->dims[axis];
    int64_t outer = cvm_dims_prod(y->dims, 0, axis), inner = cvm_dims_prod(y->dims, axis + 1, y->ndim);
    const char *off = vals->data, *on = (const char *)vals->data + es;
    char *dst = y->data;
    int64_t n = cvm_tensor_numel(y);
    for (int64_t e = 0; e < n; e++)
        cvm_copy_small(dst + (size_t)e * es, off, es);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            /* Float indices truncate; values outside [-depth, depth) leave the row all off. */
            int64_t v = cvm_tensor_get_i64(idx, o * inner + i);
            if (v < 0)
                v += depth;
            if (v < 0 || v >= depth)
                continue;
            cvm_copy_small(dst + (size_t)((o * depth + v) * inner + i) * es, on, es);
        }
    return CVM_OK;
}
