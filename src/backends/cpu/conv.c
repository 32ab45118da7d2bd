/* Conv and ConvTranspose on the shared GEMM core.
 *
 * Conv: per image and group, Y[Mg, OUT] = W[Mg, K] * cols[K, OUT] where
 * cols is the im2col matrix.  The weights are packed once in prepare(); the
 * columns are never materialised whole: the GEMM asks for one K x NC block
 * at a time and the packer below gathers it straight from the image into
 * the micro-kernel's panel layout.  1x1 stride-1 unpadded convolutions read
 * the image as the B matrix directly, and depthwise convolutions (one input
 * channel per group) use a direct loop, since as GEMMs they would be 1-row. */
#include <stdio.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include "backends/cpu/act512.h"
#define CVM_CONV_X86 1
#endif

#include "backends/cpu/gemm_f32.h"
#include "backends/cpu/clones.h"
#include "backends/cpu/conv_bf16.h"
#include "backends/cpu/conv_direct.h"
#include "backends/cpu/conv_winograd.h"
#include "backends/cpu/nn_kernels.h"
#include "backends/cpu/vmath.h"
#include "graph/fuse.h"
#include "base/bigmem.h"
#include "graph/shape_nn.h"

struct conv_state;
typedef struct conv_state {
    /* spatial geometry as 3-D (leading dims padded with extent 1) */
    int64_t in[3], k[3], s[3], d[3], pb[3], out[3];
    int64_t N, C, M, G, Cg, Mg, K, IN, OUT, KK;
    int depthwise, pointwise, slots;
    int raw_b;             /* pointwise, and the GEMM may pack the input in its kernel */
    int fast_gather;      /* the AVX-512 im2col gather applies (2-D-or-less, stride 1 or 2) */
    /* FusedConv epilogue: y = act(conv + bias [+ r]) [+ r] */
    int act, add_first, has_res;
    float alpha, beta;
    int res_mode;         /* 0: residual has the output's spatial extent, 1: one value per
                           * (n, c), 2: anything else that broadcasts (per-element index) */
    int64_t rs_n, rs_c, rs_sp[3]; /* residual strides (0 where it broadcasts) */
    const cvm_gemm_kernel *kern;
    float *packed;        /* G packed weight blocks, or NULL when W is not constant */
    size_t packed_stride; /* floats per group */
    size_t gemm_scratch;  /* bytes of GEMM scratch at the start of c->scratch */
    int use_wino;         /* 3x3 stride-1 layers: Winograd F(4x4,3x3) instead of im2col */
    int dw_avx512;        /* depthwise on the AVX-512 row kernel */
    int use_bf16;         /* bf16 precision: the implicit-GEMM bf16 kernel */
    int use_direct;       /* 3x3 stride 2, or stride 1 too small for Winograd: conv_direct.c */
    cvm_wino wino;
    cvm_cdir direct;
    cvm_cbf bf16;
} conv_state;

void cvm_nn_free_state(void *state)
{
    if (!state)
        return;
    conv_state *s = state;
    cvm_wino_free(&s->wino);
    cvm_cdir_free(&s->direct);
    cvm_cbf_free(&s->bf16);
    cvm_big_free(s->packed);
    free(s);
}

static void to3d(const cvm_nn_geom *g, conv_state *s)
{
    int off = 3 - g->nsp;
    for (int i = 0; i < 3; i++) {
        s->in[i] = s->k[i] = s->s[i] = s->d[i] = s->out[i] = 1;
        s->pb[i] = 0;
    }
    for (int i = 0; i < g->nsp; i++) {
        s->in[off + i] = g->in[i];
        s->k[off + i] = g->k[i];
        s->s[off + i] = g->s[i];
        s->d[off + i] = g->d[i];
        s->pb[off + i] = g->pb[i];
        s->out[off + i] = g->out[i];
    }
    s->IN = s->in[0] * s->in[1] * s->in[2];
    s->OUT = s->out[0] * s->out[1] * s->out[2];
    s->KK = s->k[0] * s->k[1] * s->k[2];
}

static cvm_status need_f32(const cvm_kernel_ctx *c, int n)
{
    for (int i = 0; i < n && i < c->n_in; i++)
        if (c->in[i] && c->in[i]->dtype != CVM_DTYPE_FLOAT32)
            return cvm_node_error(c->node, CVM_E_UNSUPPORTED, "input %d has type %s; only float "
                                  "types are supported", i, cvm_dtype_name(c->in[i]->dtype));
    return CVM_OK;
}

/* ------------------------------------------------------------- epilogue */

#define CVM_CONV_CLONES CVM_CPU_CLONES

/* y[j] = act(y[j] (+ r[j*rstride] when add_first)) (+ r[j*rstride] otherwise).
 * rstride is 1 or 0 (one residual value for the whole row), r may be NULL.
 * One loop per activation keeps each of them vectorisable. */
CVM_CONV_CLONES void cvm_act_row(float *y, int64_t n, const float *r, int64_t rstride, int act,
                                 int add_first, float alpha, float beta)
{
    if (r && add_first) {
        if (rstride)
            for (int64_t j = 0; j < n; j++)
                y[j] += r[j];
        else
            for (int64_t j = 0; j < n; j++)
                y[j] += r[0];
    }
    switch (act) {
    case CVM_FUSED_RELU:
        for (int64_t j = 0; j < n; j++)
            y[j] = y[j] > 0.0f ? y[j] : 0.0f;
        break;
    case CVM_FUSED_LEAKY_RELU:
        for (int64_t j = 0; j < n; j++)
            y[j] = y[j] >= 0.0f ? y[j] : y[j] * alpha;
        break;
    case CVM_FUSED_SIGMOID:
        for (int64_t j = 0; j < n; j++)
            y[j] = cvm_vsigmoidf(y[j]);
        break;
    case CVM_FUSED_SILU:
        for (int64_t j = 0; j < n; j++)
            y[j] = y[j] * cvm_vsigmoidf(y[j]);
        break;
    case CVM_FUSED_HARD_SIGMOID:
        for (int64_t j = 0; j < n; j++) {
            float v = alpha * y[j] + beta;
            v = v < 0.0f ? 0.0f : v;
            y[j] = v > 1.0f ? 1.0f : v;
        }
        break;
    case CVM_FUSED_HARD_SWISH:
        for (int64_t j = 0; j < n; j++) {
            float v = y[j] * (1.0f / 6.0f) + 0.5f;
            v = v < 0.0f ? 0.0f : v;
            v = v > 1.0f ? 1.0f : v;
            y[j] = y[j] * v;
        }
        break;
    case CVM_FUSED_CLIP:
        for (int64_t j = 0; j < n; j++) {
            float v = y[j] < alpha ? alpha : y[j];
            y[j] = v > beta ? beta : v;
        }
        break;
    case CVM_FUSED_GELU:
        for (int64_t j = 0; j < n; j++)
            y[j] = 0.5f * y[j] * (1.0f + cvm_verff(y[j] * 0.70710678118654752f));
        break;
    default:
        break;
    }
    if (r && !add_first) {
        if (rstride)
            for (int64_t j = 0; j < n; j++)
                y[j] += r[j];
        else
            for (int64_t j = 0; j < n; j++)
                y[j] += r[0];
    }
}

typedef struct conv_run {
    const struct conv_state *s;
    const float *x, *w, *bias, *res;
    float *y;
} conv_run;

