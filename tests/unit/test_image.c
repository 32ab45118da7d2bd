/* Image layer: decoding (all codecs, hostile input), encoding, wrapping,
 * EXIF orientation and drawing.  Expected values come from Pillow (see the
 * comments at each table), not from this library. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cvm/image.h"
#include "image/draw.h"
#include "image/resize.h"
#include "image/resize_internal.h"

static void data_path(char *out, size_t cap, const char *name)
{
    /* tests/unit/this_file.c -> tests/data/image/<name> */
    snprintf(out, cap, "%s", __FILE__);
    char *p = strstr(out, "tests/unit/");
    if (p)
        snprintf(p, cap - (size_t)(p - out), "tests/data/image/%s", name);
}

static uint8_t *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(len > 0 ? (size_t)len : 1);
    *n = fread(b, 1, (size_t)len, f);
    fclose(f);
    return b;
}

static cvm_image *read_fixture(const char *name, cvm_pixel_format fmt, int exif)
{
    char path[4096];
    data_path(path, sizeof path, name);
    cvm_image_read_options o;
    cvm_image_read_options_init(&o);
    o.format = fmt;
    o.apply_exif_orientation = exif;
    cvm_image *img = NULL;
    cvm_status s = cvm_image_read(path, &o, &img);
    if (s != CVM_OK)
        print_message("%s: %s\n", name, cvm_last_error());
    assert_int_equal(s, CVM_OK);
    return img;
}

/* Sum of bytes and sum of (index+1)*byte mod 2^32 over the packed pixels;
 * the expected numbers were computed with numpy from Pillow's decode. */
static void checksum(const cvm_image *img, uint64_t *sum, uint32_t *weighted)
{
    cvm_image_view v;
    cvm_image_get_view(img, &v);
    uint64_t s = 0, w = 0, i = 0;
    for (int y = 0; y < v.height; y++)
        for (int x = 0; x < v.width * v.channels; x++, i++) {
            uint8_t b = v.pixels[(size_t)y * v.stride + (size_t)x];
            s += b;
            w += (i + 1) * b;
        }
    *sum = s;
    *weighted = (uint32_t)w;
}

static void test_shared_images(void **st)
{
    (void)st;
    const char *dir = getenv("CVM_SHARED_DIR");
    if (!dir) {
        print_message("CVM_SHARED_DIR not set; skipped\n");
        skip();
    }
    /* Sizes as PIL.Image.open(...).size reports them. */
    static const struct {
        const char *name;
        int w, h;
    } files[] = {
        {"astronaut.png", 512, 512}, {"chelsea.png", 451, 300},     {"coffee.png", 600, 400},
        {"document_synthetic.png", 1240, 877}, {"dog.jpg", 768, 576}, {"giraffe.jpg", 500, 500},
        {"grace_hopper.jpg", 512, 600}, {"page.png", 384, 191},     {"person.jpg", 640, 424},
        {"scenetext01.jpg", 800, 600},
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/images/%s", dir, files[i].name);
        for (int f = 0; f < 4; f++) {
            cvm_image_read_options o;
            cvm_image_read_options_init(&o);
            o.format = (cvm_pixel_format)f;
            cvm_image *img = NULL;
            cvm_status s = cvm_image_read(path, &o, &img);
            if (s != CVM_OK)
                print_message("%s: %s\n", path, cvm_last_error());
            assert_int_equal(s, CVM_OK);
            cvm_image_view v;
            assert_int_equal(cvm_image_get_view(img, &v), CVM_OK);
            assert_int_equal(v.width, files[i].w);
            assert_int_equal(v.height, files[i].h);
            assert_int_equal(v.channels, f == CVM_PIXEL_GRAY8 ? 1 : f == CVM_PIXEL_RGBA8 ? 4 : 3);
            cvm_image_free(img);
        }
    }
}

