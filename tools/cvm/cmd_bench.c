/* `cvm bench`: time a raw ONNX graph or a vision model.
 *
 *   cvm bench MODEL.onnx [--threads N] [--runs K] [--warmup W] [--shape NAME=D0xD1x...]...
 *                        [--precision fp32|bf16] [--json]
 *   cvm bench MODEL --image FILE [--threads N] [--runs K] [--warmup W] [--conf F]
 *                        [--precision fp32|bf16] [--json]
 *             [--arch A --task T --classes-file F] [--offline]
 *
 * A raw graph (an .onnx file without --arch) is fed the test pattern
 * ((c*97 + h*13 + w*7) % 256) / 255 (the same as `cvm run`) on float inputs
 * and zeros on integer ones; the time is one session run.
 *
 * A vision model (a package folder, a model id, or an .onnx file with
 * --arch/--task, resolved as `cvm predict` does) is run on one decoded image;
 * each run is one cvm_model_infer, split into the pre-processing, inference
 * and post-processing times the library reports in cvm_result.times.  The
 * image is decoded once: decoding is not part of a run.
 *
 * Both report the load time (session build, or the whole model load), the
 * median and 90th percentile of K timed runs after W untimed ones, and the
 * peak resident memory of the process. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "base/tensor.h"
#include "cli_common.h"
#include "commands.h"
#include "cvm/cvm.h"
#include "cvm/vision.h"
#include "models/package.h"
#include "progress.h"

#define BENCH_MAX_SHAPES 32

typedef struct bench_args {
    const char *model, *image;
    const char *shape_names[BENCH_MAX_SHAPES], *shape_vals[BENCH_MAX_SHAPES];
    int n_shapes, runs, warmup, threads, json, optimize;
    float conf;
    cvm_model_options mo;
} bench_args;

/* Median, 90th percentile and minimum of one series of timings. */
typedef struct bench_stat {
    double median, p90, min;
} bench_stat;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Sorts v in place.  The p90 is the nearest-rank percentile. */
static bench_stat bench_summarize(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    bench_stat s;
    s.median = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    int i = (int)(0.9 * (n - 1) + 0.5);
    s.p90 = v[i < 0 ? 0 : i >= n ? n - 1 : i];
    s.min = v[0];
    return s;
}

static double peak_rss_mb(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0.0;
    return ru.ru_maxrss / 1024.0; /* Linux reports kilobytes */
}

static void json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static int bench_int(const char *opt, const char *v, int min, int *out)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (end == v || *end || errno || x < min || x > 1000000) {
        fprintf(stderr, "cvm bench: %s expects an integer >= %d, got '%s'\n", opt, min, v);
        return 0;
    }
    *out = (int)x;
    return 1;
}

static void bench_usage(void)
{
    fprintf(stderr,
            "usage: cvm bench MODEL.onnx [--threads N] [--runs K] [--warmup W] "
            "[--shape NAME=1x3x640x640]... [--precision fp32|bf16] [--json]\n"
            "       cvm bench MODEL --image FILE [--threads N] [--runs K] [--warmup W] [--conf F] [--json]\n"
            "                 [--precision fp32|bf16] [--arch yolov8 --task object-detection --classes-file names.txt] [--offline]\n"
            "  a raw .onnx (no --arch) is timed as one graph run on the test pattern; a package\n"
            "  folder, a model id or an .onnx with --arch/--task is timed as a vision model on the\n"
            "  image, split into pre-processing, inference and post-processing\n");
}

