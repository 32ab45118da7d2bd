#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "op_test.h"
#include "backends/cpu/quant_vnni.h"
#include "graph/fuse.h"

/* Expected values: onnxruntime where it supports the case, else numpy
 * (per-channel zero points), pasted as literals. */
static const float dq_x0[] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
static const uint8_t dq_y0[] = {0, 0, 0, 0, 0, 0};
static const float dq_s0 = 1.0f; static const uint8_t dq_z0 = 0;
static const float dq_x1[] = {0.5f, 1.0f, 2.0f, 3.29999995f, 4.0f, 0.100000001f};
static const uint8_t dq_y1[] = {32, 64, 127, 210, 255, 6};
static const float dq_s1 = 0.0156862754f; static const uint8_t dq_z1 = 0;
static const float dq_x2[] = {-0.5f, -1.0f, -2.0f, -3.29999995f, -4.0f, -0.100000001f};
static const uint8_t dq_y2[] = {223, 191, 128, 45, 0, 249};
static const float dq_s2 = 0.0156862754f; static const uint8_t dq_z2 = 255;
static const float dq_x3[] = {-1.5f, -0.699999988f, 0.0f, 0.300000012f, 2.0999999f, 5.25f, 0.00100000005f, -3.0999999f};
static const uint8_t dq_y3[] = {49, 74, 95, 104, 159, 255, 95, 0};
static const float dq_s3 = 0.0327451006f; static const uint8_t dq_z3 = 95;
static const float q_x[] = {0.0f, 0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 300.0f, -300.0f, 1.25f, 3.75f};
static const uint8_t q_u8[] = {10, 11, 13, 15, 9, 7, 255, 0, 12, 18};
static const int8_t q_i8[] = {-3, -2, 0, 2, -4, -6, 127, -128, -1, 5};
static const float qa_x[] = {-5.5f, -4.5f, -3.5f, -2.5f, -1.5f, -0.5f, 0.5f, 1.5f, 2.5f, 3.5f, 4.5f, 5.5f};
static const int8_t qa_y[] = {-10, -8, -16, -12, -1, 0, 2, 4, 8, 12, 2, 3};
static const float dqa_y[] = {-5.5f, -4.5f, -3.5f, -2.5f, -2.0f, 0.0f, 0.5f, 1.5f, 2.5f, 3.5f, 4.0f, 6.0f};
static const uint8_t ci_x[] = {248, 194, 190, 207, 147, 26, 237, 21, 245, 211, 239, 45, 5, 157, 159, 60, 54, 236, 109, 46, 199, 82, 32, 205, 36, 7, 134, 222, 57, 146, 8, 149, 14, 15, 22, 10, 144, 208, 24, 24};
static const uint8_t ci_w[] = {7, 41, 11, 85, 59, 104, 225, 110, 226, 201, 8, 159, 26, 27, 163, 122, 33, 41, 201, 67, 70, 166, 228, 40, 50, 179, 0, 177, 137, 63, 13, 188, 255, 64, 94, 8};
static const int32_t ci_y[] = {-1666, 15130, -34216, 22364, -62354, -42359, -39958, -42683, -14877, -8935, 2875, -23326, -4828, -5773, 15371, -19862, -6825, -6266, 21470, -18002, -16893, 17552, 10023, -5567, 14954, -51163, -19099, -19968, 44531, 52532, 60880, 6836, 30648, 20515, -26580, 29759};
static const uint8_t mi_a[] = {8, 156, 25, 29, 157, 146, 190, 115, 219, 135, 39, 100, 237, 127, 72, 227, 168, 21, 73, 132, 16, 153, 140, 107};
static const uint8_t mi_b[] = {80, 163, 61, 110, 47, 229, 148, 170, 97, 110, 56, 150};
static const int32_t mi_y[] = {18464, -12482, -6807, -19250, 8569, 20251, 4305, -1308, -14841, 60105, -14400, -78695, -46496, 12941, 38068, 6148, -6133, 7380};
static const uint8_t qm_a[] = {74, 193, 62, 44, 238, 239, 226, 188};
static const uint8_t qm_b[] = {14, 205, 185, 193, 73, 238, 205, 244, 160, 110, 68, 201};
static const uint8_t qm_y[] = {128, 62, 93, 102, 140, 209};
static const uint8_t qc_x[] = {79, 104, 193, 72, 88, 197, 234, 81, 148, 48, 7, 166, 149, 40, 126, 166, 40, 54, 59, 178, 13, 153, 135, 222, 59, 191, 239, 74, 193, 154, 82, 240};
static const int8_t qc_w[] = {-13, 39, -31, -128, 57, 82, 48, -109, -52, 49, -76, 121, -19, -34, 34, 113, 69, -123, -28, -52, -78, 119, 38, -93, 122, -30, -31, -48, -25, 65, -120, -117, -67, -83, -57, 100};
static const uint8_t qc_y[] = {70, 69, 82, 100, 83, 105, 147, 45, 108, 98, 86, 100, 105, 83, 95, 110, 155, 113, 180, 133, 137, 142, 61, 24, 127, 61, 0, 3, 116, 125, 15, 57};

/* --------------------------------------------------- DynamicQuantizeLinear */

