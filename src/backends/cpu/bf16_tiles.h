/* Pieces shared by the bf16 kernels (conv_bf16.c, matmul_bf16.c): which
 * kernel a CPU runs, bf16 pairs from two float vectors, and the one AMX tile
 * layout both use. */
#ifndef CVM_BACKENDS_CPU_BF16_TILES_H
#define CVM_BACKENDS_CPU_BF16_TILES_H

#include <stdint.h>
#include <string.h>

#include "backends/backend.h"

/* cvm_bf16_kind() (backend.h) is the fastest kernel this CPU and OS allow;
 * it asks Linux for the AMX tile state once.  CVM_BF16_KERNEL=avx512 caps
 * it at the AVX512_BF16 kernel, to compare the two. */
enum { CVM_BF16_NONE = 0, CVM_BF16_AVX512 = 1, CVM_BF16_AMX = 2 };

#if defined(__x86_64__)
#include <immintrin.h>
#define CVM_BF16_X86 1
#define CVM_TARGET_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
#define CVM_TARGET_AMX __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,amx-tile,amx-bf16")))

/* 16 pairs (a[i], b[i]) as bf16 (round to nearest even), a in the low half
 * of each pair: the VNNI order of a K pair. */
CVM_TARGET_BF16 static inline __m512i cvm_bf16_pair16(__m512 a, __m512 b)
{
    static const uint16_t ix[32] = {0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23,
                                    8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
    __m512i v = (__m512i)_mm512_cvtne2ps_pbh(b, a);
    return _mm512_permutexvar_epi16(_mm512_loadu_si512(ix), v);
}

typedef struct cvm_tile_cfg {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} cvm_tile_cfg;

/* Tiles 0-3: 16x16 float sums; 4-5: 16 rows of kb pairs (the operand whose
 * rows are the sums' rows); 6-7: kb pair rows of 16 columns. */
CVM_TARGET_AMX static inline void cvm_amx_config(int64_t kb)
{
    cvm_tile_cfg c;
    memset(&c, 0, sizeof c);
    c.palette = 1;
    for (int i = 0; i < 4; i++) {
        c.rows[i] = 16;
        c.colsb[i] = 64;
    }
    for (int i = 4; i < 6; i++) {
        c.rows[i] = 16;
        c.colsb[i] = (uint16_t)(kb * 4);
    }
    for (int i = 6; i < 8; i++) {
        c.rows[i] = (uint8_t)kb;
        c.colsb[i] = 64;
    }
    /* gcc 12's ldtilecfg asm claims to read 8 bytes only: without this
     * barrier the stores above are dropped as dead */
    __asm__ volatile("" : : "r"(&c) : "memory");
    _tile_loadconfig(&c);
}

CVM_TARGET_AMX static inline void cvm_amx_release(void)
{
    _tile_release();
}
#endif

#endif
