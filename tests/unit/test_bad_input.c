/*
 * Hostile and careless callers of the public engine API (include/cvm/cvm.h).
 *
 * Every case checks four things: a failing status (never CVM_OK, never a
 * crash), a message that names the problem (non-empty and containing a key
 * word), nothing handed back through the output arguments, and -- when the
 * test runs in the ASan build -- no leak on the error path.
 *
 * Models are written in memory by tests/reliability/onnx_writer.h, except the
 * truncation and bit-flip sweeps, which also take a real exporter graph from
 * tests/data/exports when it is present.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cvm/cvm.h"
#include "../reliability/onnx_writer.h"

/* Huge allocation requests must come back as CVM_E_NOMEM, not as an ASan
 * abort: let the sanitizer's allocator return NULL like libc's does. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }

#define F32 CVM_DTYPE_FLOAT32
#define I64 CVM_DTYPE_INT64

/* Checks a failure: the status, and a message containing `word`
 * (case-insensitive) when word is not NULL. */
static void expect_fail_(cvm_status got, cvm_status want, const char *word, const char *what, int line)
{
    const char *msg = cvm_last_error();
    if (getenv("CVM_TEST_VERBOSE"))
        print_message("%-34s %-18s %s\n", what, cvm_status_name(got), msg);
    if (got == CVM_OK || (want != CVM_OK && got != want)) {
        print_error("line %d, %s: got %s, want %s (message: \"%s\")\n", line, what, cvm_status_name(got),
                    want != CVM_OK ? cvm_status_name(want) : "any error", msg);
        fail();
    }
    if (!msg || !msg[0]) {
        print_error("line %d, %s: %s with an empty message\n", line, what, cvm_status_name(got));
        fail();
    }
    if (word) {
        size_t n = strlen(word);
        int found = 0;
        for (const char *p = msg; *p && !found; p++)
            found = strncasecmp(p, word, n) == 0;
        if (!found) {
            print_error("line %d, %s: message \"%s\" does not mention \"%s\"\n", line, what, msg, word);
            fail();
        }
    }
}
#define expect_fail(got, want, word, what) expect_fail_((got), (want), (word), (what), __LINE__)

/* ------------------------------------------------------------------ models */

typedef enum model_kind {
    M_ADD_RELU,          /* y = Relu(x[N,4] + w[4]) */
    M_TILE_STATIC,       /* y = Tile(x[1,4], [1,10000]): 160000-byte output */
    M_TILE_DYNAMIC,      /* y = Tile(x[N,4], [1,1000]): 16000*N bytes */
    M_HUGE_INPUT,        /* x declared [2^40, 2^40]: the byte count overflows */
    M_HUGE_OUTPUT,       /* x declared [65536, 65536]: 16 GiB activation */
    M_HUGE_INIT,         /* initializer declared [2^40] with 16 bytes of data */
    M_UNKNOWN_OP,
    M_CYCLE,
    M_UNDEFINED_INPUT,   /* a node reads a value nobody defines */
    M_UNPRODUCED_OUTPUT, /* a graph output no node writes */
    M_BAD_PERM,          /* Transpose perm out of range */
    M_BAD_BROADCAST,     /* Add of [2,4] and [3] */
    M_MIXED_DTYPE,       /* Add of float32 and int64 */
    M_RANK9_INPUT,       /* an input of rank 9 */
    M_DUP_PRODUCER       /* two nodes write the same value */
} model_kind;

