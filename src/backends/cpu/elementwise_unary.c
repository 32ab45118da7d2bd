/*
 * Unary elementwise operators: maths, activations, Clip, IsNaN/IsInf and the
 * integer and boolean unary operators.  Float work is float32 (the runtime
 * converts float16/bfloat16/float64 around the kernel).
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "backends/cpu/clones.h"
#include "backends/cpu/elementwise_internal.h"
#include "backends/cpu/vmath.h"

#define CVM_EW_CLONES CVM_CPU_CLONES

/* A float32 -> float32 loop; EXPR reads the element as v and may use the
 * parameters alpha, beta and gamma. */
#define UN_F(name, EXPR)                                                            \
    CVM_EW_CLONES static void name(const void *restrict vx, void *restrict vy, size_t n,          \
                     const cvm_ew_params *p)                                        \
    {                                                                               \
        const float *x = vx;                                                        \
        float *y = vy;                                                              \
        const float alpha = p->alpha, beta = p->beta, gamma = p->gamma;             \
        (void)alpha;                                                                \
        (void)beta;                                                                 \
        (void)gamma;                                                                \
        CVM_EW_FOR(i, n, const float v = x[i]; y[i] = (EXPR));                      \
    }

#define UN_T(name, TX, TY, EXPR)                                                    \
    static void name(const void *restrict vx, void *restrict vy, size_t n,          \
                     const cvm_ew_params *p)                                        \
    {                                                                               \
        const TX *x = vx;                                                           \
        TY *y = vy;                                                                 \
        (void)p;                                                                    \
        CVM_EW_FOR(i, n, const TX v = x[i]; y[i] = (TY)(EXPR));                     \
    }

static inline float sigmoid_f(float v)
{
    /* cvm_vexpf saturates instead of overflowing, so 1/(1+e^-v) is safe for
     * either sign and vectorises (YOLO runs a Sigmoid per activation). */
    return cvm_vsigmoidf(v);
}

static inline float softplus_f(float v)
{
    return v > 0 ? v + log1pf(expf(-v)) : log1pf(expf(v));
}

UN_F(f_abs, fabsf(v))
UN_F(f_acos, acosf(v))
UN_F(f_acosh, acoshf(v))
UN_F(f_asin, asinf(v))
UN_F(f_asinh, asinhf(v))
UN_F(f_atan, atanf(v))
UN_F(f_atanh, atanhf(v))
UN_F(f_ceil, ceilf(v))
UN_F(f_cos, cosf(v))
UN_F(f_cosh, coshf(v))
UN_F(f_erf, cvm_verff(v))
UN_F(f_exp, expf(v))
UN_F(f_floor, floorf(v))
UN_F(f_log, logf(v))
UN_F(f_neg, -v)
UN_F(f_reciprocal, 1.0f / v)
UN_F(f_round, nearbyintf(v)) /* default rounding mode: half to even */
UN_F(f_sigmoid, sigmoid_f(v))
UN_F(f_sign, v > 0 ? 1.0f : v < 0 ? -1.0f : v)
UN_F(f_sin, sinf(v))
UN_F(f_sinh, sinhf(v))
UN_F(f_sqrt, sqrtf(v))
UN_F(f_tan, tanf(v))
UN_F(f_tanh, tanhf(v))
UN_F(f_relu, v < 0 ? 0.0f : v)
UN_F(f_softplus, softplus_f(v))
UN_F(f_softsign, v / (1.0f + fabsf(v)))
UN_F(f_elu, v < 0 ? alpha * expm1f(v) : v)
UN_F(f_selu, v <= 0 ? gamma * alpha * expm1f(v) : gamma * v)
UN_F(f_celu, fmaxf(0.0f, v) + fminf(0.0f, alpha * expm1f(v / alpha)))
UN_F(f_leakyrelu, v < 0 ? alpha * v : v)
UN_F(f_hardsigmoid, fmaxf(0.0f, fminf(1.0f, alpha * v + beta)))
UN_F(f_hardswish, v * fmaxf(0.0f, fminf(1.0f, v * (1.0f / 6.0f) + 0.5f)))
UN_F(f_mish, v * tanhf(softplus_f(v)))
UN_F(f_thresholdedrelu, v > alpha ? v : 0.0f)
UN_F(f_shrink, v < -alpha ? v + beta : v > alpha ? v - beta : 0.0f)
UN_F(f_gelu_erf, 0.5f * v * (1.0f + cvm_verff(v * 0.70710678118654752f)))
UN_F(f_gelu_tanh,
     0.5f * v * (1.0f + tanhf(0.79788456080286536f * (v + 0.044715f * v * v * v))))
