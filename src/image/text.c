/* Text labels: antialiased glyphs from FreeType with DejaVu Sans.  When the
 * font file cannot be found or loaded, a small built-in 5x7 bitmap font
 * (drawn for this file; upper case, digits and common punctuation) is
 * scaled instead, so labels still show on minimal systems. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <ft2build.h>
#include FT_FREETYPE_H

#include "image/draw_internal.h"

/* The one process-wide object of the library: FreeType's library handle and
 * the face, built on first use.  FreeType faces are not thread-safe, so
 * every use holds the mutex. */
typedef struct font_ctx {
    FT_Library lib;
    FT_Face face;
    int ok;
    pthread_mutex_t lock;
} font_ctx;

static font_ctx g_font = {NULL, NULL, 0, PTHREAD_MUTEX_INITIALIZER};
static pthread_once_t g_font_once = PTHREAD_ONCE_INIT;

static void font_init(void)
{
    const char *candidates[] = {
        getenv("CVM_FONT"),
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/TTF/DejaVuSans.ttf",
        "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    };
    /* CVM_FONT=builtin selects the bitmap font (to check it, or to get
     * identical labels everywhere). */
    if (candidates[0] && strcmp(candidates[0], "builtin") == 0)
        return;
    if (FT_Init_FreeType(&g_font.lib) != 0) {
        g_font.lib = NULL;
        return;
    }
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
        if (!candidates[i] || !candidates[i][0])
            continue;
        if (FT_New_Face(g_font.lib, candidates[i], 0, &g_font.face) == 0) {
            if (g_font.face->units_per_EM > 0 && g_font.face->ascender > g_font.face->descender) {
                g_font.ok = 1;
                return;
            }
            FT_Done_Face(g_font.face);
            g_font.face = NULL;
        }
    }
}

/* Next code point from UTF-8; malformed bytes give U+FFFD and advance one. */
static uint32_t next_cp(const unsigned char **ps)
{
    const unsigned char *s = *ps;
    uint32_t c = s[0];
    int n = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : -1;
    if (n < 0) {
        *ps = s + 1;
        return 0xFFFD;
    }
    if (n == 0) {
        *ps = s + 1;
        return c;
    }
    c &= 0x3Fu >> n;
    for (int i = 1; i <= n; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *ps = s + 1;
            return 0xFFFD;
        }
        c = c << 6 | (s[i] & 0x3F);
    }
    *ps = s + n + 1;
    return c;
}

/* ------------------------------------------------------- fallback font */

/* ASCII 32..95, 7 rows of 5 bits (bit 4 = leftmost column). */
static const uint8_t k_glyphs[64][7] = {
    {0, 0, 0, 0, 0, 0, 0},                         /* space */
    {0x04, 0x04, 0x04, 0x04, 0x04, 0x00, 0x04},    /* ! */
    {0x0A, 0x0A, 0, 0, 0, 0, 0},                   /* " */
    {0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A},    /* # */
    {0x04, 0x0F, 0x14, 0x0E, 0x05, 0x1E, 0x04},    /* $ */
    {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03},    /* % */
    {0x0C, 0x12, 0x14, 0x08, 0x15, 0x12, 0x0D},    /* & */
    {0x04, 0x04, 0, 0, 0, 0, 0},                   /* ' */
    {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02},    /* ( */
    {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08},    /* ) */
    {0x00, 0x04, 0x15, 0x0E, 0x15, 0x04, 0x00},    /* * */
    {0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00},    /* + */
    {0, 0, 0, 0, 0x0C, 0x04, 0x08},                /* , */
    {0, 0, 0, 0x1F, 0, 0, 0},                      /* - */
    {0, 0, 0, 0, 0, 0x0C, 0x0C},                   /* . */
    {0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00},    /* / */
    {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E},    /* 0 */
    {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E},    /* 1 */
    {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F},    /* 2 */
    {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E},    /* 3 */
    {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02},    /* 4 */
    {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E},    /* 5 */
    {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E},    /* 6 */
    {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08},    /* 7 */
    {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E},    /* 8 */
    {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C},    /* 9 */
    {0, 0x0C, 0x0C, 0, 0x0C, 0x0C, 0},             /* : */
    {0, 0x0C, 0x0C, 0, 0x0C, 0x04, 0x08},          /* ; */
    {0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02},    /* < */
    {0, 0, 0x1F, 0, 0x1F, 0, 0},                   /* = */
    {0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08},    /* > */
    {0x0E, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04},    /* ? */
    {0x0E, 0x11, 0x17, 0x15, 0x17, 0x10, 0x0E},    /* @ */
    {0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11},    /* A */
    {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E},    /* B */
    {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E},    /* C */
    {0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C},    /* D */
    {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F},    /* E */
    {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10},    /* F */
    {0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F},    /* G */
    {0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11},    /* H */
    {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E},    /* I */
    {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C},    /* J */
    {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11},    /* K */
    {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F},    /* L */
    {0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11},    /* M */
    {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11},    /* N */
    {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E},    /* O */
    {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10},    /* P */
    {0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D},    /* Q */
    {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11},    /* R */
    {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E},    /* S */
    {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04},    /* T */
    {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E},    /* U */
    {0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04},    /* V */
    {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A},    /* W */
    {0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11},    /* X */
    {0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04},    /* Y */
    {0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F},    /* Z */
    {0x0E, 0x08, 0x08, 0x08, 0x08, 0x08, 0x0E},    /* [ */
    {0x00, 0x10, 0x08, 0x04, 0x02, 0x01, 0x00},    /* \ */
    {0x0E, 0x02, 0x02, 0x02, 0x02, 0x02, 0x0E},    /* ] */
    {0x04, 0x0A, 0x11, 0, 0, 0, 0},                /* ^ */
    {0, 0, 0, 0, 0, 0, 0x1F},                      /* _ */
};
static const uint8_t k_unknown[7] = {0x1F, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1F};