static ow_buf build_model(model_kind k)
{
    ow_buf g = {0}, attrs = {0};
    const int64_t dyn4[2] = {-1, 4}, one4[2] = {1, 4}, d4 = 4;
    const float w[4] = {-1.5f, -0.5f, 0.5f, 1.5f};
    switch (k) {
    case M_ADD_RELU:
        ow_initializer(&g, "w", F32, 1, &d4, w, sizeof w);
        ow_node(&g, "Add", "add0", (const char *[]){"x", "w", NULL}, (const char *[]){"s", NULL}, NULL);
        ow_node(&g, "Relu", "relu0", (const char *[]){"s", NULL}, (const char *[]){"y", NULL}, NULL);
        ow_input(&g, "x", F32, 2, dyn4);
        ow_output(&g, "y", F32, 2, dyn4);
        break;
    case M_TILE_STATIC:
    case M_TILE_DYNAMIC: {
        const int64_t reps[2] = {1, k == M_TILE_STATIC ? 10000 : 1000}, d2 = 2;
        ow_initializer(&g, "reps", I64, 1, &d2, reps, sizeof reps);
        ow_node(&g, "Tile", "tile0", (const char *[]){"x", "reps", NULL}, (const char *[]){"big", NULL}, NULL);
        ow_node(&g, "Relu", "relu0", (const char *[]){"big", NULL}, (const char *[]){"y", NULL}, NULL);
        ow_input(&g, "x", F32, 2, k == M_TILE_STATIC ? one4 : dyn4);
        ow_output(&g, "y", F32, 2, (const int64_t[]){-1, -1});
        break;
    }
    case M_HUGE_INPUT:
    case M_HUGE_OUTPUT:
    case M_RANK9_INPUT: {
        const int64_t huge[2] = {(int64_t)1 << 40, (int64_t)1 << 40}, big[2] = {65536, 65536};
        const int64_t r9[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
        ow_node(&g, "Relu", "relu0", (const char *[]){"x", NULL}, (const char *[]){"y", NULL}, NULL);
        if (k == M_RANK9_INPUT)
            ow_input(&g, "x", F32, 9, r9);
        else
            ow_input(&g, "x", F32, 2, k == M_HUGE_INPUT ? huge : big);
        ow_output(&g, "y", F32, -1, NULL);
        break;
    }
    case M_HUGE_INIT: {
        const int64_t huge = (int64_t)1 << 40;
        ow_initializer(&g, "w", F32, 1, &huge, w, sizeof w);
        ow_node(&g, "Add", "add0", (const char *[]){"x", "w", NULL}, (const char *[]){"y", NULL}, NULL);
        ow_input(&g, "x", F32, 2, one4);
        ow_output(&g, "y", F32, -1, NULL);
        break;
    }
    case M_UNKNOWN_OP:
        ow_node(&g, "NoSuchOperator", "n0", (const char *[]){"x", NULL}, (const char *[]){"y", NULL}, NULL);
        ow_input(&g, "x", F32, 2, one4);
        ow_output(&g, "y", F32, -1, NULL);
        break;
    case M_CYCLE:
        ow_node(&g, "Relu", "first", (const char *[]){"b", NULL}, (const char *[]){"a", NULL}, NULL);
        ow_node(&g, "Relu", "second", (const char *[]){"a", NULL}, (const char *[]){"b", NULL}, NULL);
        ow_node(&g, "Add", "third", (const char *[]){"x", "b", NULL}, (const char *[]){"y", NULL}, NULL);
        ow_input(&g, "x", F32, 2, one4);
        ow_output(&g, "y", F32, -1, NULL);
        break;
    case M_UNDEFINED_INPUT:
        ow_node(&g, "Add", "add0", (const char *[]){"x", "ghost", NULL}, (const char *[]){"y", NULL}, NULL);
        ow_input(&g, "x", F32, 2, one4);
        ow_output(&g, "y", F32, -1, NULL);
        break;
    case M_UNPRODUCED_OUTPUT:
        ow_node(&g, "Relu", "relu0", (const char *[]){"x", NULL}, (const char *[]){"y", NULL}, NULL);
        ow_input(&g, "x", F32, 2, one4);
        ow_output(&g, "y", F32, -1, NULL);
        ow_output(&g, "nowhere", F32, -1, NULL);
        break;
    case M_BAD_PERM:
        ow_attr_ints(&attrs, "perm", 2, (const int64_t[]){0, 5});
        ow_node(&g, "Transpose", "tr0", (const char *[]){"x", NULL}, (const char *[]){"y", NULL}, &attrs);
        ow_input(&g, "x", F32, 2, one4);
        ow_output(&g, "y", F32, -1, NULL);
        break;
    case M_BAD_BROADCAST: {
        const int64_t d3 = 3, x24[2] = {2, 4};
        ow_initializer(&g, "w", F32, 1, &d3, w, 3 * sizeof(float));
        ow_node(&g, "Add", "add0", (const char *[]){"x", "w", NULL}, (const char *[]){"y", NULL}, NULL);
        ow_input(&g, "x", F32, 2, x24);
        ow_output(&g, "y", F32, -1, NULL);
        break;
    }
    case M_MIXED_DTYPE: {
        const int64_t iw[4] = {1, 2, 3, 4};
        ow_initializer(&g, "w", I64, 1, &d4, iw, sizeof iw);
        ow_node(&g, "Add", "add0", (const char *[]){"x", "w", NULL}, (const char *[]){"y", NULL}, NULL);
        ow_input(&g, "x", F32, 2, one4);
        ow_output(&g, "y", F32, -1, NULL);
        break;
    }
    case M_DUP_PRODUCER:
        ow_node(&g, "Relu", "r1", (const char *[]){"x", NULL}, (const char *[]){"y", NULL}, NULL);
        ow_node(&g, "Neg", "r2", (const char *[]){"x", NULL}, (const char *[]){"y", NULL}, NULL);
        ow_input(&g, "x", F32, 2, one4);
        ow_output(&g, "y", F32, -1, NULL);
        break;
    }
    return ow_model(&g, 17);
}

static cvm_session *load_ok(model_kind k, const cvm_session_options *o)
{
    ow_buf m = build_model(k);
    cvm_session *s = NULL;
    cvm_status st = cvm_session_create_from_memory(m.p, m.n, NULL, o, &s);
    if (st != CVM_OK)
        print_error("model %d: %s\n", (int)k, cvm_last_error());
    assert_int_equal(st, CVM_OK);
    assert_non_null(s);
    ow_free(&m);
    return s;
}

static cvm_tensor *filled(cvm_dtype dt, int ndim, const int64_t *dims, float base)
{
    cvm_tensor *t = NULL;
    assert_int_equal(cvm_tensor_create(dt, ndim, dims, &t), CVM_OK);
    if (dt == F32)
        for (int64_t i = 0; i < cvm_tensor_numel(t); i++)
            ((float *)t->data)[i] = base + (float)(i % 5) - 2.0f;
    return t;
}

/* ---------------------------------------------- small, infallible functions */

static void test_names_and_sizes(void **st)
{
    (void)st;
    assert_string_equal(cvm_status_name(CVM_OK), "CVM_OK");
    assert_string_equal(cvm_status_name(CVM_E_LIMIT), "CVM_E_LIMIT");
    assert_string_equal(cvm_status_name((cvm_status)12345), "CVM_E_UNKNOWN");
    assert_string_equal(cvm_status_name((cvm_status)-1), "CVM_E_UNKNOWN");
    assert_int_equal(cvm_dtype_size(CVM_DTYPE_UNDEFINED), 0);
    assert_int_equal(cvm_dtype_size(CVM_DTYPE_STRING), 0);
    assert_int_equal(cvm_dtype_size((cvm_dtype)99), 0);
    assert_int_equal(cvm_dtype_size((cvm_dtype)-7), 0);
    assert_string_equal(cvm_dtype_name((cvm_dtype)99), "?");
    assert_string_equal(cvm_dtype_name((cvm_dtype)-7), "?");
    assert_non_null(cvm_last_error());
    /* The *_free functions accept NULL. */
    cvm_tensor_free(NULL);
    cvm_session_free(NULL);
    assert_int_equal(cvm_tensor_numel(NULL), 0);
    /* A caller-filled header with a nonsense rank must not be read past its dims. */
    cvm_tensor t;
    memset(&t, 0, sizeof t);
    t.dtype = F32;
    t.ndim = 1000;
    for (int i = 0; i < CVM_MAX_DIMS; i++)
        t.dims[i] = 2;
    assert_int_equal(cvm_tensor_numel(&t), 0);
    t.ndim = -3;
    assert_int_equal(cvm_tensor_numel(&t), 0);
    t.ndim = 2;
    t.dims[1] = -1;
    assert_int_equal(cvm_tensor_numel(&t), 0);
    t.dims[0] = INT64_MAX;
    t.dims[1] = 3;
    assert_int_equal(cvm_tensor_numel(&t), 0); /* overflow */
    expect_fail(cvm_session_options_init(NULL), CVM_E_INVALID_ARG, "options", "options_init(NULL)");
}

/* ----------------------------------------------------------------- tensors */

typedef struct tensor_case {
    const char *what;
    cvm_dtype dtype;
    int ndim;
    int64_t dims[10];
    int null_dims;
    cvm_status want;
    const char *word;
} tensor_case;

static const tensor_case tensor_cases[] = {
    {"undefined dtype", CVM_DTYPE_UNDEFINED, 1, {4}, 0, CVM_E_TYPE, "dtype"},
    {"string dtype", CVM_DTYPE_STRING, 1, {4}, 0, CVM_E_TYPE, "dtype"},
    {"unknown dtype", (cvm_dtype)77, 1, {4}, 0, CVM_E_TYPE, "77"},
    {"negative rank", F32, -1, {4}, 0, CVM_E_SHAPE, "rank"},
    {"rank 9", F32, 9, {1, 1, 1, 1, 1, 1, 1, 1, 1}, 0, CVM_E_SHAPE, "rank"},
    {"huge rank", F32, 1 << 30, {1}, 0, CVM_E_SHAPE, "rank"},
    {"NULL dims", F32, 2, {0}, 1, CVM_E_INVALID_ARG, "dims"},
    {"negative dim", F32, 2, {3, -2}, 0, CVM_E_SHAPE, "negative"},
    {"element count overflows", F32, 3, {1 << 30, 1 << 30, 1 << 30}, 0, CVM_E_SHAPE, "overflow"},
    {"byte count overflows", CVM_DTYPE_FLOAT64, 2, {(int64_t)1 << 31, (int64_t)1 << 31}, 0, CVM_E_SHAPE,
     "overflow"},
    {"INT64_MAX dim", CVM_DTYPE_UINT8, 2, {INT64_MAX, 2}, 0, CVM_E_SHAPE, "overflow"},
    /* 2^50 bytes fits size_t but no machine has it. */
    {"2^50 bytes", CVM_DTYPE_UINT8, 2, {(int64_t)1 << 25, (int64_t)1 << 25}, 0, CVM_E_NOMEM, "memory"},
};

static void test_tensor_create_table(void **st)
{
    (void)st;
    for (size_t i = 0; i < sizeof tensor_cases / sizeof *tensor_cases; i++) {
        const tensor_case *c = &tensor_cases[i];
        cvm_tensor *t = (cvm_tensor *)&t; /* a sentinel that must be overwritten with NULL */
        expect_fail(cvm_tensor_create(c->dtype, c->ndim, c->null_dims ? NULL : c->dims, &t), c->want, c->word,
                    c->what);
        assert_null(t);
        /* The same header checks apply to a wrapped buffer. */
        if (c->want != CVM_E_NOMEM) {
            uint8_t buf[16];
            t = (cvm_tensor *)&t;
            expect_fail(cvm_tensor_wrap(c->dtype, c->ndim, c->null_dims ? NULL : c->dims, buf, sizeof buf, &t),
                        c->want, c->word, c->what);
            assert_null(t);
        }
    }
    expect_fail(cvm_tensor_create(F32, 1, (const int64_t[]){2}, NULL), CVM_E_INVALID_ARG, "out", "create NULL out");
    expect_fail(cvm_tensor_wrap(F32, 1, (const int64_t[]){2}, NULL, 8, NULL), CVM_E_INVALID_ARG, "out",
                "wrap NULL out");
}

static void test_tensor_wrap_buffers(void **st)
{
    (void)st;
    float buf[6] = {0};
    cvm_tensor *t = (cvm_tensor *)&t;
    expect_fail(cvm_tensor_wrap(F32, 2, (const int64_t[]){2, 3}, NULL, sizeof buf, &t), CVM_E_INVALID_ARG, "data",
                "wrap NULL data");
    assert_null(t);
    t = (cvm_tensor *)&t;
    expect_fail(cvm_tensor_wrap(F32, 2, (const int64_t[]){2, 3}, buf, sizeof buf - 1, &t), CVM_E_SHAPE, "23",
                "wrap short buffer");
    assert_null(t);
    t = (cvm_tensor *)&t;
    expect_fail(cvm_tensor_wrap(F32, 2, (const int64_t[]){2, 3}, buf, 0, &t), CVM_E_SHAPE, "smaller",
                "wrap empty buffer");
    assert_null(t);
    /* Empty tensors are fine with no data at all. */
    assert_int_equal(cvm_tensor_wrap(F32, 2, (const int64_t[]){0, 3}, NULL, 0, &t), CVM_OK);
    assert_int_equal(cvm_tensor_numel(t), 0);
    cvm_tensor_free(t);
    assert_int_equal(cvm_tensor_create(F32, 2, (const int64_t[]){0, 3}, &t), CVM_OK);
    assert_non_null(t->data);
    cvm_tensor_free(t);
}

/* ------------------------------------------------------- creating sessions */

static void test_session_create_args(void **st)
{
    (void)st;
    cvm_session *s = (cvm_session *)&s;
    expect_fail(cvm_session_create(NULL, NULL, &s), CVM_E_INVALID_ARG, "path", "create NULL path");
    assert_null(s);
    expect_fail(cvm_session_create("x.onnx", NULL, NULL), CVM_E_INVALID_ARG, "out", "create NULL out");
    s = (cvm_session *)&s;
    expect_fail(cvm_session_create("no/such/dir/model.onnx", NULL, &s), CVM_E_NOT_FOUND, "no/such/dir/model.onnx",
                "missing file");
    assert_null(s);
    s = (cvm_session *)&s;
    expect_fail(cvm_session_create(".", NULL, &s), CVM_OK, ".", "a directory");
    assert_null(s);
    s = (cvm_session *)&s;
    expect_fail(cvm_session_create("", NULL, &s), CVM_OK, NULL, "empty path");
    assert_null(s);

    ow_buf m = build_model(M_ADD_RELU);
    s = (cvm_session *)&s;
    expect_fail(cvm_session_create_from_memory(NULL, 10, NULL, NULL, &s), CVM_E_INVALID_ARG, "data",
                "memory NULL data");
    assert_null(s);
    expect_fail(cvm_session_create_from_memory(m.p, m.n, NULL, NULL, NULL), CVM_E_INVALID_ARG, "out",
                "memory NULL out");
    s = (cvm_session *)&s;
    expect_fail(cvm_session_create_from_memory(m.p, 0, NULL, NULL, &s), CVM_OK, "graph", "zero bytes");
    assert_null(s);
    s = (cvm_session *)&s;
    expect_fail(cvm_session_create_from_memory(NULL, 0, NULL, NULL, &s), CVM_OK, "graph", "NULL, zero bytes");
    assert_null(s);
    const char junk[] = "this is not a protobuf \xff\xff\xff\xff\xff\xff\xff\xff\xff\xff";
    s = (cvm_session *)&s;
    expect_fail(cvm_session_create_from_memory(junk, sizeof junk, NULL, NULL, &s), CVM_E_PARSE, "offset", "junk");
    assert_null(s);

    /* Options out of range. */
    cvm_session_options o;
    assert_int_equal(cvm_session_options_init(&o), CVM_OK);
    o.threads = 100000;
    s = (cvm_session *)&s;
    expect_fail(cvm_session_create_from_memory(m.p, m.n, NULL, &o, &s), CVM_E_INVALID_ARG, "thread",
                "100000 threads");
    assert_null(s);
    ow_free(&m);
}

typedef struct model_case {
    const char *what;
    model_kind kind;
    cvm_status want;
    const char *word;
} model_case;

static const model_case model_cases[] = {
    {"declared input dims overflow", M_HUGE_INPUT, CVM_E_SHAPE, "shape"},
    {"16 GiB activation", M_HUGE_OUTPUT, CVM_E_LIMIT, "limit"},
    {"initializer larger than its data", M_HUGE_INIT, CVM_E_PARSE, "'w'"},
    {"unknown operator", M_UNKNOWN_OP, CVM_E_UNSUPPORTED, "NoSuchOperator"},
    {"cycle", M_CYCLE, CVM_E_PARSE, "cycle"},
    {"undefined value", M_UNDEFINED_INPUT, CVM_E_PARSE, "ghost"},
    {"output nobody writes", M_UNPRODUCED_OUTPUT, CVM_E_PARSE, "nowhere"},
    {"Transpose perm out of range", M_BAD_PERM, CVM_E_SHAPE, "perm"},
    {"shapes that do not broadcast", M_BAD_BROADCAST, CVM_E_SHAPE, "add0"},
    {"float32 + int64", M_MIXED_DTYPE, CVM_E_TYPE, "int64"},
    {"rank-9 input", M_RANK9_INPUT, CVM_OK, "9 dims"},
    {"value written twice", M_DUP_PRODUCER, CVM_E_PARSE, "'y'"},
};

static void test_hostile_models(void **st)
{
    (void)st;
    for (size_t i = 0; i < sizeof model_cases / sizeof *model_cases; i++) {
        const model_case *c = &model_cases[i];
        ow_buf m = build_model(c->kind);
        cvm_session *s = (cvm_session *)&s;
        expect_fail(cvm_session_create_from_memory(m.p, m.n, NULL, NULL, &s), c->want, c->word, c->what);
        assert_null(s);
        ow_free(&m);
    }
}

/* -------------------------------------------------------- session queries */

static void test_session_queries(void **st)
{
    (void)st;
    cvm_session *s = load_ok(M_ADD_RELU, NULL);
    size_t n = 77;
    expect_fail(cvm_session_input_count(NULL, &n), CVM_E_INVALID_ARG, "NULL", "input_count(NULL)");
    expect_fail(cvm_session_input_count(s, NULL), CVM_E_INVALID_ARG, "NULL", "input_count(s, NULL)");
    expect_fail(cvm_session_output_count(NULL, &n), CVM_E_INVALID_ARG, "NULL", "output_count(NULL)");
    expect_fail(cvm_session_output_count(s, NULL), CVM_E_INVALID_ARG, "NULL", "output_count(s, NULL)");
    assert_int_equal(n, 77);

    cvm_value_info info, blank;
    memset(&info, 0xA5, sizeof info);
    memcpy(&blank, &info, sizeof info);
    const size_t bad_index[] = {1, 2, 1000, (size_t)INT32_MAX + 1, SIZE_MAX};
    for (size_t i = 0; i < sizeof bad_index / sizeof *bad_index; i++) {
        expect_fail(cvm_session_input_info(s, bad_index[i], &info), CVM_E_INVALID_ARG, "out of range",
                    "input_info index");
        expect_fail(cvm_session_output_info(s, bad_index[i], &info), CVM_E_INVALID_ARG, "out of range",
                    "output_info index");
    }
    expect_fail(cvm_session_input_info(NULL, 0, &info), CVM_E_INVALID_ARG, "NULL", "input_info(NULL)");
    expect_fail(cvm_session_output_info(NULL, 0, &info), CVM_E_INVALID_ARG, "NULL", "output_info(NULL)");
    expect_fail(cvm_session_input_info(s, 0, NULL), CVM_E_INVALID_ARG, "NULL", "input_info(s, 0, NULL)");
    expect_fail(cvm_session_output_info(s, 0, NULL), CVM_E_INVALID_ARG, "NULL", "output_info(s, 0, NULL)");
    assert_memory_equal(&info, &blank, sizeof info);

    cvm_session_stats stats, sblank;
    memset(&stats, 0xA5, sizeof stats);
    memcpy(&sblank, &stats, sizeof stats);
    expect_fail(cvm_session_get_stats(NULL, &stats), CVM_E_INVALID_ARG, "NULL", "get_stats(NULL)");
    expect_fail(cvm_session_get_stats(s, NULL), CVM_E_INVALID_ARG, "NULL", "get_stats(s, NULL)");
    assert_memory_equal(&stats, &sblank, sizeof stats);

    /* The good path still works after all that. */
    assert_int_equal(cvm_session_input_info(s, 0, &info), CVM_OK);
    assert_string_equal(info.name, "x");
    assert_int_equal(info.ndim, 2);
    assert_int_equal(info.dims[0], -1);
    assert_string_equal(info.dim_names[0], "N");
    cvm_session_free(s);
}

/* ------------------------------------------------------------- running */

typedef enum feed_kind {
    FEED_GOOD,
    FEED_NULL_TENSOR,
    FEED_WRONG_DTYPE,
    FEED_WRONG_RANK,
    FEED_WRONG_DIM,
    FEED_NEG_DIM,
    FEED_RANK_TOO_BIG,
    FEED_NULL_DATA,
    FEED_SHORT_BUFFER,
    FEED_OVERFLOW_SHAPE,
    FEED_BAD_DTYPE_CODE
} feed_kind;

typedef struct run_case {
    const char *what;
    int null_session;
    size_t n_inputs;
    int null_names, null_inputs, null_outputs;
    const char *name0, *name1;     /* input names used (NULL entries allowed) */
    feed_kind feed;
    size_t n_outputs;
    int use_out_names;
    const char *out_name0, *out_name1;
    cvm_status want;
    const char *word;
} run_case;

static const run_case run_cases[] = {
    {"NULL session", 1, 1, 0, 0, 0, "x", NULL, FEED_GOOD, 1, 0, NULL, NULL, CVM_E_INVALID_ARG, "NULL"},
    {"NULL input names", 0, 1, 1, 0, 0, "x", NULL, FEED_GOOD, 1, 0, NULL, NULL, CVM_E_INVALID_ARG, "NULL"},
    {"NULL inputs", 0, 1, 0, 1, 0, "x", NULL, FEED_GOOD, 1, 0, NULL, NULL, CVM_E_INVALID_ARG, "NULL"},
    {"NULL outputs", 0, 1, 0, 0, 1, "x", NULL, FEED_GOOD, 1, 0, NULL, NULL, CVM_E_INVALID_ARG, "NULL"},
    {"no inputs", 0, 0, 0, 0, 0, NULL, NULL, FEED_GOOD, 1, 0, NULL, NULL, CVM_E_INVALID_ARG, "'x'"},
    {"NULL input name", 0, 1, 0, 0, 0, NULL, NULL, FEED_GOOD, 1, 0, NULL, NULL, CVM_E_INVALID_ARG, "NULL"},
    {"unknown input", 0, 1, 0, 0, 0, "images", NULL, FEED_GOOD, 1, 0, NULL, NULL, CVM_E_NOT_FOUND, "'images'"},
    {"input twice", 0, 2, 0, 0, 0, "x", "x", FEED_GOOD, 1, 0, NULL, NULL, CVM_E_INVALID_ARG, "twice"},
    {"NULL tensor", 0, 1, 0, 0, 0, "x", NULL, FEED_NULL_TENSOR, 1, 0, NULL, NULL, CVM_E_INVALID_ARG, "NULL"},
    {"int64 for float32", 0, 1, 0, 0, 0, "x", NULL, FEED_WRONG_DTYPE, 1, 0, NULL, NULL, CVM_E_TYPE, "float32"},
    {"rank 3 for rank 2", 0, 1, 0, 0, 0, "x", NULL, FEED_WRONG_RANK, 1, 0, NULL, NULL, CVM_E_SHAPE, "[-1,4]"},
    {"[2,5] for [N,4]", 0, 1, 0, 0, 0, "x", NULL, FEED_WRONG_DIM, 1, 0, NULL, NULL, CVM_E_SHAPE, "[2,5]"},
    {"negative dim", 0, 1, 0, 0, 0, "x", NULL, FEED_NEG_DIM, 1, 0, NULL, NULL, CVM_E_SHAPE, "'x'"},
    {"rank 12 header", 0, 1, 0, 0, 0, "x", NULL, FEED_RANK_TOO_BIG, 1, 0, NULL, NULL, CVM_E_SHAPE, "rank"},
    {"data NULL", 0, 1, 0, 0, 0, "x", NULL, FEED_NULL_DATA, 1, 0, NULL, NULL, CVM_E_INVALID_ARG, "bytes"},
    {"buffer too short", 0, 1, 0, 0, 0, "x", NULL, FEED_SHORT_BUFFER, 1, 0, NULL, NULL, CVM_E_INVALID_ARG, "bytes"},
    {"shape overflows", 0, 1, 0, 0, 0, "x", NULL, FEED_OVERFLOW_SHAPE, 1, 0, NULL, NULL, CVM_E_SHAPE, "invalid"},
    {"dtype code 200", 0, 1, 0, 0, 0, "x", NULL, FEED_BAD_DTYPE_CODE, 1, 0, NULL, NULL, CVM_E_SHAPE, "'x'"},
    {"0 outputs without names", 0, 1, 0, 0, 0, "x", NULL, FEED_GOOD, 0, 0, NULL, NULL, CVM_E_INVALID_ARG, "outputs"},
    {"2 outputs without names", 0, 1, 0, 0, 0, "x", NULL, FEED_GOOD, 2, 0, NULL, NULL, CVM_E_INVALID_ARG, "outputs"},
    {"unknown output", 0, 1, 0, 0, 0, "x", NULL, FEED_GOOD, 1, 1, "zz", NULL, CVM_E_NOT_FOUND, "'zz'"},
    {"NULL output name", 0, 1, 0, 0, 0, "x", NULL, FEED_GOOD, 1, 1, NULL, NULL, CVM_E_NOT_FOUND, "null"},
    {"internal value as output", 0, 1, 0, 0, 0, "x", NULL, FEED_GOOD, 2, 1, "y", "s", CVM_E_NOT_FOUND, "'s'"},
};

static void test_run_table(void **st)
{
    (void)st;
    cvm_session *s = load_ok(M_ADD_RELU, NULL);
    static const int64_t good[2] = {3, 4};
    float small[4] = {0};
    for (size_t i = 0; i < sizeof run_cases / sizeof *run_cases; i++) {
        const run_case *c = &run_cases[i];
        cvm_tensor *x = NULL, hdr;
        switch (c->feed) {
        case FEED_GOOD: x = filled(F32, 2, good, 0); break;
        case FEED_NULL_TENSOR: break;
        case FEED_WRONG_DTYPE: x = filled(I64, 2, good, 0); break;
        case FEED_WRONG_RANK: x = filled(F32, 3, (const int64_t[]){1, 3, 4}, 0); break;
        case FEED_WRONG_DIM: x = filled(F32, 2, (const int64_t[]){2, 5}, 0); break;
        default:
            /* Headers a careless caller fills in by hand. */
            memset(&hdr, 0, sizeof hdr);
            hdr.dtype = F32;
            hdr.ndim = 2;
            hdr.dims[0] = 1;
            hdr.dims[1] = 4;
            hdr.data = small;
            hdr.nbytes = sizeof small;
            if (c->feed == FEED_NEG_DIM)
                hdr.dims[0] = -1;
            if (c->feed == FEED_RANK_TOO_BIG)
                hdr.ndim = 12;
            if (c->feed == FEED_NULL_DATA)
                hdr.data = NULL;
            if (c->feed == FEED_SHORT_BUFFER)
                hdr.nbytes = sizeof small - 1;
            if (c->feed == FEED_OVERFLOW_SHAPE)
                hdr.dims[0] = INT64_MAX / 2;
            if (c->feed == FEED_BAD_DTYPE_CODE)
                hdr.dtype = (cvm_dtype)200;
            break;
        }
        const cvm_tensor *feeds[2] = {c->feed >= FEED_NEG_DIM ? &hdr : x, x ? x : &hdr};
        const char *names[2] = {c->name0, c->name1};
        const char *onames[2] = {c->out_name0, c->out_name1};
        cvm_tensor *sentinel = (cvm_tensor *)&sentinel;
        cvm_tensor *outs[3] = {sentinel, sentinel, sentinel};
        cvm_status got = cvm_session_run(c->null_session ? NULL : s, c->n_inputs, c->null_names ? NULL : names,
                                         c->null_inputs ? NULL : feeds, c->n_outputs,
                                         c->use_out_names ? onames : NULL, c->null_outputs ? NULL : outs);
        expect_fail(got, c->want, c->word, c->what);
        /* Nothing handed back: requested slots are NULL or untouched, the
         * slots past n_outputs are untouched. */
        for (size_t k = 0; k < 3; k++) {
            if (k < c->n_outputs && outs[k] != NULL && outs[k] != sentinel) {
                print_error("%s: output %zu was written\n", c->what, k);
                fail();
            }
            if (k >= c->n_outputs)
                assert_ptr_equal(outs[k], sentinel);
        }
        cvm_tensor_free(x);
    }
    /* And the session still runs correctly afterwards. */
    cvm_tensor *x = filled(F32, 2, good, 0), *y = NULL;
    const char *name = "x";
    assert_int_equal(cvm_session_run(s, 1, &name, (const cvm_tensor *const *)&x, 1, NULL, &y), CVM_OK);
    const float w[4] = {-1.5f, -0.5f, 0.5f, 1.5f};
    for (int64_t i = 0; i < 12; i++) {
        float v = ((float *)x->data)[i] + w[i % 4];
        assert_float_equal(((float *)y->data)[i], v > 0 ? v : 0, 0);
    }
    cvm_tensor_free(x);
    cvm_tensor_free(y);
    cvm_session_free(s);
}

/* ------------------------------------------------------------------ limits */

static void test_max_tensor_bytes(void **st)
{
    (void)st;
    cvm_session_options o;
    assert_int_equal(cvm_session_options_init(&o), CVM_OK);
    o.max_tensor_bytes = 65536;

    /* Static shapes: refused when the session is built, naming the ceiling. */
    ow_buf m = build_model(M_TILE_STATIC);
    cvm_session *s = (cvm_session *)&s;
    expect_fail(cvm_session_create_from_memory(m.p, m.n, NULL, &o, &s), CVM_E_LIMIT, "65536", "static Tile");
    assert_non_null(strstr(cvm_last_error(), "160000"));
    assert_null(s);
    /* The default ceiling (4 GiB) accepts the same model. */
    s = load_ok(M_TILE_STATIC, NULL);
    cvm_session_free(s);
    /* A ceiling just at the size is enough: the limit is inclusive. */
    o.max_tensor_bytes = 160000;
    s = load_ok(M_TILE_STATIC, &o);
    cvm_session_free(s);
    o.max_tensor_bytes = 159999;
    s = (cvm_session *)&s;
    expect_fail(cvm_session_create_from_memory(m.p, m.n, NULL, &o, &s), CVM_E_LIMIT, "159999", "Tile at limit-1");
    assert_null(s);
    ow_free(&m);

    /* Symbolic shapes: the plan for the fed shape is refused at run time, and
     * smaller shapes keep working on the same session. */
    o.max_tensor_bytes = 65536;
    s = load_ok(M_TILE_DYNAMIC, &o);
    const char *name = "x";
    for (int pass = 0; pass < 2; pass++) {
        cvm_tensor *x = filled(F32, 2, (const int64_t[]){1, 4}, 1), *y = NULL; /* 16000 bytes */
        assert_int_equal(cvm_session_run(s, 1, &name, (const cvm_tensor *const *)&x, 1, NULL, &y), CVM_OK);
        assert_int_equal(y->dims[1], 4000);
        cvm_tensor_free(x);
        cvm_tensor_free(y);
        x = filled(F32, 2, (const int64_t[]){8, 4}, 1); /* 128000 bytes */
        y = (cvm_tensor *)&y;
        expect_fail(cvm_session_run(s, 1, &name, (const cvm_tensor *const *)&x, 1, NULL, &y), CVM_E_LIMIT, "65536",
                    "dynamic Tile");
        assert_null(y);
        cvm_tensor_free(x);
    }
    cvm_session_free(s);
}

/* -------------------------------------------- truncated and bit-flipped files */

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *d = sz > 0 ? malloc((size_t)sz) : NULL;
    if (d && fread(d, 1, (size_t)sz, f) != (size_t)sz) {
        free(d);
        d = NULL;
    }
    fclose(f);
    *n = (size_t)sz;
    return d;
}

