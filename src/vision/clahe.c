/* CLAHE with the reference's numerics (scikit-image 0.25 equalize_adapthist
 * called on a float32 image in [0, 1], clip_limit 0.03, nbins 256).
 *
 * The stages and the precision each one runs at matter for byte-exact
 * output, because the final cast to uint8 truncates:
 *   - RGB -> HSV in float32; only V is equalised, H and S are kept;
 *   - V -> uint16 (rint(V * 65535) in float32), then stretched over its own
 *     min..max onto 0..16383 in double and rounded half to even;
 *   - 14-bit levels are binned by // 65 (so 253 of the 256 bins are used);
 *   - the image is mirror-padded (no edge repeat) so that it holds whole
 *     tiles of (H/8, W/8) pixels preceded by half a tile; one clipped,
 *     redistributed and cumulated histogram per tile;
 *   - each pixel blends the maps of its four surrounding tile centres:
 *     each term map * weight in double, rounded to float32 and summed in
 *     float32, then truncated to an integer level;
 *   - levels are stretched over their own min..max onto [0, 1] in float32,
 *     put back as V, HSV -> RGB in float32, times 255 and truncated. */
#include "vision/clahe.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NGRAY 16384
#define NBINS 256
#define BIN_SIZE (1 + NGRAY / NBINS)

/* numpy 'reflect' padding: mirror about the edge samples. */
static int64_t reflect(int64_t i, int64_t n)
{
    if (n == 1)
        return 0;
    int64_t period = 2 * (n - 1);
    i %= period;
    if (i < 0)
        i += period;
    return i < n ? i : period - i;
}

/* Clips at `clim` and hands the excess back out, in the order (and with the
 * integer arithmetic) of skimage's clip_histogram, which the maps depend on. */
static void clip_histogram(int64_t *hist, int64_t clim)
{
    int64_t excess = 0;
    for (int i = 0; i < NBINS; i++)
        if (hist[i] > clim) {
            excess += hist[i] - clim;
            hist[i] = clim;
        }
    int64_t incr = excess / NBINS;
    int64_t upper = clim - incr;
    for (int i = 0; i < NBINS; i++)
        if (hist[i] < upper) {
            hist[i] += incr;
            excess -= incr;
        }
    /* Evaluated after the increment above, as the reference does. */
    for (int i = 0; i < NBINS; i++)
        if (hist[i] >= upper && hist[i] < clim) {
            excess += hist[i] - clim;
            hist[i] = clim;
        }
    while (excess > 0) {
        int64_t before = excess;
        for (int index = 0; index < NBINS; index++) {
            int64_t under = 0;
            for (int i = 0; i < NBINS; i++)
                under += hist[i] < clim;
            int64_t step = under / excess;
            if (step < 1)
                step = 1;
            int64_t added = 0;
            for (int64_t i = index; i < NBINS; i += step)
                if (hist[i] < clim) {
                    hist[i]++;
                    added++;
                }
            excess -= added;
            if (excess <= 0)
                break;
        }
        if (before == excess)
            break;
    }
}

/* Python float modulo on float32: the result takes the divisor's sign. */
static float pymodf1(float x)
{
    float m = fmodf(x, 1.0f);
    if (m != 0.0f) {
        if (m < 0.0f)
            m += 1.0f;
    } else {
        m = 0.0f;
    }
    return m;
}

/* CLAHE proper on 14-bit levels already divided into bins (0..252); writes
 * the equalised 14-bit levels. */
