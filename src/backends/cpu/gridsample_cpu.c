/*
 * GridSample (opset 16 and 20) for 4-D inputs on the CPU.
 *
 * The sampling taps of an output pixel (input offsets and weights, with
 * padding already resolved) depend only on the grid, so they are computed once
 * per pixel block and then applied to every channel.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>


#include "backends/cpu/reduce_kernels.h"

enum { G_NEAREST, G_LINEAR, G_CUBIC };
enum { P_ZEROS, P_BORDER, P_REFLECT };

#define PIX_BLOCK 64
#define MAX_TAPS 16

typedef struct gjob {
    const float *x, *grid;
    float *y;
    int64_t N, C, H, W, Ho, Wo;
    int mode, pad, align;
    int64_t blocks; /* pixel blocks per image */
    int avx512;     /* the CPU runs the 16-lane bilinear channel loop */
} gjob;

static double reflect(double v, double lo, double hi)
{
    double range = hi - lo;
    if (!(range > 0.0))
        return lo;
    if (v < lo) {
        double dx = lo - v;
        double n = floor(dx / range), r = dx - n * range;
        return fmod(n, 2.0) == 0.0 ? lo + r : hi - r;
    }
    if (v > hi) {
        double dx = v - hi;
        double n = floor(dx / range), r = dx - n * range;
        return fmod(n, 2.0) == 0.0 ? hi - r : lo + r;
    }
    return v;
}

/* Resolves input index i along an axis of length d; -1 means "reads zero". */
static int64_t map_index(const gjob *j, int64_t i, int64_t d)
{
    if (i >= 0 && i < d)
        return i;
    switch (j->pad) {
    case P_BORDER: return i < 0 ? 0 : d - 1;
    case P_REFLECT: {
        double lo = j->align ? 0.0 : -0.5, hi = j->align ? (double)d - 1.0 : (double)d - 0.5;
        int64_t r = (int64_t)reflect((double)i, lo, hi);
        return r < 0 ? 0 : r >= d ? d - 1 : r;
    }
    default: return -1;
    }
}

static void cubic_coeffs(double t, double w[4])
{
    const double a = -0.75;
    double t1 = t + 1.0, u = 1.0 - t, u1 = 2.0 - t;
    w[0] = ((a * t1 - 5.0 * a) * t1 + 8.0 * a) * t1 - 4.0 * a;
    w[1] = ((a + 2.0) * t - (a + 3.0)) * t * t + 1.0;
    w[2] = ((a + 2.0) * u - (a + 3.0)) * u * u + 1.0;
    w[3] = ((a * u1 - 5.0 * a) * u1 + 8.0 * a) * u1 - 4.0 * a;
}

/* Source coordinate of normalised g along an axis of length d, after the
 * nearest rounding and the padding rule that moves far coordinates inside. */
static double source_coord(const gjob *j, float g, int64_t d)
{
    double v = j->align ? ((double)g + 1.0) / 2.0 * (double)(d - 1) : (((double)g + 1.0) * (double)d - 1.0) / 2.0;
    v = (float)v;
    if (v != v)
        v = -2.0; /* NaN reads padding */
    if (v < -1e9)
        v = -1e9;
    if (v > 1e9)
        v = 1e9;
    if (j->mode == G_NEAREST)
        v = nearbyint(v);
    double lo = j->align ? 0.0 : -0.5, hi = j->align ? (double)d - 1.0 : (double)d - 0.5;
    if (v < lo || v > hi) {
        /* Bicubic with border padding clamps each tap, not the coordinate
         * (PyTorch and onnxruntime do so; the taps are clamped in map_index). */
        if (j->pad == P_BORDER && j->mode != G_CUBIC)
            v = v < 0.0 ? 0.0 : v > (double)(d - 1) ? (double)(d - 1) : v;
        else if (j->pad == P_REFLECT)
            v = (float)reflect(v, lo, hi);
    }
    return v;
}

/* Taps along one axis: indices (-1 = zero) and weights; returns the count. */
static int axis_taps(const gjob *j, double v, int64_t d, int64_t *idx, double *w)
{
    if (j->mode == G_NEAREST) {
        idx[0] = map_index(j, (int64_t)v, d);
        w[0] = 1.0;
        return 1;
    }
    double f = floor(v), t = v - f;
    int64_t i0 = (int64_t)f;
    if (j->mode == G_LINEAR) {
        idx[0] = map_index(j, i0, d);
        idx[1] = map_index(j, i0 + 1, d);
        w[0] = 1.0 - t;
        w[1] = t;
        return 2;
    }
    cubic_coeffs(t, w);
    for (int k = 0; k < 4; k++)
        idx[k] = map_index(j, i0 - 1 + k, d);
    return 4;
}

