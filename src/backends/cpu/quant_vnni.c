#include "backends/cpu/quant_vnni.h"

#include "backends/backend.h"
#include "backends/cpu/bf16_tiles.h"

#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define Q8_X86 1
#define Q8_TARGET __attribute__((target("avx512f,avx512bw,avx512vnni")))
#define Q8_TARGET_F __attribute__((target("avx512f")))
#endif

#define Q8_KC 512 /* patch values per packed block: the block stays in L2 */
#define Q8_NC 256 /* output positions per work item */
#define Q8_MR 8
#define Q8_NR 32

/* Tests flip this to exercise the portable path on a VNNI machine. */
static volatile int q8_on = 1;
static volatile int q8_amx_on = 1;

void cvm_q8_enable(int on) { q8_on = on; }
void cvm_q8_amx_enable(int on) { q8_amx_on = on; }

int cvm_q8_available(void)
{
#ifdef Q8_X86
    __builtin_cpu_init();
    return q8_on && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vnni");
#else
    return 0;
#endif
}

void cvm_q8_conv_free(cvm_q8_conv *s)
{
    if (!s)
        return;
    free(s->w);
    free(s->rowsum);
    free(s->wzs);
    free(s->wa);
    s->w = NULL;
    s->wa = NULL;
    s->rowsum = s->wzs = NULL;
}

int cvm_q8_conv_init(cvm_q8_conv *s, const cvm_conv_geom *g, int64_t K, const void *w, int w_s8,
                     const void *wz, int64_t nwz, int slots)
{
    memset(s, 0, sizeof *s);
    s->g = *g;
    s->K = K;
    s->K4 = (K + 3) & ~(int64_t)3;
#ifdef Q8_X86
    /* AMX A tiles hold 64 bytes of K per row: K is padded to 64 (the padding
     * weights are zero and the padding activations are written as zeros) */
    s->amx = q8_amx_on && cvm_amx_int8();
    if (s->amx)
        s->K4 = (K + 63) & ~(int64_t)63;
#endif
    s->Mg = g->M / g->group;
    s->Mgp = (s->Mg + Q8_MR - 1) / Q8_MR * Q8_MR;
    s->P = 1;
    for (int i = 0; i < g->nsp; i++)
        s->P *= g->out[i];
    s->slots = slots < 1 ? 1 : slots;
    /* Block, four staging rows and the column sums of one work item. */
    s->slot_bytes = (size_t)Q8_KC * Q8_NC + 4 * Q8_NC + Q8_NC * sizeof(int32_t) + 64;
    size_t wbytes = (size_t)g->group * (size_t)s->Mgp * (size_t)s->K4;
    s->w = calloc(wbytes ? wbytes : 1, 1);
    s->rowsum = calloc((size_t)(g->M ? g->M : 1), sizeof(int32_t));
    s->wzs = calloc((size_t)(g->M ? g->M : 1), sizeof(int32_t));
    if (s->amx) {
        s->arows = (s->Mgp + 31) / 32 * 32 + 32; /* a 32-row step from any 8-row panel stays inside */
        s->wa = calloc((size_t)g->group * (size_t)(s->K4 / 64) * (size_t)s->arows * 64, 1);
    }
    if (!s->w || !s->rowsum || !s->wzs || (s->amx && !s->wa)) {
        cvm_q8_conv_free(s);
        return -1;
    }
    for (int64_t grp = 0; grp < g->group; grp++)
        for (int64_t m = 0; m < s->Mg; m++) {
            int64_t mm = grp * s->Mg + m;
            int32_t z = 0;
            if (nwz > 0) {
                int64_t zi = nwz == 1 ? 0 : mm;
                z = w_s8 ? ((const int8_t *)wz)[zi] : ((const uint8_t *)wz)[zi] - 128;
            }
            s->wzs[mm] = z;
            int8_t *dst = s->w + (size_t)(grp * s->Mgp + m / Q8_MR * Q8_MR) * (size_t)s->K4 + (size_t)(m % Q8_MR) * 4;
            int32_t sum = 0;
            for (int64_t k = 0; k < K; k++) {
                int32_t v = w_s8 ? ((const int8_t *)w)[mm * K + k] : ((const uint8_t *)w)[mm * K + k] - 128;
                dst[(k / 4) * (Q8_MR * 4) + k % 4] = (int8_t)v;
                if (s->amx)
                    s->wa[((size_t)(grp * (s->K4 / 64) + k / 64) * (size_t)s->arows + (size_t)m) * 64 + k % 64] =
                        (int8_t)v;
                sum += v;
            }
            s->rowsum[mm] = sum;
        }
    return 0;
}

