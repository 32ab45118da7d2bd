#include "base/str.h"
#include "models/package.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/status.h"

#define CONFIG_MAX_BYTES (16u << 20)

static char *join_path(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p)
        return NULL;
    memcpy(p, dir, a);
    size_t k = a;
    if (k && p[k - 1] != '/')
        p[k++] = '/';
    memcpy(p + k, name, b + 1);
    return p;
}

cvm_status cvm_read_text_file(const char *path, size_t max_bytes, char **text, size_t *len)
{
    *text = NULL;
    if (len)
        *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return cvm_errorf(errno == ENOENT ? CVM_E_NOT_FOUND : CVM_E_IO, "%s: cannot open (%s)", path,
                          strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    if (!buf) {
        fclose(f);
        return cvm_errorf(CVM_E_NOMEM, "%s: out of memory", path);
    }
    for (;;) {
        if (n == cap) {
            if (cap >= max_bytes) {
                free(buf);
                fclose(f);
                return cvm_errorf(CVM_E_LIMIT, "%s: larger than %zu bytes", path, max_bytes);
            }
            cap *= 2;
            char *nb = realloc(buf, cap + 1);
            if (!nb) {
                free(buf);
                fclose(f);
                return cvm_errorf(CVM_E_NOMEM, "%s: out of memory", path);
            }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        return cvm_errorf(CVM_E_IO, "%s: read error", path);
    }
    buf[n] = '\0';
    *text = buf;
    if (len)
        *len = n;
    return CVM_OK;
}

/* ----------------------------------------------------------- JSON helpers */

typedef struct jctx {
    const char *file;
} jctx;

/* A numeric field that pydantic would accept: a number, a numeric string, or
 * null/absent (present = 0). */
static cvm_status j_num(const jctx *c, const cJSON *obj, const char *key, const char *path,
                        double *out, int *present)
{
    *present = 0;
    const cJSON *it = obj ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
    if (!it || cJSON_IsNull(it))
        return CVM_OK;
    if (cJSON_IsNumber(it)) {
        *out = it->valuedouble;
    } else if (cJSON_IsString(it)) {
        char *end;
        const char *s = it->valuestring;
        while (*s == ' ')
            s++;
        errno = 0;
        double v = strtod(s, &end);
        while (*end == ' ')
            end++;
        if (end == s || *end || errno)
            return cvm_errorf(CVM_E_PARSE, "%s: field '%s%s' is \"%s\", expected a number", c->file,
                              path, key, it->valuestring);
        *out = v;
    } else if (cJSON_IsBool(it)) {
        *out = cJSON_IsTrue(it) ? 1 : 0;
    } else {
        return cvm_errorf(CVM_E_PARSE, "%s: field '%s%s' must be a number", c->file, path, key);
    }
    if (!isfinite(*out))
        return cvm_errorf(CVM_E_PARSE, "%s: field '%s%s' is not finite", c->file, path, key);
    *present = 1;
    return CVM_OK;
}

static cvm_status j_int(const jctx *c, const cJSON *obj, const char *key, const char *path, int *out,
                        int *present)
{
    double v = 0;
    CVM_TRY(j_num(c, obj, key, path, &v, present));
    if (!*present)
        return CVM_OK;
    if (v != floor(v) || v < INT_MIN || v > INT_MAX)
        return cvm_errorf(CVM_E_PARSE, "%s: field '%s%s' = %g is not an integer", c->file, path, key, v);
    *out = (int)v;
    return CVM_OK;
}

static cvm_status j_bool(const jctx *c, const cJSON *obj, const char *key, const char *path, int *out)
{
    const cJSON *it = obj ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
    if (!it || cJSON_IsNull(it))
        return CVM_OK;
    if (cJSON_IsBool(it)) {
        *out = cJSON_IsTrue(it) != 0;
        return CVM_OK;
    }
    if (cJSON_IsNumber(it) && (it->valuedouble == 0 || it->valuedouble == 1)) {
        *out = it->valuedouble != 0;
        return CVM_OK;
    }
    if (cJSON_IsString(it)) {
        const char *s = it->valuestring;
        if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "1") || !strcmp(s, "yes")) {
            *out = 1;
            return CVM_OK;
        }
        if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "0") || !strcmp(s, "no")) {
            *out = 0;
            return CVM_OK;
        }
    }
    return cvm_errorf(CVM_E_PARSE, "%s: field '%s%s' must be true or false", c->file, path, key);
}

/* NULL when absent or null; an error when present with another type. */
static cvm_status j_str(const jctx *c, const cJSON *obj, const char *key, const char *path,
                        const char **out)
{
    *out = NULL;
    const cJSON *it = obj ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
    if (!it || cJSON_IsNull(it))
        return CVM_OK;
    if (!cJSON_IsString(it))
        return cvm_errorf(CVM_E_PARSE, "%s: field '%s%s' must be a string", c->file, path, key);
    *out = it->valuestring;
    return CVM_OK;
}