/* Applies the epilogue to output positions o0..o0+len-1 of channel oc of image n. */
static void epi_span(const conv_run *r, int64_t n, int64_t oc, int64_t o0, int64_t len, float *y)
{
    const struct conv_state *s = r->s;
    if (!r->res || s->res_mode != 2) {
        const float *res = NULL;
        int64_t rstride = 0;
        if (r->res) {
            res = r->res + n * s->rs_n + oc * s->rs_c;
            if (s->res_mode == 0) {
                res += o0;
                rstride = 1;
            }
        }
        cvm_act_row(y, len, res, rstride, s->act, s->add_first, s->alpha, s->beta);
        return;
    }
    /* Residual broadcast along some spatial axes only: gather it in chunks. */
    float tmp[64];
    for (int64_t j0 = 0; j0 < len; j0 += 64) {
        int64_t cnt = len - j0 < 64 ? len - j0 : 64;
        for (int64_t j = 0; j < cnt; j++) {
            int64_t o = o0 + j0 + j;
            int64_t ow = o % s->out[2], t = o / s->out[2];
            int64_t oh = t % s->out[1], od = t / s->out[1];
            tmp[j] = r->res[n * s->rs_n + oc * s->rs_c + od * s->rs_sp[0] + oh * s->rs_sp[1] +
                            ow * s->rs_sp[2]];
        }
        cvm_act_row(y + j0, cnt, tmp, 1, s->act, s->add_first, s->alpha, s->beta);
    }
}

static void wino_epi(const void *ctx, int64_t n, int64_t oc, int64_t o0, int64_t len, float *y)
{
    epi_span(ctx, n, oc, o0, len, y);
}

static const float *conv_res_of(const void *vctx, int64_t b, int64_t *ldr)
{
    const conv_run *r = vctx;
    const struct conv_state *s = r->s;
    *ldr = s->rs_c;
    return r->res + (b / s->G) * s->rs_n + (b % s->G) * s->Mg * s->rs_c;
}

static void conv_epilogue(const void *vctx, int64_t b, int64_t m0, int mr, int64_t n0, int nr,
                          float *c, int64_t ldc)
{
    const conv_run *r = vctx;
    const struct conv_state *s = r->s;
    int64_t n = b / s->G, oc0 = (b % s->G) * s->Mg + m0;
    for (int i = 0; i < mr; i++)
        epi_span(r, n, oc0 + i, n0, nr, c + i * ldc);
}

/* ------------------------------------------------------------------ Conv */

/* Reads FusedConv's epilogue attributes and the residual's broadcast strides. */
static cvm_status fused_setup(const cvm_kernel_ctx *c, conv_state *s)
{
    s->act = CVM_FUSED_NONE;
    if (strcmp(c->node->op_type, "FusedConv") != 0)
        return CVM_OK;
    CVM_TRY(cvm_fused_act_parse(c->node, &s->act, &s->alpha, &s->beta));
    s->add_first = (int)cvm_attr_int(c->node, "add_first", 0) != 0;
    const cvm_tensor *r = c->n_in > 3 ? c->in[3] : NULL;
    if (!r)
        return CVM_OK;
    if (r->dtype != CVM_DTYPE_FLOAT32)
        return cvm_node_error(c->node, CVM_E_UNSUPPORTED, "residual has type %s; only float types "
                              "are supported", cvm_dtype_name(r->dtype));
    int rank = c->in[0]->ndim, nsp = rank - 2;
    if (r->ndim > rank)
        return cvm_node_error(c->node, CVM_E_SHAPE, "residual of rank %d exceeds output rank %d",
                              r->ndim, rank);
    /* Right-align the residual against [N, M, spatial...] and take strides. */
    int64_t od[CVM_MAX_DIMS] = {s->N, s->M}, rd[CVM_MAX_DIMS] = {0}, st[CVM_MAX_DIMS] = {0};
    for (int i = 0; i < nsp; i++)
        od[2 + i] = c->out[0]->dims[2 + i];
    for (int i = 0; i < rank; i++) {
        int j = i - (rank - r->ndim);
        rd[i] = j < 0 ? 1 : r->dims[j];
        if (rd[i] != od[i] && rd[i] != 1)
            return cvm_node_error(c->node, CVM_E_SHAPE, "residual dimension %d (%lld) does not "
                                  "broadcast to the output's %lld", i, (long long)rd[i],
                                  (long long)od[i]);
    }
    int64_t acc = 1;
    for (int i = rank - 1; i >= 0; i--) {
        st[i] = rd[i] == 1 ? 0 : acc;
        acc *= rd[i];
    }
    s->has_res = 1;
    s->rs_n = st[0];
    s->rs_c = st[1];
    int full = 1, none = 1;
    for (int i = 0; i < 3; i++)
        s->rs_sp[i] = 0;
    for (int i = 0; i < nsp; i++) {
        s->rs_sp[3 - nsp + i] = st[2 + i];
        if (rd[2 + i] != od[2 + i])
            full = 0;
        if (rd[2 + i] != 1 && od[2 + i] != 1)
            none = 0;
    }
    s->res_mode = full ? 0 : none ? 1 : 2;
    return CVM_OK;
}

/* Winograd needs the weights at prepare time to transform them; the
 * environment variable CVM_WINOGRAD=0 turns it off (to compare the paths). */
static int wino_applies(const conv_state *s, int nsp, int const_w)
{
    if (nsp != 2 || !const_w || s->G != 1 || s->k[1] != 3 || s->k[2] != 3 || s->s[1] != 1 ||
        s->s[2] != 1 || s->d[1] != 1 || s->d[2] != 1)
        return 0;
    const char *env = getenv("CVM_WINOGRAD");
    if (env && strcmp(env, "0") == 0)
        return 0;
    return cvm_wino_usable(s->kern, s->C, s->M, s->out[1], s->out[2]);
}

/* The direct 3x3 kernel (conv_direct.h) where Winograd does not apply:
 * stride 2 (the layers that halve a map) and small stride-1 maps.
 * CVM_CONV_DIRECT=0 turns it off (to compare the paths). */
static int direct_applies(const conv_state *s, int nsp, int const_w)
{
    if (nsp != 2 || !const_w || s->G != 1 || s->k[1] != 3 || s->k[2] != 3 || s->s[1] != s->s[2] ||
        s->d[1] != 1 || s->d[2] != 1 || s->C < 1 || strcmp(s->kern->name, "avx512") != 0)
        return 0;
    /* Fewer than 32 input channels leave too few steps per tile to cover
     * its epilogue (YOLO's 16->32 stride-2 layer ran 7% slower than
     * im2col); inputs much larger than L2 are read a line per plane per
     * step from L3 (a 64x160x160 input: 1.24x slower than im2col). */
    if (s->C < 32 || s->C * s->in[1] * s->in[2] > (int64_t)1 << 19)
        return 0;
    const char *env = getenv("CVM_CONV_DIRECT");
    if (env && strcmp(env, "0") == 0)
        return 0;
    return cvm_cdir_usable(s->in[1], s->in[2], s->out[1], s->out[2], s->s[1], s->pb[1], s->pb[2]);
}

/* bf16 precision: ungrouped 1-D and 2-D convolutions with constant weights
 * (grouped and depthwise ones stay float32: memory-bound, little to gain). */
static int bf16_applies(const cvm_kernel_ctx *c, const conv_state *s, int nsp, int const_w)
{
    return c->precision == CVM_PRECISION_BF16 && (nsp == 1 || nsp == 2) && const_w && s->G == 1 &&
           s->C > 0 && cvm_bf16_kind() != CVM_BF16_NONE;
}

/* A preparing helper's failure (its message in cvm_last_error) as this
 * node's error; frees the state. */