size_t cvm_q8_conv_scratch(const cvm_q8_conv *s)
{
    return ((size_t)(s->g.M ? s->g.M : 1) * sizeof(int32_t) + 63) / 64 * 64 + (size_t)s->slots * s->slot_bytes + 64;
}

#ifdef Q8_X86

typedef struct q8_job {
    const cvm_q8_conv *s;
    const uint8_t *x;
    uint8_t flip, fill;
    int32_t *y;
    const int32_t *rowc;
    const float *scale;
    cvm_q8_epi_fn epi;
    const void *epi_ctx;
    char *slots;
    int T;
    int64_t ntiles, msplit, items; /* items: (image, group, position tile, row part) */
} q8_job;

static inline __mmask64 q8_mask(int64_t n)
{
    return n >= 64 ? ~(__mmask64)0 : n <= 0 ? (__mmask64)0 : (~(__mmask64)0) >> (64 - n);
}

/* Masked AVX-512 moves: segments are short (an output row of a small
 * feature map), so a libc call per segment would cost more than the copy;
 * masked loads never touch bytes outside the mask. */
Q8_TARGET static inline void q8_fill(uint8_t *d, int64_t n, __m512i fv)
{
    for (; n >= 64; n -= 64, d += 64)
        _mm512_storeu_si512(d, fv);
    if (n > 0)
        _mm512_mask_storeu_epi8(d, q8_mask(n), fv);
}

Q8_TARGET static inline void q8_copy1(uint8_t *d, const uint8_t *s, int64_t n, __m512i flip)
{
    for (; n >= 64; n -= 64, d += 64, s += 64)
        _mm512_storeu_si512(d, _mm512_xor_si512(_mm512_loadu_si512(s), flip));
    if (n > 0) {
        __mmask64 m = q8_mask(n);
        _mm512_mask_storeu_epi8(d, m, _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, s), flip));
    }
}

/* d[i] = s[2 i]: 128 source bytes give 64 by packing the even bytes. */
Q8_TARGET static inline void q8_copy2(uint8_t *d, const uint8_t *s, int64_t n, __m512i flip)
{
    const __m512i lo8 = _mm512_set1_epi16(0x00ff);
    const __m512i order = _mm512_set_epi64(7, 5, 3, 1, 6, 4, 2, 0);
    while (n > 0) {
        int64_t src_n = 2 * (n < 64 ? n : 64) - 1;
        __m512i v0 = _mm512_maskz_loadu_epi8(q8_mask(src_n), s);
        __m512i v1 = _mm512_maskz_loadu_epi8(q8_mask(src_n - 64), s + 64);
        __m512i p = _mm512_packus_epi16(_mm512_and_si512(v0, lo8), _mm512_and_si512(v1, lo8));
        p = _mm512_xor_si512(_mm512_permutexvar_epi64(order, p), flip);
        _mm512_mask_storeu_epi8(d, q8_mask(n), p);
        n -= 64;
        d += 64;
        s += 128;
    }
}

/* One im2col row: patch element (a, b) of one input channel for output
 * positions p0 .. p0+nc, padding read as the zero point. */