static cvm_status j_obj(const jctx *c, const cJSON *obj, const char *key, const char *path,
                        const cJSON **out)
{
    *out = NULL;
    const cJSON *it = obj ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
    if (!it || cJSON_IsNull(it))
        return CVM_OK;
    if (!cJSON_IsObject(it))
        return cvm_errorf(CVM_E_PARSE, "%s: field '%s%s' must be an object", c->file, path, key);
    *out = it;
    return CVM_OK;
}

static cvm_status parse_json(const char *text, size_t len, const char *file, cJSON **out)
{
    *out = cJSON_ParseWithLength(text, len);
    if (!*out) {
        const char *e = cJSON_GetErrorPtr();
        long off = e && e >= text && e <= text + len ? (long)(e - text) : -1;
        return cvm_errorf(CVM_E_PARSE, "%s: not valid JSON (near byte %ld)", file, off);
    }
    if (!cJSON_IsObject(*out)) {
        cJSON_Delete(*out);
        *out = NULL;
        return cvm_errorf(CVM_E_PARSE, "%s: the top level must be a JSON object", file);
    }
    return CVM_OK;
}

static int set_str(char **dst, const char *s)
{
    free(*dst);
    *dst = s ? cvm_strdup(s) : NULL;
    return !s || *dst;
}

/* ------------------------------------------------------------ task names */

static const struct {
    const char *name;
    cvm_task task;
} task_names[] = {
    {"object-detection", CVM_TASK_OBJECT_DETECTION},
    {"instance-segmentation", CVM_TASK_INSTANCE_SEGMENTATION},
    {"keypoint-detection", CVM_TASK_KEYPOINT_DETECTION},
    {"classification", CVM_TASK_CLASSIFICATION},
    {"multi-label-classification", CVM_TASK_MULTI_LABEL_CLASSIFICATION},
};

cvm_status cvm_task_parse(const char *s, cvm_task *t)
{
    for (size_t i = 0; i < sizeof task_names / sizeof task_names[0]; i++)
        if (s && !strcmp(s, task_names[i].name)) {
            *t = task_names[i].task;
            return CVM_OK;
        }
    /* Short aliases for the command line. */
    static const struct {
        const char *a;
        cvm_task t;
    } alias[] = {{"detect", CVM_TASK_OBJECT_DETECTION},      {"det", CVM_TASK_OBJECT_DETECTION},
                 {"segment", CVM_TASK_INSTANCE_SEGMENTATION}, {"seg", CVM_TASK_INSTANCE_SEGMENTATION},
                 {"pose", CVM_TASK_KEYPOINT_DETECTION},       {"keypoints", CVM_TASK_KEYPOINT_DETECTION},
                 {"classify", CVM_TASK_CLASSIFICATION},       {"cls", CVM_TASK_CLASSIFICATION},
                 {"multi-label", CVM_TASK_MULTI_LABEL_CLASSIFICATION}};
    for (size_t i = 0; i < sizeof alias / sizeof alias[0]; i++)
        if (s && !strcmp(s, alias[i].a)) {
            *t = alias[i].t;
            return CVM_OK;
        }
    return cvm_errorf(CVM_E_UNSUPPORTED,
                      "task '%s' is not supported (object-detection, instance-segmentation, "
                      "keypoint-detection, classification, multi-label-classification)",
                      s ? s : "(null)");
}

const char *cvm_task_string(cvm_task t)
{
    for (size_t i = 0; i < sizeof task_names / sizeof task_names[0]; i++)
        if (task_names[i].task == t)
            return task_names[i].name;
    return "unknown";
}

const char *cvm_resize_mode_string(cvm_resize_mode m)
{
    switch (m) {
    case CVM_RESIZE_STRETCH: return "stretch";
    case CVM_RESIZE_LETTERBOX: return "letterbox";
    case CVM_RESIZE_CENTER_CROP: return "center-crop";
    case CVM_RESIZE_FIT_LONGER_EDGE: return "fit-longer-edge";
    case CVM_RESIZE_LETTERBOX_REFLECT_EDGES: return "letterbox-reflect-edges";
    }
    return "?";
}

void cvm_preproc_config_default(cvm_preproc_config *c)
{
    memset(c, 0, sizeof *c);
    c->width = c->height = 640;
    c->resize = CVM_RESIZE_LETTERBOX;
    c->padding_value = 114;
    c->scaling_factor = 255;
    c->input_channels = 3;
}

/* ------------------------------------------------------ model_config.json */

