/* Vision post-processing, packages and JSON on synthetic data.  Expected
 * values are hand-derived or computed with pycocotools / Python (noted). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/status.h"
#include "base/threadpool.h"
#include "models/package.h"
#include "vision/postprocess.h"
#include "vision/preprocess.h"
#include "vision/result.h"

/* ------------------------------------------------------------------ NMS */

static void test_nms_per_class_and_agnostic(void **st)
{
    (void)st;
    const float boxes[] = {0, 0, 10, 10, 1, 1, 11, 11, 1, 1, 11, 11, 50, 50, 60, 60};
    const float scores[] = {0.9f, 0.8f, 0.85f, 0.8f};
    const int cls[] = {0, 0, 1, 0};
    size_t keep[4];
    /* IoU(A,B) = 81 / 119 = 0.68: B goes; C is another class. */
    size_t n = cvm_nms(boxes, scores, cls, 4, 0.5f, 300, keep, NULL);
    assert_int_equal(n, 3);
    assert_int_equal(keep[0], 0);
    assert_int_equal(keep[1], 2);
    assert_int_equal(keep[2], 3);
    n = cvm_nms(boxes, scores, NULL, 4, 0.5f, 300, keep, NULL);
    assert_int_equal(n, 2);
    assert_int_equal(keep[0], 0);
    assert_int_equal(keep[1], 3);
    /* 0.68 < 0.7 keeps B and C apart from A, but B and C coincide. */
    n = cvm_nms(boxes, scores, NULL, 4, 0.7f, 300, keep, NULL);
    assert_int_equal(n, 3);
    assert_int_equal(keep[1], 2);
    assert_int_equal(keep[2], 3);
    n = cvm_nms(boxes, scores, cls, 4, 0.7f, 300, keep, NULL);
    assert_int_equal(n, 4);
    assert_int_equal(keep[2], 1); /* tie 0.8: input order */
    assert_int_equal(keep[3], 3);
    n = cvm_nms(boxes, scores, NULL, 4, 0.7f, 2, keep, NULL);
    assert_int_equal(n, 2);
}

static void test_nms_strict_iou_and_ties(void **st)
{
    (void)st;
    /* IoU exactly 50/150: suppression needs IoU > thr. */
    const float boxes[] = {0, 0, 10, 10, 5, 0, 15, 10};
    const float scores[] = {0.5f, 0.6f};
    size_t keep[2], scratch[4];
    float thr = 50.0f / (100.0f + 100.0f - 50.0f);
    assert_int_equal(cvm_nms(boxes, scores, NULL, 2, thr, 10, keep, scratch), 2);
    assert_int_equal(keep[0], 1);
    assert_int_equal(cvm_nms(boxes, scores, NULL, 2, nextafterf(thr, 0), 10, keep, scratch), 1);
    assert_int_equal(keep[0], 1);
    /* Equal scores keep input order. */
    const float b3[] = {0, 0, 1, 1, 5, 5, 6, 6, 9, 9, 10, 10, 20, 20, 21, 21};
    const float s3[] = {0.5f, 0.5f, 0.7f, 0.5f};
    size_t k3[4];
    assert_int_equal(cvm_nms(b3, s3, NULL, 4, 0.3f, 10, k3, NULL), 4);
    assert_int_equal(k3[0], 2);
    assert_int_equal(k3[1], 0);
    assert_int_equal(k3[2], 1);
    assert_int_equal(k3[3], 3);
    /* Zero-area boxes: IoU is NaN, nothing is suppressed. */
    const float z[] = {1, 1, 1, 1, 1, 1, 1, 1};
    assert_int_equal(cvm_nms(z, scores, NULL, 2, 0.1f, 10, keep, NULL), 2);
    assert_int_equal(cvm_nms(z, scores, NULL, 0, 0.1f, 10, keep, NULL), 0);
}

/* ------------------------------------------------------------------ RLE */

