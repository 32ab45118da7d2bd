/* Image objects, format detection, pixel layout conversion, EXIF orientation
 * and atomic file output. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/status.h"
#include "image/image_internal.h"

#define DEFAULT_MAX_PIXELS ((int64_t)256 * 1000 * 1000)
/* Files larger than this are refused before reading them into memory. */
#define MAX_FILE_BYTES ((int64_t)1 << 31)

int cvm_pixel_channels(cvm_pixel_format f)
{
    switch (f) {
    case CVM_PIXEL_RGB8:
    case CVM_PIXEL_BGR8:
        return 3;
    case CVM_PIXEL_GRAY8:
        return 1;
    case CVM_PIXEL_RGBA8:
        return 4;
    }
    return 0;
}

cvm_status cvm_image_read_options_init(cvm_image_read_options *o)
{
    if (!o)
        return cvm_errorf(CVM_E_INVALID_ARG, "cvm_image_read_options_init: options is NULL");
    memset(o, 0, sizeof *o);
    o->max_pixels = DEFAULT_MAX_PIXELS;
    o->format = CVM_PIXEL_RGB8;
    return CVM_OK;
}

cvm_status cvm_image_check_size(const char *name, const char *codec, int64_t w, int64_t h,
                                int64_t max_pixels)
{
    if (w < 1 || h < 1)
        return cvm_errorf(CVM_E_PARSE, "%s: %s header gives an empty image (%lldx%lld)", name,
                          codec, (long long)w, (long long)h);
    if (w > CVM_IMAGE_MAX_SIDE || h > CVM_IMAGE_MAX_SIDE)
        return cvm_errorf(CVM_E_LIMIT, "%s: %s image is %lldx%lld, a side exceeds %d", name, codec,
                          (long long)w, (long long)h, CVM_IMAGE_MAX_SIDE);
    if (w * h > max_pixels)
        return cvm_errorf(CVM_E_LIMIT, "%s: %s image is %lldx%lld = %lld pixels, over the limit of %lld",
                          name, codec, (long long)w, (long long)h, (long long)(w * h),
                          (long long)max_pixels);
    return CVM_OK;
}

cvm_status cvm_image_alloc(int w, int h, cvm_pixel_format f, int zero, cvm_image **out)
{
    int ch = cvm_pixel_channels(f);
    if (ch == 0)
        return cvm_errorf(CVM_E_INVALID_ARG, "unknown pixel format %d", (int)f);
    if (w < 1 || h < 1 || w > CVM_IMAGE_MAX_SIDE || h > CVM_IMAGE_MAX_SIDE)
        return cvm_errorf(CVM_E_INVALID_ARG, "image size %dx%d out of range (1..%d per side)", w, h,
                          CVM_IMAGE_MAX_SIDE);
    cvm_image *img = calloc(1, sizeof *img);
    if (!img)
        return cvm_errorf(CVM_E_NOMEM, "out of memory for an image header");
    size_t stride = (size_t)w * (size_t)ch;
    size_t bytes = stride * (size_t)h; /* <= 4e10, no overflow on 64-bit size_t */
    img->pixels = zero ? calloc(1, bytes) : malloc(bytes);
    if (!img->pixels) {
        free(img);
        return cvm_errorf(CVM_E_NOMEM, "out of memory for a %dx%d image (%zu bytes)", w, h, bytes);
    }
    img->width = w;
    img->height = h;
    img->stride = stride;
    img->format = f;
    img->channels = ch;
    img->owns_pixels = 1;
    *out = img;
    return CVM_OK;
}

cvm_status cvm_image_create(int width, int height, cvm_pixel_format format, cvm_image **out)
{
    if (!out)
        return cvm_errorf(CVM_E_INVALID_ARG, "cvm_image_create: out is NULL");
    *out = NULL;
    return cvm_image_alloc(width, height, format, 1, out);
}

