/* Drawing primitives for annotated pictures (all clip to the image). */
#ifndef CVM_IMAGE_DRAW_H
#define CVM_IMAGE_DRAW_H

#include "cvm/image.h"

typedef struct cvm_rgba {
    uint8_t r, g, b, a;
} cvm_rgba;

/* Rectangle outline of the given thickness (pixels). */
void cvm_draw_rect(cvm_image_view *img, int x1, int y1, int x2, int y2, int thickness, cvm_rgba c);
/* Filled rectangle, alpha-blended. */
void cvm_draw_fill_rect(cvm_image_view *img, int x1, int y1, int x2, int y2, cvm_rgba c);
/* Line segment (for keypoint skeletons). */
void cvm_draw_line(cvm_image_view *img, int x1, int y1, int x2, int y2, int thickness, cvm_rgba c);
/* Filled circle (keypoints). */
void cvm_draw_circle(cvm_image_view *img, int cx, int cy, int radius, cvm_rgba c);
/* Blends colour c into the pixels where mask (mask_w x mask_h, one byte per
 * pixel, non-zero = inside) is set; the mask's top-left is at (x, y). */
void cvm_draw_mask(cvm_image_view *img, const uint8_t *mask, int x, int y, int mask_w, int mask_h,
                   cvm_rgba c);
/* Text with its top-left at (x, y), `px` pixels high, legible at any size;
 * returns the drawn width and height through w/h (may be NULL).  Drawing with
 * img == NULL only measures. */
void cvm_draw_text(cvm_image_view *img, int x, int y, int px, const char *utf8, cvm_rgba c, int *w,
                   int *h);

#endif
