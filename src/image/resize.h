/*
 * Resizing 8-bit interleaved images, bit-exact with the libraries the Python
 * reference pipelines use, so that the same package gives the same boxes.
 */
#ifndef CVM_IMAGE_RESIZE_H
#define CVM_IMAGE_RESIZE_H

#include "base/threadpool.h"
#include "cvm/image.h"

/* OpenCV cv2.resize(..., interpolation=INTER_LINEAR) on uint8 (YOLO family):
 * the same fixed-point coefficients and rounding, so 0 bytes differ. */
cvm_status cvm_resize_bilinear_cv(const cvm_image_view *src, cvm_image_view *dst);
/* The same bytes, with the destination rows shared among the pool's
 * threads (NULL: the calling thread alone). */
cvm_status cvm_resize_bilinear_cv_pool(const cvm_image_view *src, cvm_image_view *dst, cvm_threadpool *pool);

/* Pillow Image.resize(..., BILINEAR) with its antialiasing support (what
 * torchvision's resize(antialias=True) on a PIL image does; RF-DETR). */
cvm_status cvm_resize_bilinear_pil(const cvm_image_view *src, cvm_image_view *dst);

#endif
