/*
 * Resize (opset 10-19) and Upsample on the CPU.
 *
 * Interpolation is separable: every axis gets a table of taps (input offset,
 * weight) per output index, and an output element is the weighted sum over
 * the cartesian product of its axes' taps.  The last axis is walked in the
 * inner loop; the taps of the other axes are combined once per output row.
 * Axes that map output i to input i get a single tap, so resizing H and W of
 * NCHW costs 2x2 (linear) or 4x4 (cubic) taps per element, and nearest is a
 * gather with whole rows copied when consecutive output rows share a source.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define RSZ_X86 1
#endif

#include "backends/cpu/reduce_kernels.h"
#include "graph/resize_params.h"

enum { M_NEAREST, M_LINEAR, M_CUBIC };
enum { T_HALF_PIXEL, T_HALF_PIXEL_SYM, T_PYTORCH, T_ALIGN, T_ASYM, T_TF_CROP, T_TF_HALF_NN };
enum { N_ROUND_FLOOR, N_ROUND_CEIL, N_FLOOR, N_CEIL, N_SIMPLE };

#define MAX_COMBOS 1024

#include "backends/cpu/cpu_features.h"

typedef struct rsz_cfg {
    int mode, ctm, nmode, antialias, exclude;
    float cubic_a, extrap;
} rsz_cfg;

static cvm_status parse_cfg(const cvm_kernel_ctx *c, rsz_cfg *g)
{
    const cvm_node *n = c->node;
    int upsample = strcmp(n->op_type, "Upsample") == 0;
    const char *mode = cvm_attr_string(n, "mode", "nearest");
    if (strcmp(mode, "nearest") == 0)
        g->mode = M_NEAREST;
    else if (strcmp(mode, "linear") == 0 || strcmp(mode, "bilinear") == 0 || strcmp(mode, "trilinear") == 0)
        g->mode = M_LINEAR;
    else if (strcmp(mode, "cubic") == 0 && !upsample)
        g->mode = M_CUBIC;
    else
        return cvm_node_error(n, CVM_E_UNSUPPORTED, "mode '%s' is not supported", mode);
    g->antialias = 0;
    g->exclude = 0;
    g->cubic_a = -0.75f;
    g->extrap = 0.0f;
    if (upsample || c->opset < 11) {
        g->ctm = T_ASYM;
        g->nmode = upsample ? N_FLOOR : N_SIMPLE;
        return CVM_OK;
    }
    const char *ctm = cvm_attr_string(n, "coordinate_transformation_mode", "half_pixel");
    static const char *const ctms[] = {"half_pixel", "half_pixel_symmetric", "pytorch_half_pixel",
                                       "align_corners", "asymmetric", "tf_crop_and_resize",
                                       "tf_half_pixel_for_nn"};
    g->ctm = -1;
    for (int i = 0; i < 7; i++)
        if (strcmp(ctm, ctms[i]) == 0)
            g->ctm = i;
    if (g->ctm < 0)
        return cvm_node_error(n, CVM_E_UNSUPPORTED, "coordinate_transformation_mode '%s' is not supported",
                              ctm);
    const char *nm = cvm_attr_string(n, "nearest_mode", "round_prefer_floor");
    static const char *const nms[] = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"};
    g->nmode = -1;
    for (int i = 0; i < 4; i++)
        if (strcmp(nm, nms[i]) == 0)
            g->nmode = i;
    if (g->nmode < 0)
        return cvm_node_error(n, CVM_E_UNSUPPORTED, "nearest_mode '%s' is not supported", nm);
    g->cubic_a = cvm_attr_float(n, "cubic_coeff_a", -0.75f);
    g->exclude = cvm_attr_int(n, "exclude_outside", 0) != 0;
    g->extrap = cvm_attr_float(n, "extrapolation_value", 0.0f);
    g->antialias = c->opset >= 18 && cvm_attr_int(n, "antialias", 0) != 0 && g->mode != M_NEAREST;
    return CVM_OK;
}

/* Upper bound of taps per output index along one axis, from shapes only so
 * that prepare() and run() agree on it. */