static cvm_status prepare_failed(const cvm_kernel_ctx *c, conv_state *s, cvm_status st)
{
    char msg[256];
    snprintf(msg, sizeof msg, "%s", cvm_last_error());
    free(s);
    return cvm_node_error(c->node, st, "%s", msg);
}

cvm_status cvm_nn_conv_prepare(const cvm_kernel_ctx *c, void **state, size_t *scratch)
{
    const cvm_tensor *x = c->in[0], *w = c->in[1];
    CVM_TRY(need_f32(c, 3));
    int nsp = x->ndim - 2;
    cvm_nn_geom g;
    CVM_TRY(cvm_nn_window_geom(c->node, nsp, x->dims + 2, w->dims + 2, 0, &g));
    conv_state *s = calloc(1, sizeof *s);
    if (!s)
        return cvm_node_error(c->node, CVM_E_NOMEM, "out of memory");
    to3d(&g, s);
    s->N = x->dims[0];
    s->C = x->dims[1];
    s->M = w->dims[0];
    s->G = cvm_attr_int(c->node, "group", 1);
    s->Cg = s->C / s->G;
    s->Mg = s->M / s->G;
    s->K = s->Cg * s->KK;
    s->kern = cvm_gemm_kernel_best();
    s->slots = cvm_gemm_slots(c->pool);
    s->depthwise = s->Cg == 1 && s->G > 1 && nsp <= 2;
    s->pointwise = s->KK == 1 && s->s[0] == 1 && s->s[1] == 1 && s->s[2] == 1 && s->pb[0] == 0 &&
                   s->pb[1] == 0 && s->pb[2] == 0 && s->OUT == s->IN;
    /* CVM_GEMM_PACKB=0 keeps the separate packing pass (to compare the paths) */
    const char *packb_env = getenv("CVM_GEMM_PACKB");
    s->raw_b = s->pointwise && !(packb_env && strcmp(packb_env, "0") == 0);
    s->fast_gather = strcmp(s->kern->name, "avx512") == 0 && s->k[2] <= 16 &&
                     (s->s[2] == 1 || s->s[2] == 2) && s->OUT > 0;
    cvm_status st = fused_setup(c, s);
    if (st != CVM_OK) {
        free(s);
        return st;
    }
#ifdef CVM_CONV_X86
    s->dw_avx512 = s->depthwise && nsp == 2 && (s->s[2] == 1 || s->s[2] == 2) && s->d[1] == 1 &&
                   s->d[2] == 1 && __builtin_cpu_supports("avx512f");
#endif
    if (bf16_applies(c, s, nsp, w->data != NULL)) {
        st = cvm_cbf_prepare(&s->bf16, cvm_bf16_kind(), s->N, s->C, s->M, s->in[1], s->in[2],
                             s->k[1], s->k[2], s->out[1], s->out[2], s->s[1], s->s[2], s->d[1],
                             s->d[2], s->pb[1], s->pb[2], w->data, s->slots);
        if (st != CVM_OK)
            return prepare_failed(c, s, st);
        s->use_bf16 = 1;
        *scratch = cvm_cbf_scratch_bytes(&s->bf16);
        if (c->released)
            *c->released |= 1u << 1; /* the run reads the packed bf16 weights only */
    } else if (wino_applies(s, nsp, w->data != NULL)) {
        st = cvm_wino_prepare(&s->wino, s->kern, s->N, s->C, s->M, s->in[1], s->in[2], s->out[1],
                              s->out[2], s->pb[1], s->pb[2], w->data, s->slots);
        if (st != CVM_OK)
            return prepare_failed(c, s, st);
        s->use_wino = 1;
        *scratch = cvm_wino_scratch_bytes(&s->wino);
        if (c->released)
            *c->released |= 1u << 1; /* the run reads the transformed weights only */
    } else if (direct_applies(s, nsp, w->data != NULL)) {
        st = cvm_cdir_prepare(&s->direct, s->N, s->C, s->M, s->in[1], s->in[2], s->out[1],
                              s->out[2], s->s[1], s->pb[1], s->pb[2], w->data, s->slots);
        if (st != CVM_OK)
            return prepare_failed(c, s, st);
        s->use_direct = 1;
        *scratch = 0;
        if (c->released)
            *c->released |= 1u << 1; /* the run reads the packed weights only */
    } else if (!s->depthwise) {
        s->gemm_scratch = cvm_gemm_scratch_bytes(s->kern, s->slots);
        *scratch = s->gemm_scratch;
        if (w->data) {
            size_t per = cvm_gemm_packed_a_size(s->kern, s->Mg, s->K);
            int64_t total;
            if (!cvm_nn_mul((int64_t)per, s->G, &total) || !cvm_nn_mul(total, 4, &total)) {
                free(s);
                return cvm_node_error(c->node, CVM_E_LIMIT, "packed weights too large");
            }
            s->packed = cvm_big_alloc((size_t)total > 0 ? (size_t)total : 1);
            if (!s->packed) {
                free(s);
                return cvm_node_error(c->node, CVM_E_NOMEM, "out of memory packing weights");
            }
            s->packed_stride = per;
            const float *wd = w->data;
            for (int64_t gi = 0; gi < s->G; gi++)
                cvm_gemm_prepack_a(s->kern, s->Mg, s->K, wd + gi * s->Mg * s->K, s->K, 1, 1.0f,
                                   s->packed + gi * per);
            if (c->released)
                *c->released |= 1u << 1; /* conv_get_a reads the packed copy only */
        }
    }
    *state = s;
    return CVM_OK;
}

static const float *conv_get_a(const void *vctx, int64_t b, int64_t m0, int64_t mc, int64_t k0,
                               int64_t kc, float *buf)
{
    const conv_run *r = vctx;
    const conv_state *s = r->s;
    int64_t g = b % s->G;
    if (s->packed)
        return cvm_gemm_packed_a_block(s->kern, s->packed + g * s->packed_stride, s->Mg, k0, kc, m0);
    cvm_gemm_pack_a(s->kern, r->w + g * s->Mg * s->K, s->K, 1, m0, mc, k0, kc, 1.0f, buf);
    return buf;
}

#ifdef CVM_CONV_X86
/* The im2col gather for the 32-wide panels of the AVX-512 kernel, stride 1
 * or 2 along W.  A panel's columns are consecutive output positions, split
 * into runs ("segments") that stay on one output row.  For each im2col row,
 * each segment is one masked vector load from the input row: lanes that fall
 * into the padding are masked off (masked lanes never fault), so the panel
 * row is built in registers and stored once, zeros included.  Stride 2 loads
 * twice the span and keeps the even lanes. */
