/* Shape inference for the data-movement and shape operators. */
#include "graph/shape_tensor.h"

#include <math.h>
#include <string.h>

#include "graph/schema_tables.h"

/* Outputs whose size comes from input values (ConstantOfShape, Expand, Tile,
 * Range, ...) are refused above this before anything is allocated. */
#define TENSOR_MAX_BYTES ((uint64_t)1 << 32)
/* Pads, repeats and similar counts beyond this are hostile, not models. */
#define TENSOR_MAX_COUNT ((int64_t)1 << 40)

#define NODE_ERR(c, s, ...) cvm_node_error((c)->node, (s), __VA_ARGS__)

static int is_index_dtype(cvm_dtype t) { return t == CVM_DTYPE_INT32 || t == CVM_DTYPE_INT64; }

static cvm_status set_out(const cvm_infer_ctx *c, int i, cvm_dtype dt, int ndim, const int64_t *dims)
{
    if (i >= c->n_out || !c->out[i])
        return CVM_OK;
    char sb[160];
    if (ndim < 0 || ndim > CVM_MAX_DIMS)
        return NODE_ERR(c, CVM_E_UNSUPPORTED, "output %d would have rank %d; at most %d is supported",
                        i, ndim, CVM_MAX_DIMS);
    if (cvm_dtype_size(dt) == 0)
        return NODE_ERR(c, CVM_E_UNSUPPORTED, "element type %s is not supported", cvm_dtype_name(dt));
    for (int d = 0; d < ndim; d++)
        if (dims[d] < 0)
            return NODE_ERR(c, CVM_E_SHAPE, "output %d would have the negative shape %s", i,
                            cvm_shape_str(ndim, dims, sb, sizeof sb));
    size_t nb;
    if (!cvm_shape_nbytes(dt, ndim, dims, &nb) || (uint64_t)nb > TENSOR_MAX_BYTES)
        return NODE_ERR(c, CVM_E_LIMIT, "output %d of shape %s is larger than %llu bytes", i,
                        cvm_shape_str(ndim, dims, sb, sizeof sb), (unsigned long long)TENSOR_MAX_BYTES);
    cvm_set_shape(c->out[i], dt, ndim, dims);
    return CVM_OK;
}

/* Reads a 0-D or 1-D integer input (shape, axes, pads, ...) of at most `cap`
 * values.  CVM_E_DYNAMIC when its data is not known yet. */
static cvm_status read_ints_in(const cvm_node *node, const cvm_tensor *t, const char *what,
                               int64_t *vals, int cap, int *n)
{
    if (t->ndim > 1)
        return cvm_node_error(node, CVM_E_SHAPE, "input '%s' must be 1-D, got rank %d", what, t->ndim);
    if (cvm_dtype_is_float(t->dtype) || cvm_dtype_size(t->dtype) == 0)
        return cvm_node_error(node, CVM_E_TYPE, "input '%s' must be an integer tensor, got %s", what,
                              cvm_dtype_name(t->dtype));
    int64_t cnt = t->ndim ? t->dims[0] : 1;
    if (cnt > cap)
        return cvm_node_error(node, CVM_E_UNSUPPORTED, "input '%s' has %lld values; at most %d are supported",
                              what, (long long)cnt, cap);
    if (!t->data)
        return CVM_E_DYNAMIC;
    for (int64_t i = 0; i < cnt; i++)
        vals[i] = cvm_tensor_get_i64(t, i);
    *n = (int)cnt;
    return CVM_OK;
}

static cvm_status read_ints_attr(const cvm_node *node, const char *name, int64_t *vals, int cap, int *n,
                                 int *present)
{
    size_t cnt = 0;
    const int64_t *v = cvm_attr_ints(node, name, &cnt);
    *present = v != NULL;
    *n = 0;
    if (!v)
        return CVM_OK;
    if (cnt > (size_t)cap)
        return cvm_node_error(node, CVM_E_UNSUPPORTED, "attribute '%s' has %zu values; at most %d are supported",
                              name, cnt, cap);
    memcpy(vals, v, cnt * sizeof *v);
    *n = (int)cnt;
    return CVM_OK;
}

static const cvm_tensor *opt_in(int n_in, const cvm_tensor *const *in, int i)
{
    return i < n_in ? in[i] : NULL;
}

/* Reads one scalar from a tensor holding exactly one element. */
static cvm_status scalar_in(const cvm_infer_ctx *c, int i, const char *what)
{
    const cvm_tensor *t = c->in[i];
    int64_t n = cvm_tensor_numel(t);
    if (n != 1 || t->ndim > 1)
        return NODE_ERR(c, CVM_E_SHAPE, "input '%s' must hold a single value", what);
    return t->data ? CVM_OK : CVM_E_DYNAMIC;
}

/* Marks normalised axes; fails on out-of-range or repeated ones. */
static cvm_status mark_axes(const cvm_node *node, const int64_t *axes, int n, int rank, int *mark)
{
    for (int i = 0; i < rank; i++)
        mark[i] = 0;
    for (int i = 0; i < n; i++) {
        int64_t a = axes[i] < 0 ? axes[i] + rank : axes[i];
        if (a < 0 || a >= rank)
            return cvm_node_error(node, CVM_E_SHAPE, "axis %lld is out of range for rank %d",
                                  (long long)axes[i], rank);
        if (mark[a])
            return cvm_node_error(node, CVM_E_SHAPE, "axis %lld is given twice", (long long)axes[i]);
        mark[a] = 1;
    }
    return CVM_OK;
}

static cvm_status norm_axis(const cvm_infer_ctx *c, int64_t axis, int rank, int *out)
{
    int64_t a = axis < 0 ? axis + rank : axis;
    if (a < 0 || a >= rank)
        return NODE_ERR(c, CVM_E_SHAPE, "axis %lld is out of range for rank %d", (long long)axis, rank);
    *out = (int)a;
    return CVM_OK;
}

/* ------------------------------------------------------------- Reshape */

static cvm_status infer_reshape(const cvm_infer_ctx *c)
{
    const cvm_tensor *x = c->in[0];
    int64_t shp[CVM_MAX_DIMS];
    int n = 0;
    if (c->opset < 5) {
        int present;
        CVM_TRY(read_ints_attr(c->node, "shape", shp, CVM_MAX_DIMS, &n, &present));
        if (!present)
            return NODE_ERR(c, CVM_E_PARSE, "attribute 'shape' is missing");
    } else {
        if (c->n_in < 2 || !c->in[1])
            return NODE_ERR(c, CVM_E_PARSE, "input 'shape' is missing");
        CVM_TRY(read_ints_in(c->node, c->in[1], "shape", shp, CVM_MAX_DIMS, &n));
    }
    int allowzero = c->opset >= 14 ? (int)cvm_attr_int(c->node, "allowzero", 0) : 0;
    int64_t total = cvm_tensor_numel(x), known = 1;
    int infer_at = -1;
    char sa[160], sb[160];
    for (int i = 0; i < n; i++) {
        if (shp[i] == 0 && !allowzero) {
            if (i >= x->ndim)
                return NODE_ERR(c, CVM_E_SHAPE, "shape entry %d is 0 (copy) but the input %s has rank %d",
                                i, cvm_shape_str(x->ndim, x->dims, sa, sizeof sa), x->ndim);
            shp[i] = x->dims[i];
        }
        if (shp[i] == -1) {
            if (infer_at >= 0)
                return NODE_ERR(c, CVM_E_SHAPE, "shape %s has more than one -1",
                                cvm_shape_str(n, shp, sa, sizeof sa));
            infer_at = i;
            continue;
        }
        if (shp[i] < 0)
            return NODE_ERR(c, CVM_E_SHAPE, "shape entry %d is %lld", i, (long long)shp[i]);
        if (shp[i] != 0 && known > INT64_MAX / shp[i])
            return NODE_ERR(c, CVM_E_SHAPE, "shape overflows");
        known *= shp[i];
    }
    if (infer_at >= 0) {
        if (known == 0 || total % known != 0)
            return NODE_ERR(c, CVM_E_SHAPE, "cannot reshape %s into %s",
                            cvm_shape_str(x->ndim, x->dims, sa, sizeof sa), cvm_shape_str(n, shp, sb, sizeof sb));
        shp[infer_at] = total / known;
    } else if (known != total) {
        return NODE_ERR(c, CVM_E_SHAPE, "cannot reshape %s (%lld elements) into %s",
                        cvm_shape_str(x->ndim, x->dims, sa, sizeof sa), (long long)total,
                        cvm_shape_str(n, shp, sb, sizeof sb));
    }
    return set_out(c, 0, x->dtype, n, shp);
}