static char *rle_of(const uint8_t *m, int x, int y, int w, int h, int W, int H)
{
    uint32_t *counts;
    size_t n;
    char *s = NULL;
    assert_int_equal(cvm_rle_counts(m, x, y, w, h, W, H, &counts, &n), CVM_OK);
    assert_int_equal(cvm_rle_string(counts, n, &s), CVM_OK);
    free(counts);
    return s;
}

static void test_rle_pycocotools(void **st)
{
    (void)st;
    /* Strings from pycocotools.mask.encode on the same masks. */
    uint8_t block[6] = {1, 1, 1, 1, 1, 1};
    char *s = rle_of(block, 1, 1, 3, 2, 5, 4);
    assert_string_equal(s, "5220003");
    free(s);
    uint8_t m2[6 * 7] = {0};
    m2[0] = 1;
    for (int y = 2; y < 6; y++)
        m2[y * 7 + 3] = 1;
    m2[5 * 7 + 6] = 1;
    s = rle_of(m2, 0, 0, 7, 6, 7, 6);
    assert_string_equal(s, "01c03NM");
    free(s);
    /* 200x100: a 130x80 block at (20,10) and a 3x3 one at (160,0), given
     * as one crop x 20..162, y 0..89. */
    int cw = 143, ch = 90;
    uint8_t *m3 = calloc((size_t)cw * ch, 1);
    for (int y = 10; y < 90; y++)
        for (int x = 20; x < 150; x++)
            m3[y * cw + (x - 20)] = 1;
    for (int y = 0; y < 3; y++)
        for (int x = 160; x < 163; x++)
            m3[y * cw + (x - 20)] = 1;
    s = rle_of(m3, 20, 0, cw, ch, 200, 100);
    char expect[400] = "jn1`2d";
    for (int i = 0; i < 258; i++)
        strcat(expect, "0");
    strcat(expect, "nn0cM_SO000dc3");
    assert_string_equal(s, expect);
    free(s);
    free(m3);
    s = rle_of(NULL, 0, 0, 0, 0, 3, 2);
    assert_string_equal(s, "6");
    free(s);
    uint8_t full[6] = {1, 1, 1, 1, 1, 1};
    s = rle_of(full, 0, 0, 3, 2, 3, 2);
    assert_string_equal(s, "06");
    free(s);
}

/* ---------------------------------------------------- geometry, rescale */

static void test_letterbox_and_crop_geometry(void **st)
{
    (void)st;
    /* The reference's unit test: 168x192 into 96x64 -> pads (20,0,20,0). */
    int nw, nh, l, t, r, b;
    double s;
    cvm_letterbox_geometry(168, 192, 96, 64, &nw, &nh, &l, &t, &r, &b, &s);
    assert_int_equal(nw, 56);
    assert_int_equal(nh, 64);
    assert_int_equal(l, 20);
    assert_int_equal(t, 0);
    assert_int_equal(r, 20);
    assert_int_equal(b, 0);
    assert_true(fabs(s - 64.0 / 192.0) < 1e-12);
    cvm_preproc_config c;
    memset(&c, 0, sizeof c);
    c.crop_enabled = 1;
    c.crop_x_min = 9;
    c.crop_y_min = 9;
    c.crop_x_max = 94;
    c.crop_y_max = 75;
    int x0, y0, cw, ch;
    cvm_static_crop_rect(&c, 200, 100, &x0, &y0, &cw, &ch);
    assert_int_equal(x0, 18); /* Python: int(9 / 100 * 200) */
    assert_int_equal(y0, 9);
    assert_int_equal(cw, 170);
    assert_int_equal(ch, 66);
    c.crop_x_min = 7;
    c.crop_x_max = 93;
    cvm_static_crop_rect(&c, 333, 100, &x0, &y0, &cw, &ch);
    assert_int_equal(x0, 23);
    assert_int_equal(cw, 309 - 23);
}

/* The working image is read in place (RGB8, BGR8) or converted (RGBA8,
 * gray), rows may be padded, and the float conversion goes through
 * per-byte tables: every input form gives the same tensor, and that tensor
 * is the per-pixel formula ((byte / 255 - mean) / std in the model's
 * channel order), including the letterbox padding. */
