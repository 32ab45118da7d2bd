/* Gemm and MatMul.  float32 goes through the packed GEMM core (constant
 * right-hand operands, i.e. weights, are packed once in prepare()); the
 * integer types use a plain loop. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base/bigmem.h"
#include "backends/cpu/gemm_f32.h"
#include "backends/cpu/matmul_bf16.h"
#include "backends/cpu/nn_kernels.h"
#include "graph/fuse.h"

typedef struct mm_state {
    const cvm_gemm_kernel *kern;
    int slots;
    /* problem: batch products of [M,K] x [K,N] */
    int64_t M, N, K, batch;
    int nb;                                   /* broadcast batch rank */
    int64_t bdims[CVM_MAX_DIMS];              /* output batch dims */
    int64_t astr[CVM_MAX_DIMS], bstr[CVM_MAX_DIMS]; /* element strides per batch dim (0: broadcast) */
    int64_t rsa, csa, rsb, csb;
    float alpha;
    int fused;                                /* FusedMatMul: act(A B + bias) */
    cvm_gemm_epi epi;
    size_t packed_a_per;                      /* floats of one packed A product, 0: pack per block */
    size_t gemm_scratch;                      /* bytes of the GEMM driver's scratch */
    float *packed_b;                          /* per B batch, or NULL */
    size_t packed_b_stride;
    int64_t b_batches;
    int use_bf16;                             /* bf16 precision: B packed as bf16 tiles */
    cvm_mbf bf16;
} mm_state;

static void mm_free(mm_state *s)
{
    cvm_mbf_free(&s->bf16);
    cvm_big_free(s->packed_b);
    free(s);
}

void cvm_nn_mm_release(void *state)
{
    if (state)
        mm_free(state);
}

typedef struct mm_run {
    const mm_state *s;
    const float *a, *b, *bias;
    float *c;
    float *packed_a; /* every product's A, packed once (NULL: pack per block) */
} mm_run;

static void batch_offsets(const mm_state *s, int64_t b, int64_t *ao, int64_t *bo)
{
    int64_t a = 0, bb = 0;
    for (int i = s->nb - 1; i >= 0; i--) {
        int64_t pos = b % s->bdims[i];
        b /= s->bdims[i];
        a += pos * s->astr[i];
        bb += pos * s->bstr[i];
    }
    *ao = a;
    *bo = bb;
}

static const float *mm_get_a(const void *vctx, int64_t b, int64_t m0, int64_t mc, int64_t k0,
                             int64_t kc, float *buf)
{
    const mm_run *r = vctx;
    const mm_state *s = r->s;
    if (r->packed_a)
        return cvm_gemm_packed_a_block(s->kern, r->packed_a + (size_t)b * s->packed_a_per, s->M,
                                       k0, kc, m0);
    int64_t ao, bo;
    batch_offsets(s, b, &ao, &bo);
    cvm_gemm_pack_a(s->kern, r->a + ao, s->rsa, s->csa, m0, mc, k0, kc, 1.0f, buf);
    return buf;
}

/* The GEMM driver packs A again for every N tile it gives a worker: six
 * times for RF-DETR's [580,384] x [384,1536] layers, and once per thread
 * when two threads split a narrow N.  When A is that widely reused it is
 * packed once, in parallel, into scratch, and the driver reads the panels
 * from there. */
#define MM_PACK_ROWS 96 /* rows of A per packing item (a multiple of every MR) */

typedef struct mm_pack_job {
    const mm_run *r;
    int64_t kchunks, mgroups;
} mm_pack_job;

static void mm_pack_range(void *arg, size_t begin, size_t end)
{
    const mm_pack_job *j = arg;
    const mm_state *s = j->r->s;
    const int64_t Mp = (s->M + s->kern->mr - 1) / s->kern->mr * s->kern->mr;
    for (size_t it = begin; it < end; it++) {
        int64_t g = (int64_t)it % j->mgroups, rest = (int64_t)it / j->mgroups;
        int64_t kq = rest % j->kchunks, b = rest / j->kchunks;
        const int64_t kcs = cvm_gemm_kc(s->K);
        int64_t m0 = g * MM_PACK_ROWS, k0 = kq * kcs;
        int64_t mc = s->M - m0 < MM_PACK_ROWS ? s->M - m0 : MM_PACK_ROWS;
        int64_t kc = s->K - k0 < kcs ? s->K - k0 : kcs;
        int64_t ao, bo;
        batch_offsets(s, b, &ao, &bo);
        /* the layout cvm_gemm_packed_a_block reads: K chunks of Mp rows,
         * panels of kc * mr floats in row order inside a chunk */
        float *dst = j->r->packed_a + (size_t)b * s->packed_a_per + k0 * Mp + m0 * kc;
        cvm_gemm_pack_a(s->kern, j->r->a + ao, s->rsa, s->csa, m0, mc, k0, kc, 1.0f, dst);
    }
}

