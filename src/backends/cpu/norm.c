/* Normalisations: BatchNormalization (inference), InstanceNormalization,
 * LayerNormalization, GroupNormalization, LpNormalization and LRN.  Statistics
 * are accumulated in double so that large planes keep float accuracy. */
#include <math.h>
#include <string.h>

#include "backends/cpu/clones.h"
#include "backends/cpu/nn_kernels.h"

static cvm_status all_f32(const cvm_kernel_ctx *c)
{
    for (int i = 0; i < c->n_in; i++)
        if (c->in[i] && c->in[i]->dtype != CVM_DTYPE_FLOAT32)
            return cvm_node_error(c->node, CVM_E_UNSUPPORTED, "input %d has type %s; only float "
                                  "types are supported", i, cvm_dtype_name(c->in[i]->dtype));
    return CVM_OK;
}

static int64_t numel(const cvm_tensor *t) { return cvm_tensor_numel(t); }

/* ------------------------------------------------------- BatchNormalization */

cvm_status cvm_nn_batchnorm_run(const cvm_kernel_ctx *c)
{
    CVM_TRY(all_f32(c));
    const cvm_tensor *x = c->in[0];
    const float *xd = x->data, *sc = c->in[1]->data, *bi = c->in[2]->data;
    const float *mean = c->in[3]->data, *var = c->in[4]->data;
    float *y = c->out[0]->data;
    float eps = cvm_attr_float(c->node, "epsilon", 1e-5f);
    int64_t N = x->dims[0], C = x->dims[1], S = 1;
    for (int i = 2; i < x->ndim; i++)
        S *= x->dims[i];
    int per_elem = numel(c->in[1]) != C; /* opset < 7 with spatial=0 */
    for (int64_t n = 0; n < N; n++)
        for (int64_t ch = 0; ch < C; ch++) {
            const float *xp = xd + (n * C + ch) * S;
            float *yp = y + (n * C + ch) * S;
            if (!per_elem) {
                float a = sc[ch] / sqrtf(var[ch] + eps);
                float b = bi[ch] - mean[ch] * a;
                for (int64_t i = 0; i < S; i++)
                    yp[i] = xp[i] * a + b;
            } else {
                for (int64_t i = 0; i < S; i++) {
                    int64_t p = ch * S + i;
                    yp[i] = (xp[i] - mean[p]) / sqrtf(var[p] + eps) * sc[p] + bi[p];
                }
            }
        }
    for (int o = 1; o < c->n_out && o < 5; o++)
        if (c->out[o]) {
            const cvm_tensor *src = c->in[o == 1 || o == 3 ? 3 : 4];
            memcpy(c->out[o]->data, src->data, c->out[o]->nbytes);
        }
    return CVM_OK;
}

/* ---------------------------------------------------- InstanceNormalization */

typedef struct inorm_job {
    const float *x, *scale, *bias;
    float *y;
    int64_t C, S;
    float eps;
} inorm_job;

/* Sum of x[0..n) (or of (x - m)^2 when sq): blocks of 1024 summed in 16
 * float lanes so that the loop vectorises, the blocks added in double so
 * that long planes (InstanceNorm) keep their precision. */
CVM_CPU_CLONES static double lane_sum(const float *x, int64_t n, int sq, float m)
{
    double total = 0.0;
    for (int64_t b0 = 0; b0 < n; b0 += 1024) {
        int64_t e = n - b0 < 1024 ? n : b0 + 1024;
        float l[16] = {0};
        int64_t i = b0;
        if (sq)
            for (; i + 16 <= e; i += 16)
                for (int k = 0; k < 16; k++) {
                    float d = x[i + k] - m;
                    l[k] += d * d;
                }
        else
            for (; i + 16 <= e; i += 16)
                for (int k = 0; k < 16; k++)
                    l[k] += x[i + k];
        double part = 0.0;
        for (; i < e; i++) {
            double d = sq ? (double)x[i] - m : (double)x[i];
            part += sq ? d * d : d;
        }
        for (int k = 0; k < 16; k++)
            part += l[k];
        total += part;
    }
    return total;
}

static void normalize_span(const float *x, float *y, int64_t n, float eps, double *mean_out,
                           double *inv_out)
{
    double mean = n ? lane_sum(x, n, 0, 0.0f) / (double)n : 0.0;
    double var = n ? lane_sum(x, n, 1, (float)mean) / (double)n : 0.0;
    double inv = 1.0 / sqrt(var + eps);
    if (y) {
        float m = (float)mean, iv = (float)inv;
        for (int64_t i = 0; i < n; i++)
            y[i] = (x[i] - m) * iv;
    }
    *mean_out = mean;
    *inv_out = inv;
}

