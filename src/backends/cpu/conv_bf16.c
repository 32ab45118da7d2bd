/* bf16 implicit-GEMM convolution on AMX tiles or AVX512_BF16 (see conv_bf16.h). */
#include "backends/cpu/conv_bf16.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/status.h"
#include "base/half.h"

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#include <sys/syscall.h>

#include "backends/cpu/act512.h"
#include <unistd.h>
#define CBF_X86 1
#endif

/* ------------------------------------------------------------ CPU support */

static int amx_int8_value;

#ifdef CBF_X86
/* AMX-TILE and the OS state for it, and Linux's permission (asked once). */
static int amx_tiles(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid_count(1, 0, &a, &b, &c, &d) || !(c & (1u << 27))) /* OSXSAVE */
        return 0;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    uint64_t xcr0 = ((uint64_t)hi << 32) | lo;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(d & (1u << 24)) ||
        (xcr0 & (3u << 17)) != (3u << 17))
        return 0;
    /* Linux hands out the 8 KiB tile state only on request (once per process). */
    enum { ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18 };
    return syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
}

static int cpu_amx_int8(int tiles)
{
    unsigned a, b, c, d;
    return tiles && __get_cpuid_count(7, 0, &a, &b, &c, &d) && (d & (1u << 25)) &&
           (b & (1u << 16)) && (b & (1u << 30));
}

static int cpu_bf16_kind(int tiles)
{
    unsigned a, b, c, d;
    if (!__get_cpuid_count(1, 0, &a, &b, &c, &d) || !(c & (1u << 27))) /* OSXSAVE */
        return CVM_BF16_NONE;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    uint64_t xcr0 = ((uint64_t)hi << 32) | lo;
    if ((xcr0 & 0xe6) != 0xe6) /* SSE, AVX and the three AVX-512 states */
        return CVM_BF16_NONE;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
        return CVM_BF16_NONE;
    int avx512 = (b & (1u << 16)) && (b & (1u << 30)); /* F, BW */
    int amx = (d & (1u << 22)) && (d & (1u << 24));    /* AMX-BF16, AMX-TILE */
    unsigned a1 = 0, b1, c1, d1;
    __get_cpuid_count(7, 1, &a1, &b1, &c1, &d1);
    if (!avx512 || !(a1 & (1u << 5))) /* AVX512_BF16: the packing code needs it */
        return CVM_BF16_NONE;
    const char *env = getenv("CVM_BF16_KERNEL");
    if (env && strcmp(env, "avx512") == 0)
        return CVM_BF16_AVX512;
    if (amx && tiles)
        return CVM_BF16_AMX;
    return CVM_BF16_AVX512;
}
#else
static int amx_tiles(void)
{
    return 0;
}

static int cpu_amx_int8(int tiles)
{
    (void)tiles;
    return 0;
}

static int cpu_bf16_kind(int tiles)
{
    (void)tiles;
    return CVM_BF16_NONE;
}
#endif

static pthread_once_t kind_once = PTHREAD_ONCE_INIT;
static int kind_value;

static void kind_init(void)
{
    int tiles = amx_tiles();
    kind_value = cpu_bf16_kind(tiles);
    amx_int8_value = cpu_amx_int8(tiles);
}

int cvm_amx_int8(void)
{
    pthread_once(&kind_once, kind_init);
    return amx_int8_value;
}

int cvm_bf16_kind(void)
{
    pthread_once(&kind_once, kind_init);
    return kind_value;
}

const char *cvm_bf16_kind_name(int kind)
{
    return kind == CVM_BF16_AMX ? "amx" : kind == CVM_BF16_AVX512 ? "avx512_bf16" : "none";
}

/* --------------------------------------------------------------- prepare */

static int64_t ceil_div(int64_t a, int64_t b)
{
    return (a + b - 1) / b;
}