__attribute__((target("avx512f,bmi2"))) static void gather_nr32(const conv_state *s,
                                                                const float *x, int64_t k0,
                                                                int64_t kc, int64_t n0,
                                                                int64_t nc, float *buf)
{
    const int64_t D = s->in[0], H = s->in[1], W = s->in[2];
    const int64_t OH = s->out[1], OW = s->out[2], sw = s->s[2], KW = s->k[2];
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    struct {
        int64_t bd, bh;
        int64_t e0[16];     /* element offset of lane 0 within the input row, per kw */
        uint64_t mask[16];  /* lanes (stride 1) or elements (stride 2) to load, per kw */
    } seg[32];
    for (int64_t p = 0; p < nc; p += 32) {
        int cols = nc - p < 32 ? (int)(nc - p) : 32;
        int nseg = 0;
        for (int j = 0; j < cols;) {
            int64_t o = n0 + p + j;
            int64_t ow = o % OW, t = o / OW;
            int64_t oh = t % OH, od = t / OH;
            int len = OW - ow < cols - j ? (int)(OW - ow) : cols - j;
            seg[nseg].bd = od * s->s[0] - s->pb[0];
            seg[nseg].bh = oh * s->s[1] - s->pb[1];
            int64_t bw = ow * sw - s->pb[2];
            for (int64_t q = 0; q < KW; q++) {
                int64_t iw0 = bw + q * s->d[2];
                int64_t lo = iw0 < 0 ? (-iw0 + sw - 1) / sw : 0;
                int64_t hi = W - 1 - iw0 < 0 ? 0 : (W - 1 - iw0) / sw + 1;
                if (hi > len)
                    hi = len;
                if (lo > hi)
                    lo = hi;
                uint64_t lanes = ((hi - lo) >= 64 ? ~0ull : ((1ull << (hi - lo)) - 1)) << (j + lo);
                seg[nseg].e0[q] = iw0 - j * sw;
                seg[nseg].mask[q] = sw == 1 ? lanes : _pdep_u64(lanes, 0x5555555555555555ull);
            }
            nseg++;
            j += len;
        }
        float *dst = buf + p * kc;
        int64_t kw = k0 % KW, rest = k0 / KW;
        int64_t kh = rest % s->k[1];
        rest /= s->k[1];
        int64_t kd = rest % s->k[0], ci = rest / s->k[0];
        /* Input row of each segment for the current (ci, kd, kh), 0 when it
         * lies in the padding; recomputed only when kw wraps around. */
        uintptr_t rowp[32];
        for (int64_t k = 0; k < kc; k++) {
            if (k == 0 || kw == 0) {
                const float *xc = x + ci * s->IN;
                int64_t dd = kd * s->d[0], dh = kh * s->d[1];
                for (int g2 = 0; g2 < nseg; g2++) {
                    int64_t id = seg[g2].bd + dd, ih = seg[g2].bh + dh;
                    rowp[g2] = id < 0 || id >= D || ih < 0 || ih >= H
                                   ? 0 : (uintptr_t)(xc + (id * H + ih) * W);
                }
            }
            /* lane l of a segment reads row[e0 + l * sw]; the address of lane
             * 0 may lie outside the row, but only lanes inside it are loaded */
            if (sw == 1) {
                __m512 v0 = _mm512_setzero_ps(), v1 = v0;
                for (int g2 = 0; g2 < nseg; g2++) {
                    uint64_t m = seg[g2].mask[kw];
                    if (!rowp[g2] || !m)
                        continue;
                    uintptr_t a = rowp[g2] + (uintptr_t)(seg[g2].e0[kw] * (int64_t)sizeof(float));
                    v0 = _mm512_mask_loadu_ps(v0, (__mmask16)m, (const void *)a);
                    v1 = _mm512_mask_loadu_ps(v1, (__mmask16)(m >> 16), (const void *)(a + 64));
                }
                _mm512_storeu_ps(dst, v0);
                _mm512_storeu_ps(dst + 16, v1);
            } else {
                __m512 e0 = _mm512_setzero_ps(), e1 = e0, e2 = e0, e3 = e0;
                for (int g2 = 0; g2 < nseg; g2++) {
                    uint64_t m = seg[g2].mask[kw];
                    if (!rowp[g2] || !m)
                        continue;
                    uintptr_t a = rowp[g2] + (uintptr_t)(seg[g2].e0[kw] * (int64_t)sizeof(float));
                    e0 = _mm512_mask_loadu_ps(e0, (__mmask16)m, (const void *)a);
                    e1 = _mm512_mask_loadu_ps(e1, (__mmask16)(m >> 16), (const void *)(a + 64));
                    e2 = _mm512_mask_loadu_ps(e2, (__mmask16)(m >> 32), (const void *)(a + 128));
                    e3 = _mm512_mask_loadu_ps(e3, (__mmask16)(m >> 48), (const void *)(a + 192));
                }
                _mm512_storeu_ps(dst, _mm512_permutex2var_ps(e0, even, e1));
                _mm512_storeu_ps(dst + 16, _mm512_permutex2var_ps(e2, even, e3));
            }
            dst += 32;
            if (++kw == KW) {
                kw = 0;
                if (++kh == s->k[1]) {
                    kh = 0;
                    if (++kd == s->k[0]) {
                        kd = 0;
                        ci++;
                    }
                }
            }
        }
    }
}
#endif

/* A 1x1 convolution's B is its input as it stands: channels by positions. */
static const float *conv_raw_b(const void *vctx, int64_t b, int64_t *ldb)
{
    const conv_run *r = vctx;
    const conv_state *s = r->s;
    int64_t n = b / s->G, g = b % s->G;
    *ldb = s->IN;
    return r->x + (n * s->C + g * s->Cg) * s->IN;
}

/* Gathers im2col rows k0..k0+kc, columns n0..n0+nc into NR-wide panels. */
static const float *conv_get_b(const void *vctx, int64_t b, int64_t k0, int64_t kc, int64_t n0,
                               int64_t nc, float *buf)
{
    const conv_run *r = vctx;
    const conv_state *s = r->s;
    int64_t n = b / s->G, g = b % s->G;
    const float *x = r->x + (n * s->C + g * s->Cg) * s->IN;
    if (s->pointwise) {
        cvm_gemm_pack_b(s->kern, x, s->IN, 1, k0, kc, n0, nc, 1.0f, buf);
        return buf;
    }
#ifdef CVM_CONV_X86
    if (s->fast_gather) {
        gather_nr32(s, x, k0, kc, n0, nc, buf);
        return buf;
    }
#endif
    const int NR = s->kern->nr;
    const int64_t D = s->in[0], H = s->in[1], W = s->in[2];
    const int64_t OH = s->out[1], OW = s->out[2], sw = s->s[2];
    /* A panel's columns are consecutive output positions: split them into
     * runs that stay on one output row, so that each run of one im2col row is
     * a (strided) copy of one input row with zeros at the padded ends. */
    struct seg {
        int j, len;
        int64_t bd, bh, bw;
        int lo[16], hi[16];
    } seg[32];
    for (int64_t p = 0; p < nc; p += NR) {
        int cols = nc - p < NR ? (int)(nc - p) : NR;
        int nseg = 0;
        for (int j = 0; j < cols;) {
            int64_t o = n0 + p + j;
            int64_t ow = o % OW, t = o / OW;
            int64_t oh = t % OH, od = t / OH;
            int len = OW - ow < cols - j ? (int)(OW - ow) : cols - j;
            seg[nseg].j = j;
            seg[nseg].len = len;
            seg[nseg].bd = od * s->s[0] - s->pb[0];
            seg[nseg].bh = oh * s->s[1] - s->pb[1];
            seg[nseg].bw = ow * sw - s->pb[2];
            /* valid columns lo..hi-1 for every kw (divisions are slow: once per panel) */
            for (int64_t q = 0; q < s->k[2] && q < 16; q++) {
                int64_t iw0 = seg[nseg].bw + q * s->d[2];
                int64_t lo = iw0 < 0 ? (-iw0 + sw - 1) / sw : 0;
                int64_t hi = W - 1 - iw0 < 0 ? 0 : (W - 1 - iw0) / sw + 1;
                if (hi > len)
                    hi = len;
                if (lo > hi)
                    lo = hi;
                seg[nseg].lo[q] = (int)lo;
                seg[nseg].hi[q] = (int)hi;
            }
            nseg++;
            j += len;
        }
        float *dst = buf + p * kc;
        int64_t kw = k0 % s->k[2], rest = k0 / s->k[2];
        int64_t kh = rest % s->k[1];
        rest /= s->k[1];
        int64_t kd = rest % s->k[0], ci = rest / s->k[0];
        for (int64_t k = 0; k < kc; k++) {
            const float *xc = x + ci * s->IN;
            int64_t dd = kd * s->d[0], dh = kh * s->d[1], dw = kw * s->d[2];
            for (int g2 = 0; g2 < nseg; g2++) {
                float *o = dst + seg[g2].j;
                int len = seg[g2].len;
                int64_t id = seg[g2].bd + dd, ih = seg[g2].bh + dh;
                if (id < 0 || id >= D || ih < 0 || ih >= H) {
                    memset(o, 0, (size_t)len * sizeof(float));
                    continue;
                }
                const float *row = xc + (id * H + ih) * W;
                int64_t iw0 = seg[g2].bw + dw;
                /* columns lo..hi-1 read inside the row */
                int64_t lo, hi;
                if (kw < 16) {
                    lo = seg[g2].lo[kw];
                    hi = seg[g2].hi[kw];
                } else {
                    lo = iw0 < 0 ? (-iw0 + sw - 1) / sw : 0;
                    hi = W - 1 - iw0 < 0 ? 0 : (W - 1 - iw0) / sw + 1;
                    hi = hi > len ? len : hi;
                    lo = lo > hi ? hi : lo;
                }
                for (int64_t j = 0; j < lo; j++)
                    o[j] = 0.0f;
                if (sw == 1)
                    memcpy(o + lo, row + iw0 + lo, (size_t)(hi - lo) * sizeof(float));
                else
                    for (int64_t j = lo; j < hi; j++)
                        o[j] = row[iw0 + j * sw];
                for (int64_t j = hi; j < len; j++)
                    o[j] = 0.0f;
            }
            for (int j = cols; j < NR; j++)
                dst[j] = 0.0f;
            dst += NR;
            if (++kw == s->k[2]) {
                kw = 0;
                if (++kh == s->k[1]) {
                    kh = 0;
                    if (++kd == s->k[0]) {
                        kd = 0;
                        ci++;
                    }
                }
            }
        }
    }
    return buf;
}