cvm_status cvm_package_parse_model_config(const char *text, size_t len, const char *file,
                                          cvm_package *p)
{
    cJSON *root;
    CVM_TRY(parse_json(text, len, file, &root));
    jctx c = {file};
    const char *arch, *task, *backend, *module, *cls, *weights;
    cvm_status s;
    if ((s = j_str(&c, root, "model_architecture", "", &arch)) || (s = j_str(&c, root, "task_type", "", &task)) ||
        (s = j_str(&c, root, "backend_type", "", &backend)) || (s = j_str(&c, root, "model_module", "", &module)) ||
        (s = j_str(&c, root, "model_class", "", &cls)) || (s = j_str(&c, root, "weights", "", &weights)))
        goto done;
    if (!arch || !backend) {
        if (module || cls)
            s = cvm_errorf(CVM_E_UNSUPPORTED,
                           "%s: a code package (model_module '%s', model_class '%s') needs the Python "
                           "loader; cvmodels runs weights-only packages (model_architecture + "
                           "backend_type)",
                           file, module ? module : "", cls ? cls : "");
        else
            s = cvm_errorf(CVM_E_PARSE, "%s: field '%s' is missing", file,
                           !arch ? "model_architecture" : "backend_type");
        goto done;
    }
    if (strcmp(backend, "onnx") != 0) {
        s = cvm_errorf(CVM_E_UNSUPPORTED,
                       "%s: backend_type '%s' is not supported (cvmodels runs 'onnx' packages)", file,
                       backend);
        goto done;
    }
    cvm_task t = CVM_TASK_OBJECT_DETECTION;
    if (task && (s = cvm_task_parse(task, &t)) != CVM_OK) {
        cvm_error_wrap(s, "%s: field 'task_type'", file);
        goto done;
    }
    if (!task) {
        s = cvm_errorf(CVM_E_PARSE, "%s: field 'task_type' is missing", file);
        goto done;
    }
    const cJSON *sb = cJSON_GetObjectItemCaseSensitive(root, "static_batch_size");
    if (sb && !cJSON_IsNull(sb)) {
        int v = 0, pr = 0;
        if ((s = j_int(&c, root, "static_batch_size", "", &v, &pr)))
            goto done;
        if (v < 1) {
            s = cvm_errorf(CVM_E_PARSE, "%s: field 'static_batch_size' must be >= 1", file);
            goto done;
        }
        p->static_batch_size = v;
    }
    p->task = t;
    if (!set_str(&p->architecture, arch) || !set_str(&p->task_name, cvm_task_string(t)) ||
        !set_str(&p->backend, backend)) {
        s = cvm_errorf(CVM_E_NOMEM, "%s: out of memory", file);
        goto done;
    }
    if (weights) {
        char *w = (weights[0] == '/' || !p->dir) ? cvm_strdup(weights) : join_path(p->dir, weights);
        if (!w) {
            s = cvm_errorf(CVM_E_NOMEM, "%s: out of memory", file);
            goto done;
        }
        free(p->weights);
        p->weights = w;
    }
done:
    cJSON_Delete(root);
    return s;
}

/* -------------------------------------------------- inference_config.json */

static cvm_status parse_pre(const jctx *c, const cJSON *ipp, cvm_preproc_config *pre)
{
    const cJSON *o;
    int pr;
    CVM_TRY(j_obj(c, ipp, "static-crop", "image_pre_processing.", &o));
    if (o) {
        CVM_TRY(j_bool(c, o, "enabled", "image_pre_processing.static-crop.", &pre->crop_enabled));
        if (pre->crop_enabled) {
            static const char *k[4] = {"x_min", "y_min", "x_max", "y_max"};
            int *dst[4] = {&pre->crop_x_min, &pre->crop_y_min, &pre->crop_x_max, &pre->crop_y_max};
            for (int i = 0; i < 4; i++) {
                CVM_TRY(j_int(c, o, k[i], "image_pre_processing.static-crop.", dst[i], &pr));
                if (!pr)
                    return cvm_errorf(CVM_E_PARSE, "%s: field 'image_pre_processing.static-crop.%s' is missing",
                                      c->file, k[i]);
                if (*dst[i] < 0 || *dst[i] > 100)
                    return cvm_errorf(CVM_E_PARSE,
                                      "%s: field 'image_pre_processing.static-crop.%s' = %d is not a "
                                      "percentage (0..100)",
                                      c->file, k[i], *dst[i]);
            }
            if (pre->crop_x_min >= pre->crop_x_max || pre->crop_y_min >= pre->crop_y_max)
                return cvm_errorf(CVM_E_PARSE, "%s: 'image_pre_processing.static-crop' is empty (x %d..%d, y %d..%d)",
                                  c->file, pre->crop_x_min, pre->crop_x_max, pre->crop_y_min, pre->crop_y_max);
        }
    }
    CVM_TRY(j_obj(c, ipp, "grayscale", "image_pre_processing.", &o));
    if (o)
        CVM_TRY(j_bool(c, o, "enabled", "image_pre_processing.grayscale.", &pre->grayscale));
    CVM_TRY(j_obj(c, ipp, "contrast", "image_pre_processing.", &o));
    if (o) {
        int en = 0;
        CVM_TRY(j_bool(c, o, "enabled", "image_pre_processing.contrast.", &en));
        if (en) {
            const char *t;
            CVM_TRY(j_str(c, o, "type", "image_pre_processing.contrast.", &t));
            if (!t)
                return cvm_errorf(CVM_E_PARSE, "%s: field 'image_pre_processing.contrast.type' is missing", c->file);
            if (!strcmp(t, "Adaptive Equalization"))
                pre->contrast = CVM_CONTRAST_ADAPTIVE;
            else if (!strcmp(t, "Contrast Stretching"))
                pre->contrast = CVM_CONTRAST_STRETCHING;
            else if (!strcmp(t, "Histogram Equalization"))
                pre->contrast = CVM_CONTRAST_HISTOGRAM;
            else
                return cvm_errorf(CVM_E_PARSE,
                                  "%s: field 'image_pre_processing.contrast.type' = '%s' (expected "
                                  "'Adaptive Equalization', 'Contrast Stretching' or 'Histogram Equalization')",
                                  c->file, t);
        }
    }
    return CVM_OK;
}