static void test_dynamic_quantize(void **st)
{
    (void)st;
    const float *xs[4] = {dq_x0, dq_x1, dq_x2, dq_x3};
    const uint8_t *ys[4] = {dq_y0, dq_y1, dq_y2, dq_y3};
    const float scales[4] = {dq_s0, dq_s1, dq_s2, dq_s3};
    const uint8_t zps[4] = {dq_z0, dq_z1, dq_z2, dq_z3};
    const int64_t lens[4] = {6, 6, 6, 8};
    for (int k = 0; k < 4; k++) {
        cvm_node *n;
        cvm_graph *g = mk("DynamicQuantizeLinear", 1, 3, &n);
        cvm_tensor *x = tens(CVM_DTYPE_FLOAT32, 1, &lens[k], xs[k]), *out[3];
        const cvm_tensor *in[1] = {x};
        assert_int_equal(cvm_node_eval(n, 11, 1, in, 3, out, NULL), CVM_OK);
        assert_int_equal(out[0]->dtype, CVM_DTYPE_UINT8);
        assert_memory_equal(out[0]->data, ys[k], (size_t)lens[k]);
        assert_int_equal(out[1]->ndim, 0);
        assert_true(*(float *)out[1]->data == scales[k]);
        assert_int_equal(*(uint8_t *)out[2]->data, zps[k]);
        for (int i = 0; i < 3; i++)
            cvm_tensor_free(out[i]);
        cvm_tensor_free(x);
        cvm_graph_free(g);
    }
    /* a large input through the thread pool: every value within half a step */
    int64_t big = 100003;
    cvm_tensor *x = tens(CVM_DTYPE_FLOAT32, 1, &big, NULL), *out[3];
    for (int64_t i = 0; i < big; i++)
        ((float *)x->data)[i] = (float)((i * 37) % 1001) * 0.01f - 3.0f;
    cvm_threadpool *pool;
    assert_int_equal(cvm_threadpool_create(3, &pool), CVM_OK);
    cvm_node *n;
    cvm_graph *g = mk("DynamicQuantizeLinear", 1, 3, &n);
    const cvm_tensor *in[1] = {x};
    assert_int_equal(cvm_node_eval(n, 11, 1, in, 3, out, pool), CVM_OK);
    float s = *(float *)out[1]->data;
    int z = *(uint8_t *)out[2]->data;
    assert_true(fabsf(s - 10.0f / 255.0f) < 1e-6f);
    for (int64_t i = 0; i < big; i++) {
        float back = ((float)((uint8_t *)out[0]->data)[i] - (float)z) * s;
        assert_true(fabsf(back - ((float *)x->data)[i]) <= 0.5f * s + 1e-5f);
        /* and exactly the spec's saturate(round_half_even(x / scale) + zp) */
        float q = nearbyintf(((float *)x->data)[i] / s) + (float)z;
        q = q < 0.0f ? 0.0f : q > 255.0f ? 255.0f : q;
        assert_int_equal(((uint8_t *)out[0]->data)[i], (int)q);
    }
    for (int i = 0; i < 3; i++)
        cvm_tensor_free(out[i]);
    cvm_graph_free(g);
    cvm_threadpool_free(pool);
    cvm_tensor_free(x);
}

/* ------------------------------------------------- Quantize / Dequantize */

static void test_quantize_dequantize(void **st)
{
    (void)st;
    int64_t ten = 10;
    cvm_tensor *x = tens(CVM_DTYPE_FLOAT32, 1, &ten, q_x);
    float half = 0.5f;
    uint8_t zu = 10;
    int8_t zi = -3;
    cvm_tensor *s = tens(CVM_DTYPE_FLOAT32, 0, NULL, &half), *z8 = tens(CVM_DTYPE_UINT8, 0, NULL, &zu),
               *zs8 = tens(CVM_DTYPE_INT8, 0, NULL, &zi), *y;
    cvm_node *n;
    cvm_graph *g = mk("QuantizeLinear", 3, 1, &n);
    const cvm_tensor *in[3] = {x, s, z8};
    assert_int_equal(cvm_node_eval(n, 13, 3, in, 1, &y, NULL), CVM_OK);
    assert_int_equal(y->dtype, CVM_DTYPE_UINT8);
    assert_memory_equal(y->data, q_u8, sizeof q_u8); /* ties round to even */
    cvm_tensor_free(y);
    in[2] = zs8;
    assert_int_equal(cvm_node_eval(n, 13, 3, in, 1, &y, NULL), CVM_OK);
    assert_int_equal(y->dtype, CVM_DTYPE_INT8);
    assert_memory_equal(y->data, q_i8, sizeof q_i8);
    cvm_tensor_free(y);
    cvm_graph_free(g);

    /* per-axis on [2, 3, 2], axis 1, then back */
    int64_t d[3] = {2, 3, 2}, three = 3;
    const float sa[3] = {0.5f, 0.25f, 2.0f};
    const int8_t za[3] = {1, -2, 0};
    cvm_tensor *xa = tens(CVM_DTYPE_FLOAT32, 3, d, qa_x), *ts = tens(CVM_DTYPE_FLOAT32, 1, &three, sa),
               *tz = tens(CVM_DTYPE_INT8, 1, &three, za), *q, *back;
    g = mk("QuantizeLinear", 3, 1, &n);
    attr_i(n, "axis", 1);
    const cvm_tensor *qi[3] = {xa, ts, tz};
    assert_int_equal(cvm_node_eval(n, 13, 3, qi, 1, &q, NULL), CVM_OK);
    assert_memory_equal(q->data, qa_y, sizeof qa_y);
    cvm_graph_free(g);
    g = mk("DequantizeLinear", 3, 1, &n);
    attr_i(n, "axis", -2);
    const cvm_tensor *di[3] = {q, ts, tz};
    assert_int_equal(cvm_node_eval(n, 13, 3, di, 1, &back, NULL), CVM_OK);
    expect_f32(back, dqa_y, 12, 0.0f);
    cvm_tensor_free(back);
    cvm_graph_free(g);
    /* a per-axis scale that does not fit the axis is a shape error */
    g = mk("DequantizeLinear", 3, 1, &n);
    attr_i(n, "axis", 2);
    assert_int_equal(cvm_node_eval(n, 13, 3, di, 1, &back, NULL), CVM_E_SHAPE);
    cvm_graph_free(g);
    cvm_tensor_free(q);
    cvm_tensor_free(xa);
    cvm_tensor_free(ts);
    cvm_tensor_free(tz);
    cvm_tensor_free(x);
    cvm_tensor_free(s);
    cvm_tensor_free(z8);
    cvm_tensor_free(zs8);
}

