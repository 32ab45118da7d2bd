/* CLAHE ("Adaptive Equalization" contrast) against scikit-image outputs
 * made by tests/vision/gen_clahe_fixtures.py on synthetic images. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/status.h"
#include "cvm/image.h"
#include "vision/clahe.h"

static const char *const CASES[] = {"grad-64x48", "blocks-97x131", "mixed-333x251", "gray-120x90",
                                    "flat-40x30", "const-16x16",   "tiny-7x5"};

static void fixture_path(char *buf, size_t n, const char *name, const char *suffix)
{
    const char *src = getenv("CVM_SOURCE_DIR");
    if (src) {
        snprintf(buf, n, "%s/tests/data/clahe/%s%s", src, name, suffix);
        return;
    }
    /* Next to this file: <repo>/tests/unit/test_clahe.c -> <repo>/tests/data/clahe. */
    const char *here = __FILE__;
    const char *slash = strrchr(here, '/');
    int dir = slash ? (int)(slash - here) : 1;
    snprintf(buf, n, "%.*s/../data/clahe/%s%s", dir, slash ? here : ".", name, suffix);
}

static cvm_image *load(const char *name, const char *suffix)
{
    char path[4096];
    fixture_path(path, sizeof path, name, suffix);
    cvm_image *img = NULL;
    if (cvm_image_read(path, NULL, &img) != CVM_OK)
        fail_msg("cannot read %s: %s", path, cvm_last_error());
    return img;
}

static void test_matches_skimage(void **st)
{
    (void)st;
    static const int order[3] = {0, 1, 2};
    for (size_t c = 0; c < sizeof CASES / sizeof CASES[0]; c++) {
        cvm_image *in = load(CASES[c], ".in.png"), *want = load(CASES[c], ".out.png");
        cvm_image_view a, b;
        assert_int_equal(cvm_image_get_view(in, &a), CVM_OK);
        assert_int_equal(cvm_image_get_view(want, &b), CVM_OK);
        assert_int_equal(a.width, b.width);
        assert_int_equal(a.height, b.height);
        assert_int_equal(a.channels, 3);
        size_t row = (size_t)a.width * 3;
        uint8_t *px = malloc(row * a.height);
        assert_non_null(px);
        for (int y = 0; y < a.height; y++)
            memcpy(px + row * y, a.pixels + a.stride * y, row);
        assert_int_equal(cvm_clahe_u8(px, a.width, a.height, order, 0.03), CVM_OK);
        size_t differ = 0;
        int worst = 0;
        for (int y = 0; y < a.height; y++)
            for (size_t x = 0; x < row; x++) {
                int d = abs((int)px[row * y + x] - (int)b.pixels[b.stride * y + x]);
                differ += d != 0;
                worst = d > worst ? d : worst;
            }
        if (differ)
            print_message("%s: %zu of %zu bytes differ, max %d\n", CASES[c], differ, row * a.height, worst);
        assert_int_equal(differ, 0);
        free(px);
        cvm_image_free(in);
        cvm_image_free(want);
    }
}

static void test_rejects_bad_arguments(void **st)
{
    (void)st;
    uint8_t px[12] = {0};
    static const int order[3] = {0, 1, 2}, bad[3] = {0, 1, 3};
    assert_int_equal(cvm_clahe_u8(px, 0, 2, order, 0.03), CVM_E_INVALID_ARG);
    assert_int_equal(cvm_clahe_u8(NULL, 2, 2, order, 0.03), CVM_E_INVALID_ARG);
    assert_int_equal(cvm_clahe_u8(px, 2, 2, bad, 0.03), CVM_E_INVALID_ARG);
    /* A single pixel: one tile, no neighbours, mirror padding of length 1. */
    px[0] = 10;
    px[1] = 20;
    px[2] = 30;
    assert_int_equal(cvm_clahe_u8(px, 1, 1, order, 0.03), CVM_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_skimage),
        cmocka_unit_test(test_rejects_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