static void mm_pack_a_all(const mm_run *r, cvm_threadpool *pool)
{
    const mm_state *s = r->s;
    const int64_t kcs = cvm_gemm_kc(s->K);
    mm_pack_job j = {r, (s->K + kcs - 1) / kcs,
                     (s->M + MM_PACK_ROWS - 1) / MM_PACK_ROWS};
    cvm_parallel_for(pool, (size_t)(s->batch * j.kchunks * j.mgroups), 1, mm_pack_range, &j);
}

/* Decides whether A is packed once (see above) and sizes the scratch. */
static size_t mm_plan_scratch(mm_state *s)
{
    s->gemm_scratch = cvm_gemm_scratch_bytes(s->kern, s->slots);
    s->packed_a_per = 0;
    int64_t nc = CVM_GEMM_NC / s->kern->nr * s->kern->nr;
    int reused = s->N > nc || (s->slots > 1 && s->batch < s->slots && s->N > s->kern->nr);
    if (!reused || s->M < s->kern->mr || s->K <= 0 || s->batch <= 0)
        return s->gemm_scratch;
    size_t per = cvm_gemm_packed_a_size(s->kern, s->M, s->K);
    /* beyond 64 MiB of activations the per-block packing is kept */
    if (per == 0 || (uint64_t)s->batch > (64u << 20) / 4 / per)
        return s->gemm_scratch;
    s->packed_a_per = per;
    return s->gemm_scratch + 64 + (size_t)s->batch * per * sizeof(float);
}

static float *mm_packed_a_buf(const mm_state *s, void *scratch)
{
    if (!s->packed_a_per)
        return NULL;
    return (float *)(((uintptr_t)scratch + s->gemm_scratch + 63) & ~(uintptr_t)63);
}

static const float *mm_get_b(const void *vctx, int64_t b, int64_t k0, int64_t kc, int64_t n0,
                             int64_t nc, float *buf)
{
    const mm_run *r = vctx;
    const mm_state *s = r->s;
    int64_t ao, bo;
    batch_offsets(s, b, &ao, &bo);
    if (s->packed_b) {
        int64_t kn = s->K * s->N;
        int64_t bi = kn > 0 ? bo / kn : 0;
        return cvm_gemm_packed_b_block(s->kern, s->packed_b + bi * s->packed_b_stride, s->N, k0, kc,
                                       n0);
    }
    cvm_gemm_pack_b(s->kern, r->b + bo, s->rsb, s->csb, k0, kc, n0, nc, s->alpha, buf);
    return buf;
}

/* The column bias reaches the register epilogue as a "residual" whose rows
 * are 0 apart: every row of the tile adds the same N values. */
static const float *mm_bias_res(const void *vctx, int64_t b, int64_t *ldr)
{
    (void)b;
    *ldr = 0;
    return ((const mm_run *)vctx)->bias;
}

/* Kernels without a register epilogue: bias and activation on the stored tile. */
static void mm_epilogue(const void *vctx, int64_t b, int64_t m0, int mr, int64_t n0, int nr,
                        float *c, int64_t ldc)
{
    const mm_run *r = vctx;
    const cvm_gemm_epi *e = &r->s->epi;
    (void)b, (void)m0;
    for (int i = 0; i < mr; i++)
        cvm_act_row(c + i * ldc, nr, r->bias ? r->bias + n0 : NULL, 1, e->act, 1, e->alpha,
                    e->beta);
}

static float *mm_c_of(const void *vctx, int64_t b)
{
    const mm_run *r = vctx;
    return r->c + b * r->s->M * r->s->N;
}

static cvm_status pack_b_if_const(const cvm_kernel_ctx *c, mm_state *s, const cvm_tensor *bt)
{
    if (!bt->data)
        return CVM_OK;
    size_t per = cvm_gemm_packed_b_size(s->kern, s->K, s->N);
    int64_t bytes;
    if (!cvm_nn_mul((int64_t)per, s->b_batches, &bytes) || !cvm_nn_mul(bytes, 4, &bytes))
        return cvm_node_error(c->node, CVM_E_LIMIT, "packed operand too large");
    s->packed_b = cvm_big_alloc(bytes > 0 ? (size_t)bytes : 1);
    if (!s->packed_b)
        return cvm_node_error(c->node, CVM_E_NOMEM, "out of memory packing an operand");
    s->packed_b_stride = per;
    const float *bd = bt->data;
    for (int64_t i = 0; i < s->b_batches; i++)
        cvm_gemm_prepack_b(s->kern, s->K, s->N, bd + i * s->K * s->N, s->rsb, s->csb, s->alpha,
                           s->packed_b + i * per);
    return CVM_OK;
}