/* ---------------------------------------------------------- ConvInteger */

static void test_conv_integer_literal(void **st)
{
    (void)st;
    int64_t xd[4] = {1, 2, 4, 5}, wd[4] = {3, 2, 3, 2}, three = 3;
    const uint8_t wz[3] = {7, 128, 250};
    uint8_t xz = 131;
    cvm_tensor *x = tens(CVM_DTYPE_UINT8, 4, xd, ci_x), *w = tens(CVM_DTYPE_UINT8, 4, wd, ci_w),
               *txz = tens(CVM_DTYPE_UINT8, 0, NULL, &xz), *twz = tens(CVM_DTYPE_UINT8, 1, &three, wz), *y;
    cvm_node *n;
    cvm_graph *g = mk("ConvInteger", 4, 1, &n);
    const int64_t pads[4] = {1, 0, 2, 1}, strides[2] = {2, 1}, dil[2] = {1, 2};
    attr_ints(n, "pads", 4, pads);
    attr_ints(n, "strides", 2, strides);
    attr_ints(n, "dilations", 2, dil);
    const cvm_tensor *in[4] = {x, w, txz, twz};
    assert_int_equal(cvm_node_eval(n, 10, 4, in, 1, &y, NULL), CVM_OK);
    int64_t od[4] = {1, 3, 3, 4};
    expect_shape(y, 4, od);
    assert_int_equal(y->dtype, CVM_DTYPE_INT32);
    assert_memory_equal(y->data, ci_y, sizeof ci_y);
    cvm_tensor_free(y);
    cvm_graph_free(g);
    cvm_tensor_free(x);
    cvm_tensor_free(w);
    cvm_tensor_free(txz);
    cvm_tensor_free(twz);
}

static uint32_t rng_state = 12345;
static uint32_t rnd(void)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return rng_state >> 8;
}

typedef struct conv_cfg {
    int64_t N, C, H, W, M, kh, kw, group;
    int64_t sh, sw, dh, dw, pads[4];
    const char *auto_pad;
    int x_s8, w_s8, per_channel;
    int one_d;   /* x [N, C, W], kernel [kw] (H, kh, sh, dh must be 1) */
    int extreme; /* operands at the ends of their ranges: the largest products */
} conv_cfg;

/* Direct convolution of (x - xz) and (w - wz): the independent reference. */
static void naive_conv(const conv_cfg *c, const cvm_tensor *x, const cvm_tensor *w, int32_t xz,
                       const int32_t *wz, const int64_t *pads, int64_t OH, int64_t OW, int32_t *y)
{
    int64_t Cg = c->C / c->group, Mg = c->M / c->group;
    for (int64_t n = 0; n < c->N; n++)
        for (int64_t m = 0; m < c->M; m++)
            for (int64_t oh = 0; oh < OH; oh++)
                for (int64_t ow = 0; ow < OW; ow++) {
                    int64_t acc = 0, grp = m / Mg;
                    for (int64_t ci = 0; ci < Cg; ci++)
                        for (int64_t a = 0; a < c->kh; a++)
                            for (int64_t b = 0; b < c->kw; b++) {
                                int64_t ih = oh * c->sh - pads[0] + a * c->dh, iw = ow * c->sw - pads[1] + b * c->dw;
                                if (ih < 0 || ih >= c->H || iw < 0 || iw >= c->W)
                                    continue;
                                int64_t xi = ((n * c->C + grp * Cg + ci) * c->H + ih) * c->W + iw;
                                int64_t wi = ((m * Cg + ci) * c->kh + a) * c->kw + b;
                                int32_t xv = c->x_s8 ? ((int8_t *)x->data)[xi] : ((uint8_t *)x->data)[xi];
                                int32_t wv = c->w_s8 ? ((int8_t *)w->data)[wi] : ((uint8_t *)w->data)[wi];
                                acc += (int64_t)(xv - xz) * (wv - wz[m]);
                            }
                    y[((n * c->M + m) * OH + oh) * OW + ow] = (int32_t)acc;
                }
}