static int64_t taps_bound(const rsz_cfg *g, int64_t in, int64_t out)
{
    if (g->mode == M_NEAREST)
        return 1;
    double k = g->mode == M_LINEAR ? 1.0 : 2.0;
    if (!g->antialias || out >= in || in == 0)
        return (int64_t)(2 * k);
    double se = (out >= 2 ? (double)(out - 1) : 0.5) / (double)in;
    return 2 - 2 * ((int64_t)floor(-k / se) + 1);
}

static size_t table_bytes(const rsz_cfg *g, const cvm_tensor *x, const cvm_tensor *y)
{
    size_t total = 0;
    for (int d = 0; d < x->ndim; d++) {
        size_t n = (size_t)y->dims[d] * (size_t)taps_bound(g, x->dims[d], y->dims[d]);
        total += n * (sizeof(int64_t) + sizeof(float)) + (size_t)y->dims[d] + 32;
    }
    return total;
}

cvm_status cvm_cpu_resize_prepare(const cvm_kernel_ctx *c, void **state, size_t *scratch_bytes)
{
    (void)state;
    rsz_cfg g;
    CVM_TRY(parse_cfg(c, &g));
    const cvm_tensor *x = c->in[0];
    if (g.mode != M_NEAREST && x->dtype != CVM_DTYPE_FLOAT32)
        return cvm_node_error(c->node, CVM_E_UNSUPPORTED, "%s interpolation of %s is not supported",
                              g.mode == M_LINEAR ? "linear" : "cubic", cvm_dtype_name(x->dtype));
    size_t es = cvm_dtype_size(x->dtype);
    if (es != 1 && es != 2 && es != 4 && es != 8)
        return cvm_node_error(c->node, CVM_E_UNSUPPORTED, "input type %s is not supported",
                              cvm_dtype_name(x->dtype));
    *scratch_bytes = table_bytes(&g, x, c->out[0]);
    return CVM_OK;
}

typedef struct axis_tab {
    int64_t taps;      /* taps per output index */
    int64_t *off;      /* input offset (index * stride) per tap */
    float *w;
    uint8_t *ext;      /* 1: this output index takes the extrapolation value */
    int any_ext;
} axis_tab;

/* Source coordinate of output index o.  Like the spec's reference, the
 * "resized length" of align_corners, tf_crop_and_resize and
 * pytorch_half_pixel is scale * input length, which differs from the integer
 * output length when scales (not sizes) are given. */
static double src_coord(const rsz_cfg *g, int64_t o, int64_t lin, int64_t lout, double s, double r0,
                        double r1)
{
    double x = (double)o, lf = s * (double)lin;
    switch (g->ctm) {
    case T_HALF_PIXEL: return (x + 0.5) / s - 0.5;
    case T_HALF_PIXEL_SYM: {
        double adj = (double)lout / lf;
        double center = (double)lin / 2.0;
        return center * (1.0 - adj) + (x + 0.5) / s - 0.5;
    }
    case T_PYTORCH: return lf != 1.0 ? (x + 0.5) / s - 0.5 : 0.0;
    case T_ALIGN: return lf != 1.0 ? x * (double)(lin - 1) / (lf - 1.0) : 0.0;
    case T_TF_CROP:
        if (lf != 1.0)
            return r0 * (double)(lin - 1) + x * (r1 - r0) * (double)(lin - 1) / (lf - 1.0);
        return 0.5 * (r0 + r1) * (double)(lin - 1);
    case T_TF_HALF_NN: return (x + 0.5) / s;
    default: return x / s;
    }
}

static double cubic_w(double t, double a)
{
    t = fabs(t);
    if (t <= 1.0)
        return ((a + 2.0) * t - (a + 3.0)) * t * t + 1.0;
    if (t < 2.0)
        return ((a * t - 5.0 * a) * t + 8.0 * a) * t - 4.0 * a;
    return 0.0;
}

