/* Schemas of the operators that only the fusion pass creates (domain "cvm"). */
#include <string.h>

#include "graph/fuse.h"
#include "graph/fuse_elementwise.h"
#include "graph/schema.h"

cvm_status cvm_fused_act_parse(const cvm_node *n, int *act, float *alpha, float *beta)
{
    static const struct {
        const char *name;
        int act;
        float alpha, beta;
    } acts[] = {
        {"", CVM_FUSED_NONE, 0.0f, 0.0f},
        {"Relu", CVM_FUSED_RELU, 0.0f, 0.0f},
        {"LeakyRelu", CVM_FUSED_LEAKY_RELU, 0.01f, 0.0f},
        {"Sigmoid", CVM_FUSED_SIGMOID, 0.0f, 0.0f},
        {"SiLU", CVM_FUSED_SILU, 0.0f, 0.0f},
        {"HardSigmoid", CVM_FUSED_HARD_SIGMOID, 0.2f, 0.5f},
        {"HardSwish", CVM_FUSED_HARD_SWISH, 0.0f, 0.0f},
        {"Clip", CVM_FUSED_CLIP, -3.402823466e38f, 3.402823466e38f},
        {"Gelu", CVM_FUSED_GELU, 0.0f, 0.0f},
    };
    const char *name = cvm_attr_string(n, "activation", "");
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++)
        if (strcmp(acts[i].name, name) == 0) {
            *act = acts[i].act;
            *alpha = cvm_attr_float(n, "alpha", acts[i].alpha);
            *beta = cvm_attr_float(n, "beta", acts[i].beta);
            return CVM_OK;
        }
    return cvm_node_error(n, CVM_E_UNSUPPORTED, "unknown activation '%s'", name);
}

static cvm_status infer_fused_conv(const cvm_infer_ctx *c)
{
    const cvm_op_schema *conv = cvm_schema_find("", "Conv");
    if (!conv)
        return cvm_node_error(c->node, CVM_E_UNSUPPORTED, "Conv is not available");
    int act;
    float alpha, beta;
    CVM_TRY(cvm_fused_act_parse(c->node, &act, &alpha, &beta));
    cvm_infer_ctx cc = *c;
    cc.n_in = c->n_in < 3 ? c->n_in : 3;
    CVM_TRY(conv->infer(&cc));
    const cvm_tensor *r = c->n_in > 3 ? c->in[3] : NULL;
    if (!r)
        return CVM_OK;
    const cvm_tensor *y = c->out[0];
    int nd;
    int64_t bd[CVM_MAX_DIMS];
    int same = cvm_broadcast_shape(y->ndim, y->dims, r->ndim, r->dims, &nd, bd) == CVM_OK &&
               nd == y->ndim;
    for (int i = 0; same && i < nd; i++)
        same = bd[i] == y->dims[i];
    if (!same || r->dtype != y->dtype) {
        char sy[128], sr[128];
        return cvm_node_error(c->node, CVM_E_SHAPE, "residual %s %s does not broadcast to the "
                              "convolution output %s %s",
                              cvm_dtype_name(r->dtype), cvm_shape_str(r->ndim, r->dims, sr, sizeof sr),
                              cvm_dtype_name(y->dtype), cvm_shape_str(y->ndim, y->dims, sy, sizeof sy));
    }
    return CVM_OK;
}

/* FusedMatMul(A, B, bias) = act(MatMul(A, B) + bias), B a [K, N] matrix and
 * bias N values (any shape of N elements). */
static cvm_status infer_fused_matmul(const cvm_infer_ctx *c)
{
    const cvm_op_schema *mm = cvm_schema_find("", "MatMul");
    if (!mm)
        return cvm_node_error(c->node, CVM_E_INTERNAL, "no MatMul schema");
    int act;
    float alpha, beta;
    CVM_TRY(cvm_fused_act_parse(c->node, &act, &alpha, &beta));
    const cvm_tensor *b = c->in[1], *bias = c->n_in > 2 ? c->in[2] : NULL;
    if (b->ndim != 2)
        return cvm_node_error(c->node, CVM_E_SHAPE, "B has rank %d; FusedMatMul takes a matrix",
                              b->ndim);
    cvm_infer_ctx cc = *c;
    cc.n_in = 2;
    CVM_TRY(mm->infer(&cc));
    int64_t nb = 1;
    for (int i = 0; bias && i < bias->ndim; i++)
        nb *= bias->dims[i];
    if (bias && (nb != b->dims[1] || bias->dtype != c->out[0]->dtype))
        return cvm_node_error(c->node, CVM_E_SHAPE, "bias of %lld %s values for %lld columns",
                              (long long)nb, cvm_dtype_name(bias->dtype), (long long)b->dims[1]);
    return CVM_OK;
}

/* FusedAttention(Q, Kt, V) = MatMul(Softmax(MatMul(Q, Kt), last axis), V):
 * MatMul's shape rules twice, on float32 operands of rank >= 2. */
