/* `cvm predict`: run a vision model on images; text, JSON or annotated pictures. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli_common.h"
#include "commands.h"
#include "progress.h"
#include "cvm/vision.h"
#include "models/model.h"
#include "models/package.h"

typedef struct strlist {
    char **v;
    size_t n, cap;
} strlist;

static int sl_push(strlist *l, const char *s)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 16;
        char **nv = realloc(l->v, nc * sizeof *nv);
        if (!nv)
            return 0;
        l->v = nv;
        l->cap = nc;
    }
    size_t len = strlen(s) + 1;
    if (!(l->v[l->n] = malloc(len)))
        return 0;
    memcpy(l->v[l->n++], s, len);
    return 1;
}

static void sl_free(strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int is_image_name(const char *n)
{
    const char *dot = strrchr(n, '.');
    if (!dot)
        return 0;
    static const char *ext[] = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".JPG", ".JPEG", ".PNG", ".WEBP", ".BMP"};
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++)
        if (!strcmp(dot, ext[i]))
            return 1;
    return 0;
}

/* Files as given, folders' images (sorted) and glob patterns. */
static int expand_input(const char *in, strlist *out, int *from_folder)
{
    struct stat st;
    if (stat(in, &st) == 0 && S_ISDIR(st.st_mode)) {
        DIR *d = opendir(in);
        if (!d) {
            fprintf(stderr, "cvm predict: cannot read folder '%s': %s\n", in, strerror(errno));
            return 0;
        }
        strlist tmp = {0};
        struct dirent *e;
        size_t len = strlen(in);
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.' || !is_image_name(e->d_name))
                continue;
            char *p = malloc(len + strlen(e->d_name) + 2);
            if (!p)
                break;
            sprintf(p, "%s%s%s", in, len && in[len - 1] == '/' ? "" : "/", e->d_name);
            int ok = sl_push(&tmp, p);
            free(p);
            if (!ok)
                break;
        }
        closedir(d);
        qsort(tmp.v, tmp.n, sizeof *tmp.v, cmp_str);
        for (size_t i = 0; i < tmp.n; i++)
            sl_push(out, tmp.v[i]);
        sl_free(&tmp);
        *from_folder = 1;
        return 1;
    }
    if (stat(in, &st) == 0)
        return sl_push(out, in);
    if (strpbrk(in, "*?[")) {
        glob_t g;
        if (glob(in, 0, NULL, &g) == 0) {
            for (size_t i = 0; i < g.gl_pathc; i++)
                if (stat(g.gl_pathv[i], &st) == 0 && S_ISREG(st.st_mode))
                    sl_push(out, g.gl_pathv[i]);
            globfree(&g);
            *from_folder = 1;
            return 1;
        }
    }
    fprintf(stderr, "cvm predict: '%s' does not exist\n", in);
    return 0;
}

static int parse_classes(const char *s, int **out, size_t *n)
{
    size_t cap = 8, k = 0;
    int *v = malloc(cap * sizeof *v);
    if (!v)
        return 0;
    while (*s) {
        char *end;
        long x = strtol(s, &end, 10);
        if (end == s || x < 0 || x > 1000000) {
            free(v);
            return 0;
        }
        if (k == cap) {
            int *nv = realloc(v, 2 * cap * sizeof *v);
            if (!nv) {
                free(v);
                return 0;
            }
            v = nv;
            cap *= 2;
        }
        v[k++] = (int)x;
        s = end;
        if (*s == ',')
            s++;
        else if (*s) {
            free(v);
            return 0;
        }
    }
    *out = v;
    *n = k;
    return 1;
}

static void print_text(const char *path, const cvm_result *r)
{
    if (r->task == CVM_TASK_CLASSIFICATION || r->task == CVM_TASK_MULTI_LABEL_CLASSIFICATION) {
        if (r->task == CVM_TASK_CLASSIFICATION && r->top_class >= 0)
            printf("%s: %s %.3f\n", path, r->classes[r->top_class].class_name, r->classes[r->top_class].confidence);
        else {
            printf("%s:", path);
            for (size_t i = 0; i < r->n_predicted; i++)
                printf(" %s %.3f", r->classes[r->predicted[i]].class_name, r->classes[r->predicted[i]].confidence);
            printf("%s\n", r->n_predicted ? "" : " (no class over the threshold)");
        }
        return;
    }
    printf("%s: %zu detection%s\n", path, r->n, r->n == 1 ? "" : "s");
    for (size_t i = 0; i < r->n; i++) {
        const cvm_detection *d = &r->dets[i];
        printf("  %-16s %.3f  [%g, %g, %g, %g]", d->class_name, d->confidence, d->x1, d->y1, d->x2, d->y2);
        if (d->mask) {
            size_t on = 0;
            for (size_t k = 0; k < (size_t)d->mask_w * d->mask_h; k++)
                on += d->mask[k] != 0;
            printf("  mask %zu px", on);
        }
        if (d->keypoints) {
            size_t vis = 0;
            for (size_t k = 0; k < d->n_keypoints; k++)
                vis += d->keypoints[k].confidence > 0;
            printf("  %zu/%zu keypoints", vis, d->n_keypoints);
        }
        printf("\n");
    }
}

