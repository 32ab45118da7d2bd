#include "vision/preprocess.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/status.h"
#include "base/tensor.h"
#include "image/resize.h"
#include "vision/clahe.h"

#define MAX_SIDE 16384

void cvm_static_crop_rect(const cvm_preproc_config *c, int w, int h, int *x0, int *y0, int *cw, int *ch)
{
    if (!c->crop_enabled) {
        *x0 = *y0 = 0;
        *cw = w;
        *ch = h;
        return;
    }
    /* int(x_min / 100 * W): truncation of the same double expression. */
    int a = (int)((double)c->crop_x_min / 100.0 * w);
    int b = (int)((double)c->crop_y_min / 100.0 * h);
    int e = (int)((double)c->crop_x_max / 100.0 * w);
    int f = (int)((double)c->crop_y_max / 100.0 * h);
    *x0 = a;
    *y0 = b;
    *cw = e - a;
    *ch = f - b;
}

void cvm_letterbox_geometry(int w, int h, int W, int H, int *nw, int *nh, int *pad_left, int *pad_top,
                            int *pad_right, int *pad_bottom, double *scale)
{
    double sw = (double)W / w, sh = (double)H / h;
    double s = sw < sh ? sw : sh;
    *nw = (int)(w * s);
    *nh = (int)(h * s);
    if (*nw < 1)
        *nw = 1;
    if (*nh < 1)
        *nh = 1;
    *pad_top = (H - *nh) / 2;
    *pad_left = (W - *nw) / 2;
    *pad_right = W - *pad_left - *nw;
    *pad_bottom = H - *pad_top - *nh;
    *scale = s;
}

/* ----------------------------------------------------- RGB working copy */

/* Crops (a rectangle inside the image, checked by the caller) and
 * converts the input to packed RGB8. */
static cvm_status crop_to_rgb(const cvm_image_view *v, int x0, int y0, int cw, int ch, uint8_t **out)
{
    uint8_t *buf = malloc((size_t)cw * ch * 3);
    if (!buf)
        return cvm_errorf(CVM_E_NOMEM, "pre-processing %dx%d: out of memory", cw, ch);
    const int cn = v->channels;
    for (int y = 0; y < ch; y++) {
        const uint8_t *s = v->pixels + (size_t)(y + y0) * v->stride + (size_t)x0 * cn;
        uint8_t *d = buf + (size_t)y * cw * 3;
        /* one loop per format, so that each is a plain byte shuffle */
        if (v->format == CVM_PIXEL_RGB8) {
            memcpy(d, s, (size_t)cw * 3);
        } else if (v->format == CVM_PIXEL_BGR8) {
            for (int x = 0; x < cw; x++, d += 3, s += 3) {
                d[0] = s[2];
                d[1] = s[1];
                d[2] = s[0];
            }
        } else if (v->format == CVM_PIXEL_GRAY8) {
            for (int x = 0; x < cw; x++, d += 3, s++)
                d[0] = d[1] = d[2] = s[0];
        } else {
            for (int x = 0; x < cw; x++, d += 3, s += cn) {
                d[0] = s[0];
                d[1] = s[1];
                d[2] = s[2];
            }
        }
    }
    *out = buf;
    return CVM_OK;
}

static void to_gray(uint8_t *rgb, size_t n)
{
    /* OpenCV's fixed-point RGB->gray: 14-bit weights, rounded. */
    for (size_t i = 0; i < n; i++, rgb += 3) {
        unsigned y = (rgb[0] * 4899u + rgb[1] * 9617u + rgb[2] * 1868u + (1u << 13)) >> 14;
        rgb[0] = rgb[1] = rgb[2] = (uint8_t)(y > 255 ? 255 : y);
    }
}

