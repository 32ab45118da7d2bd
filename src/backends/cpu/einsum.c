/* Einsum: a direct reference evaluation.  Every label gets a stride in each
 * operand (the sum of the strides of the axes carrying it, which walks
 * diagonals for repeated labels, and 0 for broadcast ellipsis axes); the
 * output labels are walked in order and the others summed over. */
#include <string.h>

#include "backends/cpu/nn_kernels.h"
#include "graph/shape_nn.h"

typedef struct es_plan {
    int n_in, nl, n_out;
    int64_t ext[CVM_EINSUM_MAX_LABELS];                    /* output labels first, then summed */
    int64_t str[CVM_EINSUM_MAX_IN][CVM_EINSUM_MAX_LABELS];  /* element strides per operand */
} es_plan;

static void build_plan(const cvm_einsum *e, const cvm_tensor *const *in, es_plan *p)
{
    memset(p, 0, sizeof *p);
    int order[CVM_EINSUM_MAX_LABELS], used[CVM_EINSUM_MAX_LABELS] = {0};
    int nl = 0;
    for (int i = 0; i < e->out_rank; i++) {
        order[nl++] = e->out_label[i];
        used[e->out_label[i]] = 1;
    }
    p->n_out = nl;
    for (int id = 0; id < CVM_EINSUM_MAX_LABELS; id++)
        if (e->dim[id] >= 0 && !used[id])
            order[nl++] = id;
    p->nl = nl;
    p->n_in = e->n_in;
    for (int l = 0; l < nl; l++)
        p->ext[l] = e->dim[order[l]];
    for (int t = 0; t < e->n_in; t++) {
        int64_t stride = 1;
        for (int a = e->rank[t] - 1; a >= 0; a--) {
            int id = e->label[t][a];
            for (int l = 0; l < nl; l++)
                if (order[l] == id && !(in[t]->dims[a] == 1 && e->dim[id] != 1))
                    p->str[t][l] += stride;
            stride *= in[t]->dims[a];
        }
    }
}

#define EINSUM_LOOP(T, ACC)                                                              \
    do {                                                                                 \
        const T *src[CVM_EINSUM_MAX_IN];                                                 \
        for (int t = 0; t < p.n_in; t++)                                                 \
            src[t] = c->in[t]->data;                                                     \
        T *dst = c->out[0]->data;                                                        \
        int64_t idx[CVM_EINSUM_MAX_LABELS] = {0};                                        \
        int64_t n_out = cvm_tensor_numel(c->out[0]);                                     \
        int64_t n_sum = 1;                                                               \
        for (int l = p.n_out; l < p.nl; l++)                                             \
            n_sum *= p.ext[l];                                                           \
        for (int64_t o = 0; o < n_out; o++) {                                            \
            int64_t base[CVM_EINSUM_MAX_IN];                                             \
            for (int t = 0; t < p.n_in; t++) {                                           \
                base[t] = 0;                                                             \
                for (int l = 0; l < p.n_out; l++)                                        \
                    base[t] += idx[l] * p.str[t][l];                                     \
            }                                                                            \
            ACC acc = 0;                                                                 \
            for (int l = p.n_out; l < p.nl; l++)                                         \
                idx[l] = 0;                                                              \
            for (int64_t s = 0; s < n_sum; s++) {                                        \
                ACC prod = 1;                                                            \
                for (int t = 0; t < p.n_in; t++) {                                       \
                    int64_t off = base[t];                                               \
                    for (int l = p.n_out; l < p.nl; l++)                                 \
                        off += idx[l] * p.str[t][l];                                     \
                    prod *= (ACC)src[t][off];                                            \
                }                                                                        \
                acc += prod;                                                             \
                for (int l = p.nl - 1; l >= p.n_out; l--) {                              \
                    if (++idx[l] < p.ext[l])                                             \
                        break;                                                           \
                    idx[l] = 0;                                                          \
                }                                                                        \
            }                                                                            \
            dst[o] = (T)acc;                                                             \
            for (int l = p.n_out - 1; l >= 0; l--) {                                     \
                if (++idx[l] < p.ext[l])                                                 \
                    break;                                                               \
                idx[l] = 0;                                                              \
            }                                                                            \
        }                                                                                \
    } while (0)

cvm_status cvm_nn_einsum_run(const cvm_kernel_ctx *c)
{
    cvm_einsum e;
    CVM_TRY(cvm_einsum_parse(c->node, c->n_in, c->in, &e));
    es_plan p;
    build_plan(&e, c->in, &p);
    switch (c->in[0]->dtype) {
    case CVM_DTYPE_FLOAT32:
        EINSUM_LOOP(float, double);
        break;
    case CVM_DTYPE_INT32:
        EINSUM_LOOP(int32_t, int64_t);
        break;
    case CVM_DTYPE_INT64:
        EINSUM_LOOP(int64_t, int64_t);
        break;
    default:
        return cvm_node_error(c->node, CVM_E_UNSUPPORTED, "type %s is not supported",
                              cvm_dtype_name(c->in[0]->dtype));
    }
    return CVM_OK;
}
