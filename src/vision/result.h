/* The allocation behind a cvm_result: the public struct plus what it owns
 * (class names, keypoint skeletons), so that results outlive their model. */
#ifndef CVM_VISION_RESULT_H
#define CVM_VISION_RESULT_H

#include "cvm/vision.h"
#include "models/package.h"

typedef struct cvm_result_priv {
    cvm_result pub;            /* first: a cvm_result* is a cvm_result_priv* */
    char **names;              /* class names, copied */
    size_t n_names;
    char **kp_names;           /* keypoint names per class, flattened */
    size_t *predicted;
    /* skeletons, indexed by class id */
    size_t n_skel;
    size_t *skel_off, *skel_n;
    int (*edges)[2];
} cvm_result_priv;

/* A new empty result whose names are copies of the package's (class names
 * after class_names_operations are passed in separately). */
cvm_status cvm_result_new(cvm_task task, const char *const *names, size_t n_names, const cvm_package *pkg,
                          cvm_result_priv **out);
/* Edges of the keypoint skeleton for a class (n = 0 when none). */
void cvm_result_edges(const cvm_result *r, int class_id, const int (**edges)[2], size_t *n);
/* Keypoint names of a class (NULL when unknown). */
const char *const *cvm_result_kp_names(const cvm_result *r, int class_id, size_t *n);

#endif
