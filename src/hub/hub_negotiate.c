/* Which of a model's packages this build can run, and in which order to try
 * them.  The filters and the ranking tuple follow inference-models (so that
 * both pick the same package when both could run it), restricted to what the
 * native engine executes: ONNX graphs on the CPU. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub/hub_internal.h"

static const char *backend_reason(const char *b)
{
    if (!b)
        return "manifest names no backend";
    if (strcmp(b, "onnx") == 0)
        return NULL;
    if (strcmp(b, "trt") == 0)
        return "TensorRT engine: needs the CUDA/TensorRT backend, which this build does not have";
    if (strcmp(b, "torch") == 0)
        return "PyTorch checkpoint: cvmodels runs ONNX graphs, not torch weights";
    if (strcmp(b, "torch-script") == 0)
        return "TorchScript module: cvmodels runs ONNX graphs, not TorchScript";
    if (strcmp(b, "hf") == 0 || strcmp(b, "hugging-face") == 0)
        return "Hugging Face checkpoint: cvmodels runs ONNX graphs, not transformers models";
    if (strcmp(b, "ultralytics") == 0)
        return "Ultralytics checkpoint: cvmodels runs ONNX graphs only";
    return "unknown backend";
}

static int backend_priority(const char *b)
{
    static const struct {
        const char *name;
        int prio;
    } t[] = {{"trt", 7}, {"onnx", 6}, {"torch", 5}, {"hugging-face", 4}, {"hf", 4},
             {"torch-script", 3}, {"ultralytics", 1}, {"custom", 0}};
    for (size_t i = 0; b && i < sizeof t / sizeof t[0]; i++)
        if (strcmp(b, t[i].name) == 0)
            return t[i].prio;
    return -1;
}

static int quant_priority(const char *q)
{
    if (!q)
        return 1;
    if (strcmp(q, "int8") == 0)
        return 4;
    if (strcmp(q, "fp16") == 0)
        return 3;
    if (strcmp(q, "fp32") == 0)
        return 2;
    if (strcmp(q, "unknown") == 0)
        return 1;
    return 0; /* bf16 and anything else */
}

static void set_skip(hub_package *p, const char *fmt, ...) CVM_PRINTF(2, 3);
static void set_skip(hub_package *p, const char *fmt, ...)
{
    if (p->skip)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    p->skip = hub_strdup(msg);
    if (!p->skip)
        p->skip = hub_strdup("skipped");
}

static const char *const ignored_manifests[] = {"oak-model-package-v1", "tfjs-model-package-v1",
                                                "mediapipe-model-package-v1"};

static void filter(hub_metadata *md, hub_package *p)
{
    if (p->invalid) {
        set_skip(p, "malformed entry: %s", p->invalid);
        return;
    }
    if (md->dependencies_json) {
        set_skip(p, "the model needs other models loaded with it (modelDependencies), which cvmodels does not "
                    "support yet");
        return;
    }
    if (p->manifest_type) {
        for (size_t i = 0; i < sizeof ignored_manifests / sizeof ignored_manifests[0]; i++)
            if (strcmp(p->manifest_type, ignored_manifests[i]) == 0) {
                set_skip(p, "%s packages are for other runtimes", p->manifest_type);
                return;
            }
    }
    if (!p->trusted) {
        set_skip(p, "not from a trusted source (trustedSource is false)");
        return;
    }
    const char *br = backend_reason(p->backend);
    if (br) {
        set_skip(p, "%s", br);
        return;
    }
    if (p->manifest_type && strcmp(p->manifest_type, "onnx-model-package-v1") != 0) {
        set_skip(p, "backend 'onnx' but manifest type '%s' is not onnx-model-package-v1", p->manifest_type);
        return;
    }
    /* The CPU default set of inference-models; fp16/int8 are only taken when
     * asked for, so that both libraries choose the same package. */
    const char *q = p->quantization;
    if (strcmp(q, "fp32") != 0 && strcmp(q, "bf16") != 0 && strcmp(q, "unknown") != 0) {
        set_skip(p, "%s quantization: on CPU only fp32/bf16/unknown packages are chosen by default", q);
        return;
    }
    if (p->cpu_incompatible) {
        set_skip(p, "the package declares itself incompatible with CPU execution");
        return;
    }
    if (p->opset > HUB_MAX_ONNX_OPSET) {
        set_skip(p, "ONNX opset %d is newer than the engine supports (%d)", p->opset, HUB_MAX_ONNX_OPSET);
        return;
    }
    if (p->nms_fused) {
        set_skip(p, "NMS is fused into the graph (modelFeatures.nms_fused); such packages are skipped unless "
                    "requested, as in inference-models");
        return;
    }
    int has_weights = 0;
    for (size_t i = 0; i < p->n_files; i++) {
        if (!p->files[i].md5[0]) {
            set_skip(p, "file '%s' comes without an md5Hash, so its download could not be verified",
                     p->files[i].handle);
            return;
        }
        if (strcmp(p->files[i].handle, "weights.onnx") == 0)
            has_weights = 1;
    }
    if (!has_weights)
        set_skip(p, "the package has no weights.onnx");
}

