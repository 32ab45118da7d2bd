/*
 * ConvInteger on AVX512-VNNI: vpdpbusd multiplies unsigned activation bytes
 * by signed weight bytes four at a time into int32 lanes.
 *
 * Every operand is moved into that domain once: uint8 weights become
 * w - 128 (int8) and int8 activations x + 128 (uint8), with the zero points
 * shifted alike, so that (x - xz)(w - wz) = (xu - xzu)(ws - wzs) exactly.
 * The zero points are then applied algebraically in the epilogue:
 *   sum (xu - xzu)(ws - wzs) = sum xu*ws - wzs * colsum(xu) - xzu * rowsum(ws)
 *                              + K * xzu * wzs
 * where rowsum is computed from the constant weights at prepare time and
 * colsum from the packed activations per tile.  Every term is evaluated in
 * wrapping 32-bit arithmetic: the exact result fits in int32 (K is bounded
 * by the caller), so the wrapped sum equals it.
 */
#ifndef CVM_BACKENDS_CPU_QUANT_VNNI_H
#define CVM_BACKENDS_CPU_QUANT_VNNI_H

#include <stddef.h>
#include <stdint.h>

#include "backends/cpu/quant_geom.h"
#include "base/threadpool.h"

typedef struct cvm_q8_conv {
    cvm_conv_geom g;
    int64_t K, K4, Mg, Mgp, P; /* patch, patch rounded up to 4, rows per group (and padded to panels) */
    int8_t *w;                 /* group, 8-row panel, K/4 steps of 8 rows x 4 bytes */
    int32_t *rowsum, *wzs;     /* [M] */
    int amx;                   /* AMX-INT8 tiles multiply (K4 then a multiple of 64) */
    int64_t arows;             /* rows of wa per group and 64-byte K chunk (Mgp + 16, zero padded) */
    int8_t *wa;                /* [group][K4 / 64][arows][64]: AMX A tiles at any row */
    int slots;
    size_t slot_bytes;
} cvm_q8_conv;

/* Whether this CPU has the instructions (and they are not disabled below). */
int cvm_q8_available(void);
/* Tests: force the portable path (0) or allow the VNNI one again (1). */
void cvm_q8_enable(int on);
/* Tests: keep the AVX512-VNNI products (0) or allow AMX-INT8 tiles (1) for
 * convolutions prepared afterwards. */
void cvm_q8_amx_enable(int on);

/* Packs constant weights [M, C/group, k...] of type w_s8 ? int8 : uint8 with
 * zero points wz (nwz = 0, 1 or M values, same type).  The geometry must
 * have K in 1..33025 and at most 2 spatial axes.  Returns 0 or -1 (memory). */
int cvm_q8_conv_init(cvm_q8_conv *s, const cvm_conv_geom *g, int64_t K, const void *w, int w_s8,
                     const void *wz, int64_t nwz, int slots);
void cvm_q8_conv_free(cvm_q8_conv *s);
/* Scratch bytes cvm_q8_conv_run needs. */
size_t cvm_q8_conv_scratch(const cvm_q8_conv *s);
/* Called with float32 outputs (scale set) once rows m0..m1-1, positions
 * p0..p0+len-1 of image n are final, while they are in cache. */
typedef void (*cvm_q8_epi_fn)(const void *ctx, int64_t n, int64_t m0, int64_t m1, int64_t p0,
                              int64_t len);

/* y[N, M, P] from x[N, C, spatial] bytes (x_s8: int8) with zero point xz
 * (in x's own type, e.g. -3 for int8): int32, or with scale set float32
 * values float(sum) * *scale, then epi (may be NULL) on each finished tile. */
void cvm_q8_conv_run(const cvm_q8_conv *s, const void *x, int x_s8, int32_t xz, const float *scale, void *y,
                     void *scratch, cvm_threadpool *pool, cvm_q8_epi_fn epi, const void *epi_ctx);

/* DynamicQuantizeLinear's two passes in AVX-512 (cvm_q8_avx512() says
 * whether they may run).  The range starts at [0, 0]; NaNs are skipped.
 * The quantisation is the portable loop's, lane for lane:
 *   y = clamp(round_half_even(clamp(x / scale, -512, 512)) + zp, 0, 255). */
int cvm_q8_avx512(void);
void cvm_q8_range(const float *x, int64_t n, float *mn, float *mx);
void cvm_q8_quantize(const float *x, uint8_t *y, int64_t n, float scale, float zp);

#endif
