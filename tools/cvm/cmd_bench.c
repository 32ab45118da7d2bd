/* `cvm bench`: time session creation and inference of an ONNX file.
 *
 *   cvm bench MODEL.onnx [--threads N] [--runs K] [--warmup W] [--shape NAME=D0xD1x...]... [--json]
 *
 * Float inputs get the test pattern ((c*97 + h*13 + w*7) % 256) / 255 (the
 * same as `cvm run`), integer inputs zeros.  Reports the median and 90th
 * percentile of K timed runs after W untimed ones, and the peak resident
 * memory of the process. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "base/tensor.h"
#include "cli_common.h"
#include "commands.h"
#include "cvm/cvm.h"



#define BENCH_MAX_SHAPES 32

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v[0..n-1]. */
static double bench_pct(const double *v, int n, double q)
{
    int i = (int)(q * (n - 1) + 0.5);
    return v[i < 0 ? 0 : i >= n ? n - 1 : i];
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

int cmd_bench(int argc, char **argv)
{
    const char *model = NULL, *shape_names[BENCH_MAX_SHAPES], *shape_vals[BENCH_MAX_SHAPES];
    int n_shapes = 0, runs = 20, warmup = 3, json = 0, rc = 1;
    cvm_session_options opts;
    cvm_session_options_init(&opts);
    opts.threads = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_val = i + 1 < argc;
        if (strcmp(a, "--threads") == 0 && has_val) {
            if (!bench_int(a, argv[++i], 1, &opts.threads))
                return 2;
        } else if (strcmp(a, "--runs") == 0 && has_val) {
            if (!bench_int(a, argv[++i], 1, &runs))
                return 2;
        } else if (strcmp(a, "--warmup") == 0 && has_val) {
            if (!bench_int(a, argv[++i], 0, &warmup))
                return 2;
        } else if (strcmp(a, "--shape") == 0 && has_val) {
            char *eq = strchr(argv[++i], '=');
            if (!eq || eq == argv[i] || n_shapes == BENCH_MAX_SHAPES) {
                fprintf(stderr, "cvm bench: --shape expects NAME=D0xD1x..., got '%s'\n", argv[i]);
                return 2;
            }
            *eq = '\0';
            shape_names[n_shapes] = argv[i];
            shape_vals[n_shapes++] = eq + 1;
        } else if (strcmp(a, "--json") == 0) {
            json = 1;
        } else if (strcmp(a, "--no-optimize") == 0) {
            opts.optimize = 0;
        } else if (a[0] == '-') {
            fprintf(stderr, "cvm bench: unknown or incomplete option '%s'\n", a);
            return 2;
        } else if (!model) {
            model = a;
        } else {
            fprintf(stderr, "cvm bench: unexpected argument '%s'\n", a);
            return 2;
        }
    }
    if (!model) {
        fprintf(stderr, "usage: cvm bench MODEL.onnx [--threads N] [--runs K] [--warmup W] "
                        "[--shape NAME=1x3x640x640]... [--json]\n");
        return 2;
    }
    double *times = malloc(sizeof(double) * (size_t)runs);
    if (!times) {
        fprintf(stderr, "cvm bench: out of memory\n");
        return 1;
    }
    cvm_session *s = NULL;
    size_t n_in = 0, n_out = 0;
    cvm_tensor **inputs = NULL, **outputs = NULL;
    const char **names = NULL;
    double t0 = cli_now_ms();
    if (cvm_session_create(model, &opts, &s) != CVM_OK) {
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
        for (int a = 0; a < n_shapes; a++)
            if (strcmp(shape_names[a], vi.name) == 0 && !cli_parse_dims(shape_vals[a], &ndim, dims)) {
                fprintf(stderr, "cvm bench: --shape %s=%s is not a list of dims like 1x3x640x640\n",
                        shape_names[a], shape_vals[a]);
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
    for (int r = 0; r < warmup + runs; r++) {
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
        if (r >= warmup)
            times[r - warmup] = dt;
    }
    qsort(times, (size_t)runs, sizeof *times, cmp_double);
    double med = runs % 2 ? times[runs / 2] : 0.5 * (times[runs / 2 - 1] + times[runs / 2]);
    double p90 = bench_pct(times, runs, 0.9);
    struct rusage ru;
    double rss_mb = 0.0;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        rss_mb = ru.ru_maxrss / 1024.0; /* Linux reports kilobytes */
    if (json) {
        printf("{\"model\": ");
        json_string(model);
        printf(", \"load_ms\": %.3f, \"median_ms\": %.3f, \"p90_ms\": %.3f, \"min_ms\": %.3f, "
               "\"runs\": %d, \"warmup\": %d, \"threads\": %d, \"peak_rss_mb\": %.1f}\n",
               load_ms, med, p90, times[0], runs, warmup, opts.threads, rss_mb);
    } else {
        printf("model: %s\n", model);
        printf("load: %.1f ms\n", load_ms);
        printf("run: median %.2f ms, p90 %.2f ms, min %.2f ms (%d runs after %d warm-up, %d "
               "thread%s)\n", med, p90, times[0], runs, warmup, opts.threads,
               opts.threads > 1 ? "s" : "");
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
