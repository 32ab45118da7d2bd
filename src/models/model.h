/* What every model family shares: the loaded package, its session and the
 * effective class list; and the registry of families. */
#ifndef CVM_MODELS_MODEL_H
#define CVM_MODELS_MODEL_H

#include "cvm/vision.h"
#include "models/package.h"
#include "vision/preprocess.h"
#include "vision/result.h"

typedef struct cvm_model_impl {
    const char *architecture;
    cvm_task task;
    const char *backend;
    const char *notes;
    /* Called once after the session is built: check output shapes. */
    cvm_status (*prepare)(cvm_model *m);
    cvm_status (*infer)(cvm_model *m, const cvm_image_view *img, const cvm_infer_params *p, cvm_result_priv *r);
} cvm_model_impl;

struct cvm_model {
    cvm_package *pkg;
    cvm_session *session;
    const cvm_model_impl *impl;
    char *input_name;
    cvm_dtype input_dtype;
    size_t n_out;
    char **out_names;
    cvm_value_info *out_info;
    /* Class names after class_names_operations. */
    char **names;
    size_t n_names;
    /* Output column -> class id (-1: dropped), RF-DETR remapping. */
    int *col_class;
    size_t n_col_class;
    float def_conf, def_iou, def_kp_conf;
    int def_max_det;
    int nms_free;          /* YOLOv10/YOLO26 style (B, M, 6) output */
    char *package_dir;
};

/* The registry. */
const cvm_model_impl *cvm_registry_find(const char *architecture, cvm_task task, const char *backend);
size_t cvm_registry_size(void);
const cvm_model_impl *cvm_registry_at(size_t i);

/* Runs the session on one input tensor (converted to the input's dtype);
 * outs[] receives m->n_out new tensors (free with cvm_tensor_free). */
cvm_status cvm_model_run(cvm_model *m, const cvm_tensor *input, cvm_tensor **outs);
/* The first half of every family's infer: pre-process img with `pre` (the
 * family's variant of the reference pre-processing), run the session, and
 * time both stages.  outs[] receives m->n_out tensors. */
#define CVM_MODEL_MAX_OUTPUTS 16
typedef cvm_status (*cvm_preprocess_fn)(const cvm_preproc_config *c, const cvm_image_view *img,
                                        cvm_tensor **out, cvm_preproc_meta *meta, cvm_threadpool *pool);
cvm_status cvm_model_forward(cvm_model *m, const cvm_image_view *img, cvm_preprocess_fn pre,
                             cvm_tensor **outs, cvm_preproc_meta *meta, double *pre_ms, double *infer_ms);
/* Numeric class names ("0", "1", ...) when a bare ONNX file came without a list. */
cvm_status cvm_model_fill_numeric_names(cvm_model *m, size_t n);
/* Monotonic milliseconds. */
double cvm_now_ms(void);

/* Family entry points (registry.c lists them). */
cvm_status cvm_yolo_prepare(cvm_model *m);
cvm_status cvm_yolo_infer(cvm_model *m, const cvm_image_view *img, const cvm_infer_params *p, cvm_result_priv *r);
cvm_status cvm_rfdetr_prepare(cvm_model *m);
cvm_status cvm_rfdetr_infer(cvm_model *m, const cvm_image_view *img, const cvm_infer_params *p,
                            cvm_result_priv *r);

#endif
