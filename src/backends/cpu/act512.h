/* Fused activations on AVX-512 registers, shared by the GEMM micro-kernel
 * epilogue and the Winograd output transform.  Include only where
 * <immintrin.h> is available (x86-64). */
#ifndef CVM_BACKENDS_CPU_ACT512_H
#define CVM_BACKENDS_CPU_ACT512_H

#include <immintrin.h>

#include "backends/cpu/gemm_f32.h"
#include "graph/fuse.h"

/* e^x for AVX-512 (the same reduction and polynomial as cvm_vexpf in
 * vmath.h, with scalef doing the 2^n scaling; n rounded by the 1.5 * 2^23
 * shift in one fused multiply-add, as in cvm_sigmoid512 below). */
__attribute__((target("avx512f"))) static inline __m512 cvm_exp512(__m512 x)
{
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.3f)), _mm512_set1_ps(88.3f));
    const __m512 shifter = _mm512_set1_ps(12582912.0f);
    __m512 n = _mm512_sub_ps(_mm512_fmadd_ps(x, _mm512_set1_ps(1.44269504088896341f), shifter),
                             shifter);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.42860682030941723e-06f), r);
    __m512 p = _mm512_set1_ps(1.0f / 5040.0f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

/* 1/d for d >= 1: the 14-bit estimate and one Newton step (relative error
 * about 2^-23, against a division's 10+ cycles per vector). */
__attribute__((target("avx512f"))) static inline __m512 cvm_rcp512(__m512 d)
{
    __m512 r = _mm512_rcp14_ps(d);
    return _mm512_mul_ps(r, _mm512_fnmadd_ps(d, r, _mm512_set1_ps(2.0f)));
}

/* erf(x) as cvm_verff in vmath.h: the series below |x| = 0.5, 1 - erfc
 * (Numerical Recipes' Chebyshev fit times e^(-x^2)) above, sign restored. */
__attribute__((target("avx512f"))) static inline __m512 cvm_erf512(__m512 x)
{
    const __m512 one = _mm512_set1_ps(1.0f);
    __m512 z = _mm512_abs_ps(x), z2 = _mm512_mul_ps(x, x);
    __m512 sp = _mm512_set1_ps(1.0f / 9360.0f);
    sp = _mm512_fmadd_ps(sp, z2, _mm512_set1_ps(-1.0f / 1320.0f));
    sp = _mm512_fmadd_ps(sp, z2, _mm512_set1_ps(1.0f / 216.0f));
    sp = _mm512_fmadd_ps(sp, z2, _mm512_set1_ps(-1.0f / 42.0f));
    sp = _mm512_fmadd_ps(sp, z2, _mm512_set1_ps(1.0f / 10.0f));
    sp = _mm512_fmadd_ps(sp, z2, _mm512_set1_ps(-1.0f / 3.0f));
    sp = _mm512_fmadd_ps(sp, z2, one);
    __m512 small = _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(1.12837916709551257f), x), sp);
    __m512 t = _mm512_div_ps(one, _mm512_fmadd_ps(_mm512_set1_ps(0.5f), z, one));
    __m512 q = _mm512_set1_ps(0.17087277f);
    q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(-0.82215223f));
    q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(1.48851587f));
    q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(-1.13520398f));
    q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(0.27886807f));
    q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(-0.18628806f));
    q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(0.09678418f));
    q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(0.37409196f));
    q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(1.00002368f));
    q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(-1.26551223f));
    __m512 erfc = _mm512_mul_ps(t, cvm_exp512(_mm512_sub_ps(q, _mm512_mul_ps(z, z))));
    __m512 large = _mm512_sub_ps(one, erfc);
    /* copy x's sign onto the large branch */
    large = _mm512_castsi512_ps(_mm512_or_si512(
        _mm512_castps_si512(large),
        _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32((int)0x80000000u))));
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(z, _mm512_set1_ps(0.5f), _CMP_LT_OQ), large,
                                small);
}

