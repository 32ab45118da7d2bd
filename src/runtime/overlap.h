/* Which arena buffers may share memory when a plan has regions, whose steps
 * run side by side (schedule.h). */
#ifndef CVM_RUNTIME_OVERLAP_H
#define CVM_RUNTIME_OVERLAP_H

#include <stddef.h>

#include "runtime/plan.h"

typedef struct cvm_overlap cvm_overlap;

/* The steps that read and write each buffer request: req_value[i] >= 0 is
 * the value whose buffer request i holds (with its views), -1 - s the
 * scratch of step s, -1 - n_steps - r the scratch areas of region r. */
cvm_status cvm_overlap_build(const cvm_graph *g, const cvm_plan *p, const int *req_value,
                             size_t n_req, cvm_overlap **out);

/* Whether requests i and j may be in use at the same time in some run:
 * unless every access of one happens before every write of the other. */
int cvm_overlap_conflict(void *overlap, size_t i, size_t j);

void cvm_overlap_free(cvm_overlap *o);

#endif