cvm_status cvm_cbf_prepare(cvm_cbf *p, int kind, int64_t N, int64_t C, int64_t M, int64_t H,
                           int64_t W, int64_t KH, int64_t KW, int64_t OH, int64_t OW, int64_t sh,
                           int64_t sw, int64_t dh, int64_t dw, int64_t pt, int64_t pl,
                           const float *w, int slots)
{
    memset(p, 0, sizeof *p);
    if (kind == CVM_BF16_NONE)
        return cvm_errorf(CVM_E_UNSUPPORTED, "bf16 convolution: this CPU has neither AMX-BF16 nor "
                          "AVX512_BF16");
    *p = (cvm_cbf){.kind = kind, .N = N, .C = C, .M = M, .H = H, .W = W, .OH = OH, .OW = OW,
                   .sh = sh, .sw = sw, .dh = dh, .dw = dw, .pt = pt, .pl = pl, .KH = KH, .KW = KW,
                   .slots = slots < 1 ? 1 : slots};
    /* The padded extent the outputs read, split into stride phases. */
    int64_t wp = (OW - 1) * sw + (KW - 1) * dw + 1;
    p->Wq = ceil_div(wp, sw);
    p->nph = sh * sw;
    p->ntaps = (int)(KH * KW);
    p->cp = ceil_div(C, 2);
    p->nkb = ceil_div(p->cp, 16);
    p->kb = ceil_div(p->cp, p->nkb);
    p->mblk = ceil_div(M, 16);
    /* Bands of R output rows: a worker packs the phase rows a band reads
     * (R plus the taps' reach below) into its own buffer and multiplies
     * them while they are in cache.  R keeps the band's sums within ~192
     * KiB and its pair planes within ~768 KiB, gives each worker a few
     * bands to even out, and is at least 4 rows where the image allows,
     * so that the rows packed twice stay few. */
    int64_t reach = ((KH - 1) * dh) / sh, npl = p->nkb * p->kb, rows = p->mblk * 16;
    int64_t r_acc = (192 * 1024 / 4 / rows - 48) / p->Wq;
    int64_t r_pack = (768 * 1024 / 4 / npl) / (p->Wq * (p->nph + 1)) - reach;
    int64_t R = ceil_div(OH, 4 * (int64_t)p->slots);
    if (R < 4)
        R = 4;
    if (R > r_acc)
        R = r_acc;
    if (R > r_pack)
        R = r_pack;
    if (R < 1)
        R = 1;
    if (R > OH)
        R = OH;
    /* Whole bands per worker: a 20-row map in bands of 4 gives two workers
     * 3 and 2 bands; bands of 5 give 2 and 2.  Taller or shorter bands, up to
     * a third either way, as the limits above allow. */
    if (p->slots > 1 && ceil_div(OH, R) % p->slots != 0) {
        int64_t best = R;
        for (int64_t d = 1; d <= (R + 2) / 3 && best == R; d++) {
            if (R + d <= r_acc && R + d <= r_pack && R + d <= OH && ceil_div(OH, R + d) % p->slots == 0)
                best = R + d;
            else if (R - d >= 1 && ceil_div(OH, R - d) % p->slots == 0)
                best = R - d;
        }
        R = best;
    }
    p->R = R;
    p->Rq = R + reach;
    p->nbands = ceil_div(OH, R);
    p->bpos = ceil_div(R * p->Wq, 32) * 32;
    p->tap = malloc(sizeof *p->tap * (size_t)p->ntaps);
    if (!p->tap)
        return cvm_errorf(CVM_E_NOMEM, "out of memory");
    int64_t phase_len = p->Rq * p->Wq, max_tap = 0;
    for (int64_t ky = 0; ky < KH; ky++)
        for (int64_t kx = 0; kx < KW; kx++) {
            int64_t y = ky * dh, x = kx * dw;
            int64_t off = ((y % sh) * sw + x % sw) * phase_len + (y / sh) * p->Wq + x / sw;
            p->tap[ky * KW + kx] = off;
            if (off > max_tap)
                max_tap = off;
        }
    /* Dropped positions past a band's last row read a little beyond the
     * phases; an odd number of cache lines between planes keeps a tile's 16
     * rows off one cache set. */
    int64_t len = p->nph * phase_len;
    if (max_tap + p->bpos > len)
        len = max_tap + p->bpos;
    len = ceil_div(len, 16) * 16;
    if ((len / 16) % 2 == 0)
        len += 16;
    p->plane = len;

    size_t welems = (size_t)p->mblk * 16 * (size_t)p->ntaps * (size_t)(p->nkb * p->kb) * 2;
    p->w = calloc(welems ? welems : 1, sizeof *p->w);
    if (!p->w) {
        cvm_cbf_free(p);
        return cvm_errorf(CVM_E_NOMEM, "out of memory packing bf16 weights");
    }
    uint16_t *d = p->w;
    for (int64_t mb = 0; mb < p->mblk; mb++)
        for (int t = 0; t < p->ntaps; t++)
            for (int64_t kk = 0; kk < p->nkb; kk++)
                for (int64_t row = 0; row < 16; row++)
                    for (int64_t r = 0; r < p->kb; r++)
                        for (int e = 0; e < 2; e++) {
                            int64_t oc = mb * 16 + row, ch = (kk * p->kb + r) * 2 + e;
                            *d++ = oc < M && ch < C ? cvm_f32_to_bf16(w[(oc * C + ch) * KH * KW + t])
                                                    : 0;
                        }
    return CVM_OK;
}