/* ------------------------------------------------------------------ MatMul */

cvm_status cvm_nn_matmul_prepare(const cvm_kernel_ctx *c, void **state, size_t *scratch)
{
    const cvm_tensor *a = c->in[0], *b = c->in[1];
    if (a->dtype != CVM_DTYPE_FLOAT32) {
        if (a->dtype != CVM_DTYPE_INT32 && a->dtype != CVM_DTYPE_INT64 &&
            a->dtype != CVM_DTYPE_UINT32 && a->dtype != CVM_DTYPE_UINT64)
            return cvm_node_error(c->node, CVM_E_UNSUPPORTED, "type %s is not supported",
                                  cvm_dtype_name(a->dtype));
    }
    mm_state *s = calloc(1, sizeof *s);
    if (!s)
        return cvm_node_error(c->node, CVM_E_NOMEM, "out of memory");
    s->kern = cvm_gemm_kernel_best();
    s->slots = cvm_gemm_slots(c->pool);
    s->alpha = 1.0f;
    s->K = a->dims[a->ndim - 1];
    s->M = a->ndim >= 2 ? a->dims[a->ndim - 2] : 1;
    s->N = b->ndim >= 2 ? b->dims[b->ndim - 1] : 1;
    s->rsa = s->K;
    s->csa = 1;
    s->rsb = s->N;
    s->csb = 1;
    int nba = a->ndim > 2 ? a->ndim - 2 : 0, nbb = b->ndim > 2 ? b->ndim - 2 : 0;
    s->nb = nba > nbb ? nba : nbb;
    int64_t as = s->M * s->K, bs = s->K * s->N;
    s->batch = 1;
    s->b_batches = 1;
    for (int i = s->nb - 1; i >= 0; i--) {
        int ia = i - (s->nb - nba), ib = i - (s->nb - nbb);
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        s->bdims[i] = da > db ? da : db;
        if (da == 0 || db == 0)
            s->bdims[i] = 0;
        s->astr[i] = da == 1 ? 0 : as;
        s->bstr[i] = db == 1 ? 0 : bs;
        as *= da;
        bs *= db;
        s->batch *= s->bdims[i];
        s->b_batches *= db;
    }
    /* [..., M, K] x [K, N] with A's batch contiguous: one tall product. */
    if (nbb == 0 && s->nb > 0) {
        s->M *= s->batch;
        s->batch = 1;
        s->nb = 0;
    }
    if (strcmp(c->node->op_type, "FusedMatMul") == 0) {
        /* the fusion pass creates it for float32 with a matrix B only */
        cvm_status st = a->dtype != CVM_DTYPE_FLOAT32 || s->batch != 1
                            ? cvm_node_error(c->node, CVM_E_UNSUPPORTED,
                                             "FusedMatMul of %s with a batched B",
                                             cvm_dtype_name(a->dtype))
                            : cvm_fused_act_parse(c->node, &s->epi.act, &s->epi.alpha,
                                                  &s->epi.beta);
        if (st != CVM_OK) {
            mm_free(s);
            return st;
        }
        s->fused = 1;
        s->epi.add_first = 1;
    }
    /* bf16 precision: one product with a constant B (weights) */
    if (a->dtype == CVM_DTYPE_FLOAT32 && c->precision == CVM_PRECISION_BF16 && b->data &&
        s->batch == 1 && s->b_batches == 1 && cvm_bf16_kind() != CVM_BF16_NONE) {
        cvm_status st = cvm_mbf_prepare(&s->bf16, cvm_bf16_kind(), s->M, s->N, s->K, b->data,
                                        s->rsb, s->csb, s->alpha, s->slots);
        if (st != CVM_OK) {
            char msg[256];
            snprintf(msg, sizeof msg, "%s", cvm_last_error());
            mm_free(s);
            return cvm_node_error(c->node, st, "%s", msg);
        }
        s->use_bf16 = 1;
        *scratch = cvm_mbf_scratch_bytes(&s->bf16);
        *state = s;
        return CVM_OK;
    }
    if (a->dtype == CVM_DTYPE_FLOAT32) {
        s->kern = cvm_gemm_kernel_rows(s->M);
        *scratch = mm_plan_scratch(s);
        cvm_status st = pack_b_if_const(c, s, b);
        if (st != CVM_OK) {
            mm_free(s);
            return st;
        }
    }
    *state = s;
    return CVM_OK;
}

