/*
 * The backend interface.  A backend supplies kernels for operators; the
 * runtime chooses one kernel per node when a plan is built, lets it prepare
 * (repack weights, pick a code path) once, and then only calls run().
 *
 * Kernels never allocate in run(), never parse files, and never see model ids:
 * their outputs are pre-sized by the planner, and any temporary memory is the
 * per-run `scratch` they asked for in prepare().
 */
#ifndef CVM_BACKENDS_BACKEND_H
#define CVM_BACKENDS_BACKEND_H

#include "base/status.h"
#include "base/tensor.h"
#include "base/threadpool.h"
#include "graph/graph.h"
#include "graph/schema.h" /* cvm_node_error, cvm_norm_axis, broadcasting */

typedef struct cvm_kernel_ctx {
    const cvm_node *node;
    int opset;
    int n_in, n_out;
    const cvm_tensor *const *in;  /* NULL entries for omitted optional inputs */
    cvm_tensor *const *out;       /* shaped and allocated by the runtime */
    const void *state;            /* what prepare() built; read-only, shared by concurrent runs */
    void *scratch;                /* per-run workspace of the size prepare() asked for */
    cvm_threadpool *pool;         /* may be NULL: run single-threaded */
    /* prepare() only (NULL elsewhere): set bit i when input i's data is never
     * read again because the state holds all it needs (weights transformed or
     * packed), so that the runtime may drop a constant no other step reads. */
    unsigned *released;
    int precision;                /* prepare() only: the session's cvm_precision */
} cvm_kernel_ctx;

enum {
    /* The kernel handles float16/bfloat16/float64 itself.  Without this flag the
     * runtime computes such nodes in float32 and converts around them. */
    CVM_KERNEL_ANY_FLOAT = 1u << 0
};

typedef struct cvm_kernel_def {
    const char *domain;
    const char *type;
    /* Optional.  Called once per plan with every input's shape known and
     * constant inputs' data present (in[i]->data may be NULL for the others;
     * out[] is shaped but has no data).  May build an immutable *state and ask
     * for *scratch_bytes of workspace per run.  Returns CVM_E_UNSUPPORTED with a
     * message for dtypes or attribute values it cannot run. */
    cvm_status (*prepare)(const cvm_kernel_ctx *c, void **state, size_t *scratch_bytes);
    void (*release)(void *state);
    cvm_status (*run)(const cvm_kernel_ctx *c);
    unsigned flags;
} cvm_kernel_def;

typedef struct cvm_backend {
    const char *name;
    const cvm_kernel_def *(*find_kernel)(const char *domain, const char *type);
} cvm_backend;

const cvm_backend *cvm_backend_cpu(void);

/* The CPU backend's bf16 kernels on this machine: 0 none, 1 AVX512_BF16
 * dot products, 2 AMX tiles (CVM_BF16_* in backends/cpu/conv_bf16.h). */
int cvm_bf16_kind(void);
const char *cvm_bf16_kind_name(int kind);
/* Whether AMX-INT8 tile products may run here (the int8 convolutions use
 * them when so). */
int cvm_amx_int8(void);

#endif