void cvm_cbf_free(cvm_cbf *p)
{
    free(p->tap);
    free(p->w);
    p->tap = NULL;
    p->w = NULL;
}

static int64_t acc_ld(const cvm_cbf *p)
{
    return p->bpos + 16; /* rows a line apart from a power of two */
}

static size_t in_bytes(const cvm_cbf *p)
{
    return (size_t)(p->nkb * p->kb) * (size_t)p->plane * 4;
}

static size_t acc_bytes(const cvm_cbf *p)
{
    return (size_t)(p->mblk * 16) * (size_t)acc_ld(p) * 4;
}

static size_t slot_bytes(const cvm_cbf *p)
{
    return (in_bytes(p) + acc_bytes(p) + 63) & ~(size_t)63;
}

size_t cvm_cbf_scratch_bytes(const cvm_cbf *p)
{
    return (size_t)p->slots * slot_bytes(p) + 64;
}

/* ---------------------------------------------------------- input packing */

typedef struct cbf_job {
    const cvm_cbf *p;
    const float *x;
    float *y;
    const cvm_cbf_out *out;
    char *scratch;  /* per slot: pair planes of a band, then its sums */
    int64_t items;  /* bands of all images */
    cvm_ranges ranges;                    /* the bands, taken by range */
} cbf_job;

#ifdef CBF_X86
#define CBF_AVX512 CVM_TARGET_BF16
#define CBF_AMX CVM_TARGET_AMX

/* Pairs j0..j1-1 of one phase row: input columns c = j * sw + c0 (all in range). */
CBF_AVX512 static void pack_span(uint32_t *dst, const float *xa, const float *xb, int64_t j0,
                                 int64_t j1, int64_t sw, int64_t c0)
{
    static const int32_t even[16] = {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30};
    const __m512i ev = _mm512_loadu_si512(even);
    for (int64_t j = j0; j < j1; j += 16) {
        int64_t cnt = j1 - j < 16 ? j1 - j : 16;
        __mmask16 m = (__mmask16)((1u << cnt) - 1);
        const float *pa = xa + j * sw + c0, *pb = xb ? xb + j * sw + c0 : NULL;
        __m512 a, b = _mm512_setzero_ps();
        if (sw == 1) {
            a = _mm512_maskz_loadu_ps(m, pa);
            if (pb)
                b = _mm512_maskz_loadu_ps(m, pb);
        } else if (sw == 2) {
            /* elements 0..2*cnt-2 of the window are in range */
            int64_t need = 2 * cnt - 1;
            __mmask16 m0 = (__mmask16)(need >= 16 ? 0xffff : (1u << need) - 1);
            __mmask16 m1 = (__mmask16)(need <= 16 ? 0 : (1u << (need - 16)) - 1);
            a = _mm512_permutex2var_ps(_mm512_maskz_loadu_ps(m0, pa), ev,
                                       _mm512_maskz_loadu_ps(m1, pa + 16));
            if (pb)
                b = _mm512_permutex2var_ps(_mm512_maskz_loadu_ps(m0, pb), ev,
                                           _mm512_maskz_loadu_ps(m1, pb + 16));
        } else {
            float ta[16] = {0}, tb[16] = {0};
            for (int64_t i = 0; i < cnt; i++) {
                ta[i] = pa[i * sw];
                tb[i] = pb ? pb[i * sw] : 0.0f;
            }
            a = _mm512_loadu_ps(ta);
            b = _mm512_loadu_ps(tb);
        }
        _mm512_mask_storeu_epi32(dst + j, m, cvm_bf16_pair16(a, b));
    }
}

