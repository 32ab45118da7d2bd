/*
 * ONNX loader tests.  Expected values come from the hand-chosen numbers in
 * tools/make_fuzz_corpus.py (fixtures under tests/data/onnx), from counts
 * reported by the onnx Python package for the shared models, and from
 * protobuf buffers built here byte by byte.
 *
 * Environment: CVM_SHARED_DIR (the shared/ folder with models/) and
 * CVM_ONNX_TESTDATA (the ONNX node test folder, .../data/node); the tests
 * that need them are skipped when unset.  The fixtures are found next to
 * this source file (__FILE__), or in CVM_ONNX_FIXTURES when set.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/status.h"
#include "graph/graph.h"
#include "onnx/onnx_loader.h"

/* ---------------------------------------------------------------- helpers */

/* tests/data/onnx, found from this file's own path. */
static const char *fixture_dir(void)
{
    static char dir[4096];
    if (dir[0])
        return dir;
    const char *env = getenv("CVM_ONNX_FIXTURES");
    if (env) {
        snprintf(dir, sizeof dir, "%s", env);
        return dir;
    }
    snprintf(dir, sizeof dir, "%s", __FILE__);
    char *p = strstr(dir, "unit/test_onnx_loader.c");
    if (p)
        strcpy(p, "data/onnx");
    else
        snprintf(dir, sizeof dir, "tests/data/onnx");
    return dir;
}

static char *fixture(const char *name)
{
    static char path[4200];
    snprintf(path, sizeof path, "%s/%s", fixture_dir(), name);
    return path;
}

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)len + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return b;
}

static const cvm_value *value(const cvm_graph *g, const char *name)
{
    int i = cvm_graph_find_value(g, name);
    if (i < 0)
        fail_msg("value '%s' missing", name);
    return &g->values[i];
}

static const cvm_tensor *init_of(const cvm_graph *g, const char *name)
{
    const cvm_value *v = value(g, name);
    if (!v->init)
        fail_msg("value '%s' has no initializer", name);
    return v->init;
}

/* A growable protobuf writer for hand-built messages. */
typedef struct pbw {
    uint8_t *b;
    size_t n, cap;
} pbw;

static void w_bytes(pbw *w, const void *p, size_t n)
{
    if (w->n + n > w->cap) {
        w->cap = (w->n + n) * 2 + 64;
        w->b = realloc(w->b, w->cap);
        assert_non_null(w->b);
    }
    if (n)
        memcpy(w->b + w->n, p, n);
    w->n += n;
}

static void w_varint(pbw *w, uint64_t v)
{
    uint8_t tmp[10];
    int k = 0;
    do {
        tmp[k] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v)
            tmp[k] |= 0x80;
        k++;
    } while (v);
    w_bytes(w, tmp, (size_t)k);
}

static void w_tag(pbw *w, uint32_t field, int wire) { w_varint(w, ((uint64_t)field << 3) | (uint64_t)wire); }
static void w_int(pbw *w, uint32_t field, int64_t v) { w_tag(w, field, 0); w_varint(w, (uint64_t)v); }
static void w_len(pbw *w, uint32_t field, const void *p, size_t n)
{
    w_tag(w, field, 2);
    w_varint(w, n);
    w_bytes(w, p, n);
}
static void w_str(pbw *w, uint32_t field, const char *s) { w_len(w, field, s, strlen(s)); }
static void w_msg(pbw *w, uint32_t field, pbw *sub)
{
    w_len(w, field, sub->b, sub->n);
    free(sub->b);
    memset(sub, 0, sizeof *sub);
}
static void w_f32(pbw *w, uint32_t field, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    uint8_t le[4] = {(uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16), (uint8_t)(u >> 24)};
    w_tag(w, field, 5);
    w_bytes(w, le, 4);
}

/* A tensor of `dtype` with the given dims and raw bytes. */
static void w_raw_tensor(pbw *w, const char *name, int dtype, int ndim, const int64_t *dims, const void *raw,
                         size_t n)
{
    for (int i = 0; i < ndim; i++)
        w_int(w, 1, dims[i]);
    w_int(w, 2, dtype);
    w_str(w, 8, name);
    w_len(w, 9, raw, n);
}

/* Wraps a GraphProto into a ModelProto importing opset 13. */
static void w_model(pbw *model, pbw *graph)
{
    pbw op = {0};
    w_int(model, 1, 8);
    w_msg(model, 7, graph);
    w_str(&op, 1, "");
    w_int(&op, 2, 13);
    w_msg(model, 8, &op);
}

static void w_node(pbw *g, const char *op, const char *in, const char *out, const char *name)
{
    pbw n = {0};
    if (in)
        w_str(&n, 1, in);
    w_str(&n, 2, out);
    w_str(&n, 3, name);
    w_str(&n, 4, op);
    w_msg(g, 1, &n);
}

static cvm_status load_pbw(pbw *model, cvm_graph **g)
{
    cvm_status s = cvm_onnx_load_memory(model->b, model->n, NULL, g);
    free(model->b);
    memset(model, 0, sizeof *model);
    return s;
}

#define ASSERT_ERR(expr, code, needle)                                                   \
    do {                                                                                 \
        cvm_status s_ = (expr);                                                          \
        if (s_ != (code))                                                                \
            fail_msg("expected %s, got %s: %s", cvm_status_name(code), cvm_status_name(s_), \
                     cvm_last_error());                                                  \
        if (!strstr(cvm_last_error(), (needle)))                                         \
            fail_msg("message '%s' lacks '%s'", cvm_last_error(), (needle));             \
    } while (0)

/* ------------------------------------------------------------- fixtures */

