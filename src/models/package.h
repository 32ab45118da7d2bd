/*
 * Model packages on disk: model_config.json, inference_config.json,
 * class_names.txt, keypoints_metadata.json and the ONNX weights, parsed into
 * plain structs.  Parsing is as tolerant as the Python reference's pydantic
 * models (numbers given as strings, nulls, unknown keys) and every failure
 * names the file and the field.
 */
#ifndef CVM_MODELS_PACKAGE_H
#define CVM_MODELS_PACKAGE_H

#include "cvm/vision.h"

typedef enum cvm_resize_mode {
    CVM_RESIZE_STRETCH = 0,
    CVM_RESIZE_LETTERBOX,
    CVM_RESIZE_CENTER_CROP,
    CVM_RESIZE_FIT_LONGER_EDGE,
    CVM_RESIZE_LETTERBOX_REFLECT_EDGES
} cvm_resize_mode;

typedef enum cvm_contrast_mode {
    CVM_CONTRAST_NONE = 0,
    CVM_CONTRAST_ADAPTIVE,
    CVM_CONTRAST_STRETCHING,
    CVM_CONTRAST_HISTOGRAM
} cvm_contrast_mode;

typedef enum cvm_post_type {
    CVM_POST_NONE = 0,
    CVM_POST_NMS,
    CVM_POST_SOFTMAX,
    CVM_POST_SIGMOID
} cvm_post_type;

typedef struct cvm_preproc_config {
    int crop_enabled;
    int crop_x_min, crop_y_min, crop_x_max, crop_y_max; /* percent */
    int grayscale;
    cvm_contrast_mode contrast;
    int width, height;          /* training_input_size */
    int dvr_width, dvr_height;  /* dataset_version_resize_dimensions (0 = none) */
    cvm_resize_mode resize;
    int padding_value;          /* 0..255 domain; null -> 0 */
    int bgr;                    /* color_mode "bgr" */
    double scaling_factor;      /* 0 = none */
    int has_norm;
    float mean[3], std[3];
    int input_channels;
} cvm_preproc_config;

typedef struct cvm_kp_class {
    int class_id;
    char *class_name;
    size_t n;           /* keypoints of this class */
    char **names;       /* sorted by their integer key */
    size_t n_edges;
    int (*edges)[2];
} cvm_kp_class;

typedef struct cvm_package {
    char *dir;                  /* NULL for a bare ONNX file */
    char *architecture;
    char *task_name;
    char *backend;
    cvm_task task;
    char *weights;              /* path of the ONNX file */
    int has_inference_config;
    cvm_preproc_config pre;
    cvm_post_type post;
    int post_fused;
    int has_nms_params;
    int nms_max_det, nms_agnostic;
    float nms_conf, nms_iou;
    char **class_names;
    size_t n_classes;
    char **removed_classes;     /* class_names_operations: class_name_removal */
    size_t n_removed;
    cvm_kp_class *kp;
    size_t n_kp;
    int static_batch_size;      /* 0 = not given */
} cvm_package;

/* Reads a package folder. */
cvm_status cvm_package_load(const char *dir, cvm_package **out);
void cvm_package_free(cvm_package *p);

/* The pieces, for tests and for packages assembled in memory.  `file` is the
 * name used in error messages. */
cvm_status cvm_package_parse_model_config(const char *text, size_t len, const char *file,
                                          cvm_package *p);
cvm_status cvm_package_parse_inference_config(const char *text, size_t len, const char *file,
                                              cvm_package *p);
cvm_status cvm_package_parse_class_names(const char *text, size_t len, const char *file,
                                         cvm_package *p);
cvm_status cvm_package_parse_keypoints(const char *text, size_t len, const char *file,
                                       cvm_package *p);
/* Default pre-processing (640 letterbox, rgb, /255) for bare ONNX files. */
void cvm_preproc_config_default(cvm_preproc_config *c);

/* Reads a whole (small) file; *len excludes the terminating NUL it adds. */
cvm_status cvm_read_text_file(const char *path, size_t max_bytes, char **text, size_t *len);

cvm_status cvm_task_parse(const char *s, cvm_task *t);
const char *cvm_task_string(cvm_task t);
const char *cvm_resize_mode_string(cvm_resize_mode m);

#endif
