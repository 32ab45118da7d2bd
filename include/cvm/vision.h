/*
 * Vision models: load by id, package folder or ONNX file; infer on images;
 * results as C structs, JSON or an annotated picture.
 */
#ifndef CVM_VISION_H
#define CVM_VISION_H

#include "cvm/cvm.h"
#include "cvm/image.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cvm_model cvm_model;

typedef enum cvm_task {
    CVM_TASK_OBJECT_DETECTION = 0,
    CVM_TASK_INSTANCE_SEGMENTATION = 1,
    CVM_TASK_KEYPOINT_DETECTION = 2,
    CVM_TASK_CLASSIFICATION = 3,
    CVM_TASK_MULTI_LABEL_CLASSIFICATION = 4
} cvm_task;

typedef struct cvm_model_options {
    int threads;               /* 0 = all cores */
    cvm_precision precision;   /* CVM_PRECISION_FP32 (default) or _BF16; see cvm.h */
    const char *api_key;       /* Roboflow API key; NULL = ROBOFLOW_API_KEY from the environment */
    const char *cache_dir;     /* NULL = $INFERENCE_HOME or the default */
    int offline;               /* never touch the network */
    /* For a bare .onnx file (no package): what it is and how to feed it. */
    const char *architecture;  /* e.g. "yolov8", "rfdetr" */
    cvm_task task;
    const char *class_names_file;
    /* Called while a model id's files download (NULL = silent); total is 0
     * when the size is unknown. */
    void (*progress)(void *arg, const char *file, int64_t done, int64_t total);
    void *progress_arg;
} cvm_model_options;

cvm_status cvm_model_options_init(cvm_model_options *o);

/* `model` is a package folder, a model id ("rfdetr-base", "workspace/project/3")
 * or an ONNX file (with options naming architecture and task). */
cvm_status cvm_model_load(const char *model, const cvm_model_options *opts, cvm_model **out);
void cvm_model_free(cvm_model *m);

typedef struct cvm_model_info {
    const char *architecture;
    cvm_task task;
    size_t n_classes;
    const char *const *class_names;
    const char *package_dir;   /* where it was loaded from */
    const char *backend;       /* "cpu" */
} cvm_model_info;

cvm_status cvm_model_get_info(const cvm_model *m, cvm_model_info *info);

typedef struct cvm_infer_params {
    float confidence;          /* < 0 = the model's default */
    float iou;                 /* < 0 = the model's default */
    int max_detections;        /* <= 0 = the model's default */
    int class_agnostic;        /* NMS across classes */
    const int *classes;        /* keep only these class ids (NULL = all) */
    size_t n_classes;
    float keypoint_confidence; /* < 0 = default */
} cvm_infer_params;

cvm_status cvm_infer_params_init(cvm_infer_params *p);

typedef struct cvm_keypoint {
    float x, y, confidence;
    const char *name;          /* from keypoints_metadata, or NULL */
} cvm_keypoint;

typedef struct cvm_detection {
    /* Box corners in original-image pixels, rounded half to even as the
     * reference does (so they hold whole numbers). */
    float x1, y1, x2, y2;
    float confidence;
    int class_id;
    const char *class_name;
    /* Instance mask, cropped to its bounding region so that memory stays
     * bounded: mask_w x mask_h bytes (1 = inside) whose top-left pixel is
     * (mask_x, mask_y) in the original image; NULL when the task has none. */
    uint8_t *mask;
    int mask_x, mask_y, mask_w, mask_h;
    cvm_keypoint *keypoints;
    size_t n_keypoints;
} cvm_detection;

typedef struct cvm_class_score {
    int class_id;
    const char *class_name;
    float confidence;
} cvm_class_score;

typedef struct cvm_stage_times {
    double preprocess_ms, inference_ms, postprocess_ms;
} cvm_stage_times;

typedef struct cvm_result {
    cvm_task task;
    int image_width, image_height;
    size_t n;                  /* detections */
    cvm_detection *dets;
    size_t n_classes;          /* classification: every class, in class-id order */
    cvm_class_score *classes;
    int top_class;             /* classification: argmax class id, or -1 */
    const size_t *predicted;   /* multi-label: ids over threshold (n_predicted of them) */
    size_t n_predicted;
    cvm_stage_times times;
} cvm_result;

cvm_status cvm_model_infer(cvm_model *m, const cvm_image *img, const cvm_infer_params *params,
                           cvm_result **out);
void cvm_result_free(cvm_result *r);

/* JSON in the shape of Roboflow's hosted inference responses; free with
 * cvm_free.  rle != 0 writes masks as COCO RLE instead of polygons/points. */
cvm_status cvm_result_to_json(const cvm_result *r, int rle, char **json);
void cvm_free(void *p);

typedef struct cvm_annotate_options {
    int box_thickness;         /* 0 = from image size */
    int label_px;              /* text height, 0 = from image size */
    float mask_alpha;          /* 0..1, default 0.45 */
    int draw_labels;           /* default 1 */
} cvm_annotate_options;

cvm_status cvm_annotate_options_init(cvm_annotate_options *o);
/* Draws the result onto img in place (RGB8/BGR8/RGBA8 images). */
cvm_status cvm_annotate(cvm_image *img, const cvm_result *r, const cvm_annotate_options *opts);

#ifdef __cplusplus
}
#endif
#endif