static void test_features_model(void **st)
{
    (void)st;
    cvm_graph *g = NULL;
    assert_int_equal(cvm_onnx_load_file(fixture("features.onnx"), 0, &g), CVM_OK);
    assert_int_equal(g->ir_version, 8);
    assert_string_equal(g->name, "features");
    assert_int_equal(g->n_opsets, 2);
    assert_string_equal(g->opsets[0].domain, "");
    assert_int_equal(g->opsets[0].version, 17);
    assert_string_equal(g->opsets[1].domain, "com.example");
    assert_int_equal(g->opsets[1].version, 2);

    /* Five Constant nodes were folded away. */
    assert_int_equal(g->n_nodes, 4);
    const char *ops[4] = {"Add", "Custom", "Other", "If"};
    const int opsets[4] = {17, 2, 0, 17};
    for (int i = 0; i < 4; i++) {
        assert_string_equal(g->nodes[i].op_type, ops[i]);
        assert_int_equal(g->nodes[i].opset, opsets[i]);
    }
    assert_string_equal(g->nodes[0].name, "add0");
    assert_string_equal(g->nodes[1].domain, "com.example");
    assert_int_equal(value(g, "A")->producer, 0);
    assert_int_equal(value(g, "C")->producer, 2);

    /* Inputs and outputs with declared types. */
    assert_int_equal(g->n_inputs, 2);
    const cvm_value *x = &g->values[g->inputs[0]];
    assert_string_equal(x->name, "X");
    assert_int_equal(x->dtype, CVM_DTYPE_FLOAT32);
    assert_int_equal(x->ndim, 2);
    assert_int_equal(x->dims[0].value, -1);
    assert_string_equal(x->dims[0].param, "N");
    assert_int_equal(x->dims[1].value, 3);
    assert_null(x->dims[1].param);
    const cvm_value *cond = &g->values[g->inputs[1]];
    assert_string_equal(cond->name, "cond");
    assert_int_equal(cond->dtype, CVM_DTYPE_BOOL);
    assert_int_equal(cond->ndim, 0);
    assert_int_equal(g->n_outputs, 2);
    assert_string_equal(g->values[g->outputs[0]].name, "C");
    assert_int_equal(g->values[g->outputs[0]].ndim, 2);
    assert_string_equal(g->values[g->outputs[1]].name, "D");
    assert_int_equal(g->values[g->outputs[1]].ndim, -1);
    /* value_info: A declared, B declared as a sequence (no dense type). */
    assert_int_equal(value(g, "A")->ndim, 2);
    assert_string_equal(value(g, "A")->dims[0].param, "N");
    assert_int_equal(value(g, "B")->dtype, CVM_DTYPE_UNDEFINED);
    assert_int_equal(value(g, "B")->ndim, -1);

    /* Every typed encoding. */
    const cvm_tensor *t = init_of(g, "w_raw");
    assert_int_equal(t->dtype, CVM_DTYPE_FLOAT32);
    assert_int_equal(t->ndim, 2);
    assert_int_equal(t->dims[0], 1);
    assert_int_equal(t->dims[1], 3);
    assert_true(((float *)t->data)[2] == 3.0f);
    t = init_of(g, "w_f32");
    assert_true(((float *)t->data)[0] == 0.5f && ((float *)t->data)[1] == -1.5f);
    t = init_of(g, "w_f16");
    assert_int_equal(t->dtype, CVM_DTYPE_FLOAT16);
    assert_int_equal(((uint16_t *)t->data)[0], 0x3c00);
    assert_int_equal(((uint16_t *)t->data)[1], 0xc000);
    t = init_of(g, "w_bf16");
    assert_int_equal(((uint16_t *)t->data)[0], 0x3f80);
    t = init_of(g, "w_f16raw");
    assert_int_equal(((uint16_t *)t->data)[1], 0x3800);
    t = init_of(g, "w_bool");
    assert_int_equal(t->dtype, CVM_DTYPE_BOOL);
    assert_memory_equal(t->data, ((uint8_t[]){1, 0, 1}), 3);
    t = init_of(g, "w_i8");
    assert_int_equal(((int8_t *)t->data)[0], -128);
    assert_int_equal(((int8_t *)t->data)[1], 127);
    t = init_of(g, "w_u8");
    assert_int_equal(((uint8_t *)t->data)[1], 255);
    assert_int_equal(((int16_t *)init_of(g, "w_i16")->data)[0], -300);
    assert_int_equal(((uint16_t *)init_of(g, "w_u16")->data)[0], 65535);
    t = init_of(g, "w_i32");
    assert_int_equal(((int32_t *)t->data)[0], -7);
    assert_int_equal(((int32_t *)t->data)[1], 2147483647);
    t = init_of(g, "w_i64");
    assert_int_equal(t->nbytes, 24);
    assert_true(((int64_t *)t->data)[0] == -1 && ((int64_t *)t->data)[2] == (int64_t)1 << 40);
    assert_true(((double *)init_of(g, "w_f64")->data)[0] == 0.25);
    assert_int_equal(((uint32_t *)init_of(g, "w_u32")->data)[0], 4000000000u);
    assert_true(((uint64_t *)init_of(g, "w_u64")->data)[0] == UINT64_MAX);
    t = init_of(g, "w_empty");
    assert_int_equal(t->ndim, 2);
    assert_int_equal(t->dims[0], 0);
    assert_int_equal(t->nbytes, 0);
    t = init_of(g, "w_scalar");
    assert_int_equal(t->ndim, 0);
    assert_int_equal(((int64_t *)t->data)[0], 42);

    /* Folded constants. */
    t = init_of(g, "c_float");
    assert_int_equal(t->dtype, CVM_DTYPE_FLOAT32);
    assert_int_equal(t->ndim, 0);
    assert_true(((float *)t->data)[0] == 2.5f);
    t = init_of(g, "c_floats");
    assert_int_equal(t->dims[0], 2);
    assert_true(((float *)t->data)[1] == 2.0f);
    t = init_of(g, "c_int");
    assert_int_equal(t->dtype, CVM_DTYPE_INT64);
    assert_int_equal(((int64_t *)t->data)[0], 7);
    t = init_of(g, "c_ints");
    assert_int_equal(t->dims[0], 3);
    assert_int_equal(((int64_t *)t->data)[1], -2);
    t = init_of(g, "c_tensor");
    assert_int_equal(t->dtype, CVM_DTYPE_INT8);
    assert_int_equal(((int8_t *)t->data)[0], -1);
    assert_int_equal(value(g, "c_tensor")->producer, -1);

    /* Custom node: omitted optional input/output, every attribute kind. */
    const cvm_node *n = &g->nodes[1];
    assert_int_equal(n->n_in, 3);
    assert_int_equal(n->in[0], cvm_graph_find_value(g, "A"));
    assert_int_equal(n->in[1], -1);
    assert_int_equal(n->in[2], cvm_graph_find_value(g, "c_float"));
    assert_int_equal(n->n_out, 2);
    assert_int_equal(n->out[1], -1);
    assert_true(cvm_attr_float(n, "f", 0) == 0.5f);
    assert_int_equal(cvm_attr_int(n, "i", 0), -3);
    const cvm_attr *a = cvm_node_attr(n, "s");
    assert_non_null(a);
    assert_int_equal(a->type, CVM_ATTR_STRING);
    assert_int_equal(a->s_len, 3);
    assert_memory_equal(a->s, "a\0b", 4);
    a = cvm_node_attr(n, "t");
    assert_int_equal(a->type, CVM_ATTR_TENSOR);
    assert_int_equal(((int64_t *)a->t->data)[0], 9);
    size_t cnt;
    const float *fl = cvm_attr_floats(n, "floats", &cnt);
    assert_int_equal(cnt, 2);
    assert_true(fl[1] == 2.5f);
    const int64_t *il = cvm_attr_ints(n, "ints", &cnt);
    assert_int_equal(cnt, 3);
    assert_int_equal(il[1], -5);
    a = cvm_node_attr(n, "strings");
    assert_int_equal(a->type, CVM_ATTR_STRINGS);
    assert_int_equal(a->n, 2);
    assert_string_equal(a->strings[1], "yz");
    a = cvm_node_attr(n, "tensors");
    assert_int_equal(a->n, 2);
    assert_int_equal(a->tensors[1]->dtype, CVM_DTYPE_INT32);
    assert_int_equal(((int32_t *)a->tensors[1]->data)[1], 3);
    a = cvm_node_attr(n, "graphs");
    assert_int_equal(a->type, CVM_ATTR_GRAPHS);
    assert_int_equal(a->n, 1);
    assert_int_equal(a->graphs[0]->n_nodes, 1);

    /* If: subgraphs refer to the outer "A" by name. */
    n = &g->nodes[3];
    a = cvm_node_attr(n, "else_branch");
    assert_int_equal(a->type, CVM_ATTR_GRAPH);
    const cvm_graph *sg = a->g;
    assert_string_equal(sg->name, "else_body");
    assert_int_equal(sg->n_nodes, 1);
    assert_string_equal(sg->nodes[0].op_type, "Neg");
    assert_int_equal(sg->nodes[0].opset, 17);
    assert_string_equal(sg->values[sg->nodes[0].in[0]].name, "A");
    assert_int_equal(sg->values[sg->nodes[0].in[0]].producer, -1);
    assert_int_equal(sg->n_outputs, 1);
    cvm_graph_free(g);
}

