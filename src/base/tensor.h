/* Internal tensor helpers shared by the loader, runtime and kernels. */
#ifndef CVM_BASE_TENSOR_H
#define CVM_BASE_TENSOR_H

#include <stdbool.h>

#include "cvm/cvm.h"

/* Product of dims with overflow check; returns false when it exceeds INT64_MAX
 * or a dim is negative. */
bool cvm_shape_numel(int ndim, const int64_t *dims, int64_t *numel);
/* numel * dtype size with overflow check. */
bool cvm_shape_nbytes(cvm_dtype dt, int ndim, const int64_t *dims, size_t *nbytes);
/* "[1,3,640,640]" into buf. */
const char *cvm_shape_str(int ndim, const int64_t *dims, char *buf, size_t cap);
bool cvm_dtype_is_float(cvm_dtype t);   /* float16/32/64, bfloat16 */
bool cvm_dtype_valid(int t);            /* one of the numeric dtypes we know */
/* Reads element i of any numeric tensor as double / int64 (for shape inputs and
 * scalars); i must be in range. */
double cvm_tensor_get_f64(const cvm_tensor *t, int64_t i);
int64_t cvm_tensor_get_i64(const cvm_tensor *t, int64_t i);
/* Creates a tensor whose data is a copy of src's. */
cvm_status cvm_tensor_clone(const cvm_tensor *src, cvm_tensor **out);
/* cvm_tensor_create without zeroing the data, for tensors about to be
 * overwritten whole (the runtime's copies of graph outputs). */
cvm_status cvm_tensor_create_uninit(cvm_dtype dtype, int ndim, const int64_t *dims,
                                    cvm_tensor **out);
/* Converts `n` elements between numeric dtypes (ONNX Cast semantics for the
 * numeric types: float->int truncates toward zero; to bool is x != 0). */
void cvm_convert(cvm_dtype from, const void *src, cvm_dtype to, void *dst, int64_t n);

#endif
