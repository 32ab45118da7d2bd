/* Reductions (Reduce*) and ArgMax/ArgMin; Resize and GridSample kernels live
 * in resize_cpu.c and gridsample_cpu.c and are listed here. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "backends/cpu/kernel_tables.h"
#include "graph/reduce_axes.h"
#include "backends/cpu/reduce_kernels.h"

typedef enum rop {
    R_SUM, R_MEAN, R_MAX, R_MIN, R_PROD, R_L1, R_L2, R_LOGSUM, R_LSE, R_SUMSQ
} rop;

static rop op_of(const char *t)
{
    static const char *const names[] = {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin",
                                        "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum",
                                        "ReduceLogSumExp", "ReduceSumSquare"};
    for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++)
        if (strcmp(t, names[i]) == 0)
            return (rop)i;
    return R_SUM;
}

/* ---------------------------------------------------------------- float32 */

static inline float f_init(rop op)
{
    switch (op) {
    case R_PROD: return 1.0f;
    case R_MAX: case R_LSE: return -INFINITY;
    case R_MIN: return INFINITY;
    default: return 0.0f;
    }
}

static inline float f_step(rop op, float acc, float v)
{
    switch (op) {
    case R_PROD: return acc * v;
    case R_MAX: case R_LSE: return v > acc || v != v ? v : acc;
    case R_MIN: return v < acc || v != v ? v : acc;
    case R_L1: return acc + fabsf(v);
    case R_L2: case R_SUMSQ: return acc + v * v;
    default: return acc + v;
    }
}

static inline float f_final(rop op, float acc, int64_t n)
{
    switch (op) {
    case R_MEAN: return n ? acc / (float)n : NAN;
    case R_L2: return sqrtf(acc);
    case R_LOGSUM: return logf(acc);
    default: return acc;
    }
}

/* Sum-like reduction of a contiguous run, in 8 independent lanes so that the
 * compiler can keep them in one vector register. */
static float f_row(rop op, const float *x, int64_t n)
{
    float lane[8];
    float init = f_init(op);
    for (int k = 0; k < 8; k++)
        lane[k] = init;
    int64_t i = 0;
    switch (op) {
    case R_SUM: case R_MEAN: case R_LOGSUM:
        for (; i + 8 <= n; i += 8)
            for (int k = 0; k < 8; k++)
                lane[k] += x[i + k];
        break;
    case R_L1:
        for (; i + 8 <= n; i += 8)
            for (int k = 0; k < 8; k++)
                lane[k] += fabsf(x[i + k]);
        break;
    case R_L2: case R_SUMSQ:
        for (; i + 8 <= n; i += 8)
            for (int k = 0; k < 8; k++)
                lane[k] += x[i + k] * x[i + k];
        break;
    default:
        break;
    }
    float acc = init;
    if (i > 0) {
        acc = lane[0];
        for (int k = 1; k < 8; k++)
            acc += lane[k];
    }
    for (; i < n; i++)
        acc = f_step(op, acc, x[i]);
    return acc;
}

static float f_lse_row(const float *x, int64_t n, int64_t stride)
{
    float m = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        m = f_step(R_MAX, m, x[i * stride]);
    if (isinf(m) || m != m)
        return m;
    float s = 0.0f;
    for (int64_t i = 0; i < n; i++)
        s += expf(x[i * stride] - m);
    return m + logf(s);
}

/* A reduction described by merged dims: x is [O, R, I] (one reduced run) or a
 * general mix handled per output element. */
typedef struct rjob {
    rop op;
    cvm_dtype dt;
    const void *x;
    void *y;
    int64_t O, R, I, iblocks;
    /* general form */
    int nk, nr;
    int64_t kdim[CVM_MAX_DIMS], kstride[CVM_MAX_DIMS];
    int64_t rdim[CVM_MAX_DIMS], rstride[CVM_MAX_DIMS];
    int64_t rcount;
} rjob;

#define IBLOCK 256

