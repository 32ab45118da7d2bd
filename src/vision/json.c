/* Results as JSON in the shape of Roboflow's hosted inference responses. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/status.h"
#include "vision/postprocess.h"

void cvm_free(void *p) { free(p); }

/* Shortest decimal form that reads back as the same float. */
static cJSON *num(float v)
{
    char buf[48];
    if (!isfinite(v))
        return cJSON_CreateNull();
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)v);
        if (strtof(buf, NULL) == v)
            break;
    }
    return cJSON_CreateRaw(buf);
}

static int add_num(cJSON *o, const char *k, float v)
{
    cJSON *n = num(v);
    return n && cJSON_AddItemToObject(o, k, n);
}

typedef struct idgen {
    FILE *rnd;
    unsigned long long counter;
} idgen;

/* A random (version 4) UUID; a counter-based unique id when /dev/urandom
 * cannot be read. */
static void make_id(idgen *g, char out[37])
{
    unsigned char b[16];
    if (!g->rnd || fread(b, 1, 16, g->rnd) != 16) {
        unsigned long long c = ++g->counter;
        for (int i = 0; i < 16; i++)
            b[i] = (unsigned char)(i < 8 ? (c >> (8 * i)) : (0x5a ^ (i * 37) ^ (uintptr_t)g >> (i % 8)));
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    static const char hex[] = "0123456789abcdef";
    int p = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[p++] = '-';
        out[p++] = hex[b[i] >> 4];
        out[p++] = hex[b[i] & 15];
    }
    out[p] = '\0';
}

static cvm_status add_mask(cJSON *pred, const cvm_result *r, const cvm_detection *d, int rle)
{
    if (rle) {
        uint32_t *counts;
        size_t n;
        char *str;
        CVM_TRY(cvm_rle_counts(d->mask, d->mask_x, d->mask_y, d->mask_w, d->mask_h, r->image_width, r->image_height,
                               &counts, &n));
        cvm_status s = cvm_rle_string(counts, n, &str);
        free(counts);
        if (s != CVM_OK)
            return s;
        cJSON *o = cJSON_AddObjectToObject(pred, "rle");
        int ok = o != NULL;
        if (ok) {
            int sz[2] = {r->image_height, r->image_width};
            cJSON *a = cJSON_CreateIntArray(sz, 2);
            ok = a && cJSON_AddItemToObject(o, "size", a) && cJSON_AddStringToObject(o, "counts", str);
        }
        free(str);
        return ok ? CVM_OK : cvm_errorf(CVM_E_NOMEM, "JSON: out of memory");
    }
    cJSON *pts = cJSON_AddArrayToObject(pred, "points");
    if (!pts)
        return cvm_errorf(CVM_E_NOMEM, "JSON: out of memory");
    int *xy = NULL;
    size_t n = 0;
    CVM_TRY(cvm_mask_polygon(d->mask, d->mask_w, d->mask_h, &xy, &n));
    int ok = 1;
    for (size_t i = 0; i < n && ok; i++) {
        cJSON *p = cJSON_CreateObject();
        ok = p && cJSON_AddItemToArray(pts, p) && cJSON_AddNumberToObject(p, "x", xy[2 * i] + d->mask_x) &&
             cJSON_AddNumberToObject(p, "y", xy[2 * i + 1] + d->mask_y);
    }
    free(xy);
    return ok ? CVM_OK : cvm_errorf(CVM_E_NOMEM, "JSON: out of memory");
}

static cvm_status detections(cJSON *root, const cvm_result *r, int rle)
{
    cJSON *preds = cJSON_AddArrayToObject(root, "predictions");
    if (!preds)
        return cvm_errorf(CVM_E_NOMEM, "JSON: out of memory");
    idgen g = {fopen("/dev/urandom", "rb"), 0};
    cvm_status s = CVM_OK;
    for (size_t i = 0; i < r->n && s == CVM_OK; i++) {
        const cvm_detection *d = &r->dets[i];
        cJSON *p = cJSON_CreateObject();
        char id[37];
        make_id(&g, id);
        int ok = p && cJSON_AddItemToArray(preds, p) && add_num(p, "x", (d->x1 + d->x2) / 2) &&
                 add_num(p, "y", (d->y1 + d->y2) / 2) && add_num(p, "width", d->x2 - d->x1) &&
                 add_num(p, "height", d->y2 - d->y1) && add_num(p, "confidence", d->confidence) &&
                 cJSON_AddStringToObject(p, "class", d->class_name ? d->class_name : "") &&
                 cJSON_AddNumberToObject(p, "class_id", d->class_id) && cJSON_AddStringToObject(p, "detection_id", id);
        if (!ok) {
            s = cvm_errorf(CVM_E_NOMEM, "JSON: out of memory");
            break;
        }
        if (r->task == CVM_TASK_INSTANCE_SEGMENTATION)
            s = add_mask(p, r, d, rle);
        if (d->keypoints && s == CVM_OK) {
            cJSON *kps = cJSON_AddArrayToObject(p, "keypoints");
            ok = kps != NULL;
            for (size_t k = 0; k < d->n_keypoints && ok; k++) {
                const cvm_keypoint *kp = &d->keypoints[k];
                /* Keypoints under the threshold were zeroed; Roboflow leaves them out. */
                if (!(kp->confidence > 0))
                    continue;
                cJSON *o = cJSON_CreateObject();
                ok = o && cJSON_AddItemToArray(kps, o) && add_num(o, "x", kp->x) && add_num(o, "y", kp->y) &&
                     add_num(o, "confidence", kp->confidence) && cJSON_AddNumberToObject(o, "class_id", (double)k) &&
                     cJSON_AddStringToObject(o, "class", kp->name ? kp->name : "");
            }
            if (!ok)
                s = cvm_errorf(CVM_E_NOMEM, "JSON: out of memory");
        }
    }
    if (g.rnd)
        fclose(g.rnd);
    return s;
}