static cvm_tensor *pre(const cvm_preproc_config *c, cvm_pixel_format f, int ch, size_t stride, const uint8_t *px,
                       int rfdetr)
{
    cvm_image_view v = {7, 5, stride, f, ch, (uint8_t *)px};
    cvm_tensor *t = NULL;
    cvm_preproc_meta m;
    assert_int_equal(rfdetr ? cvm_preprocess_rfdetr(c, &v, &t, &m, NULL) : cvm_preprocess(c, &v, &t, &m, NULL),
                     CVM_OK);
    return t;
}

static void expect_same(const cvm_tensor *a, const cvm_tensor *b)
{
    assert_int_equal(cvm_tensor_numel(a), cvm_tensor_numel(b));
    assert_memory_equal(a->data, b->data, (size_t)cvm_tensor_numel(a) * sizeof(float));
}

static void test_preprocess_pixel_forms(void **st)
{
    (void)st;
    enum { W = 7, H = 5 };
    uint8_t rgb[W * H * 3], bgr[H][W * 3 + 5], rgba[W * H * 4];
    unsigned seed = 12345;
    for (int i = 0; i < W * H * 3; i++) {
        seed = seed * 1103515245u + 12345u;
        rgb[i] = (uint8_t)(seed >> 16);
    }
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int k = 0; k < 3; k++) {
                bgr[y][x * 3 + k] = rgb[(y * W + x) * 3 + 2 - k];
                rgba[(y * W + x) * 4 + k] = rgb[(y * W + x) * 3 + k];
                rgba[(y * W + x) * 4 + 3] = (uint8_t)(x * 31 + y);
            }
    cvm_preproc_config c;
    memset(&c, 0, sizeof c);
    c.width = W;
    c.height = H;
    c.resize = CVM_RESIZE_STRETCH;
    c.scaling_factor = 255;
    c.has_norm = 1;
    const float mean[3] = {0.485f, 0.456f, 0.406f}, sd[3] = {0.229f, 0.224f, 0.225f};
    memcpy(c.mean, mean, sizeof mean);
    memcpy(c.std, sd, sizeof sd);
    c.input_channels = 3;
    for (int model_bgr = 0; model_bgr < 2; model_bgr++) {
        c.bgr = model_bgr;
        cvm_tensor *a = pre(&c, CVM_PIXEL_RGB8, 3, W * 3, rgb, 0);
        const float *t = a->data;
        for (int ch = 0; ch < 3; ch++)
            for (int i = 0; i < W * H; i++) {
                float want = ((float)rgb[i * 3 + (model_bgr ? 2 - ch : ch)] / 255.0f - mean[ch]) / sd[ch];
                if (t[ch * W * H + i] != want)
                    fail_msg("bgr %d channel %d pixel %d: %g, want %g", model_bgr, ch, i, t[ch * W * H + i], want);
            }
        cvm_tensor *b = pre(&c, CVM_PIXEL_BGR8, 3, sizeof bgr[0], &bgr[0][0], 0);
        cvm_tensor *d = pre(&c, CVM_PIXEL_RGBA8, 4, W * 4, rgba, 0);
        expect_same(a, b);
        expect_same(a, d);
        cvm_tensor_free(a);
        cvm_tensor_free(b);
        cvm_tensor_free(d);
    }
    /* letterbox into 9x9: the 7x5 image becomes 9x6 with rows 0 and 7-8 of
     * padding value 114; in-place RGB and BGR give the same tensor */
    c.bgr = 0;
    c.width = c.height = 9;
    c.resize = CVM_RESIZE_LETTERBOX;
    c.padding_value = 114;
    cvm_tensor *a = pre(&c, CVM_PIXEL_RGB8, 3, W * 3, rgb, 0);
    cvm_tensor *b = pre(&c, CVM_PIXEL_BGR8, 3, sizeof bgr[0], &bgr[0][0], 0);
    expect_same(a, b);
    const float *t = a->data;
    for (int ch = 0; ch < 3; ch++) {
        float pad = (114.0f / 255.0f - mean[ch]) / sd[ch];
        for (int y = 0; y < 9; y++)
            for (int x = 0; x < 9; x++)
                if ((y == 0 || y >= 7) && t[(ch * 9 + y) * 9 + x] != pad)
                    fail_msg("channel %d (%d,%d): %g, want the padding %g", ch, x, y, t[(ch * 9 + y) * 9 + x], pad);
    }
    cvm_tensor_free(a);
    cvm_tensor_free(b);
    /* RF-DETR's PIL resize, in place from either byte order */
    c.width = c.height = 6;
    c.resize = CVM_RESIZE_STRETCH;
    a = pre(&c, CVM_PIXEL_RGB8, 3, W * 3, rgb, 1);
    b = pre(&c, CVM_PIXEL_BGR8, 3, sizeof bgr[0], &bgr[0][0], 1);
    expect_same(a, b);
    cvm_tensor_free(a);
    cvm_tensor_free(b);
    /* a larger image on a 3-thread pool: the same tensor as on one thread
     * (resize rows and conversion shared) */
    {
        enum { BW = 301, BH = 199 };
        uint8_t *big = malloc((size_t)BW * BH * 3);
        assert_non_null(big);
        for (int i = 0; i < BW * BH * 3; i++) {
            seed = seed * 1103515245u + 12345u;
            big[i] = (uint8_t)(seed >> 16);
        }
        cvm_threadpool *pool;
        assert_int_equal(cvm_threadpool_create(3, &pool), CVM_OK);
        c.width = c.height = 320;
        c.resize = CVM_RESIZE_LETTERBOX;
        cvm_image_view bv = {BW, BH, (size_t)BW * 3, CVM_PIXEL_RGB8, 3, big};
        cvm_tensor *one = NULL, *three = NULL;
        cvm_preproc_meta m1, m3;
        /* the pooled run first: a canvas block freed by the other run could
         * otherwise hand it correct stale bytes */
        assert_int_equal(cvm_preprocess(&c, &bv, &three, &m3, pool), CVM_OK);
        assert_int_equal(cvm_preprocess(&c, &bv, &one, &m1, NULL), CVM_OK);
        expect_same(one, three);
        cvm_tensor_free(one);
        cvm_tensor_free(three);
        cvm_threadpool_free(pool);
        free(big);
    }
    /* a stride shorter than a row is refused */
    cvm_image_view v = {W, H, W * 3 - 1, CVM_PIXEL_RGB8, 3, rgb};
    cvm_tensor *out = NULL;
    cvm_preproc_meta m;
    assert_int_equal(cvm_preprocess(&c, &v, &out, &m, NULL), CVM_E_INVALID_ARG);
    assert_null(out);
    /* and so is a static crop that leaves nothing */
    v.stride = W * 3;
    c.crop_enabled = 1;
    c.crop_x_min = 60;
    c.crop_x_max = 40;
    c.crop_y_max = 100;
    assert_int_equal(cvm_preprocess(&c, &v, &out, &m, NULL), CVM_E_INVALID_ARG);
    assert_non_null(strstr(cvm_last_error(), "static crop"));
    assert_null(out);
}