static void f_ori_range(void *arg, size_t b, size_t e)
{
    const rjob *j = arg;
    const float *x = j->x;
    float *y = j->y;
    if (j->I == 1) {
        for (size_t o = b; o < e; o++) {
            const float *row = x + (int64_t)o * j->R;
            y[o] = j->op == R_LSE ? f_lse_row(row, j->R, 1) : f_final(j->op, f_row(j->op, row, j->R), j->R);
        }
        return;
    }
    float acc[IBLOCK], acc2[IBLOCK];
    for (size_t item = b; item < e; item++) {
        int64_t o = (int64_t)item / j->iblocks, blk = (int64_t)item % j->iblocks;
        int64_t i0 = blk * IBLOCK, n = j->I - i0 < IBLOCK ? j->I - i0 : IBLOCK;
        const float *base = x + o * j->R * j->I + i0;
        float init = f_init(j->op);
        for (int64_t i = 0; i < n; i++)
            acc[i] = init;
        switch (j->op) {
        case R_SUM: case R_MEAN: case R_LOGSUM:
            for (int64_t r = 0; r < j->R; r++)
                for (int64_t i = 0; i < n; i++)
                    acc[i] += base[r * j->I + i];
            break;
        case R_SUMSQ: case R_L2:
            for (int64_t r = 0; r < j->R; r++)
                for (int64_t i = 0; i < n; i++)
                    acc[i] += base[r * j->I + i] * base[r * j->I + i];
            break;
        case R_L1:
            for (int64_t r = 0; r < j->R; r++)
                for (int64_t i = 0; i < n; i++)
                    acc[i] += fabsf(base[r * j->I + i]);
            break;
        case R_PROD:
            for (int64_t r = 0; r < j->R; r++)
                for (int64_t i = 0; i < n; i++)
                    acc[i] *= base[r * j->I + i];
            break;
        default:
            for (int64_t r = 0; r < j->R; r++)
                for (int64_t i = 0; i < n; i++)
                    acc[i] = f_step(j->op, acc[i], base[r * j->I + i]);
            break;
        }
        float *out = y + o * j->I + i0;
        if (j->op == R_LSE) {
            for (int64_t i = 0; i < n; i++)
                acc2[i] = 0.0f;
            for (int64_t r = 0; r < j->R; r++)
                for (int64_t i = 0; i < n; i++)
                    if (!isinf(acc[i]))
                        acc2[i] += expf(base[r * j->I + i] - acc[i]);
            for (int64_t i = 0; i < n; i++)
                out[i] = isinf(acc[i]) || acc[i] != acc[i] ? acc[i] : acc[i] + logf(acc2[i]);
        } else {
            for (int64_t i = 0; i < n; i++)
                out[i] = f_final(j->op, acc[i], j->R);
        }
    }
}

/* ------------------------------------------------------- general and ints */

static inline int64_t ld_i(cvm_dtype dt, const void *p, int64_t i)
{
    switch (dt) {
    case CVM_DTYPE_INT8: return ((const int8_t *)p)[i];
    case CVM_DTYPE_UINT8: return ((const uint8_t *)p)[i];
    case CVM_DTYPE_BOOL: return ((const uint8_t *)p)[i] != 0;
    case CVM_DTYPE_INT32: return ((const int32_t *)p)[i];
    case CVM_DTYPE_UINT32: return ((const uint32_t *)p)[i];
    case CVM_DTYPE_UINT64: return (int64_t)((const uint64_t *)p)[i];
    default: return ((const int64_t *)p)[i];
    }
}

static inline void st_i(cvm_dtype dt, void *p, int64_t i, int64_t v)
{
    switch (dt) {
    case CVM_DTYPE_INT8: ((int8_t *)p)[i] = (int8_t)v; break;
    case CVM_DTYPE_UINT8: ((uint8_t *)p)[i] = (uint8_t)v; break;
    case CVM_DTYPE_BOOL: ((uint8_t *)p)[i] = v != 0; break;
    case CVM_DTYPE_INT32: ((int32_t *)p)[i] = (int32_t)v; break;
    case CVM_DTYPE_UINT32: ((uint32_t *)p)[i] = (uint32_t)v; break;
    case CVM_DTYPE_UINT64: ((uint64_t *)p)[i] = (uint64_t)v; break;
    default: ((int64_t *)p)[i] = v; break;
    }
}

static void i_limits(cvm_dtype dt, int64_t *lo, int64_t *hi)
{
    switch (dt) {
    case CVM_DTYPE_INT8: *lo = INT8_MIN; *hi = INT8_MAX; break;
    case CVM_DTYPE_UINT8: *lo = 0; *hi = UINT8_MAX; break;
    case CVM_DTYPE_BOOL: *lo = 0; *hi = 1; break;
    case CVM_DTYPE_INT32: *lo = INT32_MIN; *hi = INT32_MAX; break;
    case CVM_DTYPE_UINT32: *lo = 0; *hi = UINT32_MAX; break;
    case CVM_DTYPE_UINT64: *lo = 0; *hi = -1; break; /* compared as int64: best effort */
    default: *lo = INT64_MIN; *hi = INT64_MAX; break;
    }
}