/* Builds the taps of one axis into the memory at *mem (advanced past it). */
static void build_axis(const rsz_cfg *g, int64_t lin, int64_t lout, int64_t stride, double s,
                       int active, double r0, double r1, int64_t bound, char **mem, axis_tab *t)
{
    t->off = (int64_t *)(void *)*mem;
    t->w = (float *)(void *)(*mem + (size_t)(lout * bound) * sizeof(int64_t));
    t->ext = (uint8_t *)(*mem + (size_t)(lout * bound) * (sizeof(int64_t) + sizeof(float)));
    *mem += (size_t)(lout * bound) * (sizeof(int64_t) + sizeof(float)) + (size_t)lout + 16;
    *mem = (char *)(((uintptr_t)*mem + 15) & ~(uintptr_t)15);
    t->any_ext = 0;
    /* Axes left alone map i to i whatever the mode. */
    if (!active || (lin == lout && s == 1.0 && g->ctm != T_TF_CROP)) {
        t->taps = 1;
        for (int64_t o = 0; o < lout; o++) {
            t->off[o] = o * stride;
            t->w[o] = 1.0f;
            t->ext[o] = 0;
        }
        return;
    }
    int64_t start = 0, F = 1;
    double se = 1.0, k = g->mode == M_LINEAR ? 1.0 : 2.0;
    if (g->mode != M_NEAREST) {
        if (g->antialias && s < 1.0)
            se = s;
        start = (int64_t)floor(-k / se) + 1;
        F = 2 - 2 * start;
        if (F > bound) /* cannot happen: taps_bound is an upper bound */
            F = bound;
    }
    t->taps = F;
    int single = 1;
    for (int64_t o = 0; o < lout; o++) {
        double x = src_coord(g, o, lin, lout, s, r0, r1);
        int64_t *off = t->off + o * F;
        float *w = t->w + o * F;
        t->ext[o] = 0;
        if (g->ctm == T_TF_CROP && (x < 0.0 || x > (double)(lin - 1))) {
            t->ext[o] = 1;
            t->any_ext = 1;
            for (int64_t i = 0; i < F; i++) {
                off[i] = 0;
                w[i] = 0.0f;
            }
            continue;
        }
        if (g->mode == M_NEAREST) {
            double f = floor(x), i;
            switch (g->nmode) {
            case N_ROUND_FLOOR: i = x - f == 0.5 ? f : floor(x + 0.5); break;
            case N_ROUND_CEIL: i = floor(x + 0.5); break;
            case N_FLOOR: i = f; break;
            case N_CEIL: i = ceil(x); break;
            default: i = s < 1.0 ? ceil(x) : f; break;
            }
            if (!(i >= 0.0))
                i = 0.0;
            if (i > (double)(lin - 1))
                i = (double)(lin - 1);
            off[0] = (int64_t)i * stride;
            w[0] = 1.0f;
            continue;
        }
        double f = floor(x), r = x - f;
        double sum = 0.0;
        int64_t base = (int64_t)f + start;
        for (int pass = 0; pass < 2; pass++) {
            for (int64_t i = 0; i < F; i++) {
                double a = ((double)(start + i) - r) * se;
                double wi = g->mode == M_LINEAR ? fmax(0.0, 1.0 - fabs(a)) : cubic_w(a, g->cubic_a);
                int64_t idx = base + i;
                if (g->exclude && (idx < 0 || idx >= lin))
                    wi = 0.0;
                if (pass == 0) {
                    sum += wi;
                    continue;
                }
                /* antialiased and exclude_outside weights are renormalised */
                if ((g->antialias || g->exclude) && sum != 0.0)
                    wi /= sum;
                off[i] = (idx < 0 ? 0 : idx >= lin ? lin - 1 : idx) * stride;
                w[i] = (float)wi;
            }
        }
        int nz = 0;
        for (int64_t i = 0; i < F; i++)
            nz += w[i] != 0.0f;
        if (nz > 1)
            single = 0;
    }
    /* An axis where every output reads one input with weight 1 (integer
     * upsampling with align_corners, say) needs one tap only. */
    if (single && F > 1) {
        for (int64_t o = 0; o < lout; o++) {
            int64_t best = 0;
            for (int64_t i = 0; i < F; i++)
                if (t->w[o * F + i] != 0.0f)
                    best = i;
            float wv = t->w[o * F + best];
            if (wv != 1.0f && !t->ext[o])
                return;
        }
        for (int64_t o = 0; o < lout; o++) {
            int64_t best = 0;
            for (int64_t i = 0; i < F; i++)
                if (t->w[o * F + i] != 0.0f)
                    best = i;
            t->off[o] = t->off[o * F + best];
            t->w[o] = t->ext[o] ? 0.0f : 1.0f;
        }
        t->taps = 1;
    }
}

