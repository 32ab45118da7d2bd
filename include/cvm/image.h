/*
 * Images: decoding, wrapping caller buffers, encoding.  Pixels are 8-bit,
 * interleaved (HWC), rows `stride` bytes apart.
 */
#ifndef CVM_IMAGE_H
#define CVM_IMAGE_H

#include "cvm/cvm.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cvm_pixel_format {
    CVM_PIXEL_RGB8 = 0,
    CVM_PIXEL_BGR8 = 1,
    CVM_PIXEL_GRAY8 = 2,
    CVM_PIXEL_RGBA8 = 3
} cvm_pixel_format;

typedef struct cvm_image cvm_image;

typedef struct cvm_image_read_options {
    int apply_exif_orientation;  /* rotate/flip JPEG images as their EXIF tag says (default 0) */
    int64_t max_pixels;          /* refuse larger images before allocating (0 = default 256 Mpx) */
    cvm_pixel_format format;     /* decoded layout: RGB8 (default), BGR8, GRAY8 or RGBA8 */
} cvm_image_read_options;

cvm_status cvm_image_read_options_init(cvm_image_read_options *o);

/* Decodes JPEG, PNG (8/16-bit, gray, palette, alpha), WebP or BMP, detected
 * from the content.  opts may be NULL. */
cvm_status cvm_image_read(const char *path, const cvm_image_read_options *opts, cvm_image **out);
cvm_status cvm_image_decode(const void *data, size_t size, const cvm_image_read_options *opts,
                            cvm_image **out);
/* A zero-filled image. */
cvm_status cvm_image_create(int width, int height, cvm_pixel_format format, cvm_image **out);
/* A header over caller-owned pixels (no copy); they must outlive the image. */
cvm_status cvm_image_wrap(int width, int height, size_t stride, cvm_pixel_format format,
                          void *pixels, cvm_image **out);
void cvm_image_free(cvm_image *img);

typedef struct cvm_image_view {
    int width, height;
    size_t stride;               /* bytes between rows */
    cvm_pixel_format format;
    int channels;                /* 1, 3 or 4 */
    uint8_t *pixels;
} cvm_image_view;

cvm_status cvm_image_get_view(const cvm_image *img, cvm_image_view *view);

/* Encodes by the path's extension (.jpg/.jpeg or .png), written atomically
 * (temporary file renamed into place).  quality: JPEG 1..100 (0 = 90). */
cvm_status cvm_image_write(const cvm_image *img, const char *path, int quality);

#ifdef __cplusplus
}
#endif
#endif
