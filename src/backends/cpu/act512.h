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

/* GELU(x) = x/2 (1 + erf(x / sqrt 2)), erf(u) = u P(u^2) / Q(u^2): a
 * rational fit made here (degrees 6 and 5 in u^2, weighted least squares
 * reweighted towards the largest absolute error, in double) on
 * 0 <= u <= 3.92, beyond which erf rounds to +-1 in float.  Every
 * coefficient of Q is positive, so Q >= 1 and the estimated reciprocal
 * applies.  RF-DETR's MLP layers spent a fifth of their time on the
 * erfc-and-exponential form with a division that this replaces; this is
 * about a third of the operations.  Error against erf in double: 3.6e-7
 * absolute at most (float rounding; the fit itself is 1.4e-9), GELU's
 * 2.1e-7 max(1, |x|).  NaN stays NaN (x/2 carries it). */
__attribute__((target("avx512f"))) static inline __m512 cvm_gelu512(__m512 x)
{
    const __m512 one = _mm512_set1_ps(1.0f);
    __m512 u = _mm512_mul_ps(x, _mm512_set1_ps(0.70710678118654752f));
    u = _mm512_max_ps(_mm512_set1_ps(-3.92f), _mm512_min_ps(_mm512_set1_ps(3.92f), u));
    __m512 z = _mm512_mul_ps(u, u);
    __m512 p = _mm512_set1_ps(-1.3337233539800764e-08f);
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(4.718053787655663e-06f));
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(0.0003803798172157258f));
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(0.0038323740009218454f));
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(0.054278451949357986f));
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(0.1847003996372223f));
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(1.128379225730896f));
    __m512 q = _mm512_set1_ps(6.34213793091476e-05f);
    q = _mm512_fmadd_ps(q, z, _mm512_set1_ps(0.001305039506405592f));
    q = _mm512_fmadd_ps(q, z, _mm512_set1_ps(0.015430967323482037f));
    q = _mm512_fmadd_ps(q, z, _mm512_set1_ps(0.11377544701099396f));
    q = _mm512_fmadd_ps(q, z, _mm512_set1_ps(0.49702000617980957f));
    q = _mm512_fmadd_ps(q, z, one);
    __m512 erf = _mm512_mul_ps(_mm512_mul_ps(u, p), cvm_rcp512(q));
    /* |erf| <= 1, so that GELU keeps its sign for very negative x */
    erf = _mm512_max_ps(_mm512_set1_ps(-1.0f), _mm512_min_ps(one, erf));
    __m512 hx = _mm512_mul_ps(_mm512_set1_ps(0.5f), x);
    return _mm512_fmadd_ps(hx, erf, hx);
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
        return cvm_gelu512(x);
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