typedef struct rjob {
    const rsz_cfg *g;
    const void *x;
    void *y;
    size_t es;
    int rank;
    int64_t odims[CVM_MAX_DIMS];
    axis_tab tab[CVM_MAX_DIMS];
    int64_t W;     /* output length of the last axis */
} rjob;

/* Non-float outputs only ever get a zero extrapolation value (see run). */
static void put_ext(char *row, int64_t i, size_t es, float v)
{
    if (v == 0.0f)
        memset(row + (size_t)i * es, 0, es);
    else
        memcpy(row + (size_t)i * es, &v, sizeof v);
}

static void resize_rows(void *arg, size_t b, size_t e)
{
    const rjob *j = arg;
    const int r = j->rank;
    const axis_tab *lt = &j->tab[r - 1];
    const int64_t W = j->W, LF = lt->taps;
    int64_t idx[CVM_MAX_DIMS] = {0};
    int64_t rem = (int64_t)b;
    for (int d = r - 2; d >= 0; d--) {
        idx[d] = rem % j->odims[d];
        rem /= j->odims[d];
    }
    int64_t coff[MAX_COMBOS];
    float cw[MAX_COMBOS];
    int64_t prev_off = -1;
    for (size_t row = b; row < e; row++) {
        /* Combine the taps of the outer axes. */
        int64_t nc = 1;
        coff[0] = 0;
        cw[0] = 1.0f;
        int ext = 0;
        for (int d = 0; d < r - 1; d++) {
            const axis_tab *t = &j->tab[d];
            if (t->ext[idx[d]])
                ext = 1;
            const int64_t *o = t->off + idx[d] * t->taps;
            const float *w = t->w + idx[d] * t->taps;
            if (t->taps == 1) {
                for (int64_t k = 0; k < nc; k++) {
                    coff[k] += o[0];
                    cw[k] *= w[0];
                }
                continue;
            }
            int64_t nn = 0;
            for (int64_t k = nc - 1; k >= 0; k--)
                for (int64_t q = t->taps - 1; q >= 0; q--) {
                    int64_t dst = k * t->taps + q;
                    coff[dst] = coff[k] + o[q];
                    cw[dst] = cw[k] * w[q];
                    nn++;
                }
            nc = nn;
            /* drop zero-weight combinations */
            int64_t m = 0;
            for (int64_t k = 0; k < nc; k++)
                if (cw[k] != 0.0f) {
                    coff[m] = coff[k];
                    cw[m++] = cw[k];
                }
            nc = m;
        }
        char *yrow = (char *)j->y + (size_t)row * (size_t)W * j->es;
        if (ext) {
            for (int64_t xo = 0; xo < W; xo++)
                put_ext(yrow, xo, j->es, j->g->extrap);
            prev_off = -1;
        } else if (j->g->mode == M_NEAREST && nc == 1) {
            if (coff[0] == prev_off && !lt->any_ext) {
                memcpy(yrow, yrow - (size_t)W * j->es, (size_t)W * j->es);
            } else {
                const char *src = (const char *)j->x + (size_t)coff[0] * j->es;
                const int64_t *lo = lt->off;
                switch (j->es) {
                case 1:
                    for (int64_t xo = 0; xo < W; xo++)
                        ((uint8_t *)yrow)[xo] = ((const uint8_t *)src)[lo[xo]];
                    break;
                case 2:
                    for (int64_t xo = 0; xo < W; xo++)
                        ((uint16_t *)(void *)yrow)[xo] = ((const uint16_t *)(const void *)src)[lo[xo]];
                    break;
                case 4:
                    for (int64_t xo = 0; xo < W; xo++)
                        ((uint32_t *)(void *)yrow)[xo] = ((const uint32_t *)(const void *)src)[lo[xo]];
                    break;
                default:
                    for (int64_t xo = 0; xo < W; xo++)
                        ((uint64_t *)(void *)yrow)[xo] = ((const uint64_t *)(const void *)src)[lo[xo]];
                    break;
                }
                if (lt->any_ext)
                    for (int64_t xo = 0; xo < W; xo++)
                        if (lt->ext[xo])
                            put_ext(yrow, xo, j->es, j->g->extrap);
                prev_off = coff[0];
            }
        } else {
            const float *x = j->x;
            float *y = (float *)(void *)yrow;
            if (nc == 2 && LF == 2) {
                const float *x0 = x + coff[0], *x1 = x + coff[1];
                const float w0 = cw[0], w1 = cw[1];
                for (int64_t xo = 0; xo < W; xo++) {
                    const int64_t *o = lt->off + xo * 2;
                    const float *w = lt->w + xo * 2;
                    y[xo] = w0 * (w[0] * x0[o[0]] + w[1] * x0[o[1]]) +
                            w1 * (w[0] * x1[o[0]] + w[1] * x1[o[1]]);
                }
            } else {
                for (int64_t xo = 0; xo < W; xo++) {
                    const int64_t *o = lt->off + xo * LF;
                    const float *w = lt->w + xo * LF;
                    float acc = 0.0f;
                    for (int64_t k = 0; k < nc; k++) {
                        const float *xr = x + coff[k];
                        float s = 0.0f;
                        for (int64_t q = 0; q < LF; q++)
                            s += w[q] * xr[o[q]];
                        acc += cw[k] * s;
                    }
                    y[xo] = acc;
                }
            }
            if (lt->any_ext)
                for (int64_t xo = 0; xo < W; xo++)
                    if (lt->ext[xo])
                        y[xo] = j->g->extrap;
            prev_off = -1;
        }
        for (int d = r - 2; d >= 0; d--) {
            if (++idx[d] < j->odims[d])
                break;
            idx[d] = 0;
        }
    }
}