/* Loads a damaged model; if it loads, runs it once on every input with the
 * declared shape (symbolic dims fed 1).  Returns 1 when creation failed. */
static int try_damaged(const uint8_t *p, size_t n, const cvm_session_options *o)
{
    cvm_session *s = (cvm_session *)&s;
    cvm_status st = cvm_session_create_from_memory(p, n, NULL, o, &s);
    if (st != CVM_OK) {
        expect_fail(st, CVM_OK, NULL, "damaged model");
        assert_null(s);
        return 1;
    }
    size_t ni = 0, no = 0;
    assert_int_equal(cvm_session_input_count(s, &ni), CVM_OK);
    assert_int_equal(cvm_session_output_count(s, &no), CVM_OK);
    if (ni <= 4 && no <= 8) {
        cvm_tensor *in[4] = {0}, *out[8] = {0};
        const char *names[4] = {0};
        int ok = 1;
        for (size_t i = 0; i < ni && ok; i++) {
            cvm_value_info vi;
            assert_int_equal(cvm_session_input_info(s, i, &vi), CVM_OK);
            names[i] = vi.name;
            int64_t dims[CVM_MAX_DIMS];
            int nd = vi.ndim < 0 ? 0 : vi.ndim;
            int64_t numel = 1;
            for (int d = 0; d < nd && d < CVM_MAX_DIMS; d++) {
                dims[d] = vi.dims[d] < 0 ? 1 : vi.dims[d];
                numel = dims[d] && numel > ((int64_t)1 << 26) / dims[d] ? ((int64_t)1 << 27) : numel * dims[d];
            }
            /* A flipped dim can ask for gigabytes of input; that is the
             * caller's memory, not the library's to refuse. */
            ok = nd <= CVM_MAX_DIMS && numel <= ((int64_t)1 << 24) &&
                 cvm_tensor_create(vi.dtype, nd, dims, &in[i]) == CVM_OK;
        }
        if (ok) {
            st = cvm_session_run(s, ni, names, (const cvm_tensor *const *)in, no, NULL, out);
            if (st != CVM_OK)
                expect_fail(st, CVM_OK, NULL, "running a damaged model");
            for (size_t i = 0; i < no; i++) {
                if (st != CVM_OK)
                    assert_null(out[i]);
                cvm_tensor_free(out[i]);
            }
        }
        for (size_t i = 0; i < ni; i++)
            cvm_tensor_free(in[i]);
    }
    cvm_session_free(s);
    return 0;
}

