/*
 * Geometry of integer convolutions and matrix products, shared by shape
 * inference (src/graph/shape_quant.c) and the CPU kernels so that both derive
 * pads and output sizes the same way.
 */
#ifndef CVM_BACKENDS_CPU_QUANT_GEOM_H
#define CVM_BACKENDS_CPU_QUANT_GEOM_H

#include <string.h>

#include "graph/schema.h"

typedef struct cvm_conv_geom {
    int nsp;                        /* spatial dims */
    int64_t N, C, M, group;
    int64_t in[CVM_MAX_DIMS], out[CVM_MAX_DIMS], k[CVM_MAX_DIMS];
    int64_t stride[CVM_MAX_DIMS], dil[CVM_MAX_DIMS], pad0[CVM_MAX_DIMS], pad1[CVM_MAX_DIMS];
} cvm_conv_geom;

/* x is [N, C, spatial...], w is [M, C/group, kernel...]. */
static inline cvm_status cvm_conv_geom_get(const cvm_node *node, const cvm_tensor *x, const cvm_tensor *w,
                                           cvm_conv_geom *g)
{
    memset(g, 0, sizeof *g);
    if (x->ndim < 3 || w->ndim != x->ndim)
        return cvm_node_error(node, CVM_E_SHAPE, "input rank %d and weight rank %d must match and be >= 3",
                              x->ndim, w->ndim);
    int nsp = x->ndim - 2;
    g->nsp = nsp;
    g->N = x->dims[0];
    g->C = x->dims[1];
    g->M = w->dims[0];
    g->group = cvm_attr_int(node, "group", 1);
    if (g->group < 1 || g->C % g->group != 0 || g->M % g->group != 0 || w->dims[1] * g->group != g->C)
        return cvm_node_error(node, CVM_E_SHAPE, "group %lld does not fit %lld input channels, weight [%lld, %lld, ...]",
                              (long long)g->group, (long long)g->C, (long long)w->dims[0], (long long)w->dims[1]);
    size_t nk = 0, ns = 0, nd = 0, np = 0;
    const int64_t *ks = cvm_attr_ints(node, "kernel_shape", &nk);
    const int64_t *st = cvm_attr_ints(node, "strides", &ns);
    const int64_t *dl = cvm_attr_ints(node, "dilations", &nd);
    const int64_t *pd = cvm_attr_ints(node, "pads", &np);
    if ((ks && nk != (size_t)nsp) || (st && ns != (size_t)nsp) || (dl && nd != (size_t)nsp) ||
        (pd && np != 2 * (size_t)nsp))
        return cvm_node_error(node, CVM_E_SHAPE, "kernel_shape/strides/dilations/pads do not have %d spatial entries",
                              nsp);
    const char *ap = cvm_attr_string(node, "auto_pad", "NOTSET");
    int same_upper = strcmp(ap, "SAME_UPPER") == 0, same_lower = strcmp(ap, "SAME_LOWER") == 0;
    int valid = strcmp(ap, "VALID") == 0;
    if (!same_upper && !same_lower && !valid && strcmp(ap, "NOTSET") != 0 && ap[0])
        return cvm_node_error(node, CVM_E_UNSUPPORTED, "auto_pad '%s'", ap);
    for (int i = 0; i < nsp; i++) {
        g->in[i] = x->dims[2 + i];
        g->k[i] = ks ? ks[i] : w->dims[2 + i];
        g->stride[i] = st ? st[i] : 1;
        g->dil[i] = dl ? dl[i] : 1;
        if (g->k[i] != w->dims[2 + i] || g->k[i] < 1 || g->stride[i] < 1 || g->dil[i] < 1 ||
            g->k[i] > (1 << 20) || g->stride[i] > (1 << 20) || g->dil[i] > (1 << 20))
            return cvm_node_error(node, CVM_E_SHAPE, "invalid kernel %lld, stride %lld or dilation %lld on axis %d",
                                  (long long)g->k[i], (long long)g->stride[i], (long long)g->dil[i], i);
        int64_t ek = (g->k[i] - 1) * g->dil[i] + 1;
        if (same_upper || same_lower) {
            int64_t o = (g->in[i] + g->stride[i] - 1) / g->stride[i];
            int64_t total = (o - 1) * g->stride[i] + ek - g->in[i];
            if (total < 0)
                total = 0;
            g->pad0[i] = same_upper ? total / 2 : total - total / 2;
            g->pad1[i] = total - g->pad0[i];
        } else if (!valid && pd) {
            g->pad0[i] = pd[i];
            g->pad1[i] = pd[i + nsp];
            if (pd[i] < 0 || pd[i + nsp] < 0 || pd[i] > (1 << 20) || pd[i + nsp] > (1 << 20))
                return cvm_node_error(node, CVM_E_SHAPE, "invalid pads on axis %d", i);
        }
        int64_t span = g->in[i] + g->pad0[i] + g->pad1[i] - ek;
        if (span < 0)
            return cvm_node_error(node, CVM_E_SHAPE, "kernel extent %lld exceeds padded input %lld on axis %d",
                                  (long long)ek, (long long)(g->in[i] + g->pad0[i] + g->pad1[i]), i);
        g->out[i] = span / g->stride[i] + 1;
    }
    return CVM_OK;
}

/* Output shape of an ONNX MatMul of a and b (numpy matmul semantics). */
static inline cvm_status cvm_matmul_shape(const cvm_node *node, const cvm_tensor *a, const cvm_tensor *b,
                                          int *nd, int64_t *dims)
{
    if (a->ndim < 1 || b->ndim < 1)
        return cvm_node_error(node, CVM_E_SHAPE, "inputs must have rank >= 1");
    int64_t ka = a->dims[a->ndim - 1];
    int64_t kb = b->ndim == 1 ? b->dims[0] : b->dims[b->ndim - 2];
    if (ka != kb)
        return cvm_node_error(node, CVM_E_SHAPE, "inner dims %lld and %lld differ", (long long)ka, (long long)kb);
    int64_t ab[CVM_MAX_DIMS], bb[CVM_MAX_DIMS];
    int na = a->ndim > 2 ? a->ndim - 2 : 0, nb = b->ndim > 2 ? b->ndim - 2 : 0, n;
    for (int i = 0; i < na; i++)
        ab[i] = a->dims[i];
    for (int i = 0; i < nb; i++)
        bb[i] = b->dims[i];
    cvm_status st = cvm_broadcast_shape(na, ab, nb, bb, &n, dims);
    if (st != CVM_OK)
        return cvm_node_error(node, st, "batch dims do not broadcast");
    if (a->ndim >= 2)
        dims[n++] = a->dims[a->ndim - 2];
    if (b->ndim >= 2)
        dims[n++] = b->dims[b->ndim - 1];
    *nd = n;
    return CVM_OK;
}

#endif
