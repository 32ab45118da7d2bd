#include "cli_common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backends/backend.h"
#include "base/tensor.h"

double cli_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

void cli_fill_pattern(cvm_tensor *t)
{
    int64_t n = cvm_tensor_numel(t);
    int r = t->ndim;
    int64_t C = 1, H = 1, W = 1;
    int nhwc = r == 4 && t->dims[3] <= 4 && t->dims[1] > 4;
    if (r >= 3) {
        if (nhwc) {
            H = t->dims[1]; W = t->dims[2]; C = t->dims[3];
        } else {
            C = t->dims[r - 3]; H = t->dims[r - 2]; W = t->dims[r - 1];
        }
    } else if (r == 2) {
        H = t->dims[0]; W = t->dims[1];
    } else if (r == 1) {
        W = t->dims[0];
    }
    size_t es = cvm_dtype_size(t->dtype);
    for (int64_t i = 0; i < n; i++) {
        int64_t c, h, w;
        if (nhwc) {
            c = i % C; w = (i / C) % W; h = (i / (C * W)) % H;
        } else {
            w = i % W; h = (i / W) % H; c = (i / (W * H)) % C;
        }
        float fv = (float)((double)((c * 97 + h * 13 + w * 7) % 256) / 255.0);
        cvm_convert(CVM_DTYPE_FLOAT32, &fv, t->dtype, (char *)t->data + (size_t)i * es, 1);
    }
}

int cli_parse_dims(const char *s, int *ndim, int64_t *dims)
{
    *ndim = 0;
    while (*s) {
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (end == s || v < 0 || errno || *ndim == CVM_MAX_DIMS)
            return 0;
        dims[(*ndim)++] = v;
        s = end;
        if (*s == 'x' || *s == ',')
            s++;
        else if (*s)
            return 0;
    }
    return 1;
}

int cli_parse_precision(const char *cmd, const char *s, cvm_precision *out)
{
    if (strcmp(s, "fp32") == 0)
        *out = CVM_PRECISION_FP32;
    else if (strcmp(s, "bf16") == 0)
        *out = CVM_PRECISION_BF16;
    else {
        fprintf(stderr, "cvm %s: --precision expects fp32 or bf16, got '%s'\n", cmd, s);
        return 0;
    }
    return 1;
}

const char *cli_precision_name(cvm_precision p)
{
    return p == CVM_PRECISION_BF16 ? "bf16" : "fp32";
}

const char *cli_precision_detail(cvm_precision p)
{
    if (p != CVM_PRECISION_BF16)
        return "fp32";
    return cvm_bf16_kind() == 2 ? "bf16 on AMX" : "bf16 on AVX512_BF16";
}