Q8_TARGET static void gather_row(const cvm_q8_conv *s, const uint8_t *xc, int64_t a, int64_t b, int64_t p0,
                                 int64_t nc, uint8_t fill, uint8_t flip, uint8_t *dst)
{
    const cvm_conv_geom *g = &s->g;
    const int two = g->nsp == 2;
    const int64_t H = two ? g->in[0] : 1, W = two ? g->in[1] : g->in[0];
    const int64_t Wo = two ? g->out[1] : g->out[0];
    const int64_t sh = two ? g->stride[0] : 1, sw = two ? g->stride[1] : g->stride[0];
    const int64_t dh = two ? g->dil[0] : 1, dw = two ? g->dil[1] : g->dil[0];
    const int64_t ph = two ? g->pad0[0] : 0, pw = two ? g->pad0[1] : g->pad0[0];
    const int64_t off = b * dw - pw; /* iw = ow * sw + off */
    const __m512i fv = _mm512_set1_epi8((char)fill), fl = _mm512_set1_epi8((char)flip);
    /* Output columns [lo, hi) read inside the row. */
    int64_t lo = off >= 0 ? 0 : (-off + sw - 1) / sw;
    int64_t hi = W - off <= 0 ? 0 : (W - off + sw - 1) / sw;
    hi = hi < Wo ? hi : Wo;
    lo = lo < hi ? lo : hi;
    int64_t oh = p0 / Wo, ow = p0 % Wo, done = 0;
    while (done < nc) {
        int64_t seg = Wo - ow < nc - done ? Wo - ow : nc - done, e = ow + seg;
        int64_t ih = oh * sh - ph + a * dh;
        uint8_t *d = dst + done;
        if (ih < 0 || ih >= H) {
            q8_fill(d, seg, fv);
        } else {
            const uint8_t *xr = xc + ih * W;
            int64_t v0 = ow > lo ? ow : lo, v1 = e < hi ? e : hi;
            v0 = v0 < e ? v0 : e;
            v1 = v1 > v0 ? v1 : v0;
            q8_fill(d, v0 - ow, fv);
            uint8_t *dv = d + (v0 - ow);
            const uint8_t *src = xr + v0 * sw + off;
            int64_t n = v1 - v0;
            if (sw == 1)
                q8_copy1(dv, src, n, fl);
            else if (sw == 2)
                q8_copy2(dv, src, n, fl);
            else
                for (int64_t i = 0; i < n; i++)
                    dv[i] = src[i * sw] ^ flip;
            q8_fill(d + (v1 - ow), e - v1, fv);
        }
        done += seg;
        ow = 0;
        oh++;
    }
}

/* Rows r0..r3 (32 bytes each) into 32 dwords of 4 consecutive patch bytes. */
static inline void interleave4(const uint8_t *r0, const uint8_t *r1, const uint8_t *r2, const uint8_t *r3,
                               uint8_t *dst)
{
    for (int h = 0; h < 2; h++) {
        __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(r0 + 16 * h));
        __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(r1 + 16 * h));
        __m128i c = _mm_loadu_si128((const __m128i *)(const void *)(r2 + 16 * h));
        __m128i d = _mm_loadu_si128((const __m128i *)(const void *)(r3 + 16 * h));
        __m128i ab0 = _mm_unpacklo_epi8(a, b), ab1 = _mm_unpackhi_epi8(a, b);
        __m128i cd0 = _mm_unpacklo_epi8(c, d), cd1 = _mm_unpackhi_epi8(c, d);
        __m128i *o = (__m128i *)(void *)(dst + 64 * h);
        _mm_storeu_si128(o + 0, _mm_unpacklo_epi16(ab0, cd0));
        _mm_storeu_si128(o + 1, _mm_unpackhi_epi16(ab0, cd0));
        _mm_storeu_si128(o + 2, _mm_unpacklo_epi16(ab1, cd1));
        _mm_storeu_si128(o + 3, _mm_unpackhi_epi16(ab1, cd1));
    }
}

/* 8 x 32 tile of int32 over `steps` groups of 4 patch values.  With colsum
 * set (the last K block) the zero-point terms are applied before storing. */