static void test_fixture_pixels(void **st)
{
    (void)st;
    /* numpy over Pillow's decode (16-bit PNGs: high byte, which is what
     * Pillow and cv2 both keep; 32-bit BI_RGB BMP: alpha byte ignored). */
    static const struct {
        const char *name;
        cvm_pixel_format fmt;
        uint64_t sum;
        uint32_t weighted;
    } cases[] = {
        {"rgb16.png", CVM_PIXEL_RGBA8, 34055, 3739248},   {"pal_trns.png", CVM_PIXEL_RGBA8, 23853, 2638094},
        {"gray_alpha.png", CVM_PIXEL_RGBA8, 28933, 3018282}, {"gray16.png", CVM_PIXEL_GRAY8, 8010, 231256},
        {"rgb24.bmp", CVM_PIXEL_RGB8, 19573, 1652621},    {"pal8.bmp", CVM_PIXEL_RGB8, 19411, 1623156},
        {"lossless.webp", CVM_PIXEL_RGB8, 19573, 1652621}, {"rgba32.bmp", CVM_PIXEL_RGBA8, 34671, 3824681},
        {"interlaced.png", CVM_PIXEL_RGB8, 21502, 1787959},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cvm_image *img = read_fixture(cases[i].name, cases[i].fmt, 0);
        uint64_t s;
        uint32_t w;
        checksum(img, &s, &w);
        if (s != cases[i].sum || w != cases[i].weighted)
            print_message("%s: got %llu/%u\n", cases[i].name, (unsigned long long)s, w);
        assert_int_equal(s, cases[i].sum);
        assert_int_equal(w, cases[i].weighted);
        cvm_image_free(img);
    }
}

static void test_format_conversion(void **st)
{
    (void)st;
    cvm_image *rgb = read_fixture("rgb24.bmp", CVM_PIXEL_RGB8, 0);
    cvm_image *bgr = read_fixture("rgb24.bmp", CVM_PIXEL_BGR8, 0);
    cvm_image *gray = read_fixture("rgb24.bmp", CVM_PIXEL_GRAY8, 0);
    cvm_image *rgba = read_fixture("rgb24.bmp", CVM_PIXEL_RGBA8, 0);
    cvm_image_view a, b, g, r4;
    cvm_image_get_view(rgb, &a);
    cvm_image_get_view(bgr, &b);
    cvm_image_get_view(gray, &g);
    cvm_image_get_view(rgba, &r4);
    for (int y = 0; y < a.height; y++)
        for (int x = 0; x < a.width; x++) {
            const uint8_t *p = a.pixels + y * a.stride + x * 3;
            const uint8_t *q = b.pixels + y * b.stride + x * 3;
            const uint8_t *r = r4.pixels + y * r4.stride + x * 4;
            assert_int_equal(p[0], q[2]);
            assert_int_equal(p[2], q[0]);
            assert_memory_equal(p, r, 3);
            assert_int_equal(r[3], 255);
            /* cv2.cvtColor(RGB2GRAY) fixed point */
            int luma = (p[0] * 4899 + p[1] * 9617 + p[2] * 1868 + 8192) >> 14;
            assert_int_equal(g.pixels[y * g.stride + x], luma);
        }
    cvm_image_free(rgb), cvm_image_free(bgr), cvm_image_free(gray), cvm_image_free(rgba);
}

static void test_exif_orientation(void **st)
{
    (void)st;
    /* Quadrant colours after PIL.ImageOps.exif_transpose of a 32x16 picture
     * with red/green (top) and blue/white (bottom) halves. */
    enum { R, G, B, W };
    static const int expect[8][6] = {
        {32, 16, R, G, B, W}, {32, 16, G, R, W, B}, {32, 16, W, B, G, R}, {32, 16, B, W, R, G},
        {16, 32, R, B, G, W}, {16, 32, B, R, W, G}, {16, 32, W, G, B, R}, {16, 32, G, W, R, B},
    };
    static const uint8_t colours[4][3] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {255, 255, 255}};
    for (int o = 1; o <= 8; o++) {
        char name[64];
        snprintf(name, sizeof name, "exif_orient_%d.jpg", o);
        cvm_image *plain = read_fixture(name, CVM_PIXEL_RGB8, 0);
        cvm_image_view v;
        cvm_image_get_view(plain, &v);
        assert_int_equal(v.width, 32);
        assert_int_equal(v.height, 16);
        cvm_image_free(plain);
        cvm_image *img = read_fixture(name, CVM_PIXEL_RGB8, 1);
        cvm_image_get_view(img, &v);
        assert_int_equal(v.width, expect[o - 1][0]);
        assert_int_equal(v.height, expect[o - 1][1]);
        int pts[4][2] = {{v.width / 4, v.height / 4}, {3 * v.width / 4, v.height / 4},
                         {v.width / 4, 3 * v.height / 4}, {3 * v.width / 4, 3 * v.height / 4}};
        for (int q = 0; q < 4; q++) {
            const uint8_t *p = v.pixels + pts[q][1] * v.stride + pts[q][0] * 3;
            const uint8_t *c = colours[expect[o - 1][2 + q]];
            for (int k = 0; k < 3; k++)
                assert_true(abs(p[k] - c[k]) < 40);
        }
        cvm_image_free(img);
    }
}