static void inorm_planes(void *arg, size_t b, size_t e)
{
    const inorm_job *j = arg;
    for (size_t pl = b; pl < e; pl++) {
        int64_t ch = (int64_t)pl % j->C;
        const float *x = j->x + (int64_t)pl * j->S;
        float *y = j->y + (int64_t)pl * j->S;
        double mean, inv;
        normalize_span(x, NULL, j->S, j->eps, &mean, &inv);
        float a = (float)(inv * j->scale[ch]);
        float bb = (float)(j->bias[ch] - mean * inv * j->scale[ch]);
        for (int64_t i = 0; i < j->S; i++)
            y[i] = x[i] * a + bb;
    }
}

cvm_status cvm_nn_instancenorm_run(const cvm_kernel_ctx *c)
{
    CVM_TRY(all_f32(c));
    const cvm_tensor *x = c->in[0];
    inorm_job j = {x->data, c->in[1]->data, c->in[2]->data, c->out[0]->data, x->dims[1], 1,
                   cvm_attr_float(c->node, "epsilon", 1e-5f)};
    for (int i = 2; i < x->ndim; i++)
        j.S *= x->dims[i];
    cvm_parallel_for(c->pool, (size_t)(x->dims[0] * x->dims[1]), 1, inorm_planes, &j);
    return CVM_OK;
}

/* ------------------------------------------------------- LayerNormalization */

/* Index into a tensor t broadcast (numpy, right-aligned) over the trailing
 * dims `dims[0..n)`, for flat position i of those dims. */
static int64_t bcast_index(const cvm_tensor *t, int n, const int64_t *dims, int64_t i)
{
    int64_t idx = 0, stride = 1;
    for (int a = n - 1, ta = t->ndim - 1; a >= 0; a--, ta--) {
        int64_t pos = i % dims[a];
        i /= dims[a];
        if (ta >= 0) {
            if (t->dims[ta] != 1)
                idx += pos * stride;
            stride *= t->dims[ta];
        }
    }
    return idx;
}

typedef struct lnorm_job {
    const cvm_tensor *x, *scale, *bias;
    float *y, *mean, *inv;
    int axis;
    int64_t inner;
    int scale_full, bias_full;
    float eps;
} lnorm_job;

CVM_CPU_CLONES static void affine_full(float *y, const float *sc, const float *bi, int64_t n)
{
    if (bi)
        for (int64_t i = 0; i < n; i++)
            y[i] = y[i] * sc[i] + bi[i];
    else
        for (int64_t i = 0; i < n; i++)
            y[i] *= sc[i];
}

static void lnorm_rows(void *arg, size_t b, size_t e)
{
    const lnorm_job *j = arg;
    const float *sc = j->scale->data;
    const float *bi = j->bias ? j->bias->data : NULL;
    int n = j->x->ndim - j->axis;
    const int64_t *dims = j->x->dims + j->axis;
    for (size_t r = b; r < e; r++) {
        const float *x = (const float *)j->x->data + (int64_t)r * j->inner;
        float *y = j->y + (int64_t)r * j->inner;
        double mean, inv;
        normalize_span(x, y, j->inner, j->eps, &mean, &inv);
        if (j->scale_full && (!bi || j->bias_full))
            affine_full(y, sc, bi, j->inner);
        else
            for (int64_t i = 0; i < j->inner; i++) {
                float s = sc[j->scale_full ? i : bcast_index(j->scale, n, dims, i)];
                float bb = bi ? bi[j->bias_full ? i : bcast_index(j->bias, n, dims, i)] : 0.0f;
                y[i] = y[i] * s + bb;
            }
        if (j->mean)
            j->mean[r] = (float)mean;
        if (j->inv)
            j->inv[r] = (float)inv;
    }
}

cvm_status cvm_nn_layernorm_run(const cvm_kernel_ctx *c)
{
    CVM_TRY(all_f32(c));
    const cvm_tensor *x = c->in[0];
    int axis;
    CVM_TRY(cvm_norm_axis(cvm_attr_int(c->node, "axis", -1), x->ndim, "LayerNormalization", &axis));
    for (int o = 1; o < c->n_out && o < 3; o++)
        if (c->out[o] && c->out[o]->dtype != CVM_DTYPE_FLOAT32)
            return cvm_node_error(c->node, CVM_E_UNSUPPORTED, "stash type %s is not supported",
                                  cvm_dtype_name(c->out[o]->dtype));
    lnorm_job j = {x, c->in[1], c->n_in > 2 ? c->in[2] : NULL, c->out[0]->data,
                   c->n_out > 1 && c->out[1] ? c->out[1]->data : NULL,
                   c->n_out > 2 && c->out[2] ? c->out[2]->data : NULL, axis, 1, 0, 0,
                   cvm_attr_float(c->node, "epsilon", 1e-5f)};
    int64_t outer = 1;
    for (int i = 0; i < x->ndim; i++)
        *(i < axis ? &outer : &j.inner) *= x->dims[i];
    j.scale_full = numel(j.scale) == j.inner;
    j.bias_full = j.bias && numel(j.bias) == j.inner;
    cvm_parallel_for(c->pool, (size_t)outer, 1, lnorm_rows, &j);
    return CVM_OK;
}