/* The best class per candidate against a per-candidate scan: 7 candidates
 * (a group of four and a tail of three), ties between classes (the first
 * wins), NaN scores (a NaN never replaces a number, and one in class 0
 * stays, as the scan's strict comparison has it), negative scores and a
 * single class. */
static void test_best_class(void **st)
{
    (void)st;
    const float nan = NAN;
    enum { C = 4, N = 7 };
    const float sc[C][N] = {
        {0.1f, 0.5f, nan, -3.0f, 0.2f, 0.7f, 0.0f},
        {0.3f, 0.5f, 0.4f, -2.0f, 0.2f, nan, 0.9f},
        {0.3f, 0.1f, 0.8f, -2.5f, 0.6f, 0.7f, 0.9f},
        {0.2f, 0.6f, 0.8f, -1.0f, 0.6f, 0.1f, 1.0f},
    };
    float best[N];
    int cls[N];
    cvm_best_class(&sc[0][0], C, N, best, cls);
    for (int a = 0; a < N; a++) {
        float b = sc[0][a];
        int k = 0;
        for (int c = 1; c < C; c++)
            if (sc[c][a] > b) {
                b = sc[c][a];
                k = c;
            }
        assert_int_equal(cls[a], k);
        if (isnan(b))
            assert_true(isnan(best[a]));
        else
            assert_true(best[a] == b);
    }
    /* hand-checked: ties keep the earlier class (candidates 0, 4 and 5) */
    assert_int_equal(cls[0], 1);
    assert_int_equal(cls[1], 3);
    assert_true(isnan(best[2]) && cls[2] == 0);
    assert_int_equal(cls[3], 3);
    assert_int_equal(cls[4], 2);
    assert_int_equal(cls[5], 0);
    assert_int_equal(cls[6], 3);
    cvm_best_class(&sc[0][0], 1, N, best, cls);
    for (int a = 0; a < N; a++)
        assert_int_equal(cls[a], 0);
}