static void test_ir3_inputs(void **st)
{
    (void)st;
    cvm_graph *g = NULL;
    assert_int_equal(cvm_onnx_load_file(fixture("ir3.onnx"), 0, &g), CVM_OK);
    assert_int_equal(g->ir_version, 3);
    assert_int_equal(g->n_inputs, 1);
    assert_string_equal(g->values[g->inputs[0]].name, "X");
    assert_non_null(value(g, "W")->init);
    assert_int_equal(value(g, "W")->ndim, 2); /* declared through the input list */
    cvm_graph_free(g);
}

static void test_external_data(void **st)
{
    (void)st;
    cvm_graph *g = NULL;
    assert_int_equal(cvm_onnx_load_file(fixture("ext_ok.onnx"), 0, &g), CVM_OK);
    const cvm_tensor *w = init_of(g, "W");
    const float want[4] = {1, 2, 3, 4};
    assert_memory_equal(w->data, want, sizeof want);
    cvm_graph_free(g);

    ASSERT_ERR(cvm_onnx_load_file(fixture("ext_dotdot.onnx"), 0, &g), CVM_E_PARSE, "'..'");
    assert_null(g);
    ASSERT_ERR(cvm_onnx_load_file(fixture("ext_abs.onnx"), 0, &g), CVM_E_PARSE, "absolute");
    ASSERT_ERR(cvm_onnx_load_file(fixture("ext_short.onnx"), 0, &g), CVM_E_PARSE, "past the end");

    /* From memory without a folder: refused. */
    size_t n;
    uint8_t *buf = slurp(fixture("ext_ok.onnx"), &n);
    ASSERT_ERR(cvm_onnx_load_memory(buf, n, NULL, &g), CVM_E_UNSUPPORTED, "external");
    assert_int_equal(cvm_onnx_load_memory(buf, n, fixture_dir(), &g), CVM_OK);
    cvm_graph_free(g);

    /* A symlink inside the folder pointing outside it is refused too. */
    char tmpl[] = "/tmp/cvm_onnx_XXXXXX";
    char *dir = mkdtemp(tmpl);
    assert_non_null(dir);
    char link[256], real_target[4200];
    snprintf(link, sizeof link, "%s/ext_weights.bin", dir);
    assert_non_null(realpath(fixture("ext_weights.bin"), real_target));
    assert_int_equal(symlink(real_target, link), 0);
    ASSERT_ERR(cvm_onnx_load_memory(buf, n, dir, &g), CVM_E_PARSE, "outside");
    /* A missing file is reported as such. */
    unlink(link);
    ASSERT_ERR(cvm_onnx_load_memory(buf, n, dir, &g), CVM_E_NOT_FOUND, "ext_weights.bin");
    rmdir(dir);
    free(buf);
}

