#include "npy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/status.h"
#include "base/tensor.h"

static const struct {
    const char *descr;
    cvm_dtype dt;
} kinds[] = {
    {"<f4", CVM_DTYPE_FLOAT32}, {"<f8", CVM_DTYPE_FLOAT64}, {"<f2", CVM_DTYPE_FLOAT16},
    {"|u1", CVM_DTYPE_UINT8},   {"|i1", CVM_DTYPE_INT8},    {"|b1", CVM_DTYPE_BOOL},
    {"<i2", CVM_DTYPE_INT16},   {"<u2", CVM_DTYPE_UINT16},  {"<i4", CVM_DTYPE_INT32},
    {"<u4", CVM_DTYPE_UINT32},  {"<i8", CVM_DTYPE_INT64},   {"<u8", CVM_DTYPE_UINT64},
};

/* Parses the header dict {'descr': '<f4', 'fortran_order': False, 'shape': (1, 3), } */
static cvm_status parse_header(const char *path, const char *h, cvm_dtype *dt, int *ndim, int64_t *dims)
{
    const char *d = strstr(h, "'descr'");
    const char *f = strstr(h, "'fortran_order'");
    const char *s = strstr(h, "'shape'");
    if (!d || !f || !s)
        return cvm_errorf(CVM_E_PARSE, "%s: .npy header lacks descr, fortran_order or shape", path);
    d = strchr(d + 7, '\'');
    if (!d)
        return cvm_errorf(CVM_E_PARSE, "%s: malformed descr in .npy header", path);
    *dt = CVM_DTYPE_UNDEFINED;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strncmp(d + 1, kinds[i].descr, 3) == 0 && d[4] == '\'')
            *dt = kinds[i].dt;
    if (*dt == CVM_DTYPE_UNDEFINED)
        return cvm_errorf(CVM_E_UNSUPPORTED, "%s: .npy element type %.8s is not supported (use little-endian numeric types)",
                          path, d + 1);
    const char *fv = strchr(f + 15, ':');
    if (!fv)
        return cvm_errorf(CVM_E_PARSE, "%s: malformed fortran_order in .npy header", path);
    fv += 1 + strspn(fv + 1, " ");
    if (strncmp(fv, "True", 4) == 0)
        return cvm_errorf(CVM_E_UNSUPPORTED, "%s: Fortran-order .npy files are not supported", path);
    const char *p = strchr(s, '(');
    if (!p)
        return cvm_errorf(CVM_E_PARSE, "%s: malformed shape in .npy header", path);
    p++;
    *ndim = 0;
    for (;;) {
        while (*p == ' ' || *p == ',')
            p++;
        if (*p == ')')
            break;
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p || v < 0)
            return cvm_errorf(CVM_E_PARSE, "%s: malformed shape in .npy header", path);
        if (*ndim == CVM_MAX_DIMS)
            return cvm_errorf(CVM_E_UNSUPPORTED, "%s: more than %d dims", path, CVM_MAX_DIMS);
        dims[(*ndim)++] = v;
        p = end;
    }
    return CVM_OK;
}

cvm_status cvm_npy_read(const char *path, cvm_tensor **out)
{
    *out = NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return cvm_errorf(CVM_E_IO, "cannot open %s", path);
    unsigned char pre[12];
    cvm_status st = CVM_OK;
    char *hdr = NULL;
    if (fread(pre, 1, 10, fp) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0) {
        st = cvm_errorf(CVM_E_PARSE, "%s is not a .npy file", path);
        goto done;
    }
    size_t hlen;
    if (pre[6] == 1) {
        hlen = (size_t)pre[8] | (size_t)pre[9] << 8;
    } else if (pre[6] == 2 || pre[6] == 3) {
        if (fread(pre + 10, 1, 2, fp) != 2) {
            st = cvm_errorf(CVM_E_PARSE, "%s: truncated .npy header", path);
            goto done;
        }
        hlen = (size_t)pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
    } else {
        st = cvm_errorf(CVM_E_UNSUPPORTED, "%s: .npy version %d is not supported", path, pre[6]);
        goto done;
    }
    if (hlen > 1 << 20) {
        st = cvm_errorf(CVM_E_PARSE, "%s: .npy header of %zu bytes is implausible", path, hlen);
        goto done;
    }
    hdr = malloc(hlen + 1);
    if (!hdr || fread(hdr, 1, hlen, fp) != hlen) {
        st = cvm_errorf(CVM_E_PARSE, "%s: truncated .npy header", path);
        goto done;
    }
    hdr[hlen] = '\0';
    cvm_dtype dt = CVM_DTYPE_UNDEFINED;
    int ndim = 0;
    int64_t dims[CVM_MAX_DIMS];
    st = parse_header(path, hdr, &dt, &ndim, dims);
    if (st != CVM_OK)
        goto done;
    st = cvm_tensor_create(dt, ndim, dims, out);
    if (st != CVM_OK)
        goto done;
    if (fread((*out)->data, 1, (*out)->nbytes, fp) != (*out)->nbytes) {
        st = cvm_errorf(CVM_E_PARSE, "%s: file is shorter than its shape says", path);
        cvm_tensor_free(*out);
        *out = NULL;
    }
done:
    free(hdr);
    fclose(fp);
    return st;
}

cvm_status cvm_npy_write(const char *path, const cvm_tensor *t)
{
    const char *descr = NULL;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (kinds[i].dt == t->dtype)
            descr = kinds[i].descr;
    if (!descr)
        return cvm_errorf(CVM_E_UNSUPPORTED, "cannot write %s tensors as .npy", cvm_dtype_name(t->dtype));
    char shape[256];
    size_t k = 0;
    for (int i = 0; i < t->ndim; i++)
        k += (size_t)snprintf(shape + k, sizeof shape - k, "%lld,%s", (long long)t->dims[i],
                              i + 1 < t->ndim ? " " : "");
    if (t->ndim > 1)
        shape[k - 1] = '\0'; /* numpy writes (1, 2) but (3,) for rank 1 */
    char hdr[512];
    int n = snprintf(hdr, sizeof hdr, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, shape);
    /* Pad with spaces so that the data starts 64-byte aligned, as numpy does. */
    size_t total = 10 + (size_t)n + 1;
    size_t pad = (64 - total % 64) % 64;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid());
    FILE *fp = fopen(tmp, "wb");
    if (!fp)
        return cvm_errorf(CVM_E_IO, "cannot create %s", tmp);
    size_t hlen = (size_t)n + pad + 1;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff),
                             (unsigned char)(hlen >> 8)};
    int ok = fwrite(pre, 1, 10, fp) == 10 && fwrite(hdr, 1, (size_t)n, fp) == (size_t)n;
    for (size_t i = 0; i < pad && ok; i++)
        ok = fputc(' ', fp) != EOF;
    ok = ok && fputc('\n', fp) != EOF;
    size_t nb = 0;
    cvm_shape_nbytes(t->dtype, t->ndim, t->dims, &nb);
    ok = ok && (nb == 0 || fwrite(t->data, 1, nb, fp) == nb);
    ok = (fclose(fp) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        remove(tmp);
        return cvm_errorf(CVM_E_IO, "cannot write %s", path);
    }
    return CVM_OK;
}