static cvm_status classes(cJSON *root, const cvm_result *r)
{
    if (r->task == CVM_TASK_MULTI_LABEL_CLASSIFICATION) {
        cJSON *preds = cJSON_AddObjectToObject(root, "predictions");
        cJSON *pc = cJSON_AddArrayToObject(root, "predicted_classes");
        int ok = preds && pc;
        for (size_t i = 0; i < r->n_classes && ok; i++) {
            const cvm_class_score *c = &r->classes[i];
            cJSON *o = cJSON_CreateObject();
            ok = o && cJSON_AddItemToObject(preds, c->class_name ? c->class_name : "", o) &&
                 add_num(o, "confidence", c->confidence) && cJSON_AddNumberToObject(o, "class_id", c->class_id);
        }
        for (size_t i = 0; i < r->n_predicted && ok; i++) {
            size_t id = r->predicted[i];
            const char *name = id < r->n_classes && r->classes[id].class_name ? r->classes[id].class_name : "";
            cJSON *sv = cJSON_CreateString(name);
            ok = sv && cJSON_AddItemToArray(pc, sv);
        }
        return ok ? CVM_OK : cvm_errorf(CVM_E_NOMEM, "JSON: out of memory");
    }
    cJSON *preds = cJSON_AddArrayToObject(root, "predictions");
    if (!preds)
        return cvm_errorf(CVM_E_NOMEM, "JSON: out of memory");
    size_t *order = malloc((r->n_classes ? r->n_classes : 1) * sizeof *order);
    float *conf = malloc((r->n_classes ? r->n_classes : 1) * sizeof *conf);
    if (!order || !conf) {
        free(order);
        free(conf);
        return cvm_errorf(CVM_E_NOMEM, "JSON: out of memory");
    }
    for (size_t i = 0; i < r->n_classes; i++) {
        order[i] = i;
        conf[i] = r->classes[i].confidence;
    }
    cvm_sort_by_score(order, r->n_classes, conf);
    int ok = 1;
    for (size_t i = 0; i < r->n_classes && ok; i++) {
        const cvm_class_score *c = &r->classes[order[i]];
        cJSON *o = cJSON_CreateObject();
        ok = o && cJSON_AddItemToArray(preds, o) &&
             cJSON_AddStringToObject(o, "class", c->class_name ? c->class_name : "") &&
             cJSON_AddNumberToObject(o, "class_id", c->class_id) && add_num(o, "confidence", c->confidence);
    }
    free(order);
    free(conf);
    if (ok && r->top_class >= 0 && (size_t)r->top_class < r->n_classes) {
        const cvm_class_score *t = &r->classes[r->top_class];
        ok = cJSON_AddStringToObject(root, "top", t->class_name ? t->class_name : "") &&
             add_num(root, "confidence", t->confidence);
    }
    return ok ? CVM_OK : cvm_errorf(CVM_E_NOMEM, "JSON: out of memory");
}

cvm_status cvm_result_to_json(const cvm_result *r, int rle, char **json)
{
    if (!r || !json)
        return cvm_errorf(CVM_E_INVALID_ARG, "cvm_result_to_json: NULL argument");
    *json = NULL;
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return cvm_errorf(CVM_E_NOMEM, "JSON: out of memory");
    cvm_status s = CVM_OK;
    double t = (r->times.preprocess_ms + r->times.inference_ms + r->times.postprocess_ms) / 1000.0;
    cJSON *img = cJSON_AddObjectToObject(root, "image");
    if (!img || !cJSON_AddNumberToObject(img, "width", r->image_width) ||
        !cJSON_AddNumberToObject(img, "height", r->image_height) || !add_num(root, "time", (float)t))
        s = cvm_errorf(CVM_E_NOMEM, "JSON: out of memory");
    if (s == CVM_OK) {
        if (r->task == CVM_TASK_CLASSIFICATION || r->task == CVM_TASK_MULTI_LABEL_CLASSIFICATION)
            s = classes(root, r);
        else
            s = detections(root, r, rle);
    }
    if (s == CVM_OK) {
        *json = cJSON_PrintUnformatted(root);
        if (!*json)
            s = cvm_errorf(CVM_E_NOMEM, "JSON: out of memory");
    }
    cJSON_Delete(root);
    return s;
}
