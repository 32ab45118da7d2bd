#include "onnx/onnx_loader.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/status.h"
#include "base/tensor.h"
#include "onnx/pb_wire.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the ONNX loader copies little-endian tensor payloads as they are"
#endif

/* Field numbers from onnx.proto. */
enum {
    MODEL_IR_VERSION = 1, MODEL_GRAPH = 7, MODEL_OPSET_IMPORT = 8,
    OPSET_DOMAIN = 1, OPSET_VERSION = 2,
    GRAPH_NODE = 1, GRAPH_NAME = 2, GRAPH_INITIALIZER = 5, GRAPH_INPUT = 11, GRAPH_OUTPUT = 12,
    GRAPH_VALUE_INFO = 13, GRAPH_SPARSE_INITIALIZER = 15,
    NODE_INPUT = 1, NODE_OUTPUT = 2, NODE_NAME = 3, NODE_OP_TYPE = 4, NODE_ATTRIBUTE = 5,
    NODE_DOMAIN = 7,
    ATTR_NAME = 1, ATTR_F = 2, ATTR_I = 3, ATTR_S = 4, ATTR_T = 5, ATTR_G = 6, ATTR_FLOATS = 7,
    ATTR_INTS = 8, ATTR_STRINGS = 9, ATTR_TENSORS = 10, ATTR_GRAPHS = 11, ATTR_TP = 14,
    ATTR_TYPE_PROTOS = 15, ATTR_TYPE = 20, ATTR_REF_ATTR_NAME = 21, ATTR_SPARSE_TENSOR = 22,
    ATTR_SPARSE_TENSORS = 23,
    TENSOR_DIMS = 1, TENSOR_DATA_TYPE = 2, TENSOR_SEGMENT = 3, TENSOR_FLOAT_DATA = 4,
    TENSOR_INT32_DATA = 5, TENSOR_STRING_DATA = 6, TENSOR_INT64_DATA = 7, TENSOR_NAME = 8,
    TENSOR_RAW_DATA = 9, TENSOR_DOUBLE_DATA = 10, TENSOR_UINT64_DATA = 11,
    TENSOR_EXTERNAL_DATA = 13, TENSOR_DATA_LOCATION = 14,
    ENTRY_KEY = 1, ENTRY_VALUE = 2,
    VI_NAME = 1, VI_TYPE = 2,
    TYPE_TENSOR = 1, TYPE_SEQUENCE = 4, TYPE_MAP = 5, TYPE_OPAQUE = 7, TYPE_SPARSE = 8,
    TYPE_OPTIONAL = 9,
    TT_ELEM_TYPE = 1, TT_SHAPE = 2,
    SHAPE_DIM = 1, DIM_VALUE = 1, DIM_PARAM = 2
};

typedef struct ld_ctx {
    const uint8_t *origin;       /* start of the input, for error offsets */
    const char *base_dir;        /* folder of external data, or NULL */
    const cvm_opset_import *opsets;
    int n_opsets;
    int depth;                   /* current subgraph nesting */
} ld_ctx;

static cvm_status nomem(void) { return cvm_errorf(CVM_E_NOMEM, "out of memory loading an ONNX model"); }

/* A C string copy of a LEN field; identifiers may not contain NUL because the
 * IR stores them as C strings and two names must not collapse into one. */
static cvm_status copy_name(const cvm_pb *r, const cvm_pb_field *f, const char *what, char **out)
{
    *out = NULL;
    CVM_TRY(cvm_pb_expect(r, f, CVM_PB_LEN));
    if (f->len && memchr(f->data, 0, f->len))
        return cvm_errorf(CVM_E_PARSE, "malformed %s: %s contains a NUL byte (byte offset %zu)",
                          r->what, what, f->offset);
    char *s = malloc(f->len + 1);
    if (!s)
        return nomem();
    if (f->len)
        memcpy(s, f->data, f->len);
    s[f->len] = '\0';
    *out = s;
    return CVM_OK;
}

static char *dup_cstr(const char *s)
{
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d)
        memcpy(d, s, n + 1);
    return d;
}

static bool default_domain(const char *d) { return !d[0] || strcmp(d, "ai.onnx") == 0; }

static int opset_for(const ld_ctx *c, const char *domain)
{
    for (int i = 0; i < c->n_opsets; i++) {
        const char *d = c->opsets[i].domain;
        bool same = default_domain(domain) ? default_domain(d) : strcmp(d, domain) == 0;
        if (same) {
            int64_t v = c->opsets[i].version;
            return v < 0 ? 0 : v > INT_MAX ? INT_MAX : (int)v;
        }
    }
    return 0;
}

/* ------------------------------------------------------------ name lookup */

/* Open-addressing hash from value name to index into g->values, so that big
 * graphs load in linear time (cvm_graph_find_value scans). */
typedef struct vslot {
    int idx;     /* -1 when empty */
    uint32_t h;
} vslot;

typedef struct vmap {
    vslot *slot;
    size_t cap, n;
} vmap;