typedef struct rank_key {
    long k[7];
    size_t index;
} rank_key;

static int cmp_desc(const void *a, const void *b)
{
    const rank_key *x = a, *y = b;
    for (int i = 0; i < 7; i++)
        if (x->k[i] != y->k[i])
            return x->k[i] > y->k[i] ? -1 : 1;
    /* Python's sort is stable; keep the server's order on full ties. */
    return x->index < y->index ? -1 : (x->index > y->index);
}


cvm_status hub_negotiate(hub_metadata *md, size_t *order, size_t *n_ranked, hub_buf *report)
{
    *n_ranked = 0;
    size_t n = md->n_pkgs;
    for (size_t i = 0; i < n; i++)
        filter(md, &md->pkgs[i]);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (!md->pkgs[i].skip)
            m++;
    if (m) {
        rank_key *keys = calloc(m, sizeof *keys);
        size_t *idx = calloc(m, sizeof *idx);
        size_t *arg = calloc(m, sizeof *arg);
        if (!keys || !idx || !arg) {
            free(keys);
            free(idx);
            free(arg);
            return cvm_errorf(CVM_E_NOMEM, "out of memory ranking packages");
        }
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (!md->pkgs[i].skip)
                idx[k++] = i;
        /* inference-models' last tie-breaker zips the argsort of the ids with
         * the candidates' positions (not each id's own rank); reproduced so
         * that ties resolve to the same package. */
        for (size_t i = 0; i < m; i++)
            arg[i] = idx[i];
        /* Stable insertion sort by id (m <= HUB_MAX_PACKAGES; no global
         * comparator state, so concurrent resolves stay independent). */
        for (size_t i = 1; i < m; i++) {
            size_t v = arg[i], j = i;
            while (j > 0 && strcmp(md->pkgs[arg[j - 1]].package_id, md->pkgs[v].package_id) > 0) {
                arg[j] = arg[j - 1];
                j--;
            }
            arg[j] = v;
        }
        for (size_t r = 0; r < m; r++) {
            hub_package *p = &md->pkgs[idx[r]];
            size_t pos_of_arg = 0;
            for (size_t t = 0; t < m; t++)
                if (idx[t] == arg[r])
                    pos_of_arg = t;
            keys[r].k[0] = backend_priority(p->backend);
            keys[r].k[1] = quant_priority(p->quantization);
            keys[r].k[2] = p->trusted;
            keys[r].k[3] = p->dynamic_batch ? 2 : 1;
            keys[r].k[4] = p->dynamic_batch ? 0 : -(long)p->static_batch;
            keys[r].k[5] = p->opset;
            keys[r].k[6] = (long)pos_of_arg;
            keys[r].index = idx[r];
        }
        qsort(keys, m, sizeof *keys, cmp_desc);
        for (size_t r = 0; r < m; r++)
            order[r] = keys[r].index;
        *n_ranked = m;
        free(keys);
        free(idx);
        free(arg);
    }
    if (report) {
        hub_buf_printf(report, "model '%s'", md->model_id ? md->model_id : "?");
        if (md->architecture)
            hub_buf_printf(report, ", architecture %s", md->architecture);
        if (md->task)
            hub_buf_printf(report, ", task %s", md->task);
        hub_buf_printf(report, ": %zu package%s offered, %zu usable here\n", n, n == 1 ? "" : "s", m);
        for (size_t r = 0; r < *n_ranked; r++) {
            const hub_package *p = &md->pkgs[order[r]];
            hub_buf_printf(report, "  candidate %zu: %s (onnx %s, %s batch", r + 1, p->package_id, p->quantization,
                           p->dynamic_batch ? "dynamic" : "static");
            if (!p->dynamic_batch)
                hub_buf_printf(report, " %lld", (long long)p->static_batch);
            if (p->opset > 0)
                hub_buf_printf(report, ", opset %d", p->opset);
            hub_buf_printf(report, ")\n");
        }
        for (size_t i = 0; i < n; i++) {
            const hub_package *p = &md->pkgs[i];
            if (p->skip)
                hub_buf_printf(report, "  skipped %s (%s %s): %s\n", p->package_id, p->backend ? p->backend : "?",
                               p->quantization ? p->quantization : "?", p->skip);
        }
    }
    return CVM_OK;
}

void hub_describe_rejections(const hub_metadata *md, hub_buf *out)
{
    for (size_t i = 0; i < md->n_pkgs; i++) {
        const hub_package *p = &md->pkgs[i];
        if (!p->skip)
            continue;
        hub_buf_printf(out, "%s%s (%s %s): %s", i ? "; " : "", p->package_id, p->backend ? p->backend : "?",
                       p->quantization ? p->quantization : "?", p->skip);
    }
}
