/* `cvm package create|check`: build a local package folder from an ONNX
 * file and a class list, or check that one loads. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "models/model.h"
#include "models/package.h"

/* mkdir -p: creates the folder and any missing parents. */
static int make_dirs(const char *path)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) {
        errno = ENAMETOOLONG;
        return 0;
    }
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char c = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return 0;
        buf[i] = c;
    }
    return 1;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: cvm package create --arch A --task T --weights X.onnx --classes NAMES.txt --out DIR\n"
            "                          [--size N | --size WxH] [--resize stretch|letterbox|center-crop|fit-longer-edge]\n"
            "                          [--pad V] [--color rgb|bgr] [--scale F | --no-scale]\n"
            "                          [--norm m0,m1,m2,s0,s1,s2] [--keypoints META.json] [--fused] [--link]\n"
            "       cvm package check DIR\n");
}

static int copy_file(const char *from, const char *to)
{
    FILE *a = fopen(from, "rb");
    if (!a) {
        fprintf(stderr, "cvm package: cannot open '%s': %s\n", from, strerror(errno));
        return 0;
    }
    FILE *b = fopen(to, "wb");
    if (!b) {
        fprintf(stderr, "cvm package: cannot create '%s': %s\n", to, strerror(errno));
        fclose(a);
        return 0;
    }
    char buf[1 << 16];
    size_t n;
    int ok = 1;
    while ((n = fread(buf, 1, sizeof buf, a)) > 0)
        if (fwrite(buf, 1, n, b) != n) {
            ok = 0;
            break;
        }
    ok = ok && !ferror(a);
    fclose(a);
    if (fclose(b) != 0)
        ok = 0;
    if (!ok)
        fprintf(stderr, "cvm package: copying '%s' to '%s' failed\n", from, to);
    return ok;
}

static int write_json(const char *dir, const char *name, cJSON *j)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *s = cJSON_Print(j);
    if (!s)
        return 0;
    FILE *f = fopen(path, "wb");
    int ok = f && fputs(s, f) >= 0 && fputc('\n', f) != EOF;
    if (f && fclose(f) != 0)
        ok = 0;
    if (!ok)
        fprintf(stderr, "cvm package: cannot write '%s'\n", path);
    free(s);
    return ok;
}

