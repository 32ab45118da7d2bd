/* Softmax, LogSoftmax, Hardmax and Dropout (inference).
 *
 * The softmax family reduces over `n` elements spaced `inner` apart.  When
 * inner > 1 (a non-last axis, as in YOLO's DFL head) the rows are processed
 * in column blocks so that every pass over the n rows reads contiguous
 * memory and no transpose is needed. */
#include <math.h>
#include <string.h>

#include "backends/cpu/clones.h"
#include "backends/cpu/nn_kernels.h"
#include "backends/cpu/vmath.h"

enum { SM_SOFT, SM_LOG, SM_HARD, SM_DOT };
#define SM_BLOCK 64

typedef struct sm_job {
    int kind;
    int64_t n, inner, blocks;
    const float *x;
    float *y;
    const float *w; /* SM_DOT: the n weights; y holds one row per outer index */
} sm_job;

CVM_CPU_CLONES static void sm_items(void *arg, size_t b, size_t e)
{
    const sm_job *j = arg;
    for (size_t it = b; it < e; it++) {
        int64_t o = (int64_t)it / j->blocks, blk = (int64_t)it % j->blocks;
        int64_t c0 = blk * SM_BLOCK;
        int w = (int)(j->inner - c0 < SM_BLOCK ? j->inner - c0 : SM_BLOCK);
        const float *x = j->x + o * j->n * j->inner + c0;
        float *y = j->y + o * (j->kind == SM_DOT ? 1 : j->n) * j->inner + c0;
        float mx[SM_BLOCK], sum[SM_BLOCK];
        int64_t arg_i[SM_BLOCK];
        for (int c = 0; c < w; c++) {
            mx[c] = x[c];
            arg_i[c] = 0;
            sum[c] = 0.0f;
        }
        if (j->kind != SM_HARD) {
            /* no index to track: a plain max that vectorises */
            for (int64_t i = 1; i < j->n; i++) {
                const float *xr = x + i * j->inner;
                for (int c = 0; c < w; c++)
                    mx[c] = xr[c] > mx[c] ? xr[c] : mx[c];
            }
        } else {
            for (int64_t i = 1; i < j->n; i++) {
                const float *xr = x + i * j->inner;
                for (int c = 0; c < w; c++)
                    if (xr[c] > mx[c]) {
                        mx[c] = xr[c];
                        arg_i[c] = i;
                    }
            }
        }
        if (j->kind == SM_HARD) {
            for (int64_t i = 0; i < j->n; i++) {
                float *yr = y + i * j->inner;
                for (int c = 0; c < w; c++)
                    yr[c] = arg_i[c] == i ? 1.0f : 0.0f;
            }
            continue;
        }
        if (j->kind == SM_DOT) {
            /* sum_k e_k w_k / sum_k e_k: the softmax never stored */
            float dot[SM_BLOCK];
            for (int c = 0; c < w; c++)
                dot[c] = 0.0f;
            for (int64_t i = 0; i < j->n; i++) {
                const float *xr = x + i * j->inner;
                const float wi = j->w[i];
                for (int c = 0; c < w; c++) {
                    float ev = cvm_vexpf(xr[c] - mx[c]);
                    sum[c] += ev;
                    dot[c] += ev * wi;
                }
            }
            for (int c = 0; c < w; c++)
                y[c] = dot[c] / sum[c];
            continue;
        }
        for (int64_t i = 0; i < j->n; i++) {
            const float *xr = x + i * j->inner;
            float *yr = y + i * j->inner;
            for (int c = 0; c < w; c++) {
                float ev = cvm_vexpf(xr[c] - mx[c]);
                sum[c] += ev;
                if (j->kind == SM_SOFT)
                    yr[c] = ev;
            }
        }
        if (j->kind == SM_SOFT) {
            for (int c = 0; c < w; c++)
                sum[c] = 1.0f / sum[c];
            for (int64_t i = 0; i < j->n; i++) {
                float *yr = y + i * j->inner;
                for (int c = 0; c < w; c++)
                    yr[c] *= sum[c];
            }
        } else {
            for (int c = 0; c < w; c++)
                sum[c] = mx[c] + logf(sum[c]);
            for (int64_t i = 0; i < j->n; i++) {
                const float *xr = x + i * j->inner;
                float *yr = y + i * j->inner;
                for (int c = 0; c < w; c++)
                    yr[c] = xr[c] - sum[c];
            }
        }
    }
}