#define MM_INT(T)                                                                        \
    do {                                                                                 \
        const T *A = c->in[0]->data, *B = c->in[1]->data;                                \
        T *Cc = c->out[0]->data;                                                         \
        for (int64_t bt = 0; bt < s->batch; bt++) {                                      \
            int64_t ao, bo;                                                              \
            batch_offsets(s, bt, &ao, &bo);                                              \
            T *cb = Cc + bt * s->M * s->N;                                               \
            for (int64_t m = 0; m < s->M; m++)                                           \
                for (int64_t n = 0; n < s->N; n++) {                                     \
                    T acc = 0;                                                           \
                    for (int64_t k = 0; k < s->K; k++)                                   \
                        acc += A[ao + m * s->rsa + k * s->csa] * B[bo + k * s->rsb + n * s->csb]; \
                    cb[m * s->N + n] = acc;                                              \
                }                                                                        \
        }                                                                                \
    } while (0)

static cvm_status mm_int(const cvm_kernel_ctx *c, const mm_state *s)
{
    switch (c->in[0]->dtype) {
    case CVM_DTYPE_INT32:
        MM_INT(int32_t);
        break;
    case CVM_DTYPE_INT64:
        MM_INT(int64_t);
        break;
    case CVM_DTYPE_UINT32:
        MM_INT(uint32_t);
        break;
    case CVM_DTYPE_UINT64:
        MM_INT(uint64_t);
        break;
    default:
        return cvm_node_error(c->node, CVM_E_UNSUPPORTED, "type %s is not supported",
                              cvm_dtype_name(c->in[0]->dtype));
    }
    return CVM_OK;
}

cvm_status cvm_nn_matmul_run(const cvm_kernel_ctx *c)
{
    const mm_state *s = c->state;
    if (c->in[0]->dtype != CVM_DTYPE_FLOAT32)
        return mm_int(c, s);
    if (s->use_bf16) {
        cvm_mbf_run(&s->bf16, c->in[0]->data, s->K, c->out[0]->data, s->N,
                    s->fused && c->n_in > 2 && c->in[2] ? c->in[2]->data : NULL,
                    s->fused ? &s->epi : NULL, c->pool, c->scratch);
        return CVM_OK;
    }
    mm_run r = {s, c->in[0]->data, c->in[1]->data,
                s->fused && c->n_in > 2 && c->in[2] ? c->in[2]->data : NULL, c->out[0]->data,
                mm_packed_a_buf(s, c->scratch)};
    if (r.packed_a && s->M > 0 && s->N > 0)
        mm_pack_a_all(&r, c->pool);
    cvm_gemm_op op = {.kern = s->kern, .M = s->M, .N = s->N, .K = s->K, .batch = s->batch,
                      .get_a = mm_get_a, .get_b = mm_get_b, .ctx = &r, .c_of = mm_c_of,
                      .ldc = s->N, .b_prepacked = s->packed_b != NULL};
    if (s->fused) {
        op.epi = &s->epi;
        op.res_of = r.bias ? mm_bias_res : NULL;
        op.epilogue = mm_epilogue;
    }
    cvm_gemm_run(&op, c->pool, c->scratch, s->slots);
    return CVM_OK;
}

/* -------------------------------------------------------------------- Gemm */

cvm_status cvm_nn_gemm_prepare(const cvm_kernel_ctx *c, void **state, size_t *scratch)
{
    const cvm_tensor *a = c->in[0], *b = c->in[1];
    mm_state *s = calloc(1, sizeof *s);
    if (!s)
        return cvm_node_error(c->node, CVM_E_NOMEM, "out of memory");
    int ta = cvm_attr_int(c->node, "transA", 0) != 0, tb = cvm_attr_int(c->node, "transB", 0) != 0;
    s->kern = cvm_gemm_kernel_best();
    s->slots = cvm_gemm_slots(c->pool);
    s->M = ta ? a->dims[1] : a->dims[0];
    s->K = ta ? a->dims[0] : a->dims[1];
    s->N = tb ? b->dims[0] : b->dims[1];
    s->rsa = ta ? 1 : a->dims[1];
    s->csa = ta ? a->dims[1] : 1;
    s->rsb = tb ? 1 : b->dims[1];
    s->csb = tb ? b->dims[1] : 1;
    s->batch = 1;
    s->b_batches = 1;
    /* alpha is folded into B when B is packed */
    s->alpha = cvm_attr_float(c->node, "alpha", 1.0f);
    if (a->dtype == CVM_DTYPE_FLOAT32) {
        *scratch = mm_plan_scratch(s);
        cvm_status st = pack_b_if_const(c, s, b);
        if (st != CVM_OK) {
            mm_free(s);
            return st;
        }
    } else if (a->dtype != CVM_DTYPE_INT32 && a->dtype != CVM_DTYPE_INT64 &&
               a->dtype != CVM_DTYPE_UINT32 && a->dtype != CVM_DTYPE_UINT64) {
        mm_free(s);
        return cvm_node_error(c->node, CVM_E_UNSUPPORTED, "type %s is not supported",
                              cvm_dtype_name(a->dtype));
    }
    *state = s;
    return CVM_OK;
}