Q8_TARGET static void q8_ukr(int64_t steps, const int8_t *a, const uint8_t *b, int32_t *c, int64_t ldc, int mr,
                             int nr, int acc, const int32_t *colsum, const int32_t *wzs, const int32_t *rowc,
                             const float *scale)
{
    __m512i c00 = _mm512_setzero_si512(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m512i c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    __m512i c60 = c00, c61 = c00, c70 = c00, c71 = c00;
#define Q8_STEP(r, x0, x1)                                  \
    do {                                                    \
        int32_t wv;                                         \
        memcpy(&wv, a + 4 * (r), 4);                        \
        __m512i av = _mm512_set1_epi32(wv);                 \
        x0 = _mm512_dpbusd_epi32(x0, b0, av);               \
        x1 = _mm512_dpbusd_epi32(x1, b1, av);               \
    } while (0)
    for (int64_t k = 0; k < steps; k++) {
        __m512i b0 = _mm512_loadu_si512(b), b1 = _mm512_loadu_si512(b + 64);
        Q8_STEP(0, c00, c01);
        Q8_STEP(1, c10, c11);
        Q8_STEP(2, c20, c21);
        Q8_STEP(3, c30, c31);
        Q8_STEP(4, c40, c41);
        Q8_STEP(5, c50, c51);
        Q8_STEP(6, c60, c61);
        Q8_STEP(7, c70, c71);
        a += 4 * Q8_MR;
        b += 4 * Q8_NR;
    }
#undef Q8_STEP
    __mmask16 m0 = nr >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nr) - 1u);
    __mmask16 m1 = nr >= 32 ? (__mmask16)0xFFFF : nr > 16 ? (__mmask16)((1u << (nr - 16)) - 1u) : (__mmask16)0;
    __m512i s0 = _mm512_setzero_si512(), s1 = s0;
    const __m512 sv = _mm512_set1_ps(scale ? *scale : 1.0f);
    if (colsum) {
        s0 = _mm512_loadu_si512(colsum);
        s1 = _mm512_loadu_si512(colsum + 16);
    }
#define Q8_ROW(r, x0, x1)                                                              \
    do {                                                                               \
        if ((r) < mr) {                                                                \
            int32_t *cr = c + (r) * ldc;                                               \
            if (acc) {                                                                 \
                x0 = _mm512_add_epi32(x0, _mm512_maskz_loadu_epi32(m0, cr));           \
                x1 = _mm512_add_epi32(x1, _mm512_maskz_loadu_epi32(m1, cr + 16));      \
            }                                                                          \
            if (colsum) {                                                              \
                __m512i z = _mm512_set1_epi32(wzs[r]), rc = _mm512_set1_epi32(rowc[r]); \
                x0 = _mm512_add_epi32(_mm512_sub_epi32(x0, _mm512_mullo_epi32(s0, z)), rc); \
                x1 = _mm512_add_epi32(_mm512_sub_epi32(x1, _mm512_mullo_epi32(s1, z)), rc); \
            }                                                                          \
            if (colsum && scale) {                                                     \
                _mm512_mask_storeu_ps(cr, m0, _mm512_mul_ps(_mm512_cvtepi32_ps(x0), sv));  \
                _mm512_mask_storeu_ps(cr + 16, m1, _mm512_mul_ps(_mm512_cvtepi32_ps(x1), sv)); \
            } else {                                                                   \
                _mm512_mask_storeu_epi32(cr, m0, x0);                                  \
                _mm512_mask_storeu_epi32(cr + 16, m1, x1);                             \
            }                                                                          \
        }                                                                              \
    } while (0)
    Q8_ROW(0, c00, c01);
    Q8_ROW(1, c10, c11);
    Q8_ROW(2, c20, c21);
    Q8_ROW(3, c30, c31);
    Q8_ROW(4, c40, c41);
    Q8_ROW(5, c50, c51);
    Q8_ROW(6, c60, c61);
    Q8_ROW(7, c70, c71);
#undef Q8_ROW
}

/* colsum[j] += sum over the block's patch values of column j. */
Q8_TARGET static void q8_colsum(const uint8_t *block, int64_t steps, int64_t panels, int32_t *colsum)
{
    const __m512i ones = _mm512_set1_epi8(1);
    for (int64_t j = 0; j < panels; j++) {
        const uint8_t *p = block + j * steps * 4 * Q8_NR;
        __m512i s0 = _mm512_loadu_si512(colsum + j * Q8_NR), s1 = _mm512_loadu_si512(colsum + j * Q8_NR + 16);
        for (int64_t t = 0; t < steps; t++) {
            s0 = _mm512_dpbusd_epi32(s0, _mm512_loadu_si512(p), ones);
            s1 = _mm512_dpbusd_epi32(s1, _mm512_loadu_si512(p + 64), ones);
            p += 4 * Q8_NR;
        }
        _mm512_storeu_si512(colsum + j * Q8_NR, s0);
        _mm512_storeu_si512(colsum + j * Q8_NR + 16, s1);
    }
}

