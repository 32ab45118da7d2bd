/* Model id -> package folder: auto-resolution cache, weights API, negotiation,
 * download into the shared cache, offline lookup.  The cache layout is the
 * one inference-models (0.39) uses, so both libraries share one
 * INFERENCE_HOME (tests/hub/cache_interop.py checks both directions):
 *   models-cache/<slug(model id)>/<packageId>/<file handle>  symlinks into
 *   shared-blobs/<md5>                                        file bodies
 *   models-cache/<slug>/<packageId>/model_config.json         package manifest
 *   models-cache/<slug>/.<packageId>.materialization.lock     flock
 *   auto-resolution-cache/<sha256 hex>.json                   id -> package
 *   offline-weights-registry/<slug(canonical id)>.json        see below
 * model_config.json: we write model_architecture, task_type, backend_type,
 * model_features, trusted_source, model_dependencies, recommended_parameters,
 * quantization, dynamic_batch_size_supported, static_batch_size, model_id,
 * canonical_model_id, model_package_id and our file list
 * cvmodels_package_files [{file_handle, md5_hash}].  inference-models
 * publishes the same keys plus offline_manifest_version (4) and
 * package_artifacts [{file_handle, md5_hash, unhashed, sha256_hash,
 * source_hash, storage}] sorted by handle; we read either file list and never
 * rewrite a manifest that has offline_manifest_version.
 * Auto-resolution entries are keyed differently by each library (inference-
 * models hashes its loading options and a fingerprint of its Python runtime),
 * so each only ever finds its own; both formats validate for the other, which
 * matters because inference-models deletes entries it cannot parse. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include "hub/hub_internal.h"

#define AUTO_CACHE_DEFAULT_MINUTES 1440

typedef struct resolve_ctx {
    const cvm_hub_request *req;
    char *root;        /* INFERENCE_HOME */
    char *model_dir;   /* <root>/models-cache/<slug> */
    char *blobs;       /* <root>/shared-blobs */
    char *auto_path;   /* <root>/auto-resolution-cache/<sha256>.json */
    char api_host[512];
    char *api_key;
    hub_net net;
    hub_buf report;
    int lock_timeout_s;
} resolve_ctx;

static int env_true(const char *name)
{
    const char *v = getenv(name);
    return v && (strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0);
}

static void api_host_from_env(char *out, size_t cap)
{
    const char *h = getenv("ROBOFLOW_API_HOST");
    if (h && *h) {
        snprintf(out, cap, "%s", h);
        return;
    }
    const char *region = getenv("ROBOFLOW_REGION");
    const char *env = getenv("ROBOFLOW_ENVIRONMENT");
    int eu = region && strcasecmp(region, "eu") == 0;
    int prod = !env || !*env || strcasecmp(env, "prod") == 0;
    snprintf(out, cap, "%s",
             eu ? (prod ? "https://api.roboflow.eu" : "https://api.roboflow-eu.one")
                : (prod ? "https://api.roboflow.com" : "https://api.roboflow.one"));
}

