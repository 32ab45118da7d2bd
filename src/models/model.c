#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "base/str.h"
#include "base/status.h"
#include "base/tensor.h"
#include "hub/hub.h"
#include "runtime/session.h"
#include "models/model.h"

double cvm_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

cvm_status cvm_model_options_init(cvm_model_options *o)
{
    if (!o)
        return cvm_errorf(CVM_E_INVALID_ARG, "cvm_model_options_init: NULL");
    memset(o, 0, sizeof *o);
    o->task = CVM_TASK_OBJECT_DETECTION;
    return CVM_OK;
}

cvm_status cvm_infer_params_init(cvm_infer_params *p)
{
    if (!p)
        return cvm_errorf(CVM_E_INVALID_ARG, "cvm_infer_params_init: NULL");
    memset(p, 0, sizeof *p);
    p->confidence = -1;
    p->iou = -1;
    p->max_detections = 0;
    p->keypoint_confidence = -1;
    return CVM_OK;
}

static float env_float(const char *name, float def)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return def;
    char *end;
    errno = 0;
    float f = strtof(v, &end);
    return (end != v && !*end && !errno) ? f : def;
}

static int is_arch(const cvm_model *m, const char *a) { return !strcmp(m->pkg->architecture, a); }

/* The reference's configuration.py: a family's defaults read
 * INFERENCE_MODELS_<FAMILY>_DEFAULT_*, falling back on the general
 * INFERENCE_MODELS_DEFAULT_* (conf 0.4, IoU 0.3, max 300); YOLO26 and
 * DINOv3 start from their own confidence.  Families the reference gives no
 * IoU or max-detections variable for use the general one. */
static void set_defaults(cvm_model *m)
{
    static const struct {
        const char *arch, *family;
        float conf;   /* < 0: the general default */
        int iou, max; /* whether the family has its own variable */
    } fam[] = {
        {"yolov5", "YOLOV5", -1, 1, 1},        {"yolov7", "YOLOV7", -1, 1, 1},
        {"yolov10", "YOLOV10", -1, 0, 1},      {"yolo26", "YOLO26", 0.25f, 0, 0},
        {"yolonas", "YOLONAS", -1, 1, 1},      {"yolact", "YOLACT", -1, 1, 1},
        {"rfdetr", "RFDETR", -1, 0, 1},        {"vit", "VIT_CLASSIFIER", -1, 0, 0},
        {"resnet", "RESNET", -1, 0, 0},        {"dinov3_probe", "DINOV3", 0.5f, 0, 0},
        {"yololite", "YOLOLITE", -1, 1, 1},
    };
    float conf = env_float("INFERENCE_MODELS_DEFAULT_CONFIDENCE", 0.4f);
    float iou = env_float("INFERENCE_MODELS_DEFAULT_IOU_THRESHOLD", 0.3f);
    float max = env_float("INFERENCE_MODELS_DEFAULT_MAX_DETECTIONS", 300);
    /* every other YOLO (v8, v9, v11, v12) is an "ultralytics" one */
    const char *family = "YOLO_ULTRALYTICS";
    int own_iou = 1, own_max = 1;
    for (size_t i = 0; i < sizeof fam / sizeof fam[0]; i++)
        if (is_arch(m, fam[i].arch)) {
            family = fam[i].family;
            if (fam[i].conf >= 0)
                conf = fam[i].conf;
            own_iou = fam[i].iou;
            own_max = fam[i].max;
        }
    char name[96];
    snprintf(name, sizeof name, "INFERENCE_MODELS_%s_DEFAULT_CONFIDENCE", family);
    m->def_conf = env_float(name, conf);
    snprintf(name, sizeof name, "INFERENCE_MODELS_%s_DEFAULT_IOU_THRESHOLD", family);
    m->def_iou = own_iou ? env_float(name, iou) : iou;
    snprintf(name, sizeof name, "INFERENCE_MODELS_%s_DEFAULT_MAX_DETECTIONS", family);
    m->def_max_det = (int)(own_max ? env_float(name, max) : max);
    m->def_kp_conf = 0.0f;
    m->nms_free = is_arch(m, "yolov10") || is_arch(m, "yolo26");
}