/* numpy.percentile with linear interpolation over a 256-bin histogram. */
static double percentile(const size_t *hist, size_t n, double q)
{
    double pos = q / 100.0 * (double)(n - 1);
    size_t lo = (size_t)floor(pos);
    double frac = pos - (double)lo;
    size_t hi = lo + 1 < n ? lo + 1 : lo;
    double vlo = 0, vhi = 0;
    size_t acc = 0;
    int got_lo = 0;
    for (int v = 0; v < 256; v++) {
        acc += hist[v];
        if (!got_lo && acc > lo) {
            vlo = v;
            got_lo = 1;
        }
        if (acc > hi) {
            vhi = v;
            break;
        }
    }
    return vlo + (vhi - vlo) * frac;
}

static cvm_status apply_contrast(cvm_contrast_mode mode, uint8_t *rgb, int w, int h)
{
    if (mode == CVM_CONTRAST_NONE)
        return CVM_OK;
    if (mode == CVM_CONTRAST_ADAPTIVE) {
        /* The reference equalises the BGR array it decoded; its HSV round
         * trip sees our RGB bytes in reverse. */
        static const int bgr_order[3] = {2, 1, 0};
        return cvm_clahe_u8(rgb, w, h, bgr_order, 0.03);
    }
    size_t npix = (size_t)w * (size_t)h;
    size_t n = npix * 3, hist[256] = {0};
    for (size_t i = 0; i < n; i++)
        hist[rgb[i]]++;
    uint8_t lut[256];
    if (mode == CVM_CONTRAST_STRETCHING) {
        /* skimage rescale_intensity(img, in_range=(p2, p98)) on uint8. */
        double lo = percentile(hist, n, 2), hi = percentile(hist, n, 98);
        for (int v = 0; v < 256; v++) {
            double x = v < lo ? lo : (v > hi ? hi : v);
            double o = hi > lo ? (x - lo) / (hi - lo) * 255.0 : x;
            lut[v] = (uint8_t)(o < 0 ? 0 : (o > 255 ? 255 : o));
        }
    } else {
        /* skimage equalize_hist(img / 255) * 255 -> uint8: 256 bins over the
         * image's own range, CDF interpolated at the bin centres. */
        int vmin = 0, vmax = 255;
        while (vmin < 255 && !hist[vmin])
            vmin++;
        while (vmax > 0 && !hist[vmax])
            vmax--;
        double fmin = vmin / 255.0, fmax = vmax / 255.0;
        double width = (fmax - fmin) / 256.0;
        double bins[256] = {0}, centers[256], cdf[256];
        for (int v = vmin; v <= vmax; v++) {
            double f = v / 255.0;
            int b = width > 0 ? (int)((f - fmin) / width) : 0;
            if (b > 255)
                b = 255;
            bins[b] += (double)hist[v];
        }
        double acc = 0;
        for (int b = 0; b < 256; b++) {
            acc += bins[b];
            cdf[b] = acc;
            centers[b] = fmin + width * (b + 0.5);
        }
        for (int b = 0; b < 256; b++)
            cdf[b] /= acc;
        for (int v = 0; v < 256; v++) {
            double f = v / 255.0, o;
            if (f <= centers[0])
                o = cdf[0];
            else if (f >= centers[255])
                o = cdf[255];
            else {
                int b = 0;
                while (b < 254 && centers[b + 1] < f)
                    b++;
                double t = (f - centers[b]) / (centers[b + 1] - centers[b]);
                o = cdf[b] + t * (cdf[b + 1] - cdf[b]);
            }
            double y = o * 255.0;
            lut[v] = (uint8_t)(y < 0 ? 0 : (y > 255 ? 255 : y));
        }
    }
    for (size_t i = 0; i < n; i++)
        rgb[i] = lut[rgb[i]];
    return CVM_OK;
}

/* The static crop of the input as 3-channel pixels: the caller's own
 * pixels where nothing has to change them (RGB8 or BGR8, no grayscale and
 * no contrast step; `bgr` then says which order), else a converted copy in
 * `owned` (RGB8).  Resizing and the float conversion read either through
 * the stride, so the common case copies nothing. */
