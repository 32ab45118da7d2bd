/* Replays the weights-API fuzzer's corpus through the parser and the
 * negotiation in ordinary (and sanitizer) builds, and checks that what
 * survives negotiation is always safe to turn into cache paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "corpus_replay.h"
#include "hub/hub_internal.h"

typedef struct hub_counts {
    int parsed, usable;
} hub_counts;

static void replay_one(const unsigned char *buf, size_t n, void *arg)
{
    hub_counts *c = arg;
    hub_metadata md;
    memset(&md, 0, sizeof md);
    if (hub_parse_weights_page((const char *)buf, n, &md) == CVM_OK) {
        c->parsed++;
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
        c->usable += k > 0;
        free(order);
    }
    hub_metadata_free(&md);
}

static void test_replay(void **st)
{
    (void)st;
    hub_counts c = {0};
    int files = corpus_replay("weights_api", "CVM_HUB_FUZZ_CORPUS", replay_one, &c);
    if (files < 0) {
        print_message("corpus not found; skipped\n");
        skip();
    }
    print_message("%d corpus files, %d parsed, %d with a usable package\n", files, c.parsed, c.usable);
    assert_true(files > 0);
    assert_true(c.usable > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_replay)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