static float *conv_c_of(const void *vctx, int64_t b)
{
    const conv_run *r = vctx;
    const conv_state *s = r->s;
    int64_t n = b / s->G, g = b % s->G;
    return r->y + (n * s->M + g * s->Mg) * s->OUT;
}

static const float *conv_bias_of(const void *vctx, int64_t b)
{
    const conv_run *r = vctx;
    return r->bias ? r->bias + (b % r->s->G) * r->s->Mg : NULL;
}

/* Depthwise: one plane per (image, output channel). */
CVM_CONV_CLONES static void depthwise_planes(void *arg, size_t begin, size_t end)
{
    const conv_run *r = arg;
    const conv_state *s = r->s;
    const int64_t H = s->in[1], W = s->in[2], OH = s->out[1], OW = s->out[2];
    const int64_t KH = s->k[1], KW = s->k[2], sh = s->s[1], sw = s->s[2];
    for (size_t pl = begin; pl < end; pl++) {
        int64_t n = (int64_t)pl / s->M, oc = (int64_t)pl % s->M;
        int64_t ic = oc / s->Mg;
        const float *x = r->x + (n * s->C + ic) * s->IN;
        const float *wk = r->w + oc * s->KK;
        float *y = r->y + (n * s->M + oc) * s->OUT;
        float bv = r->bias ? r->bias[oc] : 0.0f;
        for (int64_t oh = 0; oh < OH; oh++) {
            float *yr = y + oh * OW;
            for (int64_t ow = 0; ow < OW; ow++)
                yr[ow] = bv;
            for (int64_t kh = 0; kh < KH; kh++) {
                int64_t ih = oh * sh - s->pb[1] + kh * s->d[1];
                if (ih < 0 || ih >= H)
                    continue;
                const float *xr = x + ih * W;
                for (int64_t kw = 0; kw < KW; kw++) {
                    float wv = wk[kh * KW + kw];
                    int64_t off = kw * s->d[2] - s->pb[2];
                    /* ow range with 0 <= ow*sw + off < W */
                    int64_t lo = off < 0 ? (-off + sw - 1) / sw : 0;
                    int64_t hi = W - 1 - off < 0 ? -1 : (W - 1 - off) / sw;
                    if (hi > OW - 1)
                        hi = OW - 1;
                    if (sw == 1) {
                        const float *xs = xr + off;
                        for (int64_t ow = lo; ow <= hi; ow++)
                            yr[ow] += wv * xs[ow];
                    } else {
                        for (int64_t ow = lo; ow <= hi; ow++)
                            yr[ow] += wv * xr[ow * sw + off];
                    }
                }
            }
        }
        /* after the whole plane: its stores have retired by then, while a
         * row just written by misaligned partial sums stalls the reload */
        if (s->act != CVM_FUSED_NONE || r->res)
            epi_span(r, n, oc, 0, s->OUT, y);
    }
}

#ifdef CVM_CONV_X86
/* Depthwise on AVX-512, 2-D, stride 1 or 2, undilated: each 16-wide run of
 * an output row sums its KH x KW taps in one register (masked loads give the
 * zero padding; stride 2 keeps the even lanes of a double-width load) and
 * leaves with bias, activation and a full-shape residual applied, so every
 * output is written once instead of once per tap.
 *
 * One row's taps form a single chain of dependent FMAs, four cycles each,
 * so the common kernels (3x3 and 5x5 with equal strides) take DW_ROWS
 * output rows at a time (the rest in fewer), reading the rows above and
 * below the image from a zero row: that many independent chains keep both
 * FMA ports busy, and the activation of one row overlaps the sums of the
 * next. */
enum { DW_MAXT = 49, DW_ROWS = 8, DW_ZROW = 2048 };

typedef struct dw_ctx {
    const float *x;        /* input plane */
    float *y;              /* output plane */
    const float *res;      /* full-shape residual plane, or NULL */
    int64_t H, W, OW, sh, sw, pt, pl, KH, KW;
    const __m512 *wv;      /* weights broadcast, KH*KW of them (small kernels) */
    const float *wk;       /* weights */
    __m512 bv;
    int small, regs;
    cvm_gemm_epi e;
} dw_ctx;

__attribute__((target("avx512f"), always_inline)) static inline void dw_store(const dw_ctx *d, __m512 acc,
                                                               int64_t oh, int64_t ow0,
                                                               __mmask16 om)
{
    float *yo = d->y + oh * d->OW + ow0;
    if (d->regs) {
        __m512 rv = d->res ? _mm512_maskz_loadu_ps(om, d->res + oh * d->OW + ow0)
                           : _mm512_setzero_ps();
        if (d->res && d->e.add_first)
            acc = _mm512_add_ps(acc, rv);
        acc = cvm_act512(acc, &d->e);
        if (d->res && !d->e.add_first)
            acc = _mm512_add_ps(acc, rv);
    }
    _mm512_mask_storeu_ps(yo, om, acc);
}

static inline __mmask16 dw_range_mask(int64_t x0, int64_t W)
{
    int64_t lo = -x0 > 0 ? -x0 : 0, hi = W - x0 < 16 ? W - x0 : 16;
    return hi > lo ? (__mmask16)(((1u << hi) - 1u) & ~((1u << lo) - 1u)) : 0;
}

