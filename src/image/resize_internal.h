/* Test hooks of the resizers (not part of any public interface). */
#ifndef CVM_IMAGE_RESIZE_INTERNAL_H
#define CVM_IMAGE_RESIZE_INTERNAL_H

#include "image/resize.h"

/* cvm_resize_bilinear_cv with a chosen form of OpenCV's vertical blend:
 *   0   every element in the SIMD form: what OpenCV 5 gives (the default);
 *   L>0 OpenCV 4.x, whose SIMD loop covers the longest multiple of L 16-bit
 *       lanes (8 = SSE/NEON, 16 = AVX2, 32 = AVX-512) and whose scalar tail
 *       rounds the exact product;
 *  -1   the exact product everywhere (an OpenCV build without SIMD). */
cvm_status cvm_resize_bilinear_cv_lanes(const cvm_image_view *src, cvm_image_view *dst, int lanes);

/* cvm_resize_bilinear_cv with the horizontal pass in its scalar form only
 * (the byte-permute form must give the same bytes). */
cvm_status cvm_resize_bilinear_cv_plain_h(const cvm_image_view *src, cvm_image_view *dst);

#endif
