#include <stdlib.h>
#include <string.h>

#include "base/status.h"
#include "vision/postprocess.h"

typedef struct runs {
    uint32_t *v;
    size_t n, cap;
    int cur;        /* value of the run being counted */
    uint64_t len;
} runs;

static int runs_flush(runs *r)
{
    if (r->n == r->cap) {
        size_t nc = r->cap ? r->cap * 2 : 64;
        uint32_t *nv = realloc(r->v, nc * sizeof *nv);
        if (!nv)
            return 0;
        r->v = nv;
        r->cap = nc;
    }
    r->v[r->n++] = (uint32_t)r->len;
    return 1;
}

static int runs_add(runs *r, int value, uint64_t count)
{
    if (count == 0)
        return 1;
    if (value != r->cur) {
        if (!runs_flush(r))
            return 0;
        r->cur = value;
        r->len = 0;
    }
    r->len += count;
    return 1;
}

cvm_status cvm_rle_counts(const uint8_t *mask, int mask_x, int mask_y, int mask_w, int mask_h, int image_w,
                          int image_h, uint32_t **counts, size_t *n)
{
    *counts = NULL;
    *n = 0;
    if (image_w < 0 || image_h < 0 || (uint64_t)image_w * (uint64_t)image_h > UINT32_MAX)
        return cvm_errorf(CVM_E_LIMIT, "RLE of a %dx%d image is out of range", image_w, image_h);
    if (!mask)
        mask_w = mask_h = 0;
    if (mask_w < 0 || mask_h < 0)
        return cvm_errorf(CVM_E_INVALID_ARG, "mask size %dx%d", mask_w, mask_h);
    /* COCO runs start with a (possibly empty) run of zeros. */
    runs r = {NULL, 0, 0, 0, 0};
    int ok = 1;
    for (int x = 0; x < image_w && ok; x++) {
        int mx = x - mask_x;
        if (mx < 0 || mx >= mask_w) {
            ok = runs_add(&r, 0, (uint64_t)image_h);
            continue;
        }
        int y = 0;
        for (; y < image_h && ok; y++) {
            int my = y - mask_y;
            int v = (my >= 0 && my < mask_h) ? mask[(size_t)my * mask_w + mx] != 0 : 0;
            ok = runs_add(&r, v, 1);
        }
    }
    if (ok)
        ok = runs_flush(&r);
    if (!ok) {
        free(r.v);
        return cvm_errorf(CVM_E_NOMEM, "RLE: out of memory");
    }
    *counts = r.v;
    *n = r.n;
    return CVM_OK;
}

cvm_status cvm_rle_string(const uint32_t *counts, size_t n, char **out)
{
    /* Each count takes at most 7 characters of 5 bits. */
    if (n > (SIZE_MAX - 1) / 8)
        return cvm_errorf(CVM_E_LIMIT, "RLE with %zu runs", n);
    char *s = malloc(n * 8 + 1);
    if (!s)
        return cvm_errorf(CVM_E_NOMEM, "RLE: out of memory");
    size_t p = 0;
    for (size_t i = 0; i < n; i++) {
        /* Runs after the second are stored as differences to the run two
         * before, then written as little-endian groups of 5 bits with a
         * continuation bit, offset into printable ASCII. */
        long long x = counts[i];
        if (i > 2)
            x -= (long long)counts[i - 2];
        for (;;) {
            int c = (int)(x & 0x1f);
            x >>= 5;  /* arithmetic shift: x keeps its sign */
            int more = (c & 0x10) ? x != -1 : x != 0;
            if (more)
                c |= 0x20;
            s[p++] = (char)(c + 48);
            if (!more)
                break;
        }
    }
    s[p] = '\0';
    *out = s;
    return CVM_OK;
}