static cvm_status parse_size(const jctx *c, const cJSON *ni, const char *key, int *w, int *h, int required)
{
    const cJSON *o;
    char path[96];
    snprintf(path, sizeof path, "network_input.%s.", key);
    CVM_TRY(j_obj(c, ni, key, "network_input.", &o));
    if (!o) {
        if (required)
            return cvm_errorf(CVM_E_PARSE, "%s: field 'network_input.%s' is missing", c->file, key);
        return CVM_OK;
    }
    int pw = 0, ph = 0;
    CVM_TRY(j_int(c, o, "width", path, w, &pw));
    CVM_TRY(j_int(c, o, "height", path, h, &ph));
    if (!pw || !ph)
        return cvm_errorf(CVM_E_PARSE, "%s: field '%s%s' is missing", c->file, path, !pw ? "width" : "height");
    if (*w < 1 || *h < 1 || *w > 16384 || *h > 16384)
        return cvm_errorf(CVM_E_PARSE, "%s: '%s' %dx%d is out of range (1..16384)", c->file, path, *w, *h);
    return CVM_OK;
}

static cvm_status parse_network_input(const jctx *c, const cJSON *ni, cvm_preproc_config *pre)
{
    int pr;
    CVM_TRY(parse_size(c, ni, "training_input_size", &pre->width, &pre->height, 1));
    CVM_TRY(parse_size(c, ni, "dataset_version_resize_dimensions", &pre->dvr_width, &pre->dvr_height, 0));
    const char *s;
    CVM_TRY(j_str(c, ni, "color_mode", "network_input.", &s));
    if (s) {
        if (!strcmp(s, "bgr"))
            pre->bgr = 1;
        else if (!strcmp(s, "rgb"))
            pre->bgr = 0;
        else
            return cvm_errorf(CVM_E_PARSE, "%s: field 'network_input.color_mode' = '%s' (expected 'rgb' or 'bgr')",
                              c->file, s);
    }
    CVM_TRY(j_str(c, ni, "resize_mode", "network_input.", &s));
    if (!s)
        return cvm_errorf(CVM_E_PARSE, "%s: field 'network_input.resize_mode' is missing", c->file);
    static const char *modes[] = {"stretch", "letterbox", "center-crop", "fit-longer-edge",
                                  "letterbox-reflect-edges"};
    int found = 0;
    for (int i = 0; i < 5; i++)
        if (!strcmp(s, modes[i])) {
            pre->resize = (cvm_resize_mode)i;
            found = 1;
        }
    if (!found)
        return cvm_errorf(CVM_E_PARSE,
                          "%s: field 'network_input.resize_mode' = '%s' (expected stretch, letterbox, "
                          "center-crop, fit-longer-edge or letterbox-reflect-edges)",
                          c->file, s);
    pre->padding_value = 0;
    CVM_TRY(j_int(c, ni, "padding_value", "network_input.", &pre->padding_value, &pr));
    if (pre->padding_value < 0 || pre->padding_value > 255)
        return cvm_errorf(CVM_E_PARSE, "%s: field 'network_input.padding_value' = %d is outside 0..255", c->file,
                          pre->padding_value);
    pre->input_channels = 3;
    CVM_TRY(j_int(c, ni, "input_channels", "network_input.", &pre->input_channels, &pr));
    double sf = 0;
    CVM_TRY(j_num(c, ni, "scaling_factor", "network_input.", &sf, &pr));
    if (pr && sf == 0)
        return cvm_errorf(CVM_E_PARSE, "%s: field 'network_input.scaling_factor' must not be 0", c->file);
    pre->scaling_factor = pr ? sf : 0;
    const cJSON *norm = cJSON_GetObjectItemCaseSensitive(ni, "normalization");
    if (norm && !cJSON_IsNull(norm)) {
        if (!cJSON_IsArray(norm) || cJSON_GetArraySize(norm) != 2)
            return cvm_errorf(CVM_E_PARSE, "%s: field 'network_input.normalization' must be [[mean x3], [std x3]]",
                              c->file);
        for (int k = 0; k < 2; k++) {
            const cJSON *row = cJSON_GetArrayItem(norm, k);
            if (!cJSON_IsArray(row) || cJSON_GetArraySize(row) != 3)
                return cvm_errorf(CVM_E_PARSE, "%s: field 'network_input.normalization[%d]' must hold 3 numbers",
                                  c->file, k);
            for (int i = 0; i < 3; i++) {
                const cJSON *v = cJSON_GetArrayItem(row, i);
                double d;
                if (cJSON_IsNumber(v))
                    d = v->valuedouble;
                else if (cJSON_IsString(v)) {
                    char *end;
                    d = strtod(v->valuestring, &end);
                    if (end == v->valuestring || *end)
                        return cvm_errorf(CVM_E_PARSE, "%s: field 'network_input.normalization[%d][%d]' is not a number",
                                          c->file, k, i);
                } else
                    return cvm_errorf(CVM_E_PARSE, "%s: field 'network_input.normalization[%d][%d]' is not a number",
                                      c->file, k, i);
                if (k == 1 && d == 0)
                    return cvm_errorf(CVM_E_PARSE, "%s: field 'network_input.normalization[1][%d]' (std) is 0", c->file, i);
                (k == 0 ? pre->mean : pre->std)[i] = (float)d;
            }
        }
        pre->has_norm = 1;
    }
    return CVM_OK;
}

