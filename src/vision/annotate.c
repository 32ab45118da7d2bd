/* Annotated pictures: boxes, labels, translucent masks, keypoint skeletons. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/status.h"
#include "image/draw.h"
#include "vision/postprocess.h"
#include "vision/result.h"

/* One colour per class id: hues spaced by the golden ratio so that
 * neighbouring ids (person, bicycle, car...) look clearly different. */
static cvm_rgba colour(int class_id, uint8_t alpha)
{
    double h = fmod((class_id < 0 ? -class_id : class_id) * 0.618033988749895 + 0.08, 1.0) * 6.0;
    double s = 0.75, v = 0.95, f = h - floor(h);
    double p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f)), r, g, b;
    switch ((int)h % 6) {
    case 0: r = v; g = t; b = p; break;
    case 1: r = q; g = v; b = p; break;
    case 2: r = p; g = v; b = t; break;
    case 3: r = p; g = q; b = v; break;
    case 4: r = t; g = p; b = v; break;
    default: r = v; g = p; b = q; break;
    }
    cvm_rgba c = {(uint8_t)lrint(r * 255), (uint8_t)lrint(g * 255), (uint8_t)lrint(b * 255), alpha};
    return c;
}

/* Black or white text, whichever reads better on the label colour. */
static cvm_rgba text_on(cvm_rgba bg)
{
    int luma = (299 * bg.r + 587 * bg.g + 114 * bg.b) / 1000;
    return luma > 150 ? (cvm_rgba){0, 0, 0, 255} : (cvm_rgba){255, 255, 255, 255};
}

cvm_status cvm_annotate_options_init(cvm_annotate_options *o)
{
    if (!o)
        return cvm_errorf(CVM_E_INVALID_ARG, "cvm_annotate_options_init: NULL");
    memset(o, 0, sizeof *o);
    o->mask_alpha = 0.45f;
    o->draw_labels = 1;
    return CVM_OK;
}

static int iround(float v) { return (int)lrintf(v); }