/*
 * Nearest upsampling by whole factors: when the taps say output (h, w) reads
 * exactly input (h / FH, w / FW) and the outer axes are left alone, every
 * output row is an input row with each element repeated FW times, written
 * once and copied FH - 1 times below.  Checked on the built tables, so any
 * coordinate mode and rounding that lands there qualifies (asymmetric +
 * floor, half_pixel + round_prefer_ceil, ...) and nothing else does.
 */
#define REP_MAX 16

typedef struct rep_job {
    const char *x;
    char *y;
    size_t es;
    int64_t W, FW, FH; /* input row length, factors along W and H */
    int vec;
    int32_t ix[REP_MAX][16]; /* permute pattern of output block k % FW */
    int32_t boff[REP_MAX];
} rep_job;

/* Whole factor f with out = in * f and off[o] == (o / f) * stride, or 0. */
static int64_t rep_factor(const axis_tab *t, int64_t lin, int64_t lout, int64_t stride)
{
    if (t->taps != 1 || t->any_ext || lin < 1 || lout % lin != 0)
        return 0;
    int64_t f = lout / lin;
    if (f > REP_MAX)
        return 0;
    for (int64_t o = 0; o < lout; o++)
        if (t->off[o] != (o / f) * stride)
            return 0;
    return f;
}

#ifdef RSZ_X86
/* 16 outputs at a time, stored into all fh output rows (short rows would
 * spend more on memcpy calls than on the copy): output block k reads inputs
 * from 16k / f on, picked by a permute whose pattern repeats every f blocks
 * (ix[k % f], starting boff[k % f] after the period's first input). */
__attribute__((target("avx512f"))) static void rep_row_512(uint32_t *dst, const uint32_t *src,
                                                          int64_t W, int64_t f, int64_t fh,
                                                          const int32_t (*ix)[16],
                                                          const int32_t *boff)
{
    const int64_t OW = W * f;
    int64_t base0 = 0, k = 0;
    for (int64_t o0 = 0; o0 < OW; o0 += 16) {
        int64_t n_out = OW - o0 < 16 ? OW - o0 : 16, base = base0 + boff[k], left = W - base;
        __mmask16 mi = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1u);
        __mmask16 mo = (__mmask16)((1u << n_out) - 1u);
        __m512i v = _mm512_maskz_loadu_epi32(mi, src + base);
        __m512i p = _mm512_permutexvar_epi32(_mm512_loadu_si512(ix[k]), v);
        for (int64_t q = 0; q < fh; q++)
            _mm512_mask_storeu_epi32(dst + q * OW + o0, mo, p);
        if (++k == f) {
            k = 0;
            base0 += 16;
        }
    }
}
#endif

