/* The weights API's JSON, parsed as untrusted input: every string is checked
 * before it can become a path, a URL or a folder name. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "hub/hub_internal.h"

static void package_free(hub_package *p)
{
    free(p->package_id);
    free(p->manifest_type);
    free(p->backend);
    free(p->quantization);
    free(p->features_json);
    free(p->incompatible_json);
    free(p->recommended_json);
    for (size_t i = 0; i < p->n_files; i++) {
        free(p->files[i].handle);
        free(p->files[i].url);
    }
    free(p->files);
    free(p->invalid);
    free(p->skip);
}

void hub_metadata_free(hub_metadata *md)
{
    free(md->model_id);
    free(md->architecture);
    free(md->variant);
    free(md->task);
    free(md->recommended_json);
    free(md->dependencies_json);
    free(md->next_page);
    for (size_t i = 0; i < md->n_pkgs; i++)
        package_free(&md->pkgs[i]);
    free(md->pkgs);
    memset(md, 0, sizeof *md);
}

/* A string field, or NULL when absent/null; *bad is set for other types. */
static const char *get_str(const cJSON *o, const char *key, int *bad)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v))
        return NULL;
    if (!cJSON_IsString(v) || !v->valuestring) {
        *bad = 1;
        return NULL;
    }
    return v->valuestring;
}

static int dup_str(const cJSON *o, const char *key, size_t max, char **out, int *bad)
{
    const char *s = get_str(o, key, bad);
    if (!s)
        return 1;
    if (strlen(s) > max) {
        *bad = 1;
        return 1;
    }
    *out = hub_strdup(s);
    return *out != NULL;
}

static char *print_json(const cJSON *v)
{
    if (!v || cJSON_IsNull(v))
        return NULL;
    return cJSON_PrintUnformatted(v);
}

static void set_invalid(hub_package *p, const char *fmt, const char *a)
{
    if (p->invalid)
        return;
    char msg[700];
    snprintf(msg, sizeof msg, fmt, a ? a : "");
    p->invalid = hub_strdup(msg);
}

/* Short, printable excerpt of a hostile string for messages. */
static void excerpt(const char *s, char *out, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; s[i] && k + 5 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (i >= 60) {
            memcpy(out + k, "...", 3);
            k += 3;
            break;
        }
        out[k++] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
    }
    out[k] = '\0';
}

