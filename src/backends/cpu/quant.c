/*
 * Quantization operators on the CPU: QuantizeLinear, DequantizeLinear,
 * DynamicQuantizeLinear, ConvInteger, MatMulInteger, QLinearConv and
 * QLinearMatMul.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/clones.h"
#include "backends/cpu/kernel_tables.h"
#include "backends/cpu/quant_gemm.h"
#include "backends/cpu/quant_geom.h"
#include "backends/cpu/quant_vnni.h"
#include "backends/cpu/nn_kernels.h"
#include "graph/fuse.h"

/* Longest dot product whose int32 sum cannot overflow (|term| <= 255 * 255). */
#define MAX_K 33025

static int64_t q_lo(cvm_dtype t)
{
    switch (t) {
    case CVM_DTYPE_INT8: return -128;
    case CVM_DTYPE_INT16: return -32768;
    default: return 0;
    }
}

static int64_t q_hi(cvm_dtype t)
{
    switch (t) {
    case CVM_DTYPE_INT8: return 127;
    case CVM_DTYPE_INT16: return 32767;
    case CVM_DTYPE_UINT16: return 65535;
    default: return 255;
    }
}

static inline int32_t ld_q(cvm_dtype t, const void *p, int64_t i)
{
    switch (t) {
    case CVM_DTYPE_INT8: return ((const int8_t *)p)[i];
    case CVM_DTYPE_UINT8: return ((const uint8_t *)p)[i];
    case CVM_DTYPE_INT16: return ((const int16_t *)p)[i];
    case CVM_DTYPE_UINT16: return ((const uint16_t *)p)[i];
    default: return ((const int32_t *)p)[i];
    }
}

static inline void st_q(cvm_dtype t, void *p, int64_t i, int32_t v)
{
    switch (t) {
    case CVM_DTYPE_INT8: ((int8_t *)p)[i] = (int8_t)v; break;
    case CVM_DTYPE_UINT8: ((uint8_t *)p)[i] = (uint8_t)v; break;
    case CVM_DTYPE_INT16: ((int16_t *)p)[i] = (int16_t)v; break;
    default: ((uint16_t *)p)[i] = (uint16_t)v; break;
    }
}

/* round(v) half to even, saturated to [lo, hi]; NaN gives zero point's
 * neighbourhood lo..hi clamp of 0. */
static inline int32_t sat_round(float v, float lo, float hi)
{
    v = nearbyintf(v);
    if (!(v >= lo))
        return v != v ? 0 : (int32_t)lo;
    if (v > hi)
        return (int32_t)hi;
    return (int32_t)v;
}

/* ---------------------------------------------- Quantize / Dequantize */

/* x viewed as [O, A, I] with A the quantization axis.  The scale index of
 * element (o, a, i) is 0 (per tensor), a (per axis) or
 * (o * SA + a / bs) * I + i (blocked, SA = scale dims[axis]). */
typedef struct qlayout {
    int kind; /* 0 per tensor, 1 per axis, 2 blocked */
    int64_t O, A, I, SA, bs;
} qlayout;

static void q_layout(const cvm_kernel_ctx *c, const cvm_tensor *x, const cvm_tensor *s, qlayout *L)
{
    int64_t n = cvm_tensor_numel(s);
    memset(L, 0, sizeof *L);
    L->O = 1, L->A = 1, L->I = 1, L->bs = 1;
    if (s->ndim == 0 || (n == 1 && (s->ndim <= 1 || c->opset < 13))) {
        L->O = cvm_tensor_numel(x);
        return;
    }
    int axis = 0;
    if (cvm_norm_axis(cvm_attr_int(c->node, "axis", 1), x->ndim, c->node->op_type, &axis) != CVM_OK) {
        L->O = 0; /* infer rejected this already */
        return;
    }
    for (int i = 0; i < axis; i++)
        L->O *= x->dims[i];
    L->A = x->dims[axis];
    for (int i = axis + 1; i < x->ndim; i++)
        L->I *= x->dims[i];
    int64_t bs = c->opset >= 21 ? cvm_attr_int(c->node, "block_size", 0) : 0;
    if (bs > 0 && s->ndim == x->ndim) {
        L->kind = 2;
        L->bs = bs;
        L->SA = s->dims[axis];
    } else {
        L->kind = 1;
    }
}

static inline int64_t q_sidx(const qlayout *L, int64_t o, int64_t a, int64_t i)
{
    if (L->kind == 0)
        return 0;
    if (L->kind == 1)
        return a;
    return (o * L->SA + a / L->bs) * L->I + i;
}

static cvm_status quantize_run(const cvm_kernel_ctx *c)
{
    const cvm_tensor *x = c->in[0], *s = c->in[1], *zp = c->n_in > 2 ? c->in[2] : NULL;
    cvm_tensor *y = c->out[0];
    if (s->dtype != CVM_DTYPE_FLOAT32 || (x->dtype != CVM_DTYPE_FLOAT32 && x->dtype != CVM_DTYPE_INT32))
        return cvm_node_error(c->node, CVM_E_UNSUPPORTED, "types %s/%s are not supported",
                              cvm_dtype_name(x->dtype), cvm_dtype_name(s->dtype));
    qlayout L;
    q_layout(c, x, s, &L);
    const float *sc = s->data;
    float lo = (float)q_lo(y->dtype), hi = (float)q_hi(y->dtype);
    for (int64_t o = 0; o < L.O; o++)
        for (int64_t a = 0; a < L.A; a++) {
            int64_t base = (o * L.A + a) * L.I;
            for (int64_t i = 0; i < L.I; i++) {
                int64_t si = q_sidx(&L, o, a, i);
                float scale = sc[si];
                int32_t z = zp ? ld_q(zp->dtype, zp->data, si) : 0;
                float v = x->dtype == CVM_DTYPE_FLOAT32 ? ((const float *)x->data)[base + i]
                                                        : (float)((const int32_t *)x->data)[base + i];
                st_q(y->dtype, y->data, base + i, sat_round(nearbyintf(v / scale) + (float)z, lo, hi));
            }
        }
    return CVM_OK;
}

