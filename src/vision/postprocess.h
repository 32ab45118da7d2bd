/*
 * Post-processing building blocks shared by the model families: NMS with
 * torchvision's semantics, prototype/logit masks, COCO RLE, mapping boxes
 * back to the original image, mask polygons.  None of them touch images or
 * sessions, so they are tested on synthetic data.
 */
#ifndef CVM_VISION_POSTPROCESS_H
#define CVM_VISION_POSTPROCESS_H

#include <stddef.h>
#include <stdint.h>

#include "cvm/vision.h"
#include "vision/preprocess.h"

/* ------------------------------------------------------------------ NMS */

/* Greedy NMS as torchvision.ops.batched_nms: candidates in score order
 * (descending; equal scores keep their input order), a candidate suppresses
 * later ones of the same class (any class when classes is NULL) whose IoU
 * with it is > iou_thr; IoU = inter / (area_a + area_b - inter) without +1.
 * Writes up to max_keep indices into keep[] in keep order and returns how
 * many.  `scratch` must hold 2*n size_t (NULL: allocated here; returns
 * (size_t)-1 when that fails). */
size_t cvm_nms(const float *xyxy, const float *scores, const int *classes, size_t n, float iou_thr,
               size_t max_keep, size_t *keep, size_t *scratch);

/* Sorts idx[0..n) by score descending, ties by index ascending. */
void cvm_sort_by_score(size_t *idx, size_t n, const float *scores);

/* ------------------------------------------------------------ best class */

/* For class-major scores [classes][n] (row stride n): best[a] and cls[a] =
 * the largest score of candidate a and its class, the first of equal ones
 * (NaN never wins over an earlier class), as a per-candidate argmax scan
 * gives; read one class row at a time.  classes >= 1. */
void cvm_best_class(const float *scores, int64_t classes, int64_t n, float *best, int *cls);

/* --------------------------------------------------------------- rescale */

/* §5.2: undo pad and scale, add the crop offset, clamp to [0,W]x[0,H]. The
 * box stays in floating point; cvm_round_half_even gives the final value. */
void cvm_rescale_box(const cvm_preproc_meta *m, float box[4]);
void cvm_rescale_point(const cvm_preproc_meta *m, float *x, float *y);
float cvm_round_half_even(float v);

/* ----------------------------------------------------------------- masks */

/* One mask being built: a float map in "mask space" (already cut to the
 * un-padded region), resized to the crop size with torchvision's bilinear
 * (antialiased when shrinking) and thresholded; the result is kept only over
 * the bounding region of its set pixels, in original-image coordinates. */
typedef struct cvm_mask_job {
    const float *map;        /* map_h x map_w */
    int map_w, map_h;
    int out_w, out_h;        /* size after the static crop */
    int off_x, off_y;        /* static crop offset */
    float threshold;         /* strictly greater is inside */
} cvm_mask_job;

/* Fills det->mask/mask_x/mask_y/mask_w/mask_h (mask NULL and sizes 0 when
 * no pixel is set). */
cvm_status cvm_mask_render(const cvm_mask_job *job, cvm_detection *det);

/* Removes the letterbox padding from an mh x mw map in mask space, as the
 * reference does: pads scaled by mh/infer_h (mw/infer_w) and rounded half to
 * even; negative pads (center-crop) add zero rows/columns.  Writes the new
 * map into out, sized by cvm_mask_unpad_size, and its size into oh, ow. */
cvm_status cvm_mask_unpad(const float *m, int mh, int mw, const cvm_preproc_meta *meta, int infer_w,
                          int infer_h, float *out, int *oh, int *ow);
/* The unpadded size only (for sizing buffers). */
cvm_status cvm_mask_unpad_size(int mh, int mw, const cvm_preproc_meta *meta, int infer_w, int infer_h,
                               int *oh, int *ow);

/* YOLO prototype mask for one detection: sigmoid(coeffs . protos) inside the
 * box scaled by 1/4 and rounded, 0 outside.  out is ph x pw. */
void cvm_yolo_proto_mask(const float *protos, int nm, int ph, int pw, const float *coeffs, const float box[4],
                         float *out);

/* ------------------------------------------------------------------- RLE */

/* COCO RLE counts of an image_h x image_w mask (column-major) that is all
 * zero except the mask_w x mask_h block at (mask_x, mask_y). */
cvm_status cvm_rle_counts(const uint8_t *mask, int mask_x, int mask_y, int mask_w, int mask_h, int image_w,
                          int image_h, uint32_t **counts, size_t *n);
/* pycocotools' compressed string form of the counts (malloc'd). */
cvm_status cvm_rle_string(const uint32_t *counts, size_t n, char **out);

/* --------------------------------------------------------------- polygons */

/* Outer boundary of the largest 8-connected component of the mask, as
 * polygon vertices in mask pixel coordinates (x,y pairs; runs of collinear
 * boundary pixels collapsed).  *xy is malloc'd. */
cvm_status cvm_mask_polygon(const uint8_t *mask, int w, int h, int **xy, size_t *n_points);

#endif