static char g_tmpdir[256];

static void make_tmpdir(void)
{
    if (g_tmpdir[0])
        return;
    snprintf(g_tmpdir, sizeof g_tmpdir, "%s/cvm_image_test_XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(g_tmpdir));
}

static cvm_image *pattern_ex(int w, int h, cvm_pixel_format f, int smooth)
{
    cvm_image *img = NULL;
    assert_int_equal(cvm_image_create(w, h, f, &img), CVM_OK);
    cvm_image_view v;
    cvm_image_get_view(img, &v);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w * v.channels; x++)
            v.pixels[y * v.stride + x] = (uint8_t)(smooth ? x + 2 * y : x * 3 + y * 5 + (x * y) % 7);
    return img;
}

static cvm_image *pattern(int w, int h, cvm_pixel_format f) { return pattern_ex(w, h, f, 0); }

static void test_roundtrip(void **st)
{
    (void)st;
    make_tmpdir();
    char path[512];
    for (int f = 0; f < 4; f++) {
        cvm_image *img = pattern(37, 23, (cvm_pixel_format)f);
        cvm_image_view a, b;
        cvm_image_get_view(img, &a);
        cvm_image_read_options o;
        cvm_image_read_options_init(&o);
        o.format = (cvm_pixel_format)f;
        /* PNG: exact. */
        snprintf(path, sizeof path, "%s/rt%d.PNG", g_tmpdir, f);
        assert_int_equal(cvm_image_write(img, path, 0), CVM_OK);
        cvm_image *back = NULL;
        assert_int_equal(cvm_image_read(path, &o, &back), CVM_OK);
        cvm_image_get_view(back, &b);
        assert_int_equal(b.width, 37);
        assert_int_equal(b.height, 23);
        for (int y = 0; y < 23; y++)
            assert_memory_equal(a.pixels + y * a.stride, b.pixels + y * b.stride, (size_t)37 * a.channels);
        cvm_image_free(back);
        /* JPEG: close on a smooth picture (alpha is not stored). */
        cvm_image_free(img);
        img = pattern_ex(37, 23, (cvm_pixel_format)f, 1);
        cvm_image_get_view(img, &a);
        snprintf(path, sizeof path, "%s/rt%d.jpeg", g_tmpdir, f);
        assert_int_equal(cvm_image_write(img, path, 95), CVM_OK);
        assert_int_equal(cvm_image_read(path, &o, &back), CVM_OK);
        cvm_image_get_view(back, &b);
        long diff = 0, n = 0;
        for (int y = 0; y < 23; y++)
            for (int x = 0; x < 37; x++)
                for (int c = 0; c < (a.channels == 4 ? 3 : a.channels); c++, n++)
                    diff += abs(a.pixels[y * a.stride + x * a.channels + c] - b.pixels[y * b.stride + x * b.channels + c]);
        if (diff >= 3 * n)
            print_message("format %d: mean JPEG error %.2f\n", f, (double)diff / n);
        assert_true(diff < 3 * n);
        cvm_image_free(back);
        cvm_image_free(img);
    }
    /* Errors: no half-written file, unknown extension, bad quality. */
    cvm_image *img = pattern(8, 8, CVM_PIXEL_RGB8);
    snprintf(path, sizeof path, "%s/missing/dir/x.png", g_tmpdir);
    assert_int_equal(cvm_image_write(img, path, 0), CVM_E_IO);
    snprintf(path, sizeof path, "%s/x.gif", g_tmpdir);
    assert_int_equal(cvm_image_write(img, path, 0), CVM_E_UNSUPPORTED);
    assert_int_equal(access(path, F_OK), -1);
    snprintf(path, sizeof path, "%s/x.jpg", g_tmpdir);
    assert_int_equal(cvm_image_write(img, path, 101), CVM_E_INVALID_ARG);
    cvm_image_free(img);
}