/* One K block on AMX-INT8 tiles: rows m_lo.. of group grp, 32 at a time, by
 * the block's 32-column panels; A (signed weights) 16 rows x 64 bytes of K,
 * B (unsigned activations) the block's own 4-byte-interleaved panel rows,
 * 16 of them per tile.  Partial sums of earlier K blocks come back from y
 * (int32) through a stage, and the last block applies the zero-point terms
 * and the scale as the VNNI kernel does. */
__attribute__((target("avx512f,avx512bw,avx512vl,amx-tile,amx-int8"))) static void q8_amx(const q8_job *j, const uint8_t *block, int64_t steps, int64_t panels,
                                  int64_t nc, int64_t k0, int last, const int32_t *colsum, int64_t n,
                                  int64_t grp, int64_t m_lo, int64_t m_hi, int64_t p0)
{
    const cvm_q8_conv *s = j->s;
    const int64_t P = s->P, chunks = steps / 16, mvalid = m_hi < s->Mg ? m_hi : s->Mg;
    int32_t st[32 * 32];
    const __m512 sv = _mm512_set1_ps(j->scale ? *j->scale : 1.0f);
    for (int64_t mb = m_lo; mb < mvalid; mb += 32) {
        int rows = mvalid - mb < 32 ? (int)(mvalid - mb) : 32;
        const int8_t *a0 = s->wa + ((size_t)(grp * (s->K4 / 64) + k0 / 64) * (size_t)s->arows + (size_t)mb) * 64;
        for (int64_t jp = 0; jp < panels; jp++) {
            int nr = nc - jp * Q8_NR < Q8_NR ? (int)(nc - jp * Q8_NR) : Q8_NR;
            __mmask16 m0 = nr >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nr) - 1u);
            __mmask16 m1 = nr >= 32 ? (__mmask16)0xFFFF : nr > 16 ? (__mmask16)((1u << (nr - 16)) - 1u) : (__mmask16)0;
            int32_t *yb = j->y + (n * s->g.M + grp * s->Mg + mb) * P + p0 + jp * Q8_NR;
            if (k0 > 0) {
                for (int r = 0; r < 32; r++) {
                    __m512i x0 = _mm512_setzero_si512(), x1 = x0;
                    if (r < rows) {
                        x0 = _mm512_maskz_loadu_epi32(m0, yb + r * P);
                        x1 = _mm512_maskz_loadu_epi32(m1, yb + r * P + 16);
                    }
                    _mm512_storeu_si512(st + r * 32, x0);
                    _mm512_storeu_si512(st + r * 32 + 16, x1);
                }
                _tile_loadd(0, st, 128);
                _tile_loadd(1, st + 16, 128);
                _tile_loadd(2, st + 16 * 32, 128);
                _tile_loadd(3, st + 16 * 32 + 16, 128);
            } else {
                _tile_zero(0);
                _tile_zero(1);
                _tile_zero(2);
                _tile_zero(3);
            }
            const uint8_t *b = block + jp * steps * 4 * Q8_NR;
            for (int64_t ch = 0; ch < chunks; ch++) {
                const int8_t *a = a0 + (size_t)ch * (size_t)s->arows * 64;
                const uint8_t *bc = b + ch * 16 * 4 * Q8_NR;
                _tile_loadd(4, a, 64);
                _tile_loadd(6, bc, 4 * Q8_NR);
                _tile_loadd(7, bc + 64, 4 * Q8_NR);
                _tile_dpbsud(0, 4, 6);
                _tile_dpbsud(1, 4, 7);
                _tile_loadd(5, a + 16 * 64, 64);
                _tile_dpbsud(2, 5, 6);
                _tile_dpbsud(3, 5, 7);
            }
            _tile_stored(0, st, 128);
            _tile_stored(1, st + 16, 128);
            _tile_stored(2, st + 16 * 32, 128);
            _tile_stored(3, st + 16 * 32 + 16, 128);
            __m512i s0 = _mm512_setzero_si512(), s1 = s0;
            if (last) {
                s0 = _mm512_loadu_si512(colsum + jp * Q8_NR);
                s1 = _mm512_loadu_si512(colsum + jp * Q8_NR + 16);
            }
            for (int r = 0; r < rows; r++) {
                int64_t m = grp * s->Mg + mb + r;
                int32_t *cr = yb + r * P;
                __m512i x0 = _mm512_loadu_si512(st + r * 32), x1 = _mm512_loadu_si512(st + r * 32 + 16);
                if (!last) {
                    _mm512_mask_storeu_epi32(cr, m0, x0);
                    _mm512_mask_storeu_epi32(cr + 16, m1, x1);
                    continue;
                }
                __m512i z = _mm512_set1_epi32(s->wzs[m]), rc = _mm512_set1_epi32(j->rowc[m]);
                x0 = _mm512_add_epi32(_mm512_sub_epi32(x0, _mm512_mullo_epi32(s0, z)), rc);
                x1 = _mm512_add_epi32(_mm512_sub_epi32(x1, _mm512_mullo_epi32(s1, z)), rc);
                if (j->scale) {
                    _mm512_mask_storeu_ps(cr, m0, _mm512_mul_ps(_mm512_cvtepi32_ps(x0), sv));
                    _mm512_mask_storeu_ps(cr + 16, m1, _mm512_mul_ps(_mm512_cvtepi32_ps(x1), sv));
                } else {
                    _mm512_mask_storeu_epi32(cr, m0, x0);
                    _mm512_mask_storeu_epi32(cr + 16, m1, x1);
                }
            }
        }
    }
}

