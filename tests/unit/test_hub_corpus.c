/* Replays the weights-API fuzzer's corpus through the parser and the
 * negotiation in ordinary (and sanitizer) builds, and checks that what
 * survives negotiation is always safe to turn into cache paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub/hub_internal.h"

static void corpus_dir(char *out, size_t cap)
{
    const char *env = getenv("CVM_HUB_FUZZ_CORPUS");
    if (env) {
        snprintf(out, cap, "%s", env);
        return;
    }
    snprintf(out, cap, "%s", __FILE__);
    char *p = strstr(out, "tests/unit/");
    if (p)
        snprintf(p, cap - (size_t)(p - out), "fuzz/corpus/weights_api");
}

static void test_replay(void **st)
{
    (void)st;
    char dir[4096];
    corpus_dir(dir, sizeof dir);
    DIR *d = opendir(dir);
    if (!d) {
        print_message("corpus %s not found; skipped\n", dir);
        skip();
    }
    struct dirent *e;
    int files = 0, parsed = 0, usable = 0;
    static char buf[1 << 20];
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        if (!f)
            continue;
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        files++;
        hub_metadata md;
        memset(&md, 0, sizeof md);
        if (hub_parse_weights_page(buf, n, &md) == CVM_OK) {
            parsed++;
            size_t *order = calloc(md.n_pkgs ? md.n_pkgs : 1, sizeof *order);
            size_t k = 0;
            assert_non_null(order);
            assert_int_equal(hub_negotiate(&md, order, &k, NULL), CVM_OK);
            for (size_t i = 0; i < k; i++) {
                const hub_package *p = &md.pkgs[order[i]];
                assert_null(hub_check_package_id(p->package_id));
                assert_string_equal(p->backend, "onnx");
                for (size_t j = 0; j < p->n_files; j++) {
                    assert_null(hub_check_file_handle(p->files[j].handle));
                    assert_int_equal(strlen(p->files[j].md5), 32);
                }
            }
            usable += k > 0;
            free(order);
        }
        hub_metadata_free(&md);
    }
    closedir(d);
    print_message("%d corpus files, %d parsed, %d with a usable package\n", files, parsed, usable);
    assert_true(files > 0);
    assert_true(usable > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_replay)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
