/* PNG through libpng's classic API (the simplified API would treat 16-bit
 * samples as linear light and re-encode them, which the Python references do
 * not do: they keep the high byte).  libpng reports errors by longjmp to the
 * png_jmpbuf set here. */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

#include "base/status.h"
#include "image/image_internal.h"

typedef struct png_ctx {
    const uint8_t *data;
    size_t size, pos;
    char msg[200];
} png_ctx;

static void on_png_error(png_structp png, png_const_charp msg)
{
    png_ctx *c = png_get_error_ptr(png);
    snprintf(c->msg, sizeof c->msg, "%s", msg ? msg : "unknown error");
    png_longjmp(png, 1);
}

static void on_png_warning(png_structp png, png_const_charp msg)
{
    (void)png, (void)msg; /* the library never prints */
}

static void on_png_read(png_structp png, png_bytep out, png_size_t n)
{
    png_ctx *c = png_get_io_ptr(png);
    if (n > c->size - c->pos)
        png_error(png, "file is truncated");
    memcpy(out, c->data + c->pos, n);
    c->pos += n;
}

cvm_status cvm_decode_png(const uint8_t *data, size_t size, const char *name,
                          const cvm_image_read_options *opts, cvm_image **out)
{
    /* IHDR must come first; its size is checked before libpng reads on
     * (png_read_info would otherwise read further chunks first). */
    if (size >= 24 && memcmp(data + 12, "IHDR", 4) == 0) {
        int64_t w = (int64_t)data[16] << 24 | data[17] << 16 | data[18] << 8 | data[19];
        int64_t h = (int64_t)data[20] << 24 | data[21] << 16 | data[22] << 8 | data[23];
        if (w > 0 && h > 0)
            CVM_TRY(cvm_image_check_size(name, "PNG", w, h, opts->max_pixels));
    }
    png_ctx ctx = {data, size, 0, {0}};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ctx, on_png_error, on_png_warning);
    if (!png)
        return cvm_errorf(CVM_E_NOMEM, "%s: cannot create a PNG reader", name);
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return cvm_errorf(CVM_E_NOMEM, "%s: cannot create a PNG reader", name);
    }
    cvm_image *volatile img = NULL;
    uint8_t *volatile tmp = NULL;
    png_bytep *volatile rows = NULL;
    volatile cvm_status status = CVM_OK;
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        free(rows);
        free(tmp);
        cvm_image_free(img);
        if (status != CVM_OK)
            return status;
        return cvm_errorf(CVM_E_PARSE, "%s: corrupt PNG: %s", name, ctx.msg);
    }
    png_set_read_fn(png, &ctx, on_png_read);
    /* Let libpng's own dimension check pass anything we might accept; ours
     * (with max_pixels) runs right after the header. */
    png_set_user_limits(png, CVM_IMAGE_MAX_SIDE, CVM_IMAGE_MAX_SIDE);
    png_read_info(png, info);
    png_uint_32 w32, h32;
    int depth, ctype, interlace;
    png_get_IHDR(png, info, &w32, &h32, &depth, &ctype, &interlace, NULL, NULL);
    status = cvm_image_check_size(name, "PNG", w32, h32, opts->max_pixels);
    if (status != CVM_OK)
        png_longjmp(png, 1);

    if (depth == 16)
        png_set_strip_16(png); /* high byte, as Pillow and OpenCV keep it */
    if (ctype == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(png);
    if (ctype == PNG_COLOR_TYPE_GRAY && depth < 8)
        png_set_expand_gray_1_2_4_to_8(png);
    if (png_get_valid(png, info, PNG_INFO_tRNS))
        png_set_tRNS_to_alpha(png);
    int passes = png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int ch = png_get_channels(png, info);
    if (png_get_bit_depth(png, info) != 8 || ch < 1 || ch > 4) {
        status = cvm_errorf(CVM_E_UNSUPPORTED, "%s: PNG layout (depth %d, colour type %d) not handled", name,
                            depth, ctype);
        png_longjmp(png, 1);
    }
    static const cvm_src_layout layouts[5] = {0, CVM_SRC_GRAY, CVM_SRC_GRAY_ALPHA, CVM_SRC_RGB, CVM_SRC_RGBA};
    cvm_src_layout layout = layouts[ch];
    int w = (int)w32, h = (int)h32;
    size_t rowbytes = png_get_rowbytes(png, info);
    if (rowbytes != (size_t)w * (size_t)ch) {
        status = cvm_errorf(CVM_E_INTERNAL, "%s: unexpected PNG row size %zu", name, rowbytes);
        png_longjmp(png, 1);
    }
    cvm_image *im = NULL;
    status = cvm_image_alloc(w, h, opts->format, 0, &im);
    if (status != CVM_OK)
        png_longjmp(png, 1);
    img = im;
    if (passes > 1) {
        /* Interlaced: every pass touches every row, so keep the whole image
         * in the file's layout and convert at the end. */
        tmp = malloc(rowbytes * (size_t)h);
        rows = malloc(sizeof(png_bytep) * (size_t)h);
        if (!tmp || !rows) {
            status = cvm_errorf(CVM_E_NOMEM, "%s: out of memory for an interlaced PNG", name);
            png_longjmp(png, 1);
        }
        for (int y = 0; y < h; y++)
            rows[y] = tmp + (size_t)y * rowbytes;
        png_read_image(png, rows);
        for (int y = 0; y < h; y++)
            cvm_image_convert_row(rows[y], layout, img->pixels + (size_t)y * img->stride, opts->format, w);
    } else {
        tmp = malloc(rowbytes);
        if (!tmp) {
            status = cvm_errorf(CVM_E_NOMEM, "%s: out of memory for a PNG row", name);
            png_longjmp(png, 1);
        }
        for (int y = 0; y < h; y++) {
            png_read_row(png, tmp, NULL);
            cvm_image_convert_row(tmp, layout, img->pixels + (size_t)y * img->stride, opts->format, w);
        }
    }
    /* Reading up to IEND makes a file cut after the pixel data an error too. */
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    free(tmp);
    *out = img;
    return CVM_OK;
}

