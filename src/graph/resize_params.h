/*
 * Output size and per-axis scale of Resize / Upsample.  Shape inference and
 * the kernel must agree exactly on both, so the one derivation lives here and
 * is included by src/graph/shape_reduce.c and the CPU kernel.
 */
#ifndef CVM_BACKENDS_CPU_RESIZE_PARAMS_H
#define CVM_BACKENDS_CPU_RESIZE_PARAMS_H

#include <math.h>
#include <string.h>

#include "graph/schema.h"

typedef struct cvm_resize_params {
    int rank;
    int64_t out[CVM_MAX_DIMS];
    /* Scale used by the coordinate transformation of each axis. */
    double scale[CVM_MAX_DIMS];
    /* 1 for axes listed in `axes` (all axes when absent). */
    int active[CVM_MAX_DIMS];
    /* Index into scales/sizes/roi for active axes, -1 otherwise. */
    int slot[CVM_MAX_DIMS];
    int n_axes;
} cvm_resize_params;

/* The scales/sizes inputs of the node (NULL when absent or empty). */
static inline void cvm_resize_inputs(const cvm_node *node, int opset, int n_in,
                                     const cvm_tensor *const *in, const cvm_tensor **scales,
                                     const cvm_tensor **sizes)
{
    *scales = *sizes = NULL;
    const cvm_tensor *s = NULL, *z = NULL;
    if (strcmp(node->op_type, "Upsample") == 0 || opset < 11) {
        s = n_in > 1 ? in[1] : NULL;
    } else {
        s = n_in > 2 ? in[2] : NULL;
        z = n_in > 3 ? in[3] : NULL;
    }
    int64_t n;
    if (s && cvm_shape_numel(s->ndim, s->dims, &n) && n > 0)
        *scales = s;
    if (z && cvm_shape_numel(z->ndim, z->dims, &n) && n > 0)
        *sizes = z;
}

/* Fills p from the input shape, the attributes and the scales or sizes
 * values.  Returns CVM_E_DYNAMIC when those values are not known yet. */