static void test_wrap_stride(void **st)
{
    (void)st;
    enum { W = 5, H = 4, STRIDE = 19 };
    uint8_t buf[STRIDE * H];
    memset(buf, 0xEE, sizeof buf);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W * 3; x++)
            buf[y * STRIDE + x] = (uint8_t)(y * 40 + x);
    cvm_image *img = NULL;
    assert_int_equal(cvm_image_wrap(W, H, 14, CVM_PIXEL_RGB8, buf, &img), CVM_E_INVALID_ARG);
    assert_null(img);
    assert_int_equal(cvm_image_wrap(W, H, STRIDE, CVM_PIXEL_RGB8, NULL, &img), CVM_E_INVALID_ARG);
    assert_int_equal(cvm_image_wrap(0, H, STRIDE, CVM_PIXEL_RGB8, buf, &img), CVM_E_INVALID_ARG);
    assert_int_equal(cvm_image_wrap(W, H, STRIDE, CVM_PIXEL_RGB8, buf, &img), CVM_OK);
    cvm_image_view v;
    assert_int_equal(cvm_image_get_view(img, &v), CVM_OK);
    assert_ptr_equal(v.pixels, buf);
    assert_int_equal(v.stride, STRIDE);
    assert_int_equal(v.channels, 3);
    /* Writing honours the stride: the padding bytes never reach the file. */
    make_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/wrap.png", g_tmpdir);
    assert_int_equal(cvm_image_write(img, path, 0), CVM_OK);
    cvm_image *back = NULL;
    assert_int_equal(cvm_image_read(path, NULL, &back), CVM_OK);
    cvm_image_view b;
    cvm_image_get_view(back, &b);
    for (int y = 0; y < H; y++)
        assert_memory_equal(b.pixels + y * b.stride, buf + y * STRIDE, W * 3);
    cvm_image_free(back);
    cvm_image_free(img); /* must not free buf */
    assert_int_equal(buf[STRIDE - 1], 0xEE);
    assert_int_equal(cvm_image_create(3, 3, (cvm_pixel_format)9, &img), CVM_E_INVALID_ARG);
}

static void expect_decode(const uint8_t *d, size_t n, cvm_status want)
{
    cvm_image *img = NULL;
    cvm_status s = cvm_image_decode(d, n, NULL, &img);
    if (s != want)
        print_message("decode of %zu bytes: %s (%s)\n", n, cvm_status_name(s), cvm_last_error());
    assert_int_equal(s, want);
    if (s != CVM_OK)
        assert_null(img);
    cvm_image_free(img);
}

static void test_truncation(void **st)
{
    (void)st;
    const char *names[] = {"exif_orient_6.jpg", "pal_trns.png", "interlaced.png", "rgb24.bmp", "lossless.webp"};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        char path[4096];
        data_path(path, sizeof path, names[k]);
        size_t n = 0;
        uint8_t *d = read_all(path, &n);
        assert_non_null(d);
        expect_decode(d, n, CVM_OK);
        for (size_t cut = 0; cut < n; cut++) {
            /* A private copy so that ASan sees any read past the end. */
            uint8_t *c = malloc(cut ? cut : 1);
            memcpy(c, d, cut);
            cvm_image *img = NULL;
            cvm_status s = cvm_image_decode(c, cut, NULL, &img);
            if (s == CVM_OK)
                print_message("%s cut at %zu decoded\n", names[k], cut);
            assert_int_not_equal(s, CVM_OK);
            assert_null(img);
            if (cut >= 12)
                assert_true(strlen(cvm_last_error()) > 0);
            free(c);
        }
        free(d);
    }
}

static void test_bit_flips(void **st)
{
    (void)st;
    const char *names[] = {"exif_orient_3.jpg", "pal_trns.png", "gray_alpha.png", "pal8.bmp", "lossless.webp"};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        char path[4096];
        data_path(path, sizeof path, names[k]);
        size_t n = 0;
        uint8_t *d = read_all(path, &n);
        assert_non_null(d);
        for (size_t i = 0; i < n; i++)
            for (int bit = 0; bit < 8; bit += 3) {
                uint8_t *c = malloc(n);
                memcpy(c, d, n);
                c[i] ^= (uint8_t)(1u << bit);
                cvm_image_read_options o;
                cvm_image_read_options_init(&o);
                o.apply_exif_orientation = 1;
                o.max_pixels = 1 << 20;
                cvm_image *img = NULL;
                cvm_status s = cvm_image_decode(c, n, &o, &img);
                if (s == CVM_OK) {
                    cvm_image_view v;
                    cvm_image_get_view(img, &v);
                    assert_true(v.width >= 1 && v.height >= 1 && (int64_t)v.width * v.height <= (1 << 20));
                } else {
                    assert_null(img);
                }
                cvm_image_free(img);
                free(c);
            }
        free(d);
    }
}

static uint32_t crc32_of(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
    }
    return ~c;
}

static void put32be(uint8_t *p, uint32_t v) { p[0] = v >> 24, p[1] = v >> 16, p[2] = v >> 8, p[3] = (uint8_t)v; }
static void put32le(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v, p[1] = v >> 8, p[2] = v >> 16, p[3] = v >> 24; }

