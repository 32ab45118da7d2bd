/* Which stretches of a plan's steps the pool's threads run side by side,
 * each step on one thread, instead of splitting every step between them. */
#ifndef CVM_RUNTIME_SCHEDULE_H
#define CVM_RUNTIME_SCHEDULE_H

#include "runtime/plan.h"

/* Fills p->regions for a pool of `threads` threads (none unless it is 2,
 * the count the cost model was measured on, or when the environment sets
 * CVM_REGIONS=0).  def_step[v] is the step that writes value v (-1: none).
 * Call after views are planned and before buffers are laid out: buffers
 * used inside a region must then be kept apart for the whole region. */
cvm_status cvm_plan_regions(const cvm_graph *g, cvm_plan *p, const int *def_step, int threads);

void cvm_plan_regions_free(cvm_plan *p);

#endif