static cvm_status dequantize_run(const cvm_kernel_ctx *c)
{
    const cvm_tensor *x = c->in[0], *s = c->in[1], *zp = c->n_in > 2 ? c->in[2] : NULL;
    cvm_tensor *y = c->out[0];
    if (s->dtype != CVM_DTYPE_FLOAT32 || y->dtype != CVM_DTYPE_FLOAT32)
        return cvm_node_error(c->node, CVM_E_UNSUPPORTED, "scale type %s is not supported",
                              cvm_dtype_name(s->dtype));
    qlayout L;
    q_layout(c, x, s, &L);
    const float *sc = s->data;
    float *out = y->data;
    for (int64_t o = 0; o < L.O; o++)
        for (int64_t a = 0; a < L.A; a++) {
            int64_t base = (o * L.A + a) * L.I;
            for (int64_t i = 0; i < L.I; i++) {
                int64_t si = q_sidx(&L, o, a, i);
                int64_t z = zp ? ld_q(zp->dtype, zp->data, si) : 0;
                out[base + i] = (float)((int64_t)ld_q(x->dtype, x->data, base + i) - z) * sc[si];
            }
        }
    return CVM_OK;
}

/* ------------------------------------------------ DynamicQuantizeLinear */

#define DQ_CHUNKS 64

typedef struct dqjob {
    const float *x;
    uint8_t *y;
    int64_t n, chunk;
    float mn[DQ_CHUNKS], mx[DQ_CHUNKS];
    float scale, zp;
    int avx512;
} dqjob;

/* Both passes call the AVX-512 loops of quant_vnni.c where the CPU has
 * them; the clones give the portable loops AVX2 elsewhere. */
CVM_CPU_CLONES static void dq_minmax(void *arg, size_t b, size_t e)
{
    dqjob *j = arg;
    const float *restrict x = j->x;
    for (size_t k = b; k < e; k++) {
        int64_t s = (int64_t)k * j->chunk, t = s + j->chunk < j->n ? s + j->chunk : j->n;
        if (j->avx512) {
            cvm_q8_range(x + s, t - s, &j->mn[k], &j->mx[k]);
            continue;
        }
        /* 8 independent lanes so that the compiler can use vector min/max;
         * starting at 0 makes the range include zero as the spec asks. */
        float mn[8] = {0}, mx[8] = {0};
        int64_t i = s;
        for (; i + 8 <= t; i += 8)
            for (int l = 0; l < 8; l++) {
                float v = x[i + l];
                mn[l] = v < mn[l] ? v : mn[l];
                mx[l] = v > mx[l] ? v : mx[l];
            }
        for (; i < t; i++) {
            mn[0] = x[i] < mn[0] ? x[i] : mn[0];
            mx[0] = x[i] > mx[0] ? x[i] : mx[0];
        }
        for (int l = 1; l < 8; l++) {
            mn[0] = mn[l] < mn[0] ? mn[l] : mn[0];
            mx[0] = mx[l] > mx[0] ? mx[l] : mx[0];
        }
        j->mn[k] = mn[0];
        j->mx[k] = mx[0];
    }
}

CVM_CPU_CLONES static void dq_apply(void *arg, size_t b, size_t e)
{
    const dqjob *j = arg;
    const float scale = j->scale, zp = j->zp;
    const float *restrict x = j->x;
    uint8_t *restrict y = j->y;
    for (size_t k = b; k < e; k++) {
        int64_t s = (int64_t)k * j->chunk, t = s + j->chunk < j->n ? s + j->chunk : j->n;
        if (j->avx512) {
            cvm_q8_quantize(x + s, y + s, t - s, scale, zp);
            continue;
        }
        for (int64_t i = s; i < t; i++) {
            float v = x[i] / scale;
            /* Clamp first (the result saturates anyway), then round half to
             * even by adding and removing 1.5 * 2^23: exact for |v| < 2^22
             * and vectorisable, unlike a nearbyintf call. NaN becomes 0. */
            v = v > -512.0f ? (v < 512.0f ? v : 512.0f) : -512.0f;
            v = (v + 12582912.0f) - 12582912.0f + zp;
            v = v > 0.0f ? (v < 255.0f ? v : 255.0f) : 0.0f;
            y[i] = (uint8_t)(int32_t)v;
        }
    }
}

