/*
 * Pieces of the hub shared between its files and its tests: the parsed
 * weights-API response, untrusted-name checks, negotiation, downloads and
 * the cache layout.  Nothing here is public API.
 */
#ifndef CVM_HUB_HUB_INTERNAL_H
#define CVM_HUB_HUB_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "base/status.h"
#include "hub/hub.h"

/* Ceilings on what a server may send: a hostile or broken server must not be
 * able to make us allocate without bound or loop forever. */
#define HUB_MAX_RESPONSE_BYTES (16u << 20)
#define HUB_MAX_PAGES 10
#define HUB_MAX_CONNECTIONS 16
#define HUB_MAX_PACKAGES 512
#define HUB_MAX_FILES_PER_PACKAGE 256
#define HUB_MAX_HANDLE_LEN 512
#define HUB_MAX_URL_LEN 16384
#define HUB_MAX_ID_LEN 255
#define HUB_MAX_MODEL_ID_LEN 512
/* Highest ONNX opset the engine's schemas cover. */
#define HUB_MAX_ONNX_OPSET 23

/* ------------------------------------------------------------ text buffer */

typedef struct hub_buf {
    char *data;   /* always NUL-terminated once anything was appended */
    size_t len, cap;
    int failed;   /* an allocation failed; further appends are dropped */
} hub_buf;

void hub_buf_init(hub_buf *b);
void hub_buf_free(hub_buf *b);
void hub_buf_append(hub_buf *b, const void *data, size_t n);
void hub_buf_printf(hub_buf *b, const char *fmt, ...) CVM_PRINTF(2, 3);
/* Hands the text over (caller frees); NULL if an allocation failed. */
char *hub_buf_take(hub_buf *b);

char *hub_strdup(const char *s);

/* ------------------------------------------------------ identity / checks */

/* BLAKE2s with a 16-byte digest (RFC 7693 parameter block, no key). */
void hub_blake2s128(const void *data, size_t n, uint8_t out[16]);
/* models-cache folder name: v2-<prefix>-<blake2s128 hex>, as inference-models. */
cvm_status hub_model_slug(const char *model_id, char **out);
/* Each returns NULL when the value is acceptable, else a reason. */
const char *hub_check_model_id(const char *id);
const char *hub_check_package_id(const char *id);
const char *hub_check_file_handle(const char *handle);
/* Lower-cases `md5` in place when it is 32 hex digits; returns 0 otherwise. */
int hub_normalize_md5(char *md5);

/* --------------------------------------------------- weights API response */

typedef struct hub_file {
    char *handle;
    char *url;
    char md5[33];         /* "" when the server gave none */
} hub_file;

typedef struct hub_package {
    char *package_id;
    char *manifest_type;  /* "onnx-model-package-v1", ... */
    char *backend;        /* "onnx", "trt", "torch", "hf", ... */
    char *quantization;   /* "fp32", "fp16", "int8", "bf16", "unknown" */
    int trusted;
    int dynamic_batch;
    int64_t static_batch; /* 0 when dynamic */
    int opset;            /* -1 when not given or not ONNX */
    int cpu_incompatible; /* incompatibleProviders names the CPU provider */
    int nms_fused;
    char *features_json;  /* modelFeatures re-serialised, or NULL */
    char *incompatible_json; /* incompatibleProviders re-serialised, or NULL */
    char *recommended_json;
    hub_file *files;
    size_t n_files;
    char *invalid;        /* why the entry could not be used as sent, or NULL */
    char *skip;           /* negotiation's reason to pass it over, or NULL */
} hub_package;

typedef struct hub_metadata {
    char *model_id;       /* canonical id the server answered with */
    char *architecture;
    char *variant;
    char *task;
    char *recommended_json;
    char *dependencies_json; /* non-empty modelDependencies, or NULL */
    char *next_page;      /* set by the latest page parsed */
    hub_package *pkgs;
    size_t n_pkgs;
} hub_metadata;

/* Parses one page of GET /models/v1/external/weights and appends its packages
 * to `md` (earlier pages stay).  Malformed packages are kept with `invalid`
 * set so that the decision report can name them; a malformed envelope is an
 * error. */
cvm_status hub_parse_weights_page(const char *body, size_t len, hub_metadata *md);
void hub_metadata_free(hub_metadata *md);

/* ------------------------------------------------------------ negotiation */

/* Sets `skip` on every package cvmodels cannot run and writes the ranked
 * order of the rest into order[0..*n_ranked).  `order` holds n_pkgs slots.
 * Appends a readable account to `report` (may be NULL). */
cvm_status hub_negotiate(hub_metadata *md, size_t *order, size_t *n_ranked, hub_buf *report);
/* One line per package: "<id> (<backend> <quant>): <reason>". */
void hub_describe_rejections(const hub_metadata *md, hub_buf *out);

/* ---------------------------------------------------------------- network */

typedef struct hub_net {
    const char *api_host;        /* https://api.roboflow.com or override */
    const char *gateway;         /* SECURE_GATEWAY, or NULL */
    const char *api_key;         /* NULL = anonymous */
    const char *key_source;      /* where the key came from, for messages */
    int retry_base_ms;
    int max_tries;
    long connect_timeout_s;
    long stall_timeout_s;
    long api_timeout_s;
    int64_t max_file_bytes;
    int connections;             /* concurrent ranged GETs per large file; 1 = one stream */
    int64_t parallel_min_bytes;  /* files at least this big are split */
    const cvm_hub_request *req;  /* for the progress callback */
    int last_was_network;        /* the latest failure was a transport error */
} hub_net;

void hub_net_defaults(hub_net *net);
/* Builds the proxied form of `url` when a gateway is configured. */
cvm_status hub_wrap_url(const hub_net *net, const char *url, char **out);
cvm_status hub_fetch_metadata(hub_net *net, const char *model_id, hub_metadata *md);
/* Downloads `url` into `dest`, verifying `md5`; resumes from `partial` (and
 * its segment journal `partial`.ranges after a parallel download) when a
 * previous attempt left one.  Files of at least net->parallel_min_bytes on a
 * server that accepts ranges come down as net->connections ranged GETs at
 * once.  The caller holds the lock. */
cvm_status hub_download_file(hub_net *net, const char *url, const char *md5, const char *partial,
                             const char *dest, const char *label);
/* Bytes already fetched into `partial` (from its journal when a parallel
 * download left one), or 0; *total receives the file size when known. */
int64_t hub_partial_progress(const char *partial, int64_t *total);
void hub_sleep_ms(long ms);

/* ------------------------------------------------------------------ files */

cvm_status hub_mkdirs(const char *path);
/* Writes a file through a temporary name, fsync and rename. */
cvm_status hub_write_atomic(const char *path, const char *data, size_t n);
/* flock-based exclusive lock on `path` (created if missing), waiting at most
 * timeout_s; *fd receives the descriptor to pass to hub_unlock. */
cvm_status hub_lock(const char *path, int timeout_s, int *fd);
void hub_unlock(int fd);
char *hub_path(const char *a, const char *b);
int hub_file_exists(const char *path);
cvm_status hub_md5_file(const char *path, char out[33]);

#endif