/* Wrapping integer arithmetic (ONNX integer reductions overflow like C
 * unsigned arithmetic would; signed overflow must not be undefined here). */
static inline int64_t wadd(int64_t a, int64_t b) { return (int64_t)((uint64_t)a + (uint64_t)b); }
static inline int64_t wmul(int64_t a, int64_t b) { return (int64_t)((uint64_t)a * (uint64_t)b); }

static inline double d_step(rop op, double acc, double v, double m)
{
    switch (op) {
    case R_PROD: return acc * v;
    case R_MAX: return v > acc || v != v ? v : acc;
    case R_MIN: return v < acc || v != v ? v : acc;
    case R_L1: return acc + fabs(v);
    case R_L2: case R_SUMSQ: return acc + v * v;
    case R_LSE: return acc + exp(v - m);
    default: return acc + v;
    }
}

static void gen_range(void *arg, size_t b, size_t e)
{
    const rjob *j = arg;
    int isf = j->dt == CVM_DTYPE_FLOAT32;
    int64_t lo, hi;
    i_limits(j->dt, &lo, &hi);
    for (size_t o = b; o < e; o++) {
        int64_t base = 0, rem = (int64_t)o;
        for (int k = j->nk - 1; k >= 0; k--) {
            base += (rem % j->kdim[k]) * j->kstride[k];
            rem /= j->kdim[k];
        }
        int64_t idx[CVM_MAX_DIMS] = {0};
        int64_t off = base;
        double facc = isf && j->op != R_LSE ? (double)f_init(j->op) : 0.0, fmax = -INFINITY;
        int64_t iacc = j->op == R_PROD ? 1 : j->op == R_MAX ? lo : j->op == R_MIN ? hi : 0;
        /* LogSumExp: first pass finds the maximum. */
        for (int pass = j->op == R_LSE ? 0 : 1; pass < 2; pass++) {
            memset(idx, 0, sizeof idx);
            off = base;
            for (int64_t cnt = 0; cnt < j->rcount; cnt++) {
                if (isf) {
                    double v = ((const float *)j->x)[off];
                    if (pass == 0)
                        fmax = v > fmax || v != v ? v : fmax;
                    else
                        facc = d_step(j->op, facc, v, fmax);
                } else {
                    int64_t v = ld_i(j->dt, j->x, off);
                    switch (j->op) {
                    case R_PROD: iacc = wmul(iacc, v); break;
                    case R_MAX: iacc = v > iacc ? v : iacc; break;
                    case R_MIN: iacc = v < iacc ? v : iacc; break;
                    case R_L1: iacc = wadd(iacc, v < 0 ? -v : v); break;
                    case R_L2: case R_SUMSQ: iacc = wadd(iacc, wmul(v, v)); break;
                    case R_LSE:
                        if (pass == 0)
                            fmax = (double)v > fmax ? (double)v : fmax;
                        else
                            facc += exp((double)v - fmax);
                        break;
                    default: iacc = wadd(iacc, v); break;
                    }
                }
                for (int d = j->nr - 1; d >= 0; d--) {
                    off += j->rstride[d];
                    if (++idx[d] < j->rdim[d])
                        break;
                    off -= idx[d] * j->rstride[d];
                    idx[d] = 0;
                }
            }
            if (pass == 0 && (isinf(fmax) || fmax != fmax))
                break;
        }
        if (isf) {
            float r;
            if (j->op == R_LSE)
                r = isinf(fmax) || fmax != fmax ? (float)fmax : (float)(fmax + log(facc));
            else
                r = f_final(j->op, (float)facc, j->rcount);
            ((float *)j->y)[o] = r;
        } else {
            int64_t r = iacc;
            switch (j->op) {
            case R_MEAN: r = j->rcount ? iacc / j->rcount : 0; break;
            case R_L2: r = (int64_t)sqrt((double)iacc); break;
            case R_LOGSUM: r = iacc > 0 ? (int64_t)log((double)iacc) : 0; break;
            case R_LSE: r = isinf(fmax) ? 0 : (int64_t)(fmax + log(facc)); break;
            default: break;
            }
            st_i(j->dt, j->y, (int64_t)o, r);
        }
    }
}

