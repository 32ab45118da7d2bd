/* Winograd F(4x4, 3x3) convolution (see conv_winograd.h).
 *
 * With d a 6x6 input patch, g a 3x3 kernel and Y the 4x4 output tile,
 *   Y = A^T [ (G g G^T) . (B^T d B) ] A
 * (Lavin and Gray, interpolation points 0, +-1, +-2, +-1/2).  Per block of 32
 * tiles:
 *   1. input transform: V_p[c][t] for the 36 positions p, written straight
 *      into the layout of one packed GEMM B panel (32 columns);
 *   2. 36 GEMMs M_p[k][t] = U_p[k][c] V_p[c][t] with the weights U_p
 *      transformed and prepacked once, in prepare;
 *   3. output transform, bias, and the caller's epilogue on each output row.
 * Blocks are independent, so workers take whole blocks and the transformed
 * data stays in their own L2; with too few blocks to share out evenly, a
 * worker's share may end inside a block, split by output channels (or one
 * block goes by input channels, then output channels).  The transforms run
 * 16 tiles per vector, in raster order: a vector may hold pieces of several
 * tile rows (a 20x20 map has 5 tiles per row).  The tiles of a piece read
 * the input at x0 + 4t + j, which two permutes gather from four masked loads
 * (the masks also give the zero padding at the borders), or, for a piece of
 * up to 7 tiles, one permute per j from two loads. */
#include "backends/cpu/conv_winograd.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/bigmem.h"
#include "base/status.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include "backends/cpu/act512.h"
#define CVM_WINO_X86 1
#endif

#define WT 32 /* tiles per block: one packed B panel of the AVX-512 kernel */

static int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

int cvm_wino_usable(const cvm_gemm_kernel *kern, int64_t C, int64_t K, int64_t OH, int64_t OW)
{
#ifdef CVM_WINO_X86
    /* Below ~8 channels either way the transforms cost more than they save.
     * Under 16 tiles (a 10x10 map has 9) im2col wins: YOLO11n's 10x10
     * layers ran 2x slower than im2col when they took whole 32-column
     * panels.  With 16-column panels a lone 10x10 layer runs 1.2x faster
     * than im2col, but in the model 1.15-1.2x slower: its weights, 4x
     * larger transformed, come from L3 there. */
    int64_t tiles = ((OH + 3) / 4) * ((OW + 3) / 4);
    return kern && strcmp(kern->name, "avx512") == 0 && kern->nr == WT && C >= 8 && K >= 8 &&
           tiles >= 16 && __builtin_cpu_supports("avx512f");
#else
    (void)kern, (void)C, (void)K, (void)OH, (void)OW;
    return 0;
#endif
}

void cvm_wino_free(cvm_wino *w)
{
    if (!w)
        return;
    cvm_big_free(w->U);
    w->U = NULL;
}

/* u = G g for one column of the kernel, in double so that the 1/6 and 1/24
 * weights do not add rounding on top of the method's own. */
static inline void g_col(const double g[3], double u[6])
{
    /* products with the reciprocals: a session build transforms millions
     * of these, and divisions made it the slowest part of loading */
    const double s6 = 1.0 / 6.0, s12 = 1.0 / 12.0, s24 = 1.0 / 24.0;
    double e = g[0] + g[2];
    u[0] = 0.25 * g[0];
    u[1] = -(e + g[1]) * s6;
    u[2] = -(e - g[1]) * s6;
    u[3] = g[0] * s24 + g[1] * s12 + g[2] * s6;
    u[4] = g[0] * s24 - g[1] * s12 + g[2] * s6;
    u[5] = g[2];
}

