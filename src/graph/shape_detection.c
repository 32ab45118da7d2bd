/* Schemas of detection-specific operators (NonMaxSuppression). */
#include "graph/nms_select.h"
#include "graph/schema_tables.h"

/* Reads the problem from the node's inputs; all data must be present. */
static cvm_status nms_problem(const cvm_infer_ctx *c, cvm_nms_problem *p)
{
    const cvm_tensor *boxes = c->in[0], *scores = c->in[1];
    if (boxes->dtype != CVM_DTYPE_FLOAT32 || scores->dtype != CVM_DTYPE_FLOAT32)
        return cvm_node_error(c->node, CVM_E_TYPE, "boxes and scores must be float32, got %s and %s",
                              cvm_dtype_name(boxes->dtype), cvm_dtype_name(scores->dtype));
    if (boxes->ndim != 3 || boxes->dims[2] != 4 || scores->ndim != 3 || scores->dims[0] != boxes->dims[0] ||
        scores->dims[2] != boxes->dims[1]) {
        char a[128], b[128];
        return cvm_node_error(c->node, CVM_E_SHAPE, "boxes %s and scores %s must be [B,N,4] and [B,C,N]",
                              cvm_shape_str(boxes->ndim, boxes->dims, a, sizeof a),
                              cvm_shape_str(scores->ndim, scores->dims, b, sizeof b));
    }
    p->boxes = boxes->data;
    p->scores = scores->data;
    p->B = boxes->dims[0];
    p->N = boxes->dims[1];
    p->C = scores->dims[1];
    p->max_per_class = 0;
    p->iou_threshold = 0;
    p->score_threshold = 0;
    p->has_score_threshold = 0;
    p->center_point_box = (int)cvm_attr_int(c->node, "center_point_box", 0);
    if (p->center_point_box != 0 && p->center_point_box != 1)
        return cvm_node_error(c->node, CVM_E_INVALID_ARG, "center_point_box must be 0 or 1, got %d",
                              p->center_point_box);
    for (int i = 2; i < c->n_in && i < 5; i++) {
        const cvm_tensor *t = c->in[i];
        if (!t || cvm_tensor_numel(t) == 0)
            continue;
        if (i == 2)
            p->max_per_class = cvm_tensor_get_i64(t, 0);
        else if (i == 3)
            p->iou_threshold = (float)cvm_tensor_get_f64(t, 0);
        else {
            p->score_threshold = (float)cvm_tensor_get_f64(t, 0);
            p->has_score_threshold = 1;
        }
    }
    return CVM_OK;
}

static cvm_status infer_nms(const cvm_infer_ctx *c)
{
    for (int i = 0; i < c->n_in; i++)
        if (c->in[i] && !c->in[i]->data && cvm_tensor_numel(c->in[i]) > 0)
            return CVM_E_DYNAMIC; /* the count depends on the values */
    cvm_nms_problem p = {0};
    CVM_TRY(nms_problem(c, &p));
    int64_t n = cvm_nms_select(&p, NULL);
    if (n < 0)
        return cvm_node_error(c->node, CVM_E_NOMEM, "out of memory selecting boxes");
    int64_t dims[2] = {n, 3};
    cvm_set_shape(c->out[0], CVM_DTYPE_INT64, 2, dims);
    return CVM_OK;
}

/* The kernel re-derives the problem through the same helper. */
cvm_status cvm_nms_problem_from_kernel(const cvm_node *node, int n_in, const cvm_tensor *const *in,
                                       cvm_nms_problem *p);
cvm_status cvm_nms_problem_from_kernel(const cvm_node *node, int n_in, const cvm_tensor *const *in,
                                       cvm_nms_problem *p)
{
    cvm_infer_ctx c = {.node = node, .n_in = n_in, .in = in};
    return nms_problem(&c, p);
}

const cvm_op_schema cvm_schemas_detection[] = {
    {"", "NonMaxSuppression", 2, 5, 1, 1, infer_nms, 0},
    {0},
};
