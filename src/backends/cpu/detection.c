/* CPU kernels of detection-specific operators (NonMaxSuppression). */
#include <string.h>

#include "backends/cpu/kernel_tables.h"
#include "graph/nms_select.h"

cvm_status cvm_nms_problem_from_kernel(const cvm_node *node, int n_in, const cvm_tensor *const *in,
                                       cvm_nms_problem *p);

static cvm_status nms_run(const cvm_kernel_ctx *c)
{
    cvm_nms_problem p = {0};
    CVM_TRY(cvm_nms_problem_from_kernel(c->node, c->n_in, c->in, &p));
    /* The planner sized the output from the same selection, so the count
     * matches; the selection needs O(N) temporaries, which this operator
     * (always planned as dynamic) may allocate. */
    int64_t n = cvm_nms_select(&p, c->out[0]->data);
    if (n < 0)
        return cvm_node_error(c->node, CVM_E_NOMEM, "out of memory selecting boxes");
    if (n != c->out[0]->dims[0])
        return cvm_node_error(c->node, CVM_E_INTERNAL, "selected %lld boxes, planned %lld", (long long)n,
                              (long long)c->out[0]->dims[0]);
    return CVM_OK;
}

const cvm_kernel_def cvm_cpu_kernels_detection[] = {
    {"", "NonMaxSuppression", NULL, NULL, nms_run, 0},
    {0},
};