/* ----------------------------------------------------------- Transpose */

static cvm_status infer_transpose(const cvm_infer_ctx *c)
{
    const cvm_tensor *x = c->in[0];
    size_t np = 0;
    const int64_t *perm = cvm_attr_ints(c->node, "perm", &np);
    int64_t dims[CVM_MAX_DIMS];
    int seen[CVM_MAX_DIMS] = {0};
    if (perm && np != (size_t)x->ndim)
        return NODE_ERR(c, CVM_E_SHAPE, "perm has %zu entries for an input of rank %d", np, x->ndim);
    for (int i = 0; i < x->ndim; i++) {
        int64_t p = perm ? perm[i] : x->ndim - 1 - i;
        if (p < 0 || p >= x->ndim || seen[p])
            return NODE_ERR(c, CVM_E_SHAPE, "perm is not a permutation of 0..%d", x->ndim - 1);
        seen[p] = 1;
        dims[i] = x->dims[p];
    }
    return set_out(c, 0, x->dtype, x->ndim, dims);
}

/* -------------------------------------------------------------- Concat */

static cvm_status infer_concat(const cvm_infer_ctx *c)
{
    const cvm_tensor *x = c->in[0];
    int axis = 0;
    const cvm_attr *a = cvm_node_attr(c->node, "axis");
    if (!a && c->opset >= 4)
        return NODE_ERR(c, CVM_E_PARSE, "attribute 'axis' is missing");
    if (x->ndim == 0)
        return NODE_ERR(c, CVM_E_SHAPE, "cannot concatenate scalars");
    CVM_TRY(norm_axis(c, a ? a->i : 1, x->ndim, &axis));
    int64_t dims[CVM_MAX_DIMS];
    memcpy(dims, x->dims, sizeof dims);
    dims[axis] = 0;
    char sa[160], sb[160];
    for (int i = 0; i < c->n_in; i++) {
        const cvm_tensor *t = c->in[i];
        if (!t)
            return NODE_ERR(c, CVM_E_PARSE, "input %d is missing", i);
        if (t->dtype != x->dtype)
            return NODE_ERR(c, CVM_E_TYPE, "input %d is %s but input 0 is %s", i, cvm_dtype_name(t->dtype),
                            cvm_dtype_name(x->dtype));
        int ok = t->ndim == x->ndim;
        for (int d = 0; ok && d < x->ndim; d++)
            ok = d == axis || t->dims[d] == x->dims[d];
        if (!ok)
            return NODE_ERR(c, CVM_E_SHAPE, "input %d of shape %s does not fit input 0 of shape %s on axis %d", i,
                            cvm_shape_str(t->ndim, t->dims, sa, sizeof sa),
                            cvm_shape_str(x->ndim, x->dims, sb, sizeof sb), axis);
        if (dims[axis] > INT64_MAX - t->dims[axis])
            return NODE_ERR(c, CVM_E_SHAPE, "concatenated extent overflows");
        dims[axis] += t->dims[axis];
    }
    return set_out(c, 0, x->dtype, x->ndim, dims);
}

/* --------------------------------------------------------------- Split */

cvm_status cvm_split_plan(const cvm_node *node, int opset, int n_in, const cvm_tensor *const *in,
                          int n_out, int *axis_out, int64_t *sizes)
{
    const cvm_tensor *x = in[0];
    int64_t axis_attr = cvm_attr_int(node, "axis", 0);
    int64_t a = axis_attr < 0 ? axis_attr + x->ndim : axis_attr;
    if (a < 0 || a >= x->ndim)
        return cvm_node_error(node, CVM_E_SHAPE, "axis %lld is out of range for rank %d",
                              (long long)axis_attr, x->ndim);
    *axis_out = (int)a;
    int64_t dim = x->dims[a];
    int64_t split[64];
    int ns = -1;
    const cvm_tensor *sp = opt_in(n_in, in, 1);
    if (n_out < 1 || n_out > 64)
        return cvm_node_error(node, CVM_E_UNSUPPORTED, "%d outputs; 1 to 64 are supported", n_out);
    if (sp && (opset >= 13 || opset < 2)) {
        CVM_TRY(read_ints_in(node, sp, "split", split, 64, &ns));
    } else if (opset < 13) {
        int present;
        CVM_TRY(read_ints_attr(node, "split", split, 64, &ns, &present));
        if (!present)
            ns = -1;
    }
    if (ns >= 0) {
        if (ns != n_out)
            return cvm_node_error(node, CVM_E_SHAPE, "split has %d entries for %d outputs", ns, n_out);
        int64_t sum = 0;
        for (int i = 0; i < ns; i++) {
            if (split[i] < 0 || split[i] > dim - sum)
                return cvm_node_error(node, CVM_E_SHAPE, "split sizes do not add up to the extent %lld of axis %d",
                                      (long long)dim, (int)a);
            sum += split[i];
            sizes[i] = split[i];
        }
        if (sum != dim)
            return cvm_node_error(node, CVM_E_SHAPE, "split sizes add up to %lld, not the extent %lld of axis %d",
                                  (long long)sum, (long long)dim, (int)a);
        return CVM_OK;
    }
    const cvm_attr *no = opset >= 18 ? cvm_node_attr(node, "num_outputs") : NULL;
    if (no && no->i != n_out)
        return cvm_node_error(node, CVM_E_SHAPE, "num_outputs is %lld but the node has %d outputs",
                              (long long)no->i, n_out);
    if (dim % n_out == 0) {
        for (int i = 0; i < n_out; i++)
            sizes[i] = dim / n_out;
        return CVM_OK;
    }
    if (opset < 18)
        return cvm_node_error(node, CVM_E_SHAPE, "axis %d of extent %lld does not split evenly into %d outputs",
                              (int)a, (long long)dim, n_out);
    /* Opset 18: every chunk is ceil(dim / n); the last one takes what is left. */
    int64_t chunk = dim / n_out + 1;
    if (n_out - 1 > dim / chunk)
        return cvm_node_error(node, CVM_E_SHAPE, "axis %d of extent %lld cannot be split into %d outputs",
                              (int)a, (long long)dim, n_out);
    for (int i = 0; i < n_out - 1; i++)
        sizes[i] = chunk;
    sizes[n_out - 1] = dim - chunk * (n_out - 1);
    return CVM_OK;
}