static cvm_status dynq_run(const cvm_kernel_ctx *c)
{
    const cvm_tensor *x = c->in[0];
    if (x->dtype != CVM_DTYPE_FLOAT32)
        return cvm_node_error(c->node, CVM_E_UNSUPPORTED, "input type %s is not supported",
                              cvm_dtype_name(x->dtype));
    dqjob j;
    j.x = x->data;
    j.y = c->out[0]->data;
    j.n = cvm_tensor_numel(x);
    j.avx512 = cvm_q8_avx512();
    j.chunk = (j.n + DQ_CHUNKS - 1) / DQ_CHUNKS;
    if (j.chunk < 4096)
        j.chunk = 4096;
    size_t nchunks = (size_t)((j.n + j.chunk - 1) / j.chunk);
    cvm_parallel_for(c->pool, nchunks, 1, dq_minmax, &j);
    float mn = 0.0f, mx = 0.0f;
    for (size_t k = 0; k < nchunks; k++) {
        mn = j.mn[k] < mn ? j.mn[k] : mn;
        mx = j.mx[k] > mx ? j.mx[k] : mx;
    }
    /* The spec's formula over a range that includes 0.  When that range is
     * empty (all zeros) the formula divides by zero; onnxruntime then uses
     * scale 1 and zero point 0, and so do we. */
    float scale = (mx - mn) / 255.0f;
    float zpf = 0.0f;
    if (mx - mn == 0.0f || !isfinite(scale)) {
        scale = mx - mn == 0.0f ? 1.0f : scale;
        for (int64_t i = 0; i < j.n; i++)
            j.y[i] = 0;
    } else {
        float z = 0.0f - mn / scale;
        z = z < 0.0f ? 0.0f : z > 255.0f ? 255.0f : z;
        zpf = nearbyintf(z);
        j.scale = scale;
        j.zp = zpf;
        cvm_parallel_for(c->pool, nchunks, 1, dq_apply, &j);
    }
    if (c->n_out > 1 && c->out[1])
        *(float *)c->out[1]->data = scale;
    if (c->n_out > 2 && c->out[2])
        *(uint8_t *)c->out[2]->data = (uint8_t)zpf;
    return CVM_OK;
}

/* ------------------------------------------------------- integer conv */

#define CONV_TP 64 /* output positions per tile */

typedef struct qconv_state {
    cvm_conv_geom g;
    int64_t K, Kp, Mg, P;     /* patch length (padded), out channels per group, positions */
    int16_t *w;               /* [M][Kp] weights minus their zero point; NULL: repack per run */
    cvm_q8_conv *q8;          /* the VNNI path, when it applies */
    int slots;
    size_t slot_bytes, wbytes;
    /* ConvIntegerScaled's fused epilogue: y = act(conv * S [+ r]) [+ r] */
    int act, add_first, has_res, res_full;
    float alpha, beta;
    int ydims;                /* output rank */
    int64_t odims[CVM_MAX_DIMS], rstr[CVM_MAX_DIMS]; /* output dims, residual strides (0: broadcast) */
} qconv_state;

static void qconv_release(void *p)
{
    qconv_state *s = p;
    if (s) {
        free(s->w);
        cvm_q8_conv_free(s->q8);
        free(s->q8);
    }
    free(s);
}

/* Weights minus zero point into [M][Kp] int16, zero padded. */
static void pack_w(const cvm_tensor *w, const cvm_tensor *wzp, int64_t M, int64_t K, int64_t Kp, int16_t *dst)
{
    int64_t nz = wzp ? cvm_tensor_numel(wzp) : 0;
    for (int64_t m = 0; m < M; m++) {
        int32_t z = nz == 0 ? 0 : ld_q(wzp->dtype, wzp->data, nz == 1 ? 0 : m);
        for (int64_t k = 0; k < K; k++)
            dst[m * Kp + k] = (int16_t)(ld_q(w->dtype, w->data, m * K + k) - z);
        for (int64_t k = K; k < Kp; k++)
            dst[m * Kp + k] = 0;
    }
}

static int is_qlinear(const cvm_kernel_ctx *c) { return c->node->op_type[0] == 'Q'; }

/* ConvIntegerScaled's epilogue attributes, and the residual's strides over
 * the output's dims (right-aligned, 0 where it broadcasts). */
static cvm_status qconv_epi_setup(const cvm_kernel_ctx *c, qconv_state *s)
{
    s->act = CVM_FUSED_NONE;
    if (strcmp(c->node->op_type, "ConvIntegerScaled") != 0)
        return CVM_OK;
    CVM_TRY(cvm_fused_act_parse(c->node, &s->act, &s->alpha, &s->beta));
    s->add_first = (int)cvm_attr_int(c->node, "add_first", 0) != 0;
    const cvm_tensor *r = c->n_in > 5 ? c->in[5] : NULL, *y = c->out[0];
    s->ydims = y->ndim;
    for (int i = 0; i < y->ndim; i++)
        s->odims[i] = y->dims[i];
    if (!r)
        return CVM_OK;
    if (r->dtype != CVM_DTYPE_FLOAT32 || r->ndim > y->ndim)
        return cvm_node_error(c->node, CVM_E_SHAPE, "residual of type %s and rank %d for an output of rank %d",
                              cvm_dtype_name(r->dtype), r->ndim, y->ndim);
    int64_t acc = 1;
    s->res_full = 1;
    for (int i = y->ndim - 1; i >= 0; i--) {
        int j = i - (y->ndim - r->ndim);
        int64_t rd = j < 0 ? 1 : r->dims[j];
        if (rd != 1 && rd != y->dims[i])
            return cvm_node_error(c->node, CVM_E_SHAPE, "residual dimension %d (%lld) does not broadcast "
                                  "to the output's %lld", j, (long long)rd, (long long)y->dims[i]);
        s->rstr[i] = rd == 1 ? 0 : acc;
        if (i >= 2 && rd != y->dims[i])
            s->res_full = 0;
        acc *= rd;
    }
    s->has_res = 1;
    return CVM_OK;
}

typedef struct qconv_epi_ctx {
    const qconv_state *s;
    const float *res;
    float *y;
} qconv_epi_ctx;