static inline cvm_status cvm_resize_params_get(const cvm_node *node, int opset, const cvm_tensor *x,
                                               int n_in, const cvm_tensor *const *in,
                                               cvm_resize_params *p)
{
    int r = x->ndim;
    memset(p, 0, sizeof *p);
    p->rank = r;
    int upsample = strcmp(node->op_type, "Upsample") == 0;
    for (int i = 0; i < r; i++) {
        p->slot[i] = -1;
        p->out[i] = x->dims[i];
        p->scale[i] = 1.0;
    }
    /* axes (Resize 18+) select which dims the scales/sizes entries refer to. */
    size_t n_axes = 0;
    const int64_t *axes = (!upsample && opset >= 18) ? cvm_attr_ints(node, "axes", &n_axes) : NULL;
    if (axes) {
        if (n_axes == 0 || n_axes > (size_t)r)
            return cvm_node_error(node, CVM_E_SHAPE, "axes has %zu entries for rank %d", n_axes, r);
        for (size_t k = 0; k < n_axes; k++) {
            int a;
            if (cvm_norm_axis(axes[k], r, node->op_type, &a) != CVM_OK)
                return cvm_node_error(node, CVM_E_SHAPE, "axis %lld is out of range for rank %d",
                                      (long long)axes[k], r);
            if (p->active[a])
                return cvm_node_error(node, CVM_E_SHAPE, "axis %d is repeated in axes", a);
            p->active[a] = 1;
            p->slot[a] = (int)k;
        }
    } else {
        n_axes = (size_t)r;
        for (int i = 0; i < r; i++) {
            p->active[i] = 1;
            p->slot[i] = i;
        }
    }
    p->n_axes = (int)n_axes;

    const cvm_tensor *scales = NULL, *sizes = NULL;
    float attr_scales[CVM_MAX_DIMS];
    if (upsample && opset < 9) {
        size_t n = 0;
        const float *f = cvm_attr_floats(node, "scales", &n);
        if (!f || n != (size_t)r)
            return cvm_node_error(node, CVM_E_SHAPE, "needs %d scales, has %zu", r, n);
        for (int i = 0; i < r; i++)
            attr_scales[i] = f[i];
    } else {
        cvm_resize_inputs(node, opset, n_in, in, &scales, &sizes);
        if (scales && sizes)
            return cvm_node_error(node, CVM_E_SHAPE, "only one of scales and sizes may be given");
        if (!scales && !sizes)
            return cvm_node_error(node, CVM_E_SHAPE, "needs scales or sizes");
        const cvm_tensor *t = scales ? scales : sizes;
        if (!t->data)
            return CVM_E_DYNAMIC;
        int64_t n;
        if (t->ndim != 1 || !cvm_shape_numel(t->ndim, t->dims, &n) || n != (int64_t)n_axes)
            return cvm_node_error(node, CVM_E_SHAPE, "%s must be 1-D with %zu entries",
                                  scales ? "scales" : "sizes", n_axes);
        if (scales && !cvm_dtype_is_float(scales->dtype))
            return cvm_node_error(node, CVM_E_TYPE, "scales must be float, not %s",
                                  cvm_dtype_name(scales->dtype));
        if (sizes && sizes->dtype != CVM_DTYPE_INT64)
            return cvm_node_error(node, CVM_E_TYPE, "sizes must be int64, not %s",
                                  cvm_dtype_name(sizes->dtype));
        for (int i = 0; scales && i < r; i++)
            attr_scales[i] = p->active[i] ? (float)cvm_tensor_get_f64(scales, p->slot[i]) : 1.0f;
    }

    if (!sizes) {
        for (int i = 0; i < r; i++) {
            float s = p->active[i] ? attr_scales[i] : 1.0f;
            if (!(s > 0.0f) || !isfinite(s))
                return cvm_node_error(node, CVM_E_SHAPE, "scale %g for axis %d must be positive", s, i);
            double o = floor((double)s * (double)x->dims[i]);
            if (o > 1e15)
                return cvm_node_error(node, CVM_E_LIMIT, "output dim %d would be %g", i, o);
            p->out[i] = (int64_t)o;
            p->scale[i] = s;
        }
        return CVM_OK;
    }
    const char *policy = cvm_attr_string(node, "keep_aspect_ratio_policy", "stretch");
    int mode = 0; /* 0 stretch, 1 not_larger, 2 not_smaller */
    if (opset >= 18 && strcmp(policy, "not_larger") == 0)
        mode = 1;
    else if (opset >= 18 && strcmp(policy, "not_smaller") == 0)
        mode = 2;
    else if (opset >= 18 && strcmp(policy, "stretch") != 0)
        return cvm_node_error(node, CVM_E_UNSUPPORTED, "keep_aspect_ratio_policy '%s'", policy);
    double agg = mode == 1 ? INFINITY : 0.0;
    for (int i = 0; i < r; i++) {
        if (!p->active[i])
            continue;
        int64_t s = cvm_tensor_get_i64(sizes, p->slot[i]);
        if (s < 0 || s > ((int64_t)1 << 40))
            return cvm_node_error(node, CVM_E_SHAPE, "size %lld for axis %d is invalid", (long long)s, i);
        if (x->dims[i] == 0 && s != 0)
            return cvm_node_error(node, CVM_E_SHAPE, "cannot resize an empty axis %d to %lld", i,
                                  (long long)s);
        p->out[i] = s;
        p->scale[i] = x->dims[i] ? (double)s / (double)x->dims[i] : 1.0;
        if (mode == 1 && p->scale[i] < agg)
            agg = p->scale[i];
        if (mode == 2 && p->scale[i] > agg)
            agg = p->scale[i];
    }
    if (mode) {
        for (int i = 0; i < r; i++) {
            if (!p->active[i])
                continue;
            p->scale[i] = agg;
            p->out[i] = (int64_t)(agg * (double)x->dims[i] + 0.5);
        }
    }
    return CVM_OK;
}

#endif
