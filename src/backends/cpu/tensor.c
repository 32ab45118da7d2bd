/* CPU kernels for the data-movement operators that are pure views of their
 * input (reshapes, transposes, slices, concatenation), and the group's table. */
#include "backends/cpu/kernel_tables.h"
#include "backends/cpu/tensor_internal.h"

#define PAR_MIN_BYTES ((size_t)1 << 18)

/* Reshape, Squeeze, Unsqueeze, Flatten: the bytes do not change. */
static cvm_status k_copy(const cvm_kernel_ctx *c)
{
    const cvm_tensor *x = c->in[0];
    size_t es, nb;
    CVM_TRY(cvm_elem_size(c, x->dtype, &es));
    if (!cvm_shape_nbytes(x->dtype, x->ndim, x->dims, &nb))
        return cvm_node_error(c->node, CVM_E_SHAPE, "input shape overflows");
    cvm_par_memcpy(c->pool, c->out[0]->data, x->data, nb);
    return CVM_OK;
}

static cvm_status k_transpose(const cvm_kernel_ctx *c)
{
    const cvm_tensor *x = c->in[0];
    size_t es, np = 0;
    CVM_TRY(cvm_elem_size(c, x->dtype, &es));
    const int64_t *perm = cvm_attr_ints(c->node, "perm", &np);
    int64_t st[CVM_MAX_DIMS];
    cvm_row_strides(x->ndim, x->dims, st);
    cvm_strided v = {.ndim = x->ndim};
    for (int i = 0; i < x->ndim; i++) {
        int64_t p = perm ? perm[i] : x->ndim - 1 - i;
        if (p < 0 || p >= x->ndim)
            return cvm_node_error(c->node, CVM_E_SHAPE, "perm is not a permutation");
        v.dims[i] = x->dims[p];
        v.stride[i] = st[p];
    }
    cvm_strided_copy(c->pool, x->data, c->out[0]->data, es, &v);
    return CVM_OK;
}

static cvm_status k_slice(const cvm_kernel_ctx *c)
{
    const cvm_tensor *x = c->in[0];
    size_t es;
    CVM_TRY(cvm_elem_size(c, x->dtype, &es));
    int64_t start[CVM_MAX_DIMS], step[CVM_MAX_DIMS], dims[CVM_MAX_DIMS], st[CVM_MAX_DIMS];
    CVM_TRY(cvm_slice_plan(c->node, c->opset, c->n_in, c->in, start, step, dims));
    cvm_row_strides(x->ndim, x->dims, st);
    cvm_strided v = {.ndim = x->ndim};
    for (int i = 0; i < x->ndim; i++) {
        if (dims[i] != c->out[0]->dims[i])
            return cvm_node_error(c->node, CVM_E_INTERNAL, "slice extent differs from the planned output");
        v.dims[i] = dims[i];
        v.stride[i] = st[i] * step[i];
        v.offset += start[i] * st[i];
    }
    cvm_strided_copy(c->pool, x->data, c->out[0]->data, es, &v);
    return CVM_OK;
}

static cvm_status k_expand(const cvm_kernel_ctx *c)
{
    const cvm_tensor *x = c->in[0];
    cvm_tensor *y = c->out[0];
    size_t es;
    CVM_TRY(cvm_elem_size(c, x->dtype, &es));
    int64_t st[CVM_MAX_DIMS];
    cvm_row_strides(x->ndim, x->dims, st);
    cvm_strided v = {.ndim = y->ndim};
    int lead = y->ndim - x->ndim;
    if (lead < 0)
        return cvm_node_error(c->node, CVM_E_INTERNAL, "output rank is below the input's");
    for (int i = 0; i < y->ndim; i++) {
        int j = i - lead;
        v.dims[i] = y->dims[i];
        v.stride[i] = (j < 0 || x->dims[j] == 1) ? 0 : st[j];
        if (j >= 0 && x->dims[j] != 1 && x->dims[j] != y->dims[i])
            return cvm_node_error(c->node, CVM_E_INTERNAL, "output does not broadcast the input");
    }
    cvm_strided_copy(c->pool, x->data, y->data, es, &v);
    return CVM_OK;
}