static cvm_status parse_post(const jctx *c, const cJSON *pp, cvm_package *p)
{
    const char *t;
    CVM_TRY(j_str(c, pp, "type", "post_processing.", &t));
    if (!t)
        return cvm_errorf(CVM_E_PARSE, "%s: field 'post_processing.type' is missing", c->file);
    if (!strcmp(t, "nms"))
        p->post = CVM_POST_NMS;
    else if (!strcmp(t, "softmax"))
        p->post = CVM_POST_SOFTMAX;
    else if (!strcmp(t, "sigmoid"))
        p->post = CVM_POST_SIGMOID;
    else
        return cvm_errorf(CVM_E_PARSE, "%s: field 'post_processing.type' = '%s' (expected nms, softmax or sigmoid)",
                          c->file, t);
    CVM_TRY(j_bool(c, pp, "fused", "post_processing.", &p->post_fused));
    const cJSON *np;
    CVM_TRY(j_obj(c, pp, "nms_parameters", "post_processing.", &np));
    if (np) {
        int pr;
        double v;
        const char *path = "post_processing.nms_parameters.";
        p->has_nms_params = 1;
        p->nms_max_det = 300;
        p->nms_conf = 0.25f;
        p->nms_iou = 0.7f;
        CVM_TRY(j_int(c, np, "max_detections", path, &p->nms_max_det, &pr));
        CVM_TRY(j_num(c, np, "confidence_threshold", path, &v, &pr));
        if (pr)
            p->nms_conf = (float)v;
        CVM_TRY(j_num(c, np, "iou_threshold", path, &v, &pr));
        if (pr)
            p->nms_iou = (float)v;
        CVM_TRY(j_int(c, np, "class_agnostic", path, &p->nms_agnostic, &pr));
    }
    return CVM_OK;
}

static void free_names(char **v, size_t n);

