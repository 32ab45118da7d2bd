/*
 * ONNX model and tensor loading into the graph IR (src/graph/graph.h).
 *
 * The loader reads the protobuf wire format itself.  What it guarantees:
 *  - nodes keep file order; Constant nodes of the default domain are folded
 *    into initializers of their output and dropped;
 *  - graph->inputs lists only inputs that are not initializers;
 *  - each node's opset is the version the model imports for its domain, or 0;
 *  - hostile input yields CVM_E_PARSE/CVM_E_LIMIT/CVM_E_UNSUPPORTED with a
 *    message, never a crash, and everything allocated is freed on failure.
 */
#ifndef CVM_ONNX_ONNX_LOADER_H
#define CVM_ONNX_ONNX_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "cvm/cvm.h"
#include "graph/graph.h"

/* Default ceiling on a model file's size (4 GiB). */
#define CVM_ONNX_DEFAULT_MAX_BYTES ((size_t)1 << 32)
/* Deepest nesting of subgraphs (If/Loop/Scan bodies) accepted. */
#define CVM_ONNX_MAX_DEPTH 64

/* Loads a model file; external data is read from the file's folder.
 * max_bytes: refuse larger files with CVM_E_LIMIT (0 = 4 GiB). */
cvm_status cvm_onnx_load_file(const char *path, size_t max_bytes, cvm_graph **out);

/* Loads a model from memory.  base_dir is the folder external data files are
 * read from; NULL refuses models with external data. */
cvm_status cvm_onnx_load_memory(const void *buf, size_t n, const char *base_dir, cvm_graph **out);

/* Reads a serialized TensorProto file (the ONNX test suite's input_0.pb).
 * name_out, if not NULL, receives the tensor's name (malloc'd, "" if none). */
cvm_status cvm_onnx_read_tensor_file(const char *path, cvm_tensor **out, char **name_out);

/* Parses a serialized TensorProto; base_dir as for cvm_onnx_load_memory. */
cvm_status cvm_onnx_parse_tensor(const uint8_t *buf, size_t n, const char *base_dir,
                                 cvm_tensor **out, char **name_out);

#endif
