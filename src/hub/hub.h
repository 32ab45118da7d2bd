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
 * package was chosen and why the others were not.  The report is filled on
 * failure too (each package and why it was skipped or failed).
 *
 * Environment (names shared with inference-models where it has them):
 *   INFERENCE_HOME / MODEL_CACHE_DIR   cache root (default /tmp/cache)
 *   ROBOFLOW_API_KEY, ROBOFLOW_API_HOST, ROBOFLOW_REGION, ROBOFLOW_ENVIRONMENT
 *   SECURE_GATEWAY (or LICENSE_SERVER) every request goes through <gw>/proxy?url=
 *   OFFLINE_MODE=1                     same as req->offline
 *   AUTO_LOADER_CACHE_EXPIRATION_MINUTES  auto-resolution cache lifetime (1440)
 *   CVM_HUB_RETRY_BASE_MS (500), CVM_HUB_MAX_TRIES (4), CVM_HUB_CONNECT_TIMEOUT_S
 *   (10), CVM_HUB_API_TIMEOUT_S (20), CVM_HUB_STALL_TIMEOUT_S (30),
 *   CVM_HUB_LOCK_TIMEOUT_S (1800), CVM_HUB_MAX_FILE_MB (16384),
 *   CVM_DOWNLOAD_CONNECTIONS (4; 1 = one stream), CVM_DOWNLOAD_PARALLEL_MIN_BYTES
 *   (33554432): files at least this big on a server accepting ranges are
 *   fetched over that many ranged GETs at once. */
cvm_status cvm_hub_resolve(const cvm_hub_request *req, char **package_dir, char **report);

#endif
