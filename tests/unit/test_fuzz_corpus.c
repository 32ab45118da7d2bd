/* Replays the fuzzer's corpus through the loader in the ordinary (and the
 * sanitizer) build, so that every input the fuzzer ever kept stays a
 * regression test without needing libFuzzer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "corpus_replay.h"
#include "graph/graph.h"
#include "onnx/onnx_loader.h"

typedef struct loader_counts {
    int loaded;
} loader_counts;

static void replay_one(const unsigned char *buf, size_t n, void *arg)
{
    loader_counts *c = arg;
    cvm_graph *g = NULL;
    cvm_status s = cvm_onnx_load_memory(buf, n, NULL, &g);
    if (s == CVM_OK) {
        assert_non_null(g);
        c->loaded++;
    } else {
        assert_null(g);
        assert_true(cvm_last_error()[0] != '\0'); /* every refusal says why */
    }
    cvm_graph_free(g);
    cvm_tensor *t = NULL;
    if (cvm_onnx_parse_tensor(buf, n, NULL, &t, NULL) == CVM_OK)
        cvm_tensor_free(t);
}

static void test_replay_corpus(void **st)
{
    (void)st;
    loader_counts c = {0};
    int files = corpus_replay("onnx_loader", "CVM_FUZZ_CORPUS", replay_one, &c);
    if (files < 0) {
        print_message("corpus not found; skipped\n");
        skip();
    }
    print_message("replayed %d corpus files (%d load as models)\n", files, c.loaded);
    assert_true(files > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_replay_corpus)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