/* Y = beta * C broadcast to [M,N] (Y untouched when there is no C). */
#define GEMM_FILL_C(T)                                                                   \
    do {                                                                                 \
        const T *Cd = cc->data;                                                          \
        T *Y = y->data;                                                                  \
        int64_t cr = cc->ndim == 2 ? cc->dims[0] : 1;                                    \
        int64_t ccn = cc->ndim >= 1 ? cc->dims[cc->ndim - 1] : 1;                        \
        for (int64_t m = 0; m < s->M; m++)                                               \
            for (int64_t n = 0; n < s->N; n++)                                           \
                Y[m * s->N + n] =                                                        \
                    (T)(beta * Cd[(cr == 1 ? 0 : m) * ccn + (ccn == 1 ? 0 : n)]);        \
    } while (0)

#define GEMM_INT(T)                                                                      \
    do {                                                                                 \
        const T *A = c->in[0]->data, *B = c->in[1]->data;                                \
        T *Y = y->data;                                                                  \
        for (int64_t m = 0; m < s->M; m++)                                               \
            for (int64_t n = 0; n < s->N; n++) {                                         \
                T acc = 0;                                                               \
                for (int64_t k = 0; k < s->K; k++)                                       \
                    acc += A[m * s->rsa + k * s->csa] * B[k * s->rsb + n * s->csb];      \
                Y[m * s->N + n] = (T)(s->alpha * acc) + (has_c ? Y[m * s->N + n] : 0);   \
            }                                                                            \
    } while (0)

cvm_status cvm_nn_gemm_run(const cvm_kernel_ctx *c)
{
    const mm_state *s = c->state;
    cvm_tensor *y = c->out[0];
    const cvm_tensor *cc = c->n_in > 2 ? c->in[2] : NULL;
    float beta = cvm_attr_float(c->node, "beta", 1.0f);
    int has_c = cc && beta != 0.0f && cvm_tensor_numel(cc) > 0;
    cvm_dtype dt = c->in[0]->dtype;
    if (has_c) {
        switch (dt) {
        case CVM_DTYPE_FLOAT32: GEMM_FILL_C(float); break;
        case CVM_DTYPE_INT32: GEMM_FILL_C(int32_t); break;
        case CVM_DTYPE_INT64: GEMM_FILL_C(int64_t); break;
        case CVM_DTYPE_UINT32: GEMM_FILL_C(uint32_t); break;
        case CVM_DTYPE_UINT64: GEMM_FILL_C(uint64_t); break;
        default: break;
        }
    }
    switch (dt) {
    case CVM_DTYPE_FLOAT32: break;
    case CVM_DTYPE_INT32: GEMM_INT(int32_t); return CVM_OK;
    case CVM_DTYPE_INT64: GEMM_INT(int64_t); return CVM_OK;
    case CVM_DTYPE_UINT32: GEMM_INT(uint32_t); return CVM_OK;
    case CVM_DTYPE_UINT64: GEMM_INT(uint64_t); return CVM_OK;
    default:
        return cvm_node_error(c->node, CVM_E_UNSUPPORTED, "type %s is not supported",
                              cvm_dtype_name(dt));
    }
    mm_run r = {s, c->in[0]->data, c->in[1]->data, NULL, y->data, mm_packed_a_buf(s, c->scratch)};
    if (r.packed_a && s->M > 0 && s->N > 0)
        mm_pack_a_all(&r, c->pool);
    cvm_gemm_op op = {.kern = s->kern, .M = s->M, .N = s->N, .K = s->K, .batch = 1,
                      .get_a = mm_get_a, .get_b = mm_get_b, .ctx = &r, .c_of = mm_c_of,
                      .ldc = s->N, .accumulate = has_c};
    cvm_gemm_run(&op, c->pool, c->scratch, s->slots);
    return CVM_OK;
}