/* Fills the pair planes of the band starting at output row oy0 of image x:
 * every phase row it reads, zeros where the padded image has no data, and
 * the tail read by the dropped positions. */
CBF_AVX512 static void pack_band(const cvm_cbf *p, const float *x, int64_t oy0, uint32_t *in)
{
    const int64_t HW = p->H * p->W, phase_len = p->Rq * p->Wq;
    for (int64_t pp = 0; pp < p->nkb * p->kb; pp++) {
        uint32_t *plane = in + pp * p->plane;
        int64_t ch = 2 * pp;
        if (ch >= p->C) {
            memset(plane, 0, (size_t)p->plane * 4);
            continue;
        }
        const float *xa = x + ch * HW, *xb = ch + 1 < p->C ? xa + HW : NULL;
        for (int64_t a = 0; a < p->sh; a++)
            for (int64_t b = 0; b < p->sw; b++) {
                uint32_t *ph = plane + (a * p->sw + b) * phase_len;
                /* columns j with 0 <= j * sw + b - pl < W */
                int64_t c0 = b - p->pl;
                int64_t jlo = c0 >= 0 ? 0 : ceil_div(-c0, p->sw);
                int64_t jhi = p->W - c0 <= 0 ? 0 : ceil_div(p->W - c0, p->sw);
                if (jhi > p->Wq)
                    jhi = p->Wq;
                if (jlo > jhi)
                    jlo = jhi;
                for (int64_t i = 0; i < p->Rq; i++) {
                    uint32_t *row = ph + i * p->Wq;
                    int64_t r = (oy0 + i) * p->sh + a - p->pt;
                    if (r < 0 || r >= p->H || jlo == jhi) {
                        memset(row, 0, (size_t)p->Wq * 4);
                        continue;
                    }
                    for (int64_t j = 0; j < jlo; j++)
                        row[j] = 0;
                    pack_span(row, xa + r * p->W, xb ? xb + r * p->W : NULL, jlo, jhi, p->sw, c0);
                    for (int64_t j = jhi; j < p->Wq; j++)
                        row[j] = 0;
                }
            }
        int64_t used = p->nph * phase_len;
        memset(plane + used, 0, (size_t)(p->plane - used) * 4);
    }
}

/* ----------------------------------------------------------- the products */

/* Sums for a band's positions 0..len-1 (len a multiple of 32) of all output
 * channels into acc[row * ld + pos]. */