cvm_status cvm_wino_prepare(cvm_wino *w, const cvm_gemm_kernel *kern, int64_t N, int64_t C,
                            int64_t K, int64_t H, int64_t W, int64_t OH, int64_t OW, int64_t pt,
                            int64_t pl, const float *weights, int slots)
{
    memset(w, 0, sizeof *w);
    w->kern = kern;
    w->N = N, w->C = C, w->K = K, w->H = H, w->W = W, w->OH = OH, w->OW = OW;
    w->pt = pt, w->pl = pl;
    w->TH = cdiv(OH, 4), w->TW = cdiv(OW, 4), w->T = w->TH * w->TW;
    w->blocks = cdiv(w->T, WT);
    w->slots = slots < 1 ? 1 : slots;
    /* Few blocks that whole-block shares cannot balance (three and a half
     * blocks of a 40x40 map, twelve and a half of an 80x80 one, one block
     * for two workers): each worker takes an equal share of the work,
     * counted in 16-tile columns times 8-row output-channel panels, in
     * block order, so that at most one block per worker boundary is
     * split by output channels (its input transform is done by both).
     * Counting a last block of 16 tiles or fewer as half (it is multiplied
     * as 16 columns) is what evens out the 40x40 and 80x80 maps: with
     * whole blocks one worker had 64 of 112 columns of a 40x40 layer. */
    int64_t items = N * w->blocks, mr = kern->mr;
    const int half_last = w->T - (w->blocks - 1) * WT <= 16;
    w->mpart = cdiv(K, mr) * mr;
    /* ... or, fewer blocks than workers of more than 16 tiles each, their
     * two 16-tile groups (each transformed once, multiplied as 16
     * columns), so that the parts do not repeat the input transform (a
     * 20x20 map is one block of 25 tiles).  Not when the transformed
     * weights pass 640 KiB: a block reads all of them, from
     * L3 or memory in a model, and with groups every worker would read all
     * of them, with output channels only its share (YOLOv8s and YOLOv8m
     * 4-5% faster on two threads, `ab_libs.py`; YOLOv8n's 20x20 layers,
     * 2.4-2.9 MB, 5.7-5.9 -> 5.3-5.5 ms).  The limit lets in a 64->64
     * layer (576 KiB): YOLOv8n's 20x20 one 0.142 -> 0.122 ms on two
     * threads, YOLO11n's 0.095 -> 0.090 (`cvm run --profile-all`). */
    const size_t u_bytes = 36 * cvm_gemm_packed_a_size(kern, K, C) * sizeof(float);
    if (w->slots > 1 && items < 8 * w->slots &&
        (items % w->slots != 0 || (w->blocks > 1 && half_last))) {
        if (items < w->slots && w->T > 16 && u_bytes <= ((size_t)640 << 10))
            w->gsplit = 1;
        else if (items == 1 && C >= 2 * K && C >= 16 * (int64_t)w->slots)
            w->csplit = 1;
        else
            w->wsplit = 1;
    }

    w->u_stride = cvm_gemm_packed_a_size(kern, K, C);
    if ((size_t)C > SIZE_MAX / 36 / 64 / sizeof(float) ||
        w->u_stride > SIZE_MAX / 36 / sizeof(float))
        return cvm_errorf(CVM_E_LIMIT, "Winograd weights of %lld x %lld channels too large",
                          (long long)K, (long long)C);
    /* U_p = (G g G^T)_p is linear in the nine taps: U[36 x pairs] =
     * T[36 x 9] * taps[9 x pairs] with T[(i,j)][(a,b)] = G[i][a] G[j][b],
     * one GEMM for every (output, input) channel pair at once. */
    float T[36 * 9];
    for (int tap = 0; tap < 9; tap++) {
        double g[3][3] = {{0}}, cols[3][6], u[6];
        g[tap / 3][tap % 3] = 1.0;
        for (int j = 0; j < 3; j++) {
            double col[3] = {g[0][j], g[1][j], g[2][j]};
            g_col(col, cols[j]);
        }
        for (int i = 0; i < 6; i++) {
            double row[3] = {cols[0][i], cols[1][i], cols[2][i]};
            g_col(row, u);
            for (int j = 0; j < 6; j++)
                T[(i * 6 + j) * 9 + tap] = (float)u[j];
        }
    }
    /* 32 output channels at a time: a temporary for all pairs at once would
     * be as large as U itself, and its page faults cost more than the GEMM. */
    const int64_t rows = 4 * mr;
    w->U = cvm_big_alloc(36 * w->u_stride * sizeof(float));
    float *tmp = malloc(36 * (size_t)rows * (size_t)C * sizeof(float));
    void *gs = malloc(cvm_gemm_scratch_bytes(kern, 1));
    if (!w->U || !tmp || !gs) {
        free(tmp);
        free(gs);
        cvm_wino_free(w);
        return cvm_errorf(CVM_E_NOMEM, "out of memory transforming Winograd weights");
    }
    const int64_t kcs = cvm_gemm_kc(C);
    for (int64_t m0 = 0; m0 < K; m0 += rows) {
        int64_t mc = K - m0 < rows ? K - m0 : rows, np = mc * C;
        cvm_sgemm_strided(kern, 36, np, 9, T, 9, 1, weights + m0 * C * 9, 1, 9, tmp, np, NULL, 0,
                          NULL, gs, 1);
        for (int p = 0; p < 36; p++)
            for (int64_t k0 = 0; k0 < C; k0 += kcs) {
                int64_t kc = C - k0 < kcs ? C - k0 : kcs;
                float *dst = (float *)cvm_gemm_packed_a_block(kern, w->U + p * w->u_stride, K, k0,
                                                              kc, m0);
                cvm_gemm_pack_a(kern, tmp + p * np, C, 1, 0, mc, k0, kc, 1.0f, dst);
            }
    }
    free(gs);
    free(tmp);
    /* V: 36 panels of C x 32, M: 36 blocks of mpart x 32; each matrix is one
     * cache line longer than needed so that the 36 do not alias in L1. */
    w->slot_floats = 36 * (size_t)(C * WT + 16) + 36 * (size_t)(w->mpart * WT + 16) + 64;
    return CVM_OK;
}

size_t cvm_wino_scratch_bytes(const cvm_wino *w)
{
    return (size_t)w->slots * w->slot_floats * sizeof(float) + 64;
}

#ifdef CVM_WINO_X86

#define AVX512 __attribute__((target("avx512f")))

