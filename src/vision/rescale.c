#include <math.h>

#include "vision/postprocess.h"

float cvm_round_half_even(float v)
{
    /* nearbyintf rounds to even in the default rounding mode, which the
     * library never changes. */
    return nearbyintf(v);
}

void cvm_rescale_point(const cvm_preproc_meta *m, float *x, float *y)
{
    /* Same operation order and precision as the reference (float32 tensors:
     * subtract, divide, add). */
    *x = (*x - (float)m->pad_left) / (float)m->scale_w;
    *y = (*y - (float)m->pad_top) / (float)m->scale_h;
    if (m->crop_x != 0 || m->crop_y != 0) {
        *x += (float)m->crop_x;
        *y += (float)m->crop_y;
    }
}

void cvm_rescale_box(const cvm_preproc_meta *m, float b[4])
{
    cvm_rescale_point(m, &b[0], &b[1]);
    cvm_rescale_point(m, &b[2], &b[3]);
    float W = (float)m->orig_w, H = (float)m->orig_h;
    for (int i = 0; i < 4; i++) {
        float hi = (i & 1) ? H : W;
        if (!(b[i] >= 0))
            b[i] = 0;
        if (b[i] > hi)
            b[i] = hi;
    }
}