static void sha256_hex(const void *data, size_t n, char out[65])
{
    unsigned char d[32];
    unsigned int dl = 0;
    EVP_Digest(data, n, d, &dl, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static char *read_small_file(const char *path, size_t max, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(max + 1);
    size_t n = buf ? fread(buf, 1, max + 1, f) : 0;
    fclose(f);
    if (!buf || n > max) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

static cJSON *read_json(const char *path)
{
    size_t n = 0;
    char *s = read_small_file(path, 4u << 20, &n);
    if (!s)
        return NULL;
    cJSON *j = cJSON_ParseWithLength(s, n);
    free(s);
    return j;
}

static void ctx_free(resolve_ctx *c)
{
    free(c->root);
    free(c->model_dir);
    free(c->blobs);
    free(c->auto_path);
    free(c->api_key);
    hub_buf_free(&c->report);
}

static cvm_status ctx_init(resolve_ctx *c, const cvm_hub_request *req)
{
    memset(c, 0, sizeof *c);
    hub_buf_init(&c->report);
    c->req = req;
    const char *root = req->cache_dir;
    if (!root || !*root)
        root = getenv("INFERENCE_HOME");
    if (!root || !*root)
        root = getenv("MODEL_CACHE_DIR");
    if (!root || !*root)
        root = "/tmp/cache"; /* inference-models' default, so both find the same files */
    c->root = hub_strdup(root);
    const char *key = req->api_key ? req->api_key : getenv("ROBOFLOW_API_KEY");
    if (key && *key && strcmp(key, "local") != 0) {
        c->api_key = hub_strdup(key);
        if (!c->api_key)
            return cvm_errorf(CVM_E_NOMEM, "out of memory");
    }
    api_host_from_env(c->api_host, sizeof c->api_host);
    hub_net_defaults(&c->net);
    c->net.api_host = c->api_host;
    c->net.api_key = c->api_key;
    c->net.key_source = req->api_key ? "the api_key option" : "ROBOFLOW_API_KEY";
    const char *gw = getenv("SECURE_GATEWAY");
    if (!gw || !*gw)
        gw = getenv("LICENSE_SERVER");
    c->net.gateway = (gw && *gw) ? gw : NULL;
    c->net.req = req;
    const char *lt = getenv("CVM_HUB_LOCK_TIMEOUT_S");
    c->lock_timeout_s = lt ? atoi(lt) : 0;
    if (c->lock_timeout_s <= 0 || c->lock_timeout_s > 86400)
        c->lock_timeout_s = 1800;

    char *slug = NULL;
    CVM_TRY(hub_model_slug(req->model_id, &slug));
    char *mc = hub_path(c->root, "models-cache");
    c->model_dir = mc ? hub_path(mc, slug) : NULL;
    free(mc);
    free(slug);
    c->blobs = hub_path(c->root, "shared-blobs");
    /* Our key covers what changes the answer for us: id, host, credential. */
    hub_buf k;
    hub_buf_init(&k);
    hub_buf_printf(&k, "cvmodels-auto-resolution-v1\n%s\n%s\n%s\n%s", req->model_id, c->api_host,
                   c->net.gateway ? c->net.gateway : "", c->api_key ? c->api_key : "");
    char hex[70];
    sha256_hex(k.data ? k.data : "", k.len, hex);
    hub_buf_free(&k);
    strcat(hex, ".json");
    char *ad = hub_path(c->root, "auto-resolution-cache");
    c->auto_path = ad ? hub_path(ad, hex) : NULL;
    free(ad);
    if (!c->root || !c->model_dir || !c->blobs || !c->auto_path)
        return cvm_errorf(CVM_E_NOMEM, "out of memory");
    return CVM_OK;
}

/* ------------------------------------------------------------ cache reads */

static long auto_cache_minutes(void)
{
    const char *s = getenv("AUTO_LOADER_CACHE_EXPIRATION_MINUTES");
    long v = s ? strtol(s, NULL, 10) : 0;
    return v > 0 ? v : AUTO_CACHE_DEFAULT_MINUTES;
}

static time_t parse_utc(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int y, mo, d, h, mi, se;
    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &se) != 6)
        return 0;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    return timegm(&tm);
}

static int package_complete(const char *pkg_dir, char *missing, size_t cap)
{
    char *cfg = hub_path(pkg_dir, "model_config.json");
    char *w = hub_path(pkg_dir, "weights.onnx");
    int ok = cfg && w && hub_file_exists(cfg) && hub_file_exists(w);
    if (!ok && missing)
        snprintf(missing, cap, "%s", (cfg && !hub_file_exists(cfg)) ? "model_config.json" : "weights.onnx");
    free(cfg);
    free(w);
    if (!ok)
        return 0;
    /* Every file we recorded must still be there (a blob may have been
     * removed by hand). */
    char *cp = hub_path(pkg_dir, "model_config.json");
    cJSON *j = cp ? read_json(cp) : NULL;
    free(cp);
    /* Our own list, or the one inference-models writes into its manifest. */
    static const char *const lists[] = {"cvmodels_package_files", "package_artifacts"};
    for (size_t l = 0; ok && l < sizeof lists / sizeof *lists; l++) {
        const cJSON *files = j ? cJSON_GetObjectItemCaseSensitive(j, lists[l]) : NULL;
        const cJSON *f;
        cJSON_ArrayForEach(f, files)
        {
            const cJSON *h = cJSON_GetObjectItemCaseSensitive(f, "file_handle");
            if (!cJSON_IsString(h) || hub_check_file_handle(h->valuestring))
                continue;
            char *p = hub_path(pkg_dir, h->valuestring);
            int there = p && hub_file_exists(p);
            free(p);
            if (!there) {
                if (missing)
                    snprintf(missing, cap, "%s", h->valuestring);
                ok = 0;
                break;
            }
        }
    }
    cJSON_Delete(j);
    return ok;
}

/* Returns the package folder of a fresh (or, offline, any) auto-resolution
 * entry whose files are all present. */
static char *auto_cache_lookup(resolve_ctx *c, int ignore_expiry)
{
    cJSON *j = read_json(c->auto_path);
    if (!j)
        return NULL;
    char *out = NULL;
    const cJSON *pid = cJSON_GetObjectItemCaseSensitive(j, "model_package_id");
    const cJSON *be = cJSON_GetObjectItemCaseSensitive(j, "backend_type");
    const cJSON *ca = cJSON_GetObjectItemCaseSensitive(j, "created_at");
    if (!cJSON_IsString(pid) || hub_check_package_id(pid->valuestring) || !cJSON_IsString(be) ||
        strcmp(be->valuestring, "onnx") != 0 || !cJSON_IsString(ca))
        goto done;
    time_t t = parse_utc(ca->valuestring);
    if (!ignore_expiry && (t == 0 || time(NULL) - t > auto_cache_minutes() * 60 || t > time(NULL) + 300))
        goto done;
    char *dir = hub_path(c->model_dir, pid->valuestring);
    if (dir && package_complete(dir, NULL, 0)) {
        out = dir;
        hub_buf_printf(&c->report, "model '%s': package %s from the auto-resolution cache (%s), no network used\n",
                       c->req->model_id, pid->valuestring, c->auto_path);
    } else {
        free(dir);
    }
done:
    cJSON_Delete(j);
    return out;
}

static int quant_rank(const char *q)
{
    if (!q)
        return 0;
    if (strcmp(q, "fp32") == 0)
        return 3;
    if (strcmp(q, "unknown") == 0)
        return 2;
    if (strcmp(q, "bf16") == 0)
        return 1;
    return 0;
}

/* Best complete ONNX package of this model already in the cache; `why`
 * collects what was found and why it is unusable. */
static char *cache_scan(resolve_ctx *c, hub_buf *why)
{
    DIR *d = opendir(c->model_dir);
    if (!d) {
        hub_buf_printf(why, "%s does not exist", c->model_dir);
        return NULL;
    }
    char *best = NULL;
    char best_name[HUB_MAX_ID_LEN + 1] = "";
    int best_rank = -1, seen = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || hub_check_package_id(e->d_name))
            continue;
        char *dir = hub_path(c->model_dir, e->d_name);
        struct stat st;
        if (!dir || stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
            free(dir);
            continue;
        }
        seen++;
        char *cfgp = hub_path(dir, "model_config.json");
        cJSON *j = cfgp ? read_json(cfgp) : NULL;
        free(cfgp);
        const cJSON *be = j ? cJSON_GetObjectItemCaseSensitive(j, "backend_type") : NULL;
        const cJSON *q = j ? cJSON_GetObjectItemCaseSensitive(j, "quantization") : NULL;
        char missing[HUB_MAX_HANDLE_LEN + 1] = "";
        if (!j) {
            hub_buf_printf(why, "%s package %s: incomplete (no readable model_config.json)", seen > 1 ? ";" : "",
                           e->d_name);
        } else if (!cJSON_IsString(be) || strcmp(be->valuestring, "onnx") != 0) {
            hub_buf_printf(why, "%s package %s: backend %s, not onnx", seen > 1 ? ";" : "", e->d_name,
                           cJSON_IsString(be) ? be->valuestring : "?");
        } else if (!package_complete(dir, missing, sizeof missing)) {
            hub_buf_printf(why, "%s package %s: incomplete (%s missing)", seen > 1 ? ";" : "", e->d_name, missing);
        } else {
            int r = quant_rank(cJSON_IsString(q) ? q->valuestring : NULL);
            if (r > best_rank || (r == best_rank && strcmp(e->d_name, best_name) < 0)) {
                free(best);
                best = dir;
                dir = NULL;
                best_rank = r;
                snprintf(best_name, sizeof best_name, "%s", e->d_name);
            }
        }
        cJSON_Delete(j);
        free(dir);
    }
    closedir(d);
    if (!seen)
        hub_buf_printf(why, "%s holds no package folders", c->model_dir);
    return best;
}