/* Positions p0..p0+len-1 of rows m0..m1-1 of image n, in place. */
static void qconv_epi(const void *vctx, int64_t n, int64_t m0, int64_t m1, int64_t p0, int64_t len)
{
    const qconv_epi_ctx *e = vctx;
    const qconv_state *s = e->s;
    const int64_t M = s->g.M, P = s->P;
    for (int64_t m = m0; m < m1; m++) {
        float *y = e->y + (n * M + m) * P + p0;
        if (!e->res) {
            cvm_act_row(y, len, NULL, 0, s->act, s->add_first, s->alpha, s->beta);
            continue;
        }
        const float *rb = e->res + n * s->rstr[0] + m * s->rstr[1];
        int spatial_bcast = 1;
        for (int i = 2; i < s->ydims; i++)
            spatial_bcast = spatial_bcast && s->rstr[i] == 0;
        if (s->res_full || spatial_bcast) {
            /* the output's own layout, or one value per (image, channel) */
            cvm_act_row(y, len, s->res_full ? rb + p0 : rb, s->res_full ? 1 : 0, s->act, s->add_first,
                        s->alpha, s->beta);
            continue;
        }
        float tmp[64];
        for (int64_t j0 = 0; j0 < len; j0 += 64) {
            int64_t cnt = len - j0 < 64 ? len - j0 : 64;
            for (int64_t j = 0; j < cnt; j++) {
                int64_t o = p0 + j0 + j, off = 0;
                for (int i = s->ydims - 1; i >= 2; i--) {
                    off += (o % s->odims[i]) * s->rstr[i];
                    o /= s->odims[i];
                }
                tmp[j] = rb[off];
            }
            cvm_act_row(y + j0, cnt, tmp, 1, s->act, s->add_first, s->alpha, s->beta);
        }
    }
}

static cvm_status qconv_prepare(const cvm_kernel_ctx *c, void **state, size_t *scratch)
{
    int ql = is_qlinear(c);
    const cvm_tensor *x = c->in[0], *w = c->in[ql ? 3 : 1];
    const cvm_tensor *wzp = ql ? c->in[5] : (c->n_in > 3 ? c->in[3] : NULL);
    qconv_state *s = calloc(1, sizeof *s);
    if (!s)
        return cvm_node_error(c->node, CVM_E_NOMEM, "out of memory");
    cvm_status st = cvm_conv_geom_get(c->node, x, w, &s->g);
    if (st != CVM_OK) {
        free(s);
        return st;
    }
    if (s->g.nsp > 2) {
        int nsp = s->g.nsp;
        free(s);
        return cvm_node_error(c->node, CVM_E_UNSUPPORTED, "%d-D integer convolution is not supported", nsp);
    }
    int64_t kprod = 1;
    for (int i = 0; i < s->g.nsp; i++)
        kprod *= s->g.k[i];
    s->K = (s->g.C / s->g.group) * kprod;
    if (s->K > MAX_K) {
        long long k = (long long)s->K;
        free(s);
        return cvm_node_error(c->node, CVM_E_UNSUPPORTED, "patch of %lld values could overflow int32", k);
    }
    s->Kp = cvm_q_kpad(s->K);
    s->Mg = s->g.M / s->g.group;
    s->P = 1;
    for (int i = 0; i < s->g.nsp; i++)
        s->P *= s->g.out[i];
    s->slots = c->pool ? cvm_threadpool_size(c->pool) : 1;
    if (s->slots < 1)
        s->slots = 1;
    st = qconv_epi_setup(c, s);
    if (st != CVM_OK) {
        free(s);
        return st;
    }
    /* Constant 8-bit weights with a per-tensor or per-channel zero point
     * take the VNNI path; depthwise-like groups (few rows per group) would
     * fill its 8-row panels poorly, so they keep the portable one. */
    int64_t nwz = wzp ? cvm_tensor_numel(wzp) : 0;
    int w8 = w->dtype == CVM_DTYPE_UINT8 || w->dtype == CVM_DTYPE_INT8;
    if (!ql && w8 && w->data && (!wzp || (wzp->data && wzp->dtype == w->dtype)) &&
        (nwz == 0 || nwz == 1 || nwz == s->g.M) && s->K > 0 && s->Mg >= 4 && cvm_q8_available()) {
        s->q8 = malloc(sizeof *s->q8);
        if (!s->q8 || cvm_q8_conv_init(s->q8, &s->g, s->K, w->data, w->dtype == CVM_DTYPE_INT8,
                                       wzp ? wzp->data : NULL, nwz, s->slots) != 0) {
            free(s->q8);
            free(s);
            return cvm_node_error(c->node, CVM_E_NOMEM, "out of memory for packed weights");
        }
        *scratch = cvm_q8_conv_scratch(s->q8);
        *state = s;
        return CVM_OK;
    }
    s->wbytes = (size_t)s->g.M * (size_t)s->Kp * sizeof(int16_t);
    if (w->data && (!wzp || wzp->data)) {
        s->w = malloc(s->wbytes ? s->wbytes : 1);
        if (!s->w) {
            free(s);
            return cvm_node_error(c->node, CVM_E_NOMEM, "out of memory for packed weights");
        }
        pack_w(w, wzp, s->g.M, s->K, s->Kp, s->w);
    }
    s->slot_bytes = ((size_t)CONV_TP * (size_t)s->Kp * sizeof(int16_t) +
                     (size_t)s->Mg * CONV_TP * sizeof(int32_t) + 63) & ~(size_t)63;
    *scratch = (s->w ? 0 : (s->wbytes + 63) & ~(size_t)63) + (size_t)s->slots * s->slot_bytes;
    *state = s;
    return CVM_OK;
}