/* Softmax/LogSoftmax over contiguous rows (the last axis: attention, DFL
 * after a transpose): one pass for the max, one for e^(x - max) with
 * per-lane partial sums so that both loops vectorise, one to scale. */
CVM_CPU_CLONES static void sm_rows(void *arg, size_t begin, size_t end)
{
    const sm_job *j = arg;
    const int64_t n = j->n;
    for (size_t r = begin; r < end; r++) {
        const float *x = j->x + (int64_t)r * n;
        float *y = j->y + (int64_t)r * n;
        /* 16 running maxima: a single scalar max is a reduction the
         * compiler will not vectorise without relaxing NaN rules */
        float ml[16];
        for (int l = 0; l < 16; l++)
            ml[l] = x[0];
        int64_t i = 0;
        for (; i + 16 <= n; i += 16)
            for (int l = 0; l < 16; l++)
                ml[l] = x[i + l] > ml[l] ? x[i + l] : ml[l];
        float mx = x[0];
        for (; i < n; i++)
            mx = x[i] > mx ? x[i] : mx;
        for (int l = 0; l < 16; l++)
            mx = ml[l] > mx ? ml[l] : mx;
        float lanes[16] = {0};
        i = 0;
        for (; i + 16 <= n; i += 16)
            for (int l = 0; l < 16; l++) {
                float ev = cvm_vexpf(x[i + l] - mx);
                y[i + l] = ev;
                lanes[l] += ev;
            }
        float sum = 0.0f;
        for (; i < n; i++) {
            float ev = cvm_vexpf(x[i] - mx);
            y[i] = ev;
            sum += ev;
        }
        for (int l = 0; l < 16; l++)
            sum += lanes[l];
        if (j->kind == SM_SOFT) {
            const float inv = 1.0f / sum;
            for (int64_t k = 0; k < n; k++)
                y[k] *= inv;
        } else {
            const float lse = mx + logf(sum);
            for (int64_t k = 0; k < n; k++)
                y[k] = x[k] - lse;
        }
    }
}

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#include "backends/cpu/act512.h"
#define SM_X86 1

/* e^x of 16 lanes (cvm_exp512, act512.h); the callers only pass x - max <= 0,
 * never NaN unless the row holds one, and NaN lanes stay NaN as in cvm_vexpf. */
__attribute__((target("avx512f"))) static inline __m512 sm_exp16(__m512 x)
{
    __mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
    return _mm512_mask_mov_ps(cvm_exp512(x), nan, x);
}

/* sm_rows with explicit 16-lane vectors and masked tails: the generic
 * clone keeps the exp loop in 128-bit vectors and the tails scalar, which
 * left attention's softmax (rows of 145..580) at 2.5x ONNX Runtime's time. */
__attribute__((target("avx512f"))) static void sm_rows512(void *arg, size_t begin, size_t end)
{
    const sm_job *j = arg;
    const int64_t n = j->n;
    const int64_t nv = n & ~(int64_t)15;
    const __mmask16 tail = (__mmask16)((1u << (n & 15)) - 1u);
    for (size_t rw = begin; rw < end; rw++) {
        const float *x = j->x + (int64_t)rw * n;
        float *y = j->y + (int64_t)rw * n;
        __m512 m = _mm512_set1_ps(x[0]);
        int has_nan = 0;
        for (int64_t i = 0; i < nv; i += 16) {
            __m512 v = _mm512_loadu_ps(x + i);
            has_nan |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q) != 0;
            m = _mm512_max_ps(m, v);
        }
        if (tail) {
            __m512 v = _mm512_mask_loadu_ps(m, tail, x + nv);
            has_nan |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q) != 0;
            m = _mm512_max_ps(m, v);
        }
        float mx = _mm512_reduce_max_ps(m);
        if (has_nan) {
            /* the scalar order of comparisons decides which NaN rule applies */
            sm_job one = *j;
            one.x = x;
            one.y = y;
            sm_rows(&one, 0, 1);
            continue;
        }
        const __m512 mv = _mm512_set1_ps(mx);
        __m512 s0 = _mm512_setzero_ps(), s1 = s0;
        int64_t i = 0;
        for (; i + 32 <= nv; i += 32) {
            __m512 e0 = sm_exp16(_mm512_sub_ps(_mm512_loadu_ps(x + i), mv));
            __m512 e1 = sm_exp16(_mm512_sub_ps(_mm512_loadu_ps(x + i + 16), mv));
            _mm512_storeu_ps(y + i, e0);
            _mm512_storeu_ps(y + i + 16, e1);
            s0 = _mm512_add_ps(s0, e0);
            s1 = _mm512_add_ps(s1, e1);
        }
        for (; i < nv; i += 16) {
            __m512 e0 = sm_exp16(_mm512_sub_ps(_mm512_loadu_ps(x + i), mv));
            _mm512_storeu_ps(y + i, e0);
            s0 = _mm512_add_ps(s0, e0);
        }
        if (tail) {
            __m512 e0 = sm_exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(tail, x + nv), mv));
            _mm512_mask_storeu_ps(y + nv, tail, e0);
            s1 = _mm512_add_ps(s1, _mm512_maskz_mov_ps(tail, e0));
        }
        float sum = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
        if (j->kind == SM_SOFT) {
            const __m512 inv = _mm512_set1_ps(1.0f / sum);
            for (i = 0; i < nv; i += 16)
                _mm512_storeu_ps(y + i, _mm512_mul_ps(_mm512_loadu_ps(y + i), inv));
            if (tail)
                _mm512_mask_storeu_ps(y + nv, tail,
                                      _mm512_mul_ps(_mm512_maskz_loadu_ps(tail, y + nv), inv));
        } else {
            const __m512 lse = _mm512_set1_ps(mx + logf(sum));
            for (i = 0; i < nv; i += 16)
                _mm512_storeu_ps(y + i, _mm512_sub_ps(_mm512_loadu_ps(x + i), lse));
            if (tail)
                _mm512_mask_storeu_ps(y + nv, tail,
                                      _mm512_sub_ps(_mm512_maskz_loadu_ps(tail, x + nv), lse));
        }
    }
}
#endif