CBF_AMX static void amx_item(const cvm_cbf *p, const uint32_t *in, int64_t len,
                             float *acc, int64_t ld)
{
    const int64_t ablk = 16 * p->kb * 2, astride = p->kb * 4, bstride = p->plane * 4;
    const int64_t per_m = (int64_t)p->ntaps * p->nkb * ablk;
    const int64_t kstep = p->kb * p->plane;
    int64_t mb = 0;
    for (; mb + 1 < p->mblk; mb += 2) {
        for (int64_t j = 0; j < len; j += 32) {
            _tile_zero(0);
            _tile_zero(1);
            _tile_zero(2);
            _tile_zero(3);
            const uint16_t *a0 = p->w + mb * per_m, *a1 = a0 + per_m;
            for (int t = 0; t < p->ntaps; t++) {
                const uint32_t *b = in + p->tap[t] + j;
                for (int64_t kk = 0; kk < p->nkb; kk++, b += kstep, a0 += ablk, a1 += ablk) {
                    _tile_loadd(4, a0, astride);
                    _tile_loadd(6, b, bstride);
                    _tile_loadd(7, b + 16, bstride);
                    _tile_dpbf16ps(0, 4, 6);
                    _tile_dpbf16ps(1, 4, 7);
                    _tile_loadd(5, a1, astride);
                    _tile_dpbf16ps(2, 5, 6);
                    _tile_dpbf16ps(3, 5, 7);
                }
            }
            float *c = acc + mb * 16 * ld + j;
            _tile_stored(0, c, ld * 4);
            _tile_stored(1, c + 16, ld * 4);
            _tile_stored(2, c + 16 * ld, ld * 4);
            _tile_stored(3, c + 16 * ld + 16, ld * 4);
        }
    }
    if (mb < p->mblk) {
        for (int64_t j = 0; j < len; j += 32) {
            _tile_zero(0);
            _tile_zero(1);
            const uint16_t *a0 = p->w + mb * per_m;
            for (int t = 0; t < p->ntaps; t++) {
                const uint32_t *b = in + p->tap[t] + j;
                for (int64_t kk = 0; kk < p->nkb; kk++, b += kstep, a0 += ablk) {
                    _tile_loadd(4, a0, astride);
                    _tile_loadd(6, b, bstride);
                    _tile_loadd(7, b + 16, bstride);
                    _tile_dpbf16ps(0, 4, 6);
                    _tile_dpbf16ps(1, 4, 7);
                }
            }
            float *c = acc + mb * 16 * ld + j;
            _tile_stored(0, c, ld * 4);
            _tile_stored(1, c + 16, ld * 4);
        }
    }
}

/* The same sums with AVX512_BF16 dot products: 8 channels x 32 positions in
 * 16 registers, a weight pair broadcast from memory per product. */
CBF_AVX512 static void avx512_item(const cvm_cbf *p, const uint32_t *in, int64_t len,
                                   float *acc, int64_t ld)
{
    const int64_t kb = p->kb, ablk = 16 * kb, per_m = (int64_t)p->ntaps * p->nkb * ablk;
    const uint32_t *wq = (const uint32_t *)p->w;
    for (int64_t mb = 0; mb < p->mblk; mb++)
        for (int h = 0; h < 2; h++)
            for (int64_t j = 0; j < len; j += 32) {
                __m512 s[8][2];
                for (int i = 0; i < 8; i++)
                    s[i][0] = s[i][1] = _mm512_setzero_ps();
                const uint32_t *a = wq + mb * per_m + h * 8 * kb;
                for (int t = 0; t < p->ntaps; t++) {
                    const uint32_t *b = in + p->tap[t] + j;
                    for (int64_t kk = 0; kk < p->nkb; kk++, a += ablk) {
                        for (int64_t r = 0; r < kb; r++) {
                            const uint32_t *br = b + (kk * kb + r) * p->plane;
                            __m512bh b0 = (__m512bh)_mm512_loadu_si512(br);
                            __m512bh b1 = (__m512bh)_mm512_loadu_si512(br + 16);
                            for (int i = 0; i < 8; i++) {
                                __m512bh av = (__m512bh)_mm512_set1_epi32((int)a[i * kb + r]);
                                s[i][0] = _mm512_dpbf16_ps(s[i][0], av, b0);
                                s[i][1] = _mm512_dpbf16_ps(s[i][1], av, b1);
                            }
                        }
                    }
                }
                float *c = acc + (mb * 16 + h * 8) * ld + j;
                for (int i = 0; i < 8; i++) {
                    _mm512_storeu_ps(c + i * ld, s[i][0]);
                    _mm512_storeu_ps(c + i * ld + 16, s[i][1]);
                }
            }
}

/* Moves the valid positions of a band's sums (plus bias) into the output:
 * rows oy0..oy0+rows-1 of image n, finished in registers or by the span
 * callback. */