/* Comparisons keep NaN: numpy.clip passes NaN through. */
UN_F(f_clip, (v < alpha ? alpha : v) > beta ? beta : (v < alpha ? alpha : v))

static void f_gelu(const void *x, void *y, size_t n, const cvm_ew_params *p)
{
    if (p->flag0)
        f_gelu_tanh(x, y, n, p);
    else
        f_gelu_erf(x, y, n, p);
}

UN_T(f_isnan, float, uint8_t, v != v)

static void f_isinf(const void *restrict vx, void *restrict vy, size_t n, const cvm_ew_params *p)
{
    const float *x = vx;
    uint8_t *y = vy;
    const int neg = p->flag0, pos = p->flag1;
    CVM_EW_FOR(i, n, y[i] = (uint8_t)((pos && x[i] == INFINITY) || (neg && x[i] == -INFINITY)));
}

/* ---- integers and booleans ---- */

#define INT_UNARY_SIGNED(S, T, W)                                                   \
    UN_T(abs_##S, T, T, v < 0 ? (T)((W)0 - (W)v) : v)                               \
    UN_T(neg_##S, T, T, (W)0 - (W)v)                                                \
    UN_T(sign_##S, T, T, (v > 0) - (v < 0))                                         \
    UN_T(relu_##S, T, T, v < 0 ? 0 : v)                                             \
    UN_T(bnot_##S, T, T, ~v)

#define INT_UNARY_UNSIGNED(S, T, W)                                                 \
    UN_T(abs_##S, T, T, v)                                                          \
    UN_T(neg_##S, T, T, (W)0 - (W)v)                                                \
    UN_T(sign_##S, T, T, v > 0)                                                     \
    UN_T(bnot_##S, T, T, ~v)

#define INT_CLIP(S, T, LO, HI)                                                      \
    static void clip_##S(const void *restrict vx, void *restrict vy, size_t n,      \
                         const cvm_ew_params *p)                                    \
    {                                                                               \
        const T *x = vx;                                                            \
        T *y = vy;                                                                  \
        T lo = LO, hi = HI;                                                         \
        if (p->has_lo)                                                              \
            memcpy(&lo, p->lo, sizeof lo);                                          \
        if (p->has_hi)                                                              \
            memcpy(&hi, p->hi, sizeof hi);                                          \
        CVM_EW_FOR(i, n, const T v = x[i] < lo ? lo : x[i]; y[i] = v > hi ? hi : v); \
    }

INT_UNARY_SIGNED(i8, int8_t, uint32_t)
INT_UNARY_SIGNED(i16, int16_t, uint32_t)
INT_UNARY_SIGNED(i32, int32_t, uint32_t)
INT_UNARY_SIGNED(i64, int64_t, uint64_t)
INT_UNARY_UNSIGNED(u8, uint8_t, uint32_t)
INT_UNARY_UNSIGNED(u16, uint16_t, uint32_t)
INT_UNARY_UNSIGNED(u32, uint32_t, uint32_t)
INT_UNARY_UNSIGNED(u64, uint64_t, uint64_t)
INT_CLIP(i8, int8_t, INT8_MIN, INT8_MAX)
INT_CLIP(i16, int16_t, INT16_MIN, INT16_MAX)
INT_CLIP(i32, int32_t, INT32_MIN, INT32_MAX)
INT_CLIP(i64, int64_t, INT64_MIN, INT64_MAX)
INT_CLIP(u8, uint8_t, 0, UINT8_MAX)
INT_CLIP(u16, uint16_t, 0, UINT16_MAX)
INT_CLIP(u32, uint32_t, 0, UINT32_MAX)
INT_CLIP(u64, uint64_t, 0, UINT64_MAX)
UN_T(not_b, uint8_t, uint8_t, v == 0)

/* ---- parameters ---- */

static cvm_status no_params(const cvm_kernel_ctx *c, cvm_ew_params *p)
{
    (void)c;
    (void)p;
    return CVM_OK;
}

static cvm_status alpha_params(const cvm_kernel_ctx *c, cvm_ew_params *p, float def)
{
    p->alpha = cvm_attr_float(c->node, "alpha", def);
    return CVM_OK;
}

static cvm_status elu_params(const cvm_kernel_ctx *c, cvm_ew_params *p) { return alpha_params(c, p, 1.0f); }
static cvm_status leaky_params(const cvm_kernel_ctx *c, cvm_ew_params *p) { return alpha_params(c, p, 0.01f); }

static cvm_status celu_params(const cvm_kernel_ctx *c, cvm_ew_params *p)
{
    p->alpha = cvm_attr_float(c->node, "alpha", 1.0f);
    if (p->alpha == 0.0f)
        return cvm_node_error(c->node, CVM_E_PARSE, "alpha must not be 0");
    return CVM_OK;
}

static cvm_status selu_params(const cvm_kernel_ctx *c, cvm_ew_params *p)
{
    p->alpha = cvm_attr_float(c->node, "alpha", 1.67326319217681884765625f);
    p->gamma = cvm_attr_float(c->node, "gamma", 1.05070102214813232421875f);
    return CVM_OK;
}

static cvm_status hardsigmoid_params(const cvm_kernel_ctx *c, cvm_ew_params *p)
{
    p->alpha = cvm_attr_float(c->node, "alpha", 0.2f);
    p->beta = cvm_attr_float(c->node, "beta", 0.5f);
    return CVM_OK;
}

static cvm_status shrink_params(const cvm_kernel_ctx *c, cvm_ew_params *p)
{
    p->alpha = cvm_attr_float(c->node, "lambd", 0.5f);
    p->beta = cvm_attr_float(c->node, "bias", 0.0f);
    return CVM_OK;
}

static cvm_status gelu_params(const cvm_kernel_ctx *c, cvm_ew_params *p)
{
    const char *a = cvm_attr_string(c->node, "approximate", "none");
    if (strcmp(a, "tanh") == 0)
        p->flag0 = 1;
    else if (strcmp(a, "none") != 0)
        return cvm_node_error(c->node, CVM_E_PARSE, "approximate is '%s'; expected 'none' or 'tanh'", a);
    return CVM_OK;
}

static cvm_status isinf_params(const cvm_kernel_ctx *c, cvm_ew_params *p)
{
    p->flag0 = cvm_attr_int(c->node, "detect_negative", 1) != 0;
    p->flag1 = cvm_attr_int(c->node, "detect_positive", 1) != 0;
    return CVM_OK;
}

static cvm_status clip_bound(const cvm_kernel_ctx *c, int i, int *has, unsigned char *bytes,
                             float *f)
{
    const cvm_tensor *x = c->in[0];
    const cvm_tensor *t = i < c->n_in ? c->in[i] : NULL;
    if (!t)
        return CVM_OK;
    const size_t es = cvm_dtype_size(t->dtype);
    if (t->dtype != x->dtype || es == 0 || es > 8)
        return cvm_node_error(c->node, CVM_E_TYPE, "%s is %s but the input is %s",
                              i == 1 ? "min" : "max", cvm_dtype_name(t->dtype),
                              cvm_dtype_name(x->dtype));
    if (!t->data || cvm_tensor_numel(t) < 1)
        return cvm_node_error(c->node, CVM_E_SHAPE, "%s must be a scalar with a value",
                              i == 1 ? "min" : "max");
    memcpy(bytes, t->data, es);
    if (t->dtype == CVM_DTYPE_FLOAT32)
        memcpy(f, t->data, sizeof *f);
    *has = 1;
    return CVM_OK;
}

static cvm_status clip_params(const cvm_kernel_ctx *c, cvm_ew_params *p)
{
    /* Absent bounds do not clip at all, not even infinities; before opset 11
     * the defaults were the finite float limits. */
    p->alpha = -INFINITY;
    p->beta = INFINITY;
    if (c->opset < 11) {
        p->alpha = cvm_attr_float(c->node, "min", -FLT_MAX);
        p->beta = cvm_attr_float(c->node, "max", FLT_MAX);
        return CVM_OK;
    }
    CVM_TRY(clip_bound(c, 1, &p->has_lo, p->lo, &p->alpha));
    return clip_bound(c, 2, &p->has_hi, p->hi, &p->beta);
}

/* ---- operator table ---- */

typedef struct unary_def {
    const char *type;
    cvm_ew_un_fn f32;
    cvm_ew_un_fn ints[8]; /* int8, int16, int32, int64, uint8, uint16, uint32, uint64 */
    cvm_ew_un_fn boolean;
    cvm_status (*params)(const cvm_kernel_ctx *c, cvm_ew_params *p);
} unary_def;

#define NO_INTS {NULL}
#define INTS(op) {op##_i8, op##_i16, op##_i32, op##_i64, op##_u8, op##_u16, op##_u32, op##_u64}
#define SIGNED_INTS(op) {op##_i8, op##_i16, op##_i32, op##_i64}
#define FLOAT_OP(Name, fn) {Name, fn, NO_INTS, NULL, no_params}

static const unary_def unary_defs[] = {
    {"Abs", f_abs, INTS(abs), NULL, no_params},
    {"Neg", f_neg, INTS(neg), NULL, no_params},
    {"Sign", f_sign, INTS(sign), NULL, no_params},
    {"Relu", f_relu, SIGNED_INTS(relu), NULL, no_params},
    {"Clip", f_clip, INTS(clip), NULL, clip_params},
    {"Not", NULL, NO_INTS, not_b, no_params},
    {"BitwiseNot", NULL, INTS(bnot), NULL, no_params},
    FLOAT_OP("Acos", f_acos), FLOAT_OP("Acosh", f_acosh), FLOAT_OP("Asin", f_asin),
    FLOAT_OP("Asinh", f_asinh), FLOAT_OP("Atan", f_atan), FLOAT_OP("Atanh", f_atanh),
    FLOAT_OP("Ceil", f_ceil), FLOAT_OP("Cos", f_cos), FLOAT_OP("Cosh", f_cosh),
    FLOAT_OP("Erf", f_erf), FLOAT_OP("Exp", f_exp), FLOAT_OP("Floor", f_floor),
    FLOAT_OP("Log", f_log), FLOAT_OP("Reciprocal", f_reciprocal), FLOAT_OP("Round", f_round),
    FLOAT_OP("Sigmoid", f_sigmoid), FLOAT_OP("Sin", f_sin), FLOAT_OP("Sinh", f_sinh),
    FLOAT_OP("Sqrt", f_sqrt), FLOAT_OP("Tan", f_tan), FLOAT_OP("Tanh", f_tanh),
    FLOAT_OP("Softplus", f_softplus), FLOAT_OP("Softsign", f_softsign),
    FLOAT_OP("HardSwish", f_hardswish), FLOAT_OP("Mish", f_mish), FLOAT_OP("IsNaN", f_isnan),
    {"IsInf", f_isinf, NO_INTS, NULL, isinf_params},
    {"Elu", f_elu, NO_INTS, NULL, elu_params},
    {"Selu", f_selu, NO_INTS, NULL, selu_params},
    {"Celu", f_celu, NO_INTS, NULL, celu_params},
    {"LeakyRelu", f_leakyrelu, NO_INTS, NULL, leaky_params},
    {"HardSigmoid", f_hardsigmoid, NO_INTS, NULL, hardsigmoid_params},
    {"ThresholdedRelu", f_thresholdedrelu, NO_INTS, NULL, elu_params},
    {"Shrink", f_shrink, NO_INTS, NULL, shrink_params},
    {"Gelu", f_gelu, NO_INTS, NULL, gelu_params},
};

static const unary_def *find_def(const char *type)
{
    for (size_t i = 0; i < sizeof unary_defs / sizeof unary_defs[0]; i++)
        if (strcmp(unary_defs[i].type, type) == 0)
            return &unary_defs[i];
    return NULL;
}

static cvm_ew_un_fn pick(const unary_def *d, cvm_dtype t)
{
    switch (t) {
    case CVM_DTYPE_FLOAT32: return d->f32;
    case CVM_DTYPE_INT8: return d->ints[0];
    case CVM_DTYPE_INT16: return d->ints[1];
    case CVM_DTYPE_INT32: return d->ints[2];
    case CVM_DTYPE_INT64: return d->ints[3];
    case CVM_DTYPE_UINT8: return d->ints[4];
    case CVM_DTYPE_UINT16: return d->ints[5];
    case CVM_DTYPE_UINT32: return d->ints[6];
    case CVM_DTYPE_UINT64: return d->ints[7];
    case CVM_DTYPE_BOOL: return d->boolean;
    default: return NULL;
    }
}

static cvm_status lookup(const cvm_kernel_ctx *c, const unary_def **def, cvm_ew_un_fn *fn)
{
    const unary_def *d = c->state ? c->state : find_def(c->node->op_type);
    if (!d)
        return cvm_node_error(c->node, CVM_E_INTERNAL, "not a unary elementwise operator");
    if (c->n_in < 1 || !c->in[0] || c->n_out < 1 || !c->out[0])
        return cvm_node_error(c->node, CVM_E_PARSE, "needs one input and one output");
    *fn = pick(d, c->in[0]->dtype);
    if (!*fn)
        return cvm_node_error(c->node, CVM_E_UNSUPPORTED, "no CPU kernel for %s input",
                              cvm_dtype_name(c->in[0]->dtype));
    *def = d;
    return CVM_OK;
}

cvm_status cvm_ew_prepare_unary(const cvm_kernel_ctx *c, void **state, size_t *scratch)
{
    (void)scratch;
    const unary_def *d;
    cvm_ew_un_fn fn;
    CVM_TRY(lookup(c, &d, &fn));
    *state = (void *)d;
    return CVM_OK;
}

typedef struct unary_arg {
    cvm_ew_un_fn fn;
    const char *x;
    char *y;
    size_t ex, ey;
    const cvm_ew_params *p;
} unary_arg;

static void unary_range(void *arg, size_t b, size_t e)
{
    const unary_arg *u = arg;
    u->fn(u->x + b * u->ex, u->y + b * u->ey, e - b, u->p);
}

cvm_status cvm_ew_run_unary(const cvm_kernel_ctx *c)
{
    const unary_def *d;
    cvm_ew_un_fn fn;
    CVM_TRY(lookup(c, &d, &fn));
    const cvm_tensor *x = c->in[0];
    cvm_tensor *y = c->out[0];
    cvm_ew_params p;
    memset(&p, 0, sizeof p);
    CVM_TRY(d->params(c, &p));
    const int64_t n = cvm_tensor_numel(x);
    if (n != cvm_tensor_numel(y))
        return cvm_node_error(c->node, CVM_E_SHAPE, "output has %lld elements, input %lld",
                              (long long)cvm_tensor_numel(y), (long long)n);
    if (n == 0)
        return CVM_OK;
    unary_arg u = {fn, x->data, y->data, cvm_dtype_size(x->dtype), cvm_dtype_size(y->dtype), &p};
    cvm_parallel_for(c->pool, (size_t)n, CVM_EW_GRAIN, unary_range, &u);
    return CVM_OK;
}