/* r = B^T d on six vectors. */
AVX512 static inline void bt6(const __m512 *d, __m512 *r)
{
    const __m512 four = _mm512_set1_ps(4.0f), five = _mm512_set1_ps(-5.0f),
                 two = _mm512_set1_ps(2.0f);
    __m512 d12 = _mm512_add_ps(d[1], d[2]), d34 = _mm512_add_ps(d[3], d[4]);
    __m512 e12 = _mm512_sub_ps(d[1], d[2]), e43 = _mm512_sub_ps(d[4], d[3]);
    __m512 e31 = _mm512_sub_ps(d[3], d[1]), e42 = _mm512_sub_ps(d[4], d[2]);
    r[0] = _mm512_fmadd_ps(four, d[0], _mm512_fmadd_ps(five, d[2], d[4]));
    r[1] = _mm512_fnmadd_ps(four, d12, d34);
    r[2] = _mm512_fmadd_ps(four, e12, e43);
    r[3] = _mm512_fmadd_ps(two, e31, e42);
    r[4] = _mm512_fnmadd_ps(two, e31, e42);
    r[5] = _mm512_fmadd_ps(four, d[1], _mm512_fmadd_ps(five, d[3], d[5]));
}

/* o = A^T m on six vectors. */
AVX512 static inline void at6(const __m512 *m, __m512 *o)
{
    __m512 a = _mm512_add_ps(m[1], m[2]), b = _mm512_sub_ps(m[1], m[2]);
    __m512 c = _mm512_add_ps(m[3], m[4]), e = _mm512_sub_ps(m[3], m[4]);
    o[0] = _mm512_add_ps(_mm512_add_ps(m[0], a), c);
    o[1] = _mm512_fmadd_ps(_mm512_set1_ps(2.0f), e, b);
    o[2] = _mm512_fmadd_ps(_mm512_set1_ps(4.0f), c, a);
    o[3] = _mm512_add_ps(_mm512_fmadd_ps(_mm512_set1_ps(8.0f), e, b), m[5]);
}

/* Lanes lo..hi-1 of a 16-lane mask (empty when hi <= lo). */
static __mmask16 lane_mask(int64_t lo, int64_t hi)
{
    if (lo < 0)
        lo = 0;
    if (hi > 16)
        hi = 16;
    if (hi <= lo)
        return 0;
    return (__mmask16)(((1u << hi) - 1u) & ~((1u << lo) - 1u));
}

typedef struct seg {
    int64_t ty, tx0, cnt, col; /* tile row, first tile column, tiles, column in the block */
} seg;

static int block_segments(const cvm_wino *w, int64_t b, seg *out)
{
    int n = 0;
    int64_t t0 = b * WT, t1 = t0 + WT < w->T ? t0 + WT : w->T;
    for (int64_t t = t0; t < t1;) {
        int64_t ty = t / w->TW, tx = t % w->TW;
        int64_t cnt = w->TW - tx, lane = (t - t0) % 16;
        if (cnt > 16 - lane)
            cnt = 16 - lane;
        if (cnt > t1 - t)
            cnt = t1 - t;
        out[n++] = (seg){ty, tx, cnt, t - t0};
        t += cnt;
    }
    return n;
}

/* The segments of one 16-lane group, as the transforms see them.  A piece
 * whose first tile sits on lane L is loaded as if its tile row began L tiles
 * earlier, so that lane l always reads x0 + 4l + j: one set of deinterleave
 * indices serves every piece, and the piece's lanes are blended in. */
typedef struct piece {
    int64_t x0, y0;  /* input column read by lane 0, first input row */
    __mmask16 mk[5]; /* the five row loads: inside the row and needed here */
    __mmask16 lanes; /* the piece's lanes */
    /* A piece of up to 7 tiles needs at most 30 input columns: two loads
     * from its own first column xs, and one two-source permute per j
     * (idx[j] sends lane L + t to 4t + j), instead of five loads, eight
     * permutes and three shifts. */
    int narrow;
    int64_t xs;
    __mmask16 nm[2];
    __m512i idx[6];
} piece;

AVX512 static void make_pieces(const cvm_wino *w, const seg *sg, int nsg, piece *pc)
{
    for (int k = 0; k < nsg; k++) {
        int64_t L = sg[k].col % 16, cnt = sg[k].cnt;
        pc[k].x0 = 4 * (sg[k].tx0 - L) - w->pl;
        pc[k].y0 = 4 * sg[k].ty - w->pt;
        for (int q = 0; q < 5; q++) {
            int64_t b = pc[k].x0 + 16 * q;
            pc[k].mk[q] = lane_mask(-b, w->W - b) & lane_mask(4 * L - 16 * q, 4 * (L + cnt) + 2 - 16 * q);
        }
        pc[k].lanes = lane_mask(L, L + cnt);
        pc[k].narrow = 4 * cnt + 2 <= 32;
        if (pc[k].narrow) {
            pc[k].xs = 4 * sg[k].tx0 - w->pl;
            for (int q = 0; q < 2; q++) {
                int64_t b = pc[k].xs + 16 * q;
                pc[k].nm[q] = lane_mask(-b, w->W - b) & lane_mask(-16 * q, 4 * cnt + 2 - 16 * q);
            }
            /* lanes outside the piece read column 0: blended away */
            const __m512i lane =
                _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
            const __m512i t4 =
                _mm512_slli_epi32(_mm512_sub_epi32(lane, _mm512_set1_epi32((int)L)), 2);
            for (int j = 0; j < 6; j++)
                pc[k].idx[j] = _mm512_maskz_add_epi32(pc[k].lanes, t4, _mm512_set1_epi32(j));
        }
    }
}