static cvm_status parse_class_ops(const jctx *c, const cJSON *ops, cvm_package *p)
{
    if (!ops || cJSON_IsNull(ops))
        return CVM_OK;
    if (!cJSON_IsArray(ops))
        return cvm_errorf(CVM_E_PARSE, "%s: field 'class_names_operations' must be a list", c->file);
    int n = cJSON_GetArraySize(ops);
    if (n == 0)
        return CVM_OK;
    char **r = calloc((size_t)n, sizeof *r);
    if (!r)
        return cvm_errorf(CVM_E_NOMEM, "%s: out of memory", c->file);
    size_t k = 0;
    cvm_status s = CVM_OK;
    for (int i = 0; i < n && s == CVM_OK; i++) {
        const cJSON *op = cJSON_GetArrayItem(ops, i);
        const char *type = NULL, *name = NULL;
        if (!cJSON_IsObject(op)) {
            s = cvm_errorf(CVM_E_PARSE, "%s: 'class_names_operations[%d]' must be an object", c->file, i);
            break;
        }
        if ((s = j_str(c, op, "type", "class_names_operations[].", &type)) ||
            (s = j_str(c, op, "class_name", "class_names_operations[].", &name)))
            break;
        if (!type || strcmp(type, "class_name_removal") != 0) {
            s = cvm_errorf(CVM_E_PARSE, "%s: 'class_names_operations[%d].type' = '%s' (only 'class_name_removal' exists)",
                           c->file, i, type ? type : "(missing)");
            break;
        }
        if (!name) {
            s = cvm_errorf(CVM_E_PARSE, "%s: 'class_names_operations[%d].class_name' is missing", c->file, i);
            break;
        }
        if (!(r[k++] = cvm_strdup(name)))
            s = cvm_errorf(CVM_E_NOMEM, "%s: out of memory", c->file);
    }
    if (s != CVM_OK) {
        for (size_t i = 0; i < k; i++)
            free(r[i]);
        free(r);
        return s;
    }
    /* A package re-read in memory replaces its earlier list. */
    free_names(p->removed_classes, p->n_removed);
    p->removed_classes = r;
    p->n_removed = k;
    return CVM_OK;
}

cvm_status cvm_package_parse_inference_config(const char *text, size_t len, const char *file,
                                              cvm_package *p)
{
    cJSON *root;
    CVM_TRY(parse_json(text, len, file, &root));
    jctx c = {file};
    cvm_status s;
    const cJSON *ipp, *ni, *pp;
    cvm_preproc_config pre;
    memset(&pre, 0, sizeof pre);
    if ((s = j_obj(&c, root, "image_pre_processing", "", &ipp)) || (s = parse_pre(&c, ipp, &pre)))
        goto done;
    if ((s = j_obj(&c, root, "network_input", "", &ni)))
        goto done;
    if (!ni) {
        s = cvm_errorf(CVM_E_PARSE, "%s: field 'network_input' is missing", file);
        goto done;
    }
    if ((s = parse_network_input(&c, ni, &pre)))
        goto done;
    if ((s = j_obj(&c, root, "post_processing", "", &pp)))
        goto done;
    p->post = CVM_POST_NONE;
    if (pp && (s = parse_post(&c, pp, p)))
        goto done;
    if ((s = parse_class_ops(&c, cJSON_GetObjectItemCaseSensitive(root, "class_names_operations"), p)))
        goto done;
    p->pre = pre;
    p->has_inference_config = 1;
done:
    cJSON_Delete(root);
    return s;
}

/* ------------------------------------------------------- class_names.txt */

static void free_names(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

cvm_status cvm_package_parse_class_names(const char *text, size_t len, const char *file, cvm_package *p)
{
    size_t cap = 16, n = 0;
    char **v = malloc(cap * sizeof *v);
    if (!v)
        return cvm_errorf(CVM_E_NOMEM, "%s: out of memory", file);
    size_t i = 0;
    while (i < len) {
        size_t b = i;
        while (i < len && text[i] != '\n')
            i++;
        size_t e = i;
        if (i < len)
            i++;
        /* Lines are stripped; blank lines do not name a class. */
        while (b < e && (text[b] == ' ' || text[b] == '\t' || text[b] == '\r'))
            b++;
        while (e > b && (text[e - 1] == ' ' || text[e - 1] == '\t' || text[e - 1] == '\r'))
            e--;
        if (e == b)
            continue;
        if (memchr(text + b, '\0', e - b)) {
            free_names(v, n);
            return cvm_errorf(CVM_E_PARSE, "%s: line %zu holds a NUL byte", file, n + 1);
        }
        if (n == cap) {
            char **nv = realloc(v, 2 * cap * sizeof *v);
            if (!nv) {
                free_names(v, n);
                return cvm_errorf(CVM_E_NOMEM, "%s: out of memory", file);
            }
            v = nv;
            cap *= 2;
        }
        char *s = malloc(e - b + 1);
        if (!s) {
            free_names(v, n);
            return cvm_errorf(CVM_E_NOMEM, "%s: out of memory", file);
        }
        memcpy(s, text + b, e - b);
        s[e - b] = '\0';
        v[n++] = s;
    }
    if (n == 0) {
        free(v);
        return cvm_errorf(CVM_E_PARSE, "%s: no class names (the file is empty)", file);
    }
    free_names(p->class_names, p->n_classes);
    p->class_names = v;
    p->n_classes = n;
    return CVM_OK;
}

/* ------------------------------------------------ keypoints_metadata.json */

static void free_kp(cvm_kp_class *kp, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(kp[i].class_name);
        free_names(kp[i].names, kp[i].n);
        free(kp[i].edges);
    }
    free(kp);
}