static cvm_status k_tile(const cvm_kernel_ctx *c)
{
    const cvm_tensor *x = c->in[0];
    cvm_tensor *y = c->out[0];
    size_t es;
    CVM_TRY(cvm_elem_size(c, x->dtype, &es));
    if (cvm_tensor_numel(y) == 0)
        return CVM_OK;
    int64_t st[CVM_MAX_DIMS];
    cvm_row_strides(x->ndim, x->dims, st);
    /* Output axis i of extent r*d is [r, d] with the repeat index outermost. */
    cvm_strided v = {.ndim = 2 * x->ndim};
    for (int i = 0; i < x->ndim; i++) {
        if (y->dims[i] % x->dims[i])
            return cvm_node_error(c->node, CVM_E_INTERNAL, "output is not a whole tiling of the input");
        v.dims[2 * i] = y->dims[i] / x->dims[i];
        v.stride[2 * i] = 0;
        v.dims[2 * i + 1] = x->dims[i];
        v.stride[2 * i + 1] = st[i];
    }
    cvm_strided_copy(c->pool, x->data, y->data, es, &v);
    return CVM_OK;
}

/* DepthToSpace and SpaceToDepth are a 6-D transpose of a reshaped input. */
static cvm_status k_depth_to_space(const cvm_kernel_ctx *c)
{
    const cvm_tensor *x = c->in[0];
    size_t es;
    CVM_TRY(cvm_elem_size(c, x->dtype, &es));
    int64_t b = cvm_attr_int(c->node, "blocksize", 0);
    int crd = strcmp(cvm_attr_string(c->node, "mode", "DCR"), "CRD") == 0;
    int64_t N = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3], Co = C / (b * b);
    int64_t sN = C * H * W, sC, sb1, sb2;
    if (crd) { /* input channels are [Co, b, b] */
        sC = b * b * H * W;
        sb1 = b * H * W;
        sb2 = H * W;
    } else { /* input channels are [b, b, Co] */
        sC = H * W;
        sb1 = b * Co * H * W;
        sb2 = Co * H * W;
    }
    cvm_strided v = {.ndim = 6,
                     .dims = {N, Co, H, b, W, b},
                     .stride = {sN, sC, W, sb1, 1, sb2}};
    cvm_strided_copy(c->pool, x->data, c->out[0]->data, es, &v);
    return CVM_OK;
}

static cvm_status k_space_to_depth(const cvm_kernel_ctx *c)
{
    const cvm_tensor *x = c->in[0];
    size_t es;
    CVM_TRY(cvm_elem_size(c, x->dtype, &es));
    int64_t b = cvm_attr_int(c->node, "blocksize", 0);
    int crd = strcmp(cvm_attr_string(c->node, "mode", "DCR"), "CRD") == 0;
    int64_t N = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3];
    /* Input viewed as [N, C, H/b, b, W/b, b]; output channels are [b, b, C]
     * (DCR) or [C, b, b] (CRD, opset 28). */
    cvm_strided v = {.ndim = 6,
                     .dims = {N, b, b, C, H / b, W / b},
                     .stride = {C * H * W, W, 1, H * W, b * W, b}};
    if (crd) {
        int64_t dims[6] = {N, C, b, b, H / b, W / b}, st[6] = {C * H * W, H * W, W, 1, b * W, b};
        memcpy(v.dims, dims, sizeof dims);
        memcpy(v.stride, st, sizeof st);
    }
    cvm_strided_copy(c->pool, x->data, c->out[0]->data, es, &v);
    return CVM_OK;
}

/* Concat and Split move whole rows: `outer` rows of each part, each part's
 * row `part_bytes[i]` long inside a joined row of `row_bytes`. */
