/*
 * Roboflow pre-processing (reference §5.1 for the YOLO family and friends,
 * §5.4 for RF-DETR): image -> float32 NCHW tensor plus the metadata needed to
 * map predictions back onto the original image.
 */
#ifndef CVM_VISION_PREPROCESS_H
#define CVM_VISION_PREPROCESS_H

#include "base/threadpool.h"
#include "cvm/image.h"
#include "models/package.h"

typedef struct cvm_preproc_meta {
    int pad_left, pad_top, pad_right, pad_bottom;  /* negative where center-crop cut */
    int orig_w, orig_h;
    int after_w, after_h;       /* size after the static crop */
    int infer_w, infer_h;       /* network input */
    double scale_w, scale_h;
    int crop_x, crop_y;         /* static crop offset */
    int nonsquare_w, nonsquare_h;  /* RF-DETR two-step intermediate size (0 = none) */
} cvm_preproc_meta;

/* §5.1.  `out` receives a new float32 tensor [1,3,H,W] (H,W = inference size).
 * `pool` (may be NULL) shares the resize and the float conversion among
 * its threads; the result does not depend on it. */
cvm_status cvm_preprocess(const cvm_preproc_config *c, const cvm_image_view *img, cvm_tensor **out,
                          cvm_preproc_meta *meta, cvm_threadpool *pool);

/* §5.4: RF-DETR (stretch with PIL's antialiased bilinear; two-step when
 * dataset_version_resize_dimensions is set and the mode is not stretch). */
cvm_status cvm_preprocess_rfdetr(const cvm_preproc_config *c, const cvm_image_view *img, cvm_tensor **out,
                                 cvm_preproc_meta *meta, cvm_threadpool *pool);

/* Building blocks (exposed for tests). */

/* Static crop rectangle in pixels (x0,y0,w,h) for an image of w x h. */
void cvm_static_crop_rect(const cvm_preproc_config *c, int w, int h, int *x0, int *y0, int *cw, int *ch);
/* Letterbox geometry for a w x h image into W x H. */
void cvm_letterbox_geometry(int w, int h, int W, int H, int *nw, int *nh, int *pad_left, int *pad_top,
                            int *pad_right, int *pad_bottom, double *scale);

#endif