/* ----------------------------------------------------------- cache writes */

static void iso_now(char *out, size_t cap)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, cap, "%Y-%m-%dT%H:%M:%S+00:00", &tm);
}

static void add_raw(cJSON *o, const char *key, const char *json)
{
    cJSON *v = json ? cJSON_Parse(json) : NULL;
    cJSON_AddItemToObject(o, key, v ? v : cJSON_CreateNull());
}

static cvm_status write_model_config(resolve_ctx *c, const hub_metadata *md, const hub_package *p,
                                     const char *pkg_dir)
{
    /* A manifest inference-models published (it carries
     * offline_manifest_version) is left exactly as it is: inference-models
     * refuses to reuse a package whose published manifest changed, and it
     * already lists every file under package_artifacts, which
     * package_complete reads. */
    char *existing_path = hub_path(pkg_dir, "model_config.json");
    cJSON *existing = existing_path ? read_json(existing_path) : NULL;
    free(existing_path);
    int theirs = cJSON_IsObject(existing) &&
                 cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(existing, "offline_manifest_version"));
    cJSON_Delete(existing);
    if (theirs)
        return CVM_OK;
    /* Otherwise the fields inference-models reads from a package folder, so
     * that it can load this folder too; without offline_manifest_version,
     * inference-models treats it as a pre-manifest package and republishes
     * its own manifest over it on its first online load.  Our file list goes
     * under our own key. */
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return cvm_errorf(CVM_E_NOMEM, "out of memory");
    cJSON_AddItemToObject(o, "model_architecture",
                          md->architecture ? cJSON_CreateString(md->architecture) : cJSON_CreateNull());
    cJSON_AddItemToObject(o, "task_type", md->task ? cJSON_CreateString(md->task) : cJSON_CreateNull());
    cJSON_AddStringToObject(o, "backend_type", "onnx");
    add_raw(o, "model_features", p->features_json);
    cJSON_AddBoolToObject(o, "trusted_source", p->trusted);
    cJSON_AddItemToObject(o, "model_dependencies", cJSON_CreateNull());
    add_raw(o, "recommended_parameters", p->recommended_json ? p->recommended_json : md->recommended_json);
    cJSON_AddStringToObject(o, "quantization", p->quantization);
    cJSON_AddBoolToObject(o, "dynamic_batch_size_supported", p->dynamic_batch);
    if (p->dynamic_batch)
        cJSON_AddNullToObject(o, "static_batch_size");
    else
        cJSON_AddNumberToObject(o, "static_batch_size", (double)p->static_batch);
    cJSON_AddStringToObject(o, "model_id", c->req->model_id);
    cJSON_AddStringToObject(o, "canonical_model_id", md->model_id ? md->model_id : c->req->model_id);
    cJSON_AddStringToObject(o, "model_package_id", p->package_id);
    cJSON *files = cJSON_AddArrayToObject(o, "cvmodels_package_files");
    for (size_t i = 0; files && i < p->n_files; i++) {
        cJSON *f = cJSON_CreateObject();
        cJSON_AddStringToObject(f, "file_handle", p->files[i].handle);
        cJSON_AddStringToObject(f, "md5_hash", p->files[i].md5);
        cJSON_AddItemToArray(files, f);
    }
    char *txt = cJSON_Print(o);
    cJSON_Delete(o);
    if (!txt)
        return cvm_errorf(CVM_E_NOMEM, "out of memory");
    char *path = hub_path(pkg_dir, "model_config.json");
    cvm_status st = path ? hub_write_atomic(path, txt, strlen(txt)) : cvm_errorf(CVM_E_NOMEM, "out of memory");
    free(path);
    free(txt);
    return st;
}