typedef struct png_wbuf {
    uint8_t *data;
    size_t size, cap;
    int oom;
    char msg[200];
} png_wbuf;

static void on_png_write(png_structp png, png_bytep in, png_size_t n)
{
    png_wbuf *b = png_get_io_ptr(png);
    if (n > b->cap - b->size) {
        size_t cap = b->cap ? b->cap : 65536;
        while (cap - b->size < n)
            cap *= 2;
        uint8_t *p = realloc(b->data, cap);
        if (!p) {
            b->oom = 1;
            png_error(png, "out of memory");
        }
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->size, in, n);
    b->size += n;
}

static void on_png_flush(png_structp png) { (void)png; }

static void on_png_werror(png_structp png, png_const_charp msg)
{
    png_wbuf *b = png_get_error_ptr(png);
    snprintf(b->msg, sizeof b->msg, "%s", msg ? msg : "unknown error");
    png_longjmp(png, 1);
}

cvm_status cvm_encode_png(const cvm_image *img, uint8_t **buf, size_t *size)
{
    *buf = NULL;
    *size = 0;
    png_wbuf b;
    memset(&b, 0, sizeof b);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &b, on_png_werror, on_png_warning);
    if (!png)
        return cvm_errorf(CVM_E_NOMEM, "cannot create a PNG writer");
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        return cvm_errorf(CVM_E_NOMEM, "cannot create a PNG writer");
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(b.data);
        return cvm_errorf(b.oom ? CVM_E_NOMEM : CVM_E_INTERNAL, "PNG encoder failed: %s", b.msg);
    }
    png_set_write_fn(png, &b, on_png_write, on_png_flush);
    int ctype = img->format == CVM_PIXEL_GRAY8   ? PNG_COLOR_TYPE_GRAY
                : img->format == CVM_PIXEL_RGBA8 ? PNG_COLOR_TYPE_RGB_ALPHA
                                                 : PNG_COLOR_TYPE_RGB;
    png_set_IHDR(png, info, (png_uint_32)img->width, (png_uint_32)img->height, 8, ctype, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    /* Level 6 is zlib's default; photos gain little from more. */
    png_set_compression_level(png, 6);
    png_write_info(png, info);
    if (img->format == CVM_PIXEL_BGR8)
        png_set_bgr(png);
    for (int y = 0; y < img->height; y++)
        png_write_row(png, img->pixels + (size_t)y * img->stride);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    *buf = b.data;
    *size = b.size;
    return CVM_OK;
}
