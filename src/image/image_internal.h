/* Shared pieces of the image layer: the image object and the codec entry
 * points that cvm_image_decode dispatches to. */
#ifndef CVM_IMAGE_INTERNAL_H
#define CVM_IMAGE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "cvm/image.h"

struct cvm_image {
    int width, height;
    size_t stride;
    cvm_pixel_format format;
    int channels;
    uint8_t *pixels;
    int owns_pixels;
};

/* Every codec accepts any side up to this; the product is bounded by
 * max_pixels instead. */
#define CVM_IMAGE_MAX_SIDE 100000

/* The layouts codecs produce before conversion to the requested format. */
typedef enum cvm_src_layout {
    CVM_SRC_GRAY = 1,
    CVM_SRC_GRAY_ALPHA = 2,
    CVM_SRC_RGB = 3,
    CVM_SRC_RGBA = 4,
    CVM_SRC_BGR = 5,
    CVM_SRC_BGRA = 6
} cvm_src_layout;

int cvm_pixel_channels(cvm_pixel_format f);

/* CVM_E_LIMIT (naming `name`) unless 1 <= w,h <= CVM_IMAGE_MAX_SIDE and
 * w*h <= max_pixels; called on header values before any pixel allocation. */
cvm_status cvm_image_check_size(const char *name, const char *codec, int64_t w, int64_t h,
                                int64_t max_pixels);
/* A new owned image with tightly packed rows (not zeroed unless `zero`). */
cvm_status cvm_image_alloc(int w, int h, cvm_pixel_format f, int zero, cvm_image **out);
/* Converts one row of `w` pixels from a codec layout to the image format. */
void cvm_image_convert_row(const uint8_t *src, cvm_src_layout layout, uint8_t *dst,
                           cvm_pixel_format f, int w);

/* Codecs.  `name` is the file name (or "<memory>") used in messages;
 * opts is never NULL here and max_pixels is already resolved. */
cvm_status cvm_decode_jpeg(const uint8_t *data, size_t size, const char *name,
                           const cvm_image_read_options *opts, cvm_image **out);
cvm_status cvm_decode_png(const uint8_t *data, size_t size, const char *name,
                          const cvm_image_read_options *opts, cvm_image **out);
cvm_status cvm_decode_webp(const uint8_t *data, size_t size, const char *name,
                           const cvm_image_read_options *opts, cvm_image **out);
cvm_status cvm_decode_bmp(const uint8_t *data, size_t size, const char *name,
                          const cvm_image_read_options *opts, cvm_image **out);

/* Encoders into a malloc'd buffer (freed by the caller). */
cvm_status cvm_encode_jpeg(const cvm_image *img, int quality, uint8_t **buf, size_t *size);
cvm_status cvm_encode_png(const cvm_image *img, uint8_t **buf, size_t *size);

/* Reads the EXIF orientation (1..8) from a JPEG APP1 payload (starting at
 * "Exif\0\0"); 1 when absent or malformed. */
int cvm_exif_orientation(const uint8_t *app1, size_t size);
/* Returns a new image with EXIF orientation `o` applied (o in 2..8). */
cvm_status cvm_image_orient(const cvm_image *src, int o, cvm_image **out);

#endif
