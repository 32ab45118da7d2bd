/* FusedAttention(Q, Kt, V) = MatMul(Softmax(MatMul(Q, Kt), last axis), V)
 * (graph/fuse.c).  Per product, Kt and V are packed once as GEMM B
 * operands; then each worker takes a block of query rows through
 * S = Q_rows Kt, the row softmax of S in place and O_rows = S V, so that
 * the scores of a block (at most AT_SCORE_BYTES) stay in L2 instead of
 * going through memory as a [heads, L, S] tensor three times. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/gemm_f32.h"
#include "backends/cpu/nn_kernels.h"

#define AT_SCORE_BYTES (384u << 10) /* a worker's block of score rows */
#define AT_PACK_BYTES (32u << 20)   /* packed Kt and V of the products of one pass */

typedef struct at_state {
    const cvm_gemm_kernel *kern;
    int slots;
    int64_t L, D, S, Dv;   /* per product: Q [L, D], Kt [D, S], V [S, Dv] */
    int64_t batch;         /* products */
    int nb;                /* batch rank of the output */
    int64_t bdims[CVM_MAX_DIMS];
    int64_t str[3][CVM_MAX_DIMS]; /* element strides of Q, Kt, V per batch dim (0: broadcast) */
    int64_t rb, nblk;      /* query rows per block, blocks per product */
    size_t kpack, vpack;   /* floats of one product's packed Kt and V */
    int64_t group;         /* products packed per pass */
    int inline_pack;       /* one block per product: its worker packs Kt and V */
    size_t gemm_bytes;     /* one worker's GEMM scratch */
    size_t slot_bytes;     /* one worker's GEMM scratch, score rows (and packs) */
} at_state;

void cvm_nn_attention_release(void *state) { free(state); }

static size_t round64(size_t n) { return (n + 63) & ~(size_t)63; }

cvm_status cvm_nn_attention_prepare(const cvm_kernel_ctx *c, void **state, size_t *scratch)
{
    const cvm_tensor *in[3] = {c->in[0], c->in[1], c->in[2]};
    for (int i = 0; i < 3; i++) {
        if (in[i]->dtype != CVM_DTYPE_FLOAT32)
            return cvm_node_error(c->node, CVM_E_UNSUPPORTED, "type %s is not supported",
                                  cvm_dtype_name(in[i]->dtype));
        if (in[i]->ndim < 2)
            return cvm_node_error(c->node, CVM_E_SHAPE, "input %d has rank %d; attention takes "
                                  "matrices", i, in[i]->ndim);
    }
    at_state *s = calloc(1, sizeof *s);
    if (!s)
        return cvm_node_error(c->node, CVM_E_NOMEM, "out of memory");
    const cvm_tensor *q = in[0], *k = in[1], *v = in[2];
    s->L = q->dims[q->ndim - 2];
    s->D = q->dims[q->ndim - 1];
    s->S = k->dims[k->ndim - 1];
    s->Dv = v->dims[v->ndim - 1];
    if (k->dims[k->ndim - 2] != s->D || v->dims[v->ndim - 2] != s->S) {
        free(s);
        return cvm_node_error(c->node, CVM_E_SHAPE, "Q, Kt and V disagree on their inner sizes");
    }
    /* The output's batch dims, each input's right-aligned onto them. */
    const cvm_tensor *y = c->out[0];
    s->nb = y->ndim - 2;
    s->batch = 1;
    for (int i = 0; i < s->nb; i++) {
        s->bdims[i] = y->dims[i];
        s->batch *= y->dims[i];
    }
    for (int t = 0; t < 3; t++) {
        int nbt = in[t]->ndim - 2;
        int64_t st = in[t]->dims[nbt] * in[t]->dims[nbt + 1];
        for (int i = s->nb - 1; i >= 0; i--) {
            int it = i - (s->nb - nbt);
            int64_t d = it >= 0 ? in[t]->dims[it] : 1;
            s->str[t][i] = d == 1 ? 0 : st;
            st *= d;
        }
    }
    s->slots = cvm_gemm_slots(c->pool);
    /* Blocks of rows whose scores fit AT_SCORE_BYTES, in multiples of 24
     * (whole panels of the 8- and 12-row kernels), or all rows when few. */
    int64_t rb = s->S > 0 ? (int64_t)(AT_SCORE_BYTES / 4) / s->S : s->L;
    rb = rb / 24 * 24;
    if (rb < 24)
        rb = 24;
    if (rb >= s->L)
        rb = s->L > 0 ? s->L : 1;
    s->rb = rb;
    s->nblk = (s->L + rb - 1) / rb;
    s->kern = cvm_gemm_kernel_rows(rb);
    s->kpack = cvm_gemm_packed_b_size(s->kern, s->D, s->S);
    s->vpack = cvm_gemm_packed_b_size(s->kern, s->S, s->Dv);
    size_t per = (s->kpack + s->vpack) * sizeof(float);
    s->group = per > 0 ? (int64_t)(AT_PACK_BYTES / per) : s->batch;
    if (s->group < 1)
        s->group = 1;
    if (s->group > s->batch)
        s->group = s->batch > 0 ? s->batch : 1;
    /* With one block per product (RF-DETR's 145- and 101-token windows), the
     * worker packs the product's Kt and V itself, into its own L2, instead
     * of a pass over all products first whose packs (5.6 MB for 96
     * windows) come back from L3: 1.2x the unfused ops' time that way. */
    s->inline_pack = s->nblk == 1;
    if (s->inline_pack)
        s->group = s->batch > 0 ? s->batch : 1;
    s->gemm_bytes = round64(cvm_gemm_scratch_bytes(s->kern, 1));
    s->slot_bytes = s->gemm_bytes + round64((size_t)rb * (size_t)s->S * sizeof(float)) +
                    (s->inline_pack ? round64(per) : 0);
    *scratch = 64 + (s->inline_pack ? 0 : round64((size_t)s->group * per)) +
               (size_t)s->slots * s->slot_bytes;
    *state = s;
    return CVM_OK;
}