static void test_conv_integer_vs_naive(void **st)
{
    (void)st;
    const conv_cfg cfgs[] = {
        {1, 3, 9, 11, 5, 3, 3, 1, 1, 1, 1, 1, {1, 1, 1, 1}, NULL, 0, 0, 0, 0, 0},
        {2, 4, 10, 7, 6, 3, 2, 2, 2, 1, 1, 2, {0, 2, 1, 0}, NULL, 0, 1, 1, 0, 0},
        {1, 6, 8, 8, 6, 3, 3, 6, 2, 2, 1, 1, {1, 1, 1, 1}, NULL, 1, 1, 1, 0, 0},   /* depthwise */
        {1, 70, 5, 6, 33, 1, 1, 1, 1, 1, 1, 1, {0, 0, 0, 0}, NULL, 0, 0, 1, 0, 0}, /* 1x1, odd sizes */
        {1, 8, 7, 9, 4, 3, 3, 1, 2, 2, 1, 1, {0, 0, 0, 0}, "SAME_UPPER", 1, 0, 0, 0, 0},
        {1, 8, 7, 9, 4, 2, 3, 1, 3, 2, 1, 1, {0, 0, 0, 0}, "SAME_LOWER", 0, 1, 0, 0, 0},
        {1, 16, 21, 13, 70, 3, 3, 1, 1, 1, 2, 2, {2, 2, 2, 2}, NULL, 0, 0, 1, 0, 0}, /* many tiles */
        {1, 5, 6, 6, 3, 5, 5, 1, 1, 1, 1, 1, {0, 0, 0, 0}, "VALID", 0, 1, 0, 0, 0},
        /* Shapes aimed at the 8 x 32 VNNI tiles: K not a multiple of 4, rows
         * and positions with tails, K over one 512 block, several 256-position
         * tiles, strides 2 and 3, batch 2, groups with >= 4 rows each. */
        {1, 3, 17, 19, 13, 3, 3, 1, 2, 2, 1, 1, {1, 1, 1, 1}, NULL, 0, 0, 0, 0, 0},
        {2, 70, 9, 10, 21, 3, 3, 1, 1, 1, 1, 1, {1, 1, 1, 1}, NULL, 0, 0, 1, 0, 0},
        {2, 12, 23, 29, 20, 3, 3, 2, 1, 1, 1, 1, {1, 0, 1, 2}, NULL, 1, 0, 1, 0, 0},
        {1, 9, 31, 37, 12, 3, 2, 3, 3, 3, 2, 1, {2, 1, 0, 3}, NULL, 1, 1, 0, 0, 0},
        {2, 40, 24, 18, 33, 1, 1, 1, 1, 1, 1, 1, {0, 0, 0, 0}, NULL, 1, 1, 1, 0, 0}, /* pointwise */
        {1, 7, 16, 41, 9, 5, 5, 1, 2, 2, 3, 2, {4, 4, 4, 4}, NULL, 1, 0, 1, 0, 0},
        {1, 8, 1, 300, 16, 1, 5, 2, 1, 2, 1, 3, {0, 2, 0, 1}, NULL, 0, 1, 1, 1, 0}, /* 1-D */
        {1, 512, 3, 3, 8, 3, 3, 1, 1, 1, 1, 1, {1, 1, 1, 1}, NULL, 0, 1, 0, 0, 1}, /* K 4608 at the limits */
        {1, 512, 3, 3, 8, 3, 3, 1, 1, 1, 1, 1, {1, 1, 1, 1}, NULL, 1, 0, 0, 0, 1},
        {1, 16, 12, 12, 16, 3, 3, 4, 1, 1, 1, 1, {1, 1, 1, 1}, "SAME_UPPER", 1, 1, 1, 0, 0},
    };
    cvm_threadpool *pool;
    assert_int_equal(cvm_threadpool_create(3, &pool), CVM_OK);
    /* Every case runs with AMX-INT8 tiles and with the VNNI products (where
     * this CPU has them), and on the portable path. */
    for (size_t k = 0; k < 3 * (sizeof cfgs / sizeof cfgs[0]); k++) {
        const conv_cfg *c = &cfgs[k / 3];
        cvm_q8_enable(k % 3 != 2);
        cvm_q8_amx_enable(k % 3 == 0);
        int64_t xd[4] = {c->N, c->C, c->H, c->W}, wd[4] = {c->M, c->C / c->group, c->kh, c->kw};
        if (c->one_d) {
            xd[2] = c->W;
            wd[2] = c->kw;
        }
        int rank = c->one_d ? 3 : 4;
        cvm_dtype xt = c->x_s8 ? CVM_DTYPE_INT8 : CVM_DTYPE_UINT8, wt = c->w_s8 ? CVM_DTYPE_INT8 : CVM_DTYPE_UINT8;
        cvm_tensor *x = tens(xt, rank, xd, NULL), *w = tens(wt, rank, wd, NULL);
        for (size_t i = 0; i < x->nbytes; i++)
            ((uint8_t *)x->data)[i] = (uint8_t)rnd();
        for (size_t i = 0; i < w->nbytes; i++)
            ((uint8_t *)w->data)[i] = (uint8_t)rnd();
        uint8_t xzb = (uint8_t)rnd(), wzb[80];
        int32_t wz[80];
        for (int64_t m = 0; m < c->M; m++) {
            wzb[m] = c->per_channel ? (uint8_t)rnd() : (uint8_t)(k * 31);
            wz[m] = c->w_s8 ? (int8_t)wzb[m] : wzb[m];
        }
        if (c->extreme) {
            /* x at its top, zero point at its bottom; w at its bottom, zero
             * point at its top: every term is -255 * 255 (or close). */
            memset(x->data, c->x_s8 ? 0x7f : 0xff, x->nbytes);
            memset(w->data, c->w_s8 ? 0x80 : 0x00, w->nbytes);
            xzb = c->x_s8 ? 0x80 : 0x00;
            for (int64_t m = 0; m < c->M; m++) {
                wzb[m] = c->w_s8 ? 0x7f : 0xff;
                wz[m] = c->w_s8 ? 127 : 255;
            }
        }
        int32_t xz = c->x_s8 ? (int8_t)xzb : xzb;
        int64_t nwz = c->M;
        cvm_tensor *txz = tens(xt, 0, NULL, &xzb);
        cvm_tensor *twz = c->per_channel ? tens(wt, 1, &nwz, wzb) : tens(wt, 0, NULL, wzb);
        cvm_node *n;
        cvm_graph *g = mk("ConvInteger", 4, 1, &n);
        int64_t strides[2] = {c->sh, c->sw}, dil[2] = {c->dh, c->dw}, pads1[2] = {c->pads[1], c->pads[3]};
        int nsp = rank - 2;
        attr_ints(n, "strides", (size_t)nsp, strides + (2 - nsp));
        attr_ints(n, "dilations", (size_t)nsp, dil + (2 - nsp));
        attr_i(n, "group", c->group);
        if (c->auto_pad)
            attr_s(n, "auto_pad", c->auto_pad);
        else if (c->one_d)
            attr_ints(n, "pads", 2, pads1);
        else
            attr_ints(n, "pads", 4, c->pads);
        const cvm_tensor *in[4] = {x, w, txz, twz};
        cvm_tensor *y;
        if (cvm_node_eval(n, 10, 4, in, 1, &y, ((k / 2) ^ k) & 1 ? pool : NULL) != CVM_OK)
            fail_msg("config %zu: %s", k, cvm_last_error());
        /* output size and pads derived by hand per auto_pad */
        int64_t pads[2] = {c->pads[0], c->pads[1]}, OH, OW;
        int64_t ekh = (c->kh - 1) * c->dh + 1, ekw = (c->kw - 1) * c->dw + 1;
        if (c->auto_pad && strcmp(c->auto_pad, "VALID") != 0) {
            OH = (c->H + c->sh - 1) / c->sh;
            OW = (c->W + c->sw - 1) / c->sw;
            int64_t th = (OH - 1) * c->sh + ekh - c->H, tw = (OW - 1) * c->sw + ekw - c->W;
            th = th < 0 ? 0 : th;
            tw = tw < 0 ? 0 : tw;
            int upper = strcmp(c->auto_pad, "SAME_UPPER") == 0;
            pads[0] = upper ? th / 2 : th - th / 2;
            pads[1] = upper ? tw / 2 : tw - tw / 2;
        } else {
            OH = (c->H + c->pads[0] + c->pads[2] - ekh) / c->sh + 1;
            OW = (c->W + c->pads[1] + c->pads[3] - ekw) / c->sw + 1;
            if (c->auto_pad)
                pads[0] = pads[1] = 0;
        }
        int64_t od[4] = {c->N, c->M, OH, OW};
        if (c->one_d)
            od[2] = OW;
        expect_shape(y, rank, od);
        int32_t *want = malloc(sizeof(int32_t) * (size_t)(c->N * c->M * OH * OW));
        naive_conv(c, x, w, xz, wz, pads, OH, OW, want);
        for (int64_t i = 0; i < c->N * c->M * OH * OW; i++)
            if (((int32_t *)y->data)[i] != want[i])
                fail_msg("config %zu element %lld: got %d want %d", k, (long long)i, ((int32_t *)y->data)[i], want[i]);
        free(want);
        cvm_tensor_free(y);
        cvm_graph_free(g);
        cvm_tensor_free(x);
        cvm_tensor_free(w);
        cvm_tensor_free(txz);
        cvm_tensor_free(twz);
    }
    cvm_q8_enable(1);
    cvm_q8_amx_enable(1);
    cvm_threadpool_free(pool);
}