static uint32_t hash_name(const uint8_t *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

static cvm_status vmap_grow(vmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 256;
    vslot *s = malloc(cap * sizeof *s);
    if (!s)
        return nomem();
    for (size_t i = 0; i < cap; i++)
        s[i].idx = -1;
    for (size_t i = 0; i < m->cap; i++) {
        if (m->slot[i].idx < 0)
            continue;
        size_t j = m->slot[i].h & (cap - 1);
        while (s[j].idx >= 0)
            j = (j + 1) & (cap - 1);
        s[j] = m->slot[i];
    }
    free(m->slot);
    m->slot = s;
    m->cap = cap;
    return CVM_OK;
}

/* Appends a fresh value the way cvm_graph_value does, minus its linear scan. */
static cvm_status append_value(cvm_graph *g, const uint8_t *name, size_t len, int *index)
{
    if (g->n_values == INT_MAX)
        return cvm_errorf(CVM_E_LIMIT, "graph has too many values");
    if (g->n_values == g->cap_values) {
        int cap = g->cap_values ? (g->cap_values > INT_MAX / 2 ? INT_MAX : g->cap_values * 2) : 64;
        cvm_value *nv = realloc(g->values, (size_t)cap * sizeof *nv);
        if (!nv)
            return nomem();
        g->values = nv;
        g->cap_values = cap;
    }
    cvm_value *v = &g->values[g->n_values];
    memset(v, 0, sizeof *v);
    v->name = malloc(len + 1);
    if (!v->name)
        return nomem();
    if (len)
        memcpy(v->name, name, len);
    v->name[len] = '\0';
    v->dtype = CVM_DTYPE_UNDEFINED;
    v->ndim = -1;
    v->producer = -1;
    for (int d = 0; d < CVM_MAX_DIMS; d++)
        v->dims[d].value = -1;
    *index = g->n_values++;
    return CVM_OK;
}

typedef struct gbuild {
    ld_ctx *c;
    cvm_graph *g;
    vmap map;
} gbuild;

/* Index of the value called name[0..len), created if new. */
static cvm_status value_get(gbuild *b, const uint8_t *name, size_t len, int *index)
{
    static const uint8_t empty[1] = {0};
    if (!name) /* a ValueInfoProto without a name field */
        name = empty;
    if (len && memchr(name, 0, len))
        return cvm_errorf(CVM_E_PARSE, "value name contains a NUL byte (byte offset %zu)",
                          (size_t)(name - b->c->origin));
    if ((b->map.n + 1) * 2 > b->map.cap)
        CVM_TRY(vmap_grow(&b->map));
    uint32_t h = hash_name(name, len);
    size_t mask = b->map.cap - 1, j = h & mask;
    while (b->map.slot[j].idx >= 0) {
        if (b->map.slot[j].h == h) {
            const char *vn = b->g->values[b->map.slot[j].idx].name;
            if (strncmp(vn, (const char *)name, len) == 0 && vn[len] == '\0') {
                *index = b->map.slot[j].idx;
                return CVM_OK;
            }
        }
        j = (j + 1) & mask;
    }
    CVM_TRY(append_value(b->g, name, len, index));
    b->map.slot[j].idx = *index;
    b->map.slot[j].h = h;
    b->map.n++;
    return CVM_OK;
}

/* ---------------------------------------------------------------- tensors */

static const char *tname_of(const char *name) { return name && name[0] ? name : "<unnamed>"; }

static cvm_status parse_u64_text(const uint8_t *p, size_t n, uint64_t *out)
{
    if (n == 0 || n > 20)
        return CVM_E_PARSE;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return CVM_E_PARSE;
        unsigned d = (unsigned)(p[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return CVM_E_PARSE;
        v = v * 10 + d;
    }
    *out = v;
    return CVM_OK;
}

/* Refuses anything that could leave base_dir: absolute paths, ".." parts,
 * and (via realpath, which also resolves symlinks) anything resolving
 * outside it.  On success *real is the malloc'd resolved path. */
static cvm_status resolve_external(const char *base_dir, const char *loc, const char *tname, char **real)
{
    *real = NULL;
    if (!loc[0])
        return cvm_errorf(CVM_E_PARSE, "tensor '%s': external data has an empty location", tname);
    if (loc[0] == '/' || loc[0] == '\\' || (loc[0] && loc[1] == ':'))
        return cvm_errorf(CVM_E_PARSE, "tensor '%s': refusing external data path '%s': absolute paths are not allowed",
                          tname, loc);
    for (const char *p = loc; *p;) {
        size_t k = strcspn(p, "/\\");
        if (k == 2 && p[0] == '.' && p[1] == '.')
            return cvm_errorf(CVM_E_PARSE, "tensor '%s': refusing external data path '%s': '..' is not allowed",
                              tname, loc);
        p += k;
        if (*p)
            p++;
    }
    size_t bl = strlen(base_dir), ll = strlen(loc);
    char *joined = malloc(bl + ll + 2);
    if (!joined)
        return nomem();
    memcpy(joined, base_dir, bl);
    joined[bl] = '/';
    memcpy(joined + bl + 1, loc, ll + 1);
    char *base_real = realpath(base_dir, NULL);
    if (!base_real) {
        int e = errno;
        free(joined);
        return cvm_errorf(CVM_E_IO, "tensor '%s': cannot resolve the model folder '%s': %s", tname, base_dir,
                          strerror(e));
    }
    char *r = realpath(joined, NULL);
    int e = errno;
    free(joined);
    if (!r) {
        free(base_real);
        return cvm_errorf(e == ENOENT ? CVM_E_NOT_FOUND : CVM_E_IO,
                          "tensor '%s': external data file '%s' cannot be opened: %s", tname, loc, strerror(e));
    }
    size_t rl = strlen(base_real);
    bool inside = strncmp(r, base_real, rl) == 0 &&
                  (r[rl] == '/' || (rl > 0 && base_real[rl - 1] == '/'));
    free(base_real);
    if (!inside) {
        free(r);
        return cvm_errorf(CVM_E_PARSE, "tensor '%s': refusing external data path '%s': it resolves outside the model folder",
                          tname, loc);
    }
    *real = r;
    return CVM_OK;
}

/* Validates a tensor's external data reference and opens the file; the
 * caller allocates only after every size has been checked against the file,
 * so a hostile shape cannot force a huge allocation. */
static cvm_status open_external(const ld_ctx *c, const uint8_t *buf, size_t n, const char *tname,
                                size_t nbytes, int *fd_out, uint64_t *offset_out)
{
    cvm_pb r;
    cvm_pb_field f;
    const uint8_t *loc = NULL;
    size_t loc_len = 0;
    uint64_t offset = 0, length = 0;
    bool has_loc = false, has_len = false;
    *fd_out = -1;
    cvm_pb_init(&r, buf, n, c->origin, "TensorProto");
    while (cvm_pb_more(&r)) {
        CVM_TRY(cvm_pb_next(&r, &f));
        if (f.num != TENSOR_EXTERNAL_DATA)
            continue;
        cvm_pb e;
        cvm_pb_field ef, key = {0}, val = {0};
        bool has_key = false;
        cvm_pb_sub(&e, &r, &f, "StringStringEntryProto");
        while (cvm_pb_more(&e)) {
            CVM_TRY(cvm_pb_next(&e, &ef));
            if (ef.num == ENTRY_KEY || ef.num == ENTRY_VALUE) {
                CVM_TRY(cvm_pb_expect(&e, &ef, CVM_PB_LEN));
                if (ef.num == ENTRY_KEY) {
                    key = ef;
                    has_key = true;
                } else {
                    val = ef;
                }
            }
        }
        if (!has_key)
            continue;
#define KEY_IS(s) (key.len == sizeof(s) - 1 && memcmp(key.data, s, key.len) == 0)
        if (KEY_IS("location")) {
            loc = val.data;
            loc_len = val.len;
            has_loc = true;
        } else if (KEY_IS("offset") || KEY_IS("length")) {
            uint64_t v;
            if (parse_u64_text(val.data, val.len, &v) != CVM_OK)
                return cvm_errorf(CVM_E_PARSE, "tensor '%s': external data %.*s is not a number (byte offset %zu)",
                                  tname, (int)key.len, (const char *)key.data, f.offset);
            if (KEY_IS("offset")) {
                offset = v;
            } else {
                length = v;
                has_len = true;
            }
        }
#undef KEY_IS
    }
    if (!c->base_dir)
        return cvm_errorf(CVM_E_UNSUPPORTED,
                          "tensor '%s' keeps its data in an external file, but no model folder was given to read it from",
                          tname);
    if (!has_loc)
        return cvm_errorf(CVM_E_PARSE, "tensor '%s': external data without a location", tname);
    if (loc_len && memchr(loc, 0, loc_len))
        return cvm_errorf(CVM_E_PARSE, "tensor '%s': external data location contains a NUL byte", tname);
    char *locs = malloc(loc_len + 1);
    if (!locs)
        return nomem();
    if (loc_len)
        memcpy(locs, loc, loc_len);
    locs[loc_len] = '\0';
    char *path = NULL;
    cvm_status s = resolve_external(c->base_dir, locs, tname, &path);
    if (s != CVM_OK) {
        free(locs);
        return s;
    }
    int fd = open(path, O_RDONLY);
    int e = errno;
    free(path);
    struct stat st;
    if (fd < 0) {
        s = cvm_errorf(CVM_E_IO, "tensor '%s': external data file '%s' cannot be opened: %s", tname, locs,
                       strerror(e));
    } else if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        s = cvm_errorf(CVM_E_IO, "tensor '%s': external data file '%s' is not a regular file", tname, locs);
    } else {
        uint64_t size = (uint64_t)st.st_size;
        if (offset > size)
            s = cvm_errorf(CVM_E_PARSE, "tensor '%s': external data offset %llu is beyond the end of '%s' (%llu bytes)",
                           tname, (unsigned long long)offset, locs, (unsigned long long)size);
        else if (has_len && length != nbytes)
            s = cvm_errorf(CVM_E_PARSE, "tensor '%s': external data length %llu, but its shape needs %zu bytes",
                           tname, (unsigned long long)length, nbytes);
        else if (nbytes > size - offset)
            s = cvm_errorf(CVM_E_PARSE,
                           "tensor '%s': external data (%zu bytes at offset %llu) extends past the end of '%s' (%llu bytes)",
                           tname, nbytes, (unsigned long long)offset, locs, (unsigned long long)size);
    }
    free(locs);
    if (s != CVM_OK) {
        if (fd >= 0)
            close(fd);
        return s;
    }
    *fd_out = fd;
    *offset_out = offset;
    return CVM_OK;
}

static cvm_status read_external(int fd, uint64_t offset, const char *tname, void *data, size_t nbytes)
{
    size_t done = 0;
    while (done < nbytes) {
        ssize_t k = pread(fd, (uint8_t *)data + done, nbytes - done, (off_t)(offset + done));
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return cvm_errorf(CVM_E_IO, "tensor '%s': reading its external data failed", tname);
        done += (size_t)k;
    }
    return CVM_OK;
}

static void store_elem(void *data, size_t es, size_t k, uint64_t v, bool is_bool)
{
    switch (es) {
    case 1: ((uint8_t *)data)[k] = is_bool ? (uint8_t)(v != 0) : (uint8_t)v; break;
    case 2: ((uint16_t *)data)[k] = (uint16_t)v; break;
    case 4: ((uint32_t *)data)[k] = (uint32_t)v; break;
    default: ((uint64_t *)data)[k] = v; break;
    }
}

static const char *typed_field_name(uint32_t num)
{
    switch (num) {
    case TENSOR_FLOAT_DATA: return "float_data";
    case TENSOR_INT32_DATA: return "int32_data";
    case TENSOR_INT64_DATA: return "int64_data";
    case TENSOR_DOUBLE_DATA: return "double_data";
    default: return "uint64_data";
    }
}

static cvm_status parse_tensor_impl(const ld_ctx *c, const uint8_t *buf, size_t n, cvm_tensor **out,
                                    char **name_out)
{
    cvm_pb r;
    cvm_pb_field f, name_f = {0}, raw_f = {0};
    bool has_name = false, has_raw = false, has_segment = false;
    int64_t dims[CVM_MAX_DIMS] = {0}, dtype = 0;
    size_t ndims = 0, n_str = 0;
    size_t counts[12] = {0}; /* element counts of the typed fields, by field number */
    uint64_t location = 0;
    *out = NULL;
    if (name_out)
        *name_out = NULL;

    cvm_pb_init(&r, buf, n, c->origin, "TensorProto");
    while (cvm_pb_more(&r)) {
        CVM_TRY(cvm_pb_next(&r, &f));
        size_t k = 0;
        switch (f.num) {
        case TENSOR_DIMS: {
            CVM_TRY(cvm_pb_scalar_count(&r, &f, CVM_PB_VARINT, &k));
            cvm_pb_iter it;
            uint64_t v;
            cvm_pb_iter_init(&it, &f, CVM_PB_VARINT);
            while (cvm_pb_iter_next(&it, &v)) {
                if (ndims < CVM_MAX_DIMS)
                    dims[ndims] = (int64_t)v;
                ndims++;
            }
            break;
        }
        case TENSOR_DATA_TYPE:
            CVM_TRY(cvm_pb_expect(&r, &f, CVM_PB_VARINT));
            dtype = (int64_t)f.u;
            break;
        case TENSOR_SEGMENT:
            has_segment = true;
            break;
        case TENSOR_FLOAT_DATA:
            CVM_TRY(cvm_pb_scalar_count(&r, &f, CVM_PB_I32, &k));
            counts[f.num] += k;
            break;
        case TENSOR_DOUBLE_DATA:
            CVM_TRY(cvm_pb_scalar_count(&r, &f, CVM_PB_I64, &k));
            counts[f.num] += k;
            break;
        case TENSOR_INT32_DATA:
        case TENSOR_INT64_DATA:
        case TENSOR_UINT64_DATA:
            CVM_TRY(cvm_pb_scalar_count(&r, &f, CVM_PB_VARINT, &k));
            counts[f.num] += k;
            break;
        case TENSOR_STRING_DATA:
            CVM_TRY(cvm_pb_expect(&r, &f, CVM_PB_LEN));
            n_str++;
            break;
        case TENSOR_NAME:
            CVM_TRY(cvm_pb_expect(&r, &f, CVM_PB_LEN));
            name_f = f;
            has_name = true;
            break;
        case TENSOR_RAW_DATA:
            CVM_TRY(cvm_pb_expect(&r, &f, CVM_PB_LEN));
            raw_f = f;
            has_raw = true;
            break;
        case TENSOR_EXTERNAL_DATA:
            CVM_TRY(cvm_pb_expect(&r, &f, CVM_PB_LEN));
            break;
        case TENSOR_DATA_LOCATION:
            CVM_TRY(cvm_pb_expect(&r, &f, CVM_PB_VARINT));
            location = f.u;
            break;
        default:
            break;
        }
    }

    char *name = NULL;
    if (has_name) {
        CVM_TRY(copy_name(&r, &name_f, "tensor name", &name));
    } else {
        name = dup_cstr("");
        if (!name)
            return nomem();
    }
    const char *tn = tname_of(name);
    cvm_status s = CVM_OK;
    size_t nbytes = 0, es = 0;
    int64_t numel = 0;
    uint32_t field = 0;
    char shape[256];
    cvm_shape_str(ndims <= CVM_MAX_DIMS ? (int)ndims : 0, dims, shape, sizeof shape);
    if (has_segment)
        s = cvm_errorf(CVM_E_UNSUPPORTED, "tensor '%s' is stored in segments, which is not supported", tn);
    else if (dtype == CVM_DTYPE_STRING || (n_str && dtype == 0))
        s = cvm_errorf(CVM_E_UNSUPPORTED, "tensor '%s': string tensors are not supported", tn);
    else if (dtype < 0 || dtype > INT_MAX || !cvm_dtype_valid((int)dtype))
        s = cvm_errorf(CVM_E_UNSUPPORTED, "tensor '%s' has data type %lld, which is not supported", tn,
                       (long long)dtype);
    else if (ndims > CVM_MAX_DIMS)
        s = cvm_errorf(CVM_E_UNSUPPORTED, "tensor '%s' has %zu dims, more than the %d supported", tn, ndims,
                       CVM_MAX_DIMS);
    if (s != CVM_OK)
        goto fail;
    for (size_t i = 0; i < ndims; i++)
        if (dims[i] < 0) {
            s = cvm_errorf(CVM_E_PARSE, "tensor '%s' has a negative dim in shape %s", tn, shape);
            goto fail;
        }
    es = cvm_dtype_size((cvm_dtype)dtype);
    if (!cvm_shape_numel((int)ndims, dims, &numel) ||
        !cvm_shape_nbytes((cvm_dtype)dtype, (int)ndims, dims, &nbytes)) {
        s = cvm_errorf(CVM_E_PARSE, "tensor '%s': shape %s of %s overflows", tn, shape,
                       cvm_dtype_name((cvm_dtype)dtype));
        goto fail;
    }
    if (location > 1) {
        s = cvm_errorf(CVM_E_PARSE, "tensor '%s' has unknown data_location %llu", tn, (unsigned long long)location);
        goto fail;
    }
    if (location == 0 && has_raw) {
        if (raw_f.len != nbytes) {
            s = cvm_errorf(CVM_E_PARSE, "tensor '%s': raw_data has %zu bytes, but shape %s of %s needs %zu", tn,
                           raw_f.len, shape, cvm_dtype_name((cvm_dtype)dtype), nbytes);
            goto fail;
        }
    } else if (location == 0) {
        switch ((cvm_dtype)dtype) {
        case CVM_DTYPE_FLOAT32: field = TENSOR_FLOAT_DATA; break;
        case CVM_DTYPE_INT64: field = TENSOR_INT64_DATA; break;
        case CVM_DTYPE_FLOAT64: field = TENSOR_DOUBLE_DATA; break;
        case CVM_DTYPE_UINT32: case CVM_DTYPE_UINT64: field = TENSOR_UINT64_DATA; break;
        default: field = TENSOR_INT32_DATA; break;
        }
        static const uint32_t typed[] = {TENSOR_FLOAT_DATA, TENSOR_INT32_DATA, TENSOR_INT64_DATA,
                                         TENSOR_DOUBLE_DATA, TENSOR_UINT64_DATA};
        for (size_t i = 0; i < sizeof typed / sizeof typed[0]; i++)
            if (typed[i] != field && counts[typed[i]]) {
                s = cvm_errorf(CVM_E_PARSE, "tensor '%s' of type %s carries its data in %s", tn,
                               cvm_dtype_name((cvm_dtype)dtype), typed_field_name(typed[i]));
                goto fail;
            }
        if (counts[field] != (uint64_t)numel) {
            if (counts[field] == 0)
                s = cvm_errorf(CVM_E_PARSE, "tensor '%s' (shape %s) has no data", tn, shape);
            else
                s = cvm_errorf(CVM_E_PARSE, "tensor '%s' has %zu values in %s, but shape %s needs %lld", tn,
                               counts[field], typed_field_name(field), shape, (long long)numel);
            goto fail;
        }
    }

    int ext_fd = -1;
    uint64_t ext_offset = 0;
    if (location == 1) {
        s = open_external(c, buf, n, tn, nbytes, &ext_fd, &ext_offset);
        if (s != CVM_OK)
            goto fail;
    }
    cvm_tensor *t = calloc(1, sizeof *t);
    void *data = malloc(nbytes ? nbytes : 1);
    if (!t || !data) {
        free(t);
        free(data);
        if (ext_fd >= 0)
            close(ext_fd);
        s = nomem();
        goto fail;
    }
    t->dtype = (cvm_dtype)dtype;
    t->ndim = (int)ndims;
    for (size_t i = 0; i < ndims; i++)
        t->dims[i] = dims[i];
    t->data = data;
    t->nbytes = nbytes;
    t->owns_data = 1;

    if (location == 1) {
        s = read_external(ext_fd, ext_offset, tn, data, nbytes);
        close(ext_fd);
    } else if (has_raw) {
        if (nbytes)
            memcpy(data, raw_f.data, nbytes);
    } else if (numel > 0) {
        size_t k = 0, total = (size_t)numel;
        int elem_wire = field == TENSOR_FLOAT_DATA ? CVM_PB_I32
                        : field == TENSOR_DOUBLE_DATA ? CVM_PB_I64 : CVM_PB_VARINT;
        bool is_bool = dtype == CVM_DTYPE_BOOL;
        cvm_pb_init(&r, buf, n, c->origin, "TensorProto");
        while (s == CVM_OK && cvm_pb_more(&r) && k < total) {
            s = cvm_pb_next(&r, &f);
            if (s != CVM_OK || f.num != field)
                continue;
            if (f.wire == CVM_PB_LEN && elem_wire != CVM_PB_VARINT) {
                /* Packed fixed-width little-endian elements match the tensor layout. */
                size_t cnt = f.len / es;
                if (cnt > total - k)
                    cnt = total - k;
                memcpy((uint8_t *)data + k * es, f.data, cnt * es);
                k += cnt;
                continue;
            }
            cvm_pb_iter it;
            uint64_t v;
            cvm_pb_iter_init(&it, &f, elem_wire);
            while (k < total && cvm_pb_iter_next(&it, &v))
                store_elem(data, es, k++, v, is_bool);
        }
    }
    if (s != CVM_OK) {
        cvm_tensor_free(t);
        goto fail;
    }
    *out = t;
    if (name_out)
        *name_out = name;
    else
        free(name);
    return CVM_OK;
fail:
    free(name);
    return s;
}

/* ------------------------------------------------------------ value types */

static void clear_decl(cvm_value *v)
{
    for (int d = 0; d < CVM_MAX_DIMS; d++) {
        free(v->dims[d].param);
        v->dims[d].param = NULL;
        v->dims[d].value = -1;
    }
}

static cvm_status parse_shape(const cvm_pb *parent, const cvm_pb_field *sf, cvm_value *v)
{
    cvm_pb r, dr;
    cvm_pb_field f, df;
    cvm_dim dims[CVM_MAX_DIMS];
    size_t nd = 0;
    cvm_pb_sub(&r, parent, sf, "TensorShapeProto");
    while (cvm_pb_more(&r)) {
        CVM_TRY(cvm_pb_next(&r, &f));
        if (f.num != SHAPE_DIM)
            continue;
        CVM_TRY(cvm_pb_expect(&r, &f, CVM_PB_LEN));
        nd++;
    }
    if (nd > CVM_MAX_DIMS)
        return cvm_errorf(CVM_E_UNSUPPORTED, "value '%s' is declared with %zu dims, more than the %d supported",
                          v->name, nd, CVM_MAX_DIMS);
    for (size_t i = 0; i < nd; i++) {
        dims[i].value = -1;
        dims[i].param = NULL;
    }
    cvm_status s = CVM_OK;
    size_t k = 0;
    cvm_pb_sub(&r, parent, sf, "TensorShapeProto");
    while (s == CVM_OK && cvm_pb_more(&r)) {
        s = cvm_pb_next(&r, &f);
        if (s != CVM_OK || f.num != SHAPE_DIM)
            continue;
        cvm_dim *d = &dims[k++];
        cvm_pb_sub(&dr, &r, &f, "TensorShapeProto.Dimension");
        while (s == CVM_OK && cvm_pb_more(&dr)) {
            s = cvm_pb_next(&dr, &df);
            if (s != CVM_OK)
                break;
            if (df.num == DIM_VALUE) {
                s = cvm_pb_expect(&dr, &df, CVM_PB_VARINT);
                free(d->param);
                d->param = NULL;
                d->value = (int64_t)df.u < 0 ? -1 : (int64_t)df.u;
            } else if (df.num == DIM_PARAM) {
                char *p = NULL;
                s = copy_name(&dr, &df, "dim_param", &p);
                if (s == CVM_OK) {
                    free(d->param);
                    d->param = p;
                    d->value = -1;
                }
            }
        }
    }
    if (s != CVM_OK) {
        for (size_t i = 0; i < nd; i++)
            free(dims[i].param);
        return s;
    }
    clear_decl(v);
    for (size_t i = 0; i < nd; i++)
        v->dims[i] = dims[i];
    v->ndim = (int)nd;
    return CVM_OK;
}

/* Applies a TypeProto to value v: tensors get their element type and shape;
 * sequences, maps and optionals have no dense layout and become UNDEFINED. */
static cvm_status parse_type(const cvm_pb *parent, const cvm_pb_field *tf, cvm_value *v)
{
    cvm_pb r, tr;
    cvm_pb_field f, tensor_f = {0}, shape_f = {0};
    int kind = 0; /* 0 none, 1 tensor, 2 other */
    cvm_pb_sub(&r, parent, tf, "TypeProto");
    while (cvm_pb_more(&r)) {
        CVM_TRY(cvm_pb_next(&r, &f));
        switch (f.num) {
        case TYPE_TENSOR:
            CVM_TRY(cvm_pb_expect(&r, &f, CVM_PB_LEN));
            tensor_f = f;
            kind = 1;
            break;
        case TYPE_SEQUENCE: case TYPE_MAP: case TYPE_OPAQUE: case TYPE_SPARSE: case TYPE_OPTIONAL:
            kind = 2;
            break;
        default:
            break;
        }
    }
    if (kind == 2) {
        clear_decl(v);
        v->dtype = CVM_DTYPE_UNDEFINED;
        v->ndim = -1;
        return CVM_OK;
    }
    if (kind == 0)
        return CVM_OK;
    int64_t elem = 0;
    bool has_shape = false;
    cvm_pb_sub(&tr, &r, &tensor_f, "TypeProto.Tensor");
    while (cvm_pb_more(&tr)) {
        CVM_TRY(cvm_pb_next(&tr, &f));
        if (f.num == TT_ELEM_TYPE) {
            CVM_TRY(cvm_pb_expect(&tr, &f, CVM_PB_VARINT));
            elem = (int64_t)f.u;
        } else if (f.num == TT_SHAPE) {
            CVM_TRY(cvm_pb_expect(&tr, &f, CVM_PB_LEN));
            shape_f = f;
            has_shape = true;
        }
    }
    if (has_shape)
        CVM_TRY(parse_shape(&tr, &shape_f, v));
    if (elem > 0 && elem <= INT_MAX && (cvm_dtype_valid((int)elem) || elem == CVM_DTYPE_STRING))
        v->dtype = (cvm_dtype)elem;
    else if (elem != 0)
        v->dtype = CVM_DTYPE_UNDEFINED;
    return CVM_OK;
}

/* Parses a ValueInfoProto, creating its value and applying the declared type. */
static cvm_status parse_value_info(gbuild *b, const cvm_pb *parent, const cvm_pb_field *vf, int *index)
{
    cvm_pb r;
    cvm_pb_field f, name_f = {0}, type_f = {0};
    bool has_type = false;
    cvm_pb_sub(&r, parent, vf, "ValueInfoProto");
    while (cvm_pb_more(&r)) {
        CVM_TRY(cvm_pb_next(&r, &f));
        if (f.num == VI_NAME) {
            CVM_TRY(cvm_pb_expect(&r, &f, CVM_PB_LEN));
            name_f = f;
        } else if (f.num == VI_TYPE) {
            CVM_TRY(cvm_pb_expect(&r, &f, CVM_PB_LEN));
            type_f = f;
            has_type = true;
        }
    }
    CVM_TRY(value_get(b, name_f.data, name_f.len, index));
    if (has_type)
        CVM_TRY(parse_type(&r, &type_f, &b->g->values[*index]));
    return CVM_OK;
}

/* ------------------------------------------------------- graphs and nodes */

static cvm_status parse_graph(ld_ctx *c, const cvm_pb *parent, const cvm_pb_field *gf, cvm_graph **out);

static cvm_status parse_attr(ld_ctx *c, const cvm_pb *parent, const cvm_pb_field *af, cvm_attr *a)
{
    cvm_pb r;
    cvm_pb_field f, s_f = {0}, t_f = {0}, g_f = {0};
    bool has_f = false, has_i = false, has_s = false, has_t = false, has_g = false, has_ref = false;
    bool has_sparse = false, has_tp = false;
    size_t cnt[24] = {0};
    int64_t type = 0;
    uint32_t fbits = 0;
    int64_t ival = 0;
    cvm_pb_sub(&r, parent, af, "AttributeProto");
    while (cvm_pb_more(&r)) {
        CVM_TRY(cvm_pb_next(&r, &f));
        size_t k = 0;
        switch (f.num) {
        case ATTR_NAME:
            free(a->name);
            a->name = NULL;
            CVM_TRY(copy_name(&r, &f, "attribute name", &a->name));
            break;
        case ATTR_F:
            CVM_TRY(cvm_pb_expect(&r, &f, CVM_PB_I32));
            fbits = (uint32_t)f.u;
            has_f = true;
            break;
        case ATTR_I:
            CVM_TRY(cvm_pb_expect(&r, &f, CVM_PB_VARINT));
            ival = (int64_t)f.u;
            has_i = true;
            break;
        case ATTR_S: CVM_TRY(cvm_pb_expect(&r, &f, CVM_PB_LEN)); s_f = f; has_s = true; break;
        case ATTR_T: CVM_TRY(cvm_pb_expect(&r, &f, CVM_PB_LEN)); t_f = f; has_t = true; break;
        case ATTR_G: CVM_TRY(cvm_pb_expect(&r, &f, CVM_PB_LEN)); g_f = f; has_g = true; break;
        case ATTR_FLOATS:
            CVM_TRY(cvm_pb_scalar_count(&r, &f, CVM_PB_I32, &k));
            cnt[f.num] += k;
            break;
        case ATTR_INTS:
            CVM_TRY(cvm_pb_scalar_count(&r, &f, CVM_PB_VARINT, &k));
            cnt[f.num] += k;
            break;
        case ATTR_STRINGS: case ATTR_TENSORS: case ATTR_GRAPHS: case ATTR_TYPE_PROTOS:
        case ATTR_SPARSE_TENSORS:
            CVM_TRY(cvm_pb_expect(&r, &f, CVM_PB_LEN));
            cnt[f.num]++;
            break;
        case ATTR_TP: has_tp = true; break;
        case ATTR_SPARSE_TENSOR: has_sparse = true; break;
        case ATTR_TYPE:
            CVM_TRY(cvm_pb_expect(&r, &f, CVM_PB_VARINT));
            type = (int64_t)f.u;
            break;
        case ATTR_REF_ATTR_NAME:
            CVM_TRY(cvm_pb_expect(&r, &f, CVM_PB_LEN));
            has_ref = true;
            break;
        default:
            break;
        }
    }
    if (!a->name)
        return cvm_errorf(CVM_E_PARSE, "attribute without a name (byte offset %zu)", af->offset);
    if (has_ref) {
        /* A function-body reference to a caller's attribute: no value here. */
        a->type = CVM_ATTR_UNDEFINED;
        return CVM_OK;
    }
    if (type == 0) {
        /* Very old exporters leave `type` out; the populated field tells. */
        type = has_f ? CVM_ATTR_FLOAT : has_i ? CVM_ATTR_INT : has_s ? CVM_ATTR_STRING
             : has_t ? CVM_ATTR_TENSOR : has_g ? CVM_ATTR_GRAPH : cnt[ATTR_FLOATS] ? CVM_ATTR_FLOATS
             : cnt[ATTR_INTS] ? CVM_ATTR_INTS : cnt[ATTR_STRINGS] ? CVM_ATTR_STRINGS
             : cnt[ATTR_TENSORS] ? CVM_ATTR_TENSORS : cnt[ATTR_GRAPHS] ? CVM_ATTR_GRAPHS
             : has_sparse ? CVM_ATTR_SPARSE_TENSOR : cnt[ATTR_SPARSE_TENSORS] ? CVM_ATTR_SPARSE_TENSORS
             : has_tp ? CVM_ATTR_TYPE_PROTO : cnt[ATTR_TYPE_PROTOS] ? CVM_ATTR_TYPE_PROTOS : 0;
        if (type == 0)
            return cvm_errorf(CVM_E_PARSE, "attribute '%s' has neither a type nor a value", a->name);
    }
    if (type < 1 || type > CVM_ATTR_TYPE_PROTOS)
        return cvm_errorf(CVM_E_PARSE, "attribute '%s' has unknown type %lld", a->name, (long long)type);
    a->type = (cvm_attr_type)type;
    uint32_t list_field = 0;
    size_t n = 0;
    switch (a->type) {
    case CVM_ATTR_FLOAT:
        memcpy(&a->f, &fbits, sizeof a->f);
        return CVM_OK;
    case CVM_ATTR_INT:
        a->i = ival;
        return CVM_OK;
    case CVM_ATTR_STRING:
        a->s = malloc(s_f.len + 1);
        if (!a->s)
            return nomem();
        if (s_f.len)
            memcpy(a->s, s_f.data, s_f.len);
        a->s[s_f.len] = '\0';
        a->s_len = s_f.len;
        return CVM_OK;
    case CVM_ATTR_TENSOR:
        if (!has_t)
            return cvm_errorf(CVM_E_PARSE, "attribute '%s' of type TENSOR has no tensor", a->name);
        return parse_tensor_impl(c, t_f.data, t_f.len, &a->t, NULL);
    case CVM_ATTR_GRAPH:
        if (!has_g)
            return cvm_errorf(CVM_E_PARSE, "attribute '%s' of type GRAPH has no graph", a->name);
        return parse_graph(c, &r, &g_f, &a->g);
    case CVM_ATTR_FLOATS:
        list_field = ATTR_FLOATS;
        n = cnt[list_field];
        a->floats = malloc((n ? n : 1) * sizeof *a->floats);
        if (!a->floats)
            return nomem();
        break;
    case CVM_ATTR_INTS:
        list_field = ATTR_INTS;
        n = cnt[list_field];
        a->ints = malloc((n ? n : 1) * sizeof *a->ints);
        if (!a->ints)
            return nomem();
        break;
    case CVM_ATTR_STRINGS:
        list_field = ATTR_STRINGS;
        n = cnt[list_field];
        a->strings = calloc(n ? n : 1, sizeof *a->strings);
        if (!a->strings)
            return nomem();
        break;
    case CVM_ATTR_TENSORS:
        list_field = ATTR_TENSORS;
        n = cnt[list_field];
        a->tensors = calloc(n ? n : 1, sizeof *a->tensors);
        if (!a->tensors)
            return nomem();
        break;
    case CVM_ATTR_GRAPHS:
        list_field = ATTR_GRAPHS;
        n = cnt[list_field];
        a->graphs = calloc(n ? n : 1, sizeof *a->graphs);
        if (!a->graphs)
            return nomem();
        break;
    default:
        /* Sparse tensors and type protos: only the type is kept. */
        return CVM_OK;
    }
    a->n = n;
    size_t k = 0;
    cvm_pb_sub(&r, parent, af, "AttributeProto");
    while (cvm_pb_more(&r) && k < n) {
        CVM_TRY(cvm_pb_next(&r, &f));
        if (f.num != list_field)
            continue;
        if (list_field == ATTR_FLOATS || list_field == ATTR_INTS) {
            cvm_pb_iter it;
            uint64_t v;
            cvm_pb_iter_init(&it, &f, list_field == ATTR_FLOATS ? CVM_PB_I32 : CVM_PB_VARINT);
            while (k < n && cvm_pb_iter_next(&it, &v)) {
                if (list_field == ATTR_FLOATS) {
                    uint32_t bits = (uint32_t)v;
                    memcpy(&a->floats[k++], &bits, sizeof bits);
                } else {
                    a->ints[k++] = (int64_t)v;
                }
            }
        } else if (list_field == ATTR_STRINGS) {
            char *sv = malloc(f.len + 1);
            if (!sv)
                return nomem();
            if (f.len)
                memcpy(sv, f.data, f.len);
            sv[f.len] = '\0';
            a->strings[k++] = sv;
        } else if (list_field == ATTR_TENSORS) {
            CVM_TRY(parse_tensor_impl(c, f.data, f.len, &a->tensors[k], NULL));
            k++;
        } else {
            CVM_TRY(parse_graph(c, &r, &f, &a->graphs[k]));
            k++;
        }
    }
    return CVM_OK;
}

/* Turns a Constant node's value attribute into a tensor. */
static cvm_status constant_value(const char *node_name, cvm_attr *attrs, int n_attr, cvm_tensor **out)
{
    cvm_tensor *t = NULL;
    int found = 0;
    *out = NULL;
    for (int i = 0; i < n_attr; i++) {
        cvm_attr *a = &attrs[i];
        const char *an = a->name;
        if (strcmp(an, "value_string") == 0 || strcmp(an, "value_strings") == 0 ||
            strcmp(an, "sparse_value") == 0) {
            cvm_tensor_free(t);
            return cvm_errorf(CVM_E_UNSUPPORTED, "Constant node '%s': attribute %s is not supported", node_name, an);
        }
        cvm_attr_type want = strcmp(an, "value") == 0 ? CVM_ATTR_TENSOR
                             : strcmp(an, "value_float") == 0 ? CVM_ATTR_FLOAT
                             : strcmp(an, "value_floats") == 0 ? CVM_ATTR_FLOATS
                             : strcmp(an, "value_int") == 0 ? CVM_ATTR_INT
                             : strcmp(an, "value_ints") == 0 ? CVM_ATTR_INTS : CVM_ATTR_UNDEFINED;
        if (want == CVM_ATTR_UNDEFINED)
            continue;
        if (a->type != want || ++found > 1) {
            cvm_tensor_free(t);
            return cvm_errorf(CVM_E_PARSE, found > 1 ? "Constant node '%s' has more than one value attribute"
                                                     : "Constant node '%s': attribute %s has the wrong type",
                              node_name, an);
        }
        cvm_status s = CVM_OK;
        int64_t len = (int64_t)a->n;
        switch (want) {
        case CVM_ATTR_TENSOR:
            t = a->t;
            a->t = NULL;
            break;
        case CVM_ATTR_FLOAT:
            s = cvm_tensor_create(CVM_DTYPE_FLOAT32, 0, NULL, &t);
            if (s == CVM_OK)
                memcpy(t->data, &a->f, sizeof a->f);
            break;
        case CVM_ATTR_INT:
            s = cvm_tensor_create(CVM_DTYPE_INT64, 0, NULL, &t);
            if (s == CVM_OK)
                memcpy(t->data, &a->i, sizeof a->i);
            break;
        case CVM_ATTR_FLOATS:
            s = cvm_tensor_create(CVM_DTYPE_FLOAT32, 1, &len, &t);
            if (s == CVM_OK && a->n)
                memcpy(t->data, a->floats, a->n * sizeof *a->floats);
            break;
        default:
            s = cvm_tensor_create(CVM_DTYPE_INT64, 1, &len, &t);
            if (s == CVM_OK && a->n)
                memcpy(t->data, a->ints, a->n * sizeof *a->ints);
            break;
        }
        if (s != CVM_OK)
            return s;
    }
    if (!found)
        return cvm_errorf(CVM_E_PARSE, "Constant node '%s' has no value attribute", node_name);
    *out = t;
    return CVM_OK;
}

static cvm_status parse_node(gbuild *b, const cvm_pb *parent, const cvm_pb_field *nf)
{
    cvm_pb r;
    cvm_pb_field f, name_f = {0}, op_f = {0}, dom_f = {0};
    bool has_name = false, has_op = false, has_dom = false;
    size_t n_in = 0, n_out = 0, n_attr = 0;
    cvm_pb_sub(&r, parent, nf, "NodeProto");
    while (cvm_pb_more(&r)) {
        CVM_TRY(cvm_pb_next(&r, &f));
        switch (f.num) {
        case NODE_INPUT: CVM_TRY(cvm_pb_expect(&r, &f, CVM_PB_LEN)); n_in++; break;
        case NODE_OUTPUT: CVM_TRY(cvm_pb_expect(&r, &f, CVM_PB_LEN)); n_out++; break;
        case NODE_ATTRIBUTE: CVM_TRY(cvm_pb_expect(&r, &f, CVM_PB_LEN)); n_attr++; break;
        case NODE_NAME: name_f = f; has_name = true; break;
        case NODE_OP_TYPE: op_f = f; has_op = true; break;
        case NODE_DOMAIN: dom_f = f; has_dom = true; break;
        default: break;
        }
    }
    if (n_in > INT_MAX || n_out > INT_MAX || n_attr > INT_MAX)
        return cvm_errorf(CVM_E_LIMIT, "node at byte offset %zu has too many inputs, outputs or attributes",
                          nf->offset);
    char *name = NULL, *op = NULL, *dom = NULL;
    int *in = NULL, *outs = NULL;
    cvm_attr *attrs = NULL;
    cvm_tensor *ct = NULL;
    cvm_status s = CVM_OK;
    int n_done_attr = 0, n_claimed = 0;
    if (has_name)
        s = copy_name(&r, &name_f, "node name", &name);
    else if (!(name = dup_cstr("")))
        s = nomem();
    if (s == CVM_OK && has_op)
        s = copy_name(&r, &op_f, "op_type", &op);
    if (s == CVM_OK && has_dom)
        s = copy_name(&r, &dom_f, "domain", &dom);
    else if (s == CVM_OK && !(dom = dup_cstr("")))
        s = nomem();
    if (s != CVM_OK)
        goto done;
    if (!op || !op[0]) {
        s = cvm_errorf(CVM_E_PARSE, "node '%s' (byte offset %zu) has no op_type", name, nf->offset);
        goto done;
    }
    in = malloc((n_in ? n_in : 1) * sizeof *in);
    outs = malloc((n_out ? n_out : 1) * sizeof *outs);
    attrs = calloc(n_attr ? n_attr : 1, sizeof *attrs);
    if (!in || !outs || !attrs) {
        s = nomem();
        goto done;
    }
    size_t ki = 0, ko = 0;
    cvm_pb_sub(&r, parent, nf, "NodeProto");
    while (s == CVM_OK && cvm_pb_more(&r)) {
        s = cvm_pb_next(&r, &f);
        if (s != CVM_OK)
            break;
        if (f.num == NODE_INPUT || f.num == NODE_OUTPUT) {
            int idx = -1;
            /* "" marks an omitted optional input or output. */
            if (f.len)
                s = value_get(b, f.data, f.len, &idx);
            if (f.num == NODE_INPUT)
                in[ki++] = idx;
            else
                outs[ko++] = idx;
        } else if (f.num == NODE_ATTRIBUTE) {
            s = parse_attr(b->c, &r, &f, &attrs[n_done_attr]);
            n_done_attr++;
            /* Name only the innermost node: nested subgraphs would
             * otherwise repeat the prefix once per level. */
            if (s != CVM_OK && strncmp(cvm_last_error(), "node '", 6) != 0)
                cvm_error_wrap(s, "node '%s' (%s)", name, op);
        }
    }
    if (s != CVM_OK)
        goto done;

    if (strcmp(op, "Constant") == 0 && default_domain(dom)) {
        if (n_out != 1 || outs[0] < 0) {
            s = cvm_errorf(CVM_E_PARSE, "Constant node '%s' must have exactly one output", name);
            goto done;
        }
        s = constant_value(name, attrs, (int)n_attr, &ct);
        if (s != CVM_OK)
            goto done;
        cvm_value *v = &b->g->values[outs[0]];
        if (v->init || v->producer >= 0) {
            s = cvm_errorf(CVM_E_PARSE, "value '%s' is produced twice (again by Constant node '%s')", v->name, name);
            goto done;
        }
        v->init = ct;
        ct = NULL;
        goto done;
    }

    /* Claim the outputs before adding the node so that a duplicate, even
     * within this node, is caught; undone on failure. */
    for (size_t i = 0; i < n_out; i++, n_claimed++) {
        if (outs[i] < 0)
            continue;
        cvm_value *v = &b->g->values[outs[i]];
        if (v->init || v->producer != -1) {
            s = cvm_errorf(CVM_E_PARSE, "value '%s' is produced twice (again by node '%s' (%s))", v->name, name,
                           op);
            goto done;
        }
        v->producer = b->g->n_nodes;
    }
    int idx;
    s = cvm_graph_add_node(b->g, op, dom, name, (int)n_in, in, (int)n_out, outs, &idx);
    if (s != CVM_OK)
        goto done;
    cvm_node *node = &b->g->nodes[idx];
    node->attrs = attrs;
    node->n_attr = (int)n_attr;
    node->opset = opset_for(b->c, dom);
    attrs = NULL;
    n_claimed = 0;
done:
    for (int i = 0; i < n_claimed; i++)
        if (outs[i] >= 0)
            b->g->values[outs[i]].producer = -1;
    if (attrs)
        for (int i = 0; i < n_done_attr; i++)
            cvm_attr_clear(&attrs[i]);
    free(attrs);
    cvm_tensor_free(ct);
    free(in);
    free(outs);
    free(name);
    free(op);
    free(dom);
    return s;
}

static cvm_status parse_initializer(gbuild *b, const cvm_pb_field *f)
{
    cvm_tensor *t = NULL;
    char *name = NULL;
    CVM_TRY(parse_tensor_impl(b->c, f->data, f->len, &t, &name));
    cvm_status s = CVM_OK;
    int idx;
    if (!name[0])
        s = cvm_errorf(CVM_E_PARSE, "initializer without a name (byte offset %zu)", f->offset);
    else
        s = value_get(b, (const uint8_t *)name, strlen(name), &idx);
    if (s == CVM_OK) {
        cvm_value *v = &b->g->values[idx];
        if (v->init)
            s = cvm_errorf(CVM_E_PARSE, "initializer '%s' is defined twice", name);
        else if (v->producer >= 0)
            s = cvm_errorf(CVM_E_PARSE, "initializer '%s' is also produced by node '%s'", name,
                           b->g->nodes[v->producer].name);
        else {
            v->init = t;
            t = NULL;
        }
    }
    cvm_tensor_free(t);
    free(name);
    return s;
}

static cvm_status build_graph(gbuild *b, const cvm_pb *parent, const cvm_pb_field *gf)
{
    cvm_graph *g = b->g;
    cvm_pb r;
    cvm_pb_field f, name_f = {0};
    bool has_name = false;
    size_t n_in = 0, n_out = 0;
    cvm_pb_sub(&r, parent, gf, "GraphProto");
    while (cvm_pb_more(&r)) {
        CVM_TRY(cvm_pb_next(&r, &f));
        switch (f.num) {
        case GRAPH_NAME: name_f = f; has_name = true; break;
        case GRAPH_NODE: case GRAPH_INITIALIZER: case GRAPH_VALUE_INFO:
            CVM_TRY(cvm_pb_expect(&r, &f, CVM_PB_LEN));
            break;
        case GRAPH_INPUT: CVM_TRY(cvm_pb_expect(&r, &f, CVM_PB_LEN)); n_in++; break;
        case GRAPH_OUTPUT: CVM_TRY(cvm_pb_expect(&r, &f, CVM_PB_LEN)); n_out++; break;
        case GRAPH_SPARSE_INITIALIZER:
            return cvm_errorf(CVM_E_UNSUPPORTED, "sparse initializers are not supported (byte offset %zu)",
                              f.offset);
        default: break;
        }
    }
    if (n_in > INT_MAX || n_out > INT_MAX)
        return cvm_errorf(CVM_E_LIMIT, "graph has too many inputs or outputs");
    if (has_name)
        CVM_TRY(copy_name(&r, &name_f, "graph name", &g->name));
    else if (!(g->name = dup_cstr("")))
        return nomem();
    g->inputs = malloc((n_in ? n_in : 1) * sizeof *g->inputs);
    g->outputs = malloc((n_out ? n_out : 1) * sizeof *g->outputs);
    if (!g->inputs || !g->outputs)
        return nomem();

    /* One pass in file order: values are created on first mention, and
     * conflicts between producers are caught whichever comes first. */
    cvm_pb_sub(&r, parent, gf, "GraphProto");
    while (cvm_pb_more(&r)) {
        CVM_TRY(cvm_pb_next(&r, &f));
        int idx;
        switch (f.num) {
        case GRAPH_NODE: CVM_TRY(parse_node(b, &r, &f)); break;
        case GRAPH_INITIALIZER: CVM_TRY(parse_initializer(b, &f)); break;
        case GRAPH_INPUT:
            CVM_TRY(parse_value_info(b, &r, &f, &idx));
            g->inputs[g->n_inputs++] = idx;
            break;
        case GRAPH_OUTPUT:
            CVM_TRY(parse_value_info(b, &r, &f, &idx));
            g->outputs[g->n_outputs++] = idx;
            break;
        case GRAPH_VALUE_INFO: CVM_TRY(parse_value_info(b, &r, &f, &idx)); break;
        default: break;
        }
    }
    /* Before IR 4 initializers had to be listed as inputs too; the runtime
     * wants only the inputs a caller feeds. */
    int k = 0;
    for (int i = 0; i < g->n_inputs; i++)
        if (!g->values[g->inputs[i]].init)
            g->inputs[k++] = g->inputs[i];
    g->n_inputs = k;
    return CVM_OK;
}

static cvm_status parse_graph(ld_ctx *c, const cvm_pb *parent, const cvm_pb_field *gf, cvm_graph **out)
{
    *out = NULL;
    if (c->depth >= CVM_ONNX_MAX_DEPTH)
        return cvm_errorf(CVM_E_LIMIT, "subgraphs nested deeper than %d levels (byte offset %zu)",
                          CVM_ONNX_MAX_DEPTH, gf->offset);
    gbuild b = {c, NULL, {NULL, 0, 0}};
    CVM_TRY(cvm_graph_create(&b.g));
    c->depth++;
    cvm_status s = build_graph(&b, parent, gf);
    c->depth--;
    free(b.map.slot);
    if (s != CVM_OK) {
        cvm_graph_free(b.g);
        return s;
    }
    *out = b.g;
    return CVM_OK;
}

/* ------------------------------------------------------------------ model */

static void free_opsets(cvm_opset_import *o, size_t n)
{
    if (!o)
        return;
    for (size_t i = 0; i < n; i++)
        free(o[i].domain);
    free(o);
}

cvm_status cvm_onnx_load_memory(const void *buf, size_t n, const char *base_dir, cvm_graph **out)
{
    if (!out)
        return cvm_errorf(CVM_E_INVALID_ARG, "cvm_onnx_load_memory: out is NULL");
    *out = NULL;
    if (!buf && n)
        return cvm_errorf(CVM_E_INVALID_ARG, "cvm_onnx_load_memory: buffer is NULL");
    static const uint8_t empty[1] = {0};
    const uint8_t *p = buf ? buf : empty;
    cvm_pb r;
    cvm_pb_field f, graph_f = {0};
    bool has_graph = false;
    int64_t ir = 0;
    size_t n_op = 0;
    cvm_pb_init(&r, p, n, p, "ModelProto");
    while (cvm_pb_more(&r)) {
        CVM_TRY(cvm_pb_next(&r, &f));
        switch (f.num) {
        case MODEL_IR_VERSION: CVM_TRY(cvm_pb_expect(&r, &f, CVM_PB_VARINT)); ir = (int64_t)f.u; break;
        case MODEL_GRAPH: CVM_TRY(cvm_pb_expect(&r, &f, CVM_PB_LEN)); graph_f = f; has_graph = true; break;
        case MODEL_OPSET_IMPORT: CVM_TRY(cvm_pb_expect(&r, &f, CVM_PB_LEN)); n_op++; break;
        default: break;
        }
    }
    if (!has_graph)
        return cvm_errorf(CVM_E_PARSE, "not an ONNX model: no graph found in %zu bytes", n);
    if (n_op > INT_MAX)
        return cvm_errorf(CVM_E_LIMIT, "too many opset imports");
    cvm_opset_import *ops = calloc(n_op ? n_op : 1, sizeof *ops);
    if (!ops)
        return nomem();
    cvm_status s = CVM_OK;
    size_t k = 0;
    cvm_pb_init(&r, p, n, p, "ModelProto");
    while (s == CVM_OK && cvm_pb_more(&r)) {
        s = cvm_pb_next(&r, &f);
        if (s != CVM_OK || f.num != MODEL_OPSET_IMPORT)
            continue;
        cvm_pb o;
        cvm_pb_field of;
        cvm_opset_import *imp = &ops[k++];
        cvm_pb_sub(&o, &r, &f, "OperatorSetIdProto");
        while (s == CVM_OK && cvm_pb_more(&o)) {
            s = cvm_pb_next(&o, &of);
            if (s != CVM_OK)
                break;
            if (of.num == OPSET_DOMAIN) {
                char *d = NULL;
                s = copy_name(&o, &of, "opset domain", &d);
                if (s == CVM_OK) {
                    free(imp->domain);
                    imp->domain = d;
                }
            } else if (of.num == OPSET_VERSION) {
                s = cvm_pb_expect(&o, &of, CVM_PB_VARINT);
                imp->version = (int64_t)of.u;
            }
        }
        if (s == CVM_OK && !imp->domain && !(imp->domain = dup_cstr("")))
            s = nomem();
    }
    if (s != CVM_OK) {
        free_opsets(ops, n_op);
        return s;
    }
    ld_ctx c = {p, base_dir, ops, (int)n_op, 0};
    cvm_graph *g = NULL;
    s = parse_graph(&c, &r, &graph_f, &g);
    if (s != CVM_OK) {
        free_opsets(ops, n_op);
        return s;
    }
    g->opsets = ops;
    g->n_opsets = (int)n_op;
    g->ir_version = ir;
    *out = g;
    return CVM_OK;
}

/* ------------------------------------------------------------------ files */

/* The whole file, mapped read-only when it is a regular file of 1 MiB or
 * more (*mapped = 1; release with release_whole), else read into memory.
 * Mapping spares copying the file (YOLOv8m: 100 MB) into freshly faulted
 * anonymous pages, a quarter of that model's session build here; the
 * weights are copied out of it into their tensors either way.  (A file
 * truncated by another process while it is being parsed would fault; files
 * the hub caches are replaced by rename, which leaves a mapping intact.) */
static cvm_status read_whole(const char *path, size_t max_bytes, uint8_t **buf, size_t *n,
                             int *mapped)
{
    *buf = NULL;
    *n = 0;
    *mapped = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return cvm_errorf(errno == ENOENT ? CVM_E_NOT_FOUND : CVM_E_IO, "cannot open '%s': %s", path,
                          strerror(errno));
    struct stat st;
    if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(fp);
        return cvm_errorf(CVM_E_IO, "'%s' is not a regular file", path);
    }
    if ((uint64_t)st.st_size > (uint64_t)max_bytes) {
        fclose(fp);
        return cvm_errorf(CVM_E_LIMIT, "'%s' has %lld bytes, more than the limit of %zu", path,
                          (long long)st.st_size, max_bytes);
    }
    size_t size = (size_t)st.st_size;
    if (size >= ((size_t)1 << 20)) {
        void *m = mmap(NULL, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fileno(fp), 0);
        if (m != MAP_FAILED) {
            fclose(fp);
            *buf = m;
            *n = size;
            *mapped = 1;
            return CVM_OK;
        }
        /* else read it (a file system without mmap, say) */
    }
    uint8_t *b = malloc(size ? size : 1);
    if (!b) {
        fclose(fp);
        return cvm_errorf(CVM_E_NOMEM, "out of memory reading '%s' (%zu bytes)", path, size);
    }
    size_t got = size ? fread(b, 1, size, fp) : 0;
    fclose(fp);
    if (got != size) {
        free(b);
        return cvm_errorf(CVM_E_IO, "reading '%s' failed after %zu of %zu bytes", path, got, size);
    }
    *buf = b;
    *n = size;
    return CVM_OK;
}