static void write_auto_cache(resolve_ctx *c, const hub_metadata *md, const hub_package *p, const char *pkg_dir)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return;
    char now[40], cred[65];
    iso_now(now, sizeof now);
    const char *key = c->api_key ? c->api_key : "";
    sha256_hex(key, strlen(key), cred);
    cJSON_AddStringToObject(o, "model_id", c->req->model_id);
    cJSON_AddStringToObject(o, "cache_model_id", c->req->model_id);
    cJSON_AddStringToObject(o, "canonical_model_id", md->model_id ? md->model_id : c->req->model_id);
    cJSON_AddStringToObject(o, "model_package_id", p->package_id);
    cJSON *files = cJSON_AddArrayToObject(o, "resolved_files");
    for (size_t i = 0; files && i < p->n_files; i++) {
        char *fp = hub_path(pkg_dir, p->files[i].handle);
        if (fp)
            cJSON_AddItemToArray(files, cJSON_CreateString(fp));
        free(fp);
    }
    cJSON_AddItemToObject(o, "model_architecture",
                          md->architecture ? cJSON_CreateString(md->architecture) : cJSON_CreateNull());
    cJSON_AddItemToObject(o, "task_type", md->task ? cJSON_CreateString(md->task) : cJSON_CreateNull());
    cJSON_AddStringToObject(o, "backend_type", "onnx");
    cJSON_AddItemToObject(o, "model_dependencies", cJSON_CreateNull());
    cJSON_AddStringToObject(o, "created_at", now);
    add_raw(o, "model_features", p->features_json);
    add_raw(o, "recommended_parameters", p->recommended_json ? p->recommended_json : md->recommended_json);
    cJSON_AddBoolToObject(o, "trusted_source", p->trusted);
    cJSON_AddStringToObject(o, "credential_hash", cred);
    char *txt = cJSON_Print(o);
    cJSON_Delete(o);
    char *dir = hub_path(c->root, "auto-resolution-cache");
    /* Best effort: a missing entry only costs one API call next time. */
    if (txt && dir && hub_mkdirs(dir) == CVM_OK)
        hub_write_atomic(c->auto_path, txt, strlen(txt));
    free(dir);
    free(txt);
    cvm_error_clear();
}

