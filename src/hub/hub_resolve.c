/* Model id -> package folder: auto-resolution cache, weights API, negotiation,
 * download into the shared cache, offline lookup.  The cache layout is the
 * one inference-models uses, so both libraries can share one INFERENCE_HOME. */
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
    const cJSON *files = j ? cJSON_GetObjectItemCaseSensitive(j, "cvmodels_package_files") : NULL;
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
    /* The fields inference-models reads from a weights-only package, so that
     * it can load this folder directly too; our file list goes under our own
     * key. */
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
            struct stat ps;
            if (stat(part, &ps) == 0 && ps.st_size > 0)
                hub_buf_printf(&c->report, "  resuming %s from byte %lld\n", f->handle, (long long)ps.st_size);
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