/* Input transform of one group of segments (tiles of up to 16 lanes, from
 * one or more tile rows) for every channel into V (36 matrices of C x 32,
 * `vs` floats apart, V at the group's first column).  Per input row and
 * piece: five loads cover the 66 values 16 tiles need; four 4-way
 * deinterleaves give x0 + 4t + j for j < 4 and a one-lane shift of two of
 * them j = 4, 5.  Rows are transformed first (B^T d B = B^T (d B)), so only
 * one row of six vectors is live at a time.  Packing the tile rows of a
 * small map into one vector (a 20x20 map has 5 tiles per row) keeps the
 * transforms' lanes busy. */
AVX512 static void input_tf(const cvm_wino *w, const float *x, const seg *sg, int nsg, float *V,
                            size_t vs, int64_t c_lo, int64_t c_hi)
{
    const int64_t H = w->H, W = w->W;
    __m512i idx[4];
    for (int r = 0; r < 4; r++)
        idx[r] = _mm512_set_epi32(28 + r, 24 + r, 20 + r, 16 + r, 12 + r, 8 + r, 4 + r, r, 28 + r,
                                  24 + r, 20 + r, 16 + r, 12 + r, 8 + r, 4 + r, r);
    piece pc[16];
    make_pieces(w, sg, nsg, pc);
    __m512 h[36], d[6], e[6], r6[6];
    for (int64_t c = c_lo; c < c_hi; c++) {
        const float *xc = x + c * H * W;
        if (c + 1 < c_hi) {
            /* the next channel's rows, one channel ahead: a plane apart,
             * the hardware prefetchers do not see them coming (the loads
             * below stalled on them) */
            const float *nx = xc + H * W;
            for (int k = 0; k < nsg; k++)
                for (int i = 0; i < 6; i++) {
                    int64_t yy = pc[k].y0 + i;
                    if (yy < 0 || yy >= H)
                        continue;
                    for (int q = 0; q < 5; q++)
                        if (pc[k].mk[q])
                            _mm_prefetch((const char *)(nx + yy * W + pc[k].x0 + 16 * q),
                                         _MM_HINT_T0);
                }
        }
        for (int i = 0; i < 6; i++) {
            for (int j = 0; j < 6; j++)
                d[j] = _mm512_setzero_ps();
            for (int k = 0; k < nsg; k++) {
                int64_t yy = pc[k].y0 + i;
                if (yy < 0 || yy >= H) {
                    for (int j = 0; j < 6; j++)
                        e[j] = _mm512_setzero_ps();
                } else if (pc[k].narrow) {
                    const float *row = xc + yy * W + pc[k].xs;
                    __m512 l0 = _mm512_maskz_loadu_ps(pc[k].nm[0], row);
                    __m512 l1 = _mm512_maskz_loadu_ps(pc[k].nm[1], row + 16);
                    for (int j = 0; j < 6; j++)
                        e[j] = _mm512_permutex2var_ps(l0, pc[k].idx[j], l1);
                } else {
                    /* Masked lanes are never read, so a base before the row
                     * or past it is harmless. */
                    const float *row = xc + yy * W + pc[k].x0;
                    __m512 l0 = _mm512_maskz_loadu_ps(pc[k].mk[0], row);
                    __m512 l1 = _mm512_maskz_loadu_ps(pc[k].mk[1], row + 16);
                    __m512 l2 = _mm512_maskz_loadu_ps(pc[k].mk[2], row + 32);
                    __m512 l3 = _mm512_maskz_loadu_ps(pc[k].mk[3], row + 48);
                    __m512 l4 = _mm512_maskz_loadu_ps(pc[k].mk[4], row + 64);
                    for (int r = 0; r < 4; r++)
                        e[r] = _mm512_mask_blend_ps(0xFF00, _mm512_permutex2var_ps(l0, idx[r], l1),
                                                    _mm512_permutex2var_ps(l2, idx[r], l3));
                    __m512i l4i = _mm512_castps_si512(l4);
                    e[4] = _mm512_castsi512_ps(
                        _mm512_alignr_epi32(l4i, _mm512_castps_si512(e[0]), 1));
                    e[5] = _mm512_castsi512_ps(_mm512_alignr_epi32(
                        _mm512_alignr_epi32(l4i, l4i, 1), _mm512_castps_si512(e[1]), 1));
                }
                /* Lanes of no piece keep the first piece's values: finite,
                 * and they only reach GEMM columns that are never read. */
                for (int j = 0; j < 6; j++)
                    d[j] = k == 0 ? e[j] : _mm512_mask_blend_ps(pc[k].lanes, d[j], e[j]);
            }
            bt6(d, &h[i * 6]);
        }
        float *vc = V + c * WT;
        for (int j = 0; j < 6; j++) {
            for (int i = 0; i < 6; i++)
                d[i] = h[i * 6 + j];
            bt6(d, r6);
            for (int i = 0; i < 6; i++)
                _mm512_storeu_ps(vc + (size_t)(i * 6 + j) * vs, r6[i]);
        }
    }
}