static void test_tensor_files(void **st)
{
    (void)st;
    cvm_tensor *t = NULL;
    char *name = NULL;
    assert_int_equal(cvm_onnx_read_tensor_file(fixture("tensor_f32.pb"), &t, &name), CVM_OK);
    assert_string_equal(name, "x");
    assert_int_equal(t->ndim, 2);
    const float want[4] = {1.0f, -2.0f, 0.5f, 8.0f};
    assert_memory_equal(t->data, want, sizeof want);
    cvm_tensor_free(t);
    free(name);
    assert_int_equal(cvm_onnx_read_tensor_file(fixture("tensor_i64.pb"), &t, NULL), CVM_OK);
    assert_int_equal(t->dtype, CVM_DTYPE_INT64);
    assert_int_equal(((int64_t *)t->data)[1], -6);
    cvm_tensor_free(t);
    ASSERT_ERR(cvm_onnx_read_tensor_file(fixture("no_such.pb"), &t, NULL), CVM_E_NOT_FOUND, "no_such.pb");
}

static void test_raw_mismatch_and_limits(void **st)
{
    (void)st;
    cvm_graph *g = NULL;
    ASSERT_ERR(cvm_onnx_load_file(fixture("raw_mismatch.onnx"), 0, &g), CVM_E_PARSE, "raw_data has 12 bytes");
    ASSERT_ERR(cvm_onnx_load_file(fixture("features.onnx"), 100, &g), CVM_E_LIMIT, "limit");
    ASSERT_ERR(cvm_onnx_load_file(fixture("missing.onnx"), 0, &g), CVM_E_NOT_FOUND, "missing.onnx");
    assert_null(g);
}

/* Every prefix of a valid model loads or fails cleanly (run under ASan). */
static void test_truncation(void **st)
{
    (void)st;
    size_t n;
    uint8_t *buf = slurp(fixture("features.onnx"), &n);
    int failures = 0;
    for (size_t k = 0; k < n; k++) {
        uint8_t *copy = malloc(k ? k : 1); /* exact size so ASan sees any overread */
        memcpy(copy, buf, k);
        cvm_graph *g = NULL;
        cvm_status s = cvm_onnx_load_memory(copy, k, NULL, &g);
        if (s == CVM_OK) {
            assert_non_null(g);
            cvm_graph_free(g);
        } else {
            assert_null(g);
            assert_true(cvm_last_error()[0] != '\0');
            failures++;
        }
        free(copy);
    }
    assert_true(failures > (int)n / 2);
    /* Cut inside the last field: a truncation with its offset. */
    cvm_graph *g = NULL;
    ASSERT_ERR(cvm_onnx_load_memory(buf, n - 1, NULL, &g), CVM_E_PARSE, "truncated");
    assert_non_null(strstr(cvm_last_error(), "byte offset"));
    free(buf);
}

/* ---------------------------------------------------------------- hostile */

static void test_bad_wire(void **st)
{
    (void)st;
    cvm_graph *g = NULL;
    const uint8_t group[] = {0x0B, 0x0C};
    ASSERT_ERR(cvm_onnx_load_memory(group, sizeof group, NULL, &g), CVM_E_PARSE, "group");
    const uint8_t wire7[] = {0x0F, 0x00};
    ASSERT_ERR(cvm_onnx_load_memory(wire7, sizeof wire7, NULL, &g), CVM_E_PARSE, "wire type");
    const uint8_t huge[] = {0x3A, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x3F};
    ASSERT_ERR(cvm_onnx_load_memory(huge, sizeof huge, NULL, &g), CVM_E_PARSE, "truncated");
    const uint8_t longvar[] = {0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01};
    ASSERT_ERR(cvm_onnx_load_memory(longvar, sizeof longvar, NULL, &g), CVM_E_PARSE, "longer than 10");
    const uint8_t field0[] = {0x00, 0x01};
    ASSERT_ERR(cvm_onnx_load_memory(field0, sizeof field0, NULL, &g), CVM_E_PARSE, "field number");
    const uint8_t fixed_short[] = {0x09, 0x01, 0x02};
    ASSERT_ERR(cvm_onnx_load_memory(fixed_short, sizeof fixed_short, NULL, &g), CVM_E_PARSE, "byte offset 1");
    const uint8_t nograph[] = {0x08, 0x07};
    ASSERT_ERR(cvm_onnx_load_memory(nograph, sizeof nograph, NULL, &g), CVM_E_PARSE, "no graph");
    /* graph field with the wrong wire type */
    const uint8_t graph_varint[] = {0x38, 0x01};
    ASSERT_ERR(cvm_onnx_load_memory(graph_varint, sizeof graph_varint, NULL, &g), CVM_E_PARSE, "expected");
    assert_null(g);
    ASSERT_ERR(cvm_onnx_load_memory(NULL, 5, NULL, &g), CVM_E_INVALID_ARG, "NULL");
}

/* Unknown fields of every wire type are skipped at every level; unpacked
 * repeated scalars are read like packed ones. */