/* One output row, any kernel size, with row and column padding. */
__attribute__((target("avx512f"))) static void dw_row(const dw_ctx *d, int64_t oh, int64_t ow0,
                                                      __mmask16 om, __mmask16 (*mk)[2])
{
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    __m512 acc = d->bv;
    for (int64_t kh = 0; kh < d->KH; kh++) {
        int64_t ih = oh * d->sh - d->pt + kh;
        if (ih < 0 || ih >= d->H)
            continue;
        const float *xr = d->x + ih * d->W;
        for (int64_t kw = 0; kw < d->KW; kw++) {
            int64_t x0 = ow0 * d->sw - d->pl + kw;
            __mmask16 m0, m1 = 0;
            if (d->small) {
                m0 = mk[kw][0];
                m1 = mk[kw][1];
            } else {
                m0 = dw_range_mask(x0, d->W);
                if (d->sw == 1)
                    m0 &= om;
                else
                    m1 = dw_range_mask(x0 + 16, d->W);
            }
            __m512 v;
            if (d->sw == 1) {
                v = _mm512_maskz_loadu_ps(m0, xr + x0);
            } else {
                __m512 h0 = _mm512_maskz_loadu_ps(m0, xr + x0);
                __m512 h1 = _mm512_maskz_loadu_ps(m1, xr + x0 + 16);
                v = _mm512_permutex2var_ps(h0, even, h1);
            }
            __m512 w = d->small ? d->wv[kh * d->KW + kw] : _mm512_set1_ps(d->wk[kh * d->KW + kw]);
            acc = _mm512_fmadd_ps(w, v, acc);
        }
    }
    dw_store(d, acc, oh, ow0, om);
}

/* R output rows from oh (KH, KW, the stride S on both axes and R are
 * constants at each call); rp[i] is input row oh*S - pt + i, or a zero row
 * where that lies outside the image, so the padding rows at the top and
 * bottom run through the same independent chains as the rows inside. */
__attribute__((target("avx512f"), always_inline)) static inline void
dw_tile(const dw_ctx *d, const float *const *rp, int64_t oh, int64_t ow0, __mmask16 om,
        __mmask16 (*mk)[2], const int R, const int KH, const int KW, const int S)
{
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    __m512 acc[DW_ROWS];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
        acc[r] = d->bv;
    const int64_t x0 = ow0 * S - d->pl;
    /* fully unrolled, or the accumulators live on the stack */
#pragma GCC unroll 5
    for (int kh = 0; kh < KH; kh++)
#pragma GCC unroll 5
        for (int kw = 0; kw < KW; kw++) {
            __m512 w = d->wv[kh * KW + kw];
            __mmask16 m0 = mk[kw][0], m1 = mk[kw][1];
#pragma GCC unroll 8
            for (int r = 0; r < R; r++) {
                const float *xr = rp[r * S + kh] + x0 + kw;
                __m512 v;
                if (S == 1) {
                    v = _mm512_maskz_loadu_ps(m0, xr);
                } else {
                    __m512 h0 = _mm512_maskz_loadu_ps(m0, xr);
                    __m512 h1 = _mm512_maskz_loadu_ps(m1, xr + 16);
                    v = _mm512_permutex2var_ps(h0, even, h1);
                }
                acc[r] = _mm512_fmadd_ps(w, v, acc[r]);
            }
        }
    if (d->regs && !d->res && d->e.act == CVM_FUSED_SILU) {
        /* the common case without the per-row dispatch, so that the R
         * sigmoids interleave instead of running one latency chain each */
#pragma GCC unroll 8
        for (int r = 0; r < R; r++)
            acc[r] = _mm512_mul_ps(acc[r], cvm_sigmoid512(acc[r]));
#pragma GCC unroll 8
        for (int r = 0; r < R; r++)
            _mm512_mask_storeu_ps(d->y + (oh + r) * d->OW + ow0, om, acc[r]);
        return;
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
        dw_store(d, acc[r], oh + r, ow0, om);
}

/* One 16-wide column of the output: DW_ROWS rows at a time, then 4, 2 and 1,
 * so that even a 13-row plane keeps several chains in flight. */
__attribute__((target("avx512f"), always_inline)) static inline void
dw_column(const dw_ctx *d, const float *zrow, int64_t OH, int64_t ow0, __mmask16 om,
          __mmask16 (*mk)[2], const int KH, const int KW, const int S)
{
    const float *rp[DW_ROWS * 2 + 5];
    for (int64_t oh = 0; oh < OH;) {
        int64_t left = OH - oh;
        int R = left >= DW_ROWS ? DW_ROWS : left >= 4 ? 4 : left >= 2 ? 2 : 1;
        int64_t ih0 = oh * S - d->pt;
        for (int i = 0; i < (R - 1) * S + KH; i++) {
            int64_t ih = ih0 + i;
            rp[i] = ih >= 0 && ih < d->H ? d->x + ih * d->W : zrow;
        }
        if (R == DW_ROWS)
            dw_tile(d, rp, oh, ow0, om, mk, DW_ROWS, KH, KW, S);
        else if (R == 4)
            dw_tile(d, rp, oh, ow0, om, mk, 4, KH, KW, S);
        else if (R == 2)
            dw_tile(d, rp, oh, ow0, om, mk, 2, KH, KW, S);
        else
            dw_tile(d, rp, oh, ow0, om, mk, 1, KH, KW, S);
        oh += R;
    }
}

#define DW_COLUMN_FN(KH, KW, S)                                                                   \
    __attribute__((target("avx512f"))) static void dw_column_##KH##x##KW##s##S(                   \
        const dw_ctx *d, const float *zrow, int64_t OH, int64_t ow0, __mmask16 om,                \
        __mmask16(*mk)[2])                                                                        \
    {                                                                                             \
        dw_column(d, zrow, OH, ow0, om, mk, KH, KW, S);                                           \
    }
DW_COLUMN_FN(3, 3, 1)
DW_COLUMN_FN(3, 3, 2)
DW_COLUMN_FN(5, 5, 1)
DW_COLUMN_FN(5, 5, 2)

typedef void (*dw_column_fn)(const dw_ctx *, const float *, int64_t, int64_t, __mmask16,
                             __mmask16 (*)[2]);

static dw_column_fn dw_column_for(int64_t KH, int64_t KW, int64_t sh, int64_t sw)
{
    if (sh != sw || KH != KW)
        return NULL;
    if (KH == 3)
        return sw == 1 ? dw_column_3x3s1 : dw_column_3x3s2;
    if (KH == 5)
        return sw == 1 ? dw_column_5x5s1 : dw_column_5x5s2;
    return NULL;
}

