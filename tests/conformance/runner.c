/*
 * ONNX operator conformance runner.
 *
 * usage: conformance [--verbose] [--filter SUBSTR] [--exclude FILE] DIR...
 *
 * Each DIR holds test_* folders (model.onnx + test_data_set_N/{input,output}_K.pb),
 * as in Debian's libonnx-testdata and in what gen_node_tests.py writes.
 * A case is "unsupported" (skipped) when the session cannot be created because
 * the model needs something this build does not run; every other outcome is a
 * pass or a failure.  Cases listed in the exclusion file (one "name  reason"
 * per line) are skipped and their reasons printed.  Prints a per-operator
 * table and closes with "N passed, N failed, N skipped".
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cvm/cvm.h"
#include "onnx/onnx_loader.h"
#include "base/tensor.h"
#include "graph/graph.h"
#include "graph/schema.h"

#define MAX_OPS 512

typedef struct op_row {
    char name[64];
    int pass, fail, unsup;
} op_row;

static op_row rows[MAX_OPS];
static int n_rows;
static int verbose;

static op_row *row_for(const char *op)
{
    for (int i = 0; i < n_rows; i++)
        if (strcmp(rows[i].name, op) == 0)
            return &rows[i];
    if (n_rows == MAX_OPS)
        return &rows[MAX_OPS - 1];
    snprintf(rows[n_rows].name, sizeof rows[n_rows].name, "%s", op);
    return &rows[n_rows++];
}

typedef struct exclusion {
    char name[160];
    char reason[256];
} exclusion;

static exclusion *excl;
static int n_excl;

static void load_exclusions(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "conformance: cannot open exclusion file %s\n", path);
        exit(2);
    }
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        exclusion *e = realloc(excl, sizeof *excl * (size_t)(n_excl + 1));
        if (!e)
            exit(2);
        excl = e;
        char *sp = line + strcspn(line, " \t\n");
        size_t nl = (size_t)(sp - line);
        if (nl >= sizeof excl[0].name)
            nl = sizeof excl[0].name - 1;
        memcpy(excl[n_excl].name, line, nl);
        excl[n_excl].name[nl] = '\0';
        sp += strspn(sp, " \t");
        sp[strcspn(sp, "\n")] = '\0';
        snprintf(excl[n_excl].reason, sizeof excl[n_excl].reason, "%s", sp);
        n_excl++;
    }
    fclose(f);
}

static const char *excluded(const char *name)
{
    for (int i = 0; i < n_excl; i++)
        if (strcmp(excl[i].name, name) == 0)
            return excl[i].reason;
    return NULL;
}

/* "test_layer_normalization_2d_axis0" -> "layernormalization2daxis0" */
static void squash(const char *s, char *out, size_t cap)
{
    size_t k = 0;
    for (; *s && k + 1 < cap; s++)
        if (*s != '_')
            out[k++] = (char)((*s >= 'A' && *s <= 'Z') ? *s + 32 : *s);
    out[k] = '\0';
}

typedef struct name_match {
    const char *squashed_case;
    size_t best;
    char *out;
    size_t cap;
    const char *suffix;
} name_match;

static void match_name(const char *op, name_match *m)
{
    char so[128];
    squash(op, so, sizeof so);
    size_t l = strlen(so);
    if (l > m->best && strncmp(m->squashed_case, so, l) == 0) {
        m->best = l;
        snprintf(m->out, m->cap, "%s%s", op, m->suffix);
    }
}

static void match_schema(const cvm_op_schema *s, void *arg) { match_name(s->type, arg); }

/* The operator a case is about: the op type (in the graph, or any operator
 * this build knows) whose squashed name is the longest prefix of the squashed
 * case name; else the only op in the graph; else "(graph)".  Function-body
 * cases ("_expanded") are tallied apart from the operator itself. */