static void test_rescale_rounding(void **st)
{
    (void)st;
    cvm_preproc_meta m;
    memset(&m, 0, sizeof m);
    m.pad_left = 10;
    m.pad_top = 20;
    m.scale_w = m.scale_h = 0.5;
    m.orig_w = 100;
    m.orig_h = 50;
    /* (11.25-10)/0.5 = 2.5 -> 2, (11.75-10)/0.5 = 3.5 -> 4 (half to even). */
    float b[4] = {11.25f, 21.75f, 11.75f, 80.0f};
    cvm_rescale_box(&m, b);
    assert_true(b[0] == 2.5f && b[1] == 3.5f);
    assert_true(cvm_round_half_even(b[0]) == 2.0f);
    assert_true(cvm_round_half_even(b[1]) == 4.0f);
    assert_true(cvm_round_half_even(b[2]) == 4.0f);
    assert_true(b[3] == 50.0f); /* clamped to the height, inclusive */
    float c[4] = {0.0f, 0.0f, 200.0f, 21.0f};
    m.crop_x = 7;
    m.crop_y = 3;
    cvm_rescale_box(&m, c);
    assert_true(c[0] == 0.0f);   /* -20 + 7 clamped */
    assert_true(c[2] == 100.0f); /* 380 + 7 clamped */
    assert_true(c[3] == 5.0f);   /* 2 + 3 */
    assert_true(cvm_round_half_even(-0.5f) == 0.0f && cvm_round_half_even(1.5f) == 2.0f);
}

/* ----------------------------------------------------------------- masks */

static void test_mask_upsample_and_unpad(void **st)
{
    (void)st;
    /* 2x2 -> 4x4 bilinear (half-pixel): weights along an axis 1, .75, .25, 0
     * from the first pixel; products over 0.5 form the 2x2 corner. */
    const float map[4] = {1, 0, 0, 0};
    cvm_detection d;
    memset(&d, 0, sizeof d);
    cvm_mask_job job = {map, 2, 2, 4, 4, 10, 20, 0.5f};
    assert_int_equal(cvm_mask_render(&job, &d), CVM_OK);
    assert_non_null(d.mask);
    assert_int_equal(d.mask_x, 10);
    assert_int_equal(d.mask_y, 20);
    assert_int_equal(d.mask_w, 2);
    assert_int_equal(d.mask_h, 2);
    for (int i = 0; i < 4; i++)
        assert_int_equal(d.mask[i], 1);
    free(d.mask);
    job.threshold = 0.6f; /* .5625 at (1,1) drops: region stays 2x2, corner empty */
    assert_int_equal(cvm_mask_render(&job, &d), CVM_OK);
    assert_int_equal(d.mask_w, 2);
    assert_int_equal(d.mask[3], 0);
    free(d.mask);
    job.threshold = 1.0f;
    assert_int_equal(cvm_mask_render(&job, &d), CVM_OK);
    assert_null(d.mask);
    assert_int_equal(d.mask_w, 0);

    /* Letterbox pads 4 px top/bottom of a 32 px input -> 1 mask row each at
     * 8/32 scale (round(1.0)); 6 px -> round(1.5) = 2 (half to even). */
    cvm_preproc_meta m;
    memset(&m, 0, sizeof m);
    m.pad_top = 4;
    m.pad_bottom = 6;
    float src[8 * 2], out[8 * 2];
    for (int i = 0; i < 16; i++)
        src[i] = (float)i;
    int oh, ow;
    assert_int_equal(cvm_mask_unpad(src, 8, 2, &m, 32, 32, out, &oh, &ow), CVM_OK);
    assert_int_equal(oh, 5);
    assert_int_equal(ow, 2);
    assert_true(out[0] == 2.0f && out[9] == 11.0f);
    /* Negative pads (center-crop) add zero rows. */
    m.pad_top = -4;
    m.pad_bottom = 0;
    float out2[10 * 2];
    assert_int_equal(cvm_mask_unpad(src, 8, 2, &m, 32, 32, out2, &oh, &ow), CVM_OK);
    assert_int_equal(oh, 9);
    assert_true(out2[0] == 0.0f && out2[1] == 0.0f && out2[2] == 0.0f);
}