/* inference-models serves OFFLINE_MODE only from its offline-weights registry,
 * never from the auto-resolution cache, so a model cvmodels downloaded is
 * usable there offline only once it has a record.  The format (format_version
 * 1) is one JSON file per canonical model id,
 *   <INFERENCE_HOME>/offline-weights-registry/<slug(canonical id)>.json
 * guarded by the flock of ".<that file name>.lock" beside it:
 *   { "format_version": 1, "canonical_model_id": str,
 *     "requested_aliases": [other ids that resolved to it],
 *     "recorded_at": ISO-8601, "source": "warmup" | "cli-install" | ...,
 *     "model": { "model_architecture", "task_type", "model_variant",
 *                "model_dependencies", "recommended_parameters" },
 *     "packages": [ { "package_id", "backend", "quantization",
 *                     "dynamic_batch_size_supported", "static_batch_size",
 *                     "trusted_source", "model_features",
 *                     "recommended_parameters", "cache_model_id" (the id
 *                     whose models-cache slug holds the folder; null = the
 *                     canonical id), "environment_requirements",
 *                     "trt_package_details", "onnx_package_details":
 *                     {"opset", "incompatible_providers"},
 *                     "torch_script_package_details",
 *                     "artifacts": [{"file_handle", "md5_hash"}] } ],
 *     "proven": { package_id: {"last_proven_at": ISO-8601} } }
 * inference-models re-negotiates among the recorded packages whose files are
 * all present.  We merge into an existing record the way inference-models
 * does (other packages, aliases and proofs stay), record only the package we
 * downloaded, and add no "proven" entry: we downloaded it, inference-models
 * never loaded it.  Like inference-models, nothing is recorded for a package
 * with a file the server gave no md5 for, nor for a model with dependency
 * models (we do not download those), nor over a record of a newer format. */
#define OFFLINE_REGISTRY_FORMAT 1

static cJSON *raw_or_null(const char *json, int want_object)
{
    cJSON *v = json ? cJSON_Parse(json) : NULL;
    if (v && want_object && !cJSON_IsObject(v)) {
        cJSON_Delete(v);
        v = NULL;
    }
    return v ? v : cJSON_CreateNull();
}

static cJSON *offline_package_entry(resolve_ctx *c, const hub_package *p, const char *canonical)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "package_id", p->package_id);
    cJSON_AddStringToObject(o, "backend", "onnx");
    const char *q = p->quantization;
    int known_q = q && (strcmp(q, "fp32") == 0 || strcmp(q, "fp16") == 0 || strcmp(q, "bf16") == 0 ||
                        strcmp(q, "int8") == 0 || strcmp(q, "unknown") == 0);
    cJSON_AddStringToObject(o, "quantization", known_q ? q : "unknown");
    cJSON_AddBoolToObject(o, "dynamic_batch_size_supported", p->dynamic_batch);
    if (p->dynamic_batch)
        cJSON_AddNullToObject(o, "static_batch_size");
    else
        cJSON_AddNumberToObject(o, "static_batch_size", (double)p->static_batch);
    cJSON_AddBoolToObject(o, "trusted_source", p->trusted);
    cJSON_AddItemToObject(o, "model_features", raw_or_null(p->features_json, 1));
    cJSON_AddItemToObject(o, "recommended_parameters", raw_or_null(p->recommended_json, 1));
    /* Our package folder lives under the id we were asked for. */
    if (strcmp(c->req->model_id, canonical) == 0)
        cJSON_AddNullToObject(o, "cache_model_id");
    else
        cJSON_AddStringToObject(o, "cache_model_id", c->req->model_id);
    cJSON_AddNullToObject(o, "environment_requirements");
    cJSON_AddNullToObject(o, "trt_package_details");
    if (p->opset > 0) {
        cJSON *od = cJSON_AddObjectToObject(o, "onnx_package_details");
        if (od) {
            cJSON_AddNumberToObject(od, "opset", p->opset);
            cJSON_AddItemToObject(od, "incompatible_providers", raw_or_null(p->incompatible_json, 0));
        }
    } else {
        cJSON_AddNullToObject(o, "onnx_package_details");
    }
    cJSON_AddNullToObject(o, "torch_script_package_details");
    cJSON *arts = cJSON_AddArrayToObject(o, "artifacts");
    for (size_t i = 0; arts && i < p->n_files; i++) {
        cJSON *f = cJSON_CreateObject();
        cJSON_AddStringToObject(f, "file_handle", p->files[i].handle);
        cJSON_AddStringToObject(f, "md5_hash", p->files[i].md5);
        cJSON_AddItemToArray(arts, f);
    }
    return o;
}

static void copy_item(cJSON *dst, const cJSON *src, const char *key)
{
    const cJSON *v = src ? cJSON_GetObjectItemCaseSensitive(src, key) : NULL;
    cJSON *d = v ? cJSON_Duplicate(v, 1) : NULL;
    cJSON_AddItemToObject(dst, key, d ? d : cJSON_CreateNull());
}

static void merge_model_field(cJSON *dst, const cJSON *old_model, const char *key, const char *incoming)
{
    if (incoming)
        cJSON_AddStringToObject(dst, key, incoming);
    else
        copy_item(dst, old_model, key);
}