static uint64_t rng_next(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 33;
}

static void damage_sweep(const uint8_t *orig, size_t n, size_t n_trunc, size_t n_flip, const char *label)
{
    cvm_session_options o;
    assert_int_equal(cvm_session_options_init(&o), CVM_OK);
    o.threads = 1;
    o.max_tensor_bytes = (size_t)64 << 20; /* a flipped dim must not make the test allocate gigabytes */
    uint8_t *buf = malloc(n);
    assert_non_null(buf);
    /* Truncations: every length for small models, evenly spread otherwise.
     * A cut on a field boundary can leave a valid model; most cuts must not. */
    size_t failed = 0, tried = 0;
    for (size_t k = 0; k < n_trunc; k++) {
        size_t len = n_trunc >= n ? k : (size_t)((double)k * (double)n / (double)n_trunc);
        if (len >= n)
            break;
        memcpy(buf, orig, len);
        failed += (size_t)try_damaged(buf, len, &o);
        tried++;
    }
    print_message("%s: %zu of %zu truncations refused\n", label, failed, tried);
    assert_true(failed * 10 >= tried * 8);
    /* Single bit flips at seeded random positions, then bursts of 8. */
    uint64_t seed = 12345;
    size_t flip_failed = 0;
    for (size_t k = 0; k < n_flip; k++) {
        memcpy(buf, orig, n);
        int flips = k % 2 ? 8 : 1;
        for (int f = 0; f < flips; f++) {
            size_t pos = (size_t)(rng_next(&seed) % n);
            buf[pos] ^= (uint8_t)(1u << (rng_next(&seed) % 8));
        }
        flip_failed += (size_t)try_damaged(buf, n, &o);
    }
    print_message("%s: %zu of %zu bit-flipped copies refused (the rest loaded and ran)\n", label, flip_failed,
                  n_flip);
    free(buf);
}