static cvm_status parse_package(const cJSON *o, hub_metadata *md, hub_package *p)
{
    int bad = 0;
    p->opset = -1;
    if (!cJSON_IsObject(o)) {
        set_invalid(p, "package entry is not a JSON object%s", NULL);
        return CVM_OK;
    }
    const char *id = get_str(o, "packageId", &bad);
    if (!id) {
        set_invalid(p, "package has no packageId%s", NULL);
        p->package_id = hub_strdup("(none)");
    } else {
        const char *why = hub_check_package_id(id);
        if (why) {
            char ex[80];
            excerpt(id, ex, sizeof ex);
            char msg[256];
            snprintf(msg, sizeof msg, "%s ('%s')", why, ex);
            set_invalid(p, "%s", msg);
            p->package_id = hub_strdup(ex[0] ? ex : "(empty)");
        } else {
            p->package_id = hub_strdup(id);
        }
    }
    if (!p->package_id)
        return cvm_errorf(CVM_E_NOMEM, "out of memory parsing the weights API response");
    for (size_t i = 0; i < md->n_pkgs; i++)
        if (&md->pkgs[i] != p && md->pkgs[i].package_id && strcmp(md->pkgs[i].package_id, p->package_id) == 0)
            set_invalid(p, "package id listed twice%s", NULL);

    const cJSON *trusted = cJSON_GetObjectItemCaseSensitive(o, "trustedSource");
    p->trusted = cJSON_IsTrue(trusted); /* missing means untrusted, as upstream */

    const cJSON *man = cJSON_GetObjectItemCaseSensitive(o, "packageManifest");
    if (!cJSON_IsObject(man)) {
        set_invalid(p, "package has no packageManifest object%s", NULL);
    } else {
        if (!dup_str(man, "type", 128, &p->manifest_type, &bad) || !dup_str(man, "backendType", 64, &p->backend, &bad) ||
            !dup_str(man, "quantization", 32, &p->quantization, &bad))
            return cvm_errorf(CVM_E_NOMEM, "out of memory parsing the weights API response");
        if (bad)
            set_invalid(p, "packageManifest has a field of the wrong type or length%s", NULL);
        const cJSON *dyn = cJSON_GetObjectItemCaseSensitive(man, "dynamicBatchSize");
        p->dynamic_batch = cJSON_IsTrue(dyn);
        const cJSON *sb = cJSON_GetObjectItemCaseSensitive(man, "staticBatchSize");
        if (cJSON_IsNumber(sb)) {
            if (sb->valuedouble < 1 || sb->valuedouble > 1e6)
                set_invalid(p, "staticBatchSize out of range%s", NULL);
            else
                p->static_batch = (int64_t)sb->valuedouble;
        } else if (sb && !cJSON_IsNull(sb)) {
            set_invalid(p, "staticBatchSize is not a number%s", NULL);
        }
        if (p->dynamic_batch && p->static_batch)
            set_invalid(p, "manifest declares both a dynamic and a static batch size%s", NULL);
        if (!p->dynamic_batch && !p->static_batch && p->backend &&
            (strcmp(p->backend, "onnx") == 0 || strcmp(p->backend, "trt") == 0 || strcmp(p->backend, "torch") == 0))
            set_invalid(p, "manifest has neither a dynamic nor a positive static batch size%s", NULL);
        const cJSON *op = cJSON_GetObjectItemCaseSensitive(man, "opset");
        if (cJSON_IsNumber(op)) {
            if (op->valuedouble < 1 || op->valuedouble > 1000)
                set_invalid(p, "opset out of range%s", NULL);
            else
                p->opset = (int)op->valuedouble;
        }
        const cJSON *inc = cJSON_GetObjectItemCaseSensitive(man, "incompatibleProviders");
        if (cJSON_IsArray(inc)) {
            p->incompatible_json = print_json(inc);
            const cJSON *e;
            cJSON_ArrayForEach(e, inc) if (cJSON_IsString(e) && e->valuestring &&
                                           strcmp(e->valuestring, "CPUExecutionProvider") == 0) p->cpu_incompatible = 1;
        }
    }
    if (!p->quantization && !(p->quantization = hub_strdup("unknown")))
        return cvm_errorf(CVM_E_NOMEM, "out of memory parsing the weights API response");

    const cJSON *feat = cJSON_GetObjectItemCaseSensitive(o, "modelFeatures");
    if (cJSON_IsObject(feat)) {
        const cJSON *nf = cJSON_GetObjectItemCaseSensitive(feat, "nms_fused");
        p->nms_fused = nf && !cJSON_IsNull(nf) && !cJSON_IsFalse(nf);
        p->features_json = print_json(feat);
    }
    p->recommended_json = print_json(cJSON_GetObjectItemCaseSensitive(o, "recommendedParameters"));

    const cJSON *files = cJSON_GetObjectItemCaseSensitive(o, "packageFiles");
    if (!cJSON_IsArray(files)) {
        set_invalid(p, "package has no packageFiles list%s", NULL);
        return CVM_OK;
    }
    int nf = cJSON_GetArraySize(files);
    if (nf > HUB_MAX_FILES_PER_PACKAGE) {
        set_invalid(p, "package lists more than 256 files%s", NULL);
        return CVM_OK;
    }
    p->files = calloc(nf ? (size_t)nf : 1, sizeof *p->files);
    if (!p->files)
        return cvm_errorf(CVM_E_NOMEM, "out of memory parsing the weights API response");
    const cJSON *f;
    cJSON_ArrayForEach(f, files)
    {
        hub_file *hf = &p->files[p->n_files];
        int fbad = 0;
        if (!cJSON_IsObject(f)) {
            set_invalid(p, "a packageFiles entry is not an object%s", NULL);
            continue;
        }
        const char *h = get_str(f, "fileHandle", &fbad);
        const char *u = get_str(f, "downloadUrl", &fbad);
        const char *m = get_str(f, "md5Hash", &fbad);
        if (fbad || !h || !u) {
            set_invalid(p, "a file entry lacks fileHandle or downloadUrl%s", NULL);
            continue;
        }
        const char *why = hub_check_file_handle(h);
        if (why) {
            char ex[80], msg[256];
            excerpt(h, ex, sizeof ex);
            snprintf(msg, sizeof msg, "unsafe file handle '%s': %s", ex, why);
            set_invalid(p, "%s", msg);
            continue;
        }
        if (strlen(u) > HUB_MAX_URL_LEN || (strncmp(u, "https://", 8) != 0 && strncmp(u, "http://", 7) != 0)) {
            set_invalid(p, "download URL of '%s' is not an http(s) URL of sane length", h);
            continue;
        }
        for (size_t i = 0; i < p->n_files; i++)
            if (strcmp(p->files[i].handle, h) == 0)
                set_invalid(p, "file handle '%s' listed twice", h);
        if (m) {
            if (strlen(m) != 32) {
                set_invalid(p, "md5Hash of '%s' is not 32 hex digits", h);
                continue;
            }
            memcpy(hf->md5, m, 33);
            if (!hub_normalize_md5(hf->md5)) {
                set_invalid(p, "md5Hash of '%s' is not 32 hex digits", h);
                hf->md5[0] = '\0';
                continue;
            }
        }
        hf->handle = hub_strdup(h);
        hf->url = hub_strdup(u);
        p->n_files++;
        if (!hf->handle || !hf->url)
            return cvm_errorf(CVM_E_NOMEM, "out of memory parsing the weights API response");
    }
    return CVM_OK;
}