cvm_status cvm_image_wrap(int width, int height, size_t stride, cvm_pixel_format format,
                          void *pixels, cvm_image **out)
{
    if (!out)
        return cvm_errorf(CVM_E_INVALID_ARG, "cvm_image_wrap: out is NULL");
    *out = NULL;
    int ch = cvm_pixel_channels(format);
    if (ch == 0)
        return cvm_errorf(CVM_E_INVALID_ARG, "cvm_image_wrap: unknown pixel format %d", (int)format);
    if (!pixels)
        return cvm_errorf(CVM_E_INVALID_ARG, "cvm_image_wrap: pixels is NULL");
    if (width < 1 || height < 1 || width > CVM_IMAGE_MAX_SIDE || height > CVM_IMAGE_MAX_SIDE)
        return cvm_errorf(CVM_E_INVALID_ARG, "cvm_image_wrap: size %dx%d out of range (1..%d per side)",
                          width, height, CVM_IMAGE_MAX_SIDE);
    if (stride < (size_t)width * (size_t)ch)
        return cvm_errorf(CVM_E_INVALID_ARG, "cvm_image_wrap: stride %zu is below width*channels = %zu",
                          stride, (size_t)width * (size_t)ch);
    cvm_image *img = calloc(1, sizeof *img);
    if (!img)
        return cvm_errorf(CVM_E_NOMEM, "out of memory for an image header");
    img->width = width;
    img->height = height;
    img->stride = stride;
    img->format = format;
    img->channels = ch;
    img->pixels = pixels;
    img->owns_pixels = 0;
    *out = img;
    return CVM_OK;
}

void cvm_image_free(cvm_image *img)
{
    if (!img)
        return;
    if (img->owns_pixels)
        free(img->pixels);
    free(img);
}

cvm_status cvm_image_get_view(const cvm_image *img, cvm_image_view *view)
{
    if (!img || !view)
        return cvm_errorf(CVM_E_INVALID_ARG, "cvm_image_get_view: NULL argument");
    view->width = img->width;
    view->height = img->height;
    view->stride = img->stride;
    view->format = img->format;
    view->channels = img->channels;
    view->pixels = img->pixels;
    return CVM_OK;
}

/* ------------------------------------------------------------ conversion */

/* OpenCV's RGB2GRAY weights (BT.601 scaled by 2^14, summing to 16384). */
static inline uint8_t luma(unsigned r, unsigned g, unsigned b)
{
    return (uint8_t)((r * 4899u + g * 9617u + b * 1868u + 8192u) >> 14);
}

void cvm_image_convert_row(const uint8_t *s, cvm_src_layout layout, uint8_t *d, cvm_pixel_format f,
                           int w)
{
    /* Same layout in and out: a copy. */
    if ((layout == CVM_SRC_RGB && f == CVM_PIXEL_RGB8) || (layout == CVM_SRC_BGR && f == CVM_PIXEL_BGR8) ||
        (layout == CVM_SRC_GRAY && f == CVM_PIXEL_GRAY8) || (layout == CVM_SRC_RGBA && f == CVM_PIXEL_RGBA8)) {
        memcpy(d, s, (size_t)w * (size_t)cvm_pixel_channels(f));
        return;
    }
    /* One loop per (layout, format) pair: both switches stay out of the
     * per-pixel work (a 16 Mpx JPEG converted a pixel at a time through two
     * switches took seconds in the instrumented fuzzing build). */
#define CVM_STORE_LOOP(LOAD)                                                                \
    do {                                                                                    \
        unsigned r, g, b, a = 255;                                                          \
        switch (f) {                                                                        \
        case CVM_PIXEL_RGB8:                                                                \
            for (int x = 0; x < w; x++) {                                                   \
                LOAD;                                                                       \
                d[3 * x] = (uint8_t)r, d[3 * x + 1] = (uint8_t)g, d[3 * x + 2] = (uint8_t)b; \
            }                                                                               \
            break;                                                                          \
        case CVM_PIXEL_BGR8:                                                                \
            for (int x = 0; x < w; x++) {                                                   \
                LOAD;                                                                       \
                d[3 * x] = (uint8_t)b, d[3 * x + 1] = (uint8_t)g, d[3 * x + 2] = (uint8_t)r; \
            }                                                                               \
            break;                                                                          \
        case CVM_PIXEL_GRAY8:                                                               \
            /* Alpha is dropped, as cvtColor(RGBA2GRAY) does. */                            \
            for (int x = 0; x < w; x++) {                                                   \
                LOAD;                                                                       \
                d[x] = (r == g && g == b) ? (uint8_t)r : luma(r, g, b);                     \
            }                                                                               \
            break;                                                                          \
        case CVM_PIXEL_RGBA8:                                                               \
        default:                                                                            \
            for (int x = 0; x < w; x++) {                                                   \
                LOAD;                                                                       \
                d[4 * x] = (uint8_t)r, d[4 * x + 1] = (uint8_t)g, d[4 * x + 2] = (uint8_t)b; \
                d[4 * x + 3] = (uint8_t)a;                                                  \
            }                                                                               \
            break;                                                                          \
        }                                                                                   \
        (void)a;                                                                            \
    } while (0)
    switch (layout) {
    case CVM_SRC_GRAY:
        CVM_STORE_LOOP(r = g = b = s[x]);
        break;
    case CVM_SRC_GRAY_ALPHA:
        CVM_STORE_LOOP((r = g = b = s[2 * x], a = s[2 * x + 1]));
        break;
    case CVM_SRC_RGB:
        CVM_STORE_LOOP((r = s[3 * x], g = s[3 * x + 1], b = s[3 * x + 2]));
        break;
    case CVM_SRC_BGR:
        CVM_STORE_LOOP((b = s[3 * x], g = s[3 * x + 1], r = s[3 * x + 2]));
        break;
    case CVM_SRC_RGBA:
        CVM_STORE_LOOP((r = s[4 * x], g = s[4 * x + 1], b = s[4 * x + 2], a = s[4 * x + 3]));
        break;
    case CVM_SRC_BGRA:
    default:
        CVM_STORE_LOOP((b = s[4 * x], g = s[4 * x + 1], r = s[4 * x + 2], a = s[4 * x + 3]));
        break;
    }
#undef CVM_STORE_LOOP
}