/* ------------------------------------------- ConvInteger -> Cast -> Mul */

/* The int8 convolution both ConvIntegerScaled tests run: random uint8 input
 * and weights, per-channel weight zero points, scale 0.0123, and the naive
 * int32 result. */
typedef struct scaled_case {
    conv_cfg c;
    cvm_tensor *x, *w, *xz, *wz, *s;
    float scale;
    int64_t OH, OW, total;
    int32_t *want;
} scaled_case;

static void scaled_case_make(scaled_case *q)
{
    const conv_cfg c = {2, 12, 11, 13, 20, 3, 3, 2, 2, 1, 1, 2, {1, 2, 0, 1}, NULL, 0, 0, 1, 0, 0};
    q->c = c;
    int64_t xd[4] = {c.N, c.C, c.H, c.W}, wd[4] = {c.M, c.C / c.group, c.kh, c.kw}, nm = c.M;
    q->x = tens(CVM_DTYPE_UINT8, 4, xd, NULL);
    q->w = tens(CVM_DTYPE_UINT8, 4, wd, NULL);
    for (size_t i = 0; i < q->x->nbytes; i++)
        ((uint8_t *)q->x->data)[i] = (uint8_t)rnd();
    for (size_t i = 0; i < q->w->nbytes; i++)
        ((uint8_t *)q->w->data)[i] = (uint8_t)rnd();
    uint8_t xzb = 77, wzb[20];
    int32_t wzi[20];
    for (int m = 0; m < 20; m++)
        wzi[m] = wzb[m] = (uint8_t)rnd();
    q->scale = 0.0123f;
    q->xz = tens(CVM_DTYPE_UINT8, 0, NULL, &xzb);
    q->wz = tens(CVM_DTYPE_UINT8, 1, &nm, wzb);
    q->s = tens(CVM_DTYPE_FLOAT32, 0, NULL, &q->scale);
    int64_t pads[2] = {1, 2};
    q->OH = (c.H + 1 - 3) / 2 + 1;
    q->OW = (c.W + 3 - 5) / 1 + 1;
    q->total = c.N * c.M * q->OH * q->OW;
    q->want = malloc(sizeof(int32_t) * (size_t)q->total);
    naive_conv(&c, q->x, q->w, xzb, wzi, pads, q->OH, q->OW, q->want);
}

static void scaled_case_free(scaled_case *q)
{
    free(q->want);
    cvm_tensor_free(q->x);
    cvm_tensor_free(q->w);
    cvm_tensor_free(q->xz);
    cvm_tensor_free(q->wz);
    cvm_tensor_free(q->s);
}

/* A ConvIntegerScaled node with c's geometry and n_in inputs. */
static cvm_graph *scaled_node(const conv_cfg *c, int n_in, cvm_node **n)
{
    cvm_graph *g = mk("ConvIntegerScaled", n_in, 1, n);
    free((*n)->domain);
    (*n)->domain = strdup("cvm");
    int64_t strides[2] = {c->sh, c->sw}, dil[2] = {c->dh, c->dw};
    attr_ints(*n, "strides", 2, strides);
    attr_ints(*n, "dilations", 2, dil);
    attr_ints(*n, "pads", 4, c->pads);
    attr_i(*n, "group", c->group);
    return g;
}

