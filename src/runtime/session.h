/* Internal session interface (the public one is in include/cvm/cvm.h). */
#ifndef CVM_RUNTIME_SESSION_H
#define CVM_RUNTIME_SESSION_H

#include "graph/graph.h"

/* Takes ownership of `g` (also on failure). */
cvm_status cvm_session_create_from_graph(cvm_graph *g, const cvm_session_options *opts,
                                         cvm_session **out);

#endif