/* Returns 0 on success, else the exit code. */
static int bench_parse(int argc, char **argv, bench_args *a)
{
    memset(a, 0, sizeof *a);
    a->runs = 20;
    a->warmup = 3;
    a->threads = 1;
    a->optimize = 1;
    a->conf = -1.0f;
    cvm_model_options_init(&a->mo);
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        int has_val = i + 1 < argc;
        if (strcmp(o, "--threads") == 0 && has_val) {
            if (!bench_int(o, argv[++i], 1, &a->threads))
                return 2;
        } else if (strcmp(o, "--precision") == 0 && has_val) {
            if (!cli_parse_precision("bench", argv[++i], &a->mo.precision))
                return 2;
        } else if (strcmp(o, "--runs") == 0 && has_val) {
            if (!bench_int(o, argv[++i], 1, &a->runs))
                return 2;
        } else if (strcmp(o, "--warmup") == 0 && has_val) {
            if (!bench_int(o, argv[++i], 0, &a->warmup))
                return 2;
        } else if (strcmp(o, "--shape") == 0 && has_val) {
            char *eq = strchr(argv[++i], '=');
            if (!eq || eq == argv[i] || a->n_shapes == BENCH_MAX_SHAPES) {
                fprintf(stderr, "cvm bench: --shape expects NAME=D0xD1x..., got '%s'\n", argv[i]);
                return 2;
            }
            *eq = '\0';
            a->shape_names[a->n_shapes] = argv[i];
            a->shape_vals[a->n_shapes++] = eq + 1;
        } else if (strcmp(o, "--image") == 0 && has_val) {
            a->image = argv[++i];
        } else if (strcmp(o, "--conf") == 0 && has_val) {
            char *end;
            errno = 0;
            a->conf = strtof(argv[++i], &end);
            if (end == argv[i] || *end || errno || !(a->conf >= 0.0f && a->conf <= 1.0f)) {
                fprintf(stderr, "cvm bench: --conf expects a number in [0, 1], got '%s'\n", argv[i]);
                return 2;
            }
        } else if (strcmp(o, "--arch") == 0 && has_val) {
            a->mo.architecture = argv[++i];
        } else if (strcmp(o, "--task") == 0 && has_val) {
            if (cvm_task_parse(argv[++i], &a->mo.task) != CVM_OK) {
                fprintf(stderr, "cvm bench: %s\n", cvm_last_error());
                return 2;
            }
        } else if (strcmp(o, "--classes-file") == 0 && has_val) {
            a->mo.class_names_file = argv[++i];
        } else if (strcmp(o, "--offline") == 0) {
            a->mo.offline = 1;
        } else if (strcmp(o, "--json") == 0) {
            a->json = 1;
        } else if (strcmp(o, "--no-optimize") == 0) {
            a->optimize = 0;
        } else if (strcmp(o, "-h") == 0 || strcmp(o, "--help") == 0) {
            bench_usage();
            return -1;
        } else if (o[0] == '-') {
            fprintf(stderr, "cvm bench: unknown or incomplete option '%s'\n", o);
            return 2;
        } else if (!a->model) {
            a->model = o;
        } else {
            fprintf(stderr, "cvm bench: unexpected argument '%s'\n", o);
            return 2;
        }
    }
    if (!a->model) {
        bench_usage();
        return 2;
    }
    return 0;
}

/* A regular file without --arch is a raw graph; a folder, a model id or a
 * file with --arch is a vision model (cvm_model_load decides the rest). */