typedef struct at_job {
    const at_state *s;
    const float *q, *k, *v;
    float *y;
    float *packs;   /* group x (kpack + vpack) floats */
    char *slots;    /* per worker: GEMM scratch, then score rows */
    int64_t b0, bn; /* products of this pass */
    cvm_ranges ranges;
} at_job;

static void at_offsets(const at_state *s, int64_t b, int64_t off[3])
{
    off[0] = off[1] = off[2] = 0;
    for (int i = s->nb - 1; i >= 0; i--) {
        int64_t pos = b % s->bdims[i];
        b /= s->bdims[i];
        for (int t = 0; t < 3; t++)
            off[t] += pos * s->str[t][i];
    }
}

/* Product b's Kt (what = 0) or V (1) packed at dst (kpack + vpack floats). */
static void at_pack_one(const at_job *j, int64_t b, int what, float *dst)
{
    const at_state *s = j->s;
    int64_t off[3];
    at_offsets(s, b, off);
    if (what == 0)
        cvm_gemm_prepack_b(s->kern, s->D, s->S, j->k + off[1], s->S, 1, 1.0f, dst);
    else
        cvm_gemm_prepack_b(s->kern, s->S, s->Dv, j->v + off[2], s->Dv, 1, 1.0f, dst + s->kpack);
}

static void at_pack(void *arg, size_t begin, size_t end)
{
    const at_job *j = arg;
    for (size_t it = begin; it < end; it++) {
        int64_t p = (int64_t)it / 2;
        at_pack_one(j, j->b0 + p, (int)(it % 2),
                    j->packs + (size_t)p * (j->s->kpack + j->s->vpack));
    }
}

/* One GEMM of a block: A row-major at a (row stride lda), B prepacked. */
typedef struct at_gemm {
    const cvm_gemm_kernel *kern;
    const float *a;
    int64_t lda;
    const float *bpack;
    int64_t N;
    float *c;
} at_gemm;

static const float *at_get_a(const void *ctx, int64_t b, int64_t m0, int64_t mc, int64_t k0,
                             int64_t kc, float *buf)
{
    const at_gemm *g = ctx;
    (void)b;
    cvm_gemm_pack_a(g->kern, g->a, g->lda, 1, m0, mc, k0, kc, 1.0f, buf);
    return buf;
}