cvm_status cvm_package_parse_keypoints(const char *text, size_t len, const char *file, cvm_package *p)
{
    cJSON *root = cJSON_ParseWithLength(text, len);
    if (!root)
        return cvm_errorf(CVM_E_PARSE, "%s: not valid JSON", file);
    cvm_status s = CVM_OK;
    cvm_kp_class *kp = NULL;
    size_t nk = 0;
    if (!cJSON_IsArray(root)) {
        s = cvm_errorf(CVM_E_PARSE, "%s: the top level must be a list of classes", file);
        goto done;
    }
    int n = cJSON_GetArraySize(root);
    kp = calloc(n > 0 ? (size_t)n : 1, sizeof *kp);
    if (!kp) {
        s = cvm_errorf(CVM_E_NOMEM, "%s: out of memory", file);
        goto done;
    }
    jctx c = {file};
    for (int i = 0; i < n; i++) {
        const cJSON *e = cJSON_GetArrayItem(root, i);
        cvm_kp_class *k = &kp[nk++];
        int pr = 0;
        const char *cname = NULL;
        if (!cJSON_IsObject(e)) {
            s = cvm_errorf(CVM_E_PARSE, "%s: entry %d must be an object", file, i);
            goto done;
        }
        if ((s = j_int(&c, e, "object_class_id", "[].", &k->class_id, &pr)))
            goto done;
        if (!pr) {
            s = cvm_errorf(CVM_E_PARSE, "%s: entry %d: field 'object_class_id' is missing", file, i);
            goto done;
        }
        if ((s = j_str(&c, e, "object_class", "[].", &cname)))
            goto done;
        if (cname && !(k->class_name = cvm_strdup(cname))) {
            s = cvm_errorf(CVM_E_NOMEM, "%s: out of memory", file);
            goto done;
        }
        const cJSON *kps = cJSON_GetObjectItemCaseSensitive(e, "keypoints");
        if (!cJSON_IsObject(kps)) {
            s = cvm_errorf(CVM_E_PARSE, "%s: entry %d: field 'keypoints' must be an object {\"0\": name, ...}",
                           file, i);
            goto done;
        }
        int m = cJSON_GetArraySize(kps);
        if (m < 0 || m > 4096) {
            s = cvm_errorf(CVM_E_LIMIT, "%s: entry %d: %d keypoints is too many", file, i, m);
            goto done;
        }
        k->names = calloc(m > 0 ? (size_t)m : 1, sizeof *k->names);
        if (!k->names) {
            s = cvm_errorf(CVM_E_NOMEM, "%s: out of memory", file);
            goto done;
        }
        k->n = (size_t)m;
        /* Names are ordered by their integer key, which must cover 0..m-1. */
        const cJSON *it;
        cJSON_ArrayForEach(it, kps)
        {
            char *end;
            long idx = strtol(it->string ? it->string : "", &end, 10);
            if (!it->string || end == it->string || *end || idx < 0 || idx >= m || k->names[idx]) {
                s = cvm_errorf(CVM_E_PARSE, "%s: entry %d: keypoint key '%s' is not one of 0..%d (each once)", file,
                               i, it->string ? it->string : "", m - 1);
                goto done;
            }
            if (!cJSON_IsString(it)) {
                s = cvm_errorf(CVM_E_PARSE, "%s: entry %d: keypoint '%s' must be a name", file, i, it->string);
                goto done;
            }
            if (!(k->names[idx] = cvm_strdup(it->valuestring))) {
                s = cvm_errorf(CVM_E_NOMEM, "%s: out of memory", file);
                goto done;
            }
        }
        const cJSON *edges = cJSON_GetObjectItemCaseSensitive(e, "edges");
        if (edges && !cJSON_IsNull(edges)) {
            if (!cJSON_IsArray(edges)) {
                s = cvm_errorf(CVM_E_PARSE, "%s: entry %d: field 'edges' must be a list", file, i);
                goto done;
            }
            int ne = cJSON_GetArraySize(edges);
            k->edges = calloc(ne > 0 ? (size_t)ne : 1, sizeof *k->edges);
            if (!k->edges) {
                s = cvm_errorf(CVM_E_NOMEM, "%s: out of memory", file);
                goto done;
            }
            for (int j = 0; j < ne; j++) {
                const cJSON *ed = cJSON_GetArrayItem(edges, j);
                int a = -1, b = -1, pa = 0, pb = 0;
                if ((s = j_int(&c, ed, "from", "edges[].", &a, &pa)) || (s = j_int(&c, ed, "to", "edges[].", &b, &pb)))
                    goto done;
                if (!pa || !pb || a < 0 || b < 0 || a >= m || b >= m) {
                    s = cvm_errorf(CVM_E_PARSE, "%s: entry %d: edge %d (%d -> %d) must join keypoints 0..%d", file, i,
                                   j, a, b, m - 1);
                    goto done;
                }
                k->edges[j][0] = a;
                k->edges[j][1] = b;
            }
            k->n_edges = (size_t)ne;
        }
    }
done:
    cJSON_Delete(root);
    if (s != CVM_OK) {
        free_kp(kp, nk);
        return s;
    }
    free_kp(p->kp, p->n_kp);
    p->kp = kp;
    p->n_kp = nk;
    return CVM_OK;
}