/* The rewrite (part of cvm_graph_fuse) and the fused kernel. */
static void test_conv_integer_scaled(void **st)
{
    (void)st;
    int registered = cvm_schema_find("cvm", "ConvIntegerScaled") != NULL;
    cvm_graph *g;
    assert_int_equal(cvm_graph_create(&g), CVM_OK);
    int x, w, xz, wz, ci, cf, s, y;
    assert_int_equal(cvm_graph_value(g, "x", &x), CVM_OK);
    assert_int_equal(cvm_graph_value(g, "w", &w), CVM_OK);
    assert_int_equal(cvm_graph_value(g, "xz", &xz), CVM_OK);
    assert_int_equal(cvm_graph_value(g, "wz", &wz), CVM_OK);
    assert_int_equal(cvm_graph_value(g, "ci", &ci), CVM_OK);
    assert_int_equal(cvm_graph_value(g, "cf", &cf), CVM_OK);
    assert_int_equal(cvm_graph_value(g, "s", &s), CVM_OK);
    assert_int_equal(cvm_graph_value(g, "y", &y), CVM_OK);
    float sv = 0.25f;
    g->values[s].init = tens(CVM_DTYPE_FLOAT32, 0, NULL, &sv);
    int idx, cin[4] = {x, w, xz, wz}, cast_in[1] = {ci}, mul_in[2] = {s, cf};
    assert_int_equal(cvm_graph_add_node(g, "ConvInteger", "", "conv", 4, cin, 1, &ci, &idx), CVM_OK);
    assert_int_equal(cvm_graph_add_node(g, "Cast", "", "cast", 1, cast_in, 1, &cf, &idx), CVM_OK);
    attr_i(&g->nodes[idx], "to", CVM_DTYPE_FLOAT32);
    assert_int_equal(cvm_graph_add_node(g, "Mul", "", "mul", 2, mul_in, 1, &y, &idx), CVM_OK);
    assert_int_equal(cvm_graph_fuse(g), CVM_OK);
    assert_int_equal(g->n_nodes, registered ? 1 : 3);
    if (registered) {
        assert_string_equal(g->nodes[0].op_type, "ConvIntegerScaled");
        assert_int_equal(g->nodes[0].n_in, 5);
        assert_int_equal(g->nodes[0].in[4], s);
        assert_int_equal(g->nodes[0].out[0], y);
    }
    cvm_graph_free(g);
    if (!registered)
        return;

    /* The kernel on both paths against the naive conv, converted and scaled
     * as Cast and Mul would: float(int32) * scale, bit for bit. */
    scaled_case q;
    scaled_case_make(&q);
    const conv_cfg c = q.c;
    cvm_tensor *tx = q.x, *tw = q.w, *txz = q.xz, *twz = q.wz, *ts = q.s;
    const float scale = q.scale;
    const int64_t OH = q.OH, OW = q.OW, total = q.total;
    const int32_t *want = q.want;
    for (int on = 1; on >= 0; on--) {
        cvm_q8_enable(on);
        cvm_node *n;
        cvm_graph *g2 = scaled_node(&c, 5, &n);
        const cvm_tensor *in[5] = {tx, tw, txz, twz, ts};
        cvm_tensor *out;
        if (cvm_node_eval(n, 10, 5, in, 1, &out, NULL) != CVM_OK)
            fail_msg("%s", cvm_last_error());
        assert_int_equal(out->dtype, CVM_DTYPE_FLOAT32);
        int64_t od[4] = {c.N, c.M, OH, OW};
        expect_shape(out, 4, od);
        for (int64_t i = 0; i < total; i++)
            if (((float *)out->data)[i] != (float)want[i] * scale)
                fail_msg("element %lld: got %g want %g", (long long)i, ((float *)out->data)[i],
                         (float)want[i] * scale);
        cvm_tensor_free(out);
        cvm_graph_free(g2);
    }
    cvm_q8_enable(1);
    scaled_case_free(&q);
}

/* ConvInteger -> Cast -> Mul(scale) -> Add(bias) -> Sigmoid -> Mul (YOLO's
 * dynamically quantised convolution with its bias and SiLU) becomes one
 * ConvIntegerScaled with the residual input and the activation; the kernel
 * then matches the separate operations on both paths, for a per-channel, a
 * full-shape and a partly broadcast residual. */