/* Class names after class_names_operations; the column map keeps model
 * output columns pointing at the surviving ids. */
static cvm_status effective_classes(cvm_model *m)
{
    const cvm_package *p = m->pkg;
    size_t n = p->n_classes;
    m->names = calloc(n ? n : 1, sizeof *m->names);
    m->col_class = malloc((n ? n : 1) * sizeof *m->col_class);
    if (!m->names || !m->col_class)
        return cvm_errorf(CVM_E_NOMEM, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int removed = 0;
        for (size_t r = 0; r < p->n_removed; r++)
            removed |= !strcmp(p->class_names[i], p->removed_classes[r]);
        if (removed) {
            m->col_class[i] = -1;
            continue;
        }
        m->col_class[i] = (int)k;
        if (!(m->names[k++] = cvm_strdup(p->class_names[i])))
            return cvm_errorf(CVM_E_NOMEM, "out of memory");
    }
    m->n_names = k;
    m->n_col_class = n;
    return CVM_OK;
}

static cvm_status bare_onnx_package(const char *path, const cvm_model_options *o, cvm_package **out)
{
    *out = NULL;
    if (!o || !o->architecture)
        return cvm_errorf(CVM_E_INVALID_ARG,
                          "'%s' is a bare ONNX file: say what it is (architecture, e.g. --arch yolov8, and task)",
                          path);
    cvm_package *p = calloc(1, sizeof *p);
    if (!p)
        return cvm_errorf(CVM_E_NOMEM, "out of memory");
    p->architecture = cvm_strdup(o->architecture);
    p->task = o->task;
    p->task_name = cvm_strdup(cvm_task_string(o->task));
    p->backend = cvm_strdup("onnx");
    p->weights = cvm_strdup(path);
    if (!p->architecture || !p->task_name || !p->backend || !p->weights) {
        cvm_package_free(p);
        return cvm_errorf(CVM_E_NOMEM, "out of memory");
    }
    cvm_preproc_config_default(&p->pre);
    if (!strcmp(o->architecture, "rfdetr")) {
        /* RF-DETR: stretch, /255, ImageNet mean/std. */
        p->pre.resize = CVM_RESIZE_STRETCH;
        p->pre.padding_value = 0;
        p->pre.has_norm = 1;
        const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
        memcpy(p->pre.mean, mean, sizeof mean);
        memcpy(p->pre.std, std, sizeof std);
    }
    p->post = (o->task == CVM_TASK_CLASSIFICATION)             ? CVM_POST_SOFTMAX
              : (o->task == CVM_TASK_MULTI_LABEL_CLASSIFICATION) ? CVM_POST_SIGMOID
                                                                 : CVM_POST_NMS;
    if (o->class_names_file) {
        char *text;
        size_t len;
        cvm_status s = cvm_read_text_file(o->class_names_file, 16u << 20, &text, &len);
        if (s == CVM_OK) {
            s = cvm_package_parse_class_names(text, len, o->class_names_file, p);
            free(text);
        }
        if (s != CVM_OK) {
            cvm_package_free(p);
            return s;
        }
    }
    *out = p;
    return CVM_OK;
}

/* Numeric class names for a bare file without a names list. */
static cvm_status numeric_names(cvm_package *p, size_t n)
{
    if (p->n_classes || n == 0)
        return CVM_OK;
    if (n > 100000)
        return cvm_errorf(CVM_E_LIMIT, "%zu classes", n);
    p->class_names = calloc(n, sizeof *p->class_names);
    if (!p->class_names)
        return cvm_errorf(CVM_E_NOMEM, "out of memory");
    p->n_classes = n;
    for (size_t i = 0; i < n; i++) {
        char buf[32];
        snprintf(buf, sizeof buf, "%zu", i);
        if (!(p->class_names[i] = cvm_strdup(buf)))
            return cvm_errorf(CVM_E_NOMEM, "out of memory");
    }
    return CVM_OK;
}

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

void cvm_model_free(cvm_model *m)
{
    if (!m)
        return;
    cvm_session_free(m->session);
    cvm_package_free(m->pkg);
    free(m->input_name);
    if (m->out_names)
        for (size_t i = 0; i < m->n_out; i++)
            free(m->out_names[i]);
    free(m->out_names);
    free(m->out_info);
    if (m->names)
        for (size_t i = 0; i < m->n_names; i++)
            free(m->names[i]);
    free(m->names);
    free(m->col_class);
    free(m->package_dir);
    free(m);
}