__attribute__((target("avx512f"))) static void depthwise_avx512(void *arg, size_t begin,
                                                                size_t end)
{
    const conv_run *r = arg;
    const conv_state *s = r->s;
    dw_ctx d = {.H = s->in[1], .W = s->in[2], .OW = s->out[2], .sh = s->s[1], .sw = s->s[2],
                .pt = s->pb[1], .pl = s->pb[2], .KH = s->k[1], .KW = s->k[2],
                .e = {s->act, s->add_first, s->alpha, s->beta}};
    const int64_t OH = s->out[1], OW = s->out[2];
    d.regs = s->act != CVM_FUSED_NONE || r->res;
    int res_regs = r->res && s->res_mode == 0;
    if (r->res && !res_regs)
        d.regs = 0;
    /* Taps up to 7x7 keep their weights in registers and their edge masks
     * in a small table; larger kernels are rare enough to reload them. */
    d.small = d.KH * d.KW <= DW_MAXT && d.KW <= 16;
    /* The column kernels read padding rows from a zero row; masked loads
     * touch only the columns inside the image, so W floats of it suffice. */
    float zrow[DW_ZROW];
    dw_column_fn column = d.small && d.W <= DW_ZROW ? dw_column_for(d.KH, d.KW, d.sh, d.sw) : NULL;
    if (column)
        memset(zrow, 0, (size_t)d.W * sizeof(float));
    __m512 wv[DW_MAXT];
    d.wv = wv;
    for (size_t pl_i = begin; pl_i < end; pl_i++) {
        int64_t n = (int64_t)pl_i / s->M, oc = (int64_t)pl_i % s->M;
        d.x = r->x + (n * s->C + oc / s->Mg) * s->IN;
        d.wk = r->w + oc * s->KK;
        d.y = r->y + (n * s->M + oc) * s->OUT;
        d.res = res_regs ? r->res + n * s->rs_n + oc * s->rs_c : NULL;
        d.bv = _mm512_set1_ps(r->bias ? r->bias[oc] : 0.0f);
        if (d.small)
            for (int64_t t = 0; t < d.KH * d.KW; t++)
                wv[t] = _mm512_set1_ps(d.wk[t]);
        /* Column runs outermost: a run's edge masks are the same on every
         * output row, and its input columns stay in L1 going down. */
        for (int64_t ow0 = 0; ow0 < OW; ow0 += 16) {
            int64_t cnt = OW - ow0 < 16 ? OW - ow0 : 16;
            __mmask16 om = (__mmask16)((1u << cnt) - 1u);
            __mmask16 mk[16][2] = {{0}};
            for (int64_t kw = 0; kw < (d.small ? d.KW : 0); kw++)
                for (int q = 0; q < (d.sw == 1 ? 1 : 2); q++) {
                    __mmask16 m = dw_range_mask(ow0 * d.sw - d.pl + kw + 16 * q, d.W);
                    mk[kw][q] = d.sw == 1 ? (__mmask16)(m & om) : m;
                }
            if (column) {
                column(&d, zrow, OH, ow0, om, mk);
                continue;
            }
            for (int64_t oh = 0; oh < OH; oh++)
                dw_row(&d, oh, ow0, om, mk);
        }
        if (!d.regs && (s->act != CVM_FUSED_NONE || r->res))
            epi_span(r, n, oc, 0, s->OUT, d.y);
    }
}
#endif

cvm_status cvm_nn_conv_run(const cvm_kernel_ctx *c)
{
    const conv_state *s = c->state;
    conv_run r = {s, c->in[0]->data, c->in[1]->data,
                  c->n_in > 2 && c->in[2] ? c->in[2]->data : NULL,
                  s->has_res && c->n_in > 3 && c->in[3] ? c->in[3]->data : NULL, c->out[0]->data};
    if (s->N == 0 || s->M == 0 || s->OUT == 0)
        return CVM_OK;
    if (s->depthwise) {
#ifdef CVM_CONV_X86
        if (s->dw_avx512) {
            cvm_parallel_for(c->pool, (size_t)(s->N * s->M), 1, depthwise_avx512, &r);
            return CVM_OK;
        }
#endif
        cvm_parallel_for(c->pool, (size_t)(s->N * s->M), 1, depthwise_planes, &r);
        return CVM_OK;
    }
    int fused = s->act != CVM_FUSED_NONE || r.res;
    cvm_gemm_epi epi = {s->act, s->add_first, s->alpha, s->beta};
    if (s->use_bf16) {
        int regs = fused && (!r.res || s->res_mode == 0);
        cvm_cbf_out bo = {.bias = r.bias, .epi = regs ? &epi : NULL, .res = regs ? r.res : NULL,
                          .res_n = s->rs_n, .res_c = s->rs_c,
                          .span = fused && !regs ? wino_epi : NULL, .span_ctx = &r};
        cvm_cbf_run(&s->bf16, r.x, r.y, &bo, c->pool, c->scratch);
        return CVM_OK;
    }
    if (s->use_wino || s->use_direct) {
        /* in registers unless the residual broadcasts along some axis */
        int regs = fused && (!r.res || s->res_mode == 0);
        cvm_wino_out wo = {.bias = r.bias, .epi = regs ? &epi : NULL,
                           .res = regs ? r.res : NULL, .res_n = s->rs_n, .res_c = s->rs_c,
                           .span = fused && !regs ? wino_epi : NULL, .span_ctx = &r};
        if (s->use_wino)
            cvm_wino_run(&s->wino, r.x, r.y, &wo, c->pool, c->scratch);
        else
            cvm_cdir_run(&s->direct, r.x, r.y, &wo, c->pool);
        return CVM_OK;
    }
    cvm_gemm_op op = {.kern = s->kern, .M = s->Mg, .N = s->OUT, .K = s->K, .batch = s->N * s->G,
                      .get_a = conv_get_a, .get_b = conv_get_b, .ctx = &r, .c_of = conv_c_of,
                      .ldc = s->OUT, .bias_of = conv_bias_of,
                      .epilogue = fused ? conv_epilogue : NULL,
                      /* in registers unless the residual broadcasts along space */
                      .epi = fused && (!r.res || s->res_mode == 0) ? &epi : NULL,
                      .res_of = r.res ? conv_res_of : NULL,
                      .raw_b_of = s->raw_b ? conv_raw_b : NULL};
    cvm_gemm_run(&op, c->pool, c->scratch, s->slots);
    return CVM_OK;
}

/* --------------------------------------------------------- ConvTranspose */

/* Per image and group: cols[Mg*KK, IN] = W_g^T[Mg*KK, Cg] * X_g[Cg, IN], then
 * each column entry is added into the output position it lands on (col2im). */

cvm_status cvm_nn_convt_prepare(const cvm_kernel_ctx *c, void **state, size_t *scratch)
{
    const cvm_tensor *x = c->in[0], *w = c->in[1];
    CVM_TRY(need_f32(c, 3));
    int nsp = x->ndim - 2;
    cvm_nn_geom g;
    CVM_TRY(cvm_nn_convtranspose_geom(c->node, nsp, x->dims + 2, w->dims + 2, &g));
    conv_state *s = calloc(1, sizeof *s);
    if (!s)
        return cvm_node_error(c->node, CVM_E_NOMEM, "out of memory");
    to3d(&g, s);
    s->N = x->dims[0];
    s->C = x->dims[1];
    s->G = cvm_attr_int(c->node, "group", 1);
    s->Cg = s->C / s->G;
    s->Mg = w->dims[1];
    s->M = s->Mg * s->G;
    s->K = s->Cg;
    s->kern = cvm_gemm_kernel_best();
    s->slots = cvm_gemm_slots(c->pool);
    int64_t rows, cols_floats, bytes;
    if (!cvm_nn_mul(s->Mg, s->KK, &rows) || !cvm_nn_mul(rows, s->IN, &cols_floats) ||
        !cvm_nn_mul(cols_floats, 4, &bytes) || bytes > ((int64_t)1 << 40)) {
        free(s);
        return cvm_node_error(c->node, CVM_E_LIMIT, "column buffer too large");
    }
    s->gemm_scratch = (cvm_gemm_scratch_bytes(s->kern, s->slots) + 63) / 64 * 64;
    *scratch = s->gemm_scratch + (size_t)bytes;
    if (w->data) {
        size_t per = cvm_gemm_packed_a_size(s->kern, rows, s->K);
        int64_t total;
        if (!cvm_nn_mul((int64_t)per, s->G * 4, &total)) {
            free(s);
            return cvm_node_error(c->node, CVM_E_LIMIT, "packed weights too large");
        }
        s->packed = cvm_big_alloc((size_t)total > 0 ? (size_t)total : 1);
        if (!s->packed) {
            free(s);
            return cvm_node_error(c->node, CVM_E_NOMEM, "out of memory packing weights");
        }
        s->packed_stride = per;
        const float *wd = w->data;
        for (int64_t gi = 0; gi < s->G; gi++)
            cvm_gemm_prepack_a(s->kern, rows, s->K, wd + gi * s->Cg * rows, 1, rows, 1.0f,
                               s->packed + gi * per);
    }
    *state = s;
    return CVM_OK;
}