static const float *at_get_b(const void *ctx, int64_t b, int64_t k0, int64_t kc, int64_t n0,
                             int64_t nc, float *buf)
{
    const at_gemm *g = ctx;
    (void)b, (void)nc, (void)buf;
    return cvm_gemm_packed_b_block(g->kern, g->bpack, g->N, k0, kc, n0);
}

static float *at_c_of(const void *ctx, int64_t b)
{
    (void)b;
    return ((const at_gemm *)ctx)->c;
}

static void at_product(const at_state *s, const at_gemm *g, int64_t M, int64_t K, void *scratch)
{
    cvm_gemm_op op = {.kern = s->kern, .M = M, .N = g->N, .K = K, .batch = 1,
                      .get_a = at_get_a, .get_b = at_get_b, .ctx = g, .c_of = at_c_of,
                      .ldc = g->N, .b_prepacked = 1};
    cvm_gemm_run(&op, NULL, scratch, 1);
}

static void at_block(const at_job *j, char *slot, int64_t item)
{
    const at_state *s = j->s;
    int64_t p = item / s->nblk, r0 = item % s->nblk * s->rb, b = j->b0 + p, off[3];
    int64_t rows = s->L - r0 < s->rb ? s->L - r0 : s->rb;
    at_offsets(s, b, off);
    float *scores = (float *)(slot + s->gemm_bytes);
    const float *kp = j->packs + (size_t)p * (s->kpack + s->vpack);
    if (s->inline_pack) {
        float *own = (float *)(slot + s->gemm_bytes +
                               round64((size_t)s->rb * (size_t)s->S * sizeof(float)));
        at_pack_one(j, b, 0, own);
        at_pack_one(j, b, 1, own);
        kp = own;
    }
    at_gemm g1 = {s->kern, j->q + off[0] + r0 * s->D, s->D, kp, s->S, scores};
    at_product(s, &g1, rows, s->D, slot);
    cvm_softmax_rows(scores, scores, rows, s->S);
    at_gemm g2 = {s->kern, scores, s->S, kp + s->kpack, s->Dv,
                  j->y + b * s->L * s->Dv + r0 * s->Dv};
    at_product(s, &g2, rows, s->S, slot);
}

static void at_slot(void *arg, size_t begin, size_t end)
{
    at_job *j = arg;
    for (size_t w = begin; w < end; w++) {
        char *slot = j->slots + w * j->s->slot_bytes;
        int cursor = 0;
        for (int64_t it; (it = cvm_ranges_next(&j->ranges, &cursor)) >= 0;)
            at_block(j, slot, it);
    }
}

cvm_status cvm_nn_attention_run(const cvm_kernel_ctx *c)
{
    const at_state *s = c->state;
    if (s->batch == 0 || s->L == 0 || s->Dv == 0)
        return CVM_OK;
    if (s->S == 0) {
        /* no keys: the second product is an empty sum */
        memset(c->out[0]->data, 0, c->out[0]->nbytes);
        return CVM_OK;
    }
    char *base = (char *)(((uintptr_t)c->scratch + 63) & ~(uintptr_t)63);
    at_job j = {s, c->in[0]->data, c->in[1]->data, c->in[2]->data, c->out[0]->data,
                (float *)base, NULL, 0, 0, {0}};
    if (!s->inline_pack)
        j.slots = base + round64((size_t)s->group * (s->kpack + s->vpack) * sizeof(float));
    else
        j.slots = base;
    int T = c->pool ? cvm_threadpool_size(c->pool) : 1;
    if (T > s->slots)
        T = s->slots;
    for (int64_t b0 = 0; b0 < s->batch; b0 += s->group) {
        j.b0 = b0;
        j.bn = s->batch - b0 < s->group ? s->batch - b0 : s->group;
        if (!s->inline_pack)
            cvm_parallel_for(c->pool, (size_t)(2 * j.bn), 1, at_pack, &j);
        int64_t items = j.bn * s->nblk;
        int n = items < T ? (int)items : T;
        cvm_ranges_init(&j.ranges, items, n);
        cvm_parallel_for(c->pool, (size_t)n, 1, at_slot, &j);
    }
    return CVM_OK;
}