CBF_AVX512 static void band_out(const cbf_job *j, int64_t n, int64_t oy0, int64_t rows,
                                const float *acc, int64_t ld)
{
    const cvm_cbf *p = j->p;
    const int64_t OHW = p->OH * p->OW, OW = p->OW;
    const cvm_gemm_epi *epi = j->out->epi;
    const float *res = j->out->res ? j->out->res + n * j->out->res_n : NULL;
    float *y = j->y + n * p->M * OHW;
    for (int64_t oc = 0; oc < p->M; oc++) {
        const __m512 bv = _mm512_set1_ps(j->out->bias ? j->out->bias[oc] : 0.0f);
        const float *rc = res ? res + oc * j->out->res_c : NULL;
        for (int64_t i = 0; i < rows; i++) {
            const float *src = acc + oc * ld + i * p->Wq;
            int64_t o0 = (oy0 + i) * OW;
            float *dst = y + oc * OHW + o0;
            if (epi) {
                const float *rs = rc ? rc + o0 : NULL;
                for (int64_t q = 0; q < OW; q += 16) {
                    int64_t cnt = OW - q < 16 ? OW - q : 16;
                    __mmask16 m = (__mmask16)((1u << cnt) - 1);
                    __m512 v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, src + q), bv);
                    __m512 r = rs ? _mm512_maskz_loadu_ps(m, rs + q) : _mm512_setzero_ps();
                    if (rs && epi->add_first)
                        v = _mm512_add_ps(v, r);
                    v = cvm_act512(v, epi);
                    if (rs && !epi->add_first)
                        v = _mm512_add_ps(v, r);
                    _mm512_mask_storeu_ps(dst + q, m, v);
                }
                continue;
            }
            for (int64_t q = 0; q < OW; q += 16) {
                int64_t cnt = OW - q < 16 ? OW - q : 16;
                __mmask16 m = (__mmask16)((1u << cnt) - 1);
                _mm512_mask_storeu_ps(dst + q, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, src + q), bv));
            }
            if (j->out->span)
                j->out->span(j->out->span_ctx, n, oc, o0, OW, dst);
        }
    }
}

static void cbf_slot(void *arg, size_t begin, size_t end)
{
    cbf_job *j = arg;
    const cvm_cbf *p = j->p;
    const int64_t ld = acc_ld(p);
    for (size_t s = begin; s < end; s++) {
        uint32_t *in = (uint32_t *)(j->scratch + s * slot_bytes(p));
        float *acc = (float *)((char *)in + in_bytes(p));
        if (p->kind == CVM_BF16_AMX)
            cvm_amx_config(p->kb);
        /* consecutive layers give each core the rows it wrote last time
         * (see cvm_ranges) */
        int cursor = 0;
        for (int64_t it; (it = cvm_ranges_next(&j->ranges, &cursor)) >= 0;) {
            int64_t n = it / p->nbands, oy0 = (it % p->nbands) * p->R;
            int64_t rows = p->OH - oy0 < p->R ? p->OH - oy0 : p->R;
            int64_t len = ceil_div(rows * p->Wq, 32) * 32;
            pack_band(p, j->x + n * p->C * p->H * p->W, oy0, in);
            if (p->kind == CVM_BF16_AMX)
                amx_item(p, in, len, acc, ld);
            else
                avx512_item(p, in, len, acc, ld);
            band_out(j, n, oy0, rows, acc, ld);
        }
        if (p->kind == CVM_BF16_AMX)
            cvm_amx_release();
    }
}
#endif

void cvm_cbf_run(const cvm_cbf *p, const float *x, float *y, const cvm_cbf_out *out,
                 cvm_threadpool *pool, void *scratch)
{
#ifdef CBF_X86
    cbf_job j = {.p = p, .x = x, .y = y, .out = out,
                 .scratch = (char *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63),
                 .items = p->N * p->nbands};
    int T = pool ? cvm_threadpool_size(pool) : 1;
    if (T > p->slots)
        T = p->slots;
    if (T > j.items)
        T = (int)j.items;
    if (T < 1)
        T = 1;
    cvm_ranges_init(&j.ranges, j.items, T);
    cvm_parallel_for(pool, (size_t)T, 1, cbf_slot, &j);
#else
    (void)p, (void)x, (void)y, (void)out, (void)pool, (void)scratch;
#endif
}
