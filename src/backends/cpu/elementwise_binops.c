/*
 * Span functions of the binary elementwise operators, one per operator and
 * element type.  Each is four plain loops (vector/vector, vector/scalar,
 * scalar/vector, scalar/scalar) over restrict pointers, so that the
 * compiler vectorises the common cases without help.
 *
 * Integer arithmetic wraps (it is done in the unsigned type of the same
 * width), and division or modulo by zero gives 0: hostile models must not
 * reach undefined behaviour or SIGFPE.
 */
#include <math.h>

#include "backends/cpu/elementwise_internal.h"

#define BIN_FN(name, TA, TB, TY, OP)                                                  \
    static void name(const void *restrict va, const void *restrict vb, void *restrict vy, \
                     size_t n, int mode)                                              \
    {                                                                                 \
        const TA *a = va;                                                             \
        const TB *b = vb;                                                             \
        TY *y = vy;                                                                   \
        switch (mode) {                                                               \
        case CVM_EW_VV:                                                               \
            CVM_EW_FOR(i, n, y[i] = OP(a[i], b[i]));                                  \
            break;                                                                    \
        case CVM_EW_VS: {                                                             \
            const TB s = b[0];                                                        \
            CVM_EW_FOR(i, n, y[i] = OP(a[i], s));                                     \
            break;                                                                    \
        }                                                                             \
        case CVM_EW_SV: {                                                             \
            const TA s = a[0];                                                        \
            CVM_EW_FOR(i, n, y[i] = OP(s, b[i]));                                     \
            break;                                                                    \
        }                                                                             \
        default: {                                                                    \
            const TY v = OP(a[0], b[0]);                                              \
            CVM_EW_FOR(i, n, y[i] = v);                                               \
        }                                                                             \
        }                                                                             \
    }

/* ---- float32 ---- */

static inline float add_f32(float a, float b) { return a + b; }
static inline float sub_f32(float a, float b) { return a - b; }
static inline float mul_f32(float a, float b) { return a * b; }
static inline float div_f32(float a, float b) { return a / b; }
static inline float fmod_f32(float a, float b) { return fmodf(a, b); }
static inline float mod_f32(float a, float b)
{
    float r = fmodf(a, b);
    if (r != 0 && ((r < 0) != (b < 0)))
        r += b;
    return r;
}
/* NaN in either operand gives NaN, as numpy.maximum does. */
static inline float max_f32(float a, float b) { return (a != a || a > b) ? a : b; }
static inline float min_f32(float a, float b) { return (a != a || a < b) ? a : b; }
static inline float prelu_f32(float a, float b) { return a < 0 ? a * b : a; }

/* ---- integers ---- */

#define INT_COMMON(S, T, W)                                                      \
    static inline T add_##S(T a, T b) { return (T)((W)a + (W)b); }               \
    static inline T sub_##S(T a, T b) { return (T)((W)a - (W)b); }               \
    static inline T mul_##S(T a, T b) { return (T)((W)a * (W)b); }               \
    static inline T max_##S(T a, T b) { return a > b ? a : b; }                  \
    static inline T min_##S(T a, T b) { return a < b ? a : b; }                  \
    static inline T band_##S(T a, T b) { return (T)(a & b); }                    \
    static inline T bor_##S(T a, T b) { return (T)(a | b); }                     \
    static inline T bxor_##S(T a, T b) { return (T)(a ^ b); }

#define INT_SIGNED(S, T, W, BITS)                                                \
    INT_COMMON(S, T, W)                                                          \
    /* Shifts out of range (negative or >= width) leave only the sign fill. */   \
    static inline T shl_##S(T a, T b)                                            \
    {                                                                            \
        return (b < 0 || b >= BITS) ? 0 : (T)((W)a << b);                        \
    }                                                                            \
    static inline T shr_##S(T a, T b)                                            \
    {                                                                            \
        if (b < 0 || b >= BITS)                                                  \
            return a < 0 ? -1 : 0;                                               \
        return (T)(a >> b); /* arithmetic on every compiler we support */        \
    }                                                                            \
    static inline T div_##S(T a, T b)                                            \
    {                                                                            \
        if (b == 0)                                                              \
            return 0;                                                            \
        if (b == -1) /* MIN / -1 overflows: wrap like the other operators */     \
            return (T)((W)0 - (W)a);                                             \
        return (T)(a / b);                                                       \
    }                                                                            \
    static inline T fmod_##S(T a, T b)                                           \
    {                                                                            \
        return (b == 0 || b == -1) ? 0 : (T)(a % b);                             \
    }                                                                            \
    static inline T mod_##S(T a, T b)                                            \
    {                                                                            \
        T r = fmod_##S(a, b);                                                    \
        if (r != 0 && ((r < 0) != (b < 0)))                                      \
            r = (T)(r + b);                                                      \
        return r;                                                                \
    }                                                                            \
    static inline T prelu_##S(T a, T b) { return a < 0 ? mul_##S(a, b) : a; }