static void write_offline_record(resolve_ctx *c, const hub_metadata *md, const hub_package *p)
{
    if (md->dependencies_json)
        return;
    for (size_t i = 0; i < p->n_files; i++)
        if (!p->files[i].md5[0])
            return;
    const char *canonical = md->model_id ? md->model_id : c->req->model_id;
    if (hub_check_model_id(canonical))
        return;
    char *slug = NULL, *dir = hub_path(c->root, "offline-weights-registry"), *path = NULL, *lock = NULL;
    if (hub_model_slug(canonical, &slug) != CVM_OK || !dir)
        goto out;
    size_t n = strlen(dir) + strlen(slug) + 16;
    path = malloc(n);
    lock = malloc(n);
    if (!path || !lock)
        goto out;
    snprintf(path, n, "%s/%s.json", dir, slug);
    snprintf(lock, n, "%s/.%s.json.lock", dir, slug);
    int fd = -1;
    if (hub_mkdirs(dir) != CVM_OK || hub_lock(lock, c->lock_timeout_s, &fd) != CVM_OK)
        goto out;
    cJSON *old = read_json(path);
    const cJSON *fv = old ? cJSON_GetObjectItemCaseSensitive(old, "format_version") : NULL;
    if (old && (!cJSON_IsObject(old) || !cJSON_IsNumber(fv))) {
        cJSON_Delete(old); /* unreadable for inference-models too: replace it */
        old = NULL;
    }
    if (old && fv->valuedouble > OFFLINE_REGISTRY_FORMAT) {
        cJSON_Delete(old);
        hub_unlock(fd);
        goto out;
    }
    char now[40];
    iso_now(now, sizeof now);
    cJSON *o = cJSON_CreateObject();
    cJSON *model = o ? cJSON_AddObjectToObject(o, "model") : NULL;
    cJSON *pkgs = o ? cJSON_AddArrayToObject(o, "packages") : NULL;
    cJSON *aliases = o ? cJSON_AddArrayToObject(o, "requested_aliases") : NULL;
    cJSON *mine = offline_package_entry(c, p, canonical);
    if (o && model && pkgs && aliases && mine) {
        cJSON_AddNumberToObject(o, "format_version", OFFLINE_REGISTRY_FORMAT);
        cJSON_AddStringToObject(o, "canonical_model_id", canonical);
        cJSON_AddStringToObject(o, "recorded_at", now);
        cJSON_AddStringToObject(o, "source", "cvmodels");
        const cJSON *om = old ? cJSON_GetObjectItemCaseSensitive(old, "model") : NULL;
        if (!cJSON_IsObject(om))
            om = NULL;
        merge_model_field(model, om, "model_architecture", md->architecture);
        merge_model_field(model, om, "task_type", md->task);
        merge_model_field(model, om, "model_variant", md->variant);
        copy_item(model, om, "model_dependencies");
        cJSON *rp = raw_or_null(md->recommended_json, 1);
        if (cJSON_IsNull(rp)) {
            cJSON_Delete(rp);
            copy_item(model, om, "recommended_parameters");
        } else {
            cJSON_AddItemToObject(model, "recommended_parameters", rp);
        }
        const cJSON *e;
        const cJSON *old_pkgs = old ? cJSON_GetObjectItemCaseSensitive(old, "packages") : NULL;
        const cJSON *old_aliases = old ? cJSON_GetObjectItemCaseSensitive(old, "requested_aliases") : NULL;
        cJSON_ArrayForEach(e, old_pkgs)
        {
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "package_id");
            if (cJSON_IsString(id) && strcmp(id->valuestring, p->package_id) != 0)
                cJSON_AddItemToArray(pkgs, cJSON_Duplicate(e, 1));
        }
        cJSON_AddItemToArray(pkgs, mine);
        mine = NULL;
        cJSON_ArrayForEach(e, old_aliases)
        {
            if (cJSON_IsString(e) && strcmp(e->valuestring, c->req->model_id) != 0)
                cJSON_AddItemToArray(aliases, cJSON_CreateString(e->valuestring));
        }
        if (strcmp(c->req->model_id, canonical) != 0)
            cJSON_AddItemToArray(aliases, cJSON_CreateString(c->req->model_id));
        const cJSON *proven = old ? cJSON_GetObjectItemCaseSensitive(old, "proven") : NULL;
        cJSON *pv = cJSON_IsObject(proven) ? cJSON_Duplicate(proven, 1) : cJSON_CreateObject();
        if (pv)
            cJSON_AddItemToObject(o, "proven", pv);
        char *txt = cJSON_Print(o);
        if (txt)
            hub_write_atomic(path, txt, strlen(txt));
        free(txt);
    }
    cJSON_Delete(mine);
    cJSON_Delete(o);
    cJSON_Delete(old);
    hub_unlock(fd);
out:
    free(slug);
    free(dir);
    free(path);
    free(lock);
    /* Best effort, like the auto-resolution entry: cvmodels itself never
     * reads this record. */
    cvm_error_clear();
}

static cvm_status link_file(const char *blob, const char *dest)
{
    char target[4096];
    ssize_t n = readlink(dest, target, sizeof target - 1);
    if (n >= 0) {
        target[n] = '\0';
        if (strcmp(target, blob) == 0)
            return CVM_OK;
    }
    if (unlink(dest) != 0 && errno != ENOENT)
        return cvm_errorf(CVM_E_IO, "cannot replace %s: %s", dest, strerror(errno));
    if (symlink(blob, dest) != 0)
        return cvm_errorf(CVM_E_IO, "cannot link %s -> %s: %s", dest, blob, strerror(errno));
    return CVM_OK;
}