typedef struct qconv_job {
    const qconv_state *s;
    const cvm_kernel_ctx *c;
    const int16_t *w;
    char *slots;
    int nslots;
    int64_t ntiles, total;
    int32_t xzp;
    int ql;
    /* QLinearConv requantisation */
    float xs, ys, yzp, lo, hi;
    const float *ws;
    int64_t nws;
    const int32_t *bias;
} qconv_job;

#define IM2COL(NAME, T)                                                                            \
    static void NAME(const qconv_state *s, const T *xc0, int64_t p0, int64_t np, int32_t xzp,       \
                     int16_t *col)                                                                 \
    {                                                                                              \
        const cvm_conv_geom *g = &s->g;                                                            \
        const int two = g->nsp == 2;                                                               \
        const int64_t H = two ? g->in[0] : 1, W = two ? g->in[1] : g->in[0];                       \
        const int64_t Wo = two ? g->out[1] : g->out[0];                                            \
        const int64_t kh = two ? g->k[0] : 1, kw = two ? g->k[1] : g->k[0];                        \
        const int64_t sh = two ? g->stride[0] : 1, sw = two ? g->stride[1] : g->stride[0];         \
        const int64_t dh = two ? g->dil[0] : 1, dw = two ? g->dil[1] : g->dil[0];                  \
        const int64_t ph = two ? g->pad0[0] : 0, pw = two ? g->pad0[1] : g->pad0[0];               \
        const int64_t Cg = g->C / g->group;                                                        \
        int64_t oh = p0 / Wo, ow = p0 % Wo;                                                        \
        for (int64_t p = 0; p < np; p++) {                                                         \
            int16_t *d = col + p * s->Kp;                                                          \
            int64_t ih0 = oh * sh - ph, iw0 = ow * sw - pw;                                        \
            for (int64_t ci = 0; ci < Cg; ci++) {                                                  \
                const T *xc = xc0 + ci * H * W;                                                    \
                for (int64_t a = 0; a < kh; a++) {                                                 \
                    int64_t ih = ih0 + a * dh;                                                     \
                    if (ih < 0 || ih >= H) {                                                       \
                        for (int64_t b = 0; b < kw; b++)                                           \
                            *d++ = 0;                                                              \
                        continue;                                                                  \
                    }                                                                              \
                    const T *xr = xc + ih * W;                                                     \
                    for (int64_t b = 0; b < kw; b++) {                                             \
                        int64_t iw = iw0 + b * dw;                                                 \
                        *d++ = (int16_t)(iw >= 0 && iw < W ? (int32_t)xr[iw] - xzp : 0);           \
                    }                                                                              \
                }                                                                                  \
            }                                                                                      \
            for (int64_t k = s->K; k < s->Kp; k++)                                                 \
                *d++ = 0;                                                                          \
            if (++ow == Wo) {                                                                      \
                ow = 0;                                                                            \
                oh++;                                                                              \
            }                                                                                      \
        }                                                                                          \
    }

IM2COL(im2col_u8, uint8_t)
IM2COL(im2col_s8, int8_t)

static void qconv_slot(void *arg, size_t b, size_t e)
{
    const qconv_job *j = arg;
    const qconv_state *s = j->s;
    const cvm_tensor *x = j->c->in[0];
    cvm_tensor *y = j->c->out[0];
    const int64_t in_plane = x->ndim == 4 ? x->dims[2] * x->dims[3] : x->dims[2];
    for (size_t slot = b; slot < e; slot++) {
        int16_t *col = (int16_t *)(void *)(j->slots + slot * s->slot_bytes);
        int32_t *acc = (int32_t *)(void *)((char *)col + (size_t)CONV_TP * (size_t)s->Kp * sizeof(int16_t));
        for (int64_t t = (int64_t)slot; t < j->total; t += j->nslots) {
            int64_t tile = t % j->ntiles, ng = t / j->ntiles;
            int64_t grp = ng % s->g.group, n = ng / s->g.group;
            int64_t p0 = tile * CONV_TP, np = s->P - p0 < CONV_TP ? s->P - p0 : CONV_TP;
            size_t xoff = (size_t)((n * s->g.C + grp * (s->g.C / s->g.group)) * in_plane);
            if (x->dtype == CVM_DTYPE_UINT8)
                im2col_u8(s, (const uint8_t *)x->data + xoff, p0, np, j->xzp, col);
            else
                im2col_s8(s, (const int8_t *)x->data + xoff, p0, np, j->xzp, col);
            const int16_t *wg = j->w + grp * s->Mg * s->Kp;
            int64_t m0 = grp * s->Mg;
            if (!j->ql) {
                int32_t *yo = (int32_t *)y->data + (n * s->g.M + m0) * s->P + p0;
                cvm_q_gemm_nt(wg, s->Kp, col, s->Kp, yo, s->P, s->Mg, np, s->Kp);
                continue;
            }
            cvm_q_gemm_nt(wg, s->Kp, col, s->Kp, acc, CONV_TP, s->Mg, np, s->Kp);
            for (int64_t m = 0; m < s->Mg; m++) {
                int64_t mm = m0 + m;
                float mult = j->xs * j->ws[j->nws == 1 ? 0 : mm] / j->ys;
                int32_t bias = j->bias ? j->bias[mm] : 0;
                int64_t yo = (n * s->g.M + mm) * s->P + p0;
                for (int64_t p = 0; p < np; p++) {
                    int32_t q = sat_round((float)(acc[m * CONV_TP + p] + bias) * mult + j->yzp, j->lo, j->hi);
                    st_q(y->dtype, y->data, yo + p, q);
                }
            }
        }
    }
}