static void gs_range(void *arg, size_t b, size_t e)
{
    const gjob *j = arg;
    const int64_t P = j->Ho * j->Wo, plane = j->H * j->W;
    int64_t toff[PIX_BLOCK][MAX_TAPS];
    float tw[PIX_BLOCK][MAX_TAPS];
    int nt[PIX_BLOCK];
    for (size_t item = b; item < e; item++) {
        int64_t n = (int64_t)item / j->blocks, blk = (int64_t)item % j->blocks;
        int64_t p0 = blk * PIX_BLOCK, np = P - p0 < PIX_BLOCK ? P - p0 : PIX_BLOCK;
        const float *g = j->grid + (n * P + p0) * 2;
        for (int64_t p = 0; p < np; p++) {
            double vx = source_coord(j, g[2 * p], j->W), vy = source_coord(j, g[2 * p + 1], j->H);
            int64_t ix[4], iy[4];
            double wx[4], wy[4];
            int nx = axis_taps(j, vx, j->W, ix, wx), ny = axis_taps(j, vy, j->H, iy, wy);
            int k = 0;
            for (int a = 0; a < ny; a++)
                for (int c = 0; c < nx; c++) {
                    if (iy[a] < 0 || ix[c] < 0)
                        continue;
                    toff[p][k] = iy[a] * j->W + ix[c];
                    tw[p][k++] = (float)(wy[a] * wx[c]);
                }
            nt[p] = k;
        }
        for (int64_t c = 0; c < j->C; c++) {
            const float *xp = j->x + (n * j->C + c) * plane;
            float *yp = j->y + (n * j->C + c) * P + p0;
            for (int64_t p = 0; p < np; p++) {
                float s = 0.0f;
                for (int k = 0; k < nt[p]; k++)
                    s += tw[p][k] * xp[toff[p][k]];
                yp[p] = s;
            }
        }
    }
}

/* Bilinear sampling (deformable attention's case: few channels, so the
 * per-pixel work and the per-channel loop both matter).  Every pixel gets
 * exactly four tap slots in the generic order (row tap outer, column tap
 * inner); a tap that reads padding keeps offset -1 and adds nothing, so the
 * sums equal the generic path's while the channel loop has no data-dependent
 * trip count and vectorises. */
/* source_coord for bilinear sampling with zero padding, where no coordinate
 * is moved: the same arithmetic, inlined (it ran as a call per axis). */
static inline double zeros_coord(int align, float g, int64_t d)
{
    double v = align ? ((double)g + 1.0) / 2.0 * (double)(d - 1) : (((double)g + 1.0) * (double)d - 1.0) / 2.0;
    v = (float)v;
    if (v != v)
        v = -2.0;
    v = v < -1e9 ? -1e9 : v;
    return v > 1e9 ? 1e9 : v;
}

static inline void linear_taps(const gjob *j, const float *g, int32_t off[4], float w[4])
{
    double vx, vy;
    if (j->pad == P_ZEROS) {
        vx = zeros_coord(j->align, g[0], j->W);
        vy = zeros_coord(j->align, g[1], j->H);
    } else {
        vx = source_coord(j, g[0], j->W);
        vy = source_coord(j, g[1], j->H);
    }
    double fx = floor(vx), fy = floor(vy), tx = vx - fx, ty = vy - fy;
    int64_t x0 = (int64_t)fx, y0 = (int64_t)fy;
    int64_t ix[2], iy[2];
    if (j->pad == P_ZEROS) {
        ix[0] = x0 >= 0 && x0 < j->W ? x0 : -1;
        ix[1] = x0 + 1 >= 0 && x0 + 1 < j->W ? x0 + 1 : -1;
        iy[0] = y0 >= 0 && y0 < j->H ? y0 : -1;
        iy[1] = y0 + 1 >= 0 && y0 + 1 < j->H ? y0 + 1 : -1;
    } else {
        ix[0] = map_index(j, x0, j->W);
        ix[1] = map_index(j, x0 + 1, j->W);
        iy[0] = map_index(j, y0, j->H);
        iy[1] = map_index(j, y0 + 1, j->H);
    }
    const double wx[2] = {1.0 - tx, tx}, wy[2] = {1.0 - ty, ty};
    for (int a = 0; a < 2; a++)
        for (int c = 0; c < 2; c++) {
            int ok = iy[a] >= 0 && ix[c] >= 0;
            off[a * 2 + c] = ok ? (int32_t)(iy[a] * j->W + ix[c]) : -1;
            w[a * 2 + c] = (float)(wy[a] * wx[c]);
        }
}

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define GS_X86 1

/* The channel loop of gs_linear_range, 16 pixels at a time: masked gathers
 * (a padding tap loads nothing and adds 0, exactly as in the scalar loop). */
__attribute__((target("avx512f"))) static void gs_linear_channels512(
    const float *xp, float *yp, int np, int32_t toff[4][PIX_BLOCK], float tw[4][PIX_BLOCK])
{
    const __m512i zero_i = _mm512_setzero_si512();
    for (int p = 0; p < np; p += 16) {
        __mmask16 live = np - p >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (np - p)) - 1u);
        __m512 s = _mm512_setzero_ps();
        for (int k = 0; k < 4; k++) {
            __m512i o = _mm512_maskz_loadu_epi32(live, toff[k] + p);
            __mmask16 m = _mm512_mask_cmpge_epi32_mask(live, o, zero_i);
            __m512 v = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, o, xp, 4);
            s = _mm512_add_ps(s, _mm512_maskz_mul_ps(m, _mm512_maskz_loadu_ps(live, tw[k] + p), v));
        }
        _mm512_mask_storeu_ps(yp + p, live, s);
    }
}
#endif

