/* Evaluating one node on host tensors: used by constant folding, by the
 * runtime for nodes whose output shapes are only known at run time, and by
 * the kernel unit tests. */
#ifndef CVM_RUNTIME_EVAL_H
#define CVM_RUNTIME_EVAL_H

#include "backends/backend.h"
#include "graph/schema.h"

/*
 * Infers, allocates, prepares and runs `node` on `in` (NULL entries for
 * omitted inputs).  On success out[0..n_out-1] are new tensors owned by the
 * caller (NULL for omitted outputs, i.e. where node->out[i] < 0).  Float16,
 * bfloat16 and float64 tensors are computed in float32 when the kernel does
 * not handle them itself.
 */
cvm_status cvm_node_eval(const cvm_node *node, int opset, int n_in, const cvm_tensor *const *in,
                         int n_out, cvm_tensor **out, cvm_threadpool *pool);

/* As cvm_node_eval, refusing any output larger than max_bytes (0 = no limit)
 * before allocating it. */
cvm_status cvm_node_eval_limited(const cvm_node *node, int opset, int n_in,
                                 const cvm_tensor *const *in, int n_out, cvm_tensor **out,
                                 cvm_threadpool *pool, size_t max_bytes);

/* Runs the schema's infer on `in` into the header-only tensors out[] (data
 * untouched), checking input counts first.  Returns CVM_E_DYNAMIC unchanged. */
cvm_status cvm_node_infer(const cvm_op_schema *s, const cvm_node *node, int opset, int n_in,
                          const cvm_tensor *const *in, int n_out, cvm_tensor *const *out);

/* True when the node needs float promotion for this kernel and these inputs. */
int cvm_needs_f32_promotion(const cvm_kernel_def *k, int n_in, const cvm_tensor *const *in);

#endif
