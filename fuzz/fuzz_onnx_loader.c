/* libFuzzer target: any byte string must load or fail cleanly, never crash
 * or leak.  External data is refused (no folder), so the target touches no
 * files. */
#include <stddef.h>
#include <stdint.h>

#include "graph/graph.h"
#include "onnx/onnx_loader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cvm_graph *g = NULL;
    if (cvm_onnx_load_memory(data, size, NULL, &g) == CVM_OK)
        cvm_graph_free(g);
    /* The same bytes as a lone TensorProto (the test-suite .pb format). */
    cvm_tensor *t = NULL;
    if (cvm_onnx_parse_tensor(data, size, NULL, &t, NULL) == CVM_OK)
        cvm_tensor_free(t);
    return 0;
}
