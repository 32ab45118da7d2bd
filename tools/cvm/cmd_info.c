/* `cvm info MODEL`: what a package or model id resolves to and how it is fed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>

#include "commands.h"
#include "hub/hub.h"
#include "progress.h"
#include "models/model.h"

int cmd_info(int argc, char **argv)
{
    const char *model = NULL;
    cvm_model_options mo;
    cvm_model_options_init(&mo);
    mo.progress = cli_download_progress;
    int verbose = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int hv = i + 1 < argc;
        if (!strcmp(a, "--arch") && hv)
            mo.architecture = argv[++i];
        else if (!strcmp(a, "--task") && hv) {
            if (cvm_task_parse(argv[++i], &mo.task) != CVM_OK) {
                fprintf(stderr, "cvm info: %s\n", cvm_last_error());
                return 2;
            }
        } else if (!strcmp(a, "--classes-file") && hv)
            mo.class_names_file = argv[++i];
        else if (!strcmp(a, "--offline"))
            mo.offline = 1;
        else if (!strcmp(a, "--verbose") || !strcmp(a, "-v"))
            verbose = 1;
        else if (a[0] == '-' || model) {
            fprintf(stderr, "usage: cvm info MODEL [--verbose] [--arch A --task T --classes-file F] [--offline]\n");
            return 2;
        } else
            model = a;
    }
    if (!model) {
        fprintf(stderr, "usage: cvm info MODEL [--verbose] [--arch A --task T --classes-file F] [--offline]\n");
        return 2;
    }
    struct stat st;
    if (verbose && stat(model, &st) != 0) {
        /* A model id: show how the hub chose among its packages, also when
         * none of them can run here. */
        cvm_hub_request req;
        memset(&req, 0, sizeof req);
        req.model_id = model;
        req.offline = mo.offline;
        req.verbose = 1;
        req.progress = cli_download_progress;
        char *dir = NULL, *report = NULL;
        cvm_status hs = cvm_hub_resolve(&req, &dir, &report);
        if (report && (hs == CVM_OK || strcmp(report, cvm_last_error()) != 0))
            printf("%s\n", report);
        free(report);
        free(dir);
        if (hs != CVM_OK) {
            fprintf(stderr, "cvm info: %s\n", cvm_last_error());
            return 1;
        }
    }
    cvm_model *m;
    if (cvm_model_load(model, &mo, &m) != CVM_OK) {
        fprintf(stderr, "cvm info: %s\n", cvm_last_error());
        return 1;
    }
    cvm_model_info info;
    cvm_model_get_info(m, &info);
    const cvm_preproc_config *c = &m->pkg->pre;
    printf("model:          %s\n", model);
    printf("source:         %s\n", info.package_dir);
    printf("weights:        %s\n", m->pkg->weights);
    printf("architecture:   %s\n", info.architecture);
    printf("task:           %s\n", cvm_task_string(info.task));
    printf("backend:        %s (ONNX on the cvmodels engine)\n", info.backend);
    printf("input:          '%s' %dx%d %s, %s", m->input_name, c->width, c->height, cvm_resize_mode_string(c->resize),
           c->bgr ? "bgr" : "rgb");
    if (c->resize == CVM_RESIZE_LETTERBOX || c->resize == CVM_RESIZE_LETTERBOX_REFLECT_EDGES)
        printf(", pad %d", c->padding_value);
    if (c->scaling_factor > 0)
        printf(", /%g", c->scaling_factor);
    if (c->has_norm)
        printf(", mean %g,%g,%g std %g,%g,%g", c->mean[0], c->mean[1], c->mean[2], c->std[0], c->std[1], c->std[2]);
    printf("\n");
    if (c->crop_enabled)
        printf("static crop:    x %d..%d%%, y %d..%d%%\n", c->crop_x_min, c->crop_x_max, c->crop_y_min, c->crop_y_max);
    if (c->grayscale)
        printf("grayscale:      yes\n");
    if (c->dvr_width)
        printf("resize dims:    %dx%d (two-step)\n", c->dvr_width, c->dvr_height);
    printf("outputs:       ");
    for (size_t i = 0; i < m->n_out; i++) {
        const cvm_value_info *o = &m->out_info[i];
        printf(" '%s' [", o->name);
        for (int d = 0; d < o->ndim; d++)
            printf("%s%lld", d ? "," : "", (long long)o->dims[d]);
        printf("]");
    }
    printf("\n");
    printf("defaults:       confidence %g", m->def_conf);
    if (info.task == CVM_TASK_OBJECT_DETECTION || info.task == CVM_TASK_INSTANCE_SEGMENTATION ||
        info.task == CVM_TASK_KEYPOINT_DETECTION)
        printf(", iou %g, max detections %d", m->def_iou, m->def_max_det);
    printf("%s\n", m->pkg->post_fused ? " (fused post-processing)" : "");
    printf("classes:        %zu:", info.n_classes);
    for (size_t i = 0; i < info.n_classes; i++) {
        if (i == 20) {
            printf(" ... (%zu more)", info.n_classes - 20);
            break;
        }
        printf(" %s%s", info.class_names[i], i + 1 < info.n_classes ? "," : "");
    }
    printf("\n");
    if (m->pkg->n_kp)
        for (size_t k = 0; k < m->pkg->n_kp; k++)
            printf("keypoints:      class %d: %zu points, %zu edges\n", m->pkg->kp[k].class_id, m->pkg->kp[k].n,
                   m->pkg->kp[k].n_edges);
    cvm_model_free(m);
    return 0;
}
