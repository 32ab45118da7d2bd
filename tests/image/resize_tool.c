/* Batch driver for resize_parity.py: reads requests from stdin and writes
 * the resized pixels to stdout.  A request is one text line
 *   "<cv|pil> <src_w> <src_h> <channels> <dst_w> <dst_h> <lanes>\n"
 * followed by src_w*src_h*channels raw bytes; the answer is one line
 * "ok\n" or "error <message>\n" and, after "ok", dst_w*dst_h*channels bytes.
 * Linking the static library keeps it independent of unrelated modules. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/resize_internal.h"

int main(void)
{
    char kind[8];
    int sw, sh, cn, dw, dh, lanes;
    while (scanf("%7s %d %d %d %d %d %d", kind, &sw, &sh, &cn, &dw, &dh, &lanes) == 7) {
        if (getchar() != '\n' || sw < 1 || sh < 1 || dw < 1 || dh < 1 || (cn != 1 && cn != 3 && cn != 4))
            return 2;
        size_t sn = (size_t)sw * sh * cn, dn = (size_t)dw * dh * cn;
        unsigned char *s = malloc(sn), *d = malloc(dn);
        if (!s || !d || fread(s, 1, sn, stdin) != sn)
            return 2;
        cvm_pixel_format f = cn == 1 ? CVM_PIXEL_GRAY8 : cn == 3 ? CVM_PIXEL_RGB8 : CVM_PIXEL_RGBA8;
        cvm_image_view sv = {sw, sh, (size_t)sw * cn, f, cn, s};
        cvm_image_view dv = {dw, dh, (size_t)dw * cn, f, cn, d};
        cvm_status st = strcmp(kind, "cv") == 0 ? cvm_resize_bilinear_cv_lanes(&sv, &dv, lanes)
                                                : cvm_resize_bilinear_pil(&sv, &dv);
        if (st != CVM_OK) {
            printf("error %s\n", cvm_last_error());
        } else {
            printf("ok\n");
            fwrite(d, 1, dn, stdout);
        }
        fflush(stdout);
        free(s);
        free(d);
    }
    return 0;
}