/* A segment as the output transform sees it. */
typedef struct opiece {
    int64_t oy0, ox, valid; /* first output row and column, columns written */
    int nv;                 /* vectors per output row */
    __mmask16 sm[4];        /* store masks of those vectors */
    __m512i ilo, ihi;       /* o[0..1] lanes L + t interleaved (t < 8, t >= 8) */
} opiece;

/* Output transform of one group of segments for channels m_lo..m_hi-1 from
 * M (36 matrices of mpart x 32, `ms` floats apart, M at the group's first
 * column), then bias and epilogue. */
AVX512 static void output_tf(const cvm_wino *w, const float *M, size_t ms, const seg *sg, int nsg,
                             int64_t n, int64_t m_lo, int64_t m_hi, float *y,
                             const cvm_wino_out *out)
{
    const float *bias = out->bias;
    const cvm_gemm_epi *e = out->epi;
    const __m512i i_lo = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i i_hi =
        _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
    const __m512i j0 = _mm512_set_epi32(23, 22, 7, 6, 21, 20, 5, 4, 19, 18, 3, 2, 17, 16, 1, 0);
    const __m512i j1 =
        _mm512_set_epi32(31, 30, 15, 14, 29, 28, 13, 12, 27, 26, 11, 10, 25, 24, 9, 8);
    const int64_t OH = w->OH, OW = w->OW;
    opiece pc[16];
    for (int k = 0; k < nsg; k++) {
        int64_t L = sg[k].col % 16;
        pc[k].oy0 = 4 * sg[k].ty;
        pc[k].ox = 4 * sg[k].tx0;
        pc[k].valid = OW - pc[k].ox < 4 * sg[k].cnt ? OW - pc[k].ox : 4 * sg[k].cnt;
        pc[k].nv = (int)((pc[k].valid + 15) / 16);
        for (int q = 0; q < 4; q++)
            pc[k].sm[q] = lane_mask(0, pc[k].valid - 16 * q);
        /* indices past 31 (lanes beyond the piece) wrap: never stored */
        pc[k].ilo = _mm512_add_epi32(i_lo, _mm512_set1_epi32((int)L));
        pc[k].ihi = _mm512_add_epi32(i_hi, _mm512_set1_epi32((int)L));
    }
    __m512 mv[6], s[24], o[4];
    const int pf_res = e && out->res;
    for (int64_t m = m_lo; m < m_hi; m++) {
        const float *mm = M + (m - m_lo) * WT;
        if (pf_res && m + 1 < m_hi) {
            /* The residual comes from L3 or memory, and its loads sit right
             * before the stores: fetch the next channel's rows one channel
             * ahead (YOLOv8n's C2f blocks stalled here). */
            for (int k = 0; k < nsg; k++) {
                const float *nr = out->res + n * out->res_n + (m + 1) * out->res_c +
                                  pc[k].oy0 * OW + pc[k].ox;
                for (int r = 0; r < 4 && pc[k].oy0 + r < OH; r++)
                    for (int64_t q = 0; q < pc[k].valid; q += 16)
                        _mm_prefetch((const char *)(nr + r * OW + q), _MM_HINT_T0);
            }
        }
        for (int j = 0; j < 6; j++) {
            for (int i = 0; i < 6; i++)
                mv[i] = _mm512_loadu_ps(mm + (size_t)(i * 6 + j) * ms);
            at6(mv, o);
            for (int r = 0; r < 4; r++)
                s[r * 6 + j] = o[r];
        }
        const __m512 bv = _mm512_set1_ps(bias ? bias[m] : 0.0f);
        float *ym = y + (n * w->K + m) * OH * OW;
        for (int r = 0; r < 4; r++) {
            at6(&s[r * 6], o);
            for (int j = 0; j < 4; j++)
                o[j] = _mm512_add_ps(o[j], bv);
            for (int k = 0; k < nsg; k++) {
                const opiece *p = &pc[k];
                int64_t oy = p->oy0 + r;
                if (oy >= OH)
                    continue;
                /* o[j][L + t] is x = 4t + j: interleave the four back into
                 * rows (the second half only for pieces past 8 tiles). */
                __m512 v[4];
                __m512 p01 = _mm512_permutex2var_ps(o[0], p->ilo, o[1]);
                __m512 p23 = _mm512_permutex2var_ps(o[2], p->ilo, o[3]);
                v[0] = _mm512_permutex2var_ps(p01, j0, p23);
                v[1] = _mm512_permutex2var_ps(p01, j1, p23);
                if (p->nv > 2) {
                    p01 = _mm512_permutex2var_ps(o[0], p->ihi, o[1]);
                    p23 = _mm512_permutex2var_ps(o[2], p->ihi, o[3]);
                    v[2] = _mm512_permutex2var_ps(p01, j0, p23);
                    v[3] = _mm512_permutex2var_ps(p01, j1, p23);
                }
                float *yr = ym + oy * OW + p->ox;
                const float *rr = e && out->res ? out->res + n * out->res_n + m * out->res_c +
                                                      oy * OW + p->ox
                                                : NULL;
                if (e && !rr && e->act == CVM_FUSED_SILU) {
                    /* the common SiLU without the per-vector dispatch: the
                     * sigmoids interleave */
                    for (int q = 0; q < p->nv; q++)
                        v[q] = _mm512_mul_ps(v[q], cvm_sigmoid512(v[q]));
                } else {
                    for (int q = 0; q < p->nv; q++)
                        v[q] = cvm_epi512(v[q], e, rr ? rr + 16 * q : NULL, p->sm[q]);
                }
                for (int q = 0; q < p->nv; q++)
                    _mm512_mask_storeu_ps(yr + 16 * q, p->sm[q], v[q]);
                if (out->span)
                    out->span(out->span_ctx, n, m, oy * OW + p->ox, p->valid, yr);
            }
        }
    }
}