static cvm_status fetch_blob(resolve_ctx *c, const hub_file *f, const char *blob)
{
    if (hub_file_exists(blob))
        return CVM_OK;
    size_t bl = strlen(c->blobs);
    char *lock = malloc(bl + 48), *part = malloc(bl + 48);
    if (!lock || !part) {
        free(lock);
        free(part);
        return cvm_errorf(CVM_E_NOMEM, "out of memory");
    }
    snprintf(lock, bl + 48, "%s/.%s.lock", c->blobs, f->md5);
    snprintf(part, bl + 48, "%s/%s.partial", c->blobs, f->md5);
    int fd = -1;
    cvm_status st = hub_lock(lock, c->lock_timeout_s, &fd);
    if (st == CVM_OK) {
        /* Another process may have finished it while we waited. */
        if (!hub_file_exists(blob)) {
            int64_t total = 0, have = hub_partial_progress(part, &total);
            if (have > 0 && total > 0)
                hub_buf_printf(&c->report, "  resuming %s: %lld of %lld bytes already fetched\n", f->handle,
                               (long long)have, (long long)total);
            else if (have > 0)
                hub_buf_printf(&c->report, "  resuming %s from byte %lld\n", f->handle, (long long)have);
            st = hub_download_file(&c->net, f->url, f->md5, part, blob, f->handle);
            if (st == CVM_OK)
                hub_buf_printf(&c->report, "  downloaded %s (md5 %s verified)\n", f->handle, f->md5);
        }
        hub_unlock(fd);
    }
    free(lock);
    free(part);
    return st;
}

static cvm_status materialize(resolve_ctx *c, const hub_metadata *md, const hub_package *p, char **pkg_dir_out)
{
    *pkg_dir_out = NULL;
    char *pkg_dir = hub_path(c->model_dir, p->package_id);
    size_t ml = strlen(c->model_dir) + strlen(p->package_id) + 40;
    char *lock = malloc(ml);
    if (!pkg_dir || !lock) {
        free(pkg_dir);
        free(lock);
        return cvm_errorf(CVM_E_NOMEM, "out of memory");
    }
    snprintf(lock, ml, "%s/.%s.materialization.lock", c->model_dir, p->package_id);
    cvm_status st = hub_mkdirs(pkg_dir);
    if (st == CVM_OK)
        st = hub_mkdirs(c->blobs);
    int fd = -1;
    if (st == CVM_OK)
        st = hub_lock(lock, c->lock_timeout_s, &fd);
    if (st == CVM_OK) {
        for (size_t i = 0; i < p->n_files && st == CVM_OK; i++) {
            const hub_file *f = &p->files[i];
            char *blob = hub_path(c->blobs, f->md5);
            char *dest = hub_path(pkg_dir, f->handle);
            if (!blob || !dest) {
                st = cvm_errorf(CVM_E_NOMEM, "out of memory");
            } else {
                st = fetch_blob(c, f, blob);
                char *slash = strrchr(dest, '/');
                if (st == CVM_OK && slash && slash > dest + strlen(pkg_dir)) {
                    *slash = '\0';
                    st = hub_mkdirs(dest);
                    *slash = '/';
                }
                if (st == CVM_OK)
                    st = link_file(blob, dest);
            }
            free(blob);
            free(dest);
        }
        if (st == CVM_OK)
            st = write_model_config(c, md, p, pkg_dir);
        hub_unlock(fd);
    }
    free(lock);
    if (st != CVM_OK) {
        free(pkg_dir);
        return st;
    }
    *pkg_dir_out = pkg_dir;
    return CVM_OK;
}

/* ------------------------------------------------------------------ entry */

static cvm_status offline_resolve(resolve_ctx *c, char **package_dir, const char *why_offline)
{
    char *dir = auto_cache_lookup(c, 1);
    if (dir) {
        *package_dir = dir;
        return CVM_OK;
    }
    hub_buf why;
    hub_buf_init(&why);
    dir = cache_scan(c, &why);
    if (dir) {
        hub_buf_printf(&c->report, "model '%s': %s; using cached package %s\n", c->req->model_id, why_offline, dir);
        hub_buf_free(&why);
        *package_dir = dir;
        return CVM_OK;
    }
    cvm_status st = cvm_errorf(CVM_E_NOT_FOUND,
                               "%s and model '%s' is not in the cache at %s (%s); load it once with network "
                               "access (same INFERENCE_HOME) or copy its package folder there",
                               why_offline, c->req->model_id, c->root, why.data ? why.data : "nothing found");
    hub_buf_printf(&c->report, "%s\n", cvm_last_error());
    hub_buf_free(&why);
    return st;
}