/* ------------------------------------------------------------------ EXIF */

static unsigned rd16(const uint8_t *p, int le)
{
    return le ? (unsigned)(p[0] | p[1] << 8) : (unsigned)(p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p, int le)
{
    return le ? ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24)
              : ((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3]);
}

int cvm_exif_orientation(const uint8_t *app1, size_t size)
{
    if (size < 6 + 8 || memcmp(app1, "Exif\0\0", 6) != 0)
        return 1;
    const uint8_t *t = app1 + 6; /* TIFF header; offsets are relative to it */
    size_t n = size - 6;
    int le;
    if (t[0] == 'I' && t[1] == 'I')
        le = 1;
    else if (t[0] == 'M' && t[1] == 'M')
        le = 0;
    else
        return 1;
    if (rd16(t + 2, le) != 42)
        return 1;
    uint32_t ifd = rd32(t + 4, le);
    if (ifd > n || n - ifd < 2)
        return 1;
    unsigned count = rd16(t + ifd, le);
    size_t pos = (size_t)ifd + 2;
    for (unsigned i = 0; i < count; i++, pos += 12) {
        if (pos > n || n - pos < 12)
            return 1;
        const uint8_t *e = t + pos;
        if (rd16(e, le) != 0x0112)
            continue;
        unsigned type = rd16(e + 2, le);
        uint32_t cnt = rd32(e + 4, le);
        unsigned v;
        if (type == 3 && cnt >= 1) /* SHORT, stored inline */
            v = rd16(e + 8, le);
        else if (type == 4 && cnt >= 1) /* LONG: seen from some writers */
            v = rd32(e + 8, le);
        else
            return 1;
        return (v >= 1 && v <= 8) ? (int)v : 1;
    }
    return 1;
}

