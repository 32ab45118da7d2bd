/* WebP through libwebp.  The canvas size is read from the RIFF chunks here
 * first, so that an oversized header is refused as CVM_E_LIMIT (libwebp
 * itself reports every size it dislikes as a bitstream error). */
#include <stdlib.h>
#include <string.h>

#include <webp/decode.h>

#include "base/status.h"
#include "image/image_internal.h"

static uint32_t le24(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16; }
static uint32_t le32(const uint8_t *p) { return le24(p) | (uint32_t)p[3] << 24; }

/* 1 and the size when the first chunk after "WEBP" gives one. */
static int webp_header_size(const uint8_t *d, size_t n, int64_t *w, int64_t *h)
{
    if (n < 20)
        return 0;
    const uint8_t *c = d + 12;
    size_t left = n - 12;
    uint32_t clen = le32(c + 4);
    const uint8_t *p = c + 8;
    size_t avail = left - 8;
    if (memcmp(c, "VP8X", 4) == 0) {
        if (clen < 10 || avail < 10)
            return 0;
        *w = (int64_t)le24(p + 4) + 1;
        *h = (int64_t)le24(p + 7) + 1;
        return 1;
    }
    if (memcmp(c, "VP8L", 4) == 0) {
        if (avail < 5 || p[0] != 0x2f)
            return 0;
        uint32_t bits = le32(p + 1);
        *w = (int64_t)(bits & 0x3fff) + 1;
        *h = (int64_t)((bits >> 14) & 0x3fff) + 1;
        return 1;
    }
    if (memcmp(c, "VP8 ", 4) == 0) {
        if (avail < 10 || p[3] != 0x9d || p[4] != 0x01 || p[5] != 0x2a)
            return 0;
        *w = (int64_t)((p[6] | p[7] << 8) & 0x3fff);
        *h = (int64_t)((p[8] | p[9] << 8) & 0x3fff);
        return 1;
    }
    return 0;
}

cvm_status cvm_decode_webp(const uint8_t *data, size_t size, const char *name,
                           const cvm_image_read_options *opts, cvm_image **out)
{
    int64_t hw, hh;
    if (!webp_header_size(data, size, &hw, &hh))
        return cvm_errorf(CVM_E_PARSE, "%s: corrupt WebP: no VP8/VP8L/VP8X chunk with a size", name);
    CVM_TRY(cvm_image_check_size(name, "WebP", hw, hh, opts->max_pixels));
    WebPBitstreamFeatures feat;
    VP8StatusCode vs = WebPGetFeatures(data, size, &feat);
    if (vs != VP8_STATUS_OK)
        return cvm_errorf(CVM_E_PARSE, "%s: corrupt WebP header (libwebp status %d)", name, (int)vs);
    if (feat.has_animation)
        return cvm_errorf(CVM_E_UNSUPPORTED, "%s: animated WebP is not supported", name);
    CVM_TRY(cvm_image_check_size(name, "WebP", feat.width, feat.height, opts->max_pixels));
    cvm_image *img = NULL;
    CVM_TRY(cvm_image_alloc(feat.width, feat.height, opts->format, 0, &img));
    size_t bytes = img->stride * (size_t)img->height;
    uint8_t *r = NULL;
    switch (opts->format) {
    case CVM_PIXEL_RGB8:
        r = WebPDecodeRGBInto(data, size, img->pixels, bytes, (int)img->stride);
        break;
    case CVM_PIXEL_BGR8:
        r = WebPDecodeBGRInto(data, size, img->pixels, bytes, (int)img->stride);
        break;
    case CVM_PIXEL_RGBA8:
        r = WebPDecodeRGBAInto(data, size, img->pixels, bytes, (int)img->stride);
        break;
    case CVM_PIXEL_GRAY8: {
        size_t rgb_stride = (size_t)img->width * 3;
        uint8_t *rgb = malloc(rgb_stride * (size_t)img->height);
        if (!rgb) {
            cvm_image_free(img);
            return cvm_errorf(CVM_E_NOMEM, "%s: out of memory decoding WebP", name);
        }
        r = WebPDecodeRGBInto(data, size, rgb, rgb_stride * (size_t)img->height, (int)rgb_stride);
        if (r)
            for (int y = 0; y < img->height; y++)
                cvm_image_convert_row(rgb + (size_t)y * rgb_stride, CVM_SRC_RGB,
                                      img->pixels + (size_t)y * img->stride, CVM_PIXEL_GRAY8, img->width);
        free(rgb);
        break;
    }
    }
    if (!r) {
        cvm_image_free(img);
        return cvm_errorf(CVM_E_PARSE, "%s: corrupt or truncated WebP image data", name);
    }
    *out = img;
    return CVM_OK;
}