static cvm_status infer_split(const cvm_infer_ctx *c)
{
    const cvm_tensor *x = c->in[0];
    if (x->ndim == 0)
        return NODE_ERR(c, CVM_E_SHAPE, "cannot split a scalar");
    int axis = 0;
    int64_t sizes[64];
    CVM_TRY(cvm_split_plan(c->node, c->opset, c->n_in, c->in, c->n_out, &axis, sizes));
    for (int i = 0; i < c->n_out; i++) {
        int64_t dims[CVM_MAX_DIMS];
        memcpy(dims, x->dims, sizeof dims);
        dims[axis] = sizes[i];
        CVM_TRY(set_out(c, i, x->dtype, x->ndim, dims));
    }
    return CVM_OK;
}

/* --------------------------------------------------------------- Slice */

cvm_status cvm_slice_plan(const cvm_node *node, int opset, int n_in, const cvm_tensor *const *in,
                          int64_t *start, int64_t *step, int64_t *out_dims)
{
    const cvm_tensor *x = in[0];
    int r = x->ndim;
    int64_t st[CVM_MAX_DIMS], en[CVM_MAX_DIMS], ax[CVM_MAX_DIMS], sp[CVM_MAX_DIMS];
    int ns = 0, ne = 0, na = -1, nsp = -1;
    if (opset < 10) {
        int p1, p2, p3;
        CVM_TRY(read_ints_attr(node, "starts", st, CVM_MAX_DIMS, &ns, &p1));
        CVM_TRY(read_ints_attr(node, "ends", en, CVM_MAX_DIMS, &ne, &p2));
        CVM_TRY(read_ints_attr(node, "axes", ax, CVM_MAX_DIMS, &na, &p3));
        if (!p1 || !p2)
            return cvm_node_error(node, CVM_E_PARSE, "attributes 'starts' and 'ends' are required");
        if (!p3)
            na = -1;
    } else {
        const cvm_tensor *ts = opt_in(n_in, in, 1), *te = opt_in(n_in, in, 2);
        const cvm_tensor *ta = opt_in(n_in, in, 3), *tp = opt_in(n_in, in, 4);
        if (!ts || !te)
            return cvm_node_error(node, CVM_E_PARSE, "inputs 'starts' and 'ends' are required");
        cvm_status s1 = read_ints_in(node, ts, "starts", st, CVM_MAX_DIMS, &ns);
        cvm_status s2 = read_ints_in(node, te, "ends", en, CVM_MAX_DIMS, &ne);
        cvm_status s3 = ta ? read_ints_in(node, ta, "axes", ax, CVM_MAX_DIMS, &na) : CVM_OK;
        cvm_status s4 = tp ? read_ints_in(node, tp, "steps", sp, CVM_MAX_DIMS, &nsp) : CVM_OK;
        cvm_status ss[4] = {s1, s2, s3, s4};
        for (int i = 0; i < 4; i++)
            if (ss[i] != CVM_OK && ss[i] != CVM_E_DYNAMIC)
                return ss[i];
        for (int i = 0; i < 4; i++)
            if (ss[i] != CVM_OK)
                return ss[i];
    }
    if (ne != ns || (na >= 0 && na != ns) || (nsp >= 0 && nsp != ns))
        return cvm_node_error(node, CVM_E_SHAPE, "starts, ends, axes and steps have different lengths");
    if (ns > r)
        return cvm_node_error(node, CVM_E_SHAPE, "%d slice entries for an input of rank %d", ns, r);
    if (na < 0)
        for (int i = 0; i < ns; i++)
            ax[i] = i;
    int mark[CVM_MAX_DIMS];
    CVM_TRY(mark_axes(node, ax, ns, r, mark));
    for (int d = 0; d < r; d++) {
        start[d] = 0;
        step[d] = 1;
        out_dims[d] = x->dims[d];
    }
    for (int i = 0; i < ns; i++) {
        int d = (int)(ax[i] < 0 ? ax[i] + r : ax[i]);
        int64_t dim = x->dims[d], s = st[i], e = en[i], k = nsp >= 0 ? sp[i] : 1;
        if (k == 0)
            return cvm_node_error(node, CVM_E_INVALID_ARG, "step on axis %d is 0", d);
        if (s < 0)
            s += dim;
        if (e < 0)
            e += dim;
        int64_t len;
        if (dim == 0) {
            s = 0;
            len = 0;
        } else if (k > 0) {
            s = s < 0 ? 0 : s > dim ? dim : s;
            e = e < 0 ? 0 : e > dim ? dim : e;
            len = e > s ? (e - s - 1) / k + 1 : 0;
        } else {
            s = s < 0 ? 0 : s > dim - 1 ? dim - 1 : s;
            e = e < -1 ? -1 : e > dim - 1 ? dim - 1 : e;
            len = s > e ? (k == INT64_MIN ? 1 : (s - e - 1) / -k + 1) : 0;
        }
        start[d] = s;
        step[d] = k;
        out_dims[d] = len;
    }
    return CVM_OK;
}

static cvm_status infer_slice(const cvm_infer_ctx *c)
{
    int64_t start[CVM_MAX_DIMS], step[CVM_MAX_DIMS], dims[CVM_MAX_DIMS];
    CVM_TRY(cvm_slice_plan(c->node, c->opset, c->n_in, c->in, start, step, dims));
    return set_out(c, 0, c->in[0]->dtype, c->in[0]->ndim, dims);
}

/* -------------------------------------------------------------- Gather */

static cvm_status infer_gather(const cvm_infer_ctx *c)
{
    const cvm_tensor *x = c->in[0], *idx = c->in[1];
    if (!is_index_dtype(idx->dtype))
        return NODE_ERR(c, CVM_E_TYPE, "indices must be int32 or int64, got %s", cvm_dtype_name(idx->dtype));
    if (x->ndim < 1)
        return NODE_ERR(c, CVM_E_SHAPE, "data must have rank >= 1");
    int axis = 0;
    CVM_TRY(norm_axis(c, cvm_attr_int(c->node, "axis", 0), x->ndim, &axis));
    int r = x->ndim + idx->ndim - 1;
    if (r > CVM_MAX_DIMS)
        return NODE_ERR(c, CVM_E_UNSUPPORTED, "output rank %d is over %d", r, CVM_MAX_DIMS);
    int64_t dims[CVM_MAX_DIMS];
    int k = 0;
    for (int i = 0; i < axis; i++)
        dims[k++] = x->dims[i];
    for (int i = 0; i < idx->ndim; i++)
        dims[k++] = idx->dims[i];
    for (int i = axis + 1; i < x->ndim; i++)
        dims[k++] = x->dims[i];
    return set_out(c, 0, x->dtype, r, dims);
}

static cvm_status infer_gather_elements(const cvm_infer_ctx *c)
{
    const cvm_tensor *x = c->in[0], *idx = c->in[1];
    if (!is_index_dtype(idx->dtype))
        return NODE_ERR(c, CVM_E_TYPE, "indices must be int32 or int64, got %s", cvm_dtype_name(idx->dtype));
    if (x->ndim < 1 || idx->ndim != x->ndim)
        return NODE_ERR(c, CVM_E_SHAPE, "data (rank %d) and indices (rank %d) must have the same rank >= 1",
                        x->ndim, idx->ndim);
    int axis = 0;
    CVM_TRY(norm_axis(c, cvm_attr_int(c->node, "axis", 0), x->ndim, &axis));
    for (int i = 0; i < x->ndim; i++)
        if (i != axis && idx->dims[i] > x->dims[i])
            return NODE_ERR(c, CVM_E_SHAPE, "indices extent %lld on axis %d exceeds the data's %lld",
                            (long long)idx->dims[i], i, (long long)x->dims[i]);
    return set_out(c, 0, x->dtype, idx->ndim, idx->dims);
}