typedef struct wino_job {
    const cvm_wino *w;
    const float *x;
    float *y;
    const cvm_wino_out *out;
    float *scratch;
    int slots;
    int64_t items;
    int groups;        /* items are 16-tile groups (gsplit, on more than one thread) */
    int dynamic;       /* items handed out as workers come free */
    cvm_ranges ranges;     /* the items, when dynamic */
} wino_job;

/* Output channels m_lo..m_hi-1 of block b of image n, or of one of its two
 * 16-tile groups (group 0 or 1; -1: the whole block).  *have names the
 * (image, block, group) whose input transform V holds. */
static void wino_piece(const wino_job *jb, float *V, float *M, int64_t n, int64_t b, int group,
                       int64_t m_lo, int64_t m_hi, int64_t *have)
{
    const cvm_wino *w = jb->w;
    const cvm_gemm_kernel *kern = w->kern;
    const size_t vs = (size_t)(w->C * WT + 16), ms = (size_t)(w->mpart * WT + 16);
    seg sg[WT];
    int nseg = block_segments(w, b, sg), s0 = 0, s1 = nseg;
    if (group >= 0) {
        while (s0 < nseg && sg[s0].col / 16 != group)
            s0++;
        for (s1 = s0; s1 < nseg && sg[s1].col / 16 == group; s1++)
            ;
        if (s0 == s1)
            return; /* a block of 16 tiles or fewer has no second group */
    }
    const int64_t key = (n * w->blocks + b) * 3 + group + 1;
    if (key != *have) {
        const float *xn = jb->x + n * w->C * w->H * w->W;
        for (int i = s0, g; i < s1; i = g) {
            for (g = i; g < s1 && sg[g].col / 16 == sg[i].col / 16; g++)
                ;
            input_tf(w, xn, &sg[i], g - i, V + sg[i].col / 16 * 16, vs, 0, w->C);
        }
        *have = key;
    }
    /* A block of 16 tiles or fewer, or one group of a block, multiplies
     * only 16 columns (the kernel then reads nothing of the other 16). */
    const int64_t c0 = group >= 0 ? sg[s0].col / 16 * 16 : 0;
    const int bn = group >= 0 || sg[nseg - 1].col < 16 ? 16 : WT;
    const int64_t kcs = cvm_gemm_kc(w->C);
    for (int p = 0; p < 36; p++) {
        const float *U = w->U + p * w->u_stride;
        const float *Vp = V + p * vs;
        float *Mp = M + p * ms;
        for (int64_t k0 = 0; k0 < w->C; k0 += kcs) {
            int64_t kc = w->C - k0 < kcs ? w->C - k0 : kcs;
            for (int64_t m = m_lo; m < m_hi; m += kern->mr) {
                int mr = m_hi - m < kern->mr ? (int)(m_hi - m) : kern->mr;
                kern->ukr(kc, cvm_gemm_packed_a_block(kern, U, w->K, k0, kc, m), Vp + k0 * WT + c0,
                          Mp + (m - m_lo) * WT + c0, WT, mr, bn, k0 > 0, NULL);
            }
        }
    }
    for (int i = s0, g; i < s1; i = g) {
        for (g = i; g < s1 && sg[g].col / 16 == sg[i].col / 16; g++)
            ;
        output_tf(w, M + sg[i].col / 16 * 16, ms, &sg[i], g - i, n, m_lo, m_hi, jb->y, jb->out);
    }
}

/* wsplit: worker sl's share [total sl / slots, total (sl + 1) / slots) of
 * the work counted as (16-tile columns) x (mr-row panels), block after
 * block; a panel goes to the worker whose share holds its first unit. */