static void test_unknown_fields_and_unpacked(void **st)
{
    (void)st;
    pbw t = {0}, node = {0}, attr = {0}, graph = {0}, model = {0}, vi = {0};
    const uint8_t fixed64[8] = {1, 2, 3, 4, 5, 6, 7, 8};
#define UNKNOWN(w)                                   \
    do {                                             \
        w_int((w), 900, 5);                          \
        w_tag((w), 901, 1);                          \
        w_bytes((w), fixed64, 8);                    \
        w_str((w), 902, "junk");                     \
        w_f32((w), 903, 1.0f);                       \
    } while (0)
    /* float tensor [2] with dims and float_data unpacked */
    UNKNOWN(&t);
    w_int(&t, 1, 2);
    w_int(&t, 2, CVM_DTYPE_FLOAT32);
    w_f32(&t, 4, 3.0f);
    w_f32(&t, 4, 4.0f);
    w_str(&t, 8, "w");
    w_msg(&graph, 5, &t);
    /* int64 tensor [3]: one unpacked element, then a packed run */
    w_int(&t, 1, 3);
    w_int(&t, 2, CVM_DTYPE_INT64);
    w_int(&t, 7, -9);
    pbw packed = {0};
    w_varint(&packed, 10);
    w_varint(&packed, (uint64_t)(int64_t)-11);
    w_len(&t, 7, packed.b, packed.n);
    free(packed.b);
    w_str(&t, 8, "k");
    w_msg(&graph, 5, &t);
    /* node with an INTS attribute written unpacked and without `type` */
    w_str(&attr, 1, "axes");
    UNKNOWN(&attr);
    w_int(&attr, 8, 1);
    w_int(&attr, 8, -1);
    w_str(&node, 1, "w");
    w_str(&node, 2, "y");
    w_str(&node, 4, "Relu");
    UNKNOWN(&node);
    w_msg(&node, 5, &attr);
    /* an attribute referencing a function parameter */
    w_str(&attr, 1, "alpha");
    w_str(&attr, 21, "outer_alpha");
    w_int(&attr, 20, 1);
    w_msg(&node, 5, &attr);
    w_msg(&graph, 1, &node);
    UNKNOWN(&graph);
    w_str(&vi, 1, "y");
    w_msg(&graph, 12, &vi);
    UNKNOWN(&model);
    w_model(&model, &graph);
    UNKNOWN(&model);
#undef UNKNOWN
    cvm_graph *g = NULL;
    cvm_status s = load_pbw(&model, &g);
    if (s != CVM_OK)
        fail_msg("%s", cvm_last_error());
    const cvm_tensor *w = init_of(g, "w");
    assert_int_equal(w->ndim, 1);
    assert_true(((float *)w->data)[0] == 3.0f && ((float *)w->data)[1] == 4.0f);
    const cvm_tensor *k = init_of(g, "k");
    const int64_t kw[3] = {-9, 10, -11};
    assert_memory_equal(k->data, kw, sizeof kw);
    assert_int_equal(g->n_nodes, 1);
    assert_int_equal(g->nodes[0].opset, 13);
    size_t cnt;
    const int64_t *axes = cvm_attr_ints(&g->nodes[0], "axes", &cnt);
    assert_int_equal(cnt, 2);
    assert_int_equal(axes[1], -1);
    const cvm_attr *ref = cvm_node_attr(&g->nodes[0], "alpha");
    assert_non_null(ref);
    assert_int_equal(ref->type, CVM_ATTR_UNDEFINED);
    assert_int_equal(g->n_inputs, 0);
    cvm_graph_free(g);
}

static void test_hostile_tensors(void **st)
{
    (void)st;
    pbw t = {0}, graph = {0}, model = {0};
    cvm_graph *g = NULL;
    float four[4] = {0};

    /* 9 dims */
    int64_t d9[9] = {1, 1, 1, 1, 1, 1, 1, 2, 2};
    w_raw_tensor(&t, "nine", CVM_DTYPE_FLOAT32, 9, d9, four, 16);
    w_msg(&graph, 5, &t);
    w_model(&model, &graph);
    ASSERT_ERR(load_pbw(&model, &g), CVM_E_UNSUPPORTED, "'nine' has 9 dims");

    /* element count overflow */
    int64_t big[3] = {INT64_MAX / 2, 4, 4};
    w_raw_tensor(&t, "big", CVM_DTYPE_FLOAT32, 3, big, four, 16);
    w_msg(&graph, 5, &t);
    w_model(&model, &graph);
    ASSERT_ERR(load_pbw(&model, &g), CVM_E_PARSE, "overflows");

    /* huge shape with tiny data must not allocate */
    int64_t huge[2] = {1 << 30, 1 << 30};
    w_raw_tensor(&t, "huge", CVM_DTYPE_FLOAT32, 2, huge, four, 16);
    w_msg(&graph, 5, &t);
    w_model(&model, &graph);
    ASSERT_ERR(load_pbw(&model, &g), CVM_E_PARSE, "needs");

    /* negative dim */
    int64_t neg[1] = {-4};
    w_raw_tensor(&t, "neg", CVM_DTYPE_FLOAT32, 1, neg, four, 16);
    w_msg(&graph, 5, &t);
    w_model(&model, &graph);
    ASSERT_ERR(load_pbw(&model, &g), CVM_E_PARSE, "negative");

    /* typed data count mismatch */
    w_int(&t, 1, 3);
    w_int(&t, 2, CVM_DTYPE_FLOAT32);
    w_f32(&t, 4, 1.0f);
    w_str(&t, 8, "short");
    w_msg(&graph, 5, &t);
    w_model(&model, &graph);
    ASSERT_ERR(load_pbw(&model, &g), CVM_E_PARSE, "'short' has 1 values");

    /* data in the wrong typed field */
    w_int(&t, 1, 1);
    w_int(&t, 2, CVM_DTYPE_FLOAT32);
    w_int(&t, 7, 1);
    w_str(&t, 8, "wrongfield");
    w_msg(&graph, 5, &t);
    w_model(&model, &graph);
    ASSERT_ERR(load_pbw(&model, &g), CVM_E_PARSE, "int64_data");

    /* string tensor */
    w_int(&t, 1, 1);
    w_int(&t, 2, CVM_DTYPE_STRING);
    w_str(&t, 6, "hello");
    w_str(&t, 8, "words");
    w_msg(&graph, 5, &t);
    w_model(&model, &graph);
    ASSERT_ERR(load_pbw(&model, &g), CVM_E_UNSUPPORTED, "'words': string tensors");

    /* complex64: a dtype we do not know */
    w_int(&t, 2, 14);
    w_str(&t, 8, "cplx");
    w_msg(&graph, 5, &t);
    w_model(&model, &graph);
    ASSERT_ERR(load_pbw(&model, &g), CVM_E_UNSUPPORTED, "'cplx'");

    /* a packed varint field that ends mid-varint */
    const uint8_t badpack[] = {0x01, 0x80};
    w_int(&t, 2, CVM_DTYPE_INT64);
    w_len(&t, 1, badpack, sizeof badpack);
    w_msg(&graph, 5, &t);
    w_model(&model, &graph);
    ASSERT_ERR(load_pbw(&model, &g), CVM_E_PARSE, "inside a varint");

    /* packed floats whose length is not a multiple of 4 */
    w_int(&t, 2, CVM_DTYPE_FLOAT32);
    w_len(&t, 4, four, 6);
    w_msg(&graph, 5, &t);
    w_model(&model, &graph);
    ASSERT_ERR(load_pbw(&model, &g), CVM_E_PARSE, "multiple of 4");

    /* external data with non-numeric offset */
    pbw e = {0};
    w_int(&t, 1, 1);
    w_int(&t, 2, CVM_DTYPE_FLOAT32);
    w_str(&t, 8, "ext");
    w_str(&e, 1, "offset");
    w_str(&e, 2, "12x");
    w_msg(&t, 13, &e);
    w_int(&t, 14, 1);
    w_msg(&graph, 5, &t);
    w_model(&model, &graph);
    ASSERT_ERR(load_pbw(&model, &g), CVM_E_PARSE, "not a number");

    /* tensors straight from memory */
    cvm_tensor *tt = NULL;
    const uint8_t bad_tensor[] = {0x08, 0x02, 0x10, 0x01, 0x4A, 0x04, 0, 0, 0, 0};
    ASSERT_ERR(cvm_onnx_parse_tensor(bad_tensor, sizeof bad_tensor, NULL, &tt, NULL), CVM_E_PARSE, "raw_data");
    assert_null(tt);
    const uint8_t empty_tensor[] = {0x08, 0x00, 0x08, 0x03, 0x10, 0x01};
    assert_int_equal(cvm_onnx_parse_tensor(empty_tensor, sizeof empty_tensor, NULL, &tt, NULL), CVM_OK);
    assert_int_equal(tt->ndim, 2);
    assert_int_equal(tt->nbytes, 0);
    cvm_tensor_free(tt);
}