static cvm_status infer_gather_nd(const cvm_infer_ctx *c)
{
    const cvm_tensor *x = c->in[0], *idx = c->in[1];
    if (idx->dtype != CVM_DTYPE_INT64 && idx->dtype != CVM_DTYPE_INT32)
        return NODE_ERR(c, CVM_E_TYPE, "indices must be int64, got %s", cvm_dtype_name(idx->dtype));
    int64_t b = c->opset >= 12 ? cvm_attr_int(c->node, "batch_dims", 0) : 0;
    if (x->ndim < 1 || idx->ndim < 1)
        return NODE_ERR(c, CVM_E_SHAPE, "data and indices must have rank >= 1");
    if (b < 0 || b >= x->ndim || b >= idx->ndim)
        return NODE_ERR(c, CVM_E_SHAPE, "batch_dims %lld is out of range", (long long)b);
    int64_t k = idx->dims[idx->ndim - 1];
    if (k < 1 || k > x->ndim - b)
        return NODE_ERR(c, CVM_E_SHAPE, "index tuples of length %lld do not fit data of rank %d with batch_dims %lld",
                        (long long)k, x->ndim, (long long)b);
    for (int i = 0; i < b; i++)
        if (x->dims[i] != idx->dims[i])
            return NODE_ERR(c, CVM_E_SHAPE, "batch dim %d differs between data (%lld) and indices (%lld)", i,
                            (long long)x->dims[i], (long long)idx->dims[i]);
    int r = idx->ndim - 1 + x->ndim - (int)b - (int)k;
    if (r > CVM_MAX_DIMS)
        return NODE_ERR(c, CVM_E_UNSUPPORTED, "output rank %d is over %d", r, CVM_MAX_DIMS);
    int64_t dims[CVM_MAX_DIMS];
    int n = 0;
    for (int i = 0; i < idx->ndim - 1; i++)
        dims[n++] = idx->dims[i];
    for (int i = (int)(b + k); i < x->ndim; i++)
        dims[n++] = x->dims[i];
    return set_out(c, 0, x->dtype, r, dims);
}

/* ------------------------------------------------------------- Scatter */

cvm_status cvm_scatter_reduction(const cvm_node *node, int opset, int *red)
{
    const char *s = opset >= 16 ? cvm_attr_string(node, "reduction", "none") : "none";
    if (strcmp(s, "none") == 0)
        *red = CVM_REDUCE_NONE;
    else if (strcmp(s, "add") == 0)
        *red = CVM_REDUCE_ADD;
    else if (strcmp(s, "mul") == 0)
        *red = CVM_REDUCE_MUL;
    else if (strcmp(s, "max") == 0 && opset >= 18)
        *red = CVM_REDUCE_MAX;
    else if (strcmp(s, "min") == 0 && opset >= 18)
        *red = CVM_REDUCE_MIN;
    else
        return cvm_node_error(node, CVM_E_UNSUPPORTED, "reduction '%s' is not supported in opset %d", s, opset);
    return CVM_OK;
}

static cvm_status infer_scatter_elements(const cvm_infer_ctx *c)
{
    const cvm_tensor *x = c->in[0], *idx = c->in[1], *u = c->in[2];
    int red = 0, axis = 0;
    CVM_TRY(cvm_scatter_reduction(c->node, c->opset, &red));
    if (!is_index_dtype(idx->dtype))
        return NODE_ERR(c, CVM_E_TYPE, "indices must be int32 or int64, got %s", cvm_dtype_name(idx->dtype));
    if (u->dtype != x->dtype)
        return NODE_ERR(c, CVM_E_TYPE, "updates are %s but data is %s", cvm_dtype_name(u->dtype),
                        cvm_dtype_name(x->dtype));
    if (x->ndim < 1 || idx->ndim != x->ndim || u->ndim != x->ndim)
        return NODE_ERR(c, CVM_E_SHAPE, "data, indices and updates must have the same rank >= 1");
    CVM_TRY(norm_axis(c, cvm_attr_int(c->node, "axis", 0), x->ndim, &axis));
    char sa[160], sb[160];
    for (int i = 0; i < x->ndim; i++) {
        if (idx->dims[i] != u->dims[i])
            return NODE_ERR(c, CVM_E_SHAPE, "indices %s and updates %s differ in shape",
                            cvm_shape_str(idx->ndim, idx->dims, sa, sizeof sa),
                            cvm_shape_str(u->ndim, u->dims, sb, sizeof sb));
        if (i != axis && idx->dims[i] > x->dims[i])
            return NODE_ERR(c, CVM_E_SHAPE, "indices extent %lld on axis %d exceeds the data's %lld",
                            (long long)idx->dims[i], i, (long long)x->dims[i]);
    }
    return set_out(c, 0, x->dtype, x->ndim, x->dims);
}

static cvm_status infer_scatter_nd(const cvm_infer_ctx *c)
{
    const cvm_tensor *x = c->in[0], *idx = c->in[1], *u = c->in[2];
    int red = 0;
    CVM_TRY(cvm_scatter_reduction(c->node, c->opset, &red));
    if (!is_index_dtype(idx->dtype))
        return NODE_ERR(c, CVM_E_TYPE, "indices must be int64, got %s", cvm_dtype_name(idx->dtype));
    if (u->dtype != x->dtype)
        return NODE_ERR(c, CVM_E_TYPE, "updates are %s but data is %s", cvm_dtype_name(u->dtype),
                        cvm_dtype_name(x->dtype));
    if (x->ndim < 1 || idx->ndim < 1)
        return NODE_ERR(c, CVM_E_SHAPE, "data and indices must have rank >= 1");
    int64_t k = idx->dims[idx->ndim - 1];
    if (k < 1 || k > x->ndim)
        return NODE_ERR(c, CVM_E_SHAPE, "index tuples of length %lld do not fit data of rank %d", (long long)k,
                        x->ndim);
    int ur = idx->ndim - 1 + x->ndim - (int)k;
    int ok = u->ndim == ur;
    for (int i = 0; ok && i < idx->ndim - 1; i++)
        ok = u->dims[i] == idx->dims[i];
    for (int i = 0; ok && i < x->ndim - k; i++)
        ok = u->dims[idx->ndim - 1 + i] == x->dims[k + i];
    if (!ok) {
        char sa[160];
        return NODE_ERR(c, CVM_E_SHAPE, "updates of shape %s do not match indices and data",
                        cvm_shape_str(u->ndim, u->dims, sa, sizeof sa));
    }
    return set_out(c, 0, x->dtype, x->ndim, x->dims);
}

/* ---------------------------------------------------------- Expand, Tile */

static cvm_status infer_expand(const cvm_infer_ctx *c)
{
    const cvm_tensor *x = c->in[0];
    int64_t shp[CVM_MAX_DIMS], dims[CVM_MAX_DIMS];
    int n = 0, nout = 0;
    CVM_TRY(read_ints_in(c->node, c->in[1], "shape", shp, CVM_MAX_DIMS, &n));
    for (int i = 0; i < n; i++)
        if (shp[i] < 0)
            return NODE_ERR(c, CVM_E_SHAPE, "shape entry %d is %lld", i, (long long)shp[i]);
    if (cvm_broadcast_shape(x->ndim, x->dims, n, shp, &nout, dims) != CVM_OK)
        return cvm_error_wrap(CVM_E_SHAPE, "%s node '%s'", c->node->op_type, c->node->name ? c->node->name : "");
    return set_out(c, 0, x->dtype, nout, dims);
}