static cvm_status clahe_levels(const uint8_t *bins, int w, int h, double clip_limit, uint16_t *out)
{
    const int64_t k0 = h / 8 > 1 ? h / 8 : 1, k1 = w / 8 > 1 ? w / 8 : 1;
    const int64_t ps0 = k0 / 2, ps1 = k1 / 2;
    const int64_t pe0 = (k0 - h % k0) % k0 + (k0 + 1) / 2, pe1 = (k1 - w % k1) % k1 + (k1 + 1) / 2;
    const int64_t nh0 = (h + ps0 + pe0) / k0 - 1, nh1 = (w + ps1 + pe1) / k1 - 1;
    const int64_t ke = k0 * k1;
    int64_t clim = ke;
    if (clip_limit > 0.0) {
        double c = clip_limit * (double)ke;
        clim = c < 1.0 ? 1 : (int64_t)c;
    }
    /* nh0, nh1 <= 9 or so (tiles are an eighth of the image), ke <= w * h. */
    size_t nmaps = (size_t)nh0 * (size_t)nh1;
    int32_t *maps = malloc(nmaps * NBINS * sizeof *maps);
    int64_t *hist = malloc(NBINS * sizeof *hist);
    if (!maps || !hist) {
        free(maps);
        free(hist);
        return cvm_errorf(CVM_E_NOMEM, "adaptive equalisation of %dx%d: out of memory", w, h);
    }
    const double scale = (double)(NGRAY - 1) / (double)ke;
    for (int64_t ti = 0; ti < nh0; ti++)
        for (int64_t tj = 0; tj < nh1; tj++) {
            memset(hist, 0, NBINS * sizeof *hist);
            /* Tile (ti, tj) starts at image pixel (ti*k0, tj*k1): the padding
             * in front is exactly half a tile and the tiles start after it. */
            for (int64_t r = 0; r < k0; r++) {
                const uint8_t *row = bins + (size_t)reflect(ti * k0 + r, h) * (size_t)w;
                for (int64_t c = 0; c < k1; c++)
                    hist[row[reflect(tj * k1 + c, w)]]++;
            }
            clip_histogram(hist, clim);
            int32_t *map = maps + ((size_t)ti * (size_t)nh1 + (size_t)tj) * NBINS;
            int64_t cum = 0;
            for (int b = 0; b < NBINS; b++) {
                cum += hist[b];
                double v = (double)cum * scale;
                if (v > NGRAY - 1)
                    v = NGRAY - 1;
                map[b] = (int32_t)v;
            }
        }
    free(hist);
    for (int y = 0; y < h; y++) {
        /* Padded row y + ps0 lies in block b0 between tile centres b0-1 and b0
         * (the outer maps repeated at the border). */
        int64_t py = y + ps0, b0 = py / k0;
        double cy = (double)(py % k0) / (double)k0, iy = 1.0 - cy;
        int64_t t0 = b0 - 1 < 0 ? 0 : (b0 - 1 >= nh0 ? nh0 - 1 : b0 - 1);
        int64_t t1 = b0 >= nh0 ? nh0 - 1 : b0;
        for (int x = 0; x < w; x++) {
            int64_t px = x + ps1, b1 = px / k1;
            double cx = (double)(px % k1) / (double)k1, ix = 1.0 - cx;
            int64_t u0 = b1 - 1 < 0 ? 0 : (b1 - 1 >= nh1 ? nh1 - 1 : b1 - 1);
            int64_t u1 = b1 >= nh1 ? nh1 - 1 : b1;
            int bin = bins[(size_t)y * w + x];
            double m00 = maps[((size_t)t0 * nh1 + u0) * NBINS + bin];
            double m01 = maps[((size_t)t0 * nh1 + u1) * NBINS + bin];
            double m10 = maps[((size_t)t1 * nh1 + u0) * NBINS + bin];
            double m11 = maps[((size_t)t1 * nh1 + u1) * NBINS + bin];
            float acc = 0.0f;
            acc += (float)(m00 * (ix * iy));
            acc += (float)(m01 * (cx * iy));
            acc += (float)(m10 * (ix * cy));
            acc += (float)(m11 * (cx * cy));
            out[(size_t)y * w + x] = (uint16_t)acc;
        }
    }
    free(maps);
    return CVM_OK;
}