static cvm_status infer_fused_attention(const cvm_infer_ctx *c)
{
    const cvm_op_schema *mm = cvm_schema_find("", "MatMul");
    if (!mm)
        return cvm_node_error(c->node, CVM_E_INTERNAL, "no MatMul schema");
    static const char *names[3] = {"Q", "Kt", "V"};
    for (int i = 0; i < 3; i++) {
        if (!c->in[i])
            return cvm_node_error(c->node, CVM_E_SHAPE, "input %s is missing", names[i]);
        if (c->in[i]->ndim < 2)
            return cvm_node_error(c->node, CVM_E_SHAPE, "%s has rank %d; attention takes matrices",
                                  names[i], c->in[i]->ndim);
    }
    cvm_tensor scores = {0};
    cvm_tensor *sp = &scores;
    cvm_infer_ctx sub = *c;
    sub.n_in = 2;
    sub.n_out = 1;
    sub.out = &sp;
    CVM_TRY(mm->infer(&sub));
    const cvm_tensor *ins[2] = {&scores, c->in[2]};
    sub.in = ins;
    sub.out = c->out;
    return mm->infer(&sub);
}

static cvm_status infer_conv_integer_scaled(const cvm_infer_ctx *c)
{
    const cvm_tensor *s = c->n_in > 4 ? c->in[4] : NULL;
    int64_t numel;
    if (!s || s->dtype != CVM_DTYPE_FLOAT32 || !cvm_shape_numel(s->ndim, s->dims, &numel) || numel != 1 ||
        s->ndim > 1)
        return cvm_node_error(c->node, CVM_E_SHAPE, "scale must be one float32 value of rank 0 or 1");
    /* The convolution's own checks and shape, then its float output type. */
    const cvm_op_schema *ci = cvm_schema_find("", "ConvInteger");
    if (!ci || !ci->infer)
        return cvm_node_error(c->node, CVM_E_INTERNAL, "no ConvInteger schema");
    cvm_infer_ctx sub = *c;
    sub.n_in = 4;
    CVM_TRY(ci->infer(&sub));
    cvm_tensor *y = c->out[0];
    cvm_set_shape(y, CVM_DTYPE_FLOAT32, y->ndim, y->dims);
    /* the fused epilogue's residual (bias) must broadcast to the output */
    const cvm_tensor *r = c->n_in > 5 ? c->in[5] : NULL;
    if (r && r->ndim >= 0) {
        if (r->dtype != CVM_DTYPE_FLOAT32)
            return cvm_node_error(c->node, CVM_E_SHAPE, "residual has type %s, not float32",
                                  cvm_dtype_name(r->dtype));
        if (r->ndim > y->ndim)
            return cvm_node_error(c->node, CVM_E_SHAPE, "residual of rank %d exceeds output rank %d",
                                  r->ndim, y->ndim);
        for (int i = 0; i < r->ndim; i++) {
            int64_t rd = r->dims[r->ndim - 1 - i], od = y->dims[y->ndim - 1 - i];
            if (rd != 1 && rd != od)
                return cvm_node_error(c->node, CVM_E_SHAPE, "residual dimension %d (%lld) does not "
                                      "broadcast to the output's %lld", r->ndim - 1 - i,
                                      (long long)rd, (long long)od);
        }
    }
    return CVM_OK;
}

/* SoftmaxDot(X [N, G, K, A], W with K values) = Y [N, 1, G, A], Y[n, 0, g, a]
 * = sum_k softmax_k(X[n, g, :, a]) W[k]: YOLO's distribution focal loss
 * decode (Softmax over the bins, Transpose, 1x1 Conv to one channel). */
static cvm_status infer_softmax_dot(const cvm_infer_ctx *c)
{
    const cvm_tensor *x = c->in[0], *w = c->in[1];
    int64_t k;
    if (!x || !w || x->dtype != CVM_DTYPE_FLOAT32 || w->dtype != CVM_DTYPE_FLOAT32)
        return cvm_node_error(c->node, CVM_E_TYPE, "inputs must be float32");
    if (x->ndim != 4)
        return cvm_node_error(c->node, CVM_E_SHAPE, "X has rank %d, not 4", x->ndim);
    if (!cvm_shape_numel(w->ndim, w->dims, &k) || k != x->dims[2])
        return cvm_node_error(c->node, CVM_E_SHAPE, "W holds %lld values for %lld bins",
                              (long long)k, (long long)x->dims[2]);
    const int64_t dims[4] = {x->dims[0], 1, x->dims[1], x->dims[3]};
    cvm_set_shape(c->out[0], CVM_DTYPE_FLOAT32, 4, dims);
    return CVM_OK;
}

const cvm_op_schema cvm_schemas_fused[] = {
    {CVM_FUSED_DOMAIN, "FusedConv", 2, 4, 1, 1, infer_fused_conv, 0},
    {CVM_FUSED_DOMAIN, "FusedMatMul", 2, 3, 1, 1, infer_fused_matmul, 0},
    {CVM_FUSED_DOMAIN, "FusedAttention", 3, 3, 1, 1, infer_fused_attention, 0},
    {CVM_FUSED_DOMAIN, "ConvIntegerScaled", 5, 6, 1, 1, infer_conv_integer_scaled, 0},
    {CVM_FUSED_DOMAIN, "ScaleShift", 1, 1, 1, 1, cvm_infer_scale_shift, 0},
    {CVM_FUSED_DOMAIN, "SoftmaxDot", 2, 2, 1, 1, infer_softmax_dot, 0},
    {0},
};