static void test_huge_headers(void **st)
{
    (void)st;
    /* PNG: signature + IHDR 100000x100000 RGB, nothing else. */
    uint8_t png[8 + 25];
    memcpy(png, "\x89PNG\r\n\x1a\n", 8);
    put32be(png + 8, 13);
    memcpy(png + 12, "IHDR", 4);
    put32be(png + 16, 100000);
    put32be(png + 20, 100000);
    png[24] = 8, png[25] = 2, png[26] = 0, png[27] = 0, png[28] = 0;
    put32be(png + 29, crc32_of(png + 12, 17));
    expect_decode(png, sizeof png, CVM_E_LIMIT);
    assert_non_null(strstr(cvm_last_error(), "100000x100000"));

    /* JPEG: a real 8x8 file with its SOF patched to 65500x65500 (libjpeg's
     * ceiling; 4.3 Gpx is far over the default limit). */
    make_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/small.jpg", g_tmpdir);
    cvm_image *img = pattern(8, 8, CVM_PIXEL_RGB8);
    assert_int_equal(cvm_image_write(img, path, 80), CVM_OK);
    cvm_image_free(img);
    size_t n = 0;
    uint8_t *jpg = read_all(path, &n);
    int patched = 0;
    for (size_t i = 2; i + 9 < n; i++)
        if (jpg[i] == 0xFF && jpg[i + 1] == 0xC0) {
            jpg[i + 5] = jpg[i + 7] = 0xFF;
            jpg[i + 6] = jpg[i + 8] = 0xDC;
            patched = 1;
            break;
        }
    assert_true(patched);
    expect_decode(jpg, n, CVM_E_LIMIT);
    free(jpg);

    /* BMP: 24-bit, 100000x100000, no pixel data. */
    uint8_t bmp[54] = {'B', 'M'};
    put32le(bmp + 10, 54);
    put32le(bmp + 14, 40);
    put32le(bmp + 18, 100000);
    put32le(bmp + 22, 100000);
    bmp[26] = 1, bmp[28] = 24;
    expect_decode(bmp, sizeof bmp, CVM_E_LIMIT);
    /* The same header at 64x64 is a truncated file. */
    put32le(bmp + 18, 64);
    put32le(bmp + 22, 64);
    expect_decode(bmp, sizeof bmp, CVM_E_PARSE);
    /* RLE is refused clearly. */
    put32le(bmp + 30, 1);
    bmp[28] = 8;
    expect_decode(bmp, sizeof bmp, CVM_E_UNSUPPORTED);

    /* WebP: RIFF + VP8X with a 100000x100000 canvas. */
    uint8_t webp[30] = {'R', 'I', 'F', 'F', 0, 0, 0, 0, 'W', 'E', 'B', 'P', 'V', 'P', '8', 'X', 10, 0, 0, 0};
    put32le(webp + 4, 22);
    uint32_t m = 100000 - 1;
    webp[24] = (uint8_t)m, webp[25] = (uint8_t)(m >> 8), webp[26] = (uint8_t)(m >> 16);
    webp[27] = (uint8_t)m, webp[28] = (uint8_t)(m >> 8), webp[29] = (uint8_t)(m >> 16);
    expect_decode(webp, sizeof webp, CVM_E_LIMIT);

    /* A caller-set ceiling applies too. */
    char fpath[4096];
    data_path(fpath, sizeof fpath, "rgb24.bmp");
    cvm_image_read_options o;
    cvm_image_read_options_init(&o);
    o.max_pixels = 53; /* the file is 9x6 = 54 */
    assert_int_equal(cvm_image_read(fpath, &o, &img), CVM_E_LIMIT);
    assert_non_null(strstr(cvm_last_error(), "rgb24.bmp"));
}

static void test_bad_input(void **st)
{
    (void)st;
    expect_decode((const uint8_t *)"", 0, CVM_E_PARSE);
    expect_decode((const uint8_t *)"GIF89a....", 10, CVM_E_UNSUPPORTED);
    cvm_image *img = NULL;
    assert_int_equal(cvm_image_read("/nonexistent/file.png", NULL, &img), CVM_E_NOT_FOUND);
    assert_int_equal(cvm_image_decode(NULL, 4, NULL, &img), CVM_E_INVALID_ARG);
}