static cvm_status reduce_run(const cvm_kernel_ctx *c)
{
    const cvm_tensor *x = c->in[0];
    cvm_tensor *y = c->out[0];
    int reduce[CVM_MAX_DIMS], noop;
    CVM_TRY(cvm_reduce_axes(c->node, c->opset, c->n_in, c->in, x->ndim, reduce, &noop));
    size_t es = cvm_dtype_size(x->dtype);
    if (x->dtype != CVM_DTYPE_FLOAT32 && x->dtype != CVM_DTYPE_INT32 && x->dtype != CVM_DTYPE_INT64 &&
        x->dtype != CVM_DTYPE_UINT32 && x->dtype != CVM_DTYPE_UINT64 && x->dtype != CVM_DTYPE_INT8 &&
        x->dtype != CVM_DTYPE_UINT8 && x->dtype != CVM_DTYPE_BOOL)
        return cvm_node_error(c->node, CVM_E_UNSUPPORTED, "input type %s is not supported",
                              cvm_dtype_name(x->dtype));
    int64_t n_out = cvm_tensor_numel(y);
    if (noop) {
        if (y->nbytes < x->nbytes)
            return cvm_node_error(c->node, CVM_E_INTERNAL, "output is smaller than the input");
        if (x->nbytes)
            memcpy(y->data, x->data, x->nbytes);
        return CVM_OK;
    }
    if (n_out == 0)
        return CVM_OK;
    rjob j = {.op = op_of(c->node->op_type), .dt = x->dtype, .x = x->data, .y = y->data};
    /* Merge neighbouring dims of the same kind; dims of size 1 play no role. */
    int64_t gsz[CVM_MAX_DIMS];
    int gred[CVM_MAX_DIMS], ng = 0;
    int64_t rcount = 1;
    for (int i = 0; i < x->ndim; i++) {
        if (reduce[i])
            rcount *= x->dims[i];
        if (x->dims[i] == 1)
            continue;
        if (ng > 0 && gred[ng - 1] == reduce[i]) {
            gsz[ng - 1] *= x->dims[i];
        } else {
            gsz[ng] = x->dims[i];
            gred[ng++] = reduce[i];
        }
    }
    j.rcount = rcount;
    int n_red_groups = 0;
    for (int g = 0; g < ng; g++)
        n_red_groups += gred[g];
    (void)es;
    if (x->dtype == CVM_DTYPE_FLOAT32 && n_red_groups <= 1 && rcount > 0) {
        j.O = 1, j.R = 1, j.I = 1;
        int seen = 0;
        for (int g = 0; g < ng; g++) {
            if (gred[g]) {
                j.R = gsz[g];
                seen = 1;
            } else if (!seen) {
                j.O *= gsz[g];
            } else {
                j.I *= gsz[g];
            }
        }
        j.iblocks = (j.I + IBLOCK - 1) / IBLOCK;
        size_t items = j.I == 1 ? (size_t)j.O : (size_t)(j.O * j.iblocks);
        int64_t work = j.R * (j.I == 1 ? 1 : (j.I < IBLOCK ? j.I : IBLOCK));
        size_t grain = work >= 16384 ? 1 : (size_t)(16384 / (work ? work : 1));
        cvm_parallel_for(c->pool, items, grain, f_ori_range, &j);
        return CVM_OK;
    }
    /* General form: kept and reduced dims with their input strides. */
    int64_t stride = 1;
    int64_t strides[CVM_MAX_DIMS];
    for (int i = x->ndim - 1; i >= 0; i--) {
        strides[i] = stride;
        stride *= x->dims[i];
    }
    for (int i = 0; i < x->ndim; i++) {
        if (reduce[i]) {
            j.rdim[j.nr] = x->dims[i];
            j.rstride[j.nr++] = strides[i];
        } else {
            j.kdim[j.nk] = x->dims[i];
            j.kstride[j.nk++] = strides[i];
        }
    }
    size_t grain = rcount >= 4096 ? 1 : (size_t)(4096 / (rcount ? rcount : 1));
    cvm_parallel_for(c->pool, (size_t)n_out, grain, gen_range, &j);
    return CVM_OK;
}

/* ------------------------------------------------------------ ArgMax/Min */

typedef struct ajob {
    const void *x;
    int64_t *y;
    int64_t D, I;
    int is_max, last;
} ajob;