#define INT_UNSIGNED(S, T, W, BITS)                                              \
    INT_COMMON(S, T, W)                                                          \
    static inline T div_##S(T a, T b) { return b == 0 ? 0 : (T)(a / b); }        \
    static inline T fmod_##S(T a, T b) { return b == 0 ? 0 : (T)(a % b); }       \
    static inline T mod_##S(T a, T b) { return fmod_##S(a, b); }                 \
    static inline T prelu_##S(T a, T b)                                          \
    {                                                                            \
        (void)b;                                                                 \
        return a;                                                                \
    }                                                                            \
    static inline T shl_##S(T a, T b) { return b >= BITS ? 0 : (T)((W)a << b); } \
    static inline T shr_##S(T a, T b) { return b >= BITS ? 0 : (T)(a >> b); }

INT_SIGNED(i8, int8_t, uint32_t, 8)
INT_SIGNED(i16, int16_t, uint32_t, 16)
INT_SIGNED(i32, int32_t, uint32_t, 32)
INT_SIGNED(i64, int64_t, uint64_t, 64)
INT_UNSIGNED(u8, uint8_t, uint32_t, 8)
INT_UNSIGNED(u16, uint16_t, uint32_t, 16)
INT_UNSIGNED(u32, uint32_t, uint32_t, 32)
INT_UNSIGNED(u64, uint64_t, uint64_t, 64)

#define CMP_FNS(S, T)                                                            \
    static inline uint8_t eq_##S(T a, T b) { return a == b; }                    \
    static inline uint8_t gt_##S(T a, T b) { return a > b; }                     \
    static inline uint8_t ge_##S(T a, T b) { return a >= b; }                    \
    static inline uint8_t lt_##S(T a, T b) { return a < b; }                     \
    static inline uint8_t le_##S(T a, T b) { return a <= b; }

CMP_FNS(f32, float)
CMP_FNS(i8, int8_t)
CMP_FNS(i16, int16_t)
CMP_FNS(i32, int32_t)
CMP_FNS(i64, int64_t)
CMP_FNS(u8, uint8_t)
CMP_FNS(u16, uint16_t)
CMP_FNS(u32, uint32_t)
CMP_FNS(u64, uint64_t)

/* Booleans are bytes that should be 0 or 1; any nonzero byte counts as true. */
static inline uint8_t eq_b(uint8_t a, uint8_t b) { return (a != 0) == (b != 0); }
static inline uint8_t and_b(uint8_t a, uint8_t b) { return (a != 0) & (b != 0); }
static inline uint8_t or_b(uint8_t a, uint8_t b) { return (a != 0) | (b != 0); }
static inline uint8_t xor_b(uint8_t a, uint8_t b) { return (a != 0) ^ (b != 0); }

/* ---- span functions ---- */