static void gs_linear_channels(const float *xp, float *yp, int np, int32_t toff[4][PIX_BLOCK],
                               float tw[4][PIX_BLOCK])
{
    for (int p = 0; p < np; p++) {
        float s = 0.0f;
        for (int k = 0; k < 4; k++) {
            int32_t o = toff[k][p];
            float v = xp[o >= 0 ? o : 0];
            s += o >= 0 ? tw[k][p] * v : 0.0f;
        }
        yp[p] = s;
    }
}

static void gs_linear_range(void *arg, size_t b, size_t e)
{
    const gjob *j = arg;
    const int64_t P = j->Ho * j->Wo, plane = j->H * j->W;
    int32_t toff[4][PIX_BLOCK];
    float tw[4][PIX_BLOCK];
    for (size_t item = b; item < e; item++) {
        int64_t n = (int64_t)item / j->blocks, blk = (int64_t)item % j->blocks;
        int64_t p0 = blk * PIX_BLOCK;
        int np = (int)(P - p0 < PIX_BLOCK ? P - p0 : PIX_BLOCK);
        const float *g = j->grid + (n * P + p0) * 2;
        for (int p = 0; p < np; p++) {
            int32_t o[4];
            float w[4];
            linear_taps(j, g + 2 * p, o, w);
            for (int k = 0; k < 4; k++) {
                toff[k][p] = o[k];
                tw[k][p] = w[k];
            }
        }
        for (int64_t c = 0; c < j->C; c++) {
            const float *xp = j->x + (n * j->C + c) * plane;
            float *yp = j->y + (n * j->C + c) * P + p0;
#ifdef GS_X86
            if (j->avx512) {
                gs_linear_channels512(xp, yp, np, toff, tw);
                continue;
            }
#endif
            gs_linear_channels(xp, yp, np, toff, tw);
        }
    }
}

cvm_status cvm_cpu_gridsample_run(const cvm_kernel_ctx *c)
{
    const cvm_tensor *x = c->in[0], *grid = c->in[1];
    if (x->ndim != 4)
        return cvm_node_error(c->node, CVM_E_UNSUPPORTED, "only 4-D input is supported, got rank %d",
                              x->ndim);
    if (x->dtype != CVM_DTYPE_FLOAT32 || grid->dtype != CVM_DTYPE_FLOAT32)
        return cvm_node_error(c->node, CVM_E_UNSUPPORTED, "types %s and %s are not supported",
                              cvm_dtype_name(x->dtype), cvm_dtype_name(grid->dtype));
    gjob j = {.x = x->data, .grid = grid->data, .y = c->out[0]->data, .N = x->dims[0], .C = x->dims[1],
              .H = x->dims[2], .W = x->dims[3], .Ho = grid->dims[1], .Wo = grid->dims[2]};
    const char *mode = cvm_attr_string(c->node, "mode", c->opset >= 20 ? "linear" : "bilinear");
    if (strcmp(mode, "bilinear") == 0 || strcmp(mode, "linear") == 0)
        j.mode = G_LINEAR;
    else if (strcmp(mode, "nearest") == 0)
        j.mode = G_NEAREST;
    else if (strcmp(mode, "bicubic") == 0 || strcmp(mode, "cubic") == 0)
        j.mode = G_CUBIC;
    else
        return cvm_node_error(c->node, CVM_E_UNSUPPORTED, "mode '%s' is not supported", mode);
    const char *pad = cvm_attr_string(c->node, "padding_mode", "zeros");
    if (strcmp(pad, "zeros") == 0)
        j.pad = P_ZEROS;
    else if (strcmp(pad, "border") == 0)
        j.pad = P_BORDER;
    else if (strcmp(pad, "reflection") == 0)
        j.pad = P_REFLECT;
    else
        return cvm_node_error(c->node, CVM_E_UNSUPPORTED, "padding_mode '%s' is not supported", pad);
    j.align = cvm_attr_int(c->node, "align_corners", 0) != 0;
    int64_t P = j.Ho * j.Wo;
    if (j.N == 0 || j.C == 0 || P == 0)
        return CVM_OK;
    if (j.H == 0 || j.W == 0) {
        memset(c->out[0]->data, 0, c->out[0]->nbytes);
        return CVM_OK;
    }
    j.blocks = (P + PIX_BLOCK - 1) / PIX_BLOCK;
    int64_t work = PIX_BLOCK * j.C * (j.mode == G_CUBIC ? 16 : 4);
    /* 32-bit tap offsets for the bilinear path (planes of < 2^31 elements) */
    int fast = j.mode == G_LINEAR && j.H * j.W < INT32_MAX;
#ifdef GS_X86
    j.avx512 = __builtin_cpu_supports("avx512f");
#endif
    cvm_parallel_for(c->pool, (size_t)(j.N * j.blocks), work >= 16384 ? 1 : 4,
                     fast ? gs_linear_range : gs_range, &j);
    return CVM_OK;
}