static void test_damaged_small_model(void **st)
{
    (void)st;
    ow_buf m = build_model(M_ADD_RELU);
    damage_sweep(m.p, m.n, m.n, 400, "in-memory Add+Relu");
    ow_free(&m);
}

/* A committed export's bytes (its path left in path), or the test skipped
 * when the source tree is not where CVM_SOURCE_DIR says. */
static uint8_t *slurp_export(const char *name, char *path, size_t cap, size_t *n)
{
    const char *src = getenv("CVM_SOURCE_DIR");
    snprintf(path, cap, "%s/tests/data/exports/%s", src ? src : "..", name);
    uint8_t *d = slurp(path, n);
    if (!d) {
        print_message("skipped: %s not found (set CVM_SOURCE_DIR)\n", path);
        skip();
    }
    return d;
}

static void test_damaged_export(void **st)
{
    (void)st;
    char path[4096];
    size_t n = 0;
    uint8_t *d = slurp_export("yolov8-cls-tiny-224.onnx", path, sizeof path, &n);
    /* The undamaged model must load and run, or the sweep below proves nothing. */
    cvm_session *s = NULL;
    cvm_status st0 = cvm_session_create_from_memory(d, n, NULL, NULL, &s);
    if (st0 != CVM_OK)
        print_error("%s: %s\n", path, cvm_last_error());
    assert_int_equal(st0, CVM_OK);
    cvm_session_free(s);
    assert_int_equal(try_damaged(d, n, NULL), 0);
    damage_sweep(d, n, 48, 96, "yolov8-cls-tiny-224");
    free(d);
}