static char *json_with_path(const char *json, const char *path)
{
    cJSON *s = cJSON_CreateString(path);
    char *q = s ? cJSON_PrintUnformatted(s) : NULL;
    cJSON_Delete(s);
    if (!q)
        return NULL;
    size_t a = strlen(q), b = strlen(json);
    char *out = malloc(a + b + 16);
    if (out) {
        /* {"path":"...",<the rest of the object> */
        sprintf(out, "{\"path\":%s,%s", q, json + 1);
    }
    free(q);
    return out;
}

static void progress(size_t done, size_t total)
{
    int width = 30, fill = total ? (int)(width * done / total) : width;
    fprintf(stderr, "\r[");
    for (int i = 0; i < width; i++)
        fputc(i < fill ? '#' : '.', stderr);
    fprintf(stderr, "] %zu/%zu", done, total);
    if (done == total)
        fputc('\n', stderr);
    fflush(stderr);
}

static int save_annotated(const char *dir, const char *path, cvm_image *img, const cvm_result *r)
{
    cvm_annotate_options ao;
    cvm_annotate_options_init(&ao);
    if (cvm_annotate(img, r, &ao) != CVM_OK) {
        fprintf(stderr, "cvm predict: annotating %s: %s\n", path, cvm_last_error());
        return 0;
    }
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    int jpg = dot && (!strcmp(dot, ".jpg") || !strcmp(dot, ".jpeg") || !strcmp(dot, ".JPG"));
    size_t stem = dot ? (size_t)(dot - base) : strlen(base);
    char *out = malloc(strlen(dir) + stem + 8);
    if (!out)
        return 0;
    sprintf(out, "%s/%.*s%s", dir, (int)stem, base, jpg ? ".jpg" : ".png");
    int ok = cvm_image_write(img, out, 90) == CVM_OK;
    if (!ok)
        fprintf(stderr, "cvm predict: writing %s: %s\n", out, cvm_last_error());
    free(out);
    return ok;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: cvm predict MODEL INPUT... [--conf F] [--iou F] [--max-det N] [--class-agnostic]\n"
            "                   [--classes 0,2] [--kp-conf F] [--json] [--rle] [--save DIR] [--threads N]\n"
            "                   [--precision fp32|bf16]\n"
            "                   [--arch yolov8 --task object-detection --classes-file names.txt] [--offline]\n"
            "  MODEL: a package folder, a model id, or an .onnx file with --arch/--task\n"
            "  INPUT: image files, folders or glob patterns\n");
}