static cvm_status qconv_run(const cvm_kernel_ctx *c)
{
    const qconv_state *s = c->state;
    int ql = is_qlinear(c);
    const cvm_tensor *x = c->in[0], *w = c->in[ql ? 3 : 1];
    const cvm_tensor *xzp = ql ? c->in[2] : (c->n_in > 2 ? c->in[2] : NULL);
    const cvm_tensor *wzp = ql ? c->in[5] : (c->n_in > 3 ? c->in[3] : NULL);
    if (!s)
        return cvm_node_error(c->node, CVM_E_INTERNAL, "not prepared");
    if (x->dtype != CVM_DTYPE_UINT8 && x->dtype != CVM_DTYPE_INT8)
        return cvm_node_error(c->node, CVM_E_UNSUPPORTED, "input type %s", cvm_dtype_name(x->dtype));
    /* ConvIntegerScaled (created by src/graph/fuse.c): float(conv) * scale. */
    const float *scale = NULL;
    if (strcmp(c->node->op_type, "ConvIntegerScaled") == 0) {
        const cvm_tensor *st = c->n_in > 4 ? c->in[4] : NULL;
        if (!st || st->dtype != CVM_DTYPE_FLOAT32 || cvm_tensor_numel(st) != 1 ||
            c->out[0]->dtype != CVM_DTYPE_FLOAT32)
            return cvm_node_error(c->node, CVM_E_INVALID_ARG, "scale must be one float32 value");
        scale = st->data;
    }
    if (s->q8) {
        int32_t xz = xzp && cvm_tensor_numel(xzp) > 0 ? ld_q(xzp->dtype, xzp->data, 0) : 0;
        if (xzp && cvm_tensor_numel(xzp) > 0 && xzp->dtype != x->dtype)
            return cvm_node_error(c->node, CVM_E_UNSUPPORTED, "zero point type %s differs from input type %s",
                                  cvm_dtype_name(xzp->dtype), cvm_dtype_name(x->dtype));
        if (!c->scratch)
            return cvm_node_error(c->node, CVM_E_INTERNAL, "no scratch");
        int fused = s->act != CVM_FUSED_NONE || s->has_res;
        qconv_epi_ctx ec = {s, s->has_res ? c->in[5]->data : NULL, c->out[0]->data};
        cvm_q8_conv_run(s->q8, x->data, x->dtype == CVM_DTYPE_INT8, xz, scale, c->out[0]->data, c->scratch,
                        c->pool, fused ? qconv_epi : NULL, &ec);
        return CVM_OK;
    }
    qconv_job j = {.s = s, .c = c, .ql = ql};
    char *scr = c->scratch;
    if (s->w) {
        j.w = s->w;
    } else {
        if (!scr)
            return cvm_node_error(c->node, CVM_E_INTERNAL, "no scratch");
        pack_w(w, wzp, s->g.M, s->K, s->Kp, (int16_t *)(void *)scr);
        j.w = (const int16_t *)(void *)scr;
        scr += (s->wbytes + 63) & ~(size_t)63;
    }
    j.xzp = xzp && cvm_tensor_numel(xzp) > 0 ? ld_q(xzp->dtype, xzp->data, 0) : 0;
    if (ql) {
        j.xs = *(const float *)c->in[1]->data;
        j.ws = c->in[4]->data;
        j.nws = cvm_tensor_numel(c->in[4]);
        j.ys = *(const float *)c->in[6]->data;
        j.yzp = (float)ld_q(c->in[7]->dtype, c->in[7]->data, 0);
        j.lo = (float)q_lo(c->out[0]->dtype);
        j.hi = (float)q_hi(c->out[0]->dtype);
        j.bias = c->n_in > 8 && c->in[8] ? c->in[8]->data : NULL;
    }
    j.slots = scr;
    int avail = c->pool ? cvm_threadpool_size(c->pool) : 1;
    j.nslots = avail < s->slots ? avail : s->slots;
    if (j.nslots < 1)
        j.nslots = 1;
    j.ntiles = (s->P + CONV_TP - 1) / CONV_TP;
    j.total = s->g.N * s->g.group * j.ntiles;
    if (j.total == 0 || s->g.M == 0)
        return CVM_OK;
    if (s->Mg == 0 || !scr)
        return cvm_node_error(c->node, CVM_E_INTERNAL, "no scratch");
    cvm_parallel_for(c->pool, (size_t)j.nslots, 1, qconv_slot, &j);
    if (scale) {
        /* int32 results to float in place (memcpy: the buffer holds both types) */
        unsigned char *p = c->out[0]->data;
        int64_t n = cvm_tensor_numel(c->out[0]);
        const float sc = *scale;
        for (int64_t i = 0; i < n; i++) {
            int32_t v;
            memcpy(&v, p + 4 * i, 4);
            float f = (float)v * sc;
            memcpy(p + 4 * i, &f, 4);
        }
        if (s->act != CVM_FUSED_NONE || s->has_res) {
            qconv_epi_ctx ec = {s, s->has_res ? c->in[5]->data : NULL, c->out[0]->data};
            for (int64_t b = 0; b < s->g.N; b++)
                qconv_epi(&ec, b, 0, s->g.M, 0, s->P);
        }
    }
    return CVM_OK;
}

/* ----------------------------------------------------- integer matmul */

#define MM_MB 16 /* rows of A per work item */

typedef struct qmm_state {
    int64_t M, N, K, Kp;
    int64_t batch;                      /* output batch count */
    int nb;
    int64_t bdims[CVM_MAX_DIMS];        /* output batch dims */
    int64_t astr[CVM_MAX_DIMS], bstr[CVM_MAX_DIMS]; /* batch strides in matrices, 0 = broadcast */
    int16_t *bt;                        /* [N][Kp] of B minus zero point when B is a constant matrix */
    int slots;
    size_t slot_bytes, bt_bytes;
} qmm_state;