static int is_raw_graph(const bench_args *a)
{
    struct stat st;
    return !a->mo.architecture && stat(a->model, &st) == 0 && S_ISREG(st.st_mode);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static int bench_raw(bench_args *a)
{
    int rc = 1;
    cvm_session_options opts;
    cvm_session_options_init(&opts);
    opts.threads = a->threads;
    opts.optimize = a->optimize;
    opts.precision = a->mo.precision;
    double *times = malloc(sizeof(double) * (size_t)a->runs);
    if (!times) {
        fprintf(stderr, "cvm bench: out of memory\n");
        return 1;
    }
    cvm_session *s = NULL;
    size_t n_in = 0, n_out = 0;
    cvm_tensor **inputs = NULL, **outputs = NULL;
    const char **names = NULL;
    double t0 = cli_now_ms();
    if (cvm_session_create(a->model, &opts, &s) != CVM_OK) {
        fprintf(stderr, "cvm bench: %s\n", cvm_last_error());
        free(times);
        return 1;
    }
    double load_ms = cli_now_ms() - t0;
    cvm_session_input_count(s, &n_in);
    cvm_session_output_count(s, &n_out);
    inputs = calloc(n_in + 1, sizeof *inputs);
    outputs = calloc(n_out + 1, sizeof *outputs);
    names = calloc(n_in + 1, sizeof *names);
    if (!inputs || !outputs || !names) {
        fprintf(stderr, "cvm bench: out of memory\n");
        goto done;
    }
    for (size_t k = 0; k < n_in; k++) {
        cvm_value_info vi;
        cvm_session_input_info(s, k, &vi);
        names[k] = vi.name;
        int ndim = vi.ndim;
        int64_t dims[CVM_MAX_DIMS];
        for (int d = 0; d < ndim && d < CVM_MAX_DIMS; d++)
            dims[d] = vi.dims[d];
        for (int i = 0; i < a->n_shapes; i++)
            if (strcmp(a->shape_names[i], vi.name) == 0 && !cli_parse_dims(a->shape_vals[i], &ndim, dims)) {
                fprintf(stderr, "cvm bench: --shape %s=%s is not a list of dims like 1x3x640x640\n",
                        a->shape_names[i], a->shape_vals[i]);
                goto done;
            }
        int symbolic = ndim < 0;
        for (int d = 0; d < ndim; d++)
            symbolic |= dims[d] < 0;
        if (symbolic) {
            fprintf(stderr, "cvm bench: input '%s' has symbolic dims; give its shape with --shape "
                            "%s=D0xD1x...\n", vi.name, vi.name);
            goto done;
        }
        if (cvm_tensor_create(vi.dtype, ndim, dims, &inputs[k]) != CVM_OK) {
            fprintf(stderr, "cvm bench: input '%s': %s\n", vi.name, cvm_last_error());
            goto done;
        }
        if (cvm_dtype_is_float(vi.dtype))
            cli_fill_pattern(inputs[k]);
        else if (inputs[k]->nbytes)
            memset(inputs[k]->data, 0, inputs[k]->nbytes);
    }
    for (int r = 0; r < a->warmup + a->runs; r++) {
        for (size_t k = 0; k < n_out; k++) {
            cvm_tensor_free(outputs[k]);
            outputs[k] = NULL;
        }
        double t1 = cli_now_ms();
        if (cvm_session_run(s, n_in, names, (const cvm_tensor *const *)inputs, n_out, NULL,
                            outputs) != CVM_OK) {
            fprintf(stderr, "cvm bench: %s\n", cvm_last_error());
            goto done;
        }
        double dt = cli_now_ms() - t1;
        if (r >= a->warmup)
            times[r - a->warmup] = dt;
    }
    bench_stat st = bench_summarize(times, a->runs);
    double rss_mb = peak_rss_mb();
    if (a->json) {
        printf("{\"model\": ");
        json_string(a->model);
        printf(", \"load_ms\": %.3f, \"median_ms\": %.3f, \"p90_ms\": %.3f, \"min_ms\": %.3f, "
               "\"runs\": %d, \"warmup\": %d, \"threads\": %d, \"precision\": \"%s\", "
               "\"peak_rss_mb\": %.1f}\n",
               load_ms, st.median, st.p90, st.min, a->runs, a->warmup, a->threads,
               cli_precision_name(a->mo.precision), rss_mb);
    } else {
        printf("model: %s\n", a->model);
        printf("load: %.1f ms\n", load_ms);
        printf("run: median %.2f ms, p90 %.2f ms, min %.2f ms (%d runs after %d warm-up, %d "
               "thread%s, %s)\n", st.median, st.p90, st.min, a->runs, a->warmup, a->threads,
               a->threads > 1 ? "s" : "", cli_precision_detail(a->mo.precision));
        printf("peak RSS: %.1f MiB\n", rss_mb);
    }
    rc = 0;
done:
    for (size_t k = 0; k < n_in && inputs; k++)
        cvm_tensor_free(inputs[k]);
    for (size_t k = 0; k < n_out && outputs; k++)
        cvm_tensor_free(outputs[k]);
    free(inputs);
    free(outputs);
    free(names);
    free(times);
    cvm_session_free(s);
    return rc;
}

static void json_stat(const char *key, bench_stat s)
{
    printf(", \"%s\": {\"median\": %.3f, \"p90\": %.3f, \"min\": %.3f}", key, s.median, s.p90, s.min);
}

static int bench_model(bench_args *a)
{
    if (a->n_shapes) {
        fprintf(stderr, "cvm bench: --shape applies to raw ONNX graphs; a vision model takes its input "
                        "size from its package\n");
        return 2;
    }
    if (!a->image) {
        fprintf(stderr, "cvm bench: '%s' is timed as a vision model, which needs an image: add --image "
                        "FILE (e.g. --image ../shared/images/dog.jpg)\n", a->model);
        return 2;
    }
    int rc = 1;
    cvm_image *img = NULL;
    cvm_model *m = NULL;
    double *buf = malloc(4 * sizeof(double) * (size_t)a->runs);
    if (!buf) {
        fprintf(stderr, "cvm bench: out of memory\n");
        return 1;
    }
    double *pre = buf, *inf = buf + a->runs, *post = buf + 2 * a->runs, *total = buf + 3 * a->runs;
    /* The image first: a wrong path should not cost a model download. */
    double t0 = cli_now_ms();
    if (cvm_image_read(a->image, NULL, &img) != CVM_OK) {
        fprintf(stderr, "cvm bench: %s\n", cvm_last_error()); /* names the file */
        goto done;
    }
    double decode_ms = cli_now_ms() - t0;
    cvm_image_view view;
    if (cvm_image_get_view(img, &view) != CVM_OK) {
        fprintf(stderr, "cvm bench: image '%s': %s\n", a->image, cvm_last_error());
        goto done;
    }
    a->mo.threads = a->threads;
    a->mo.progress = cli_download_progress;
    t0 = cli_now_ms();
    if (cvm_model_load(a->model, &a->mo, &m) != CVM_OK) {
        fprintf(stderr, "cvm bench: %s\n", cvm_last_error());
        goto done;
    }
    double load_ms = cli_now_ms() - t0;
    cvm_infer_params ip;
    cvm_infer_params_init(&ip);
    ip.confidence = a->conf;
    size_t n_found = 0;
    for (int r = 0; r < a->warmup + a->runs; r++) {
        cvm_result *res = NULL;
        double t1 = cli_now_ms();
        if (cvm_model_infer(m, img, &ip, &res) != CVM_OK) {
            fprintf(stderr, "cvm bench: %s: %s\n", a->image, cvm_last_error());
            goto done;
        }
        double dt = cli_now_ms() - t1;
        n_found = res->task == CVM_TASK_CLASSIFICATION               ? (size_t)(res->top_class >= 0)
                  : res->task == CVM_TASK_MULTI_LABEL_CLASSIFICATION ? res->n_predicted
                                                                     : res->n;
        if (r >= a->warmup) {
            int k = r - a->warmup;
            pre[k] = res->times.preprocess_ms;
            inf[k] = res->times.inference_ms;
            post[k] = res->times.postprocess_ms;
            total[k] = dt;
        }
        cvm_result_free(res);
    }
    bench_stat s_pre = bench_summarize(pre, a->runs), s_inf = bench_summarize(inf, a->runs);
    bench_stat s_post = bench_summarize(post, a->runs), s_tot = bench_summarize(total, a->runs);
    double rss_mb = peak_rss_mb();
    cvm_model_info info;
    cvm_model_get_info(m, &info);
    const char *task = cvm_task_string(info.task);
    if (a->json) {
        printf("{\"model\": ");
        json_string(a->model);
        printf(", \"architecture\": ");
        json_string(info.architecture ? info.architecture : "");
        printf(", \"task\": ");
        json_string(task ? task : "");
        printf(", \"image\": ");
        json_string(a->image);
        printf(", \"image_width\": %d, \"image_height\": %d, \"decode_ms\": %.3f", view.width, view.height,
               decode_ms);
        printf(", \"load_ms\": %.3f, \"median_ms\": %.3f, \"p90_ms\": %.3f, \"min_ms\": %.3f", load_ms,
               s_tot.median, s_tot.p90, s_tot.min);
        json_stat("pre_ms", s_pre);
        json_stat("infer_ms", s_inf);
        json_stat("post_ms", s_post);
        printf(", \"results\": %zu, \"runs\": %d, \"warmup\": %d, \"threads\": %d, \"precision\": \"%s\", "
               "\"peak_rss_mb\": %.1f}\n",
               n_found, a->runs, a->warmup, a->threads, cli_precision_name(a->mo.precision), rss_mb);
    } else {
        printf("model: %s (%s, %s, %zu classes)\n", a->model, info.architecture, task ? task : "?",
               info.n_classes);
        printf("image: %s (%dx%d, decoded once in %.1f ms)\n", a->image, view.width, view.height, decode_ms);
        printf("load: %.1f ms\n", load_ms);
        printf("%-14s %9s %9s %9s\n", "per run (ms)", "median", "p90", "min");
        printf("%-14s %9.2f %9.2f %9.2f\n", "pre-process", s_pre.median, s_pre.p90, s_pre.min);
        printf("%-14s %9.2f %9.2f %9.2f\n", "inference", s_inf.median, s_inf.p90, s_inf.min);
        printf("%-14s %9.2f %9.2f %9.2f\n", "post-process", s_post.median, s_post.p90, s_post.min);
        printf("%-14s %9.2f %9.2f %9.2f\n", "total", s_tot.median, s_tot.p90, s_tot.min);
        printf("%d runs after %d warm-up, %d thread%s, %s; %zu result%s on the last run\n", a->runs,
               a->warmup, a->threads, a->threads > 1 ? "s" : "", cli_precision_detail(a->mo.precision),
               n_found, n_found == 1 ? "" : "s");
        printf("peak RSS: %.1f MiB\n", rss_mb);
    }
    rc = 0;
done:
    cvm_model_free(m);
    cvm_image_free(img);
    free(buf);
    return rc;
}

int cmd_bench(int argc, char **argv)
{
    bench_args a;
    int rc = bench_parse(argc, argv, &a);
    if (rc)
        return rc < 0 ? 0 : rc;
    struct stat st;
    /* A mistyped file name would otherwise be looked up as a model id. */
    if (ends_with(a.model, ".onnx") && stat(a.model, &st) != 0) {
        fprintf(stderr, "cvm bench: '%s': %s\n", a.model, strerror(errno));
        return 1;
    }
    if (is_raw_graph(&a)) {
        if (a.image) {
            fprintf(stderr, "cvm bench: '%s' is a bare ONNX file; to time it as a vision model on "
                            "--image, say what it is with --arch (e.g. yolov8) and --task\n", a.model);
            return 2;
        }
        return bench_raw(&a);
    }
    return bench_model(&a);
}