/* ------------------------------------------------------- GroupNormalization */

typedef struct gnorm_job {
    const float *x, *scale, *bias;
    float *y;
    int64_t C, G, S;
    int per_channel;
    float eps;
} gnorm_job;

static void gnorm_groups(void *arg, size_t b, size_t e)
{
    const gnorm_job *j = arg;
    int64_t Cg = j->C / j->G;
    for (size_t it = b; it < e; it++) {
        int64_t n = (int64_t)it / j->G, g = (int64_t)it % j->G;
        const float *x = j->x + (n * j->C + g * Cg) * j->S;
        float *y = j->y + (n * j->C + g * Cg) * j->S;
        double mean, inv;
        normalize_span(x, NULL, Cg * j->S, j->eps, &mean, &inv);
        for (int64_t ch = 0; ch < Cg; ch++) {
            int64_t pi = j->per_channel ? g * Cg + ch : g;
            float a = (float)(inv * j->scale[pi]);
            float bb = (float)(j->bias[pi] - mean * inv * j->scale[pi]);
            for (int64_t i = 0; i < j->S; i++)
                y[ch * j->S + i] = x[ch * j->S + i] * a + bb;
        }
    }
}

cvm_status cvm_nn_groupnorm_run(const cvm_kernel_ctx *c)
{
    CVM_TRY(all_f32(c));
    const cvm_tensor *x = c->in[0];
    gnorm_job j = {x->data, c->in[1]->data, c->in[2]->data, c->out[0]->data, x->dims[1],
                   cvm_attr_int(c->node, "num_groups", 1), 1, 0,
                   cvm_attr_float(c->node, "epsilon", 1e-5f)};
    for (int i = 2; i < x->ndim; i++)
        j.S *= x->dims[i];
    j.per_channel = numel(c->in[1]) == j.C;
    cvm_parallel_for(c->pool, (size_t)(x->dims[0] * j.G), 1, gnorm_groups, &j);
    return CVM_OK;
}

/* ---------------------------------------------------------- LpNormalization */

cvm_status cvm_nn_lpnorm_run(const cvm_kernel_ctx *c)
{
    CVM_TRY(all_f32(c));
    const cvm_tensor *x = c->in[0];
    int axis;
    CVM_TRY(cvm_norm_axis(cvm_attr_int(c->node, "axis", -1), x->ndim, "LpNormalization", &axis));
    int p = (int)cvm_attr_int(c->node, "p", 2);
    int64_t outer = 1, n = x->dims[axis], inner = 1;
    for (int i = 0; i < x->ndim; i++)
        if (i < axis)
            outer *= x->dims[i];
        else if (i > axis)
            inner *= x->dims[i];
    const float *xd = x->data;
    float *y = c->out[0]->data;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t in = 0; in < inner; in++) {
            const float *xp = xd + o * n * inner + in;
            float *yp = y + o * n * inner + in;
            double s = 0.0;
            for (int64_t i = 0; i < n; i++)
                s += p == 1 ? fabs((double)xp[i * inner]) : (double)xp[i * inner] * xp[i * inner];
            double norm = p == 1 ? s : sqrt(s);
            for (int64_t i = 0; i < n; i++)
                yp[i * inner] = norm > 0.0 ? (float)(xp[i * inner] / norm) : 0.0f;
        }
    return CVM_OK;
}

/* ---------------------------------------------------------------------- LRN */

cvm_status cvm_nn_lrn_run(const cvm_kernel_ctx *c)
{
    CVM_TRY(all_f32(c));
    const cvm_tensor *x = c->in[0];
    int64_t size = cvm_attr_int(c->node, "size", 1);
    float alpha = cvm_attr_float(c->node, "alpha", 1e-4f);
    float beta = cvm_attr_float(c->node, "beta", 0.75f);
    float bias = cvm_attr_float(c->node, "bias", 1.0f);
    int64_t N = x->dims[0], C = x->dims[1], S = 1;
    for (int i = 2; i < x->ndim; i++)
        S *= x->dims[i];
    int64_t lo = (size - 1) / 2, hi = size - 1 - lo;
    const float *xd = x->data;
    float *y = c->out[0]->data;
    for (int64_t n = 0; n < N; n++)
        for (int64_t ch = 0; ch < C; ch++)
            for (int64_t i = 0; i < S; i++) {
                double sq = 0.0;
                int64_t a = ch - lo < 0 ? 0 : ch - lo, b = ch + hi > C - 1 ? C - 1 : ch + hi;
                for (int64_t k = a; k <= b; k++) {
                    double v = xd[(n * C + k) * S + i];
                    sq += v * v;
                }
                double den = pow(bias + alpha / (double)size * sq, beta);
                y[(n * C + ch) * S + i] = (float)(xd[(n * C + ch) * S + i] / den);
            }
    return CVM_OK;
}
