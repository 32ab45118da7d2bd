#include <stdlib.h>
#include <string.h>

#include "base/status.h"
#include "vision/postprocess.h"

/* Clockwise in image coordinates (y down), starting east. */
static const int DX[8] = {1, 1, 0, -1, -1, -1, 0, 1};
static const int DY[8] = {0, 1, 1, 1, 0, -1, -1, -1};

static int dir_of(int dx, int dy)
{
    for (int i = 0; i < 8; i++)
        if (DX[i] == dx && DY[i] == dy)
            return i;
    return 0;
}

cvm_status cvm_mask_polygon(const uint8_t *mask, int w, int h, int **xy, size_t *n_points)
{
    *xy = NULL;
    *n_points = 0;
    if (!mask || w <= 0 || h <= 0)
        return CVM_OK;
    size_t np = (size_t)w * h;
    int *label = calloc(np, sizeof *label);
    size_t *stack = malloc(np * sizeof *stack);
    if (!label || !stack) {
        free(label);
        free(stack);
        return cvm_errorf(CVM_E_NOMEM, "mask polygon %dx%d: out of memory", w, h);
    }
    /* Largest 8-connected component (first in raster order on ties). */
    int next = 0, best = 0;
    size_t best_size = 0, best_start = 0;
    for (size_t i = 0; i < np; i++) {
        if (!mask[i] || label[i])
            continue;
        int lab = ++next;
        size_t sp = 0, size = 0;
        stack[sp++] = i;
        label[i] = lab;
        while (sp) {
            size_t p = stack[--sp];
            size++;
            int px = (int)(p % w), py = (int)(p / w);
            for (int d = 0; d < 8; d++) {
                int qx = px + DX[d], qy = py + DY[d];
                if (qx < 0 || qy < 0 || qx >= w || qy >= h)
                    continue;
                size_t q = (size_t)qy * w + qx;
                if (mask[q] && !label[q]) {
                    label[q] = lab;
                    stack[sp++] = q;
                }
            }
        }
        if (size > best_size) {
            best_size = size;
            best = lab;
            best_start = i;
        }
    }
    free(stack);
    if (!best) {
        free(label);
        return CVM_OK;
    }
#define IN(x, y) ((x) >= 0 && (y) >= 0 && (x) < w && (y) < h && label[(size_t)(y) * w + (x)] == best)
    size_t cap = 64, n = 0;
    int *pts = malloc(cap * 2 * sizeof *pts);
    if (!pts) {
        free(label);
        return cvm_errorf(CVM_E_NOMEM, "mask polygon: out of memory");
    }
    int sx = (int)(best_start % w), sy = (int)(best_start / w);
    int px = sx, py = sy;
    int back = 4; /* the start is leftmost in its row: west is outside */
    int first_dir = -1, prev_dir = -1;
    cvm_status s = CVM_OK;
    /* Moore-neighbour tracing; stops when the first step repeats. */
    for (size_t steps = 0; steps < 4 * np + 8; steps++) {
        int found = -1;
        for (int i = 1; i <= 8; i++) {
            int d = (back + i) & 7;
            if (IN(px + DX[d], py + DY[d])) {
                found = d;
                break;
            }
        }
        if (found < 0)
            break; /* isolated pixel */
        if (px == sx && py == sy && found == first_dir && steps > 0)
            break;
        if (first_dir < 0)
            first_dir = found;
        /* A vertex wherever the direction changes (runs collapse). */
        if (found != prev_dir) {
            if (n == cap) {
                int *np2 = realloc(pts, cap * 4 * sizeof *pts);
                if (!np2) {
                    s = cvm_errorf(CVM_E_NOMEM, "mask polygon: out of memory");
                    break;
                }
                pts = np2;
                cap *= 2;
            }
            pts[2 * n] = px;
            pts[2 * n + 1] = py;
            n++;
            prev_dir = found;
        }
        /* The last background neighbour checked becomes the backtrack. */
        int bd = (found + 7) & 7;
        int bx = px + DX[bd], by = py + DY[bd];
        px += DX[found];
        py += DY[found];
        back = dir_of(bx - px, by - py);
    }
#undef IN
    if (s == CVM_OK && n == 0) {
        pts[0] = sx;
        pts[1] = sy;
        n = 1;
    }
    free(label);
    if (s != CVM_OK) {
        free(pts);
        return s;
    }
    *xy = pts;
    *n_points = n;
    return CVM_OK;
}