static cvm_status registry_error(const cvm_package *p)
{
    char list[1024];
    size_t k = 0;
    list[0] = '\0';
    for (size_t i = 0; i < cvm_registry_size() && k + 64 < sizeof list; i++) {
        const cvm_model_impl *e = cvm_registry_at(i);
        k += (size_t)snprintf(list + k, sizeof list - k, "%s%s/%s", i ? ", " : "", e->architecture,
                              cvm_task_string(e->task));
    }
    return cvm_errorf(CVM_E_UNSUPPORTED, "no implementation for architecture '%s', task '%s', backend '%s' (known: %s)",
                      p->architecture, p->task_name ? p->task_name : cvm_task_string(p->task),
                      p->backend ? p->backend : "onnx", list);
}

cvm_status cvm_model_load(const char *model, const cvm_model_options *opts, cvm_model **out)
{
    if (!model || !out)
        return cvm_errorf(CVM_E_INVALID_ARG, "cvm_model_load: NULL argument");
    *out = NULL;
    cvm_model_options defaults;
    if (!opts) {
        cvm_model_options_init(&defaults);
        opts = &defaults;
    }
    cvm_model *m = calloc(1, sizeof *m);
    if (!m)
        return cvm_errorf(CVM_E_NOMEM, "out of memory");
    cvm_status s;
    struct stat st;
    if (stat(model, &st) == 0 && S_ISDIR(st.st_mode)) {
        s = cvm_package_load(model, &m->pkg);
        if (s == CVM_OK && !(m->package_dir = cvm_strdup(model)))
            s = cvm_errorf(CVM_E_NOMEM, "out of memory");
    } else if (stat(model, &st) == 0 && S_ISREG(st.st_mode)) {
        if (!ends_with(model, ".onnx"))
            s = cvm_errorf(CVM_E_UNSUPPORTED, "'%s': expected a package folder or an .onnx file", model);
        else
            s = bare_onnx_package(model, opts, &m->pkg);
    } else {
        cvm_hub_request req;
        memset(&req, 0, sizeof req);
        req.model_id = model;
        req.api_key = opts->api_key;
        req.cache_dir = opts->cache_dir;
        req.offline = opts->offline;
        req.progress = opts->progress;
        req.progress_arg = opts->progress_arg;
        char *dir = NULL;
        s = cvm_hub_resolve(&req, &dir, NULL);
        if (s == CVM_OK) {
            s = cvm_package_load(dir, &m->pkg);
            m->package_dir = dir;
        } else {
            free(dir);
        }
    }
    if (s != CVM_OK)
        goto fail;
    if (!(m->impl = cvm_registry_find(m->pkg->architecture, m->pkg->task, m->pkg->backend))) {
        s = registry_error(m->pkg);
        goto fail;
    }
    /* Resize modes each family cannot apply are substituted as the
     * reference does. */
    if (m->pkg->pre.resize == CVM_RESIZE_FIT_LONGER_EDGE) {
        if (!strcmp(m->impl->architecture, "rfdetr")) {
            m->pkg->pre.resize = CVM_RESIZE_STRETCH;
        } else {
            m->pkg->pre.resize = CVM_RESIZE_LETTERBOX;
            m->pkg->pre.padding_value = 127;
        }
    }
    set_defaults(m);
    if (m->pkg->has_nms_params && m->pkg->post_fused) {
        m->def_conf = m->pkg->nms_conf;
    }
    cvm_session_options so;
    cvm_session_options_init(&so);
    so.threads = opts->threads;
    so.precision = opts->precision;
    s = cvm_session_create(m->pkg->weights, &so, &m->session);
    if (s != CVM_OK) {
        cvm_error_wrap(s, "loading weights '%s'", m->pkg->weights);
        goto fail;
    }
    size_t nin = 0;
    cvm_value_info in;
    if ((s = cvm_session_input_count(m->session, &nin)) != CVM_OK)
        goto fail;
    if (nin < 1) {
        s = cvm_errorf(CVM_E_UNSUPPORTED, "'%s' has no inputs", m->pkg->weights);
        goto fail;
    }
    if ((s = cvm_session_input_info(m->session, 0, &in)) != CVM_OK)
        goto fail;
    if (!(m->input_name = cvm_strdup(in.name))) {
        s = cvm_errorf(CVM_E_NOMEM, "out of memory");
        goto fail;
    }
    m->input_dtype = in.dtype;
    if (in.dtype != CVM_DTYPE_FLOAT32 && in.dtype != CVM_DTYPE_FLOAT16 && in.dtype != CVM_DTYPE_FLOAT64 &&
        in.dtype != CVM_DTYPE_UINT8) {
        s = cvm_errorf(CVM_E_UNSUPPORTED, "input '%s' has element type %s (expected a float or uint8 image)", in.name,
                       cvm_dtype_name(in.dtype));
        goto fail;
    }
    if (in.ndim == 4) {
        int64_t h = in.dims[2], w = in.dims[3];
        if (!m->pkg->has_inference_config && h > 0 && w > 0) {
            /* A bare file: its own static size decides. */
            m->pkg->pre.width = (int)w;
            m->pkg->pre.height = (int)h;
        } else if (h > 0 && w > 0 && (h != m->pkg->pre.height || w != m->pkg->pre.width) &&
                   m->pkg->pre.resize != CVM_RESIZE_FIT_LONGER_EDGE) {
            s = cvm_errorf(CVM_E_SHAPE, "inference_config.json says %dx%d but '%s' takes %lldx%lld",
                           m->pkg->pre.width, m->pkg->pre.height, m->pkg->weights, (long long)w, (long long)h);
            goto fail;
        }
        if (in.dims[1] > 0 && in.dims[1] != 3) {
            s = cvm_errorf(CVM_E_UNSUPPORTED, "input '%s' has %lld channels (3 expected)", in.name,
                           (long long)in.dims[1]);
            goto fail;
        }
    }
    if ((s = cvm_session_output_count(m->session, &m->n_out)) != CVM_OK)
        goto fail;
    m->out_names = calloc(m->n_out ? m->n_out : 1, sizeof *m->out_names);
    m->out_info = calloc(m->n_out ? m->n_out : 1, sizeof *m->out_info);
    if (!m->out_names || !m->out_info) {
        s = cvm_errorf(CVM_E_NOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < m->n_out; i++) {
        if ((s = cvm_session_output_info(m->session, i, &m->out_info[i])) != CVM_OK)
            goto fail;
        if (!(m->out_names[i] = cvm_strdup(m->out_info[i].name))) {
            s = cvm_errorf(CVM_E_NOMEM, "out of memory");
            goto fail;
        }
        m->out_info[i].name = m->out_names[i];
        for (int d = 0; d < CVM_MAX_DIMS; d++)
            m->out_info[i].dim_names[d] = NULL;
    }
    if (!m->pkg->n_classes) {
        /* Bare file without names: the output decides how many (prepare
         * fills them in); keep an empty list until then. */
    }
    if ((s = m->impl->prepare(m)) != CVM_OK)
        goto fail;
    if (!m->pkg->n_classes) {
        s = cvm_errorf(CVM_E_INTERNAL, "no class names after preparing '%s'", m->pkg->weights);
        goto fail;
    }
    if ((s = effective_classes(m)) != CVM_OK)
        goto fail;
    *out = m;
    return CVM_OK;
fail:
    cvm_model_free(m);
    return s;
}

cvm_status cvm_model_fill_numeric_names(cvm_model *m, size_t n) { return numeric_names(m->pkg, n); }

cvm_status cvm_model_get_info(const cvm_model *m, cvm_model_info *info)
{
    if (!m || !info)
        return cvm_errorf(CVM_E_INVALID_ARG, "cvm_model_get_info: NULL argument");
    memset(info, 0, sizeof *info);
    info->architecture = m->pkg->architecture;
    info->task = m->pkg->task;
    info->n_classes = m->n_names;
    info->class_names = (const char *const *)m->names;
    info->package_dir = m->package_dir ? m->package_dir : m->pkg->weights;
    info->backend = "cpu";
    return CVM_OK;
}

cvm_status cvm_model_forward(cvm_model *m, const cvm_image_view *img, cvm_preprocess_fn pre,
                             cvm_tensor **outs, cvm_preproc_meta *meta, double *pre_ms, double *infer_ms)
{
    if (m->n_out > CVM_MODEL_MAX_OUTPUTS)
        return cvm_errorf(CVM_E_UNSUPPORTED, "the model has %zu outputs; at most %d are supported", m->n_out,
                          CVM_MODEL_MAX_OUTPUTS);
    double t0 = cvm_now_ms();
    cvm_tensor *input = NULL;
    /* the session's threads, idle until the run, share the pre-processing */
    CVM_TRY(pre(&m->pkg->pre, img, &input, meta, cvm_session_pool(m->session)));
    double t1 = cvm_now_ms();
    cvm_status s = cvm_model_run(m, input, outs);
    cvm_tensor_free(input);
    *pre_ms = t1 - t0;
    *infer_ms = cvm_now_ms() - t1;
    return s;
}

cvm_status cvm_model_run(cvm_model *m, const cvm_tensor *input, cvm_tensor **outs)
{
    cvm_tensor *conv = NULL;
    const cvm_tensor *feed = input;
    if (m->input_dtype != CVM_DTYPE_FLOAT32) {
        CVM_TRY(cvm_tensor_create(m->input_dtype, input->ndim, input->dims, &conv));
        if (m->input_dtype == CVM_DTYPE_UINT8) {
            /* Unscaled packages feed 0..255 values; round, do not truncate. */
            const float *src = input->data;
            uint8_t *dst = conv->data;
            for (int64_t i = 0; i < cvm_tensor_numel(input); i++) {
                float v = src[i] + 0.5f;
                dst[i] = (uint8_t)(v < 0 ? 0 : (v > 255 ? 255 : v));
            }
        } else {
            cvm_convert(CVM_DTYPE_FLOAT32, input->data, m->input_dtype, conv->data, cvm_tensor_numel(input));
        }
        feed = conv;
    }
    const char *name = m->input_name;
    for (size_t i = 0; i < m->n_out; i++)
        outs[i] = NULL;
    cvm_status s = cvm_session_run(m->session, 1, &name, &feed, m->n_out, (const char *const *)m->out_names, outs);
    cvm_tensor_free(conv);
    if (s != CVM_OK)
        return s;
    /* Post-processing works on float32. */
    for (size_t i = 0; i < m->n_out; i++) {
        if (outs[i]->dtype == CVM_DTYPE_FLOAT32)
            continue;
        cvm_tensor *f;
        s = cvm_tensor_create(CVM_DTYPE_FLOAT32, outs[i]->ndim, outs[i]->dims, &f);
        if (s != CVM_OK)
            break;
        cvm_convert(outs[i]->dtype, outs[i]->data, CVM_DTYPE_FLOAT32, f->data, cvm_tensor_numel(outs[i]));
        cvm_tensor_free(outs[i]);
        outs[i] = f;
    }
    if (s != CVM_OK)
        for (size_t i = 0; i < m->n_out; i++) {
            cvm_tensor_free(outs[i]);
            outs[i] = NULL;
        }
    return s;
}

cvm_status cvm_model_infer(cvm_model *m, const cvm_image *img, const cvm_infer_params *params, cvm_result **out)
{
    if (!m || !img || !out)
        return cvm_errorf(CVM_E_INVALID_ARG, "cvm_model_infer: NULL argument");
    *out = NULL;
    cvm_infer_params defaults;
    if (!params) {
        cvm_infer_params_init(&defaults);
        params = &defaults;
    }
    cvm_image_view v;
    CVM_TRY(cvm_image_get_view(img, &v));
    cvm_result_priv *r;
    CVM_TRY(cvm_result_new(m->pkg->task, (const char *const *)m->names, m->n_names, m->pkg, &r));
    r->pub.image_width = v.width;
    r->pub.image_height = v.height;
    cvm_status s = m->impl->infer(m, &v, params, r);
    if (s != CVM_OK) {
        cvm_result_free(&r->pub);
        return s;
    }
    *out = &r->pub;
    return CVM_OK;
}