static void test_hostile_graphs(void **st)
{
    (void)st;
    pbw graph = {0}, model = {0}, node = {0}, attr = {0}, t = {0};
    cvm_graph *g = NULL;
    float one = 1.0f;

    /* two producers of one value */
    w_node(&graph, "Relu", "x", "y", "r1");
    w_node(&graph, "Sigmoid", "x", "y", "r2");
    w_model(&model, &graph);
    ASSERT_ERR(load_pbw(&model, &g), CVM_E_PARSE, "produced twice");
    assert_null(g);

    /* one node naming the same output twice */
    w_str(&node, 1, "x");
    w_str(&node, 2, "y");
    w_str(&node, 2, "y");
    w_str(&node, 4, "Split");
    w_msg(&graph, 1, &node);
    w_model(&model, &graph);
    ASSERT_ERR(load_pbw(&model, &g), CVM_E_PARSE, "produced twice");

    /* initializer that a node also produces, in both orders */
    w_node(&graph, "Relu", "x", "w", "r1");
    w_raw_tensor(&t, "w", CVM_DTYPE_FLOAT32, 0, NULL, &one, 4);
    w_msg(&graph, 5, &t);
    w_model(&model, &graph);
    ASSERT_ERR(load_pbw(&model, &g), CVM_E_PARSE, "also produced by node 'r1'");
    w_raw_tensor(&t, "w", CVM_DTYPE_FLOAT32, 0, NULL, &one, 4);
    w_msg(&graph, 5, &t);
    w_node(&graph, "Relu", "x", "w", "r1");
    w_model(&model, &graph);
    ASSERT_ERR(load_pbw(&model, &g), CVM_E_PARSE, "produced twice");

    /* duplicate initializer */
    for (int i = 0; i < 2; i++) {
        w_raw_tensor(&t, "w", CVM_DTYPE_FLOAT32, 0, NULL, &one, 4);
        w_msg(&graph, 5, &t);
    }
    w_model(&model, &graph);
    ASSERT_ERR(load_pbw(&model, &g), CVM_E_PARSE, "defined twice");

    /* Constant with a string value */
    w_str(&attr, 1, "value_string");
    w_int(&attr, 20, CVM_ATTR_STRING);
    w_str(&attr, 4, "hi");
    w_str(&node, 2, "c");
    w_str(&node, 3, "const_str");
    w_str(&node, 4, "Constant");
    w_msg(&node, 5, &attr);
    w_msg(&graph, 1, &node);
    w_model(&model, &graph);
    ASSERT_ERR(load_pbw(&model, &g), CVM_E_UNSUPPORTED, "const_str");

    /* Constant without a value */
    w_node(&graph, "Constant", NULL, "c", "const_empty");
    w_model(&model, &graph);
    ASSERT_ERR(load_pbw(&model, &g), CVM_E_PARSE, "no value attribute");

    /* node without op_type */
    w_str(&node, 2, "y");
    w_str(&node, 3, "anon");
    w_msg(&graph, 1, &node);
    w_model(&model, &graph);
    ASSERT_ERR(load_pbw(&model, &g), CVM_E_PARSE, "no op_type");

    /* attribute with a bad type, wrapped with the node's name */
    w_str(&attr, 1, "alpha");
    w_int(&attr, 20, 99);
    w_str(&node, 2, "y");
    w_str(&node, 3, "lrelu");
    w_str(&node, 4, "LeakyRelu");
    w_msg(&node, 5, &attr);
    w_msg(&graph, 1, &node);
    w_model(&model, &graph);
    ASSERT_ERR(load_pbw(&model, &g), CVM_E_PARSE, "node 'lrelu' (LeakyRelu)");

    /* a value name with a NUL byte */
    w_len(&node, 1, "a\0b", 3);
    w_str(&node, 2, "y");
    w_str(&node, 4, "Relu");
    w_msg(&graph, 1, &node);
    w_model(&model, &graph);
    ASSERT_ERR(load_pbw(&model, &g), CVM_E_PARSE, "NUL");

    /* declared rank beyond the limit */
    pbw vi = {0}, tp = {0}, tt = {0}, shape = {0}, dim = {0};
    for (int i = 0; i < 9; i++) {
        w_int(&dim, 1, 1);
        w_msg(&shape, 1, &dim);
    }
    w_int(&tt, 1, CVM_DTYPE_FLOAT32);
    w_msg(&tt, 2, &shape);
    w_msg(&tp, 1, &tt);
    w_str(&vi, 1, "deep_in");
    w_msg(&vi, 2, &tp);
    w_msg(&graph, 11, &vi);
    w_model(&model, &graph);
    ASSERT_ERR(load_pbw(&model, &g), CVM_E_UNSUPPORTED, "'deep_in' is declared with 9 dims");

    /* subgraphs nested past the limit */
    pbw inner = {0};
    w_node(&inner, "Relu", "x", "y", "leaf");
    for (int depth = 0; depth < CVM_ONNX_MAX_DEPTH + 5; depth++) {
        pbw a = {0}, n = {0}, outer = {0};
        w_str(&a, 1, "body");
        w_int(&a, 20, CVM_ATTR_GRAPH);
        w_msg(&a, 6, &inner);
        w_str(&n, 2, "y");
        w_str(&n, 4, "Loop");
        w_msg(&n, 5, &a);
        w_msg(&outer, 1, &n);
        inner = outer;
    }
    w_model(&model, &inner);
    ASSERT_ERR(load_pbw(&model, &g), CVM_E_LIMIT, "nested deeper");

    /* graph inputs and outputs whose names nothing produces still get values */
    w_str(&vi, 1, "ghost_out");
    w_msg(&graph, 12, &vi);
    w_str(&vi, 1, "ghost_in");
    w_msg(&graph, 11, &vi);
    w_msg(&graph, 12, &vi); /* no name at all: the value "" */
    w_model(&model, &graph);
    assert_int_equal(load_pbw(&model, &g), CVM_OK);
    assert_int_equal(g->n_outputs, 2);
    assert_string_equal(g->values[g->outputs[1]].name, "");
    assert_int_equal(g->n_inputs, 1);
    assert_int_equal(g->values[g->inputs[0]].ndim, -1);
    assert_int_equal(g->n_opsets, 1);
    cvm_graph_free(g);
}