static void wino_share(const wino_job *jb, float *V, float *M, size_t sl)
{
    const cvm_wino *w = jb->w;
    const int64_t mr = w->kern->mr, mp = cdiv(w->K, mr);
    const int64_t last_cols = w->T - (w->blocks - 1) * WT <= 16 ? 1 : 2;
    const int64_t per_image = ((w->blocks - 1) * 2 + last_cols) * mp;
    const int64_t total = w->N * per_image;
    const int64_t lo = total * (int64_t)sl / jb->slots, hi = total * (int64_t)(sl + 1) / jb->slots;
    int64_t have = -1;
    for (int64_t n = 0; n < w->N; n++)
        for (int64_t b = 0; b < w->blocks; b++) {
            const int64_t cols = b == w->blocks - 1 ? last_cols : 2;
            const int64_t start = n * per_image + b * 2 * mp;
            if (start >= hi)
                return;
            if (start + cols * mp <= lo)
                continue;
            int64_t p_lo = lo > start ? cdiv(lo - start, cols) : 0;
            int64_t p_hi = cdiv(hi - start, cols);
            if (p_hi > mp)
                p_hi = mp;
            if (p_lo >= p_hi)
                continue;
            int64_t m_hi = p_hi * mr < w->K ? p_hi * mr : w->K;
            wino_piece(jb, V, M, n, b, -1, p_lo * mr, m_hi, &have);
        }
}

/* Slot h's scratch: the transformed input V, then the products M. */
static float *slot_v(const wino_job *jb, int64_t h)
{
    return jb->scratch + (size_t)h * jb->w->slot_floats;
}

static float *slot_m(const wino_job *jb, int64_t h)
{
    return slot_v(jb, h) + 36 * (size_t)(jb->w->C * WT + 16);
}

static void wino_slot(void *arg, size_t begin, size_t end)
{
    wino_job *jb = arg;
    const cvm_wino *w = jb->w;
    for (size_t sl = begin; sl < end; sl++) {
        if (w->wsplit) {
            /* shares by member, not by chunk claimed: the share a core
             * runs is then the one it ran in the layer before, whose
             * output it reads (see cvm_ranges) */
            int cursor = 0;
            for (int64_t h; (h = cvm_ranges_next(&jb->ranges, &cursor)) >= 0;)
                wino_share(jb, slot_v(jb, h), slot_m(jb, h), (size_t)h);
            continue;
        }
        float *V = slot_v(jb, (int64_t)sl), *M = slot_m(jb, (int64_t)sl);
        int64_t lo = jb->items * (int64_t)sl / jb->slots;
        int64_t hi = jb->items * (int64_t)(sl + 1) / jb->slots;
        int64_t have = -1;
        /* dynamic: one block per item, no transform to share, so a free
         * worker may take any (see cvm_ranges) */
        int cursor = 0;
        for (int64_t it = lo;; it++) {
            if (jb->dynamic) {
                it = cvm_ranges_next(&jb->ranges, &cursor);
                if (it < 0)
                    break;
            } else if (it >= hi) {
                break;
            }
            /* an item: a block, or one of its two 16-tile groups */
            int64_t nb = jb->groups ? it / 2 : it;
            wino_piece(jb, V, M, nb / w->blocks, nb % w->blocks, jb->groups ? (int)(it % 2) : -1, 0,
                       w->K, &have);
        }
    }
}

/* csplit: image 0's one block among the workers by input channels, in two
 * jobs, when the input channels are at least twice the output channels.
 * First, slot h transforms its share of the input channels and multiplies
 * it for every output channel into its own M (a partial sum): it reads its
 * share of the weights only, and no worker repeats another's input
 * transform (a quarter of a 20x20 256->80 layer's time on one thread).
 * Then slot h adds the other slots' partial sums of its share of the output
 * channels into its own and transforms those out.  What crosses between
 * cores is M's rows of those channels (36 x K/2 x 32 floats on two), read
 * once in order.  That exchange grows with the output channels and the
 * transform saved with the input channels: a lone 20x20 256->80 layer on
 * two threads 0.94-0.98 of the time with output-channel shares, 128->128
 * 1.09-1.13 (`ab_libs.py`). */
AVX512 static void cs_first(void *arg, size_t begin, size_t end)
{
    wino_job *jb = arg;
    const cvm_wino *w = jb->w;
    const cvm_gemm_kernel *kern = w->kern;
    const size_t vs = (size_t)(w->C * WT + 16), ms = (size_t)(w->mpart * WT + 16);
    const int64_t kcs = cvm_gemm_kc(w->C);
    seg sg[WT];
    const int nseg = block_segments(w, 0, sg);
    const int bn = sg[nseg - 1].col < 16 ? 16 : WT;
    (void)begin, (void)end;
    int cursor = 0;
    for (int64_t h; (h = cvm_ranges_next(&jb->ranges, &cursor)) >= 0;) {
        float *V = slot_v(jb, h), *M = slot_m(jb, h);
        const int64_t c_lo = w->C * h / jb->slots, c_hi = w->C * (h + 1) / jb->slots;
        for (int i = 0, g; i < nseg; i = g) {
            for (g = i; g < nseg && sg[g].col / 16 == sg[i].col / 16; g++)
                ;
            input_tf(w, jb->x, &sg[i], g - i, V + sg[i].col / 16 * 16, vs, c_lo, c_hi);
        }
        for (int p = 0; p < 36; p++) {
            const float *U = w->U + p * w->u_stride;
            for (int64_t k0 = c_lo / kcs * kcs; k0 < c_hi; k0 += kcs) {
                const int64_t kc = w->C - k0 < kcs ? w->C - k0 : kcs;
                const int64_t c0 = k0 > c_lo ? k0 : c_lo;
                const int64_t c1 = k0 + kc < c_hi ? k0 + kc : c_hi;
                for (int64_t m = 0; m < w->K; m += kern->mr) {
                    int mr = w->K - m < kern->mr ? (int)(w->K - m) : kern->mr;
                    /* a packed panel holds mr weights per input channel */
                    kern->ukr(c1 - c0,
                              cvm_gemm_packed_a_block(kern, U, w->K, k0, kc, m) +
                                  (c0 - k0) * kern->mr,
                              V + p * vs + c0 * WT, M + p * ms + m * WT, WT, mr, bn, c0 > c_lo,
                              NULL);
                }
            }
        }
    }
}