static int create(int argc, char **argv)
{
    const char *arch = NULL, *task_s = NULL, *weights = NULL, *classes = NULL, *out = NULL, *resize = "letterbox";
    const char *color = "rgb", *norm = NULL, *kp = NULL;
    int w = 640, h = 640, pad = -1, link_weights = 0, no_scale = 0, fused = 0;
    double scale = 255;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        int hv = i + 1 < argc;
        if (!strcmp(a, "--arch") && hv)
            arch = argv[++i];
        else if (!strcmp(a, "--task") && hv)
            task_s = argv[++i];
        else if (!strcmp(a, "--weights") && hv)
            weights = argv[++i];
        else if (!strcmp(a, "--classes") && hv)
            classes = argv[++i];
        else if (!strcmp(a, "--out") && hv)
            out = argv[++i];
        else if (!strcmp(a, "--resize") && hv)
            resize = argv[++i];
        else if (!strcmp(a, "--color") && hv)
            color = argv[++i];
        else if (!strcmp(a, "--norm") && hv)
            norm = argv[++i];
        else if (!strcmp(a, "--keypoints") && hv)
            kp = argv[++i];
        else if (!strcmp(a, "--pad") && hv)
            pad = atoi(argv[++i]);
        else if (!strcmp(a, "--scale") && hv)
            scale = strtod(argv[++i], NULL);
        else if (!strcmp(a, "--no-scale"))
            no_scale = 1;
        else if (!strcmp(a, "--fused"))
            fused = 1;
        else if (!strcmp(a, "--link"))
            link_weights = 1;
        else if (!strcmp(a, "--size") && hv) {
            const char *s = argv[++i];
            if (sscanf(s, "%dx%d", &w, &h) != 2) {
                w = h = atoi(s);
            }
            if (w < 1 || h < 1 || w > 16384 || h > 16384) {
                fprintf(stderr, "cvm package: --size '%s' is not N or WxH\n", s);
                return 2;
            }
        } else {
            fprintf(stderr, "cvm package create: unknown or incomplete option '%s'\n", a);
            usage();
            return 2;
        }
    }
    if (!arch || !task_s || !weights || !classes || !out) {
        usage();
        return 2;
    }
    cvm_task task;
    if (cvm_task_parse(task_s, &task) != CVM_OK) {
        fprintf(stderr, "cvm package: %s\n", cvm_last_error());
        return 2;
    }
    if (task == CVM_TASK_KEYPOINT_DETECTION && !kp) {
        fprintf(stderr, "cvm package: keypoint-detection needs --keypoints keypoints_metadata.json\n");
        return 2;
    }
    static const char *modes[] = {"stretch", "letterbox", "center-crop", "fit-longer-edge", "letterbox-reflect-edges"};
    int mode_ok = 0;
    for (int i = 0; i < 5; i++)
        mode_ok |= !strcmp(resize, modes[i]);
    if (!mode_ok || (strcmp(color, "rgb") && strcmp(color, "bgr"))) {
        fprintf(stderr, "cvm package: --resize must be one of stretch, letterbox, center-crop, fit-longer-edge, "
                        "letterbox-reflect-edges and --color rgb or bgr\n");
        return 2;
    }
    float nv[6];
    if (norm && sscanf(norm, "%f,%f,%f,%f,%f,%f", &nv[0], &nv[1], &nv[2], &nv[3], &nv[4], &nv[5]) != 6) {
        fprintf(stderr, "cvm package: --norm expects six numbers m0,m1,m2,s0,s1,s2\n");
        return 2;
    }
    if (!make_dirs(out)) {
        fprintf(stderr, "cvm package: cannot create '%s': %s\n", out, strerror(errno));
        return 1;
    }
    /* model_config.json as the reference writes it for local packages. */
    cJSON *mc = cJSON_CreateObject();
    cJSON_AddStringToObject(mc, "model_architecture", arch);
    cJSON_AddStringToObject(mc, "task_type", cvm_task_string(task));
    cJSON_AddStringToObject(mc, "backend_type", "onnx");
    int ok = write_json(out, "model_config.json", mc);
    cJSON_Delete(mc);
    cJSON *ic = cJSON_CreateObject();
    cJSON *ni = cJSON_AddObjectToObject(ic, "network_input");
    cJSON *tis = cJSON_AddObjectToObject(ni, "training_input_size");
    cJSON_AddNumberToObject(tis, "height", h);
    cJSON_AddNumberToObject(tis, "width", w);
    cJSON_AddBoolToObject(ni, "dynamic_spatial_size_supported", 0);
    cJSON_AddStringToObject(ni, "color_mode", color);
    cJSON_AddStringToObject(ni, "resize_mode", resize);
    if (pad >= 0)
        cJSON_AddNumberToObject(ni, "padding_value", pad);
    else
        cJSON_AddNullToObject(ni, "padding_value");
    cJSON_AddNumberToObject(ni, "input_channels", 3);
    if (no_scale)
        cJSON_AddNullToObject(ni, "scaling_factor");
    else
        cJSON_AddNumberToObject(ni, "scaling_factor", scale);
    if (norm) {
        cJSON *n = cJSON_AddArrayToObject(ni, "normalization");
        cJSON_AddItemToArray(n, cJSON_CreateFloatArray(nv, 3));
        cJSON_AddItemToArray(n, cJSON_CreateFloatArray(nv + 3, 3));
    } else {
        cJSON_AddNullToObject(ni, "normalization");
    }
    cJSON *pp = cJSON_AddObjectToObject(ic, "post_processing");
    const char *pt = task == CVM_TASK_CLASSIFICATION ? "softmax"
                     : task == CVM_TASK_MULTI_LABEL_CLASSIFICATION ? "sigmoid"
                                                                  : "nms";
    cJSON_AddStringToObject(pp, "type", pt);
    cJSON_AddBoolToObject(pp, "fused", fused);
    ok = ok && write_json(out, "inference_config.json", ic);
    cJSON_Delete(ic);
    char path[4096];
    snprintf(path, sizeof path, "%s/class_names.txt", out);
    ok = ok && copy_file(classes, path);
    if (kp) {
        snprintf(path, sizeof path, "%s/keypoints_metadata.json", out);
        ok = ok && copy_file(kp, path);
    }
    snprintf(path, sizeof path, "%s/weights.onnx", out);
    if (ok && link_weights) {
        char *abs = realpath(weights, NULL);
        unlink(path);
        if (!abs || symlink(abs, path) != 0) {
            fprintf(stderr, "cvm package: cannot link '%s': %s\n", weights, strerror(errno));
            ok = 0;
        }
        free(abs);
    } else if (ok) {
        ok = copy_file(weights, path);
    }
    if (!ok)
        return 1;
    /* The package must load: catch a wrong size or class count now. */
    cvm_model *m;
    if (cvm_model_load(out, NULL, &m) != CVM_OK) {
        fprintf(stderr, "cvm package: the package was written but does not load: %s\n", cvm_last_error());
        return 1;
    }
    cvm_model_free(m);
    printf("%s: %s %s package, %dx%d %s\n", out, arch, cvm_task_string(task), w, h, resize);
    return 0;
}

static int check(int argc, char **argv)
{
    if (argc != 3) {
        usage();
        return 2;
    }
    cvm_model *m;
    if (cvm_model_load(argv[2], NULL, &m) != CVM_OK) {
        fprintf(stderr, "%s: %s\n", argv[2], cvm_last_error());
        return 1;
    }
    cvm_model_info info;
    cvm_model_get_info(m, &info);
    printf("%s: ok (%s, %s, %zu classes, input %dx%d %s)\n", argv[2], info.architecture, cvm_task_string(info.task),
           info.n_classes, m->pkg->pre.width, m->pkg->pre.height, cvm_resize_mode_string(m->pkg->pre.resize));
    cvm_model_free(m);
    return 0;
}

int cmd_package(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "create"))
        return create(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "check"))
        return check(argc, argv);
    usage();
    return 2;
}
