#include "runtime/eval.h"

#include <stdlib.h>
#include <string.h>

static int is_promoted(cvm_dtype t)
{
    return t == CVM_DTYPE_FLOAT16 || t == CVM_DTYPE_BFLOAT16 || t == CVM_DTYPE_FLOAT64;
}

int cvm_needs_f32_promotion(const cvm_kernel_def *k, int n_in, const cvm_tensor *const *in)
{
    if (k->flags & CVM_KERNEL_ANY_FLOAT)
        return 0;
    for (int i = 0; i < n_in; i++)
        if (in[i] && is_promoted(in[i]->dtype))
            return 1;
    return 0;
}

cvm_status cvm_node_infer(const cvm_op_schema *s, const cvm_node *node, int opset, int n_in,
                          const cvm_tensor *const *in, int n_out, cvm_tensor *const *out)
{
    int present_in = n_in;
    while (present_in > 0 && !in[present_in - 1])
        present_in--;
    if (present_in < s->min_in || (s->max_in >= 0 && n_in > s->max_in))
        return cvm_node_error(node, CVM_E_PARSE, "has %d inputs; the operator takes %d to %d", n_in,
                              s->min_in, s->max_in);
    if (n_out < s->min_out || (s->max_out >= 0 && n_out > s->max_out))
        return cvm_node_error(node, CVM_E_PARSE, "has %d outputs; the operator gives %d to %d",
                              n_out, s->min_out, s->max_out);
    for (int i = 0; i < s->min_in; i++)
        if (!in[i])
            return cvm_node_error(node, CVM_E_PARSE, "required input %d is missing", i);
    cvm_infer_ctx c = {.node = node, .opset = opset, .n_in = n_in, .n_out = n_out, .in = in, .out = out};
    return s->infer(&c);
}

static void free_all(cvm_tensor **t, int n)
{
    for (int i = 0; i < n; i++) {
        cvm_tensor_free(t[i]);
        t[i] = NULL;
    }
}

#define CVM_DEFAULT_MAX_TENSOR_BYTES ((size_t)1 << 32)

cvm_status cvm_node_eval(const cvm_node *node, int opset, int n_in, const cvm_tensor *const *in,
                         int n_out, cvm_tensor **out, cvm_threadpool *pool)
{
    return cvm_node_eval_limited(node, opset, n_in, in, n_out, out, pool, CVM_DEFAULT_MAX_TENSOR_BYTES);
}

cvm_status cvm_node_eval_limited(const cvm_node *node, int opset, int n_in,
                                 const cvm_tensor *const *in, int n_out, cvm_tensor **out,
                                 cvm_threadpool *pool, size_t max_bytes)
{
    const cvm_op_schema *s = cvm_schema_find(node->domain, node->op_type);
    if (!s)
        return cvm_node_error(node, CVM_E_UNSUPPORTED, "operator %s%s%s is not supported",
                              node->domain[0] ? node->domain : "", node->domain[0] ? "." : "",
                              node->op_type);
    const cvm_kernel_def *k = cvm_backend_cpu()->find_kernel(node->domain, node->op_type);
    if (!k)
        return cvm_node_error(node, CVM_E_UNSUPPORTED, "operator %s has no CPU kernel", node->op_type);
    if (n_in > 64 || n_out > 64)
        return cvm_node_error(node, CVM_E_UNSUPPORTED, "more than 64 inputs or outputs");

    cvm_tensor hdr[64];
    cvm_tensor *hp[64];
    memset(hdr, 0, sizeof hdr);
    for (int i = 0; i < n_out; i++)
        hp[i] = node->out[i] >= 0 ? &hdr[i] : NULL;
    for (int i = 0; i < n_out; i++)
        out[i] = NULL;

    /* Promotion: compute in float32 copies of the inputs. */
    int promote = cvm_needs_f32_promotion(k, n_in, in);
    cvm_tensor *conv_in[64] = {0};
    const cvm_tensor *use_in[64];
    cvm_status st = CVM_OK;
    for (int i = 0; i < n_in; i++) {
        use_in[i] = in[i];
        if (promote && in[i] && is_promoted(in[i]->dtype) && in[i]->data) {
            st = cvm_tensor_create(CVM_DTYPE_FLOAT32, in[i]->ndim, in[i]->dims, &conv_in[i]);
            if (st != CVM_OK)
                goto done;
            cvm_convert(in[i]->dtype, in[i]->data, CVM_DTYPE_FLOAT32, conv_in[i]->data,
                        cvm_tensor_numel(in[i]));
            use_in[i] = conv_in[i];
        }
    }
    /* Infer with the original types so that we know what to convert back to. */
    st = cvm_node_infer(s, node, opset, n_in, in, n_out, hp);
    if (st != CVM_OK)
        goto done;
    cvm_dtype final_dt[64];
    for (int i = 0; i < n_out; i++)
        final_dt[i] = hdr[i].dtype;
    if (promote) {
        memset(hdr, 0, sizeof hdr);
        st = cvm_node_infer(s, node, opset, n_in, use_in, n_out, hp);
        if (st != CVM_OK)
            goto done;
    }
    for (int i = 0; i < n_out; i++) {
        size_t nb;
        if (!hp[i])
            continue;
        if (!cvm_shape_nbytes(hdr[i].dtype, hdr[i].ndim, hdr[i].dims, &nb)) {
            st = cvm_node_error(node, CVM_E_SHAPE, "output %d has an invalid shape or dtype", i);
            goto done;
        }
        if (max_bytes && nb > max_bytes) {
            st = cvm_node_error(node, CVM_E_LIMIT, "output %d would take %zu bytes, over the %zu-byte limit",
                                i, nb, max_bytes);
            goto done;
        }
        st = cvm_tensor_create(hdr[i].dtype, hdr[i].ndim, hdr[i].dims, &out[i]);
        if (st != CVM_OK)
            goto done;
    }
    cvm_kernel_ctx kc = {.node = node, .opset = opset, .n_in = n_in, .n_out = n_out,
                         .in = use_in, .out = out, .pool = pool};
    void *state = NULL;
    size_t scratch_bytes = 0;
    if (k->prepare) {
        st = k->prepare(&kc, &state, &scratch_bytes);
        if (st != CVM_OK)
            goto done;
    }
    void *scratch = scratch_bytes ? malloc(scratch_bytes) : NULL;
    if (scratch_bytes && !scratch) {
        st = cvm_node_error(node, CVM_E_NOMEM, "out of memory for %zu bytes of scratch", scratch_bytes);
    } else {
        kc.state = state;
        kc.scratch = scratch;
        st = k->run(&kc);
    }
    free(scratch);
    if (k->release && state)
        k->release(state);
    if (st != CVM_OK)
        goto done;
    if (promote) {
        for (int i = 0; i < n_out; i++) {
            if (!out[i] || out[i]->dtype == final_dt[i] || out[i]->dtype != CVM_DTYPE_FLOAT32)
                continue;
            cvm_tensor *t;
            st = cvm_tensor_create(final_dt[i], out[i]->ndim, out[i]->dims, &t);
            if (st != CVM_OK)
                goto done;
            cvm_convert(CVM_DTYPE_FLOAT32, out[i]->data, final_dt[i], t->data, cvm_tensor_numel(t));
            cvm_tensor_free(out[i]);
            out[i] = t;
        }
    }
done:
    free_all(conv_in, n_in);
    if (st != CVM_OK)
        free_all(out, n_out);
    return st;
}
