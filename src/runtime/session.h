/* Internal session interface (the public one is in include/cvm/cvm.h). */
#ifndef CVM_RUNTIME_SESSION_H
#define CVM_RUNTIME_SESSION_H

#include "base/threadpool.h"
#include "graph/graph.h"

/* Takes ownership of `g` (also on failure). */
cvm_status cvm_session_create_from_graph(cvm_graph *g, const cvm_session_options *opts,
                                         cvm_session **out);

/* The session's thread pool (NULL on one thread), for work that runs
 * next to its runs, such as a model's pre-processing. */
cvm_threadpool *cvm_session_pool(const cvm_session *s);

#endif