/* ------------------------------------------------------------- loading */

void cvm_package_free(cvm_package *p)
{
    if (!p)
        return;
    free(p->dir);
    free(p->architecture);
    free(p->task_name);
    free(p->backend);
    free(p->weights);
    free_names(p->class_names, p->n_classes);
    free_names(p->removed_classes, p->n_removed);
    free_kp(p->kp, p->n_kp);
    free(p);
}

static cvm_status load_file(const char *dir, const char *name, int required, char **text, size_t *len)
{
    char *path = join_path(dir, name);
    if (!path)
        return cvm_errorf(CVM_E_NOMEM, "out of memory");
    cvm_status s = cvm_read_text_file(path, CONFIG_MAX_BYTES, text, len);
    if (s == CVM_E_NOT_FOUND && !required) {
        free(path);
        return CVM_E_NOT_FOUND;
    }
    if (s == CVM_E_NOT_FOUND)
        cvm_errorf(CVM_E_NOT_FOUND, "package '%s' has no %s", dir, name);
    free(path);
    return s;
}

cvm_status cvm_package_load(const char *dir, cvm_package **out)
{
    *out = NULL;
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return cvm_errorf(CVM_E_NOT_FOUND, "'%s' is not a folder", dir);
    cvm_package *p = calloc(1, sizeof *p);
    if (!p || !(p->dir = cvm_strdup(dir))) {
        free(p);
        return cvm_errorf(CVM_E_NOMEM, "out of memory");
    }
    char *text = NULL;
    size_t len = 0;
    char name[512];
    cvm_status s = load_file(dir, "model_config.json", 1, &text, &len);
    if (s == CVM_OK) {
        snprintf(name, sizeof name, "%s/model_config.json", dir);
        s = cvm_package_parse_model_config(text, len, name, p);
        free(text);
    }
    if (s == CVM_OK)
        s = load_file(dir, "inference_config.json", 1, &text, &len);
    if (s == CVM_OK) {
        snprintf(name, sizeof name, "%s/inference_config.json", dir);
        s = cvm_package_parse_inference_config(text, len, name, p);
        free(text);
    }
    if (s == CVM_OK)
        s = load_file(dir, "class_names.txt", 1, &text, &len);
    if (s == CVM_OK) {
        snprintf(name, sizeof name, "%s/class_names.txt", dir);
        s = cvm_package_parse_class_names(text, len, name, p);
        free(text);
    }
    if (s == CVM_OK) {
        s = load_file(dir, "keypoints_metadata.json", p->task == CVM_TASK_KEYPOINT_DETECTION, &text, &len);
        if (s == CVM_OK) {
            snprintf(name, sizeof name, "%s/keypoints_metadata.json", dir);
            s = cvm_package_parse_keypoints(text, len, name, p);
            free(text);
        } else if (s == CVM_E_NOT_FOUND && p->task != CVM_TASK_KEYPOINT_DETECTION) {
            s = CVM_OK;
        }
    }
    if (s == CVM_OK && p->task == CVM_TASK_KEYPOINT_DETECTION) {
        /* Every class needs its keypoint list. */
        for (size_t c = 0; c < p->n_classes && s == CVM_OK; c++) {
            int found = 0;
            for (size_t k = 0; k < p->n_kp; k++)
                found |= p->kp[k].class_id == (int)c;
            if (!found)
                s = cvm_errorf(CVM_E_PARSE, "%s/keypoints_metadata.json: class %zu ('%s') has no entry", dir, c,
                               p->class_names[c]);
        }
    }
    if (s == CVM_OK && !p->weights && !(p->weights = join_path(dir, "weights.onnx")))
        s = cvm_errorf(CVM_E_NOMEM, "out of memory");
    if (s == CVM_OK && (stat(p->weights, &st) != 0 || !S_ISREG(st.st_mode)))
        s = cvm_errorf(CVM_E_NOT_FOUND, "package '%s': weights file '%s' does not exist", dir, p->weights);
    if (s != CVM_OK) {
        cvm_package_free(p);
        return s;
    }
    *out = p;
    return CVM_OK;
}