typedef struct work_img {
    const uint8_t *px;
    size_t stride;
    int w, h;
    int bgr;        /* bytes in B, G, R order */
    uint8_t *owned; /* to free, or NULL */
} work_img;

static cvm_status prepare_rgb(const cvm_preproc_config *c, const cvm_image_view *img, work_img *wi,
                              cvm_preproc_meta *m)
{
    memset(wi, 0, sizeof *wi);
    if (!img || !img->pixels || img->width <= 0 || img->height <= 0)
        return cvm_errorf(CVM_E_INVALID_ARG, "pre-processing: empty image");
    if (img->channels != (img->format == CVM_PIXEL_GRAY8 ? 1 : img->format == CVM_PIXEL_RGBA8 ? 4 : 3))
        return cvm_errorf(CVM_E_INVALID_ARG, "pre-processing: %d channels do not fit pixel format %d",
                          img->channels, (int)img->format);
    if (img->stride < (size_t)img->width * (size_t)img->channels)
        return cvm_errorf(CVM_E_INVALID_ARG, "pre-processing: row stride %zu below %d pixels of %d bytes",
                          img->stride, img->width, img->channels);
    memset(m, 0, sizeof *m);
    m->orig_w = img->width;
    m->orig_h = img->height;
    int x0, y0, cw, ch;
    cvm_static_crop_rect(c, img->width, img->height, &x0, &y0, &cw, &ch);
    if (cw <= 0 || ch <= 0 || x0 < 0 || y0 < 0 || x0 + cw > img->width || y0 + ch > img->height)
        return cvm_errorf(CVM_E_INVALID_ARG, "static crop (%d,%d %dx%d) is empty or outside the %dx%d image", x0,
                          y0, cw, ch, img->width, img->height);
    m->crop_x = x0;
    m->crop_y = y0;
    m->after_w = cw;
    m->after_h = ch;
    wi->w = cw;
    wi->h = ch;
    if ((img->format == CVM_PIXEL_RGB8 || img->format == CVM_PIXEL_BGR8) && !c->grayscale &&
        c->contrast == CVM_CONTRAST_NONE) {
        wi->px = img->pixels + (size_t)y0 * img->stride + (size_t)x0 * 3;
        wi->stride = img->stride;
        wi->bgr = img->format == CVM_PIXEL_BGR8;
        return CVM_OK;
    }
    uint8_t *rgb = NULL;
    CVM_TRY(crop_to_rgb(img, x0, y0, cw, ch, &rgb));
    if (c->grayscale)
        to_gray(rgb, (size_t)cw * ch);
    cvm_status s = apply_contrast(c->contrast, rgb, cw, ch);
    if (s != CVM_OK) {
        free(rgb);
        return s;
    }
    wi->px = wi->owned = rgb;
    wi->stride = (size_t)cw * 3;
    return CVM_OK;
}

static cvm_status resize_rgb(const uint8_t *src, size_t sstride, int sw, int sh, uint8_t *dst, size_t dstride,
                             int dw, int dh, int pil, cvm_threadpool *pool)
{
    cvm_image_view a = {sw, sh, sstride, CVM_PIXEL_RGB8, 3, (uint8_t *)src};
    cvm_image_view b = {dw, dh, dstride, CVM_PIXEL_RGB8, 3, dst};
    /* both copy row by row when the sizes are equal */
    return pil ? cvm_resize_bilinear_pil(&a, &b) : cvm_resize_bilinear_cv_pool(&a, &b, pool);
}

/* Fills the canvas rows [y0, y1) columns [x0, x1) with one byte value. */
static void fill_rect(uint8_t *cv, int W, int x0, int x1, int y0, int y1, uint8_t v)
{
    if (x1 <= x0)
        return;
    for (int y = y0; y < y1; y++)
        memset(cv + ((size_t)y * W + x0) * 3, v, (size_t)(x1 - x0) * 3);
}