cvm_status cvm_image_orient(const cvm_image *src, int o, cvm_image **out)
{
    int W = src->width, H = src->height, ch = src->channels;
    int swap = o >= 5;
    cvm_image *dst = NULL;
    CVM_TRY(cvm_image_alloc(swap ? H : W, swap ? W : H, src->format, 0, &dst));
    int ow = dst->width, oh = dst->height;
    /* The source pixel of output (x, y) is an affine function of x and y:
     * find where row y starts and how far one step in x moves, so that the
     * inner loop is a strided copy (a tiny image can decode to 16 Mpx). */
    ptrdiff_t rs = (ptrdiff_t)src->stride, px = ch;
    ptrdiff_t x0 = 0, y0 = 0, dx = px, dy = rs; /* offset of (0,0); steps per x and per y */
    switch (o) {
    case 2: x0 = (ptrdiff_t)(W - 1) * px, dx = -px, dy = rs; break;
    case 3: x0 = (ptrdiff_t)(W - 1) * px, y0 = (ptrdiff_t)(H - 1) * rs, dx = -px, dy = -rs; break;
    case 4: y0 = (ptrdiff_t)(H - 1) * rs, dx = px, dy = -rs; break;
    case 5: dx = rs, dy = px; break;                                             /* transpose */
    case 6: y0 = (ptrdiff_t)(H - 1) * rs, dx = -rs, dy = px; break;             /* 90 cw */
    case 7: x0 = (ptrdiff_t)(W - 1) * px, y0 = (ptrdiff_t)(H - 1) * rs, dx = -rs, dy = -px; break;
    case 8: x0 = (ptrdiff_t)(W - 1) * px, dx = rs, dy = -px; break;             /* 90 ccw */
    default: break;
    }
    for (int y = 0; y < oh; y++) {
        uint8_t *d = dst->pixels + (size_t)y * dst->stride;
        const uint8_t *s = src->pixels + x0 + y0 + (ptrdiff_t)y * dy;
        if (ch == 3)
            for (int x = 0; x < ow; x++, d += 3, s += dx) {
                d[0] = s[0];
                d[1] = s[1];
                d[2] = s[2];
            }
        else if (ch == 1)
            for (int x = 0; x < ow; x++, s += dx)
                d[x] = s[0];
        else
            for (int x = 0; x < ow; x++, d += ch, s += dx)
                memcpy(d, s, (size_t)ch);
    }
    *out = dst;
    return CVM_OK;
}

/* --------------------------------------------------------------- reading */

static int is_jpeg(const uint8_t *d, size_t n) { return n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF; }
static int is_png(const uint8_t *d, size_t n) { return n >= 8 && memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0; }
static int is_webp(const uint8_t *d, size_t n)
{
    return n >= 12 && memcmp(d, "RIFF", 4) == 0 && memcmp(d + 8, "WEBP", 4) == 0;
}
static int is_bmp(const uint8_t *d, size_t n) { return n >= 2 && d[0] == 'B' && d[1] == 'M'; }

static cvm_status decode_named(const uint8_t *data, size_t size, const char *name,
                               const cvm_image_read_options *opts, cvm_image **out)
{
    if (!out)
        return cvm_errorf(CVM_E_INVALID_ARG, "cvm_image_decode: out is NULL");
    *out = NULL;
    if (!data && size)
        return cvm_errorf(CVM_E_INVALID_ARG, "cvm_image_decode: data is NULL");
    cvm_image_read_options o;
    cvm_image_read_options_init(&o);
    if (opts) {
        o = *opts;
        if (o.max_pixels <= 0)
            o.max_pixels = DEFAULT_MAX_PIXELS;
    }
    if (cvm_pixel_channels(o.format) == 0)
        return cvm_errorf(CVM_E_INVALID_ARG, "%s: unknown pixel format %d requested", name, (int)o.format);
    if (is_jpeg(data, size))
        return cvm_decode_jpeg(data, size, name, &o, out);
    if (is_png(data, size))
        return cvm_decode_png(data, size, name, &o, out);
    if (is_webp(data, size))
        return cvm_decode_webp(data, size, name, &o, out);
    if (is_bmp(data, size))
        return cvm_decode_bmp(data, size, name, &o, out);
    if (size == 0)
        return cvm_errorf(CVM_E_PARSE, "%s: empty file, not an image", name);
    return cvm_errorf(CVM_E_UNSUPPORTED,
                      "%s: unrecognised image format (first bytes %02x %02x; JPEG, PNG, WebP and BMP are read)",
                      name, data[0], size > 1 ? data[1] : 0);
}

cvm_status cvm_image_decode(const void *data, size_t size, const cvm_image_read_options *opts,
                            cvm_image **out)
{
    return decode_named(data, size, "<memory>", opts, out);
}