typedef struct convt_run {
    const conv_state *s;
    const float *x, *w, *bias;
    float *y, *cols;
    int64_t n, g;
} convt_run;

static const float *convt_get_a(const void *vctx, int64_t b, int64_t m0, int64_t mc, int64_t k0,
                                int64_t kc, float *buf)
{
    const convt_run *r = vctx;
    const conv_state *s = r->s;
    (void)b;
    int64_t rows = s->Mg * s->KK;
    if (s->packed)
        return cvm_gemm_packed_a_block(s->kern, s->packed + r->g * s->packed_stride, rows, k0, kc, m0);
    cvm_gemm_pack_a(s->kern, r->w + r->g * s->Cg * rows, 1, rows, m0, mc, k0, kc, 1.0f, buf);
    return buf;
}

static const float *convt_get_b(const void *vctx, int64_t b, int64_t k0, int64_t kc, int64_t n0,
                                int64_t nc, float *buf)
{
    const convt_run *r = vctx;
    const conv_state *s = r->s;
    (void)b;
    const float *x = r->x + (r->n * s->C + r->g * s->Cg) * s->IN;
    cvm_gemm_pack_b(s->kern, x, s->IN, 1, k0, kc, n0, nc, 1.0f, buf);
    return buf;
}

static float *convt_c_of(const void *vctx, int64_t b)
{
    (void)b;
    return ((const convt_run *)vctx)->cols;
}

/* Kernel extent equal to the stride on every axis (undilated): the taps do
 * not overlap, so each output element takes exactly one column entry (or
 * only the bias, past the input with output_padding) and is written once,
 * a row at a time, instead of the output being cleared and then visited
 * once per tap (PP-OCR's 2x2 stride-2 upsampling: 0.82 ms, 2.4 MB written
 * five times). */
static int convt_tiles(const conv_state *s)
{
    for (int i = 0; i < 3; i++)
        if (s->k[i] != s->s[i] || s->d[i] != 1 || s->pb[i] < 0)
            return 0;
    return 1;
}

static void col2im_tiles(const convt_run *r, int64_t co)
{
    const conv_state *s = r->s;
    const int64_t D = s->in[0], H = s->in[1], W = s->in[2];
    const int64_t OD = s->out[0], OH = s->out[1], OW = s->out[2];
    const int64_t sd = s->s[0], sh = s->s[1], sw = s->s[2];
    int64_t oc = r->g * s->Mg + co;
    float *y = r->y + (r->n * s->M + oc) * s->OUT;
    const float bv = r->bias ? r->bias[oc] : 0.0f;
    const float *col = r->cols + co * s->KK * s->IN;
    for (int64_t od = 0; od < OD; od++) {
        int64_t td = od + s->pb[0], id = td / sd, kd = td % sd;
        for (int64_t oh = 0; oh < OH; oh++, y += OW) {
            int64_t th = oh + s->pb[1], ih = th / sh, kh = th % sh;
            if (id >= D || ih >= H) {
                for (int64_t ow = 0; ow < OW; ow++)
                    y[ow] = bv;
                continue;
            }
            /* the row's taps: tap kw of input column iw lands at iw*sw - pb + kw */
            const float *taps = col + ((kd * sh + kh) * sw) * s->IN + (id * H + ih) * W;
            if (sw == 2 && s->pb[2] == 0 && OW == 2 * W) {
                const float *c0 = taps, *c1 = taps + s->IN;
                for (int64_t iw = 0; iw < W; iw++) {
                    y[2 * iw] = bv + c0[iw];
                    y[2 * iw + 1] = bv + c1[iw];
                }
                continue;
            }
            for (int64_t ow = 0; ow < OW; ow++) {
                int64_t tw = ow + s->pb[2], iw = tw / sw, kw = tw % sw;
                y[ow] = iw < W ? bv + taps[kw * s->IN + iw] : bv;
            }
        }
    }
}

static void col2im_channels(void *arg, size_t begin, size_t end)
{
    const convt_run *r = arg;
    const conv_state *s = r->s;
    if (convt_tiles(s)) {
        for (size_t co = begin; co < end; co++)
            col2im_tiles(r, (int64_t)co);
        return;
    }
    const int64_t D = s->in[0], H = s->in[1], W = s->in[2];
    const int64_t OD = s->out[0], OH = s->out[1], OW = s->out[2];
    for (size_t co = begin; co < end; co++) {
        int64_t oc = r->g * s->Mg + (int64_t)co;
        float *y = r->y + (r->n * s->M + oc) * s->OUT;
        float bv = r->bias ? r->bias[oc] : 0.0f;
        for (int64_t i = 0; i < s->OUT; i++)
            y[i] = bv;
        const float *col = r->cols + (int64_t)co * s->KK * s->IN;
        for (int64_t kd = 0; kd < s->k[0]; kd++)
            for (int64_t kh = 0; kh < s->k[1]; kh++)
                for (int64_t kw = 0; kw < s->k[2]; kw++, col += s->IN)
                    for (int64_t id = 0; id < D; id++) {
                        int64_t od = id * s->s[0] - s->pb[0] + kd * s->d[0];
                        if (od < 0 || od >= OD)
                            continue;
                        for (int64_t ih = 0; ih < H; ih++) {
                            int64_t oh = ih * s->s[1] - s->pb[1] + kh * s->d[1];
                            if (oh < 0 || oh >= OH)
                                continue;
                            const float *cr = col + (id * H + ih) * W;
                            float *yr = y + (od * OH + oh) * OW;
                            for (int64_t iw = 0; iw < W; iw++) {
                                int64_t ow = iw * s->s[2] - s->pb[2] + kw * s->d[2];
                                if (ow >= 0 && ow < OW)
                                    yr[ow] += cr[iw];
                            }
                        }
                    }
    }
}

cvm_status cvm_nn_convt_run(const cvm_kernel_ctx *c)
{
    const conv_state *s = c->state;
    convt_run r = {s, c->in[0]->data, c->in[1]->data,
                   c->n_in > 2 && c->in[2] ? c->in[2]->data : NULL, c->out[0]->data,
                   (float *)((char *)c->scratch + s->gemm_scratch), 0, 0};
    int64_t rows = s->Mg * s->KK;
    for (r.n = 0; r.n < s->N; r.n++)
        for (r.g = 0; r.g < s->G; r.g++) {
            cvm_gemm_op op = {.kern = s->kern, .M = rows, .N = s->IN, .K = s->K, .batch = 1,
                              .get_a = convt_get_a, .get_b = convt_get_b, .ctx = &r,
                              .c_of = convt_c_of, .ldc = s->IN};
            cvm_gemm_run(&op, c->pool, c->scratch, s->slots);
            cvm_parallel_for(c->pool, (size_t)s->Mg, 1, col2im_channels, &r);
        }
    return CVM_OK;
}