static cvm_status resolve(resolve_ctx *c, char **package_dir)
{
    const cvm_hub_request *req = c->req;
    if (req->offline || env_true("OFFLINE_MODE"))
        return offline_resolve(c, package_dir, "offline mode is on, so the network is not used,");

    char *dir = auto_cache_lookup(c, 0);
    if (dir) {
        *package_dir = dir;
        return CVM_OK;
    }
    hub_metadata md;
    memset(&md, 0, sizeof md);
    cvm_status st = hub_fetch_metadata(&c->net, req->model_id, &md);
    if (st != CVM_OK) {
        if (c->net.last_was_network) {
            /* Degrade to what is cached rather than fail a model that was
             * loaded before, and say so. */
            char saved[1024];
            snprintf(saved, sizeof saved, "%s", cvm_last_error());
            hub_buf why;
            hub_buf_init(&why);
            char *cached = cache_scan(c, &why);
            hub_buf_free(&why);
            if (cached) {
                hub_buf_printf(&c->report, "weights API unreachable (%s); using cached package %s\n", saved, cached);
                *package_dir = cached;
                hub_metadata_free(&md);
                return CVM_OK;
            }
            cvm_errorf(st, "%s", saved);
        }
        hub_buf_printf(&c->report, "%s\n", cvm_last_error());
        hub_metadata_free(&md);
        return st;
    }
    size_t *order = calloc(md.n_pkgs ? md.n_pkgs : 1, sizeof *order);
    size_t n_ranked = 0;
    if (!order) {
        hub_metadata_free(&md);
        return cvm_errorf(CVM_E_NOMEM, "out of memory");
    }
    st = hub_negotiate(&md, order, &n_ranked, &c->report);
    if (st == CVM_OK && n_ranked == 0) {
        hub_buf why;
        hub_buf_init(&why);
        hub_describe_rejections(&md, &why);
        st = cvm_errorf(CVM_E_UNSUPPORTED, "none of the %zu packages of model '%s' can run here: %s", md.n_pkgs,
                        req->model_id, why.data ? why.data : "");
        hub_buf_free(&why);
    }
    hub_buf failures;
    hub_buf_init(&failures);
    cvm_status last = CVM_OK;
    for (size_t r = 0; st == CVM_OK && r < n_ranked; r++) {
        const hub_package *p = &md.pkgs[order[r]];
        char *pdir = NULL;
        cvm_status s = materialize(c, &md, p, &pdir);
        if (s == CVM_OK) {
            hub_buf_printf(&c->report, "  chosen: %s -> %s\n", p->package_id, pdir);
            write_auto_cache(c, &md, p, pdir);
            write_offline_record(c, &md, p);
            *package_dir = pdir;
            break;
        }
        last = s;
        hub_buf_printf(&c->report, "  package %s failed: %s\n", p->package_id, cvm_last_error());
        hub_buf_printf(&failures, "%s%s: %s", r ? "; " : "", p->package_id, cvm_last_error());
        if (r + 1 == n_ranked) {
            hub_buf why;
            hub_buf_init(&why);
            hub_describe_rejections(&md, &why);
            st = cvm_errorf(last, "every usable package of model '%s' failed: %s%s%s", req->model_id,
                            failures.data ? failures.data : "", why.len ? " (not tried: " : "",
                            why.len ? why.data : "");
            if (why.len) {
                char msg[1024];
                snprintf(msg, sizeof msg, "%s", cvm_last_error());
                if (strlen(msg) < sizeof msg - 2)
                    cvm_errorf(last, "%s)", msg);
            }
            hub_buf_free(&why);
        }
    }
    hub_buf_free(&failures);
    if (st != CVM_OK)
        hub_buf_printf(&c->report, "%s\n", cvm_last_error());
    free(order);
    hub_metadata_free(&md);
    return st;
}

cvm_status cvm_hub_resolve(const cvm_hub_request *req, char **package_dir, char **report)
{
    if (report)
        *report = NULL;
    if (!package_dir)
        return cvm_errorf(CVM_E_INVALID_ARG, "cvm_hub_resolve: package_dir is NULL");
    *package_dir = NULL;
    if (!req || !req->model_id)
        return cvm_errorf(CVM_E_INVALID_ARG, "cvm_hub_resolve: no model id given");
    const char *bad = hub_check_model_id(req->model_id);
    if (bad)
        return cvm_errorf(CVM_E_INVALID_ARG, "'%.200s' is neither a file, a folder nor a valid model id: %s",
                          req->model_id, bad);
    resolve_ctx c;
    cvm_status st = ctx_init(&c, req);
    if (st == CVM_OK)
        st = resolve(&c, package_dir);
    if (report) {
        char saved[1024];
        snprintf(saved, sizeof saved, "%s", cvm_last_error());
        *report = hub_buf_take(&c.report);
        if (st != CVM_OK)
            cvm_errorf(st, "%s", saved);
    }
    ctx_free(&c);
    return st;
}