AVX512 static void cs_second(void *arg, size_t begin, size_t end)
{
    wino_job *jb = arg;
    const cvm_wino *w = jb->w;
    const int64_t mr = w->kern->mr, mp = cdiv(w->K, mr);
    const size_t ms = (size_t)(w->mpart * WT + 16);
    seg sg[WT];
    const int nseg = block_segments(w, 0, sg);
    const int wide = sg[nseg - 1].col >= 16;
    (void)begin, (void)end;
    int cursor = 0;
    for (int64_t h; (h = cvm_ranges_next(&jb->ranges, &cursor)) >= 0;) {
        const int64_t m_lo = mp * h / jb->slots * mr;
        int64_t m_hi = mp * (h + 1) / jb->slots * mr;
        if (m_hi > w->K)
            m_hi = w->K;
        if (m_lo >= m_hi)
            continue;
        float *M = slot_m(jb, h);
        for (int64_t o = 0; o < jb->slots; o++) {
            if (o == h)
                continue;
            const float *Mo = slot_m(jb, o);
            for (int p = 0; p < 36; p++)
                for (int64_t m = m_lo; m < m_hi; m++) {
                    float *d = M + p * ms + m * WT;
                    const float *q = Mo + p * ms + m * WT;
                    _mm512_storeu_ps(d, _mm512_add_ps(_mm512_loadu_ps(d), _mm512_loadu_ps(q)));
                    if (wide)
                        _mm512_storeu_ps(d + 16, _mm512_add_ps(_mm512_loadu_ps(d + 16),
                                                               _mm512_loadu_ps(q + 16)));
                }
        }
        for (int i = 0, g; i < nseg; i = g) {
            for (g = i; g < nseg && sg[g].col / 16 == sg[i].col / 16; g++)
                ;
            output_tf(w, M + m_lo * WT + sg[i].col / 16 * 16, ms, &sg[i], g - i, 0, m_lo, m_hi,
                      jb->y, jb->out);
        }
    }
}

void cvm_wino_run(const cvm_wino *w, const float *x, float *y, const cvm_wino_out *out,
                  cvm_threadpool *pool, void *scratch)
{
    int T = pool ? cvm_threadpool_size(pool) : 1;
    if (T > w->slots)
        T = w->slots;
    if (T > CVM_RANGES_MAX)
        T = CVM_RANGES_MAX;
    /* (wsplit: the most pieces there can be; one thread multiplies whole
     * blocks, 32 columns at a time, instead of gsplit's groups of 16: a
     * layer run alone on one core next to another, see runtime/schedule.c) */
    const int groups = w->gsplit && T > 1;
    wino_job jb = {.w = w, .x = x, .y = y, .out = out, .groups = groups,
                   .items = w->N * w->blocks * (groups ? 2 : w->wsplit ? cdiv(w->K, w->kern->mr) : 1)};
    jb.scratch = (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    if (w->csplit && T > 1) {
        /* each slot first takes its own share (see cvm_ranges), so that
         * the second job finds its partial sum in its own cache */
        jb.slots = T;
        cvm_ranges_init(&jb.ranges, T, T);
        cvm_parallel_for(pool, (size_t)T, 1, cs_first, &jb);
        cvm_ranges_init(&jb.ranges, T, T);
        cvm_parallel_for(pool, (size_t)T, 1, cs_second, &jb);
        return;
    }
    if ((int64_t)T > jb.items)
        T = (int)jb.items;
    if (T < 1)
        T = 1;
    jb.slots = T;
    /* (YOLOv8n and YOLO11n on 2 threads of a shared VM: up to 5% faster by
     * the best and 10th-percentile runs than fixed shares, in alternation) */
    jb.dynamic = T > 1 && !w->wsplit;
    cvm_ranges_init(&jb.ranges, w->wsplit ? T : jb.items, T);
    cvm_parallel_for(pool, (size_t)T, 1, wino_slot, &jb);
}

#else

void cvm_wino_run(const cvm_wino *w, const float *x, float *y, const cvm_wino_out *out,
                  cvm_threadpool *pool, void *scratch)
{
    /* cvm_wino_usable() is false off x86-64: never reached. */
    (void)w, (void)x, (void)y, (void)out, (void)pool, (void)scratch;
}

#endif