static void test_conv_integer_scaled_epilogue(void **st)
{
    (void)st;
    if (!cvm_schema_find("cvm", "ConvIntegerScaled"))
        skip();
    cvm_graph *g;
    assert_int_equal(cvm_graph_create(&g), CVM_OK);
    int x, w, xz, wz, ci, cf, s, sc, b, a, sg, y;
    assert_int_equal(cvm_graph_value(g, "x", &x), CVM_OK);
    assert_int_equal(cvm_graph_value(g, "w", &w), CVM_OK);
    assert_int_equal(cvm_graph_value(g, "xz", &xz), CVM_OK);
    assert_int_equal(cvm_graph_value(g, "wz", &wz), CVM_OK);
    assert_int_equal(cvm_graph_value(g, "ci", &ci), CVM_OK);
    assert_int_equal(cvm_graph_value(g, "cf", &cf), CVM_OK);
    assert_int_equal(cvm_graph_value(g, "s", &s), CVM_OK);
    assert_int_equal(cvm_graph_value(g, "sc", &sc), CVM_OK);
    assert_int_equal(cvm_graph_value(g, "b", &b), CVM_OK);
    assert_int_equal(cvm_graph_value(g, "a", &a), CVM_OK);
    assert_int_equal(cvm_graph_value(g, "sg", &sg), CVM_OK);
    assert_int_equal(cvm_graph_value(g, "y", &y), CVM_OK);
    float sv = 0.25f;
    g->values[s].init = tens(CVM_DTYPE_FLOAT32, 0, NULL, &sv);
    int idx, cin[4] = {x, w, xz, wz}, cast_in[1] = {ci}, mul_in[2] = {s, cf}, add_in[2] = {sc, b},
             sig_in[1] = {a}, silu_in[2] = {a, sg};
    assert_int_equal(cvm_graph_add_node(g, "ConvInteger", "", "conv", 4, cin, 1, &ci, &idx), CVM_OK);
    assert_int_equal(cvm_graph_add_node(g, "Cast", "", "cast", 1, cast_in, 1, &cf, &idx), CVM_OK);
    attr_i(&g->nodes[idx], "to", CVM_DTYPE_FLOAT32);
    assert_int_equal(cvm_graph_add_node(g, "Mul", "", "mul", 2, mul_in, 1, &sc, &idx), CVM_OK);
    assert_int_equal(cvm_graph_add_node(g, "Add", "", "bias", 2, add_in, 1, &a, &idx), CVM_OK);
    assert_int_equal(cvm_graph_add_node(g, "Sigmoid", "", "sig", 1, sig_in, 1, &sg, &idx), CVM_OK);
    assert_int_equal(cvm_graph_add_node(g, "Mul", "", "silu", 2, silu_in, 1, &y, &idx), CVM_OK);
    assert_int_equal(cvm_graph_fuse(g), CVM_OK);
    assert_int_equal(g->n_nodes, 1);
    const cvm_node *fn = &g->nodes[0];
    assert_string_equal(fn->op_type, "ConvIntegerScaled");
    assert_int_equal(fn->n_in, 6);
    assert_int_equal(fn->in[5], b);
    assert_int_equal(fn->out[0], y);
    int act;
    float al, be;
    assert_int_equal(cvm_fused_act_parse(fn, &act, &al, &be), CVM_OK);
    assert_int_equal(act, CVM_FUSED_SILU);
    assert_int_equal(cvm_attr_int(fn, "add_first", 0), 1);
    cvm_graph_free(g);

    scaled_case q;
    scaled_case_make(&q);
    const conv_cfg c = q.c;
    cvm_tensor *tx = q.x, *tw = q.w, *txz = q.xz, *twz = q.wz, *ts = q.s;
    const float scale = q.scale;
    const int64_t OH = q.OH, OW = q.OW, total = q.total;
    const int32_t *want = q.want;
    /* residuals: per channel [1, M, 1, 1], the full output, and [M, OH, 1] */
    int64_t rdims[3][4] = {{1, c.M, 1, 1}, {c.N, c.M, OH, OW}, {c.M, OH, 1, 0}};
    int rrank[3] = {4, 4, 3};
    for (int rc = 0; rc < 3; rc++) {
        cvm_tensor *tr = tens(CVM_DTYPE_FLOAT32, rrank[rc], rdims[rc], NULL);
        int64_t rn = cvm_tensor_numel(tr);
        for (int64_t i = 0; i < rn; i++)
            ((float *)tr->data)[i] = (float)((int)(rnd() % 2001) - 1000) * 0.01f;
        /* SiLU after the residual (YOLO), ReLU before it */
        int use_silu = rc != 2, add_first = rc != 2;
        for (int on = 1; on >= 0; on--) {
            cvm_q8_enable(on);
            cvm_node *n;
            cvm_graph *g2 = scaled_node(&c, 6, &n);
            attr_s(n, "activation", use_silu ? "SiLU" : "Relu");
            attr_i(n, "add_first", add_first);
            const cvm_tensor *in[6] = {tx, tw, txz, twz, ts, tr};
            cvm_tensor *out;
            if (cvm_node_eval(n, 10, 6, in, 1, &out, NULL) != CVM_OK)
                fail_msg("%s", cvm_last_error());
            for (int64_t i = 0; i < total; i++) {
                int64_t ow = i % OW, oh = i / OW % OH, m = i / (OW * OH) % c.M, nn = i / (OW * OH * c.M);
                float r = rc == 0 ? ((float *)tr->data)[m]
                          : rc == 1 ? ((float *)tr->data)[i]
                                    : ((float *)tr->data)[m * OH + oh];
                (void)nn, (void)ow;
                double v = (double)((float)want[i] * scale), yv;
                if (add_first) {
                    v += r;
                    yv = use_silu ? v / (1.0 + exp(-v)) : (v > 0 ? v : 0);
                } else {
                    yv = (use_silu ? v / (1.0 + exp(-v)) : (v > 0 ? v : 0)) + r;
                }
                double got = ((float *)out->data)[i];
                if (fabs(got - yv) > 1e-5 * fabs(yv) + 1e-5)
                    fail_msg("residual %d, q8 %d, element %lld: got %.7g want %.7g", rc, on, (long long)i, got,
                             yv);
            }
            cvm_tensor_free(out);
            cvm_graph_free(g2);
        }
        cvm_tensor_free(tr);
    }
    cvm_q8_enable(1);
    scaled_case_free(&q);
}

/* -------------------------------------------------------- MatMulInteger */