/* Every input the fuzzer kept stays a regression test without libFuzzer. */
static void test_fuzz_corpus(void **st)
{
    (void)st;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", __FILE__);
    char *p = strstr(dir, "tests/unit/");
    if (!p)
        skip();
    snprintf(p, sizeof dir - (size_t)(p - dir), "fuzz/corpus/image_decode");
    DIR *d = opendir(dir);
    if (!d) {
        print_message("corpus %s not found; skipped\n", dir);
        skip();
    }
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t len = 0;
        uint8_t *b = read_all(path, &len);
        if (!b)
            continue;
        for (int f = 0; f < 4; f++) {
            cvm_image_read_options o;
            cvm_image_read_options_init(&o);
            o.max_pixels = 16 * 1000 * 1000;
            o.format = (cvm_pixel_format)f;
            o.apply_exif_orientation = 1;
            cvm_image *img = NULL;
            if (cvm_image_decode(b, len, &o, &img) != CVM_OK)
                assert_null(img);
            cvm_image_free(img);
        }
        free(b);
        n++;
    }
    closedir(d);
    assert_true(n > 0);
}

/* ------------------------------------------------------------- drawing */

static uint8_t *px(cvm_image_view *v, int x, int y) { return v->pixels + y * v->stride + x * v->channels; }

static void test_draw_clipping(void **st)
{
    (void)st;
    cvm_image *img = NULL;
    assert_int_equal(cvm_image_create(20, 10, CVM_PIXEL_RGB8, &img), CVM_OK);
    cvm_image_view v;
    cvm_image_get_view(img, &v);
    cvm_rgba red = {255, 0, 0, 255};
    cvm_draw_fill_rect(&v, -5, -5, 2, 2, red);
    assert_int_equal(px(&v, 0, 0)[0], 255);
    assert_int_equal(px(&v, 2, 2)[0], 255);
    assert_int_equal(px(&v, 3, 3)[0], 0);
    assert_int_equal(px(&v, 3, 0)[0], 0);
    /* Far outside and extreme coordinates: nothing drawn, no crash. */
    cvm_rgba blue = {0, 0, 255, 255};
    cvm_draw_fill_rect(&v, 100, 100, 200, 200, blue);
    cvm_draw_rect(&v, INT_MIN, INT_MIN, INT_MAX, INT_MAX, 3, blue); /* edges all off-image */
    cvm_draw_circle(&v, -100, -100, 10, blue);
    cvm_draw_circle(&v, INT_MAX, INT_MIN, INT_MAX, blue);
    cvm_draw_line(&v, INT_MIN, INT_MIN, INT_MIN + 5, INT_MIN, 1000000, blue);
    uint8_t mask[4] = {1, 1, 1, 1};
    cvm_draw_mask(&v, mask, INT_MAX - 1, INT_MAX - 1, 2, 2, blue);
    cvm_draw_mask(&v, mask, -2, -2, 2, 2, blue);
    cvm_draw_text(&v, INT_MAX - 3, INT_MIN, 20, "far away", blue, NULL, NULL);
    for (int y = 0; y < 10; y++)
        for (int x = 0; x < 20; x++)
            assert_int_equal(px(&v, x, y)[2], 0);
    /* A horizontal line through row 5, thickness 1, from far outside. */
    cvm_rgba green = {0, 255, 0, 255};
    cvm_draw_line(&v, -1000, 5, 1000, 5, 1, green);
    for (int x = 0; x < 20; x++) {
        assert_int_equal(px(&v, x, 5)[1], 255);
        assert_int_equal(px(&v, x, 3)[1], 0);
        assert_int_equal(px(&v, x, 7)[1], 0);
    }
    /* Rectangle outline: border pixels set, interior untouched. */
    memset(v.pixels, 0, v.stride * 10);
    cvm_draw_rect(&v, 2, 1, 12, 8, 2, red);
    assert_int_equal(px(&v, 2, 1)[0], 255);
    assert_int_equal(px(&v, 3, 4)[0], 255);
    assert_int_equal(px(&v, 11, 7)[0], 255);
    assert_int_equal(px(&v, 4, 3)[0], 0);
    assert_int_equal(px(&v, 13, 4)[0], 0);
    /* Mask partly outside on the left/top. */
    memset(v.pixels, 0, v.stride * 10);
    uint8_t m9[9] = {1, 0, 1, 0, 1, 0, 1, 0, 1};
    cvm_draw_mask(&v, m9, -1, -1, 3, 3, green);
    assert_int_equal(px(&v, 0, 0)[1], 255); /* mask (1,1) */
    assert_int_equal(px(&v, 1, 1)[1], 255); /* mask (2,2) */
    assert_int_equal(px(&v, 1, 0)[1], 0);   /* mask (2,1) = 0 */
    /* Filled circle: centre set, far corner not. */
    cvm_draw_circle(&v, 10, 5, 3, blue);
    assert_int_equal(px(&v, 10, 5)[2], 255);
    assert_int_equal(px(&v, 10, 7)[2], 255);
    assert_int_equal(px(&v, 10, 8)[2], 128); /* on the rim: half covered */
    assert_int_equal(px(&v, 14, 9)[2], 0);
    cvm_image_free(img);
}

