/* NumPy .npy files (format 1.0-3.0, little-endian, C order) for `cvm run`. */
#ifndef CVM_TOOLS_NPY_H
#define CVM_TOOLS_NPY_H

#include "cvm/cvm.h"

cvm_status cvm_npy_read(const char *path, cvm_tensor **out);
/* Writes atomically: a temporary file renamed into place. */
cvm_status cvm_npy_write(const char *path, const cvm_tensor *t);

#endif