/* 1 / (1 + e^-x), the sigmoid of the SiLU after nearly every YOLO
 * convolution, in as few operations as its accuracy allows, since small-K
 * convolutions spend as long on it as on their multiply-adds:
 * - n = round(-x log2 e) by adding and subtracting 1.5 * 2^23, whose sum
 *   keeps the nearest integer in the mantissa (two operations that run on
 *   either vector port, where roundscale is two on one port);
 * - r = x + n ln2, so that e^-x = 2^n e^-r, with a one-constant ln2 (its
 *   error only matters where e^-x is huge and the sigmoid ~0);
 * - e^-r by a degree-5 polynomial fitted here for the least relative error
 *   on [-ln2/2, ln2/2] (1.8e-7 evaluated in float);
 * - 2^n by scalef, the reciprocal by the 14-bit estimate and a Newton step.
 * Over [-30, 30]: absolute error 1.3e-7, as the degree-6 form with
 * roundscale it replaces, whose share of an 8x32 GEMM tile with K = 48 it
 * cuts by about a quarter (a stand-alone tile loop, both in one process).
 * The clamp keeps +-inf finite and the result a normal float (no denormal
 * slow paths downstream); NaN stays NaN. */
__attribute__((target("avx512f"))) static inline __m512 cvm_sigmoid512(__m512 x)
{
    /* constants first: min/max return their second operand when one is NaN */
    x = _mm512_max_ps(_mm512_set1_ps(-87.0f), _mm512_min_ps(_mm512_set1_ps(87.0f), x));
    const __m512 magic = _mm512_set1_ps(12582912.0f);
    __m512 n = _mm512_sub_ps(_mm512_fmadd_ps(x, _mm512_set1_ps(-1.44269504088896341f), magic),
                             magic);
    __m512 r = _mm512_fmadd_ps(n, _mm512_set1_ps(0.693147182464599609375f), x);
    __m512 p = _mm512_set1_ps(-0.00831251684576273f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.041890114545822144f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(-0.16667114198207855f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.499992311000824f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(-1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return cvm_rcp512(_mm512_add_ps(_mm512_set1_ps(1.0f), _mm512_scalef_ps(p, n)));
}

__attribute__((target("avx512f"))) static inline __m512 cvm_act512(__m512 x, const cvm_gemm_epi *e)
{
    const __m512 zero = _mm512_setzero_ps(), one = _mm512_set1_ps(1.0f);
    switch (e->act) {
    case CVM_FUSED_RELU:
        return _mm512_max_ps(x, zero);
    case CVM_FUSED_LEAKY_RELU:
        return _mm512_mask_mul_ps(x, _mm512_cmp_ps_mask(x, zero, _CMP_LT_OQ), x,
                                  _mm512_set1_ps(e->alpha));
    case CVM_FUSED_SIGMOID:
        return cvm_sigmoid512(x);
    case CVM_FUSED_SILU:
        return _mm512_mul_ps(x, cvm_sigmoid512(x));
    case CVM_FUSED_HARD_SIGMOID: {
        __m512 v = _mm512_fmadd_ps(x, _mm512_set1_ps(e->alpha), _mm512_set1_ps(e->beta));
        return _mm512_min_ps(_mm512_max_ps(v, zero), one);
    }
    case CVM_FUSED_HARD_SWISH: {
        __m512 v = _mm512_fmadd_ps(x, _mm512_set1_ps(1.0f / 6.0f), _mm512_set1_ps(0.5f));
        return _mm512_mul_ps(x, _mm512_min_ps(_mm512_max_ps(v, zero), one));
    }
    case CVM_FUSED_CLIP:
        return _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(e->alpha)), _mm512_set1_ps(e->beta));
    case CVM_FUSED_GELU:
        return _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), x),
                             _mm512_add_ps(one, cvm_erf512(_mm512_mul_ps(
                                                   x, _mm512_set1_ps(0.70710678118654752f)))));
    default:
        return x;
    }
}

/* The epilogue of a FusedConv output vector: the activation, with the
 * residual r (lanes m, or none when r is NULL) added before or after it;
 * no epilogue when e is NULL. */
__attribute__((target("avx512f"))) static inline __m512 cvm_epi512(__m512 v, const cvm_gemm_epi *e,
                                                                   const float *r, __mmask16 m)
{
    if (!e)
        return v;
    __m512 rv = r ? _mm512_maskz_loadu_ps(m, r) : _mm512_setzero_ps();
    if (r && e->add_first)
        v = _mm512_add_ps(v, rv);
    v = cvm_act512(v, e);
    if (r && !e->add_first)
        v = _mm512_add_ps(v, rv);
    return v;
}

#endif