#ifdef SM_X86
/* SoftmaxDot's columns 16 at a time: the bins' e^(x - max) stay in
 * registers between the max, the sums and the dot (the generic item walks
 * the bins three times through memory).  Up to 32 bins in registers; more
 * take the generic items. */
__attribute__((target("avx512f"))) static void sm_dot512(void *arg, size_t b, size_t e)
{
    const sm_job *j = arg;
    const int n = (int)j->n;
    for (size_t it = b; it < e; it++) {
        int64_t o = (int64_t)it / j->blocks, c0 = (int64_t)it % j->blocks * SM_BLOCK;
        int64_t c1 = c0 + SM_BLOCK < j->inner ? c0 + SM_BLOCK : j->inner;
        const float *x = j->x + o * j->n * j->inner;
        float *y = j->y + o * j->inner;
        for (int64_t c = c0; c < c1; c += 16) {
            __mmask16 m = c1 - c >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (c1 - c)) - 1u);
            __m512 v[32], mx = _mm512_maskz_loadu_ps(m, x + c);
            for (int i = 0; i < n; i++) {
                v[i] = _mm512_maskz_loadu_ps(m, x + i * j->inner + c);
                mx = _mm512_max_ps(mx, v[i]);
            }
            __m512 sum = _mm512_setzero_ps(), dot = sum;
            for (int i = 0; i < n; i++) {
                __m512 ev = sm_exp16(_mm512_sub_ps(v[i], mx));
                sum = _mm512_add_ps(sum, ev);
                dot = _mm512_fmadd_ps(ev, _mm512_set1_ps(j->w[i]), dot);
            }
            _mm512_mask_storeu_ps(y + c, m, _mm512_div_ps(dot, sum));
        }
    }
}
#endif

typedef void (*sm_rows_fn)(void *, size_t, size_t);
static sm_rows_fn sm_rows_pick(void)
{
#ifdef SM_X86
    if (__builtin_cpu_supports("avx512f"))
        return sm_rows512;
#endif
    return sm_rows;
}

void cvm_softmax_rows(const float *x, float *y, int64_t rows, int64_t n)
{
    sm_job j = {SM_SOFT, n, 1, 1, x, y, NULL};
    if (rows > 0 && n > 0)
        sm_rows_pick()(&j, 0, (size_t)rows);
}

