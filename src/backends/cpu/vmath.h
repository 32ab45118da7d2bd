/*
 * Branch-free float32 maths that the compiler can vectorise inside the
 * elementwise loops.  libm's expf is a function call per element and keeps
 * YOLO's thousands of SiLU activations scalar (a third of a YOLOv8n run).
 */
#ifndef CVM_BACKENDS_CPU_VMATH_H
#define CVM_BACKENDS_CPU_VMATH_H

#include <stdint.h>
#include <string.h>

/*
 * e^x for x in any range: n = round(x / ln 2) by the 1.5 * 2^23 trick,
 * r = x - n ln 2 in two parts (|r| <= 0.35), e^r by its Taylor series to
 * r^7 / 7! (truncation below 5e-9 relative), then scaled by 2^n built in the
 * exponent bits.  Inputs are clamped so that 2^n stays a normal float: the
 * result saturates at 2.4e38 and 1.2e-38 instead of reaching inf or 0.
 * Measured error: within 2 ulp of the correctly rounded value over [-87, 88].
 */
static inline float cvm_vexpf(float x)
{
    /* Written so that NaN fails both comparisons and is clamped too: the
     * exponent arithmetic below must never see NaN (converting it to an
     * integer is undefined); the NaN is put back at the end. */
    float xc = x > -87.3f ? x : -87.3f;
    xc = xc < 88.3f ? xc : 88.3f;
    const float shifter = 12582912.0f; /* 1.5 * 2^23 */
    float n = (xc * 1.44269504088896341f + shifter) - shifter;
    float r = xc - n * 0.693145751953125f;  /* ln 2, high bits (exact product) */
    r = r - n * 1.42860682030941723e-06f;   /* ln 2, low bits */
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    /* n is in [-126, 127] here, so the biased exponent is a normal one. */
    uint32_t bits = (uint32_t)((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    float y = p * scale;
    return x == x ? y : x;
}

/* 1 / (1 + e^-x); saturates cleanly to 0 and 1. */
static inline float cvm_vsigmoidf(float x)
{
    return 1.0f / (1.0f + cvm_vexpf(-x));
}

/*
 * erf(x), branch-free: for |x| < 0.5 the odd Taylor series to x^13 (error
 * below 2e-9); above, 1 - erfc(|x|) with erfc from the Chebyshev-fitted
 * t * exp(poly(t)), t = 1 / (1 + |x|/2), whose fractional error is below
 * 1.2e-7 (Numerical Recipes' erfcc coefficients).  Measured against double
 * erf over [-6, 6]: absolute error below 2.4e-7.
 */
static inline float cvm_verff(float x)
{
    float z = x < 0 ? -x : x;
    /* small |x|: 2/sqrt(pi) * (x - x^3/3 + x^5/10 - x^7/42 + x^9/216 - x^11/1320 + x^13/9360) */
    float z2 = x * x;
    float sp = 1.0f / 9360.0f;
    sp = sp * z2 - 1.0f / 1320.0f;
    sp = sp * z2 + 1.0f / 216.0f;
    sp = sp * z2 - 1.0f / 42.0f;
    sp = sp * z2 + 1.0f / 10.0f;
    sp = sp * z2 - 1.0f / 3.0f;
    sp = sp * z2 + 1.0f;
    float small = 1.12837916709551257f * x * sp;
    float t = 1.0f / (1.0f + 0.5f * z);
    float q = 0.17087277f;
    q = q * t - 0.82215223f;
    q = q * t + 1.48851587f;
    q = q * t - 1.13520398f;
    q = q * t + 0.27886807f;
    q = q * t - 0.18628806f;
    q = q * t + 0.09678418f;
    q = q * t + 0.37409196f;
    q = q * t + 1.00002368f;
    q = q * t - 1.26551223f;
    float erfc = t * cvm_vexpf(-z * z + q);
    float large = 1.0f - erfc;
    large = x < 0 ? -large : large;
    return z < 0.5f ? small : large;
}

#endif