static cvm_status infer_tile(const cvm_infer_ctx *c)
{
    const cvm_tensor *x = c->in[0];
    int64_t rep[CVM_MAX_DIMS], dims[CVM_MAX_DIMS];
    int n = 0;
    if (c->opset < 6) {
        /* Tile-1: one axis and a repeat count as scalar inputs. */
        if (c->n_in < 3 || !c->in[1] || !c->in[2])
            return NODE_ERR(c, CVM_E_PARSE, "inputs 'tiles' and 'axis' are required");
        CVM_TRY(scalar_in(c, 1, "tiles"));
        CVM_TRY(scalar_in(c, 2, "axis"));
        int axis = 0;
        CVM_TRY(norm_axis(c, cvm_tensor_get_i64(c->in[2], 0), x->ndim, &axis));
        for (int i = 0; i < x->ndim; i++)
            rep[i] = 1;
        rep[axis] = cvm_tensor_get_i64(c->in[1], 0);
        n = x->ndim;
    } else {
        if (c->n_in < 2 || !c->in[1])
            return NODE_ERR(c, CVM_E_PARSE, "input 'repeats' is missing");
        CVM_TRY(read_ints_in(c->node, c->in[1], "repeats", rep, CVM_MAX_DIMS, &n));
    }
    if (n != x->ndim)
        return NODE_ERR(c, CVM_E_SHAPE, "repeats has %d entries for an input of rank %d", n, x->ndim);
    for (int i = 0; i < n; i++) {
        if (rep[i] < 0)
            return NODE_ERR(c, CVM_E_SHAPE, "repeat %lld on axis %d is negative", (long long)rep[i], i);
        if (x->dims[i] && rep[i] > INT64_MAX / x->dims[i])
            return NODE_ERR(c, CVM_E_LIMIT, "tiled extent of axis %d overflows", i);
        dims[i] = x->dims[i] * rep[i];
    }
    return set_out(c, 0, x->dtype, n, dims);
}

/* ----------------------------------------------------------------- Pad */

cvm_status cvm_pad_plan(const cvm_node *node, int opset, int n_in, const cvm_tensor *const *in,
                        int64_t *begin, int64_t *end, int *mode)
{
    const cvm_tensor *x = in[0];
    int r = x->ndim;
    int64_t pads[2 * CVM_MAX_DIMS], axes[CVM_MAX_DIMS];
    int np = 0, na = -1;
    const char *m = cvm_attr_string(node, "mode", "constant");
    if (strcmp(m, "constant") == 0)
        *mode = CVM_PAD_CONSTANT;
    else if (strcmp(m, "reflect") == 0)
        *mode = CVM_PAD_REFLECT;
    else if (strcmp(m, "edge") == 0)
        *mode = CVM_PAD_EDGE;
    else if (strcmp(m, "wrap") == 0 && opset >= 19)
        *mode = CVM_PAD_WRAP;
    else
        return cvm_node_error(node, CVM_E_UNSUPPORTED, "mode '%s' is not supported in opset %d", m, opset);
    if (opset < 11) {
        int present;
        CVM_TRY(read_ints_attr(node, opset < 2 ? "paddings" : "pads", pads, 2 * CVM_MAX_DIMS, &np, &present));
        if (!present)
            return cvm_node_error(node, CVM_E_PARSE, "attribute '%s' is missing", opset < 2 ? "paddings" : "pads");
    } else {
        const cvm_tensor *tp = opt_in(n_in, in, 1), *ta = opset >= 18 ? opt_in(n_in, in, 3) : NULL;
        if (!tp)
            return cvm_node_error(node, CVM_E_PARSE, "input 'pads' is missing");
        cvm_status s1 = read_ints_in(node, tp, "pads", pads, 2 * CVM_MAX_DIMS, &np);
        cvm_status s2 = ta ? read_ints_in(node, ta, "axes", axes, CVM_MAX_DIMS, &na) : CVM_OK;
        if (s1 != CVM_OK && s1 != CVM_E_DYNAMIC)
            return s1;
        if (s2 != CVM_OK)
            return s2;
        if (s1 != CVM_OK)
            return s1;
    }
    if (na < 0) {
        na = r;
        for (int i = 0; i < r; i++)
            axes[i] = i;
    }
    if (np != 2 * na)
        return cvm_node_error(node, CVM_E_SHAPE, "pads has %d entries; %d are needed", np, 2 * na);
    int mark[CVM_MAX_DIMS];
    CVM_TRY(mark_axes(node, axes, na, r, mark));
    for (int d = 0; d < r; d++)
        begin[d] = end[d] = 0;
    for (int i = 0; i < na; i++) {
        int d = (int)(axes[i] < 0 ? axes[i] + r : axes[i]);
        int64_t b = pads[i], e = pads[na + i];
        if (b > TENSOR_MAX_COUNT || b < -TENSOR_MAX_COUNT || e > TENSOR_MAX_COUNT || e < -TENSOR_MAX_COUNT)
            return cvm_node_error(node, CVM_E_LIMIT, "pads %lld/%lld on axis %d are too large", (long long)b,
                                  (long long)e, d);
        begin[d] = b;
        end[d] = e;
        int64_t dim = x->dims[d];
        if (dim + b + e < 0 || -b > dim || -e > dim)
            return cvm_node_error(node, CVM_E_SHAPE, "pads %lld/%lld crop more than the extent %lld of axis %d",
                                  (long long)b, (long long)e, (long long)dim, d);
        if (*mode != CVM_PAD_CONSTANT && dim == 0 && dim + b + e > 0)
            return cvm_node_error(node, CVM_E_SHAPE, "mode '%s' cannot pad the empty axis %d", m, d);
    }
    return CVM_OK;
}

static cvm_status infer_pad(const cvm_infer_ctx *c)
{
    const cvm_tensor *x = c->in[0];
    int64_t b[CVM_MAX_DIMS], e[CVM_MAX_DIMS], dims[CVM_MAX_DIMS];
    int mode = 0;
    CVM_TRY(cvm_pad_plan(c->node, c->opset, c->n_in, c->in, b, e, &mode));
    const cvm_tensor *cv = c->opset >= 11 ? opt_in(c->n_in, c->in, 2) : NULL;
    if (cv && (cvm_tensor_numel(cv) != 1 || cv->dtype != x->dtype))
        return NODE_ERR(c, CVM_E_SHAPE, "constant_value must be one %s value", cvm_dtype_name(x->dtype));
    for (int d = 0; d < x->ndim; d++)
        dims[d] = x->dims[d] + b[d] + e[d];
    return set_out(c, 0, x->dtype, x->ndim, dims);
}

/* -------------------------------------------- Squeeze, Unsqueeze, Flatten */

static cvm_status axes_of(const cvm_infer_ctx *c, int input_from_opset, int64_t *axes, int *n, int *present)
{
    *present = 0;
    *n = 0;
    if (c->opset < input_from_opset)
        return read_ints_attr(c->node, "axes", axes, CVM_MAX_DIMS, n, present);
    if (c->n_in < 2 || !c->in[1])
        return CVM_OK;
    *present = 1;
    return read_ints_in(c->node, c->in[1], "axes", axes, CVM_MAX_DIMS, n);
}