/* §5.1 step 6 on the working image: returns the uint8 canvas of the
 * network input size (the float canvas of the reference only ever holds
 * integers 0..255 at this point), in the working image's byte order. */
static cvm_status geometry(const cvm_preproc_config *c, cvm_resize_mode mode, int W, int H, const work_img *wi,
                           cvm_tensor **canvas, int *outw, int *outh, cvm_preproc_meta *m, cvm_threadpool *pool)
{
    const int cw = wi->w, ch = wi->h;
    uint8_t *cv = NULL;
    cvm_status s = CVM_OK;
    if (mode == CVM_RESIZE_FIT_LONGER_EDGE) {
        double sw = (double)W / cw, sh = (double)H / ch;
        if (sw < sh) {
            H = (int)nearbyint(sw * ch);
        } else {
            W = (int)nearbyint(sh * cw);
        }
        if (W < 1)
            W = 1;
        if (H < 1)
            H = 1;
    }
    if ((size_t)W * H > (size_t)MAX_SIDE * MAX_SIDE)
        return cvm_errorf(CVM_E_LIMIT, "network input %dx%d is too large", W, H);
    /* a tensor, so that a frame loop gets the previous canvas's memory back
     * (base/bufcache.h) instead of faulting in fresh pages every frame */
    cvm_tensor *ct = NULL;
    int64_t cdims[3] = {H, W, 3};
    CVM_TRY(cvm_tensor_create_uninit(CVM_DTYPE_UINT8, 3, cdims, &ct));
    cv = ct->data;
    m->infer_w = W;
    m->infer_h = H;
    const size_t cs = (size_t)W * 3;
    switch (mode) {
    case CVM_RESIZE_STRETCH:
    case CVM_RESIZE_FIT_LONGER_EDGE:
        s = resize_rgb(wi->px, wi->stride, cw, ch, cv, cs, W, H, 0, pool);
        m->scale_w = (double)W / cw;
        m->scale_h = (double)H / ch;
        break;
    case CVM_RESIZE_LETTERBOX:
    case CVM_RESIZE_LETTERBOX_REFLECT_EDGES: {
        int nw, nh;
        double sc;
        cvm_letterbox_geometry(cw, ch, W, H, &nw, &nh, &m->pad_left, &m->pad_top, &m->pad_right, &m->pad_bottom,
                               &sc);
        m->scale_w = m->scale_h = sc;
        /* the padding only; the resize writes the rest in place */
        uint8_t pv = (uint8_t)c->padding_value;
        fill_rect(cv, W, 0, W, 0, m->pad_top, pv);
        fill_rect(cv, W, 0, W, m->pad_top + nh, H, pv);
        fill_rect(cv, W, 0, m->pad_left, m->pad_top, m->pad_top + nh, pv);
        fill_rect(cv, W, m->pad_left + nw, W, m->pad_top, m->pad_top + nh, pv);
        s = resize_rgb(wi->px, wi->stride, cw, ch, cv + ((size_t)m->pad_top * W + m->pad_left) * 3, cs, nw, nh,
                       0, pool);
        break;
    }
    case CVM_RESIZE_CENTER_CROP: {
        /* No resizing: pad with zeros where smaller, cut where larger. */
        memset(cv, 0, (size_t)W * H * 3);
        int offx, offy;
        if (cw <= W) {
            m->pad_left = (W - cw) / 2;
            m->pad_right = W - cw - m->pad_left;
            offx = 0;
        } else {
            offx = (cw - W) / 2;
            m->pad_left = -offx;
            m->pad_right = -(cw - W - offx);
        }
        if (ch <= H) {
            m->pad_top = (H - ch) / 2;
            m->pad_bottom = H - ch - m->pad_top;
            offy = 0;
        } else {
            offy = (ch - H) / 2;
            m->pad_top = -offy;
            m->pad_bottom = -(ch - H - offy);
        }
        int dx = m->pad_left > 0 ? m->pad_left : 0, dy = m->pad_top > 0 ? m->pad_top : 0;
        int w = cw - offx < W - dx ? cw - offx : W - dx;
        int h = ch - offy < H - dy ? ch - offy : H - dy;
        for (int y = 0; y < h; y++)
            memcpy(cv + ((size_t)(y + dy) * W + dx) * 3, wi->px + (size_t)(y + offy) * wi->stride + (size_t)offx * 3,
                   (size_t)w * 3);
        m->scale_w = m->scale_h = 1.0;
        break;
    }
    }
    if (s != CVM_OK) {
        cvm_tensor_free(ct);
        return s;
    }
    *canvas = ct;
    *outw = W;
    *outh = H;
    return CVM_OK;
}