static void release_whole(uint8_t *buf, size_t n, int mapped)
{
    if (mapped)
        munmap(buf, n);
    else
        free(buf);
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return dup_cstr(".");
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, path, n);
        d[n] = '\0';
    }
    return d;
}

cvm_status cvm_onnx_load_file(const char *path, size_t max_bytes, cvm_graph **out)
{
    if (!out || !path)
        return cvm_errorf(CVM_E_INVALID_ARG, "cvm_onnx_load_file: path or out is NULL");
    *out = NULL;
    uint8_t *buf;
    size_t n;
    int mapped;
    CVM_TRY(read_whole(path, max_bytes ? max_bytes : CVM_ONNX_DEFAULT_MAX_BYTES, &buf, &n,
                       &mapped));
    char *dir = dir_of(path);
    if (!dir) {
        release_whole(buf, n, mapped);
        return nomem();
    }
    cvm_status s = cvm_onnx_load_memory(buf, n, dir, out);
    free(dir);
    release_whole(buf, n, mapped);
    if (s != CVM_OK)
        cvm_error_wrap(s, "loading '%s'", path);
    return s;
}

cvm_status cvm_onnx_parse_tensor(const uint8_t *buf, size_t n, const char *base_dir, cvm_tensor **out,
                                 char **name_out)
{
    if (!out)
        return cvm_errorf(CVM_E_INVALID_ARG, "cvm_onnx_parse_tensor: out is NULL");
    *out = NULL;
    if (name_out)
        *name_out = NULL;
    if (!buf && n)
        return cvm_errorf(CVM_E_INVALID_ARG, "cvm_onnx_parse_tensor: buffer is NULL");
    static const uint8_t empty[1] = {0};
    const uint8_t *p = buf ? buf : empty;
    ld_ctx c = {p, base_dir, NULL, 0, 0};
    return parse_tensor_impl(&c, p, n, out, name_out);
}

cvm_status cvm_onnx_read_tensor_file(const char *path, cvm_tensor **out, char **name_out)
{
    if (!out || !path)
        return cvm_errorf(CVM_E_INVALID_ARG, "cvm_onnx_read_tensor_file: path or out is NULL");
    *out = NULL;
    if (name_out)
        *name_out = NULL;
    uint8_t *buf;
    size_t n;
    int mapped;
    CVM_TRY(read_whole(path, CVM_ONNX_DEFAULT_MAX_BYTES, &buf, &n, &mapped));
    char *dir = dir_of(path);
    if (!dir) {
        release_whole(buf, n, mapped);
        return nomem();
    }
    cvm_status s = cvm_onnx_parse_tensor(buf, n, dir, out, name_out);
    free(dir);
    release_whole(buf, n, mapped);
    if (s != CVM_OK)
        cvm_error_wrap(s, "reading '%s'", path);
    return s;
}
