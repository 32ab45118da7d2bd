/*
 * Model ids -> a package folder on disk: the registry of public aliases, the
 * Roboflow weights API, the local cache and backend negotiation.  Nothing
 * above this layer knows about HTTP or the cache layout.
 */
#ifndef CVM_HUB_HUB_H
#define CVM_HUB_HUB_H

#include "cvm/vision.h"

typedef struct cvm_hub_request {
    const char *model_id;      /* "rfdetr-base", "workspace/project/3" */
    const char *api_key;       /* NULL = ROBOFLOW_API_KEY */
    const char *cache_dir;     /* NULL = INFERENCE_HOME or default */
    int offline;
    int verbose;               /* fill `report` with the negotiation decision */
    /* progress for long downloads: bytes done / total (total 0 = unknown) */
    void (*progress)(void *arg, const char *file, int64_t done, int64_t total);
    void *progress_arg;
} cvm_hub_request;

/* Resolves the id to a package folder holding weights.onnx and its configs.
 * *package_dir and *report (may be NULL) are malloc'd; report explains which
 * package was chosen and why the others were not. */
cvm_status cvm_hub_resolve(const cvm_hub_request *req, char **package_dir, char **report);

#endif