cvm_status cvm_clahe_u8(uint8_t *px, int w, int h, const int order[3], double clip_limit)
{
    if (!px || w <= 0 || h <= 0)
        return cvm_errorf(CVM_E_INVALID_ARG, "adaptive equalisation: empty %dx%d image", w, h);
    for (int k = 0; k < 3; k++)
        if (order[k] < 0 || order[k] > 2)
            return cvm_errorf(CVM_E_INVALID_ARG, "adaptive equalisation: channel offset %d", order[k]);
    size_t n = (size_t)w * (size_t)h;
    if (n > SIZE_MAX / (2 * sizeof(float) + 2 * sizeof(uint16_t) + 1))
        return cvm_errorf(CVM_E_LIMIT, "adaptive equalisation: %dx%d image is too large", w, h);
    float *hs = malloc(n * 2 * sizeof *hs);
    uint16_t *lev = malloc(n * sizeof *lev);
    uint16_t *eq = malloc(n * sizeof *eq);
    uint8_t *bins = malloc(n);
    if (!hs || !lev || !eq || !bins) {
        free(hs);
        free(lev);
        free(eq);
        free(bins);
        return cvm_errorf(CVM_E_NOMEM, "adaptive equalisation of %dx%d: out of memory", w, h);
    }
    const int o0 = order[0], o1 = order[1], o2 = order[2];
    uint16_t lmin = UINT16_MAX, lmax = 0;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = px + 3 * i;
        float r = (float)p[o0] / 255.0f, g = (float)p[o1] / 255.0f, b = (float)p[o2] / 255.0f;
        float v = r > g ? r : g;
        v = b > v ? b : v;
        float mn = r < g ? r : g;
        mn = b < mn ? b : mn;
        float delta = v - mn, s = 0.0f, hue = 0.0f;
        if (delta != 0.0f) {
            s = delta / v;
            /* Later cases win ties, as in the reference's successive masks. */
            float t = 0.0f;
            if (r == v)
                t = (g - b) / delta;
            if (g == v)
                t = 2.0f + (b - r) / delta;
            if (b == v)
                t = 4.0f + (r - g) / delta;
            hue = pymodf1(t / 6.0f);
        }
        hs[2 * i] = hue;
        hs[2 * i + 1] = s;
        float u = rintf(v * 65535.0f);
        u = u < 0.0f ? 0.0f : (u > 65535.0f ? 65535.0f : u);
        lev[i] = (uint16_t)u;
        lmin = lev[i] < lmin ? lev[i] : lmin;
        lmax = lev[i] > lmax ? lev[i] : lmax;
    }
    /* Stretch onto 14 bits over the image's own range (double, half to even). */
    for (size_t i = 0; i < n; i++) {
        double q;
        if (lmin != lmax)
            q = rint(((double)lev[i] - lmin) / (double)(lmax - lmin) * (double)(NGRAY - 1) + 0.0);
        else
            q = lev[i] > NGRAY - 1 ? NGRAY - 1 : lev[i];
        bins[i] = (uint8_t)((unsigned)q / BIN_SIZE);
    }
    cvm_status s = clahe_levels(bins, w, h, clip_limit, eq);
    if (s == CVM_OK) {
        uint16_t emin = UINT16_MAX, emax = 0;
        for (size_t i = 0; i < n; i++) {
            emin = eq[i] < emin ? eq[i] : emin;
            emax = eq[i] > emax ? eq[i] : emax;
        }
        const float fmin = (float)emin, frange = (float)(emax - emin);
        for (size_t i = 0; i < n; i++) {
            float v;
            if (emin != emax)
                v = ((float)eq[i] - fmin) / frange;
            else
                v = eq[i] > 0 ? 1.0f : 0.0f;
            float hue = hs[2 * i], sat = hs[2 * i + 1];
            float hi = floorf(hue * 6.0f), f = hue * 6.0f - hi;
            float pp = v * (1.0f - sat), qq = v * (1.0f - f * sat), tt = v * (1.0f - (1.0f - f) * sat);
            float c[3];
            switch (((unsigned)(uint8_t)hi) % 6) {
            case 0: c[0] = v; c[1] = tt; c[2] = pp; break;
            case 1: c[0] = qq; c[1] = v; c[2] = pp; break;
            case 2: c[0] = pp; c[1] = v; c[2] = tt; break;
            case 3: c[0] = pp; c[1] = qq; c[2] = v; break;
            case 4: c[0] = tt; c[1] = pp; c[2] = v; break;
            default: c[0] = v; c[1] = pp; c[2] = qq; break;
            }
            uint8_t *p = px + 3 * i;
            for (int k = 0; k < 3; k++) {
                float y = c[k] * 255.0f;
                y = y < 0.0f ? 0.0f : (y > 255.0f ? 255.0f : y);
                p[order[k]] = (uint8_t)y;
            }
        }
    }
    free(hs);
    free(lev);
    free(eq);
    free(bins);
    return s;
}