#define GEN_NUMERIC(S, T)                                 \
    BIN_FN(k_add_##S, T, T, T, add_##S)                   \
    BIN_FN(k_sub_##S, T, T, T, sub_##S)                   \
    BIN_FN(k_mul_##S, T, T, T, mul_##S)                   \
    BIN_FN(k_div_##S, T, T, T, div_##S)                   \
    BIN_FN(k_mod_##S, T, T, T, mod_##S)                   \
    BIN_FN(k_fmod_##S, T, T, T, fmod_##S)                 \
    BIN_FN(k_max_##S, T, T, T, max_##S)                   \
    BIN_FN(k_min_##S, T, T, T, min_##S)                   \
    BIN_FN(k_prelu_##S, T, T, T, prelu_##S)               \
    BIN_FN(k_eq_##S, T, T, uint8_t, eq_##S)               \
    BIN_FN(k_gt_##S, T, T, uint8_t, gt_##S)               \
    BIN_FN(k_ge_##S, T, T, uint8_t, ge_##S)               \
    BIN_FN(k_lt_##S, T, T, uint8_t, lt_##S)               \
    BIN_FN(k_le_##S, T, T, uint8_t, le_##S)

#define GEN_BITWISE(S, T)                                 \
    BIN_FN(k_band_##S, T, T, T, band_##S)                 \
    BIN_FN(k_bor_##S, T, T, T, bor_##S)                   \
    BIN_FN(k_bxor_##S, T, T, T, bxor_##S)

GEN_NUMERIC(f32, float)
GEN_NUMERIC(i8, int8_t)
GEN_NUMERIC(i16, int16_t)
GEN_NUMERIC(i32, int32_t)
GEN_NUMERIC(i64, int64_t)
GEN_NUMERIC(u8, uint8_t)
GEN_NUMERIC(u16, uint16_t)
GEN_NUMERIC(u32, uint32_t)
GEN_NUMERIC(u64, uint64_t)
GEN_BITWISE(i8, int8_t)
GEN_BITWISE(i16, int16_t)
GEN_BITWISE(i32, int32_t)
GEN_BITWISE(i64, int64_t)
GEN_BITWISE(u8, uint8_t)
GEN_BITWISE(u16, uint16_t)
GEN_BITWISE(u32, uint32_t)
GEN_BITWISE(u64, uint64_t)
#define GEN_SHIFT(S, T)                                   \
    BIN_FN(k_shl_##S, T, T, T, shl_##S)                   \
    BIN_FN(k_shr_##S, T, T, T, shr_##S)
GEN_SHIFT(i8, int8_t)
GEN_SHIFT(i16, int16_t)
GEN_SHIFT(i32, int32_t)
GEN_SHIFT(i64, int64_t)
BIN_FN(k_shl_u8, uint8_t, uint8_t, uint8_t, shl_u8)
BIN_FN(k_shl_u16, uint16_t, uint16_t, uint16_t, shl_u16)
BIN_FN(k_shl_u32, uint32_t, uint32_t, uint32_t, shl_u32)
BIN_FN(k_shl_u64, uint64_t, uint64_t, uint64_t, shl_u64)
BIN_FN(k_shr_u8, uint8_t, uint8_t, uint8_t, shr_u8)
BIN_FN(k_shr_u16, uint16_t, uint16_t, uint16_t, shr_u16)
BIN_FN(k_shr_u32, uint32_t, uint32_t, uint32_t, shr_u32)
BIN_FN(k_shr_u64, uint64_t, uint64_t, uint64_t, shr_u64)
BIN_FN(k_eq_b, uint8_t, uint8_t, uint8_t, eq_b)
BIN_FN(k_and_b, uint8_t, uint8_t, uint8_t, and_b)
BIN_FN(k_or_b, uint8_t, uint8_t, uint8_t, or_b)
BIN_FN(k_xor_b, uint8_t, uint8_t, uint8_t, xor_b)

/* ---- Pow: the exponent may have any numeric type ---- */

static inline int64_t exp_i64_plain(int64_t v) { return v; }
static inline int64_t exp_i64_u64(uint64_t v) { return v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v; }
#define EXP_I64(z) _Generic((z), uint64_t: exp_i64_u64, default: exp_i64_plain)(z)

static inline int32_t sat_i32(double v)
{
    if (!(v == v))
        return 0;
    if (v <= (double)INT32_MIN)
        return INT32_MIN;
    if (v >= (double)INT32_MAX)
        return INT32_MAX;
    return (int32_t)v;
}

static inline int64_t sat_i64(double v)
{
    if (!(v == v))
        return 0;
    if (v <= -9223372036854775808.0)
        return INT64_MIN;
    if (v >= 9223372036854775808.0)
        return INT64_MAX;
    return (int64_t)v;
}

/* Integer powers by squaring with wrap-around; a negative exponent gives the
 * truncated result (0 unless the base is 1 or -1). */
#define IPOW(S, T, W)                                                   \
    static inline T ipow_##S(T base, int64_t e)                         \
    {                                                                   \
        if (e < 0) {                                                    \
            if (base == 1)                                              \
                return 1;                                               \
            if (base == -1)                                             \
                return (e & 1) ? -1 : 1;                                \
            return 0;                                                   \
        }                                                               \
        W r = 1, b = (W)base;                                           \
        while (e) {                                                     \
            if (e & 1)                                                  \
                r *= b;                                                 \
            b *= b;                                                     \
            e >>= 1;                                                    \
        }                                                               \
        return (T)r;                                                    \
    }
IPOW(i32, int32_t, uint32_t)
IPOW(i64, int64_t, uint64_t)

#define POW_F(x, z) powf((x), (float)(z))
#define POW_I32_I(x, z) ipow_i32((x), EXP_I64(z))
#define POW_I64_I(x, z) ipow_i64((x), EXP_I64(z))
#define POW_I32_F(x, z) sat_i32(pow((double)(x), (double)(z)))
#define POW_I64_F(x, z) sat_i64(pow((double)(x), (double)(z)))

#define GEN_POW_EXP(ES, ET)                                     \
    BIN_FN(k_pow_f32_##ES, float, ET, float, POW_F)             \
    BIN_FN(k_pow_i32_##ES, int32_t, ET, int32_t, POW_I32_I)     \
    BIN_FN(k_pow_i64_##ES, int64_t, ET, int64_t, POW_I64_I)

GEN_POW_EXP(i8, int8_t)
GEN_POW_EXP(i16, int16_t)
GEN_POW_EXP(i32, int32_t)
GEN_POW_EXP(i64, int64_t)
GEN_POW_EXP(u8, uint8_t)
GEN_POW_EXP(u16, uint16_t)
GEN_POW_EXP(u32, uint32_t)
GEN_POW_EXP(u64, uint64_t)
BIN_FN(k_pow_f32_f32, float, float, float, POW_F)
BIN_FN(k_pow_i32_f32, int32_t, float, int32_t, POW_I32_F)
BIN_FN(k_pow_i64_f32, int64_t, float, int64_t, POW_I64_F)

/* ---- lookup ---- */

enum { T_F32, T_I8, T_I16, T_I32, T_I64, T_U8, T_U16, T_U32, T_U64, T_BOOL, T_COUNT };

static int type_index(cvm_dtype t)
{
    switch (t) {
    case CVM_DTYPE_FLOAT32: return T_F32;
    case CVM_DTYPE_INT8: return T_I8;
    case CVM_DTYPE_INT16: return T_I16;
    case CVM_DTYPE_INT32: return T_I32;
    case CVM_DTYPE_INT64: return T_I64;
    case CVM_DTYPE_UINT8: return T_U8;
    case CVM_DTYPE_UINT16: return T_U16;
    case CVM_DTYPE_UINT32: return T_U32;
    case CVM_DTYPE_UINT64: return T_U64;
    case CVM_DTYPE_BOOL: return T_BOOL;
    default: return -1;
    }
}

#define ROW_NUM(op) {k_##op##_f32, k_##op##_i8, k_##op##_i16, k_##op##_i32, k_##op##_i64, \
                     k_##op##_u8, k_##op##_u16, k_##op##_u32, k_##op##_u64, NULL}
#define ROW_BIT(op) {NULL, k_##op##_i8, k_##op##_i16, k_##op##_i32, k_##op##_i64, \
                     k_##op##_u8, k_##op##_u16, k_##op##_u32, k_##op##_u64, NULL}

static const cvm_ew_bin_fn same_type_table[][T_COUNT] = {
    [CVM_EW_ADD] = ROW_NUM(add),
    [CVM_EW_SUB] = ROW_NUM(sub),
    [CVM_EW_MUL] = ROW_NUM(mul),
    [CVM_EW_DIV] = ROW_NUM(div),
    [CVM_EW_MOD] = ROW_NUM(mod),
    [CVM_EW_FMOD] = ROW_NUM(fmod),
    [CVM_EW_POW] = {NULL},
    [CVM_EW_EQ] = {k_eq_f32, k_eq_i8, k_eq_i16, k_eq_i32, k_eq_i64, k_eq_u8, k_eq_u16, k_eq_u32,
                   k_eq_u64, k_eq_b},
    [CVM_EW_GT] = ROW_NUM(gt),
    [CVM_EW_GE] = ROW_NUM(ge),
    [CVM_EW_LT] = ROW_NUM(lt),
    [CVM_EW_LE] = ROW_NUM(le),
    [CVM_EW_AND] = {[T_BOOL] = k_and_b},
    [CVM_EW_OR] = {[T_BOOL] = k_or_b},
    [CVM_EW_XOR] = {[T_BOOL] = k_xor_b},
    [CVM_EW_SHL] = ROW_BIT(shl),
    [CVM_EW_SHR] = ROW_BIT(shr),
    [CVM_EW_BAND] = ROW_BIT(band),
    [CVM_EW_BOR] = ROW_BIT(bor),
    [CVM_EW_BXOR] = ROW_BIT(bxor),
    [CVM_EW_MAX] = ROW_NUM(max),
    [CVM_EW_MIN] = ROW_NUM(min),
    [CVM_EW_PRELU] = ROW_NUM(prelu),
};

#define POW_ROW(B) {k_pow_##B##_f32, k_pow_##B##_i8, k_pow_##B##_i16, k_pow_##B##_i32,   \
                    k_pow_##B##_i64, k_pow_##B##_u8, k_pow_##B##_u16, k_pow_##B##_u32, \
                    k_pow_##B##_u64, NULL}

static const cvm_ew_bin_fn pow_table[3][T_COUNT] = {POW_ROW(f32), POW_ROW(i32), POW_ROW(i64)};

cvm_ew_bin_fn cvm_ew_binop_fn(cvm_ew_binop op, cvm_dtype ta, cvm_dtype tb)
{
    int ia = type_index(ta), ib = type_index(tb);
    if (ia < 0 || ib < 0 || (unsigned)op >= sizeof same_type_table / sizeof same_type_table[0])
        return NULL;
    if (op == CVM_EW_POW) {
        int row = ia == T_F32 ? 0 : ia == T_I32 ? 1 : ia == T_I64 ? 2 : -1;
        return row < 0 ? NULL : pow_table[row][ib];
    }
    if (ia != ib)
        return NULL;
    return same_type_table[op][ia];
}