Q8_TARGET static void q8_item(const q8_job *j, char *slot, int64_t item)
{
    const cvm_q8_conv *s = j->s;
    const cvm_conv_geom *g = &s->g;
    uint8_t *block = (uint8_t *)(((uintptr_t)slot + 63) & ~(uintptr_t)63);
    uint8_t *stage = block + (size_t)Q8_KC * Q8_NC;
    int32_t *colsum = (int32_t *)(void *)(stage + 4 * Q8_NC);
    int64_t mpanels = s->Mgp / Q8_MR, ms = item % j->msplit;
    int64_t m_lo = mpanels * ms / j->msplit * Q8_MR, m_hi = mpanels * (ms + 1) / j->msplit * Q8_MR;
    item /= j->msplit;
    int64_t tile = item % j->ntiles, ng = item / j->ntiles;
    int64_t grp = ng % g->group, n = ng / g->group;
    int64_t p0 = tile * Q8_NC, nc = s->P - p0 < Q8_NC ? s->P - p0 : Q8_NC;
    int64_t ncp = (nc + Q8_NR - 1) / Q8_NR * Q8_NR, panels = ncp / Q8_NR;
    const int two = g->nsp == 2;
    const int64_t kh = two ? g->k[0] : 1, kw = two ? g->k[1] : g->k[0];
    const int64_t plane = two ? g->in[0] * g->in[1] : g->in[0];
    const int64_t Cg = g->C / g->group;
    /* A 1x1 kernel with unit strides and no padding reads the input plane as is. */
    int pointwise = kh == 1 && kw == 1;
    for (int i = 0; i < g->nsp; i++)
        pointwise = pointwise && g->stride[i] == 1 && g->pad0[i] == 0 && g->pad1[i] == 0;
    const uint8_t *xg = j->x + (n * g->C + grp * Cg) * plane;
    memset(colsum, 0, (size_t)ncp * sizeof(int32_t));
    for (int64_t k0 = 0; k0 < s->K4; k0 += Q8_KC) {
        int64_t kc = s->K4 - k0 < Q8_KC ? s->K4 - k0 : Q8_KC, steps = kc / 4;
        for (int64_t t = 0; t < steps; t++) {
            for (int q = 0; q < 4; q++) {
                int64_t k = k0 + 4 * t + q;
                uint8_t *row = stage + q * Q8_NC;
                if (k >= s->K) {
                    /* Zero padding of K: weights there are zero too, and a
                     * zero adds nothing to the column sums. */
                    memset(row, 0, (size_t)ncp);
                    continue;
                }
                int64_t ci = k / (kh * kw), r = k % (kh * kw);
                if (pointwise)
                    q8_copy1(row, xg + ci * plane + p0, nc, _mm512_set1_epi8((char)j->flip));
                else
                    gather_row(s, xg + ci * plane, r / kw, r % kw, p0, nc, j->fill, j->flip, row);
                memset(row + nc, 0, (size_t)(ncp - nc));
            }
            for (int64_t jp = 0; jp < panels; jp++)
                interleave4(stage + jp * Q8_NR, stage + Q8_NC + jp * Q8_NR, stage + 2 * Q8_NC + jp * Q8_NR,
                            stage + 3 * Q8_NC + jp * Q8_NR, block + (jp * steps + t) * 4 * Q8_NR);
        }
        q8_colsum(block, steps, panels, colsum);
        int last = k0 + kc >= s->K4;
        if (s->amx) {
            q8_amx(j, block, steps, panels, nc, k0, last, colsum, n, grp, m_lo, m_hi, p0);
            continue;
        }
        for (int64_t mp = m_lo; mp < m_hi; mp += Q8_MR) {
            int mr = s->Mg - mp < Q8_MR ? (int)(s->Mg - mp) : Q8_MR;
            int64_t m = grp * s->Mg + mp;
            const int8_t *a = s->w + (size_t)(grp * s->Mgp + mp) * (size_t)s->K4 + (size_t)k0 * Q8_MR;
            int32_t *crow = j->y + (n * g->M + m) * s->P + p0;
            for (int64_t jp = 0; jp < panels; jp++) {
                int nr = nc - jp * Q8_NR < Q8_NR ? (int)(nc - jp * Q8_NR) : Q8_NR;
                q8_ukr(steps, a, block + jp * steps * 4 * Q8_NR, crow + jp * Q8_NR, s->P, mr, nr, k0 > 0,
                       last ? colsum + jp * Q8_NR : NULL, s->wzs + m, j->rowc + m, j->scale);
            }
        }
    }
    if (j->epi && j->scale) {
        int64_t m1 = m_hi < s->Mg ? m_hi : s->Mg;
        if (m_lo < m1)
            j->epi(j->epi_ctx, n, grp * s->Mg + m_lo, grp * s->Mg + m1, p0, nc);
    }
}