static cvm_status infer_squeeze(const cvm_infer_ctx *c)
{
    const cvm_tensor *x = c->in[0];
    int64_t axes[CVM_MAX_DIMS], dims[CVM_MAX_DIMS];
    int n = 0, present = 0, mark[CVM_MAX_DIMS];
    CVM_TRY(axes_of(c, 13, axes, &n, &present));
    if (present) {
        CVM_TRY(mark_axes(c->node, axes, n, x->ndim, mark));
        for (int d = 0; d < x->ndim; d++)
            if (mark[d] && x->dims[d] != 1)
                return NODE_ERR(c, CVM_E_SHAPE, "cannot squeeze axis %d of extent %lld", d, (long long)x->dims[d]);
    } else {
        for (int d = 0; d < x->ndim; d++)
            mark[d] = x->dims[d] == 1;
    }
    int k = 0;
    for (int d = 0; d < x->ndim; d++)
        if (!mark[d])
            dims[k++] = x->dims[d];
    return set_out(c, 0, x->dtype, k, dims);
}

static cvm_status infer_unsqueeze(const cvm_infer_ctx *c)
{
    const cvm_tensor *x = c->in[0];
    int64_t axes[CVM_MAX_DIMS], dims[CVM_MAX_DIMS];
    int n = 0, present = 0, mark[CVM_MAX_DIMS];
    CVM_TRY(axes_of(c, 13, axes, &n, &present));
    if (!present)
        return NODE_ERR(c, CVM_E_PARSE, "axes are missing");
    int r = x->ndim + n;
    if (r > CVM_MAX_DIMS)
        return NODE_ERR(c, CVM_E_UNSUPPORTED, "output rank %d is over %d", r, CVM_MAX_DIMS);
    CVM_TRY(mark_axes(c->node, axes, n, r, mark));
    int k = 0;
    for (int d = 0; d < r; d++)
        dims[d] = mark[d] ? 1 : x->dims[k++];
    return set_out(c, 0, x->dtype, r, dims);
}

static cvm_status infer_flatten(const cvm_infer_ctx *c)
{
    const cvm_tensor *x = c->in[0];
    int64_t axis = cvm_attr_int(c->node, "axis", 1);
    if (axis < 0)
        axis += x->ndim;
    if (axis < 0 || axis > x->ndim)
        return NODE_ERR(c, CVM_E_SHAPE, "axis %lld is out of range for rank %d",
                        (long long)cvm_attr_int(c->node, "axis", 1), x->ndim);
    int64_t dims[2];
    if (!cvm_shape_numel((int)axis, x->dims, &dims[0]) ||
        !cvm_shape_numel(x->ndim - (int)axis, x->dims + axis, &dims[1]))
        return NODE_ERR(c, CVM_E_SHAPE, "input shape overflows");
    return set_out(c, 0, x->dtype, 2, dims);
}

/* ------------------------------------------- DepthToSpace, SpaceToDepth */

static cvm_status infer_depth_to_space(const cvm_infer_ctx *c)
{
    const cvm_tensor *x = c->in[0];
    int64_t b = cvm_attr_int(c->node, "blocksize", 0);
    const char *mode = cvm_attr_string(c->node, "mode", "DCR");
    if (strcmp(mode, "DCR") != 0 && strcmp(mode, "CRD") != 0)
        return NODE_ERR(c, CVM_E_UNSUPPORTED, "mode '%s' is not supported", mode);
    if (x->ndim != 4)
        return NODE_ERR(c, CVM_E_SHAPE, "input must be 4-D, got rank %d", x->ndim);
    if (b < 1 || b > 65536)
        return NODE_ERR(c, CVM_E_INVALID_ARG, "blocksize %lld is invalid", (long long)b);
    if (x->dims[1] % (b * b) != 0)
        return NODE_ERR(c, CVM_E_SHAPE, "channels %lld are not a multiple of blocksize^2 = %lld",
                        (long long)x->dims[1], (long long)(b * b));
    if (x->dims[2] > INT64_MAX / b || x->dims[3] > INT64_MAX / b)
        return NODE_ERR(c, CVM_E_SHAPE, "output extent overflows");
    int64_t dims[4] = {x->dims[0], x->dims[1] / (b * b), x->dims[2] * b, x->dims[3] * b};
    return set_out(c, 0, x->dtype, 4, dims);
}

static cvm_status infer_space_to_depth(const cvm_infer_ctx *c)
{
    const cvm_tensor *x = c->in[0];
    int64_t b = cvm_attr_int(c->node, "blocksize", 0);
    const char *mode = cvm_attr_string(c->node, "mode", "DCR");
    if (strcmp(mode, "DCR") != 0 && strcmp(mode, "CRD") != 0)
        return NODE_ERR(c, CVM_E_UNSUPPORTED, "mode '%s' is not supported", mode);
    if (x->ndim != 4)
        return NODE_ERR(c, CVM_E_SHAPE, "input must be 4-D, got rank %d", x->ndim);
    if (b < 1 || b > 65536)
        return NODE_ERR(c, CVM_E_INVALID_ARG, "blocksize %lld is invalid", (long long)b);
    if (x->dims[2] % b || x->dims[3] % b)
        return NODE_ERR(c, CVM_E_SHAPE, "height %lld and width %lld must be multiples of blocksize %lld",
                        (long long)x->dims[2], (long long)x->dims[3], (long long)b);
    if (x->dims[1] > INT64_MAX / (b * b))
        return NODE_ERR(c, CVM_E_SHAPE, "output extent overflows");
    int64_t dims[4] = {x->dims[0], x->dims[1] * b * b, x->dims[2] / b, x->dims[3] / b};
    return set_out(c, 0, x->dtype, 4, dims);
}

/* ---------------------------------------- Range, ConstantOfShape, Constant */

static cvm_status infer_range(const cvm_infer_ctx *c)
{
    cvm_dtype dt = c->in[0]->dtype;
    for (int i = 0; i < 3; i++) {
        if (c->in[i]->dtype != dt)
            return NODE_ERR(c, CVM_E_TYPE, "start, limit and delta must have the same type");
        if (cvm_tensor_numel(c->in[i]) != 1 || c->in[i]->ndim > 1)
            return NODE_ERR(c, CVM_E_SHAPE, "input %d must be a scalar", i);
    }
    for (int i = 0; i < 3; i++)
        if (!c->in[i]->data)
            return CVM_E_DYNAMIC;
    int64_t n;
    if (cvm_dtype_is_float(dt)) {
        double s = cvm_tensor_get_f64(c->in[0], 0), l = cvm_tensor_get_f64(c->in[1], 0);
        double d = cvm_tensor_get_f64(c->in[2], 0);
        if (d == 0 || !isfinite(s) || !isfinite(l) || !isfinite(d))
            return NODE_ERR(c, CVM_E_INVALID_ARG, "start %g, limit %g and delta %g give no finite range", s, l, d);
        /* Count in the element type like the reference does, so that float32
         * rounding gives the same length. */
        double q = dt == CVM_DTYPE_FLOAT64 ? ceil((l - s) / d) : ceil((double)(((float)l - (float)s) / (float)d));
        if (q > (double)TENSOR_MAX_COUNT)
            return NODE_ERR(c, CVM_E_LIMIT, "range of %g elements is too large", q);
        n = q > 0 ? (int64_t)q : 0;
    } else if (dt == CVM_DTYPE_INT16 || dt == CVM_DTYPE_INT32 || dt == CVM_DTYPE_INT64) {
        int64_t s = cvm_tensor_get_i64(c->in[0], 0), l = cvm_tensor_get_i64(c->in[1], 0);
        int64_t d = cvm_tensor_get_i64(c->in[2], 0);
        if (d == 0)
            return NODE_ERR(c, CVM_E_INVALID_ARG, "delta is 0");
        uint64_t span, step;
        if (d > 0) {
            span = l > s ? (uint64_t)l - (uint64_t)s : 0;
            step = (uint64_t)d;
        } else {
            span = s > l ? (uint64_t)s - (uint64_t)l : 0;
            step = (uint64_t)0 - (uint64_t)d;
        }
        uint64_t q = span ? (span - 1) / step + 1 : 0;
        if (q > (uint64_t)TENSOR_MAX_COUNT)
            return NODE_ERR(c, CVM_E_LIMIT, "range of %llu elements is too large", (unsigned long long)q);
        n = (int64_t)q;
    } else {
        return NODE_ERR(c, CVM_E_TYPE, "element type %s is not supported", cvm_dtype_name(dt));
    }
    return set_out(c, 0, dt, 1, &n);
}