static void test_matmul_integer(void **st)
{
    (void)st;
    int64_t ad[3] = {2, 3, 4}, bd[2] = {4, 3}, three = 3;
    const uint8_t az[3] = {12, 200, 99}, bz[3] = {5, 128, 255};
    cvm_tensor *a = tens(CVM_DTYPE_UINT8, 3, ad, mi_a), *b = tens(CVM_DTYPE_UINT8, 2, bd, mi_b),
               *taz = tens(CVM_DTYPE_UINT8, 1, &three, az), *tbz = tens(CVM_DTYPE_UINT8, 1, &three, bz), *y;
    cvm_node *n;
    cvm_graph *g = mk("MatMulInteger", 4, 1, &n);
    const cvm_tensor *in[4] = {a, b, taz, tbz};
    assert_int_equal(cvm_node_eval(n, 10, 4, in, 1, &y, NULL), CVM_OK);
    int64_t od[3] = {2, 3, 3};
    expect_shape(y, 3, od);
    assert_memory_equal(y->data, mi_y, sizeof mi_y);
    cvm_tensor_free(y);
    cvm_graph_free(g);
    cvm_tensor_free(a);
    cvm_tensor_free(b);
    cvm_tensor_free(taz);
    cvm_tensor_free(tbz);

    /* broadcast batch [3,1,M,K] x [2,K,N] with int8 A, uint8 B, scalar zero points */
    const int64_t M = 37, K = 45, N = 19;
    int64_t a4[4] = {3, 1, M, K}, b3[3] = {2, K, N};
    a = tens(CVM_DTYPE_INT8, 4, a4, NULL);
    b = tens(CVM_DTYPE_UINT8, 3, b3, NULL);
    for (size_t i = 0; i < a->nbytes; i++)
        ((uint8_t *)a->data)[i] = (uint8_t)rnd();
    for (size_t i = 0; i < b->nbytes; i++)
        ((uint8_t *)b->data)[i] = (uint8_t)rnd();
    int8_t azs = -17;
    uint8_t bzs = 140;
    taz = tens(CVM_DTYPE_INT8, 0, NULL, &azs);
    tbz = tens(CVM_DTYPE_UINT8, 0, NULL, &bzs);
    cvm_threadpool *pool;
    assert_int_equal(cvm_threadpool_create(3, &pool), CVM_OK);
    g = mk("MatMulInteger", 4, 1, &n);
    const cvm_tensor *in2[4] = {a, b, taz, tbz};
    assert_int_equal(cvm_node_eval(n, 10, 4, in2, 1, &y, pool), CVM_OK);
    int64_t od4[4] = {3, 2, M, N};
    expect_shape(y, 4, od4);
    for (int64_t i = 0; i < 3; i++)
        for (int64_t j = 0; j < 2; j++)
            for (int64_t m = 0; m < M; m++)
                for (int64_t q = 0; q < N; q++) {
                    int64_t s = 0;
                    for (int64_t k = 0; k < K; k++)
                        s += (int64_t)(((int8_t *)a->data)[(i * M + m) * K + k] - azs) *
                             (((uint8_t *)b->data)[(j * K + k) * N + q] - bzs);
                    assert_int_equal(((int32_t *)y->data)[((i * 2 + j) * M + m) * N + q], s);
                }
    cvm_tensor_free(y);
    cvm_graph_free(g);
    cvm_threadpool_free(pool);
    cvm_tensor_free(a);
    cvm_tensor_free(b);
    cvm_tensor_free(taz);
    cvm_tensor_free(tbz);
}

/* ---------------------------------------------- QLinearMatMul / QLinearConv */

static void test_qlinear(void **st)
{
    (void)st;
    float s1 = 0.02f, s2 = 0.01f, s3 = 0.05f;
    uint8_t z1 = 120, z2 = 130, z3 = 100;
    int64_t ad[2] = {2, 4}, bd[2] = {4, 3};
    cvm_tensor *t[8] = {tens(CVM_DTYPE_UINT8, 2, ad, qm_a), tens(CVM_DTYPE_FLOAT32, 0, NULL, &s1),
                        tens(CVM_DTYPE_UINT8, 0, NULL, &z1), tens(CVM_DTYPE_UINT8, 2, bd, qm_b),
                        tens(CVM_DTYPE_FLOAT32, 0, NULL, &s2), tens(CVM_DTYPE_UINT8, 0, NULL, &z2),
                        tens(CVM_DTYPE_FLOAT32, 0, NULL, &s3), tens(CVM_DTYPE_UINT8, 0, NULL, &z3)};
    cvm_node *n;
    cvm_graph *g = mk("QLinearMatMul", 8, 1, &n);
    cvm_tensor *y;
    assert_int_equal(cvm_node_eval(n, 10, 8, (const cvm_tensor *const *)t, 1, &y, NULL), CVM_OK);
    assert_memory_equal(y->data, qm_y, sizeof qm_y);
    cvm_tensor_free(y);
    cvm_graph_free(g);
    for (int i = 0; i < 8; i++)
        cvm_tensor_free(t[i]);

    float xs = 0.03f, ws[2] = {0.01f, 0.02f}, ys = 0.2f;
    uint8_t xz = 128, yz = 90;
    int8_t wz[2] = {0, 0};
    int32_t bias[2] = {1000, -2000};
    int64_t xd[4] = {1, 2, 4, 4}, wd[4] = {2, 2, 3, 3}, two = 2;
    cvm_tensor *c[9] = {tens(CVM_DTYPE_UINT8, 4, xd, qc_x), tens(CVM_DTYPE_FLOAT32, 0, NULL, &xs),
                        tens(CVM_DTYPE_UINT8, 0, NULL, &xz), tens(CVM_DTYPE_INT8, 4, wd, qc_w),
                        tens(CVM_DTYPE_FLOAT32, 1, &two, ws), tens(CVM_DTYPE_INT8, 1, &two, wz),
                        tens(CVM_DTYPE_FLOAT32, 0, NULL, &ys), tens(CVM_DTYPE_UINT8, 0, NULL, &yz),
                        tens(CVM_DTYPE_INT32, 1, &two, bias)};
    g = mk("QLinearConv", 9, 1, &n);
    const int64_t pads[4] = {1, 1, 1, 1};
    attr_ints(n, "pads", 4, pads);
    assert_int_equal(cvm_node_eval(n, 10, 9, (const cvm_tensor *const *)c, 1, &y, NULL), CVM_OK);
    int64_t od[4] = {1, 2, 4, 4};
    expect_shape(y, 4, od);
    assert_memory_equal(y->data, qc_y, sizeof qc_y);
    cvm_tensor_free(y);
    cvm_graph_free(g);
    for (int i = 0; i < 9; i++)
        cvm_tensor_free(c[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dynamic_quantize),      cmocka_unit_test(test_quantize_dequantize),
        cmocka_unit_test(test_conv_integer_literal),  cmocka_unit_test(test_conv_integer_vs_naive),
        cmocka_unit_test(test_matmul_integer),        cmocka_unit_test(test_qlinear),
        cmocka_unit_test(test_conv_integer_scaled),
        cmocka_unit_test(test_conv_integer_scaled_epilogue),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