/* Files of 1 MiB and more are mapped rather than read: a whole one loads
 * from its path, and copies cut short at several lengths (the mapping then
 * ends early) are refused with a message that names the file. */
static void test_mapped_file(void **st)
{
    (void)st;
    char path[4096], tmp[] = "/tmp/cvm_mapped_XXXXXX";
    size_t n = 0;
    uint8_t *d = slurp_export("yolov8-pose-tiny-160.onnx", path, sizeof path, &n);
    assert_true(n >= ((size_t)1 << 20));
    cvm_session *s = NULL;
    assert_int_equal(cvm_session_create(path, NULL, &s), CVM_OK);
    cvm_session_free(s);
    int fd = mkstemp(tmp);
    assert_true(fd >= 0);
    close(fd);
    const size_t cuts[] = {n - 1, n - 4096, n / 2 + 3, (size_t)1 << 20};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        FILE *f = fopen(tmp, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(d, 1, cuts[i], f), cuts[i]);
        fclose(f);
        s = (cvm_session *)&s;
        cvm_status st1 = cvm_session_create(tmp, NULL, &s);
        assert_int_not_equal(st1, CVM_OK);
        assert_null(s);
        assert_non_null(strstr(cvm_last_error(), "cvm_mapped_"));
    }
    unlink(tmp);
    free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_and_sizes),
        cmocka_unit_test(test_tensor_create_table),
        cmocka_unit_test(test_tensor_wrap_buffers),
        cmocka_unit_test(test_session_create_args),
        cmocka_unit_test(test_hostile_models),
        cmocka_unit_test(test_session_queries),
        cmocka_unit_test(test_run_table),
        cmocka_unit_test(test_max_tensor_bytes),
        cmocka_unit_test(test_damaged_small_model),
        cmocka_unit_test(test_damaged_export),
        cmocka_unit_test(test_mapped_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
