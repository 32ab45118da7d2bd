/* Pixel blending shared by the shape and text drawing code. */
#ifndef CVM_IMAGE_DRAW_INTERNAL_H
#define CVM_IMAGE_DRAW_INTERNAL_H

#include "image/draw.h"

/* The colour in the image's own channel order, plus its alpha. */
typedef struct cvm_ink {
    uint8_t v[4];
    int a;
} cvm_ink;

cvm_ink cvm_ink_for(const cvm_image_view *img, cvm_rgba c);
/* Blends the ink into pixel (x, y), which the caller has clipped, with
 * coverage 0..255 on top of the ink's alpha. */
void cvm_blend_pixel(cvm_image_view *img, int x, int y, const cvm_ink *ink, int coverage);
/* 1 when the view can be drawn on. */
int cvm_view_ok(const cvm_image_view *img);

#endif