typedef struct parts_job {
    const cvm_kernel_ctx *c;
    int split;          /* 0: parts are inputs (Concat); 1: parts are outputs (Split) */
    int base;           /* index of part 0 among the node's inputs or outputs */
    int n;
    size_t row_bytes;
    size_t part_bytes[64];
    size_t part_off[64];
} parts_job;

static char *part_ptr(const parts_job *j, int i)
{
    if (j->split)
        return j->c->out[j->base + i] ? j->c->out[j->base + i]->data : NULL;
    return j->c->in[j->base + i]->data;
}

static void parts_range(void *arg, size_t b, size_t e)
{
    const parts_job *j = arg;
    char *joined = j->split ? j->c->in[0]->data : j->c->out[0]->data;
    for (size_t o = b; o < e; o++)
        for (int i = 0; i < j->n; i++) {
            char *p = part_ptr(j, i);
            if (!p || !j->part_bytes[i])
                continue;
            char *jr = joined + o * j->row_bytes + j->part_off[i];
            char *pr = p + o * j->part_bytes[i];
            if (j->split)
                memcpy(pr, jr, j->part_bytes[i]);
            else
                memcpy(jr, pr, j->part_bytes[i]);
        }
}

static void parts_run(parts_job *j, int64_t outer)
{
    size_t total = (size_t)outer * j->row_bytes;
    if (outer == 1) {
        /* One row per part: each copy is big, split the copies instead. */
        char *joined = j->split ? j->c->in[0]->data : j->c->out[0]->data;
        for (int i = 0; i < j->n; i++) {
            char *p = part_ptr(j, i);
            if (!p)
                continue;
            if (p == joined + j->part_off[i])
                continue; /* a view already in place (runtime/alias.c) */
            if (j->split)
                cvm_par_memcpy(j->c->pool, p, joined + j->part_off[i], j->part_bytes[i]);
            else
                cvm_par_memcpy(j->c->pool, joined + j->part_off[i], p, j->part_bytes[i]);
        }
        return;
    }
    if (!j->c->pool || total < PAR_MIN_BYTES) {
        parts_range(j, 0, (size_t)outer);
        return;
    }
    /* By rows, each thread copying whole rows of every part.  (Copying
     * every part's column chunks instead, the pixels each core wrote in the
     * layers before, cost more in one-to-four-KB memcpy calls than it saved
     * in reads from the other core: YOLOv8n's two head Concats on two
     * threads 0.23-0.26 ms against 0.18-0.23 by rows, YOLO11n's three
     * 0.10-0.11 against 0.06-0.07, in alternation.) */
    size_t grain = ((size_t)1 << 16) / (j->row_bytes ? j->row_bytes : 1);
    cvm_parallel_for(j->c->pool, (size_t)outer, grain ? grain : 1, parts_range, j);
}

static cvm_status k_concat(const cvm_kernel_ctx *c)
{
    const cvm_tensor *y = c->out[0];
    size_t es;
    CVM_TRY(cvm_elem_size(c, y->dtype, &es));
    int axis = 0;
    int64_t a = cvm_attr_int(c->node, "axis", 1);
    CVM_TRY(cvm_norm_axis(a, y->ndim, "Concat", &axis));
    int64_t inner = cvm_dims_prod(y->dims, axis + 1, y->ndim);
    size_t row_bytes = (size_t)(y->dims[axis] * inner) * es, off = 0;
    /* Inputs go in groups of 64 so that the job stays a fixed size. */
    for (int g = 0; g < c->n_in; g += 64) {
        parts_job j = {.c = c, .split = 0, .base = g, .n = c->n_in - g < 64 ? c->n_in - g : 64};
        for (int i = 0; i < j.n; i++) {
            j.part_off[i] = off;
            j.part_bytes[i] = (size_t)(c->in[g + i]->dims[axis] * inner) * es;
            off += j.part_bytes[i];
        }
        j.row_bytes = row_bytes;
        parts_run(&j, cvm_dims_prod(y->dims, 0, axis));
    }
    return CVM_OK;
}

