/* JPEG through libjpeg(-turbo).  libjpeg reports fatal errors by calling
 * error_exit, whose default ends the process, so every call into it runs
 * under a setjmp installed here and error_exit longjmps back. */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#include "base/status.h"
#include "image/image_internal.h"

typedef struct jerr_ctx {
    struct jpeg_error_mgr mgr;
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX];
    /* The encoder's output; libjpeg updates it through a pointer, so it
     * stays valid to read after a longjmp. */
    unsigned char *outbuf;
    unsigned long outsize;
} jerr_ctx;

static void on_error_exit(j_common_ptr cinfo)
{
    jerr_ctx *e = (jerr_ctx *)cinfo->err;
    e->mgr.format_message(cinfo, e->msg);
    longjmp(e->jb, 1);
}

static void on_emit_message(j_common_ptr cinfo, int level)
{
    jerr_ctx *e = (jerr_ctx *)cinfo->err;
    if (level >= 0)
        return; /* trace messages */
    /* A truncated stream makes libjpeg pad with a fake EOI and only warn:
     * the picture would come back partly grey.  Treat that as the error it
     * is; other warnings (stray bytes between markers, ...) are tolerated as
     * every common decoder does. */
    if (e->mgr.msg_code == JWRN_JPEG_EOF) {
        e->mgr.format_message(cinfo, e->msg);
        longjmp(e->jb, 1);
    }
    e->mgr.num_warnings++;
}

static void on_output_message(j_common_ptr cinfo)
{
    (void)cinfo; /* the library never prints */
}

static void init_err(jerr_ctx *e)
{
    jpeg_std_error(&e->mgr);
    e->mgr.error_exit = on_error_exit;
    e->mgr.emit_message = on_emit_message;
    e->mgr.output_message = on_output_message;
    e->msg[0] = '\0';
}