static cvm_status infer_constant_of_shape(const cvm_infer_ctx *c)
{
    const cvm_attr *v = cvm_node_attr(c->node, "value");
    cvm_dtype dt = CVM_DTYPE_FLOAT32;
    if (v) {
        if (v->type != CVM_ATTR_TENSOR || !v->t || cvm_tensor_numel(v->t) != 1)
            return NODE_ERR(c, CVM_E_PARSE, "attribute 'value' must be a one-element tensor");
        dt = v->t->dtype;
    }
    int64_t dims[CVM_MAX_DIMS];
    int n = 0;
    if (c->in[0]->dtype != CVM_DTYPE_INT64)
        return NODE_ERR(c, CVM_E_TYPE, "input must be int64, got %s", cvm_dtype_name(c->in[0]->dtype));
    if (c->in[0]->ndim != 1)
        return NODE_ERR(c, CVM_E_SHAPE, "input must be 1-D, got rank %d", c->in[0]->ndim);
    CVM_TRY(read_ints_in(c->node, c->in[0], "input", dims, CVM_MAX_DIMS, &n));
    return set_out(c, 0, dt, n, dims);
}

static cvm_status infer_constant(const cvm_infer_ctx *c)
{
    const cvm_attr *a;
    if ((a = cvm_node_attr(c->node, "value"))) {
        if (a->type != CVM_ATTR_TENSOR || !a->t)
            return NODE_ERR(c, CVM_E_PARSE, "attribute 'value' is not a tensor");
        return set_out(c, 0, a->t->dtype, a->t->ndim, a->t->dims);
    }
    if (cvm_node_attr(c->node, "value_float"))
        return set_out(c, 0, CVM_DTYPE_FLOAT32, 0, NULL);
    if (cvm_node_attr(c->node, "value_int"))
        return set_out(c, 0, CVM_DTYPE_INT64, 0, NULL);
    if ((a = cvm_node_attr(c->node, "value_floats"))) {
        int64_t n = (int64_t)a->n;
        return set_out(c, 0, CVM_DTYPE_FLOAT32, 1, &n);
    }
    if ((a = cvm_node_attr(c->node, "value_ints"))) {
        int64_t n = (int64_t)a->n;
        return set_out(c, 0, CVM_DTYPE_INT64, 1, &n);
    }
    return NODE_ERR(c, CVM_E_UNSUPPORTED, "has no supported value attribute (sparse and string values are not supported)");
}

/* -------------------------------------------------- Shape, Size, NonZero */

static cvm_status infer_shape(const cvm_infer_ctx *c)
{
    int r = c->in[0]->ndim;
    int64_t s = c->opset >= 15 ? cvm_attr_int(c->node, "start", 0) : 0;
    int64_t e = c->opset >= 15 ? cvm_attr_int(c->node, "end", r) : r;
    s = s < 0 ? s + r : s;
    e = e < 0 ? e + r : e;
    s = s < 0 ? 0 : s > r ? r : s;
    e = e < 0 ? 0 : e > r ? r : e;
    int64_t n = e > s ? e - s : 0;
    return set_out(c, 0, CVM_DTYPE_INT64, 1, &n);
}

static cvm_status infer_size(const cvm_infer_ctx *c) { return set_out(c, 0, CVM_DTYPE_INT64, 0, NULL); }

static cvm_status infer_nonzero(const cvm_infer_ctx *c)
{
    const cvm_tensor *x = c->in[0];
    if (!x->data)
        return CVM_E_DYNAMIC;
    int64_t n = cvm_tensor_numel(x), nz = 0;
    for (int64_t i = 0; i < n; i++)
        nz += cvm_tensor_get_f64(x, i) != 0 || cvm_tensor_get_i64(x, i) != 0;
    int64_t dims[2] = {x->ndim ? x->ndim : 1, nz};
    return set_out(c, 0, CVM_DTYPE_INT64, 2, dims);
}

/* ---------------------------------------------------------------- TopK */

static cvm_status infer_topk(const cvm_infer_ctx *c)
{
    const cvm_tensor *x = c->in[0];
    int axis = 0;
    if (x->ndim < 1)
        return NODE_ERR(c, CVM_E_SHAPE, "input must have rank >= 1");
    CVM_TRY(norm_axis(c, cvm_attr_int(c->node, "axis", -1), x->ndim, &axis));
    int64_t k;
    if (c->opset < 10) {
        const cvm_attr *a = cvm_node_attr(c->node, "k");
        if (!a)
            return NODE_ERR(c, CVM_E_PARSE, "attribute 'k' is missing");
        k = a->i;
    } else {
        if (c->n_in < 2 || !c->in[1])
            return NODE_ERR(c, CVM_E_PARSE, "input 'K' is missing");
        CVM_TRY(scalar_in(c, 1, "K"));
        k = cvm_tensor_get_i64(c->in[1], 0);
    }
    if (k < 0 || k > x->dims[axis])
        return NODE_ERR(c, CVM_E_INVALID_ARG, "k = %lld is outside 0..%lld (extent of axis %d)", (long long)k,
                        (long long)x->dims[axis], axis);
    int64_t dims[CVM_MAX_DIMS];
    memcpy(dims, x->dims, sizeof dims);
    dims[axis] = k;
    CVM_TRY(set_out(c, 0, x->dtype, x->ndim, dims));
    return set_out(c, 1, CVM_DTYPE_INT64, x->ndim, dims);
}

/* ------------------------------------------------- Trilu, CumSum, EyeLike */

static cvm_status infer_trilu(const cvm_infer_ctx *c)
{
    const cvm_tensor *x = c->in[0];
    if (x->ndim < 2)
        return NODE_ERR(c, CVM_E_SHAPE, "input must have rank >= 2, got %d", x->ndim);
    if (c->n_in > 1 && c->in[1] && cvm_tensor_numel(c->in[1]) != 1)
        return NODE_ERR(c, CVM_E_SHAPE, "k must be a single value");
    return set_out(c, 0, x->dtype, x->ndim, x->dims);
}

static cvm_status infer_cumsum(const cvm_infer_ctx *c)
{
    const cvm_tensor *x = c->in[0], *a = c->in[1];
    if (x->ndim < 1)
        return NODE_ERR(c, CVM_E_SHAPE, "input must have rank >= 1");
    if (cvm_tensor_numel(a) != 1 || a->ndim > 1 || !is_index_dtype(a->dtype))
        return NODE_ERR(c, CVM_E_SHAPE, "axis must be a single int32 or int64 value");
    if (a->data) {
        int axis = 0;
        CVM_TRY(norm_axis(c, cvm_tensor_get_i64(a, 0), x->ndim, &axis));
    }
    return set_out(c, 0, x->dtype, x->ndim, x->dims);
}