cvm_status cvm_annotate(cvm_image *img, const cvm_result *r, const cvm_annotate_options *opts)
{
    if (!img || !r)
        return cvm_errorf(CVM_E_INVALID_ARG, "cvm_annotate: NULL argument");
    cvm_annotate_options o;
    if (opts)
        o = *opts;
    else
        cvm_annotate_options_init(&o);
    cvm_image_view v;
    CVM_TRY(cvm_image_get_view(img, &v));
    if (v.format == CVM_PIXEL_GRAY8)
        return cvm_errorf(CVM_E_UNSUPPORTED, "cvm_annotate: draw on an RGB, BGR or RGBA image (got gray)");
    int side = v.width < v.height ? v.width : v.height;
    int thick = o.box_thickness > 0 ? o.box_thickness : (side / 300 > 1 ? side / 300 : 2);
    int px = o.label_px > 0 ? o.label_px : (side / 40 > 12 ? side / 40 : 12);
    float alpha = o.mask_alpha < 0 ? 0 : (o.mask_alpha > 1 ? 1 : o.mask_alpha);

    if (r->task == CVM_TASK_CLASSIFICATION || r->task == CVM_TASK_MULTI_LABEL_CLASSIFICATION) {
        /* One line per shown class in the top-left corner. */
        int y = px / 2;
        for (size_t i = 0; i < r->n_classes && o.draw_labels; i++) {
            const cvm_class_score *c = &r->classes[i];
            int show = r->task == CVM_TASK_CLASSIFICATION ? c->class_id == r->top_class : 0;
            for (size_t k = 0; k < r->n_predicted && !show; k++)
                show = r->predicted[k] == (size_t)c->class_id;
            if (!show)
                continue;
            char label[256];
            snprintf(label, sizeof label, "%s %.2f", c->class_name ? c->class_name : "?", c->confidence);
            int tw = 0, th = 0;
            cvm_draw_text(NULL, 0, 0, px, label, colour(0, 255), &tw, &th);
            cvm_rgba bg = colour(c->class_id, 255);
            cvm_draw_fill_rect(&v, px / 2, y, px / 2 + tw + px / 2, y + th + px / 4, bg);
            cvm_draw_text(&v, px / 2 + px / 4, y + px / 8, px, label, text_on(bg), NULL, NULL);
            y += th + px / 2;
        }
        return CVM_OK;
    }
    /* Masks first so that boxes and labels stay readable on top. */
    for (size_t i = r->n; i-- > 0;) {
        const cvm_detection *d = &r->dets[i];
        if (d->mask && alpha > 0)
            cvm_draw_mask(&v, d->mask, d->mask_x, d->mask_y, d->mask_w, d->mask_h,
                          colour(d->class_id, (uint8_t)lrintf(alpha * 255)));
    }
    for (size_t i = r->n; i-- > 0;) {
        const cvm_detection *d = &r->dets[i];
        cvm_rgba c = colour(d->class_id, 255);
        int x1 = iround(d->x1), y1 = iround(d->y1), x2 = iround(d->x2), y2 = iround(d->y2);
        cvm_draw_rect(&v, x1, y1, x2, y2, thick, c);
        if (d->keypoints) {
            const int(*edges)[2];
            size_t ne;
            cvm_result_edges(r, d->class_id, &edges, &ne);
            for (size_t e = 0; e < ne; e++) {
                int a = edges[e][0], b = edges[e][1];
                if (a < 0 || b < 0 || (size_t)a >= d->n_keypoints || (size_t)b >= d->n_keypoints)
                    continue;
                const cvm_keypoint *ka = &d->keypoints[a], *kb = &d->keypoints[b];
                if (!(ka->confidence > 0) || !(kb->confidence > 0))
                    continue;
                cvm_draw_line(&v, iround(ka->x), iround(ka->y), iround(kb->x), iround(kb->y),
                              thick > 1 ? thick : 2, colour((int)e + 3, 255));
            }
            int rad = thick + 1;
            for (size_t k = 0; k < d->n_keypoints; k++) {
                const cvm_keypoint *kp = &d->keypoints[k];
                if (kp->confidence > 0)
                    cvm_draw_circle(&v, iround(kp->x), iround(kp->y), rad, colour((int)k, 255));
            }
        }
    }
    /* Labels last: above the box, or inside it at the top edge.  Placed in
     * confidence order; a label that would cover one already placed (two
     * nearly identical boxes, e.g. car and truck) slides down below it. */
    typedef struct { int x1, y1, x2, y2; } rect;
    rect *placed = o.draw_labels && r->n ? malloc(r->n * sizeof *placed) : NULL;
    if (o.draw_labels && r->n && !placed)
        return cvm_errorf(CVM_E_NOMEM, "out of memory placing %zu labels", r->n);
    for (size_t i = 0; i < r->n && o.draw_labels; i++) {
        const cvm_detection *d = &r->dets[i];
        char label[256];
        snprintf(label, sizeof label, "%s %.2f", d->class_name ? d->class_name : "?", d->confidence);
        int tw = 0, th = 0;
        cvm_draw_text(NULL, 0, 0, px, label, colour(0, 255), &tw, &th);
        int pad = px / 4 > 1 ? px / 4 : 2;
        int x1 = iround(d->x1), y1 = iround(d->y1);
        int ty = y1 - th - 2 * pad >= 0 ? y1 - th - 2 * pad : y1;
        if (x1 + tw + 2 * pad > v.width)
            x1 = v.width - tw - 2 * pad > 0 ? v.width - tw - 2 * pad : 0;
        rect lr = {x1, ty, x1 + tw + 2 * pad, ty + th + 2 * pad};
        for (int tries = 0; tries < 8; tries++) {
            size_t k = 0;
            while (k < i && (lr.x2 <= placed[k].x1 || placed[k].x2 <= lr.x1 || lr.y2 <= placed[k].y1 ||
                             placed[k].y2 <= lr.y1))
                k++;
            if (k == i)
                break;
            int dy = placed[k].y2 - lr.y1;
            lr.y1 += dy;
            lr.y2 += dy;
        }
        placed[i] = lr;
        cvm_rgba bg = colour(d->class_id, 255);
        cvm_draw_fill_rect(&v, lr.x1, lr.y1, lr.x2, lr.y2, bg);
        cvm_draw_text(&v, lr.x1 + pad, lr.y1 + pad, px, label, text_on(bg), NULL, NULL);
    }
    free(placed);
    return CVM_OK;
}