/* ---------------------------------------------------------- shared models */

typedef struct model_expect {
    const char *path;
    int nodes;
    int64_t opset;
    const char *input;
    int in_ndim;
    int64_t in_dims[4];
    const char *output;
} model_expect;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void test_shared_models(void **st)
{
    (void)st;
    const char *shared = getenv("CVM_SHARED_DIR");
    if (!shared || !shared[0]) {
        printf("CVM_SHARED_DIR is not set: skipping the shared model checks\n");
        skip();
    }
    /* Node counts from the onnx package, minus the Constant nodes folded away. */
    static const model_expect ex[] = {
        {"yolov8n/yolov8n_deq_fp32.onnx", 234, 12, "images", 4, {1, 3, 640, 640}, "output0"},
        {"yolov8n/yolov8n_int8.onnx", 611, 12, "images", 4, {1, 3, 640, 640}, "output0"},
        {"deimv2-atto/deimv2_atto_coco_deq_fp32.onnx", 1736 - 521, 16, "images", 4, {-1, 3, 320, 320}, "labels"},
        {"deimv2-atto/deimv2_atto_coco_int8.onnx", 2221 - 521, 16, "images", 4, {-1, 3, 320, 320}, "labels"},
        {"ppocr-v4/ch_PP-OCRv4_det_infer.onnx", 672 - 342, 11, "x", 4, {-1, 3, -1, -1}, "sigmoid_0.tmp_0"},
        {"ultraface/version-RFB-320.onnx", 242 - 31, 9, "input", 4, {1, 3, 240, 320}, "scores"},
    };
    for (size_t i = 0; i < sizeof ex / sizeof ex[0]; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/models/%s", shared, ex[i].path);
        cvm_graph *g = NULL;
        double t0 = now_ms();
        cvm_status s = cvm_onnx_load_file(path, 0, &g);
        double ms = now_ms() - t0;
        if (s != CVM_OK)
            fail_msg("%s: %s", path, cvm_last_error());
        printf("  %s: %d nodes, %d values, %.1f ms\n", ex[i].path, g->n_nodes, g->n_values, ms);
        assert_int_equal(g->n_nodes, ex[i].nodes);
        assert_int_equal(g->n_opsets >= 1, 1);
        assert_string_equal(g->opsets[0].domain, "");
        assert_int_equal(g->opsets[0].version, ex[i].opset);
        assert_int_equal(g->nodes[0].opset, ex[i].opset);
        const cvm_value *in = &g->values[g->inputs[0]];
        assert_string_equal(in->name, ex[i].input);
        assert_int_equal(in->dtype, CVM_DTYPE_FLOAT32);
        assert_int_equal(in->ndim, ex[i].in_ndim);
        for (int d = 0; d < in->ndim; d++)
            assert_int_equal(in->dims[d].value, ex[i].in_dims[d]);
        assert_string_equal(g->values[g->outputs[0]].name, ex[i].output);
        cvm_graph_free(g);
    }

    /* Every model in the folder loads. */
    char mdir[4096];
    snprintf(mdir, sizeof mdir, "%s/models", shared);
    DIR *d = opendir(mdir);
    assert_non_null(d);
    struct dirent *e;
    int loaded = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char sub[4500];
        snprintf(sub, sizeof sub, "%s/%s", mdir, e->d_name);
        DIR *sd = opendir(sub);
        if (!sd)
            continue;
        struct dirent *f;
        while ((f = readdir(sd))) {
            size_t L = strlen(f->d_name);
            if (L < 5 || strcmp(f->d_name + L - 5, ".onnx") != 0)
                continue;
            char p[5000];
            snprintf(p, sizeof p, "%s/%s", sub, f->d_name);
            cvm_graph *g = NULL;
            if (cvm_onnx_load_file(p, 0, &g) != CVM_OK)
                fail_msg("%s: %s", p, cvm_last_error());
            assert_true(g->n_nodes > 0);
            assert_true(g->n_inputs > 0 && g->n_outputs > 0);
            cvm_graph_free(g);
            loaded++;
        }
        closedir(sd);
    }
    closedir(d);
    printf("  loaded %d models\n", loaded);
    assert_true(loaded > 0);
}