/* A glyph cell is 6x9 font pixels: 5 columns plus spacing, 7 rows plus a
 * margin above and below. */
static void fallback_text(cvm_image_view *img, int x, int y, int px, const char *utf8, const cvm_ink *ink,
                          int *w, int *h)
{
    int cell_w = (px * 6 + 8) / 9, n = 0;
    const unsigned char *s = (const unsigned char *)utf8;
    while (*s) {
        uint32_t cp = next_cp(&s);
        if (cp >= 'a' && cp <= 'z')
            cp -= 32;
        const uint8_t *g = (cp >= 32 && cp <= 95) ? k_glyphs[cp - 32] : k_unknown;
        if (img) {
            int64_t gx = (int64_t)x + (int64_t)n * cell_w;
            for (int oy = 0; oy < px; oy++) {
                int64_t yy = (int64_t)y + oy;
                if (yy < 0 || yy >= img->height)
                    continue;
                int row = oy * 9 / px - 1; /* one font pixel of margin on top */
                if (row < 0 || row > 6)
                    continue;
                for (int ox = 0; ox < cell_w; ox++) {
                    int64_t xx = gx + ox;
                    int col = ox * 6 / cell_w;
                    if (xx < 0 || xx >= img->width || col > 4)
                        continue;
                    if (g[row] & (0x10 >> col))
                        cvm_blend_pixel(img, (int)xx, (int)yy, ink, 255);
                }
            }
        }
        n++;
    }
    if (w)
        *w = n * cell_w;
    if (h)
        *h = px;
}

/* -------------------------------------------------------- FreeType path */

static void ft_text(cvm_image_view *img, int x, int y, int px, const char *utf8, const cvm_ink *ink, int *w)
{
    FT_Face face = g_font.face;
    /* Size the em so that ascender + descender fill the requested height. */
    FT_UInt em = (FT_UInt)((int64_t)px * face->units_per_EM / (face->ascender - face->descender));
    if (em < 1)
        em = 1;
    if (FT_Set_Pixel_Sizes(face, 0, em) != 0) {
        if (w)
            *w = 0;
        return;
    }
    int64_t baseline = (int64_t)y + ((int64_t)face->ascender * em + face->units_per_EM / 2) / face->units_per_EM;
    int64_t pen = 0; /* 26.6 fixed point, relative to x */
    FT_UInt prev = 0;
    int has_kern = FT_HAS_KERNING(face);
    const unsigned char *s = (const unsigned char *)utf8;
    while (*s) {
        uint32_t cp = next_cp(&s);
        FT_UInt gi = FT_Get_Char_Index(face, cp);
        if (has_kern && prev && gi) {
            FT_Vector k;
            if (FT_Get_Kerning(face, prev, gi, FT_KERNING_DEFAULT, &k) == 0)
                pen += k.x;
        }
        if (FT_Load_Glyph(face, gi, img ? FT_LOAD_RENDER : FT_LOAD_DEFAULT) != 0) {
            prev = 0;
            continue;
        }
        FT_GlyphSlot g = face->glyph;
        if (img && g->bitmap.buffer) {
            const FT_Bitmap *b = &g->bitmap;
            int64_t gx = (int64_t)x + ((pen + 32) >> 6) + g->bitmap_left;
            int64_t gy = baseline - g->bitmap_top;
            for (unsigned r = 0; r < b->rows; r++) {
                int64_t yy = gy + r;
                if (yy < 0 || yy >= img->height)
                    continue;
                const unsigned char *src = b->buffer + (int64_t)r * b->pitch;
                for (unsigned c = 0; c < b->width; c++) {
                    int64_t xx = gx + c;
                    if (xx < 0 || xx >= img->width)
                        continue;
                    int cov;
                    if (b->pixel_mode == FT_PIXEL_MODE_MONO)
                        cov = (src[c >> 3] & (0x80 >> (c & 7))) ? 255 : 0;
                    else if (b->pixel_mode == FT_PIXEL_MODE_GRAY)
                        cov = b->num_grays == 256 ? src[c] : src[c] * 255 / (b->num_grays - 1);
                    else
                        cov = 0;
                    if (cov)
                        cvm_blend_pixel(img, (int)xx, (int)yy, ink, cov);
                }
            }
        }
        pen += g->advance.x;
        prev = gi;
    }
    if (w)
        *w = (int)((pen + 63) >> 6);
}

void cvm_draw_text(cvm_image_view *img, int x, int y, int px, const char *utf8, cvm_rgba c, int *w, int *h)
{
    if (w)
        *w = 0;
    if (h)
        *h = 0;
    if (!utf8)
        return;
    if (img && !cvm_view_ok(img))
        img = NULL; /* nothing to draw on: measure only */
    /* Below 6 pixels no font is legible; beyond 1000 the work is pointless. */
    if (px < 6)
        px = 6;
    if (px > 1000)
        px = 1000;
    cvm_ink ink = {{c.r, c.g, c.b, 255}, c.a};
    if (img)
        ink = cvm_ink_for(img, c);
    pthread_once(&g_font_once, font_init);
    if (g_font.ok) {
        pthread_mutex_lock(&g_font.lock);
        ft_text(img, x, y, px, utf8, &ink, w);
        pthread_mutex_unlock(&g_font.lock);
        if (h)
            *h = px;
        return;
    }
    fallback_text(img, x, y, px, utf8, &ink, w, h);
}