static void rep_row_c(char *dst, const char *src, size_t es, int64_t W, int64_t f)
{
    switch (es) {
#define REP_CASE(N, T)                                                 \
    case N: {                                                          \
        T *d = (T *)(void *)dst;                                       \
        const T *sp = (const T *)(const void *)src;                    \
        for (int64_t i = 0; i < W; i++)                                \
            for (int64_t q = 0; q < f; q++)                            \
                d[i * f + q] = sp[i];                                  \
        break;                                                         \
    }
        REP_CASE(1, uint8_t)
        REP_CASE(2, uint16_t)
        REP_CASE(4, uint32_t)
        REP_CASE(8, uint64_t)
#undef REP_CASE
    default:
        for (int64_t i = 0; i < W; i++)
            for (int64_t q = 0; q < f; q++)
                memcpy(dst + (size_t)(i * f + q) * es, src + (size_t)i * es, es);
    }
}

/* Units are input rows (over all planes). */
static void rep_rows(void *arg, size_t b, size_t e)
{
    const rep_job *j = arg;
    size_t orow = (size_t)(j->W * j->FW) * j->es;
    for (size_t u = b; u < e; u++) {
        const char *src = j->x + u * (size_t)j->W * j->es;
        char *dst = j->y + u * (size_t)j->FH * orow;
#ifdef RSZ_X86
        if (j->vec) {
            rep_row_512((uint32_t *)(void *)dst, (const uint32_t *)(const void *)src, j->W, j->FW,
                        j->FH, (const int32_t(*)[16])j->ix, j->boff);
            continue;
        }
#endif
        rep_row_c(dst, src, j->es, j->W, j->FW);
        for (int64_t q = 1; q < j->FH; q++)
            memcpy(dst + (size_t)q * orow, dst, orow);
    }
}

/* Runs the whole-factor replication when the tables allow it; 0 if not. */
static int try_replicate(const cvm_kernel_ctx *c, const rjob *j, const cvm_tensor *x)
{
    int r = x->ndim;
    if (r < 2 || j->g->mode != M_NEAREST)
        return 0;
    int64_t fw = rep_factor(&j->tab[r - 1], x->dims[r - 1], j->odims[r - 1], 1);
    int64_t fh = rep_factor(&j->tab[r - 2], x->dims[r - 2], j->odims[r - 2], x->dims[r - 1]);
    if (!fw || !fh)
        return 0;
    int64_t stride = x->dims[r - 1] * x->dims[r - 2];
    for (int d = r - 3; d >= 0; d--) {
        if (rep_factor(&j->tab[d], x->dims[d], j->odims[d], stride) != 1)
            return 0;
        stride *= x->dims[d];
    }
    rep_job rj = {.x = x->data, .y = j->y, .es = j->es, .W = x->dims[r - 1], .FW = fw, .FH = fh, .vec = 0};
    for (int64_t k = 0; k < fw; k++) {
        rj.boff[k] = (int32_t)((16 * k) / fw);
        for (int t = 0; t < 16; t++)
            rj.ix[k][t] = (int32_t)((16 * k + t) / fw - (16 * k) / fw);
    }
#ifdef RSZ_X86
    rj.vec = j->es == 4 && cvm_cpu_avx512_allowed();
#endif
    int64_t rows = cvm_tensor_numel(x) / rj.W;
    size_t out_row_bytes = (size_t)(rj.W * fw * fh) * j->es;
    size_t grain = out_row_bytes >= 65536 ? 1 : 65536 / out_row_bytes;
    cvm_parallel_for(c->pool, (size_t)rows, grain, rep_rows, &rj);
    return 1;
}