static void q8_slot(void *arg, size_t b, size_t e)
{
    const q8_job *j = arg;
    for (size_t sl = b; sl < e; sl++) {
        char *slot = j->slots + sl * j->s->slot_bytes;
        int64_t lo = j->items * (int64_t)sl / j->T, hi = j->items * (int64_t)(sl + 1) / j->T;
        if (j->s->amx)
            cvm_amx_config(16);
        for (int64_t it = lo; it < hi; it++)
            q8_item(j, slot, it);
        if (j->s->amx)
            cvm_amx_release();
    }
}

void cvm_q8_conv_run(const cvm_q8_conv *s, const void *x, int x_s8, int32_t xz, const float *scale, void *y,
                     void *scratch, cvm_threadpool *pool, cvm_q8_epi_fn epi, const void *epi_ctx)
{
    /* Partial sums of a long K stay int32 in y until the last block converts them. */
    q8_job j = {.s = s, .x = x, .y = y, .scale = scale, .epi = epi, .epi_ctx = epi_ctx};
    int32_t xzu = x_s8 ? xz + 128 : xz;
    j.flip = x_s8 ? 0x80 : 0;
    j.fill = (uint8_t)xzu;
    int32_t *rowc = (int32_t *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    for (int64_t m = 0; m < s->g.M; m++) {
        int64_t v = s->K * (int64_t)xzu * s->wzs[m] - (int64_t)xzu * s->rowsum[m];
        rowc[m] = (int32_t)(uint32_t)(uint64_t)v; /* wraps; see the header */
    }
    j.rowc = rowc;
    j.slots = (char *)rowc + ((size_t)(s->g.M ? s->g.M : 1) * sizeof(int32_t) + 63) / 64 * 64;
    j.ntiles = (s->P + Q8_NC - 1) / Q8_NC;
    j.items = s->g.N * s->g.group * j.ntiles;
    if (j.items == 0 || s->g.M == 0)
        return;
    int T = pool ? cvm_threadpool_size(pool) : 1;
    T = T < s->slots ? T : s->slots;
    T = T < 1 ? 1 : T;
    /* Too few position tiles for the threads (a small feature map): split
     * the rows too, each part gathering the same columns. */
    j.msplit = 1;
    if (j.items < T) {
        int64_t want = (T + j.items - 1) / j.items, mpanels = s->Mgp / Q8_MR;
        j.msplit = want < mpanels ? want : mpanels;
        j.msplit = j.msplit < 1 ? 1 : j.msplit;
        j.items *= j.msplit;
    }
    if (j.items < T)
        T = (int)j.items;
    j.T = T;
    cvm_parallel_for(pool, (size_t)T, 1, q8_slot, &j);
}

int cvm_q8_avx512(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
}

Q8_TARGET_F void cvm_q8_range(const float *x, int64_t n, float *mn, float *mx)
{
    /* minps(v, m) is exactly "v < m ? v : m" (and maxps the mirror), so a
     * NaN never replaces the running value, as in the portable loop. */
    __m512 lo = _mm512_setzero_ps(), hi = lo, lo2 = lo, hi2 = lo;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512 v = _mm512_loadu_ps(x + i), w = _mm512_loadu_ps(x + i + 16);
        lo = _mm512_min_ps(v, lo);
        hi = _mm512_max_ps(v, hi);
        lo2 = _mm512_min_ps(w, lo2);
        hi2 = _mm512_max_ps(w, hi2);
    }
    for (; i < n; i += 16) {
        /* masked-off lanes read 0, which the range holds already */
        __mmask16 m = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1u);
        __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        lo = _mm512_min_ps(v, lo);
        hi = _mm512_max_ps(v, hi);
    }
    lo = _mm512_min_ps(lo2, lo);
    hi = _mm512_max_ps(hi2, hi);
    *mn = _mm512_reduce_min_ps(lo);
    *mx = _mm512_reduce_max_ps(hi);
}