/* ------------------------------------------------------------ conformance */

static void test_conformance(void **st)
{
    (void)st;
    const char *root = getenv("CVM_ONNX_TESTDATA");
    if (!root || !root[0]) {
        printf("CVM_ONNX_TESTDATA is not set: skipping the ONNX test-suite checks\n");
        skip();
    }
    char p[4096];
    cvm_graph *g = NULL;
    cvm_tensor *t = NULL;
    char *name = NULL;

    snprintf(p, sizeof p, "%s/test_conv_with_strides_padding/model.onnx", root);
    assert_int_equal(cvm_onnx_load_file(p, 0, &g), CVM_OK);
    assert_int_equal(g->n_nodes, 1);
    assert_string_equal(g->nodes[0].op_type, "Conv");
    assert_int_equal(g->nodes[0].opset, 11);
    size_t cnt;
    const int64_t *strides = cvm_attr_ints(&g->nodes[0], "strides", &cnt);
    assert_int_equal(cnt, 2);
    assert_int_equal(strides[0], 2);
    assert_int_equal(g->n_inputs, 2);
    cvm_graph_free(g);
    /* x = arange(35).reshape(1, 1, 7, 5) */
    snprintf(p, sizeof p, "%s/test_conv_with_strides_padding/test_data_set_0/input_0.pb", root);
    assert_int_equal(cvm_onnx_read_tensor_file(p, &t, &name), CVM_OK);
    assert_string_equal(name, "x");
    assert_int_equal(t->ndim, 4);
    assert_int_equal(t->dims[2], 7);
    assert_int_equal(t->dims[3], 5);
    for (int i = 0; i < 35; i++)
        assert_true(((float *)t->data)[i] == (float)i);
    cvm_tensor_free(t);
    free(name);

    /* A lone Constant: folded into its output, which must equal output_0.pb. */
    snprintf(p, sizeof p, "%s/test_constant/model.onnx", root);
    assert_int_equal(cvm_onnx_load_file(p, 0, &g), CVM_OK);
    assert_int_equal(g->n_nodes, 0);
    assert_int_equal(g->n_outputs, 1);
    const cvm_tensor *c = g->values[g->outputs[0]].init;
    assert_non_null(c);
    snprintf(p, sizeof p, "%s/test_constant/test_data_set_0/output_0.pb", root);
    assert_int_equal(cvm_onnx_read_tensor_file(p, &t, NULL), CVM_OK);
    assert_int_equal(t->nbytes, c->nbytes);
    assert_memory_equal(t->data, c->data, t->nbytes);
    assert_true(fabsf(((float *)t->data)[0] - 1.7640524f) < 1e-6f); /* numpy seed 0 */
    cvm_tensor_free(t);
    cvm_graph_free(g);

    /* Control flow with subgraphs. */
    snprintf(p, sizeof p, "%s/test_loop11/model.onnx", root);
    assert_int_equal(cvm_onnx_load_file(p, 0, &g), CVM_OK);
    assert_int_equal(g->n_nodes, 1);
    const cvm_attr *body = cvm_node_attr(&g->nodes[0], "body");
    assert_non_null(body);
    assert_int_equal(body->type, CVM_ATTR_GRAPH);
    assert_true(body->g->n_nodes > 0);
    assert_int_equal(g->n_inputs, 3);
    cvm_graph_free(g);

    /* Every model and tensor in the suite loads or fails with a message. */
    DIR *d = opendir(root);
    assert_non_null(d);
    struct dirent *e;
    int models = 0, ok = 0;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "test_", 5) != 0)
            continue;
        snprintf(p, sizeof p, "%s/%s/model.onnx", root, e->d_name);
        cvm_status s = cvm_onnx_load_file(p, 0, &g);
        models++;
        if (s == CVM_OK) {
            ok++;
            cvm_graph_free(g);
        } else {
            assert_true(cvm_last_error()[0] != '\0');
        }
    }
    closedir(d);
    printf("  %d of %d conformance models loaded\n", ok, models);
    assert_int_equal(ok, models);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_features_model),
        cmocka_unit_test(test_ir3_inputs),
        cmocka_unit_test(test_external_data),
        cmocka_unit_test(test_tensor_files),
        cmocka_unit_test(test_raw_mismatch_and_limits),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_bad_wire),
        cmocka_unit_test(test_unknown_fields_and_unpacked),
        cmocka_unit_test(test_hostile_tensors),
        cmocka_unit_test(test_hostile_graphs),
        cmocka_unit_test(test_shared_models),
        cmocka_unit_test(test_conformance),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