cvm_status cvm_cpu_resize_run(const cvm_kernel_ctx *c)
{
    rsz_cfg g;
    CVM_TRY(parse_cfg(c, &g));
    const cvm_tensor *x = c->in[0];
    cvm_tensor *y = c->out[0];
    size_t es = cvm_dtype_size(x->dtype);
    if ((g.mode != M_NEAREST && x->dtype != CVM_DTYPE_FLOAT32) || (es != 1 && es != 2 && es != 4 && es != 8))
        return cvm_node_error(c->node, CVM_E_UNSUPPORTED, "input type %s is not supported here",
                              cvm_dtype_name(x->dtype));
    if (g.extrap != 0.0f && x->dtype != CVM_DTYPE_FLOAT32 && g.ctm == T_TF_CROP)
        return cvm_node_error(c->node, CVM_E_UNSUPPORTED, "extrapolation into %s is not supported",
                              cvm_dtype_name(x->dtype));
    cvm_resize_params p;
    cvm_status st = cvm_resize_params_get(c->node, c->opset, x, c->n_in, c->in, &p);
    if (st == CVM_E_DYNAMIC)
        return cvm_node_error(c->node, CVM_E_INVALID_ARG, "scales or sizes have no data");
    CVM_TRY(st);
    if (y->ndim != x->ndim)
        return cvm_node_error(c->node, CVM_E_INTERNAL, "output rank does not match");
    for (int d = 0; d < x->ndim; d++)
        if (p.out[d] != y->dims[d])
            return cvm_node_error(c->node, CVM_E_INTERNAL, "output shape does not match the scales");
    if (cvm_tensor_numel(y) == 0)
        return CVM_OK;
    if (!c->scratch || x->ndim < 1)
        return cvm_node_error(c->node, CVM_E_INTERNAL, "no scratch for the resize tables");
    /* roi: [starts..., ends...] over the resized axes (all axes without `axes`). */
    double r0[CVM_MAX_DIMS], r1[CVM_MAX_DIMS];
    const cvm_tensor *roi = c->n_in > 1 && c->opset >= 11 && strcmp(c->node->op_type, "Resize") == 0
                                ? c->in[1] : NULL;
    for (int d = 0; d < x->ndim; d++) {
        r0[d] = 0.0;
        r1[d] = 1.0;
    }
    if (g.ctm == T_TF_CROP) {
        int64_t n = roi ? cvm_tensor_numel(roi) : 0;
        if (!roi || !roi->data || n != 2 * (int64_t)p.n_axes)
            return cvm_node_error(c->node, CVM_E_SHAPE, "tf_crop_and_resize needs roi with %d values",
                                  2 * p.n_axes);
        for (int d = 0; d < x->ndim; d++)
            if (p.active[d]) {
                r0[d] = cvm_tensor_get_f64(roi, p.slot[d]);
                r1[d] = cvm_tensor_get_f64(roi, p.slot[d] + p.n_axes);
            }
    }
    rjob j = {.g = &g, .x = x->data, .y = y->data, .es = es, .rank = x->ndim, .W = y->dims[x->ndim - 1]};
    char *mem = c->scratch;
    int64_t stride = 1;
    int64_t combos = 1;
    for (int d = x->ndim - 1; d >= 0; d--) {
        j.odims[d] = y->dims[d];
        build_axis(&g, x->dims[d], y->dims[d], stride, p.scale[d], p.active[d], r0[d], r1[d],
                   taps_bound(&g, x->dims[d], y->dims[d]), &mem, &j.tab[d]);
        if (d < x->ndim - 1)
            combos *= j.tab[d].taps;
        stride *= x->dims[d];
    }
    if (combos > MAX_COMBOS)
        return cvm_node_error(c->node, CVM_E_UNSUPPORTED, "%lld interpolation taps per row are too many",
                              (long long)combos);
    if (try_replicate(c, &j, x))
        return CVM_OK;
    int64_t rows = cvm_tensor_numel(y) / j.W;
    int64_t per_row = j.W * j.tab[x->ndim - 1].taps * combos;
    size_t grain = per_row >= 8192 ? 1 : (size_t)(8192 / (per_row ? per_row : 1));
    cvm_parallel_for(c->pool, (size_t)rows, grain, resize_rows, &j);
    return CVM_OK;
}
