/*
 * cvmodels public API.
 *
 * Conventions (hold for every function below):
 *  - Every function returns a cvm_status; CVM_OK is 0. On failure the message
 *    for this thread is available from cvm_last_error() until the next failing
 *    call on the same thread.  The only exceptions are the *_free functions,
 *    which cannot fail and return nothing, and cvm_last_error/cvm_status_name.
 *  - Whoever creates an object frees it: cvm_X_create/cvm_X_free pairs.
 *  - The library never prints, exits or aborts on bad input.
 */
#ifndef CVM_CVM_H
#define CVM_CVM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CVM_VERSION_STRING "0.1.0"

typedef enum cvm_status {
    CVM_OK = 0,
    CVM_E_INVALID_ARG = 1,  /* a NULL, out-of-range or inconsistent argument */
    CVM_E_NOMEM = 2,        /* an allocation failed */
    CVM_E_IO = 3,           /* a file could not be opened, read or written */
    CVM_E_PARSE = 4,        /* a malformed, truncated or hostile file */
    CVM_E_UNSUPPORTED = 5,  /* valid input this build cannot handle (operator, dtype, ...) */
    CVM_E_SHAPE = 6,        /* tensor shapes that do not fit together */
    CVM_E_TYPE = 7,         /* tensor element types that do not fit together */
    CVM_E_LIMIT = 8,        /* input beyond a configured size ceiling */
    CVM_E_NOT_FOUND = 9,    /* a named input, output, file or model that does not exist */
    CVM_E_INTERNAL = 10     /* a bug in cvmodels: please report it */
} cvm_status;

/* The message describing the last failure on the calling thread ("" if none). */
const char *cvm_last_error(void);
/* A short constant name for a status code, e.g. "CVM_E_PARSE". */
const char *cvm_status_name(cvm_status s);

/* ------------------------------------------------------------------ tensors */

/* Element types use ONNX's TensorProto.DataType numbering. */
typedef enum cvm_dtype {
    CVM_DTYPE_UNDEFINED = 0,
    CVM_DTYPE_FLOAT32 = 1,
    CVM_DTYPE_UINT8 = 2,
    CVM_DTYPE_INT8 = 3,
    CVM_DTYPE_UINT16 = 4,
    CVM_DTYPE_INT16 = 5,
    CVM_DTYPE_INT32 = 6,
    CVM_DTYPE_INT64 = 7,
    CVM_DTYPE_STRING = 8,
    CVM_DTYPE_BOOL = 9,
    CVM_DTYPE_FLOAT16 = 10,
    CVM_DTYPE_FLOAT64 = 11,
    CVM_DTYPE_UINT32 = 12,
    CVM_DTYPE_UINT64 = 13,
    CVM_DTYPE_BFLOAT16 = 16
} cvm_dtype;

#define CVM_MAX_DIMS 8

/*
 * A dense, row-major tensor.  The fields are public so that callers can wrap
 * their own buffers without a copy (cvm_tensor_wrap); `owns_data` tells whether
 * cvm_tensor_free releases `data`.
 */
typedef struct cvm_tensor {
    cvm_dtype dtype;
    int ndim;
    int64_t dims[CVM_MAX_DIMS];
    void *data;
    size_t nbytes;  /* bytes reachable through data */
    int owns_data;
} cvm_tensor;

/* Size in bytes of one element, 0 for UNDEFINED/STRING/unknown values. */
size_t cvm_dtype_size(cvm_dtype t);
/* "float32", "int64", ... ("?" for unknown values). */
const char *cvm_dtype_name(cvm_dtype t);

/* A zero-filled tensor of the given type and shape. */
cvm_status cvm_tensor_create(cvm_dtype dtype, int ndim, const int64_t *dims, cvm_tensor **out);
/* A tensor header over caller-owned memory; the memory must outlive the tensor. */
cvm_status cvm_tensor_wrap(cvm_dtype dtype, int ndim, const int64_t *dims, void *data,
                           size_t nbytes, cvm_tensor **out);
void cvm_tensor_free(cvm_tensor *t);
/* Number of elements (product of dims; 1 for a scalar). */
int64_t cvm_tensor_numel(const cvm_tensor *t);

/* ----------------------------------------------------------------- sessions */

typedef struct cvm_session cvm_session;

/* Arithmetic of the heavy operators.  BF16 runs convolutions with bfloat16
 * inputs and weights and float32 sums (AMX or AVX512_BF16; session creation
 * fails on a CPU with neither): faster, at about 3 significant digits. */
typedef enum cvm_precision {
    CVM_PRECISION_FP32 = 0,
    CVM_PRECISION_BF16 = 1
} cvm_precision;

typedef struct cvm_session_options {
    int threads;               /* worker threads for one run; 0 = number of cores */
    int optimize;              /* 0 = run the graph as written; 1 = fold constants and fuse (default) */
    size_t max_tensor_bytes;   /* refuse any single tensor larger than this; 0 = default (4 GiB) */
    int profile;               /* 1 = time every operator (see cvm_session_get_profile) */
    cvm_precision precision;   /* default CVM_PRECISION_FP32 */
} cvm_session_options;