static void test_mask_polygon(void **st)
{
    (void)st;
    /* A 3x2 rectangle: four corners. */
    uint8_t m[4 * 5] = {0};
    for (int y = 1; y < 3; y++)
        for (int x = 1; x < 4; x++)
            m[y * 5 + x] = 1;
    int *xy;
    size_t n;
    assert_int_equal(cvm_mask_polygon(m, 5, 4, &xy, &n), CVM_OK);
    assert_int_equal(n, 4);
    assert_int_equal(xy[0], 1);
    assert_int_equal(xy[1], 1);
    assert_int_equal(xy[2], 3);
    assert_int_equal(xy[3], 1);
    assert_int_equal(xy[4], 3);
    assert_int_equal(xy[5], 2);
    assert_int_equal(xy[6], 1);
    assert_int_equal(xy[7], 2);
    free(xy);
    uint8_t one = 1;
    assert_int_equal(cvm_mask_polygon(&one, 1, 1, &xy, &n), CVM_OK);
    assert_int_equal(n, 1);
    free(xy);
}

/* ------------------------------------------------------------------ JSON */

static void test_json_shape(void **st)
{
    (void)st;
    const char *names[] = {"cat", "dog"};
    cvm_result_priv *r;
    assert_int_equal(cvm_result_new(CVM_TASK_INSTANCE_SEGMENTATION, names, 2, NULL, &r), CVM_OK);
    r->pub.image_width = 5;
    r->pub.image_height = 4;
    r->pub.n = 1;
    r->pub.dets = calloc(1, sizeof *r->pub.dets);
    cvm_detection *d = &r->pub.dets[0];
    d->x1 = 1;
    d->y1 = 1;
    d->x2 = 4;
    d->y2 = 2;
    d->confidence = 0.875f;
    d->class_id = 1;
    d->class_name = r->names[1];
    d->mask = malloc(6);
    memset(d->mask, 1, 6);
    d->mask_x = d->mask_y = 1;
    d->mask_w = 3;
    d->mask_h = 2;
    char *js;
    assert_int_equal(cvm_result_to_json(&r->pub, 1, &js), CVM_OK);
    cJSON *j = cJSON_Parse(js);
    assert_non_null(j);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "image"), "width")->valueint, 5);
    cJSON *p = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "predictions"), 0);
    assert_true(cJSON_GetObjectItem(p, "x")->valuedouble == 2.5);
    assert_true(cJSON_GetObjectItem(p, "y")->valuedouble == 1.5);
    assert_true(cJSON_GetObjectItem(p, "width")->valuedouble == 3.0);
    assert_true(cJSON_GetObjectItem(p, "height")->valuedouble == 1.0);
    assert_true(cJSON_GetObjectItem(p, "confidence")->valuedouble == 0.875);
    assert_string_equal(cJSON_GetObjectItem(p, "class")->valuestring, "dog");
    assert_int_equal(cJSON_GetObjectItem(p, "class_id")->valueint, 1);
    const char *id = cJSON_GetObjectItem(p, "detection_id")->valuestring;
    assert_int_equal(strlen(id), 36);
    assert_true(id[8] == '-' && id[14] == '4');
    cJSON *rle = cJSON_GetObjectItem(p, "rle");
    assert_string_equal(cJSON_GetObjectItem(rle, "counts")->valuestring, "5220003");
    assert_int_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(rle, "size"), 0)->valueint, 4);
    cJSON_Delete(j);
    cvm_free(js);
    /* Polygons instead of RLE. */
    assert_int_equal(cvm_result_to_json(&r->pub, 0, &js), CVM_OK);
    j = cJSON_Parse(js);
    p = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "predictions"), 0);
    cJSON *pts = cJSON_GetObjectItem(p, "points");
    assert_int_equal(cJSON_GetArraySize(pts), 4);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(pts, 2), "x")->valueint, 3);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(pts, 2), "y")->valueint, 2);
    cJSON_Delete(j);
    cvm_free(js);
    cvm_result_free(&r->pub);

    /* Classification: predictions sorted, top and confidence. */
    assert_int_equal(cvm_result_new(CVM_TASK_CLASSIFICATION, names, 2, NULL, &r), CVM_OK);
    r->pub.classes = calloc(2, sizeof *r->pub.classes);
    r->pub.n_classes = 2;
    r->pub.classes[0] = (cvm_class_score){0, r->names[0], 0.25f};
    r->pub.classes[1] = (cvm_class_score){1, r->names[1], 0.75f};
    r->pub.top_class = 1;
    assert_int_equal(cvm_result_to_json(&r->pub, 0, &js), CVM_OK);
    j = cJSON_Parse(js);
    assert_string_equal(cJSON_GetObjectItem(j, "top")->valuestring, "dog");
    assert_true(cJSON_GetObjectItem(j, "confidence")->valuedouble == 0.75);
    p = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "predictions"), 0);
    assert_string_equal(cJSON_GetObjectItem(p, "class")->valuestring, "dog");
    cJSON_Delete(j);
    cvm_free(js);
    cvm_result_free(&r->pub);
}

