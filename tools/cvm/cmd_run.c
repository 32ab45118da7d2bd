/* `cvm run`: run a raw ONNX file on .npy inputs or the test pattern. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "base/tensor.h"
#include "base/threadpool.h"
#include "cli_common.h"
#include "commands.h"
#include "cvm/cvm.h"
#include "npy.h"

#define MAX_ARGS 64

int cmd_run(int argc, char **argv)
{
    const char *model = NULL, *outdir = NULL;
    const char *in_names[MAX_ARGS], *in_files[MAX_ARGS], *shape_names[MAX_ARGS], *shape_vals[MAX_ARGS];
    int n_in_args = 0, n_shapes = 0, runs = 1, rc = 1, profile_all = 0;
    cvm_session_options opts;
    cvm_session_options_init(&opts);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_val = i + 1 < argc;
        if ((strcmp(a, "--input") == 0 || strcmp(a, "--shape") == 0) && has_val) {
            char *eq = strchr(argv[++i], '=');
            if (!eq || eq == argv[i] || n_in_args == MAX_ARGS || n_shapes == MAX_ARGS) {
                fprintf(stderr, "cvm run: %s expects NAME=VALUE, got '%s'\n", a, argv[i]);
                return 2;
            }
            *eq = '\0';
            if (a[2] == 'i') {
                in_names[n_in_args] = argv[i];
                in_files[n_in_args++] = eq + 1;
            } else {
                shape_names[n_shapes] = argv[i];
                shape_vals[n_shapes++] = eq + 1;
            }
        } else if (strcmp(a, "--out") == 0 && has_val) {
            outdir = argv[++i];
        } else if (strcmp(a, "--threads") == 0 && has_val) {
            opts.threads = atoi(argv[++i]);
            if (opts.threads < 1) {
                fprintf(stderr, "cvm run: --threads must be at least 1\n");
                return 2;
            }
        } else if (strcmp(a, "--precision") == 0 && has_val) {
            if (!cli_parse_precision("run", argv[++i], &opts.precision))
                return 2;
        } else if (strcmp(a, "--runs") == 0 && has_val) {
            runs = atoi(argv[++i]);
            if (runs < 1) {
                fprintf(stderr, "cvm run: --runs must be at least 1\n");
                return 2;
            }
        } else if (strcmp(a, "--no-optimize") == 0) {
            opts.optimize = 0;
        } else if (strcmp(a, "--profile") == 0) {
            opts.profile = 1;
        } else if (strcmp(a, "--profile-all") == 0) {
            opts.profile = 1;
            profile_all = 1;
        } else if (a[0] == '-') {
            fprintf(stderr, "cvm run: unknown or incomplete option '%s'\n", a);
            return 2;
        } else if (!model) {
            model = a;
        } else {
            fprintf(stderr, "cvm run: unexpected argument '%s'\n", a);
            return 2;
        }
    }
    if (!model) {
        fprintf(stderr, "usage: cvm run MODEL.onnx [--input NAME=FILE.npy]... [--shape NAME=1x3x640x640]... "
                        "[--out DIR] [--threads N] [--runs K] [--precision fp32|bf16] [--no-optimize] "
                        "[--profile|--profile-all]\n");
        return 2;
    }

    cvm_session *s = NULL;
    size_t n_in = 0, n_out = 0;
    cvm_tensor **inputs = NULL, **outputs = NULL;
    const char **names = NULL;
    double t0 = cli_now_ms();
    if (cvm_session_create(model, &opts, &s) != CVM_OK) {
        fprintf(stderr, "cvm run: %s\n", cvm_last_error());
        return 1;
    }
    double t_load = cli_now_ms() - t0;
    cvm_session_input_count(s, &n_in);
    cvm_session_output_count(s, &n_out);
    inputs = calloc(n_in + 1, sizeof *inputs);
    outputs = calloc(n_out + 1, sizeof *outputs);
    names = calloc(n_in + 1, sizeof *names);
    if (!inputs || !outputs || !names) {
        fprintf(stderr, "cvm run: out of memory\n");
        goto done;
    }
    for (int a = 0; a < n_in_args; a++) {
        size_t k = 0;
        cvm_value_info vi;
        for (; k < n_in; k++) {
            cvm_session_input_info(s, k, &vi);
            if (strcmp(vi.name, in_names[a]) == 0)
                break;
        }
        if (k == n_in) {
            fprintf(stderr, "cvm run: the model has no input named '%s'\n", in_names[a]);
            goto done;
        }
        if (cvm_npy_read(in_files[a], &inputs[k]) != CVM_OK) {
            fprintf(stderr, "cvm run: %s\n", cvm_last_error());
            goto done;
        }
    }
    for (size_t k = 0; k < n_in; k++) {
        cvm_value_info vi;
        cvm_session_input_info(s, k, &vi);
        names[k] = vi.name;
        if (inputs[k])
            continue;
        int ndim = vi.ndim;
        int64_t dims[CVM_MAX_DIMS];
        for (int d = 0; d < ndim; d++)
            dims[d] = vi.dims[d];
        for (int a = 0; a < n_shapes; a++)
            if (strcmp(shape_names[a], vi.name) == 0 && !cli_parse_dims(shape_vals[a], &ndim, dims)) {
                fprintf(stderr, "cvm run: --shape %s=%s is not a list of dims like 1x3x640x640\n",
                        shape_names[a], shape_vals[a]);
                goto done;
            }
        int symbolic = ndim < 0;
        for (int d = 0; d < ndim; d++)
            symbolic |= dims[d] < 0;
        if (symbolic) {
            fprintf(stderr, "cvm run: input '%s' has symbolic dims; give its shape with --shape %s=D0xD1x...\n",
                    vi.name, vi.name);
            goto done;
        }
        if (!cvm_dtype_is_float(vi.dtype)) {
            fprintf(stderr, "cvm run: input '%s' is %s; give it with --input %s=FILE.npy\n", vi.name,
                    cvm_dtype_name(vi.dtype), vi.name);
            goto done;
        }
        if (cvm_tensor_create(vi.dtype, ndim, dims, &inputs[k]) != CVM_OK) {
            fprintf(stderr, "cvm run: input '%s': %s\n", vi.name, cvm_last_error());
            goto done;
        }
        cli_fill_pattern(inputs[k]);
    }
    double best = 1e30, total = 0;
    for (int r = 0; r < runs; r++) {
        for (size_t k = 0; k < n_out; k++) {
            cvm_tensor_free(outputs[k]);
            outputs[k] = NULL;
        }
        double t1 = cli_now_ms();
        if (cvm_session_run(s, n_in, names, (const cvm_tensor *const *)inputs, n_out, NULL, outputs) != CVM_OK) {
            fprintf(stderr, "cvm run: %s\n", cvm_last_error());
            goto done;
        }
        double dt = cli_now_ms() - t1;
        total += dt;
        if (dt < best)
            best = dt;
    }
    cvm_session_stats st;
    cvm_session_get_stats(s, &st);
    printf("model: %s\n", model);
    printf("load: %.1f ms; nodes: %zu in model, %zu folded, %zu to run (%zu of them views); "
           "arena %.2f MiB (%.2f MiB without reuse)\n",
           t_load, st.nodes_in_model, st.nodes_folded, st.nodes_planned, st.nodes_viewed,
           st.arena_bytes / 1048576.0, st.naive_bytes / 1048576.0);
    if (st.nodes_side_by_side)
        printf("side by side: %zu nodes in %zu stretches run whole, one per thread, instead of "
               "split between the threads\n",
               st.nodes_side_by_side, st.side_by_side_regions);
    int thr = opts.threads > 0 ? opts.threads : cvm_cpu_count();
    if (runs > 1)
        printf("run: %d runs, best %.3f ms, mean %.3f ms (%d thread%s, %s)\n", runs, best, total / runs, thr,
               thr > 1 ? "s" : "", cli_precision_detail(opts.precision));
    else
        printf("run: %.2f ms (%d thread%s, %s)\n", best, thr, thr > 1 ? "s" : "",
               cli_precision_detail(opts.precision));
    if (opts.profile) {
        /* Every run counts, the first (cold) one included. */
        cvm_op_time ops[64];
        size_t n_ops = 0;
        double sum = 0;
        if (cvm_session_get_profile(s, ops, 64, &n_ops) == CVM_OK) {
            for (size_t k = 0; k < n_ops && k < 64; k++)
                sum += ops[k].total_ms;
            printf("time per operator over %d runs (%.2f ms per run in operators):\n", runs,
                   sum / runs);
            printf("  %-24s %6s %10s %7s\n", "operator", "nodes", "ms/run", "share");
            for (size_t k = 0; k < n_ops && k < 64; k++)
                printf("  %-24s %6zu %10.3f %6.1f%%\n", ops[k].op_type, ops[k].nodes,
                       ops[k].total_ms / runs, sum > 0 ? 100.0 * ops[k].total_ms / sum : 0.0);
        }
        size_t n_nodes = 0, cap = profile_all ? 4096 : 20;
        cvm_node_time *nodes = malloc(cap * sizeof *nodes);
        if (nodes && cvm_session_get_node_profile(s, nodes, cap, &n_nodes) == CVM_OK && n_nodes) {
            printf("%s:\n", profile_all ? "time per node" : "slowest nodes");
            printf("  %-28s %-14s %10s %7s  %s\n", "node", "operator", "ms/run", "share", "shapes");
            for (size_t k = 0; k < n_nodes && k < cap; k++)
                printf("  %-28.28s %-14s %10.3f %6.1f%%  %s\n", nodes[k].name, nodes[k].op_type,
                       nodes[k].total_ms / runs, sum > 0 ? 100.0 * nodes[k].total_ms / sum : 0.0,
                       nodes[k].shapes);
        }
        free(nodes);
    }
    if (outdir && mkdir(outdir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "cvm run: cannot create %s: %s\n", outdir, strerror(errno));
        goto done;
    }
    for (size_t k = 0; k < n_out; k++) {
        cvm_value_info vi;
        char sh[160];
        cvm_session_output_info(s, k, &vi);
        printf("output %s: %s %s\n", vi.name, cvm_dtype_name(outputs[k]->dtype),
               cvm_shape_str(outputs[k]->ndim, outputs[k]->dims, sh, sizeof sh));
        if (outdir) {
            /* Output names come from the model: keep only safe characters so
             * that a hostile name cannot write outside DIR. */
            char safe[200], path[4096];
            size_t j = 0;
            for (const char *c = vi.name; *c && j < sizeof safe - 1; c++)
                safe[j++] = (char)((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                                   (*c >= '0' && *c <= '9') || *c == '_' || *c == '-' || *c == '.'
                                       ? *c : '_');
            safe[j] = '\0';
            if (j == 0 || strcmp(safe, ".") == 0 || strcmp(safe, "..") == 0)
                snprintf(safe, sizeof safe, "output_%zu", k);
            snprintf(path, sizeof path, "%s/%s.npy", outdir, safe);
            if (cvm_npy_write(path, outputs[k]) != CVM_OK) {
                fprintf(stderr, "cvm run: %s\n", cvm_last_error());
                goto done;
            }
        }
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
    cvm_session_free(s);
    return rc;
}
