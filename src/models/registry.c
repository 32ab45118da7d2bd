#include <string.h>

#include "models/model.h"

#define YOLO(arch, task, note) {arch, task, "onnx", note, cvm_yolo_prepare, cvm_yolo_infer}
#define OD CVM_TASK_OBJECT_DETECTION
#define IS CVM_TASK_INSTANCE_SEGMENTATION
#define KP CVM_TASK_KEYPOINT_DETECTION
#define CLS CVM_TASK_CLASSIFICATION
#define MLC CVM_TASK_MULTI_LABEL_CLASSIFICATION

/* (architecture, task, backend) -> implementation, as the reference's
 * registry names them. */
static const cvm_model_impl REGISTRY[] = {
    YOLO("yolov5", OD, "output (B, N, 5+C): objectness filter, max class score"),
    YOLO("yolov8", OD, "NMS; fused-NMS packages (B, M, 6)"),
    YOLO("yolov8", IS, "NMS + 32 prototype masks"),
    YOLO("yolov8", KP, "NMS + keypoints"),
    YOLO("yolov8", CLS, "softmax"),
    YOLO("yolov8", MLC, "sigmoid"),
    YOLO("yolov9", OD, "as yolov8"),
    YOLO("yolov10", OD, "NMS-free (B, M, 6)"),
    YOLO("yolov11", OD, "as yolov8"),
    YOLO("yolov11", IS, "as yolov8"),
    YOLO("yolov11", KP, "as yolov8"),
    YOLO("yolov11", CLS, "as yolov8"),
    YOLO("yolov12", OD, "as yolov8"),
    YOLO("yolo26", OD, "NMS-free (B, M, 6), default confidence 0.25"),
    YOLO("yolo26", IS, "NMS-free (B, M, 6+32) + prototype masks"),
    YOLO("yolo26", KP, "NMS-free (B, M, 6+3K)"),
    /* Any (1, classes) classifier behind the shared pre-processing. */
    YOLO("vit", CLS, "softmax"),
    YOLO("vit", MLC, "sigmoid, every class >= threshold"),
    {"rfdetr", OD, "onnx", "sigmoid, flat top-k over queries x classes, no NMS", cvm_rfdetr_prepare,
     cvm_rfdetr_infer},
    {"rfdetr", IS, "onnx", "as detection + per-query mask logits", cvm_rfdetr_prepare, cvm_rfdetr_infer},
};

static const char *canonical(const char *a)
{
    /* Ultralytics calls YOLOv11 "yolo11". */
    if (a && !strcmp(a, "yolo11"))
        return "yolov11";
    if (a && !strcmp(a, "yolo12"))
        return "yolov12";
    return a;
}

const cvm_model_impl *cvm_registry_find(const char *architecture, cvm_task task, const char *backend)
{
    architecture = canonical(architecture);
    for (size_t i = 0; i < sizeof REGISTRY / sizeof REGISTRY[0]; i++) {
        const cvm_model_impl *e = &REGISTRY[i];
        if (architecture && !strcmp(e->architecture, architecture) && e->task == task &&
            (!backend || !strcmp(e->backend, backend)))
            return e;
    }
    return NULL;
}

size_t cvm_registry_size(void) { return sizeof REGISTRY / sizeof REGISTRY[0]; }

const cvm_model_impl *cvm_registry_at(size_t i) { return i < cvm_registry_size() ? &REGISTRY[i] : NULL; }