cvm_status cvm_image_read(const char *path, const cvm_image_read_options *opts, cvm_image **out)
{
    if (!out)
        return cvm_errorf(CVM_E_INVALID_ARG, "cvm_image_read: out is NULL");
    *out = NULL;
    if (!path)
        return cvm_errorf(CVM_E_INVALID_ARG, "cvm_image_read: path is NULL");
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        return cvm_errorf(e == ENOENT ? CVM_E_NOT_FOUND : CVM_E_IO, "%s: cannot open: %s", path, strerror(e));
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return cvm_errorf(CVM_E_IO, "%s: not a regular file", path);
    }
    if ((int64_t)st.st_size > MAX_FILE_BYTES) {
        fclose(f);
        return cvm_errorf(CVM_E_LIMIT, "%s: file of %lld bytes is too large for an image", path,
                          (long long)st.st_size);
    }
    size_t n = (size_t)st.st_size;
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) {
        fclose(f);
        return cvm_errorf(CVM_E_NOMEM, "%s: out of memory reading %zu bytes", path, n);
    }
    size_t got = fread(buf, 1, n, f);
    int err = ferror(f);
    fclose(f);
    if (got != n || err) {
        free(buf);
        return cvm_errorf(CVM_E_IO, "%s: read error", path);
    }
    cvm_status s = decode_named(buf, n, path, opts, out);
    free(buf);
    return s;
}

/* --------------------------------------------------------------- writing */

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    if (a < b)
        return 0;
    for (size_t i = 0; i < b; i++) {
        char c = s[a - b + i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != suffix[i])
            return 0;
    }
    return 1;
}

static cvm_status write_atomic(const char *path, const uint8_t *buf, size_t n)
{
    size_t len = strlen(path);
    char *tmp = malloc(len + 16);
    if (!tmp)
        return cvm_errorf(CVM_E_NOMEM, "%s: out of memory", path);
    /* Same folder as the target, so that rename() cannot cross file systems. */
    memcpy(tmp, path, len);
    memcpy(tmp + len, ".tmp.XXXXXX", 12);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return cvm_errorf(CVM_E_IO, "%s: cannot create a temporary file next to it: %s", path, strerror(e));
    }
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(fd, buf + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            free(tmp);
            return cvm_errorf(CVM_E_IO, "%s: write failed: %s", path, strerror(e));
        }
        off += (size_t)w;
    }
    /* mkstemp creates 0600; give the file the usual permissions. */
    mode_t mask = umask(0);
    umask(mask);
    if (fchmod(fd, 0666 & ~mask) != 0 || close(fd) != 0) {
        int e = errno;
        unlink(tmp);
        free(tmp);
        return cvm_errorf(CVM_E_IO, "%s: cannot finish the temporary file: %s", path, strerror(e));
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        free(tmp);
        return cvm_errorf(CVM_E_IO, "%s: cannot rename the temporary file into place: %s", path, strerror(e));
    }
    free(tmp);
    return CVM_OK;
}

cvm_status cvm_image_write(const cvm_image *img, const char *path, int quality)
{
    if (!img || !path)
        return cvm_errorf(CVM_E_INVALID_ARG, "cvm_image_write: NULL argument");
    if (quality == 0)
        quality = 90;
    if (quality < 1 || quality > 100)
        return cvm_errorf(CVM_E_INVALID_ARG, "%s: JPEG quality %d out of range 1..100", path, quality);
    uint8_t *buf = NULL;
    size_t n = 0;
    cvm_status s;
    if (ends_with(path, ".jpg") || ends_with(path, ".jpeg"))
        s = cvm_encode_jpeg(img, quality, &buf, &n);
    else if (ends_with(path, ".png"))
        s = cvm_encode_png(img, &buf, &n);
    else
        return cvm_errorf(CVM_E_UNSUPPORTED, "%s: cannot tell the format from the extension (.jpg, .jpeg, .png)",
                          path);
    if (s != CVM_OK) {
        free(buf);
        return cvm_error_wrap(s, "%s", path);
    }
    s = write_atomic(path, buf, n);
    free(buf);
    return s;
}