static void test_draw_formats(void **st)
{
    (void)st;
    cvm_rgba c = {255, 0, 0, 255};
    cvm_image *img = NULL;
    cvm_image_view v;
    /* BGR stores red last. */
    assert_int_equal(cvm_image_create(4, 4, CVM_PIXEL_BGR8, &img), CVM_OK);
    cvm_image_get_view(img, &v);
    cvm_draw_fill_rect(&v, 0, 0, 3, 3, c);
    assert_int_equal(px(&v, 1, 1)[0], 0);
    assert_int_equal(px(&v, 1, 1)[2], 255);
    cvm_image_free(img);
    /* GRAY8: BT.601 luma of pure red, (255 * 4899 + 8192) >> 14 = 76. */
    assert_int_equal(cvm_image_create(4, 4, CVM_PIXEL_GRAY8, &img), CVM_OK);
    cvm_image_get_view(img, &v);
    cvm_draw_fill_rect(&v, 0, 0, 3, 3, c);
    assert_int_equal(px(&v, 2, 2)[0], 76);
    cvm_image_free(img);
    /* RGBA8, half-transparent white over transparent black: colour
     * round(255 * 128 / 255) = 128, alpha 128. */
    assert_int_equal(cvm_image_create(4, 4, CVM_PIXEL_RGBA8, &img), CVM_OK);
    cvm_image_get_view(img, &v);
    cvm_rgba half = {255, 255, 255, 128};
    cvm_draw_fill_rect(&v, 0, 0, 3, 3, half);
    assert_int_equal(px(&v, 1, 1)[0], 128);
    assert_int_equal(px(&v, 1, 1)[3], 128);
    cvm_image_free(img);
}

static void test_draw_text(void **st)
{
    (void)st;
    int w = 0, h = 0;
    cvm_rgba white = {255, 255, 255, 255};
    cvm_draw_text(NULL, 0, 0, 20, "person 0.87", white, &w, &h);
    assert_true(w > 40 && w < 200);
    assert_int_equal(h, 20);
    int w2 = 0;
    cvm_draw_text(NULL, 0, 0, 40, "person 0.87", white, &w2, NULL);
    assert_true(w2 > w * 3 / 2);
    cvm_image *img = NULL;
    assert_int_equal(cvm_image_create(200, 40, CVM_PIXEL_RGB8, &img), CVM_OK);
    cvm_image_view v;
    cvm_image_get_view(img, &v);
    cvm_draw_text(&v, 4, 4, 20, "person 0.87 \xc3\xa9\xff", white, &w, &h);
    long lit = 0;
    for (int y = 0; y < 40; y++)
        for (int x = 0; x < 200; x++)
            lit += px(&v, x, y)[0] > 0;
    assert_true(lit > 60);
    /* Nothing outside the text box. */
    for (int x = 0; x < 200; x++)
        assert_int_equal(px(&v, x, 39)[0], 0);
    cvm_draw_text(&v, -30, -10, 20, "clipped", white, NULL, NULL);
    cvm_draw_text(&v, 0, 0, 0, "", white, &w, &h);
    assert_int_equal(w, 0);
    cvm_image_free(img);
}

/* n pseudo-random bytes from seed. */
static void fill_noise(uint8_t *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (uint8_t)(seed >> 16);
    }
}

/* The horizontal pass by byte permutes (CPUs with AVX512_VBMI) gives the
 * bytes of the scalar pass: downscales by 1.2 (YOLO's 768 -> 640), by about
 * 3.3 and by 4.1 (chunks whose taps span more than 64 bytes take the scalar
 * loop), upscales (columns sharing a source pixel), widths that end in a
 * partial chunk and in the one-tap columns, 1, 3 and 4 channels, and a
 * source row ending right at its buffer's end. */