/* HWC 8-bit canvas -> NCHW float32 in the model's colour order, scaled and
 * normalised.  rfdetr: /255 first, then mean/std, else 255/scaling.  The
 * canvas holds bytes, so each channel's formula is evaluated once per
 * byte value into a table (the same float operations as per pixel, so
 * the same results) and the planes are filled by lookup in one pass. */
typedef struct conv_job {
    const uint8_t *cv;
    float *t;
    size_t plane, parts;
    int src[3];
    const float (*lut)[256];
} conv_job;

/* Pixels of parts [b, e) of the canvas through the tables into the planes. */
static void conv_range(void *arg, size_t b, size_t e)
{
    const conv_job *j = arg;
    const size_t plane = j->plane;
    size_t i0 = plane * b / j->parts, i1 = plane * e / j->parts;
    float *d0 = j->t, *d1 = j->t + plane, *d2 = j->t + 2 * plane;
    const float *l0 = j->lut[0], *l1 = j->lut[1], *l2 = j->lut[2];
    const uint8_t *cv = j->cv + i0 * 3;
    const int s0 = j->src[0], s1 = j->src[1], s2 = j->src[2];
    for (size_t i = i0; i < i1; i++, cv += 3) {
        d0[i] = l0[cv[s0]];
        d1[i] = l1[cv[s1]];
        d2[i] = l2[cv[s2]];
    }
}

static cvm_status to_tensor(const cvm_preproc_config *c, const uint8_t *cv, int W, int H, int canvas_bgr,
                            int rfdetr, cvm_tensor **out, cvm_threadpool *pool)
{
    int64_t dims[4] = {1, 3, H, W};
    CVM_TRY(cvm_tensor_create_uninit(CVM_DTYPE_FLOAT32, 4, dims, out)); /* every element is written */
    float *t = (*out)->data;
    size_t plane = (size_t)W * H;
    float lut[3][256];
    int src_of[3];
    for (int ch = 0; ch < 3; ch++) {
        int rgb_index = c->bgr ? 2 - ch : ch;               /* which of R, G, B the model wants here */
        src_of[ch] = canvas_bgr ? 2 - rgb_index : rgb_index; /* where that byte is in the canvas */
        float mul = 1.0f, mean = 0.0f, std = 1.0f;
        int divide = 0;
        double div = 1.0;
        if (rfdetr) {
            divide = 1;
            div = 255.0;
            if (c->has_norm) {
                mean = c->mean[ch];
                std = c->std[ch];
            } else if (c->scaling_factor > 0 && c->scaling_factor != 255) {
                mul = (float)(255.0 / c->scaling_factor);
            }
        } else {
            if (c->scaling_factor > 0) {
                divide = 1;
                div = c->scaling_factor;
            }
            if (c->has_norm) {
                mean = c->mean[ch];
                std = c->std[ch];
            }
        }
        const float fdiv = (float)div;
        for (int u = 0; u < 256; u++) {
            float v = (float)u;
            if (divide)
                v = v / fdiv;
            v = (v - mean) / std;
            if (mul != 1.0f)
                v *= mul;
            lut[ch][u] = v;
        }
    }
    /* parts of at least 4096 pixels, one per thread */
    size_t parts = pool ? (size_t)cvm_threadpool_size(pool) : 1;
    if (parts > plane / 4096)
        parts = plane / 4096 ? plane / 4096 : 1;
    conv_job j = {cv, t, plane, parts, {src_of[0], src_of[1], src_of[2]}, lut};
    cvm_parallel_for(parts > 1 ? pool : NULL, parts, 1, conv_range, &j);
    return CVM_OK;
}