static void qmm_release(void *p)
{
    qmm_state *s = p;
    if (s)
        free(s->bt);
    free(s);
}

static void pack_bt(const cvm_tensor *b, const cvm_tensor *bzp, int64_t off, int64_t K, int64_t N, int64_t Kp,
                    int16_t *dst)
{
    int64_t nz = bzp ? cvm_tensor_numel(bzp) : 0;
    for (int64_t n = 0; n < N; n++) {
        int32_t z = nz == 0 ? 0 : ld_q(bzp->dtype, bzp->data, nz == 1 ? 0 : n);
        for (int64_t k = 0; k < K; k++)
            dst[n * Kp + k] = (int16_t)(ld_q(b->dtype, b->data, off + k * N + n) - z);
        for (int64_t k = K; k < Kp; k++)
            dst[n * Kp + k] = 0;
    }
}

static cvm_status qmm_prepare(const cvm_kernel_ctx *c, void **state, size_t *scratch)
{
    int ql = is_qlinear(c);
    const cvm_tensor *a = c->in[0], *b = c->in[ql ? 3 : 1];
    const cvm_tensor *bzp = ql ? c->in[5] : (c->n_in > 3 ? c->in[3] : NULL);
    qmm_state *s = calloc(1, sizeof *s);
    if (!s)
        return cvm_node_error(c->node, CVM_E_NOMEM, "out of memory");
    s->K = a->dims[a->ndim - 1];
    s->M = a->ndim >= 2 ? a->dims[a->ndim - 2] : 1;
    s->N = b->ndim >= 2 ? b->dims[b->ndim - 1] : 1;
    if (s->K > MAX_K) {
        long long k = (long long)s->K;
        free(s);
        return cvm_node_error(c->node, CVM_E_UNSUPPORTED, "inner dim %lld could overflow int32", k);
    }
    s->Kp = cvm_q_kpad(s->K);
    /* Batch dims of the output and each operand's stride over them. */
    int na = a->ndim > 2 ? a->ndim - 2 : 0, nbb = b->ndim > 2 ? b->ndim - 2 : 0;
    s->nb = na > nbb ? na : nbb;
    int64_t sa = s->M * s->K, sb = s->K * s->N;
    s->batch = 1;
    for (int i = s->nb - 1; i >= 0; i--) {
        int ia = i - (s->nb - na), ib = i - (s->nb - nbb);
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        s->bdims[i] = da > db ? da : db;
        if (da == 0 || db == 0)
            s->bdims[i] = 0;
        s->astr[i] = da == 1 ? 0 : sa;
        s->bstr[i] = db == 1 ? 0 : sb;
        sa *= da;
        sb *= db;
        s->batch *= s->bdims[i];
    }
    s->bt_bytes = ((size_t)s->N * (size_t)s->Kp * sizeof(int16_t) + 63) & ~(size_t)63;
    int64_t bnum = cvm_tensor_numel(b);
    if (b->data && (!bzp || bzp->data) && bnum == s->K * s->N) {
        s->bt = malloc(s->bt_bytes);
        if (!s->bt) {
            free(s);
            return cvm_node_error(c->node, CVM_E_NOMEM, "out of memory for packed B");
        }
        pack_bt(b, bzp, 0, s->K, s->N, s->Kp, s->bt);
    }
    s->slots = c->pool ? cvm_threadpool_size(c->pool) : 1;
    if (s->slots < 1)
        s->slots = 1;
    s->slot_bytes = ((size_t)MM_MB * (size_t)s->Kp * sizeof(int16_t) + (size_t)MM_MB * (size_t)s->N * 4 + 63) &
                    ~(size_t)63;
    *scratch = (s->bt ? 0 : s->bt_bytes) + (size_t)s->slots * s->slot_bytes;
    *state = s;
    return CVM_OK;
}

typedef struct qmm_job {
    const qmm_state *s;
    const cvm_kernel_ctx *c;
    const int16_t *bt;
    char *slots;
    int nslots;
    int64_t mblocks, items, batch0; /* items cover batches [batch0, batch0 + items / mblocks) */
    int ql;
    const float *as, *bs;
    int64_t nas, nbs;
    float ys, yzp, lo, hi;
} qmm_job;

static int64_t a_offset(const qmm_state *s, int64_t bi)
{
    int64_t off = 0;
    for (int i = s->nb - 1; i >= 0; i--) {
        off += (bi % s->bdims[i]) * s->astr[i];
        bi /= s->bdims[i];
    }
    return off;
}

