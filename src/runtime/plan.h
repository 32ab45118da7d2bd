/*
 * A plan: the graph specialised to one set of input shapes.  Building it
 * resolves symbolic dims, folds constants (including the Shape->Gather->
 * Concat->Reshape chains exporters emit), drops dead nodes, chooses and
 * prepares one kernel per node and lays out all intermediate tensors in one
 * arena.  A plan is immutable once built and shared by concurrent runs.
 */
#ifndef CVM_RUNTIME_PLAN_H
#define CVM_RUNTIME_PLAN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "backends/backend.h"
#include "graph/graph.h"
#include "graph/schema.h"

typedef enum cvm_value_kind {
    CVM_VAL_UNUSED = 0,  /* not needed for the outputs */
    CVM_VAL_CONST,       /* data known at build time (initializer or folded) */
    CVM_VAL_INPUT,       /* fed by the caller */
    CVM_VAL_ARENA,       /* computed, static shape, lives in the arena */
    CVM_VAL_DYNAMIC      /* computed, shape known only at run time */
} cvm_value_kind;

typedef struct cvm_plan_value {
    cvm_value_kind kind;
    cvm_tensor t;        /* dtype and shape (static kinds); data for CONST */
    cvm_tensor *owned;   /* folded constant owned by the plan */
    size_t offset;       /* ARENA: byte offset */
    int input_index;     /* INPUT: position in the graph's input list */
    int last_use;        /* last step reading it (n_steps for graph outputs) */
    int alias_of;        /* ARENA view: the value whose buffer holds it, else -1 */
    size_t alias_off;    /* byte offset of the view in that value */
} cvm_plan_value;

typedef struct cvm_plan_step {
    int node;
    const cvm_op_schema *schema;
    const cvm_kernel_def *kernel;
    void *state;
    size_t scratch_bytes, scratch_offset;
    bool dynamic;        /* shapes resolved at run time */
    bool skip;           /* a copy made unnecessary by views (see alias.c) */
    bool promote;        /* float16/bfloat16/float64 computed in float32 */
    unsigned released;   /* inputs whose data prepare() no longer needs (cvm_kernel_ctx) */
    size_t *promo_offset; /* promote: arena offsets of float32 copies, inputs then outputs */
} cvm_plan_step;

/* Steps [first, last] that the pool's threads run side by side (see
 * schedule.c): each thread claims the next step of `order`, waits until
 * the steps of the region it reads from are done, and runs it alone. */
typedef struct cvm_plan_region {
    int first, last;
    int n;               /* steps in order[]: the region's steps that are not skipped */
    int *order;
    int *dep_start;      /* order[k] waits for deps[dep_start[k] .. dep_start[k + 1]) */
    int *deps;           /* step indices */
    /* One scratch area per thread, each as large as the largest step's,
     * instead of one per step (which would all be live at once). */
    size_t scratch_bytes, scratch_offset;
} cvm_plan_region;

typedef struct cvm_plan {
    /* the key: shapes and dtypes of the graph inputs */
    int n_inputs;
    cvm_tensor *input_shapes;
    int n_values;
    cvm_plan_value *values;      /* one per graph value */
    int max_io;                  /* most inputs + outputs of any step */
    int n_steps;
    cvm_plan_step *steps;
    int n_regions;
    cvm_plan_region *regions;    /* in step order, disjoint */
    int region_threads;          /* the pool size they were chosen for */
    size_t arena_bytes;
    size_t naive_bytes;
    size_t nodes_folded;
    /* options.profile: per step, nanoseconds and runs summed over all runs */
    _Atomic unsigned long long *prof_ns, *prof_calls;
    int refs;                    /* runs using it plus the cache's own reference */
    struct cvm_plan *next;       /* cache list */
    /* Free arenas for reuse by later runs, so that steady-state runs allocate nothing. */
    pthread_mutex_t arena_lock;
    void **free_arenas;
    int n_free_arenas, cap_free_arenas;
} cvm_plan;

typedef struct cvm_plan_options {
    int optimize;
    size_t max_tensor_bytes;
    cvm_threadpool *pool;        /* used to fold constants */
    int profile;                 /* keep per-step timings */
    /* The graph will never be planned again: free a constant's data once the
     * only node reading it has copied it into its kernel state (Winograd's
     * transformed weights are 4x the filters; the raw copy need not stay). */
    int release_weights;
    int precision;               /* cvm_precision, handed to kernels' prepare() */
} cvm_plan_options;

/* Builds a plan for `g` with the given input headers (data ignored).  `order`
 * is a topological order of all nodes. */
cvm_status cvm_plan_build(const cvm_graph *g, const int *order, const cvm_tensor *inputs,
                          const cvm_plan_options *o, cvm_plan **out);
void cvm_plan_free(cvm_plan *p);

/* The value whose buffer holds value v (v itself unless it is a view). */
static inline int cvm_plan_root(const cvm_plan *p, int v)
{
    while (p->values[v].alias_of >= 0)
        v = p->values[v].alias_of;
    return v;
}

/* Marks zero-copy views (alias_of) and the steps they make unnecessary. */
void cvm_plan_views(const cvm_graph *g, cvm_plan *p);

/* Computes a topological order of g's nodes into order[0..n_nodes). */
cvm_status cvm_graph_toposort(const cvm_graph *g, int *order);

/* Runs the plan. inputs[] are in graph-input order; outputs[i] receive new
 * tensors for graph output out_index[i], or, with `into`, the output is
 * copied into the caller's tensor outputs[i], which must have its type and
 * shape (checked). */
cvm_status cvm_plan_run(const cvm_graph *g, cvm_plan *p, const cvm_tensor *const *inputs,
                        int n_out, const int *out_value, cvm_tensor **outputs, int into,
                        cvm_threadpool *pool, size_t max_tensor_bytes);

#endif