cvm_status cvm_preprocess(const cvm_preproc_config *c, const cvm_image_view *img, cvm_tensor **out,
                          cvm_preproc_meta *meta, cvm_threadpool *pool)
{
    *out = NULL;
    if (c->input_channels != 3)
        return cvm_errorf(CVM_E_UNSUPPORTED, "models with %d input channels are not supported (3 expected)",
                          c->input_channels);
    work_img wi;
    cvm_tensor *cv = NULL;
    int W, H;
    CVM_TRY(prepare_rgb(c, img, &wi, meta));
    cvm_status s = geometry(c, c->resize, c->width, c->height, &wi, &cv, &W, &H, meta, pool);
    free(wi.owned);
    if (s != CVM_OK)
        return s;
    s = to_tensor(c, cv->data, W, H, wi.bgr, 0, out, pool);
    cvm_tensor_free(cv);
    return s;
}

cvm_status cvm_preprocess_rfdetr(const cvm_preproc_config *c, const cvm_image_view *img, cvm_tensor **out,
                                 cvm_preproc_meta *meta, cvm_threadpool *pool)
{
    *out = NULL;
    if (c->input_channels != 3)
        return cvm_errorf(CVM_E_UNSUPPORTED, "models with %d input channels are not supported (3 expected)",
                          c->input_channels);
    work_img wi;
    CVM_TRY(prepare_rgb(c, img, &wi, meta));
    /* src: what the PIL step reads, the working image or the cv2 step's canvas */
    const uint8_t *src = wi.px;
    size_t sstride = wi.stride;
    cvm_tensor *mid = NULL;
    int sw = wi.w, sh = wi.h;
    cvm_status s = CVM_OK;
    if (c->dvr_width > 0 && c->resize != CVM_RESIZE_STRETCH) {
        /* Two steps: the shared cv2 handler into the dataset's non-square
         * size, then PIL to the square network input. */
        cvm_resize_mode mode = c->resize == CVM_RESIZE_CENTER_CROP ? CVM_RESIZE_CENTER_CROP : CVM_RESIZE_LETTERBOX;
        s = geometry(c, mode, c->dvr_width, c->dvr_height, &wi, &mid, &sw, &sh, meta, pool);
        if (s != CVM_OK) {
            free(wi.owned);
            return s;
        }
        src = mid->data;
        sstride = (size_t)sw * 3;
        meta->nonsquare_w = sw;
        meta->nonsquare_h = sh;
    } else {
        meta->scale_w = (double)c->width / wi.w;
        meta->scale_h = (double)c->height / wi.h;
    }
    meta->infer_w = c->width;
    meta->infer_h = c->height;
    cvm_tensor *cv = NULL;
    int64_t cdims[3] = {c->height, c->width, 3};
    s = cvm_tensor_create_uninit(CVM_DTYPE_UINT8, 3, cdims, &cv);
    if (s == CVM_OK)
        s = resize_rgb(src, sstride, sw, sh, cv->data, (size_t)c->width * 3, c->width, c->height, 1, pool);
    cvm_tensor_free(mid);
    free(wi.owned);
    if (s == CVM_OK)
        s = to_tensor(c, cv->data, c->width, c->height, wi.bgr, 1, out, pool);
    cvm_tensor_free(cv);
    return s;
}