static void case_operator(const char *case_name, const cvm_graph *g, char *out, size_t cap)
{
    char sc[256];
    squash(case_name + 5, sc, sizeof sc);
    name_match m = {.squashed_case = sc, .out = out, .cap = cap,
                    .suffix = strstr(case_name, "_expanded") ? " (expanded)" : ""};
    snprintf(out, cap, "%s", g && g->n_nodes == 1 ? g->nodes[0].op_type : "(graph)");
    for (int i = 0; g && i < g->n_nodes; i++)
        match_name(g->nodes[i].op_type, &m);
    cvm_schema_each(match_schema, &m);
}

static double rtol_default = 1e-3, atol_default = 1e-7;

static void read_tolerance(const char *dir, double *rtol, double *atol)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/tolerance.json", dir);
    FILE *f = fopen(p, "r");
    *rtol = rtol_default;
    *atol = atol_default;
    if (!f)
        return;
    char buf[256] = {0};
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *r = strstr(buf, "\"rtol\":"), *a = strstr(buf, "\"atol\":");
    if (r && strncmp(r + 8, "null", 4) != 0)
        *rtol = strtod(r + 7, NULL);
    if (a && strncmp(a + 8, "null", 4) != 0)
        *atol = strtod(a + 7, NULL);
}

static int compare(const cvm_tensor *got, const cvm_tensor *want, double rtol, double atol, char *why, size_t cap)
{
    char a[128], b[128];
    if (got->dtype != want->dtype && !(got->dtype == CVM_DTYPE_BFLOAT16 && want->dtype == CVM_DTYPE_UINT16)) {
        snprintf(why, cap, "dtype %s, expected %s", cvm_dtype_name(got->dtype), cvm_dtype_name(want->dtype));
        return 0;
    }
    if (got->ndim != want->ndim || memcmp(got->dims, want->dims, sizeof(int64_t) * (size_t)got->ndim) != 0) {
        snprintf(why, cap, "shape %s, expected %s", cvm_shape_str(got->ndim, got->dims, a, sizeof a),
                 cvm_shape_str(want->ndim, want->dims, b, sizeof b));
        return 0;
    }
    int64_t n = cvm_tensor_numel(want);
    /* Older suites store expected bfloat16 outputs as their uint16 bits. */
    if (got->dtype == CVM_DTYPE_BFLOAT16 && want->dtype == CVM_DTYPE_UINT16) {
        const uint16_t *x = got->data, *y = want->data;
        for (int64_t i = 0; i < n; i++)
            if (x[i] != y[i]) {
                snprintf(why, cap, "bfloat16 element %lld has bits %04x, expected %04x", (long long)i, x[i], y[i]);
                return 0;
            }
        return 1;
    }
    int is_float = cvm_dtype_is_float(want->dtype);
    for (int64_t i = 0; i < n; i++) {
        if (is_float) {
            double x = cvm_tensor_get_f64(got, i), y = cvm_tensor_get_f64(want, i);
            if (isnan(y) && isnan(x))
                continue;
            if (isinf(y) && x == y)
                continue;
            if (!(fabs(x - y) <= atol + rtol * fabs(y))) {
                snprintf(why, cap, "element %lld is %.9g, expected %.9g", (long long)i, x, y);
                return 0;
            }
        } else if (cvm_tensor_get_i64(got, i) != cvm_tensor_get_i64(want, i)) {
            snprintf(why, cap, "element %lld is %lld, expected %lld", (long long)i,
                     (long long)cvm_tensor_get_i64(got, i), (long long)cvm_tensor_get_i64(want, i));
            return 0;
        }
    }
    return 1;
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

typedef enum { R_PASS, R_FAIL, R_UNSUP } result;

/* Runs every data set of one case. */
static result run_case(const char *dir, const char *name, char *why, size_t cap)
{
    char model[4096];
    snprintf(model, sizeof model, "%s/model.onnx", dir);
    cvm_session_options o;
    cvm_session_options_init(&o);
    o.threads = 1;
    cvm_session *s = NULL;
    cvm_status st = cvm_session_create(model, &o, &s);
    if (st != CVM_OK) {
        snprintf(why, cap, "%s", cvm_last_error());
        return st == CVM_E_UNSUPPORTED ? R_UNSUP : R_FAIL;
    }
    double rtol, atol;
    read_tolerance(dir, &rtol, &atol);
    size_t n_in = 0, n_out = 0;
    cvm_session_input_count(s, &n_in);
    cvm_session_output_count(s, &n_out);
    result res = R_PASS;
    int sets = 0;
    for (int d = 0; res == R_PASS; d++) {
        char ds[4200];
        snprintf(ds, sizeof ds, "%s/test_data_set_%d", dir, d);
        if (!is_dir(ds))
            break;
        sets++;
        cvm_tensor *in[64] = {0}, *want[64] = {0}, *got[64] = {0};
        const char *names[64];
        if (n_in > 64 || n_out > 64) {
            snprintf(why, cap, "too many inputs/outputs");
            res = R_UNSUP;
            break;
        }
        for (size_t k = 0; k < n_in && res == R_PASS; k++) {
            char p[4300];
            cvm_value_info vi;
            cvm_session_input_info(s, k, &vi);
            names[k] = vi.name;
            snprintf(p, sizeof p, "%s/input_%zu.pb", ds, k);
            if (cvm_onnx_read_tensor_file(p, &in[k], NULL) != CVM_OK) {
                snprintf(why, cap, "reading input/output %zu: %.900s", k, cvm_last_error());
                res = R_UNSUP;
            } else if (vi.dtype == CVM_DTYPE_BFLOAT16 && in[k]->dtype == CVM_DTYPE_UINT16) {
                /* Older suites store bfloat16 inputs as their raw uint16 bits. */
                in[k]->dtype = CVM_DTYPE_BFLOAT16;
            }
        }
        for (size_t k = 0; k < n_out && res == R_PASS; k++) {
            char p[4300];
            snprintf(p, sizeof p, "%s/output_%zu.pb", ds, k);
            if (cvm_onnx_read_tensor_file(p, &want[k], NULL) != CVM_OK) {
                snprintf(why, cap, "reading input/output %zu: %.900s", k, cvm_last_error());
                res = R_UNSUP;
            }
        }
        if (res == R_PASS) {
            st = cvm_session_run(s, n_in, names, (const cvm_tensor *const *)in, n_out, NULL, got);
            if (st != CVM_OK) {
                snprintf(why, cap, "run: %s", cvm_last_error());
                res = st == CVM_E_UNSUPPORTED ? R_UNSUP : R_FAIL;
            }
        }
        for (size_t k = 0; k < n_out && res == R_PASS; k++) {
            char w[300];
            if (!compare(got[k], want[k], rtol, atol, w, sizeof w)) {
                cvm_value_info vi;
                cvm_session_output_info(s, k, &vi);
                snprintf(why, cap, "data set %d, output '%s': %s", d, vi.name, w);
                res = R_FAIL;
            }
        }
        for (int k = 0; k < 64; k++) {
            cvm_tensor_free(in[k]);
            cvm_tensor_free(want[k]);
            cvm_tensor_free(got[k]);
        }
    }
    if (res == R_PASS && sets == 0) {
        snprintf(why, cap, "no test data sets");
        res = R_UNSUP;
    }
    (void)name;
    cvm_session_free(s);
    return res;
}

/* Runs the case in a child process so that a crash or a hang in one
 * operator is reported as that case's failure instead of ending the run. */
static result run_case_isolated(const char *dir, const char *name, char *why, size_t cap)
{
    int fd[2];
    if (pipe(fd) != 0)
        return run_case(dir, name, why, cap);
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]);
        close(fd[1]);
        return run_case(dir, name, why, cap);
    }
    if (pid == 0) {
        close(fd[0]);
        alarm(120);
        char msg[1024];
        msg[0] = (char)run_case(dir, name, msg + 1, sizeof msg - 1);
        size_t len = 1 + strlen(msg + 1);
        ssize_t w = write(fd[1], msg, len);
        (void)w;
        _exit(0);
    }
    close(fd[1]);
    char msg[1024];
    size_t got = 0;
    ssize_t r;
    while (got < sizeof msg - 1 && (r = read(fd[0], msg + got, sizeof msg - 1 - got)) > 0)
        got += (size_t)r;
    close(fd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (got == 0) {
        if (WIFSIGNALED(status))
            snprintf(why, cap, "crashed with signal %d%s", WTERMSIG(status),
                     WTERMSIG(status) == SIGALRM ? " (timed out after 120 s)" : "");
        else
            snprintf(why, cap, "exited with status %d without a result", WEXITSTATUS(status));
        return R_FAIL;
    }
    msg[got] = '\0';
    snprintf(why, cap, "%s", msg + 1);
    return (result)msg[0];
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_row(const void *a, const void *b)
{
    return strcmp(((const op_row *)a)->name, ((const op_row *)b)->name);
}

int main(int argc, char **argv)
{
    const char *filter = NULL;
    int n_dirs = 0;
    const char *dirs[16];
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--verbose") == 0)
            verbose = 1;
        else if (strcmp(argv[i], "--filter") == 0 && i + 1 < argc)
            filter = argv[++i];
        else if (strcmp(argv[i], "--exclude") == 0 && i + 1 < argc)
            load_exclusions(argv[++i]);
        else if (n_dirs < 16)
            dirs[n_dirs++] = argv[i];
    }
    if (n_dirs == 0) {
        fprintf(stderr, "usage: conformance [--verbose] [--filter SUBSTR] [--exclude FILE] DIR...\n");
        return 2;
    }
    int passed = 0, failed = 0, skipped = 0;
    for (int di = 0; di < n_dirs; di++) {
        DIR *dp = opendir(dirs[di]);
        if (!dp) {
            fprintf(stderr, "conformance: cannot open %s\n", dirs[di]);
            return 2;
        }
        char **names = NULL;
        size_t n_names = 0;
        struct dirent *e;
        while ((e = readdir(dp))) {
            if (strncmp(e->d_name, "test_", 5) != 0 || (filter && !strstr(e->d_name, filter)))
                continue;
            char **nn = realloc(names, sizeof *names * (n_names + 1));
            if (!nn)
                return 2;
            names = nn;
            names[n_names++] = strdup(e->d_name);
        }
        closedir(dp);
        if (n_names)
            qsort(names, n_names, sizeof *names, cmp_str);
        for (size_t k = 0; k < n_names; k++) {
            char dir[4096], why[1024] = "", op[64];
            snprintf(dir, sizeof dir, "%s/%s", dirs[di], names[k]);
            char model[4200];
            snprintf(model, sizeof model, "%s/model.onnx", dir);
            cvm_graph *g = NULL;
            if (cvm_onnx_load_file(model, 0, &g) != CVM_OK)
                g = NULL;
            case_operator(names[k], g, op, sizeof op);
            cvm_graph_free(g);
            op_row *r = row_for(op);
            const char *ex = excluded(names[k]);
            if (ex) {
                skipped++;
                r->unsup++;
                printf("EXCLUDED %s: %s\n", names[k], ex);
                free(names[k]);
                continue;
            }
            result res = run_case_isolated(dir, names[k], why, sizeof why);
            if (res == R_PASS) {
                passed++;
                r->pass++;
                if (verbose)
                    printf("PASS %s\n", names[k]);
            } else if (res == R_FAIL) {
                failed++;
                r->fail++;
                printf("FAIL %s [%s]: %s\n", names[k], op, why);
            } else {
                skipped++;
                r->unsup++;
                if (verbose)
                    printf("UNSUPPORTED %s [%s]: %s\n", names[k], op, why);
            }
            fflush(stdout);
            free(names[k]);
        }
        free(names);
    }
    qsort(rows, (size_t)n_rows, sizeof rows[0], cmp_row);
    printf("\n%-32s %6s %6s %8s\n", "operator", "pass", "fail", "skipped");
    for (int i = 0; i < n_rows; i++)
        printf("%-32s %6d %6d %8d\n", rows[i].name, rows[i].pass, rows[i].fail, rows[i].unsup);
    printf("\nOperators with no passing case (unsupported or failing):");
    int any = 0;
    for (int i = 0; i < n_rows; i++)
        if (rows[i].pass == 0) {
            printf("%s %s", any ? "," : "", rows[i].name);
            any = 1;
        }
    printf("%s\n\n", any ? "" : " none");
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    free(excl);
    return failed ? 1 : 0;
}