static cvm_status k_split(const cvm_kernel_ctx *c)
{
    const cvm_tensor *x = c->in[0];
    size_t es;
    CVM_TRY(cvm_elem_size(c, x->dtype, &es));
    int axis = 0;
    int64_t sizes[64];
    CVM_TRY(cvm_split_plan(c->node, c->opset, c->n_in, c->in, c->n_out, &axis, sizes));
    parts_job j = {.c = c, .split = 1, .n = c->n_out};
    int64_t inner = cvm_dims_prod(x->dims, axis + 1, x->ndim);
    size_t off = 0;
    for (int i = 0; i < c->n_out; i++) {
        j.part_off[i] = off;
        j.part_bytes[i] = (size_t)(sizes[i] * inner) * es;
        off += j.part_bytes[i];
    }
    j.row_bytes = off;
    parts_run(&j, cvm_dims_prod(x->dims, 0, axis));
    return CVM_OK;
}

#define ANY CVM_KERNEL_ANY_FLOAT

const cvm_kernel_def cvm_cpu_kernels_tensor[] = {
    {"", "Reshape", NULL, NULL, k_copy, ANY},
    {"", "Squeeze", NULL, NULL, k_copy, ANY},
    {"", "Unsqueeze", NULL, NULL, k_copy, ANY},
    {"", "Flatten", NULL, NULL, k_copy, ANY},
    {"", "Transpose", NULL, NULL, k_transpose, ANY},
    {"", "Concat", NULL, NULL, k_concat, ANY},
    {"", "Split", NULL, NULL, k_split, ANY},
    {"", "Slice", NULL, NULL, k_slice, ANY},
    {"", "Expand", NULL, NULL, k_expand, ANY},
    {"", "Tile", NULL, NULL, k_tile, ANY},
    {"", "DepthToSpace", NULL, NULL, k_depth_to_space, ANY},
    {"", "SpaceToDepth", NULL, NULL, k_space_to_depth, ANY},
    {"", "Gather", NULL, NULL, cvm_k_gather, ANY},
    {"", "GatherElements", NULL, NULL, cvm_k_gather_elements, ANY},
    {"", "GatherND", NULL, NULL, cvm_k_gather_nd, ANY},
    {"", "ScatterElements", NULL, NULL, cvm_k_scatter_elements, ANY},
    {"", "Scatter", NULL, NULL, cvm_k_scatter_elements, ANY},
    {"", "ScatterND", NULL, NULL, cvm_k_scatter_nd, ANY},
    {"", "NonZero", NULL, NULL, cvm_k_nonzero, ANY},
    {"", "Compress", NULL, NULL, cvm_k_compress, ANY},
    {"", "TopK", cvm_k_topk_prepare, NULL, cvm_k_topk, ANY},
    {"", "OneHot", NULL, NULL, cvm_k_onehot, ANY},
    {"", "Pad", NULL, NULL, cvm_k_pad, ANY},
    {"", "Range", NULL, NULL, cvm_k_range, ANY},
    {"", "ConstantOfShape", NULL, NULL, cvm_k_constant_of_shape, ANY},
    {"", "Constant", NULL, NULL, cvm_k_constant, ANY},
    {"", "Shape", NULL, NULL, cvm_k_shape, ANY},
    {"", "Size", NULL, NULL, cvm_k_size, ANY},
    {"", "Trilu", NULL, NULL, cvm_k_trilu, ANY},
    {"", "CumSum", NULL, NULL, cvm_k_cumsum, ANY},
    {"", "EyeLike", NULL, NULL, cvm_k_eye_like, ANY},
    {"", "ReverseSequence", NULL, NULL, cvm_k_reverse_sequence, ANY},
    {0},
};