Q8_TARGET_F void cvm_q8_quantize(const float *x, uint8_t *y, int64_t n, float scale, float zp)
{
    const __m512 s = _mm512_set1_ps(scale), z = _mm512_set1_ps(zp), big = _mm512_set1_ps(512.0f);
    const __m512 nbig = _mm512_set1_ps(-512.0f), magic = _mm512_set1_ps(12582912.0f);
    const __m512 top = _mm512_set1_ps(255.0f), zero = _mm512_setzero_ps();
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1u);
        __m512 v = _mm512_div_ps(_mm512_maskz_loadu_ps(m, x + i), s);
        /* v > -512 ? min(v, 512) : -512 (a NaN takes the -512 branch) */
        v = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, nbig, _CMP_GT_OQ), nbig, _mm512_min_ps(v, big));
        v = _mm512_add_ps(_mm512_sub_ps(_mm512_add_ps(v, magic), magic), z);
        v = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, zero, _CMP_GT_OQ), zero, _mm512_min_ps(v, top));
        _mm512_mask_cvtepi32_storeu_epi8(y + i, m, _mm512_cvttps_epi32(v));
    }
}

#else

int cvm_q8_avx512(void) { return 0; }
void cvm_q8_range(const float *x, int64_t n, float *mn, float *mx)
{
    (void)x, (void)n, (void)mn, (void)mx;
}
void cvm_q8_quantize(const float *x, uint8_t *y, int64_t n, float scale, float zp)
{
    (void)x, (void)y, (void)n, (void)scale, (void)zp;
}

void cvm_q8_conv_run(const cvm_q8_conv *s, const void *x, int x_s8, int32_t xz, const float *scale, void *y,
                     void *scratch, cvm_threadpool *pool, cvm_q8_epi_fn epi, const void *epi_ctx)
{
    (void)s, (void)x, (void)x_s8, (void)xz, (void)scale, (void)y, (void)scratch, (void)pool, (void)epi,
        (void)epi_ctx;
}

#endif