/* Fill `o` with the defaults. */
cvm_status cvm_session_options_init(cvm_session_options *o);

/* Load an ONNX model file. External data files are read from the model's folder. */
cvm_status cvm_session_create(const char *path, const cvm_session_options *opts,
                              cvm_session **out);
/* Load from memory; `base_dir` (may be NULL) is where external data files live. */
cvm_status cvm_session_create_from_memory(const void *data, size_t size, const char *base_dir,
                                          const cvm_session_options *opts, cvm_session **out);
void cvm_session_free(cvm_session *s);

/* Declared type and shape of a graph input or output; a dim of -1 is symbolic
 * (its name, if the model gives one, is in dim_names[i], else NULL). */
typedef struct cvm_value_info {
    const char *name;
    cvm_dtype dtype;
    int ndim;                  /* -1 when the model declares no shape */
    int64_t dims[CVM_MAX_DIMS];
    const char *dim_names[CVM_MAX_DIMS];
} cvm_value_info;

cvm_status cvm_session_input_count(const cvm_session *s, size_t *n);
cvm_status cvm_session_input_info(const cvm_session *s, size_t i, cvm_value_info *info);
cvm_status cvm_session_output_count(const cvm_session *s, size_t *n);
cvm_status cvm_session_output_info(const cvm_session *s, size_t i, cvm_value_info *info);

/*
 * Run the graph.  `inputs[i]` feeds the graph input named `input_names[i]`.
 * Outputs named in `output_names` (or all graph outputs, in graph order, when
 * output_names is NULL; n_outputs must then equal cvm_session_output_count)
 * are returned as new tensors in `outputs[]`, owned by the caller.
 * Safe to call from several threads at once on one session.
 */
cvm_status cvm_session_run(cvm_session *s, size_t n_inputs, const char *const *input_names,
                           const cvm_tensor *const *inputs, size_t n_outputs,
                           const char *const *output_names, cvm_tensor **outputs);

/*
 * Like cvm_session_run, but each output is copied into the caller's tensor
 * outputs[i] (for example one made once with cvm_tensor_create, or a
 * cvm_tensor_wrap of the caller's buffer), which must already have that
 * output's type and shape (cvm_session_output_info, or a first
 * cvm_session_run); a mismatch is an error naming the output, and the
 * tensors' contents are then unspecified.  A loop over video frames then
 * allocates nothing per run: a fresh multi-megabyte output costs its page
 * faults on every run (about 2 ms per YOLOv8n run on a KVM guest, driven
 * from Python, where each freed output went back to the system).
 */
cvm_status cvm_session_run_into(cvm_session *s, size_t n_inputs, const char *const *input_names,
                                const cvm_tensor *const *inputs, size_t n_outputs,
                                const char *const *output_names, cvm_tensor *const *outputs);

/* What building the session did, for `cvm run`/`cvm bench` and tests. Figures
 * describe the plan for the most recent set of input shapes. */
typedef struct cvm_session_stats {
    size_t nodes_in_model;     /* nodes in the ONNX graph */
    size_t nodes_planned;      /* nodes left to run after folding and dead-node removal */
    size_t nodes_folded;       /* nodes evaluated at build time */
    size_t arena_bytes;        /* planned peak of intermediate tensors (one run) */
    size_t naive_bytes;        /* sum of intermediate tensor sizes without reuse */
    size_t weight_bytes;       /* constant data held by the session */
    size_t nodes_viewed;       /* of nodes_planned: copies (Reshape, Split, Concat) that became
                                * views of another tensor's buffer and do not run */
    size_t nodes_side_by_side; /* of nodes_planned (views excluded): nodes that run whole on
                                * one thread while the other threads run other nodes, instead
                                * of being split between the threads */
    size_t side_by_side_regions; /* the stretches of the graph those nodes are in */
} cvm_session_stats;

cvm_status cvm_session_get_stats(const cvm_session *s, cvm_session_stats *st);

/* Time spent per operator type, summed over every run of every cached plan
 * since the session was created; only filled when the session was created
 * with options.profile = 1 (timing costs two clock reads per node). */
typedef struct cvm_op_time {
    char op_type[48];          /* e.g. "Conv", or "FusedConv" for fused Conv+activation(+Add) */
    size_t nodes;              /* nodes of this type that run (views excluded) */
    size_t calls;              /* node executions */
    double total_ms;
} cvm_op_time;

/* Writes up to `cap` entries, longest total first, into `out` (caller-owned)
 * and the number of operator types into *n (which may exceed cap). */
cvm_status cvm_session_get_profile(const cvm_session *s, cvm_op_time *out, size_t cap, size_t *n);

typedef struct cvm_node_time {
    char name[64];             /* node name from the model (truncated), or "#index" if it has none */
    char op_type[48];
    char shapes[160];          /* input shapes -> first output shape, of the most recent plan */
    size_t calls;
    double total_ms;
} cvm_node_time;

/* Like cvm_session_get_profile, one entry per node that runs, longest first. */
cvm_status cvm_session_get_node_profile(const cvm_session *s, cvm_node_time *out, size_t cap,
                                        size_t *n);

#ifdef __cplusplus
}
#endif
#endif