/* -------------------------------------------------------------- packages */

static cvm_status parse_ic(const char *text, cvm_package *p)
{
    return cvm_package_parse_inference_config(text, strlen(text), "inference_config.json", p);
}

static void test_package_parsing(void **st)
{
    (void)st;
    cvm_package p;
    memset(&p, 0, sizeof p);
    /* The reference's valid asset: sizes as strings, unknown keys, nulls. */
    const char *ok = "{\"image_pre_processing\": {\"auto-orient\": {\"enabled\": true},"
                     " \"static-crop\": {\"enabled\": true, \"x_min\": 9, \"y_min\": 9, \"x_max\": 94, \"y_max\": 75}},"
                     " \"network_input\": {\"training_input_size\": {\"height\": \"412\", \"width\": \"412\"},"
                     " \"dynamic_spatial_size_supported\": true, \"dynamic_spatial_size_mode\": {\"type\": \"any-size\"},"
                     " \"color_mode\": \"rgb\", \"resize_mode\": \"stretch\", \"padding_value\": null,"
                     " \"input_channels\": 3, \"scaling_factor\": null, \"normalization\": null, \"extra\": 1},"
                     " \"forward_pass\": {\"static_batch_size\": null}, \"post_processing\": null,"
                     " \"model_initialization\": null, \"class_names_operations\": null, \"unknown\": [1,2]}";
    assert_int_equal(parse_ic(ok, &p), CVM_OK);
    assert_int_equal(p.pre.width, 412);
    assert_int_equal(p.pre.height, 412);
    assert_int_equal(p.pre.crop_enabled, 1);
    assert_int_equal(p.pre.crop_y_max, 75);
    assert_int_equal(p.pre.resize, CVM_RESIZE_STRETCH);
    assert_int_equal(p.pre.padding_value, 0);
    assert_true(p.pre.scaling_factor == 0);

    assert_int_equal(parse_ic("{\"image_pre_processing\": {}}", &p), CVM_E_PARSE);
    assert_non_null(strstr(cvm_last_error(), "network_input"));
    assert_int_equal(parse_ic("{\"network_input\": {\"training_input_size\": {\"height\": 10, \"width\": 10},"
                              " \"resize_mode\": \"squash\"}}", &p), CVM_E_PARSE);
    assert_non_null(strstr(cvm_last_error(), "network_input.resize_mode"));
    assert_non_null(strstr(cvm_last_error(), "squash"));
    assert_int_equal(parse_ic("{\"network_input\": {\"training_input_size\": {\"height\": \"ten\", \"width\": 10},"
                              " \"resize_mode\": \"stretch\"}}", &p), CVM_E_PARSE);
    assert_non_null(strstr(cvm_last_error(), "training_input_size.height"));
    assert_int_equal(parse_ic("{\"network_input\": [", &p), CVM_E_PARSE);
    assert_non_null(strstr(cvm_last_error(), "inference_config.json"));
    assert_int_equal(parse_ic("{\"network_input\": {\"training_input_size\": {\"height\": 10, \"width\": 10},"
                              " \"resize_mode\": \"stretch\", \"normalization\": [[0,0,0],[1,0,1]]}}", &p),
                     CVM_E_PARSE);
    assert_non_null(strstr(cvm_last_error(), "normalization"));

    const char *mc = "{\"model_module\": \"model.py\", \"model_class\": \"M\"}";
    assert_int_equal(cvm_package_parse_model_config(mc, strlen(mc), "model_config.json", &p), CVM_E_UNSUPPORTED);
    assert_non_null(strstr(cvm_last_error(), "model_module"));
    const char *mc2 = "{\"model_architecture\": \"yolov8\", \"task_type\": \"object-detection\", \"backend_type\": \"trt\"}";
    assert_int_equal(cvm_package_parse_model_config(mc2, strlen(mc2), "model_config.json", &p), CVM_E_UNSUPPORTED);
    assert_non_null(strstr(cvm_last_error(), "trt"));

    assert_int_equal(cvm_package_parse_class_names("\n \r\n", 4, "class_names.txt", &p), CVM_E_PARSE);
    assert_non_null(strstr(cvm_last_error(), "class_names.txt"));
    assert_int_equal(cvm_package_parse_class_names("a\r\n b \n\nc", 9, "class_names.txt", &p), CVM_OK);
    assert_int_equal(p.n_classes, 3);
    assert_string_equal(p.class_names[1], "b");

    const char *kp = "[{\"object_class_id\": 0, \"object_class\": \"person\", \"keypoints\": {\"1\": \"b\", \"0\": \"a\"},"
                     " \"edges\": [{\"from\": 0, \"to\": 1}]}]";
    assert_int_equal(cvm_package_parse_keypoints(kp, strlen(kp), "keypoints_metadata.json", &p), CVM_OK);
    assert_int_equal(p.n_kp, 1);
    assert_string_equal(p.kp[0].names[0], "a");
    const char *kp_bad = "[{\"object_class_id\": 0, \"keypoints\": {\"0\": \"a\"}, \"edges\": [{\"from\": 0, \"to\": 3}]}]";
    assert_int_equal(cvm_package_parse_keypoints(kp_bad, strlen(kp_bad), "keypoints_metadata.json", &p), CVM_E_PARSE);
    assert_non_null(strstr(cvm_last_error(), "edge"));

    /* Free what the successful calls attached. */
    cvm_package *heap = calloc(1, sizeof *heap);
    *heap = p;
    cvm_package_free(heap);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nms_per_class_and_agnostic),
        cmocka_unit_test(test_nms_strict_iou_and_ties),
        cmocka_unit_test(test_rle_pycocotools),
        cmocka_unit_test(test_letterbox_and_crop_geometry),
        cmocka_unit_test(test_preprocess_pixel_forms),
        cmocka_unit_test(test_best_class),
        cmocka_unit_test(test_rescale_rounding),
        cmocka_unit_test(test_mask_upsample_and_unpad),
        cmocka_unit_test(test_mask_polygon),
        cmocka_unit_test(test_json_shape),
        cmocka_unit_test(test_package_parsing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