cvm_status cvm_decode_jpeg(const uint8_t *data, size_t size, const char *name,
                           const cvm_image_read_options *opts, cvm_image **out)
{
    struct jpeg_decompress_struct cinfo;
    jerr_ctx err;
    /* Modified between setjmp and longjmp, so volatile. */
    cvm_image *volatile img = NULL;
    uint8_t *volatile row = NULL;
    volatile int orientation = 1;
    volatile cvm_status status = CVM_OK;

    memset(&cinfo, 0, sizeof cinfo);
    init_err(&err);
    cinfo.err = &err.mgr;
    if (setjmp(err.jb)) {
        jpeg_destroy_decompress(&cinfo);
        free(row);
        cvm_image_free(img);
        if (status != CVM_OK)
            return status;
        return cvm_errorf(CVM_E_PARSE, "%s: corrupt JPEG: %s", name, err.msg);
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    if (opts->apply_exif_orientation)
        jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xFFFF);
    if (jpeg_read_header(&cinfo, TRUE) != JPEG_HEADER_OK) {
        jpeg_destroy_decompress(&cinfo);
        return cvm_errorf(CVM_E_PARSE, "%s: JPEG stream holds no image", name);
    }
    cvm_status s = cvm_image_check_size(name, "JPEG", cinfo.image_width, cinfo.image_height,
                                        opts->max_pixels);
    if (s != CVM_OK) {
        jpeg_destroy_decompress(&cinfo);
        return s;
    }
    if (opts->apply_exif_orientation) {
        for (jpeg_saved_marker_ptr m = cinfo.marker_list; m; m = m->next) {
            if (m->marker == JPEG_APP0 + 1) {
                int o = cvm_exif_orientation(m->data, m->data_length);
                if (o != 1) {
                    orientation = o;
                    break;
                }
            }
        }
    }

    cvm_src_layout layout;
    int in_ch;
    switch (cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE:
        cinfo.out_color_space = JCS_GRAYSCALE;
        layout = CVM_SRC_GRAY;
        in_ch = 1;
        break;
    case JCS_CMYK:
    case JCS_YCCK:
        cinfo.out_color_space = JCS_CMYK;
        layout = CVM_SRC_RGBA; /* converted below */
        in_ch = 4;
        break;
    default:
        /* Decode straight into the requested layout where libjpeg-turbo can. */
        switch (opts->format) {
        case CVM_PIXEL_BGR8:
            cinfo.out_color_space = JCS_EXT_BGR;
            layout = CVM_SRC_BGR;
            in_ch = 3;
            break;
        case CVM_PIXEL_RGBA8:
            cinfo.out_color_space = JCS_EXT_RGBA;
            layout = CVM_SRC_RGBA;
            in_ch = 4;
            break;
        default:
            cinfo.out_color_space = JCS_RGB;
            layout = CVM_SRC_RGB;
            in_ch = 3;
            break;
        }
        break;
    }
    jpeg_start_decompress(&cinfo);
    if ((int)cinfo.output_width != (int)cinfo.image_width || (int)cinfo.output_components != in_ch) {
        jpeg_destroy_decompress(&cinfo);
        return cvm_errorf(CVM_E_INTERNAL, "%s: unexpected JPEG output geometry", name);
    }
    int w = (int)cinfo.output_width, h = (int)cinfo.output_height;
    cvm_image *im = NULL;
    status = cvm_image_alloc(w, h, opts->format, 0, &im);
    if (status != CVM_OK)
        longjmp(err.jb, 1);
    img = im;
    row = malloc((size_t)w * (size_t)in_ch);
    if (!row) {
        status = cvm_errorf(CVM_E_NOMEM, "%s: out of memory for a JPEG row", name);
        longjmp(err.jb, 1);
    }
    int cmyk = cinfo.out_color_space == JCS_CMYK;
    int adobe_inverted = cinfo.saw_Adobe_marker;
    while (cinfo.output_scanline < cinfo.output_height) {
        unsigned y = cinfo.output_scanline;
        JSAMPROW rp = row;
        if (jpeg_read_scanlines(&cinfo, &rp, 1) != 1) {
            status = cvm_errorf(CVM_E_PARSE, "%s: JPEG data ends early", name);
            longjmp(err.jb, 1);
        }
        if (cmyk) {
            /* Adobe writes CMYK inverted (0 = full ink); undo that, then
             * the usual R = (1-C)(1-K) conversion. */
            uint8_t *p = row;
            for (int x = 0; x < w; x++, p += 4) {
                unsigned c = p[0], m = p[1], yy = p[2], k = p[3];
                if (!adobe_inverted)
                    c = 255 - c, m = 255 - m, yy = 255 - yy, k = 255 - k;
                p[0] = (uint8_t)((c * k + 127) / 255);
                p[1] = (uint8_t)((m * k + 127) / 255);
                p[2] = (uint8_t)((yy * k + 127) / 255);
                p[3] = 255;
            }
        }
        cvm_image_convert_row(row, layout, img->pixels + (size_t)y * img->stride, opts->format, w);
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    free(row);
    row = NULL;
    cvm_image *result = img;
    if (orientation != 1) {
        cvm_image *rot = NULL;
        cvm_status os = cvm_image_orient(result, orientation, &rot);
        cvm_image_free(result);
        if (os != CVM_OK)
            return os;
        result = rot;
    }
    *out = result;
    return CVM_OK;
}

cvm_status cvm_encode_jpeg(const cvm_image *img, int quality, uint8_t **buf, size_t *size)
{
    struct jpeg_compress_struct cinfo;
    jerr_ctx err;

    *buf = NULL;
    *size = 0;
    memset(&cinfo, 0, sizeof cinfo);
    init_err(&err);
    err.outbuf = NULL;
    err.outsize = 0;
    cinfo.err = &err.mgr;
    if (setjmp(err.jb)) {
        jpeg_destroy_compress(&cinfo);
        free(err.outbuf);
        return cvm_errorf(CVM_E_INTERNAL, "JPEG encoder failed: %s", err.msg);
    }
    jpeg_create_compress(&cinfo);
    jpeg_mem_dest(&cinfo, &err.outbuf, &err.outsize);
    cinfo.image_width = (JDIMENSION)img->width;
    cinfo.image_height = (JDIMENSION)img->height;
    switch (img->format) {
    case CVM_PIXEL_GRAY8:
        cinfo.input_components = 1;
        cinfo.in_color_space = JCS_GRAYSCALE;
        break;
    case CVM_PIXEL_BGR8:
        cinfo.input_components = 3;
        cinfo.in_color_space = JCS_EXT_BGR;
        break;
    case CVM_PIXEL_RGBA8:
        /* JPEG has no alpha: the fourth byte is skipped. */
        cinfo.input_components = 4;
        cinfo.in_color_space = JCS_EXT_RGBX;
        break;
    default:
        cinfo.input_components = 3;
        cinfo.in_color_space = JCS_RGB;
        break;
    }
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality, TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW rp = img->pixels + (size_t)cinfo.next_scanline * img->stride;
        jpeg_write_scanlines(&cinfo, &rp, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    *buf = err.outbuf;
    *size = (size_t)err.outsize;
    return CVM_OK;
}