cvm_status cvm_nn_softmax_run(const cvm_kernel_ctx *c)
{
    const cvm_tensor *x = c->in[0];
    if (x->dtype != CVM_DTYPE_FLOAT32)
        return cvm_node_error(c->node, CVM_E_UNSUPPORTED, "type %s is not supported",
                              cvm_dtype_name(x->dtype));
    const char *op = c->node->op_type;
    sm_job j = {strcmp(op, "Softmax") == 0 ? SM_SOFT : strcmp(op, "LogSoftmax") == 0 ? SM_LOG : SM_HARD,
                1, 1, 1, x->data, c->out[0]->data, NULL};
    int axis;
    CVM_TRY(cvm_norm_axis(cvm_attr_int(c->node, "axis", c->opset >= 13 ? -1 : 1), x->ndim, op, &axis));
    int64_t outer = 1;
    for (int i = 0; i < x->ndim; i++) {
        if (i < axis)
            outer *= x->dims[i];
        else if (i == axis || c->opset < 13)
            j.n *= x->dims[i]; /* before opset 13 everything from axis on is one row */
        else
            j.inner *= x->dims[i];
    }
    if (outer == 0 || j.n == 0 || j.inner == 0)
        return CVM_OK;
    if (j.inner == 1 && j.kind != SM_HARD) {
        size_t rows = (size_t)outer;
        size_t grain = (size_t)(4096 / j.n) + 1;
        cvm_parallel_for(c->pool, rows, grain, sm_rows_pick(), &j);
        return CVM_OK;
    }
    j.blocks = (j.inner + SM_BLOCK - 1) / SM_BLOCK;
    cvm_parallel_for(c->pool, (size_t)(outer * j.blocks), 1, sm_items, &j);
    return CVM_OK;
}

/* cvm.SoftmaxDot (see graph/shape_fused.c): the softmax over X's axis 2 of
 * [N, G, K, A], each of the A columns dotted with W on the way. */
cvm_status cvm_nn_softmax_dot_run(const cvm_kernel_ctx *c)
{
    const cvm_tensor *x = c->in[0], *w = c->in[1];
    if (x->ndim != 4 || x->dtype != CVM_DTYPE_FLOAT32 || w->dtype != CVM_DTYPE_FLOAT32 ||
        cvm_tensor_numel(w) != x->dims[2])
        return cvm_node_error(c->node, CVM_E_SHAPE, "SoftmaxDot takes float32 [N, G, K, A] and K weights");
    sm_job j = {SM_DOT, x->dims[2], x->dims[3], 1, x->data, c->out[0]->data, w->data};
    int64_t outer = x->dims[0] * x->dims[1];
    if (outer == 0 || j.inner == 0)
        return CVM_OK;
    if (j.n == 0) {
        /* no bins: an empty sum, as the 1x1 convolution over none gives */
        memset(c->out[0]->data, 0, c->out[0]->nbytes);
        return CVM_OK;
    }
    j.blocks = (j.inner + SM_BLOCK - 1) / SM_BLOCK;
    void (*fn)(void *, size_t, size_t) = sm_items;
#ifdef SM_X86
    if (j.n <= 32 && __builtin_cpu_supports("avx512f"))
        fn = sm_dot512;
#endif
    cvm_parallel_for(c->pool, (size_t)(outer * j.blocks), 1, fn, &j);
    return CVM_OK;
}

cvm_status cvm_nn_dropout_run(const cvm_kernel_ctx *c)
{
    const cvm_tensor *x = c->in[0];
    /* Inference: identity.  A training_mode input that is true with a
     * non-zero ratio would need random numbers, which inference never uses. */
    if (c->n_in > 2 && c->in[2] && c->in[2]->data && cvm_tensor_numel(c->in[2]) == 1 &&
        cvm_tensor_get_i64(c->in[2], 0) != 0) {
        double ratio = 0.5;
        if (c->n_in > 1 && c->in[1] && c->in[1]->data && cvm_tensor_numel(c->in[1]) == 1)
            ratio = cvm_tensor_get_f64(c->in[1], 0);
        if (ratio != 0.0)
            return cvm_node_error(c->node, CVM_E_UNSUPPORTED,
                                  "training_mode=true with ratio %g (random dropout) is not supported",
                                  ratio);
    }
    if (c->out[0]->data != x->data)
        memcpy(c->out[0]->data, x->data, c->out[0]->nbytes);
    if (c->n_out > 1 && c->out[1]) {
        cvm_tensor *m = c->out[1];
        int64_t n = cvm_tensor_numel(m);
        if (m->dtype == CVM_DTYPE_BOOL)
            memset(m->data, 1, (size_t)n);
        else {
            size_t es = cvm_dtype_size(m->dtype);
            unsigned char one[16];
            uint8_t b = 1;
            cvm_convert(CVM_DTYPE_UINT8, &b, m->dtype, one, 1);
            for (int64_t i = 0; i < n; i++)
                memcpy((char *)m->data + (size_t)i * es, one, es);
        }
    }
    return CVM_OK;
}
