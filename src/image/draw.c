/* Shapes for annotated pictures.  Coordinates may lie anywhere (negative,
 * far outside); every primitive clips to the image in 64-bit or double
 * arithmetic first, so the work is bounded by the visible area. */
#include <math.h>
#include <stdint.h>

#include "image/draw_internal.h"

int cvm_view_ok(const cvm_image_view *img)
{
    if (!img || !img->pixels || img->width < 1 || img->height < 1)
        return 0;
    int ch = img->format == CVM_PIXEL_GRAY8 ? 1 : img->format == CVM_PIXEL_RGBA8 ? 4 : 3;
    if (img->format != CVM_PIXEL_RGB8 && img->format != CVM_PIXEL_BGR8 && img->format != CVM_PIXEL_GRAY8 &&
        img->format != CVM_PIXEL_RGBA8)
        return 0;
    return img->channels == ch && img->stride >= (size_t)img->width * (size_t)ch;
}

cvm_ink cvm_ink_for(const cvm_image_view *img, cvm_rgba c)
{
    cvm_ink k = {{c.r, c.g, c.b, 255}, c.a};
    if (img->format == CVM_PIXEL_BGR8) {
        k.v[0] = c.b;
        k.v[2] = c.r;
    } else if (img->format == CVM_PIXEL_GRAY8) {
        k.v[0] = (uint8_t)((c.r * 4899u + c.g * 9617u + c.b * 1868u + 8192u) >> 14);
    }
    return k;
}

/* Rounded x / 255 for x in [0, 255*255]. */
static inline unsigned div255(unsigned x)
{
    x += 128;
    return (x + (x >> 8)) >> 8;
}

void cvm_blend_pixel(cvm_image_view *img, int x, int y, const cvm_ink *ink, int coverage)
{
    unsigned a = div255((unsigned)ink->a * (unsigned)coverage);
    if (a == 0)
        return;
    uint8_t *p = img->pixels + (size_t)y * img->stride + (size_t)x * (size_t)img->channels;
    int colour = img->channels == 4 ? 3 : img->channels;
    if (a == 255) {
        for (int c = 0; c < colour; c++)
            p[c] = ink->v[c];
        if (img->channels == 4)
            p[3] = 255;
        return;
    }
    for (int c = 0; c < colour; c++)
        p[c] = (uint8_t)div255(ink->v[c] * a + p[c] * (255 - a));
    if (img->channels == 4)
        p[3] = (uint8_t)(a + div255(p[3] * (255 - a))); /* "over" compositing */
}

/* Clips [a, b] (inclusive, any order) to [0, n-1]; 0 when nothing is left. */
static int clip_span(int64_t a, int64_t b, int n, int *lo, int *hi)
{
    if (a > b) {
        int64_t t = a;
        a = b;
        b = t;
    }
    if (b < 0 || a > n - 1)
        return 0;
    *lo = (int)(a < 0 ? 0 : a);
    *hi = (int)(b > n - 1 ? n - 1 : b);
    return 1;
}

static void fill_box(cvm_image_view *img, int64_t x1, int64_t y1, int64_t x2, int64_t y2, const cvm_ink *ink)
{
    int xa, xb, ya, yb;
    if (!clip_span(x1, x2, img->width, &xa, &xb) || !clip_span(y1, y2, img->height, &ya, &yb))
        return;
    for (int y = ya; y <= yb; y++)
        for (int x = xa; x <= xb; x++)
            cvm_blend_pixel(img, x, y, ink, 255);
}

void cvm_draw_fill_rect(cvm_image_view *img, int x1, int y1, int x2, int y2, cvm_rgba c)
{
    if (!cvm_view_ok(img))
        return;
    cvm_ink ink = cvm_ink_for(img, c);
    fill_box(img, x1, y1, x2, y2, &ink);
}

void cvm_draw_rect(cvm_image_view *img, int x1, int y1, int x2, int y2, int thickness, cvm_rgba c)
{
    if (!cvm_view_ok(img))
        return;
    int64_t l = x1 < x2 ? x1 : x2, r = x1 < x2 ? x2 : x1;
    int64_t t = y1 < y2 ? y1 : y2, b = y1 < y2 ? y2 : y1;
    int64_t th = thickness < 1 ? 1 : thickness;
    cvm_ink ink = cvm_ink_for(img, c);
    /* The outline grows inwards so that the box stays where it was asked;
     * the four bands do not overlap, so translucent outlines stay even. */
    if (2 * th >= b - t + 1 || 2 * th >= r - l + 1) {
        fill_box(img, l, t, r, b, &ink);
        return;
    }
    fill_box(img, l, t, r, t + th - 1, &ink);
    fill_box(img, l, b - th + 1, r, b, &ink);
    fill_box(img, l, t + th, l + th - 1, b - th, &ink);
    fill_box(img, r - th + 1, t + th, r, b - th, &ink);
}