static void qmm_slot(void *arg, size_t b, size_t e)
{
    const qmm_job *j = arg;
    const qmm_state *s = j->s;
    const cvm_tensor *a = j->c->in[0], *azp = j->ql ? j->c->in[2] : (j->c->n_in > 2 ? j->c->in[2] : NULL);
    cvm_tensor *y = j->c->out[0];
    int64_t nz = azp ? cvm_tensor_numel(azp) : 0;
    for (size_t slot = b; slot < e; slot++) {
        int16_t *ar = (int16_t *)(void *)(j->slots + slot * s->slot_bytes);
        int32_t *acc = (int32_t *)(void *)((char *)ar + (size_t)MM_MB * (size_t)s->Kp * sizeof(int16_t));
        for (int64_t t = (int64_t)slot; t < j->items; t += j->nslots) {
            int64_t bi = j->batch0 + t / j->mblocks, m0 = (t % j->mblocks) * MM_MB;
            int64_t mb = s->M - m0 < MM_MB ? s->M - m0 : MM_MB;
            int64_t aoff = a_offset(s, bi) + m0 * s->K;
            for (int64_t m = 0; m < mb; m++) {
                int32_t z = nz == 0 ? 0 : ld_q(azp->dtype, azp->data, nz == 1 ? 0 : m0 + m);
                int16_t *d = ar + m * s->Kp;
                if (a->dtype == CVM_DTYPE_UINT8) {
                    const uint8_t *src = (const uint8_t *)a->data + aoff + m * s->K;
                    for (int64_t k = 0; k < s->K; k++)
                        d[k] = (int16_t)(src[k] - z);
                } else {
                    const int8_t *src = (const int8_t *)a->data + aoff + m * s->K;
                    for (int64_t k = 0; k < s->K; k++)
                        d[k] = (int16_t)(src[k] - z);
                }
                for (int64_t k = s->K; k < s->Kp; k++)
                    d[k] = 0;
            }
            int64_t yoff = (bi * s->M + m0) * s->N;
            if (!j->ql) {
                cvm_q_gemm_nt(ar, s->Kp, j->bt, s->Kp, (int32_t *)y->data + yoff, s->N, mb, s->N, s->Kp);
                continue;
            }
            cvm_q_gemm_nt(ar, s->Kp, j->bt, s->Kp, acc, s->N, mb, s->N, s->Kp);
            for (int64_t m = 0; m < mb; m++) {
                float as = j->as[j->nas == 1 ? 0 : m0 + m];
                for (int64_t n = 0; n < s->N; n++) {
                    float mult = as * j->bs[j->nbs == 1 ? 0 : n] / j->ys;
                    int32_t q = sat_round((float)acc[m * s->N + n] * mult + j->yzp, j->lo, j->hi);
                    st_q(y->dtype, y->data, yoff + m * s->N + n, q);
                }
            }
        }
    }
}

static cvm_status qmm_run(const cvm_kernel_ctx *c)
{
    const qmm_state *s = c->state;
    int ql = is_qlinear(c);
    const cvm_tensor *a = c->in[0], *b = c->in[ql ? 3 : 1];
    const cvm_tensor *bzp = ql ? c->in[5] : (c->n_in > 3 ? c->in[3] : NULL);
    if (!s)
        return cvm_node_error(c->node, CVM_E_INTERNAL, "not prepared");
    if (a->dtype != CVM_DTYPE_UINT8 && a->dtype != CVM_DTYPE_INT8)
        return cvm_node_error(c->node, CVM_E_UNSUPPORTED, "input type %s", cvm_dtype_name(a->dtype));
    qmm_job j = {.s = s, .c = c, .ql = ql};
    if (ql) {
        j.as = c->in[1]->data;
        j.nas = cvm_tensor_numel(c->in[1]);
        j.bs = c->in[4]->data;
        j.nbs = cvm_tensor_numel(c->in[4]);
        j.ys = *(const float *)c->in[6]->data;
        j.yzp = (float)ld_q(c->in[7]->dtype, c->in[7]->data, 0);
        j.lo = (float)q_lo(c->out[0]->dtype);
        j.hi = (float)q_hi(c->out[0]->dtype);
    }
    char *scr = c->scratch;
    if (!s->bt)
        scr += s->bt_bytes;
    j.slots = scr;
    int avail = c->pool ? cvm_threadpool_size(c->pool) : 1;
    j.nslots = avail < s->slots ? avail : s->slots;
    if (j.nslots < 1)
        j.nslots = 1;
    j.mblocks = (s->M + MM_MB - 1) / MM_MB;
    if (s->batch == 0 || s->M == 0 || s->N == 0)
        return CVM_OK;
    if (!c->scratch)
        return cvm_node_error(c->node, CVM_E_INTERNAL, "no scratch");
    if (s->bt) {
        j.bt = s->bt;
        j.batch0 = 0;
        j.items = s->batch * j.mblocks;
        cvm_parallel_for(c->pool, (size_t)j.nslots, 1, qmm_slot, &j);
        return CVM_OK;
    }
    /* B varies per batch (or is not constant): pack it once per batch. */
    int16_t *bt = (int16_t *)c->scratch;
    for (int64_t bi = 0; bi < s->batch; bi++) {
        int64_t boff = 0, r = bi;
        for (int i = s->nb - 1; i >= 0; i--) {
            boff += (r % s->bdims[i]) * s->bstr[i];
            r /= s->bdims[i];
        }
        pack_bt(b, bzp, boff, s->K, s->N, s->Kp, bt);
        j.bt = bt;
        j.batch0 = bi;
        j.items = j.mblocks;
        cvm_parallel_for(c->pool, (size_t)j.nslots, 1, qmm_slot, &j);
    }
    return CVM_OK;
}

const cvm_kernel_def cvm_cpu_kernels_quant[] = {
    {"", "QuantizeLinear", NULL, NULL, quantize_run, 0},
    {"", "DequantizeLinear", NULL, NULL, dequantize_run, 0},
    {"", "DynamicQuantizeLinear", NULL, NULL, dynq_run, 0},
    {"", "ConvInteger", qconv_prepare, qconv_release, qconv_run, 0},
    {"", "MatMulInteger", qmm_prepare, qmm_release, qmm_run, 0},
    {"", "QLinearConv", qconv_prepare, qconv_release, qconv_run, 0},
    {"cvm", "ConvIntegerScaled", qconv_prepare, qconv_release, qconv_run, 0},
    {"", "QLinearMatMul", qmm_prepare, qmm_release, qmm_run, 0},
    {0},
};