cvm_status hub_parse_weights_page(const char *body, size_t len, hub_metadata *md)
{
    if (!body)
        return cvm_errorf(CVM_E_PARSE, "empty weights API response");
    if (len > HUB_MAX_RESPONSE_BYTES)
        return cvm_errorf(CVM_E_LIMIT, "weights API response of %zu bytes is over the 16 MiB ceiling", len);
    /* cJSON decodes \u0000 into a NUL that silently cuts the string short; a
     * name cut that way would not be the name the server meant. */
    for (size_t i = 0; i + 6 <= len; i++)
        if (body[i] == '\\' && body[i + 1] == 'u' && body[i + 2] == '0' && body[i + 3] == '0' &&
            body[i + 4] == '0' && body[i + 5] == '0')
            return cvm_errorf(CVM_E_PARSE, "weights API response holds an escaped NUL character; refused");
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (!root)
        return cvm_errorf(CVM_E_PARSE, "weights API response is not valid JSON");
    cvm_status st = CVM_OK;
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(root, "modelMetadata");
    if (!cJSON_IsObject(meta)) {
        st = cvm_errorf(CVM_E_PARSE, "weights API response has no 'modelMetadata' object");
        goto done;
    }
    int bad = 0;
    const char *mid = get_str(meta, "modelId", &bad);
    const char *arch = get_str(meta, "modelArchitecture", &bad);
    const char *var = get_str(meta, "modelVariant", &bad);
    const char *task = get_str(meta, "taskType", &bad);
    const char *next = get_str(meta, "nextPage", &bad);
    if (bad) {
        st = cvm_errorf(CVM_E_PARSE, "weights API response: modelId, modelArchitecture, modelVariant, taskType or "
                                     "nextPage has the wrong type");
        goto done;
    }
    if ((mid && strlen(mid) > HUB_MAX_MODEL_ID_LEN) || (arch && strlen(arch) > 128) || (var && strlen(var) > 128) ||
        (task && strlen(task) > 128) || (next && strlen(next) > 4096)) {
        st = cvm_errorf(CVM_E_LIMIT, "weights API response: an identifier is implausibly long");
        goto done;
    }
    if (mid && hub_check_model_id(mid)) {
        st = cvm_errorf(CVM_E_PARSE, "weights API response names the model with an unsafe id");
        goto done;
    }
    /* Later pages repeat the model-level fields; the first page wins. */
#define KEEP(field, val)                                             \
    if (!md->field && (val) && !(md->field = hub_strdup(val))) {     \
        st = cvm_errorf(CVM_E_NOMEM, "out of memory");               \
        goto done;                                                   \
    }
    KEEP(model_id, mid)
    KEEP(architecture, arch)
    KEEP(variant, var)
    KEEP(task, task)
#undef KEEP
    free(md->next_page);
    md->next_page = NULL;
    if (next && *next && !(md->next_page = hub_strdup(next))) {
        st = cvm_errorf(CVM_E_NOMEM, "out of memory");
        goto done;
    }
    if (!md->recommended_json)
        md->recommended_json = print_json(cJSON_GetObjectItemCaseSensitive(meta, "recommendedParameters"));
    const cJSON *deps = cJSON_GetObjectItemCaseSensitive(meta, "modelDependencies");
    if (!md->dependencies_json && cJSON_IsArray(deps) && cJSON_GetArraySize(deps) > 0)
        md->dependencies_json = print_json(deps);

    const cJSON *pk = cJSON_GetObjectItemCaseSensitive(meta, "modelPackages");
    if (pk && !cJSON_IsNull(pk) && !cJSON_IsArray(pk)) {
        st = cvm_errorf(CVM_E_PARSE, "weights API response: 'modelPackages' is not a list");
        goto done;
    }
    int n = pk ? cJSON_GetArraySize(pk) : 0;
    if (n < 0 || (size_t)n > HUB_MAX_PACKAGES || md->n_pkgs + (size_t)n > HUB_MAX_PACKAGES) {
        st = cvm_errorf(CVM_E_LIMIT, "weights API lists more than %d packages for one model; refused",
                        HUB_MAX_PACKAGES);
        goto done;
    }
    if (n > 0) {
        hub_package *grown = realloc(md->pkgs, (md->n_pkgs + (size_t)n) * sizeof *grown);
        if (!grown) {
            st = cvm_errorf(CVM_E_NOMEM, "out of memory");
            goto done;
        }
        md->pkgs = grown;
        const cJSON *o;
        cJSON_ArrayForEach(o, pk)
        {
            hub_package *p = &md->pkgs[md->n_pkgs];
            memset(p, 0, sizeof *p);
            md->n_pkgs++;
            st = parse_package(o, md, p);
            if (st != CVM_OK)
                goto done;
        }
    }
done:
    cJSON_Delete(root);
    return st;
}