#define ARG_FN(NAME, T)                                                              \
    static void NAME(void *arg, size_t b, size_t e)                                  \
    {                                                                                \
        const ajob *j = arg;                                                         \
        for (size_t o = b; o < e; o++) {                                             \
            const T *x = (const T *)j->x + (int64_t)o * j->D * j->I;                 \
            int64_t *y = j->y + (int64_t)o * j->I;                                   \
            for (int64_t i = 0; i < j->I; i++)                                       \
                y[i] = 0;                                                            \
            for (int64_t d = 1; d < j->D; d++) {                                     \
                const T *row = x + d * j->I;                                         \
                for (int64_t i = 0; i < j->I; i++) {                                 \
                    T v = row[i], best = x[y[i] * j->I + i];                         \
                    int better = j->is_max ? (j->last ? v >= best : v > best)        \
                                           : (j->last ? v <= best : v < best);       \
                    if (better)                                                      \
                        y[i] = d;                                                    \
                }                                                                    \
            }                                                                        \
        }                                                                            \
    }

ARG_FN(arg_f32, float)
ARG_FN(arg_f64, double)
ARG_FN(arg_i8, int8_t)
ARG_FN(arg_u8, uint8_t)
ARG_FN(arg_i16, int16_t)
ARG_FN(arg_u16, uint16_t)
ARG_FN(arg_i32, int32_t)
ARG_FN(arg_u32, uint32_t)
ARG_FN(arg_i64, int64_t)
ARG_FN(arg_u64, uint64_t)

static cvm_status arg_run(const cvm_kernel_ctx *c)
{
    const cvm_tensor *x = c->in[0];
    int axis;
    CVM_TRY(cvm_norm_axis(cvm_attr_int(c->node, "axis", 0), x->ndim, c->node->op_type, &axis));
    ajob j = {.x = x->data, .y = c->out[0]->data, .D = x->dims[axis], .I = 1,
              .is_max = strcmp(c->node->op_type, "ArgMax") == 0,
              .last = cvm_attr_int(c->node, "select_last_index", 0) != 0};
    int64_t O = 1;
    for (int i = 0; i < axis; i++)
        O *= x->dims[i];
    for (int i = axis + 1; i < x->ndim; i++)
        j.I *= x->dims[i];
    if (j.D <= 0)
        return cvm_node_error(c->node, CVM_E_SHAPE, "axis %d is empty", axis);
    cvm_range_fn fn;
    switch (x->dtype) {
    case CVM_DTYPE_FLOAT32: fn = arg_f32; break;
    case CVM_DTYPE_FLOAT64: fn = arg_f64; break;
    case CVM_DTYPE_INT8: fn = arg_i8; break;
    case CVM_DTYPE_UINT8: fn = arg_u8; break;
    case CVM_DTYPE_INT16: fn = arg_i16; break;
    case CVM_DTYPE_UINT16: fn = arg_u16; break;
    case CVM_DTYPE_INT32: fn = arg_i32; break;
    case CVM_DTYPE_UINT32: fn = arg_u32; break;
    case CVM_DTYPE_INT64: fn = arg_i64; break;
    case CVM_DTYPE_UINT64: fn = arg_u64; break;
    default:
        return cvm_node_error(c->node, CVM_E_UNSUPPORTED, "input type %s is not supported",
                              cvm_dtype_name(x->dtype));
    }
    if (O == 0 || j.I == 0)
        return CVM_OK;
    int64_t work = j.D * j.I;
    cvm_parallel_for(c->pool, (size_t)O, work >= 8192 ? 1 : (size_t)(8192 / work), fn, &j);
    return CVM_OK;
}

const cvm_kernel_def cvm_cpu_kernels_reduce[] = {
    {"", "ReduceSum", NULL, NULL, reduce_run, 0},
    {"", "ReduceMean", NULL, NULL, reduce_run, 0},
    {"", "ReduceMax", NULL, NULL, reduce_run, 0},
    {"", "ReduceMin", NULL, NULL, reduce_run, 0},
    {"", "ReduceProd", NULL, NULL, reduce_run, 0},
    {"", "ReduceL1", NULL, NULL, reduce_run, 0},
    {"", "ReduceL2", NULL, NULL, reduce_run, 0},
    {"", "ReduceLogSum", NULL, NULL, reduce_run, 0},
    {"", "ReduceLogSumExp", NULL, NULL, reduce_run, 0},
    {"", "ReduceSumSquare", NULL, NULL, reduce_run, 0},
    {"", "ArgMax", NULL, NULL, arg_run, 0},
    {"", "ArgMin", NULL, NULL, arg_run, 0},
    {"", "Resize", cvm_cpu_resize_prepare, NULL, cvm_cpu_resize_run, 0},
    {"", "Upsample", cvm_cpu_resize_prepare, NULL, cvm_cpu_resize_run, 0},
    {"", "GridSample", NULL, NULL, cvm_cpu_gridsample_run, 0},
    {0},
};