int cmd_predict(int argc, char **argv)
{
    const char *model_arg = NULL, *save = NULL;
    int json = 0, rle = 0, rc = 1;
    cvm_model_options mo;
    cvm_model_options_init(&mo);
    mo.progress = cli_download_progress;
    cvm_infer_params ip;
    cvm_infer_params_init(&ip);
    int *classes = NULL;
    strlist inputs = {0}, files = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int hv = i + 1 < argc;
        if (!strcmp(a, "--conf") && hv)
            ip.confidence = strtof(argv[++i], NULL);
        else if (!strcmp(a, "--iou") && hv)
            ip.iou = strtof(argv[++i], NULL);
        else if (!strcmp(a, "--kp-conf") && hv)
            ip.keypoint_confidence = strtof(argv[++i], NULL);
        else if (!strcmp(a, "--max-det") && hv)
            ip.max_detections = atoi(argv[++i]);
        else if (!strcmp(a, "--class-agnostic"))
            ip.class_agnostic = 1;
        else if (!strcmp(a, "--classes") && hv) {
            if (!parse_classes(argv[++i], &classes, &ip.n_classes)) {
                fprintf(stderr, "cvm predict: --classes expects ids like 0,2,5\n");
                rc = 2;
                goto out;
            }
            ip.classes = classes;
        } else if (!strcmp(a, "--json"))
            json = 1;
        else if (!strcmp(a, "--rle"))
            rle = 1;
        else if (!strcmp(a, "--save") && hv)
            save = argv[++i];
        else if (!strcmp(a, "--threads") && hv)
            mo.threads = atoi(argv[++i]);
        else if (!strcmp(a, "--precision") && hv) {
            if (!cli_parse_precision("predict", argv[++i], &mo.precision)) {
                rc = 2;
                goto out;
            }
        }
        else if (!strcmp(a, "--arch") && hv)
            mo.architecture = argv[++i];
        else if (!strcmp(a, "--task") && hv) {
            if (cvm_task_parse(argv[++i], &mo.task) != CVM_OK) {
                fprintf(stderr, "cvm predict: %s\n", cvm_last_error());
                rc = 2;
                goto out;
            }
        } else if (!strcmp(a, "--classes-file") && hv)
            mo.class_names_file = argv[++i];
        else if (!strcmp(a, "--offline"))
            mo.offline = 1;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage();
            rc = 0;
            goto out;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "cvm predict: unknown or incomplete option '%s'\n", a);
            usage();
            rc = 2;
            goto out;
        } else if (!model_arg)
            model_arg = a;
        else if (!sl_push(&inputs, a))
            goto out;
    }
    if (!model_arg || !inputs.n) {
        usage();
        rc = 2;
        goto out;
    }
    int folder = 0;
    for (size_t i = 0; i < inputs.n; i++)
        if (!expand_input(inputs.v[i], &files, &folder))
            goto out;
    if (!files.n) {
        fprintf(stderr, "cvm predict: no images found\n");
        goto out;
    }
    if (save && mkdir(save, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "cvm predict: cannot create '%s': %s\n", save, strerror(errno));
        goto out;
    }
    double t0 = cvm_now_ms();
    cvm_model *m = NULL;
    if (cvm_model_load(model_arg, &mo, &m) != CVM_OK) {
        fprintf(stderr, "cvm predict: %s\n", cvm_last_error());
        goto out;
    }
    double load_ms = cvm_now_ms() - t0;
    int show_progress = folder && files.n > 1 && isatty(2);
    cvm_stage_times sum = {0, 0, 0};
    double decode_ms = 0;
    size_t done = 0, failed = 0;
    for (size_t i = 0; i < files.n; i++) {
        cvm_image *img = NULL;
        cvm_result *r = NULL;
        double d0 = cvm_now_ms();
        if (cvm_image_read(files.v[i], NULL, &img) != CVM_OK) {
            fprintf(stderr, "%scvm predict: %s: %s\n", show_progress ? "\n" : "", files.v[i], cvm_last_error());
            failed++;
            continue;
        }
        decode_ms += cvm_now_ms() - d0;
        if (cvm_model_infer(m, img, &ip, &r) != CVM_OK) {
            fprintf(stderr, "%scvm predict: %s: %s\n", show_progress ? "\n" : "", files.v[i], cvm_last_error());
            cvm_image_free(img);
            failed++;
            continue;
        }
        sum.preprocess_ms += r->times.preprocess_ms;
        sum.inference_ms += r->times.inference_ms;
        sum.postprocess_ms += r->times.postprocess_ms;
        if (json) {
            char *js = NULL;
            if (cvm_result_to_json(r, rle, &js) == CVM_OK) {
                char *line = files.n > 1 ? json_with_path(js, files.v[i]) : NULL;
                printf("%s\n", line ? line : js);
                free(line);
                cvm_free(js);
            } else {
                fprintf(stderr, "cvm predict: %s: %s\n", files.v[i], cvm_last_error());
                failed++;
            }
        } else if (!show_progress) {
            print_text(files.v[i], r);
        }
        if (save && !save_annotated(save, files.v[i], img, r))
            failed++;
        cvm_result_free(r);
        cvm_image_free(img);
        done++;
        if (show_progress)
            progress(i + 1, files.n);
    }
    fflush(stdout);
    if (done) {
        double n = (double)done;
        fprintf(stderr,
                "%zu image%s (load %.1f ms): decode %.1f ms, pre-process %.1f ms, inference %.1f ms, "
                "post-process %.1f ms per image\n",
                done, done == 1 ? "" : "s", load_ms, decode_ms / n, sum.preprocess_ms / n, sum.inference_ms / n,
                sum.postprocess_ms / n);
    }
    cvm_model_free(m);
    rc = failed ? 1 : 0;
out:
    free(classes);
    sl_free(&inputs);
    sl_free(&files);
    return rc;
}