static int coverage_of(double edge)
{
    /* edge: how far the pixel centre lies inside the shape boundary plus one
     * half pixel; a one-pixel ramp gives antialiased edges. */
    if (edge <= 0.0)
        return 0;
    if (edge >= 1.0)
        return 255;
    return (int)(edge * 255.0 + 0.5);
}

void cvm_draw_line(cvm_image_view *img, int x1, int y1, int x2, int y2, int thickness, cvm_rgba c)
{
    if (!cvm_view_ok(img))
        return;
    if (thickness < 1)
        thickness = 1;
    cvm_ink ink = cvm_ink_for(img, c);
    double ax = x1, ay = y1, bx = x2, by = y2;
    double rad = thickness / 2.0;
    double dx = bx - ax, dy = by - ay;
    double len2 = dx * dx + dy * dy;
    double pad = rad + 1.0;
    int ya, yb;
    if (!clip_span((int64_t)floor((ay < by ? ay : by) - pad), (int64_t)ceil((ay > by ? ay : by) + pad),
                   img->height, &ya, &yb))
        return;
    double minx = (ax < bx ? ax : bx) - pad, maxx = (ax > bx ? ax : bx) + pad;
    for (int y = ya; y <= yb; y++) {
        double lo = minx, hi = maxx;
        if (fabs(dy) > 1e-9) {
            /* Columns the capsule can reach on this row. */
            double cx = ax + (y - ay) * dx / dy;
            double half = pad * sqrt(len2) / fabs(dy);
            if (cx - half > lo)
                lo = cx - half;
            if (cx + half < hi)
                hi = cx + half;
        }
        int xa, xb;
        if (lo > hi || !clip_span((int64_t)floor(lo), (int64_t)ceil(hi), img->width, &xa, &xb))
            continue;
        for (int x = xa; x <= xb; x++) {
            double px = x - ax, py = y - ay;
            double t = len2 > 0 ? (px * dx + py * dy) / len2 : 0.0;
            if (t < 0)
                t = 0;
            else if (t > 1)
                t = 1;
            double ex = px - t * dx, ey = py - t * dy;
            int cov = coverage_of(rad + 0.5 - sqrt(ex * ex + ey * ey));
            if (cov)
                cvm_blend_pixel(img, x, y, &ink, cov);
        }
    }
}

void cvm_draw_circle(cvm_image_view *img, int cx, int cy, int radius, cvm_rgba c)
{
    if (!cvm_view_ok(img) || radius < 0)
        return;
    cvm_ink ink = cvm_ink_for(img, c);
    int64_t r = (int64_t)radius + 1;
    int xa, xb, ya, yb;
    if (!clip_span((int64_t)cx - r, (int64_t)cx + r, img->width, &xa, &xb) ||
        !clip_span((int64_t)cy - r, (int64_t)cy + r, img->height, &ya, &yb))
        return;
    for (int y = ya; y <= yb; y++)
        for (int x = xa; x <= xb; x++) {
            double ex = (double)x - cx, ey = (double)y - cy;
            int cov = coverage_of(radius + 0.5 - sqrt(ex * ex + ey * ey));
            if (cov)
                cvm_blend_pixel(img, x, y, &ink, cov);
        }
}

void cvm_draw_mask(cvm_image_view *img, const uint8_t *mask, int x, int y, int mask_w, int mask_h, cvm_rgba c)
{
    if (!cvm_view_ok(img) || !mask || mask_w < 1 || mask_h < 1)
        return;
    cvm_ink ink = cvm_ink_for(img, c);
    int xa, xb, ya, yb;
    if (!clip_span(x, (int64_t)x + mask_w - 1, img->width, &xa, &xb) ||
        !clip_span(y, (int64_t)y + mask_h - 1, img->height, &ya, &yb))
        return;
    for (int py = ya; py <= yb; py++) {
        const uint8_t *m = mask + (size_t)((int64_t)py - y) * (size_t)mask_w;
        for (int px = xa; px <= xb; px++)
            if (m[(int64_t)px - x])
                cvm_blend_pixel(img, px, py, &ink, 255);
    }
}