static cvm_status infer_eye_like(const cvm_infer_ctx *c)
{
    const cvm_tensor *x = c->in[0];
    if (x->ndim != 2)
        return NODE_ERR(c, CVM_E_SHAPE, "input must be 2-D, got rank %d", x->ndim);
    const cvm_attr *a = cvm_node_attr(c->node, "dtype");
    cvm_dtype dt = x->dtype;
    if (a) {
        if (!cvm_dtype_valid((int)a->i))
            return NODE_ERR(c, CVM_E_UNSUPPORTED, "dtype %lld is not supported", (long long)a->i);
        dt = (cvm_dtype)a->i;
    }
    return set_out(c, 0, dt, 2, x->dims);
}

/* ------------------------------------------------------------- OneHot */

static cvm_status infer_onehot(const cvm_infer_ctx *c)
{
    const cvm_tensor *idx = c->in[0], *depth = c->in[1], *vals = c->in[2];
    if (cvm_tensor_numel(vals) != 2 || vals->ndim != 1)
        return NODE_ERR(c, CVM_E_SHAPE, "values must hold [off_value, on_value]");
    int r = idx->ndim + 1;
    if (r > CVM_MAX_DIMS)
        return NODE_ERR(c, CVM_E_UNSUPPORTED, "output rank %d is over %d", r, CVM_MAX_DIMS);
    int axis = 0;
    CVM_TRY(norm_axis(c, cvm_attr_int(c->node, "axis", -1), r, &axis));
    CVM_TRY(scalar_in(c, 1, "depth"));
    double dv = cvm_tensor_get_f64(depth, 0);
    if (!(dv >= 1) || dv > (double)TENSOR_MAX_COUNT)
        return NODE_ERR(c, CVM_E_INVALID_ARG, "depth %g is invalid", dv);
    int64_t dims[CVM_MAX_DIMS];
    int k = 0;
    for (int d = 0; d < r; d++)
        dims[d] = d == axis ? (int64_t)dv : idx->dims[k++];
    return set_out(c, 0, vals->dtype, r, dims);
}

/* ------------------------------------------------------------ Compress */

static cvm_status infer_compress(const cvm_infer_ctx *c)
{
    const cvm_tensor *x = c->in[0], *cond = c->in[1];
    if (cond->ndim != 1)
        return NODE_ERR(c, CVM_E_SHAPE, "condition must be 1-D, got rank %d", cond->ndim);
    const cvm_attr *a = cvm_node_attr(c->node, "axis");
    int axis = -1;
    int64_t extent = cvm_tensor_numel(x);
    if (a) {
        CVM_TRY(norm_axis(c, a->i, x->ndim, &axis));
        extent = x->dims[axis];
    }
    if (cond->dims[0] > extent)
        return NODE_ERR(c, CVM_E_SHAPE, "condition has %lld entries for an extent of %lld",
                        (long long)cond->dims[0], (long long)extent);
    if (!cond->data)
        return CVM_E_DYNAMIC;
    int64_t kept = 0;
    for (int64_t i = 0; i < cond->dims[0]; i++)
        kept += cvm_tensor_get_f64(cond, i) != 0;
    if (axis < 0)
        return set_out(c, 0, x->dtype, 1, &kept);
    int64_t dims[CVM_MAX_DIMS];
    memcpy(dims, x->dims, sizeof dims);
    dims[axis] = kept;
    return set_out(c, 0, x->dtype, x->ndim, dims);
}

/* ---------------------------------------------------- ReverseSequence */

static cvm_status infer_reverse_sequence(const cvm_infer_ctx *c)
{
    const cvm_tensor *x = c->in[0], *len = c->in[1];
    int64_t ba = cvm_attr_int(c->node, "batch_axis", 1), ta = cvm_attr_int(c->node, "time_axis", 0);
    if (x->ndim < 2)
        return NODE_ERR(c, CVM_E_SHAPE, "input must have rank >= 2");
    if (!((ba == 0 && ta == 1) || (ba == 1 && ta == 0)))
        return NODE_ERR(c, CVM_E_INVALID_ARG, "batch_axis %lld and time_axis %lld must be 0 and 1", (long long)ba,
                        (long long)ta);
    if (!is_index_dtype(len->dtype) || len->ndim != 1 || len->dims[0] != x->dims[ba])
        return NODE_ERR(c, CVM_E_SHAPE, "sequence_lens must be an int64 vector of the batch size %lld",
                        (long long)x->dims[ba]);
    return set_out(c, 0, x->dtype, x->ndim, x->dims);
}

const cvm_op_schema cvm_schemas_tensor[] = {
    {"", "Reshape", 1, 2, 1, 1, infer_reshape, 0},
    {"", "Transpose", 1, 1, 1, 1, infer_transpose, 0},
    {"", "Concat", 1, -1, 1, 1, infer_concat, 0},
    {"", "Split", 1, 2, 1, -1, infer_split, 0},
    {"", "Slice", 1, 5, 1, 1, infer_slice, 0},
    {"", "Gather", 2, 2, 1, 1, infer_gather, 0},
    {"", "GatherElements", 2, 2, 1, 1, infer_gather_elements, 0},
    {"", "GatherND", 2, 2, 1, 1, infer_gather_nd, 0},
    {"", "ScatterElements", 3, 3, 1, 1, infer_scatter_elements, 0},
    {"", "Scatter", 3, 3, 1, 1, infer_scatter_elements, 0},
    {"", "ScatterND", 3, 3, 1, 1, infer_scatter_nd, 0},
    {"", "Expand", 2, 2, 1, 1, infer_expand, 0},
    {"", "Tile", 2, 3, 1, 1, infer_tile, 0},
    {"", "Pad", 1, 4, 1, 1, infer_pad, 0},
    {"", "Squeeze", 1, 2, 1, 1, infer_squeeze, 0},
    {"", "Unsqueeze", 1, 2, 1, 1, infer_unsqueeze, 0},
    {"", "Flatten", 1, 1, 1, 1, infer_flatten, 0},
    {"", "DepthToSpace", 1, 1, 1, 1, infer_depth_to_space, 0},
    {"", "SpaceToDepth", 1, 1, 1, 1, infer_space_to_depth, 0},
    {"", "Range", 3, 3, 1, 1, infer_range, 0},
    {"", "ConstantOfShape", 1, 1, 1, 1, infer_constant_of_shape, 0},
    {"", "Constant", 0, 0, 1, 1, infer_constant, 0},
    {"", "Shape", 1, 1, 1, 1, infer_shape, CVM_SCHEMA_SHAPE_ONLY},
    {"", "Size", 1, 1, 1, 1, infer_size, CVM_SCHEMA_SHAPE_ONLY},
    {"", "NonZero", 1, 1, 1, 1, infer_nonzero, 0},
    {"", "TopK", 1, 2, 2, 2, infer_topk, 0},
    {"", "Trilu", 1, 2, 1, 1, infer_trilu, 0},
    {"", "CumSum", 2, 2, 1, 1, infer_cumsum, 0},
    {"", "OneHot", 3, 3, 1, 1, infer_onehot, 0},
    {"", "EyeLike", 1, 1, 1, 1, infer_eye_like, 0},
    {"", "Compress", 2, 2, 1, 1, infer_compress, 0},
    {"", "ReverseSequence", 2, 2, 1, 1, infer_reverse_sequence, 0},
    {0},
};