static void test_resize_hpass_forms(void **st)
{
    (void)st;
    static const int sizes[][4] = {{768, 576, 640, 480}, {1000, 20, 301, 9}, {1300, 8, 317, 5},
                                   {37, 11, 200, 19}, {640, 48, 213, 17}, {23, 5, 22, 5}};
    static const int chans[] = {3, 1, 4};
    static const cvm_pixel_format fmts[] = {CVM_PIXEL_RGB8, CVM_PIXEL_GRAY8, CVM_PIXEL_RGBA8};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++)
        for (int f = 0; f < 3; f++) {
            int sw = sizes[k][0], sh = sizes[k][1], dw = sizes[k][2], dh = sizes[k][3], cn = chans[f];
            size_t sstride = (size_t)sw * cn, dn = (size_t)dw * cn * dh;
            uint8_t *src = malloc(sstride * sh), *a = malloc(dn), *b = malloc(dn);
            assert_non_null(src);
            assert_non_null(a);
            assert_non_null(b);
            fill_noise(src, sstride * sh, (unsigned)(k * 13 + f));
            cvm_image_view sv = {sw, sh, sstride, fmts[f], cn, src};
            cvm_image_view av = {dw, dh, (size_t)dw * cn, fmts[f], cn, a}, bv = av;
            bv.pixels = b;
            assert_int_equal(cvm_resize_bilinear_cv(&sv, &av), CVM_OK);
            assert_int_equal(cvm_resize_bilinear_cv_plain_h(&sv, &bv), CVM_OK);
            for (size_t i = 0; i < dn; i++)
                if (a[i] != b[i])
                    fail_msg("%dx%d -> %dx%d, %d channels: byte %zu is %d, scalar pass %d", sw, sh, dw, dh,
                             cn, i, a[i], b[i]);
            free(src);
            free(a);
            free(b);
        }
}

/* The OpenCV resize with its rows shared among 2 and 3 threads gives the
 * bytes of the one-thread pass: down and up, odd sizes, 1, 3 and 4
 * channels, fewer rows than make two parts, and a padded destination. */
static void test_resize_pool(void **st)
{
    (void)st;
    static const int sizes[][4] = {{768, 576, 640, 480}, {301, 199, 97, 211}, {64, 40, 33, 20},
                                   {50, 300, 71, 95}, {17, 9, 40, 30}};
    static const int chans[] = {3, 1, 4};
    static const cvm_pixel_format fmts[] = {CVM_PIXEL_RGB8, CVM_PIXEL_GRAY8, CVM_PIXEL_RGBA8};
    for (int threads = 2; threads <= 3; threads++) {
        cvm_threadpool *pool;
        assert_int_equal(cvm_threadpool_create(threads, &pool), CVM_OK);
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++)
            for (int f = 0; f < 3; f++) {
                int sw = sizes[k][0], sh = sizes[k][1], dw = sizes[k][2], dh = sizes[k][3], cn = chans[f];
                size_t sstride = (size_t)sw * cn, dstride = (size_t)dw * cn + 7;
                uint8_t *src = malloc(sstride * sh), *a = malloc(dstride * dh), *b = malloc(dstride * dh);
                assert_non_null(src);
                assert_non_null(a);
                assert_non_null(b);
                fill_noise(src, sstride * sh, (unsigned)(k * 7 + f));
                memset(a, 0, dstride * dh);
                memset(b, 0, dstride * dh);
                cvm_image_view sv = {sw, sh, sstride, fmts[f], cn, src};
                cvm_image_view av = {dw, dh, dstride, fmts[f], cn, a}, bv = av;
                bv.pixels = b;
                assert_int_equal(cvm_resize_bilinear_cv(&sv, &av), CVM_OK);
                assert_int_equal(cvm_resize_bilinear_cv_pool(&sv, &bv, pool), CVM_OK);
                if (memcmp(a, b, dstride * dh) != 0)
                    fail_msg("%d threads, %dx%d -> %dx%d, %d channels: bytes differ", threads, sw, sh, dw, dh,
                             cn);
                free(src);
                free(a);
                free(b);
            }
        cvm_threadpool_free(pool);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shared_images),  cmocka_unit_test(test_fixture_pixels),
        cmocka_unit_test(test_format_conversion), cmocka_unit_test(test_exif_orientation),
        cmocka_unit_test(test_roundtrip),      cmocka_unit_test(test_wrap_stride),
        cmocka_unit_test(test_truncation),     cmocka_unit_test(test_bit_flips),
        cmocka_unit_test(test_huge_headers),   cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_fuzz_corpus),
        cmocka_unit_test(test_draw_clipping),  cmocka_unit_test(test_draw_formats),
        cmocka_unit_test(test_draw_text),      cmocka_unit_test(test_resize_pool),
        cmocka_unit_test(test_resize_hpass_forms),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    if (g_tmpdir[0]) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmpdir);
        if (system(cmd) != 0)
            r = r ? r : 0;
    }
    return r;
}
