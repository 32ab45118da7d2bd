/* Replays the fuzzer's corpus through the loader in the ordinary (and the
 * sanitizer) build, so that every input the fuzzer ever kept stays a
 * regression test without needing libFuzzer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/graph.h"
#include "onnx/onnx_loader.h"

static void corpus_dir(char *out, size_t cap)
{
    const char *env = getenv("CVM_FUZZ_CORPUS");
    if (env) {
        snprintf(out, cap, "%s", env);
        return;
    }
    /* tests/unit/this_file.c -> fuzz/corpus/onnx_loader */
    snprintf(out, cap, "%s", __FILE__);
    char *p = strstr(out, "tests/unit/");
    if (p)
        snprintf(p, cap - (size_t)(p - out), "fuzz/corpus/onnx_loader");
}

static void test_replay_corpus(void **st)
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
    int files = 0, loaded = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        if (!f)
            continue;
        static unsigned char buf[1 << 20];
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        cvm_graph *g = NULL;
        cvm_status s = cvm_onnx_load_memory(buf, n, NULL, &g);
        if (s == CVM_OK) {
            assert_non_null(g);
            loaded++;
        } else {
            assert_null(g);
            assert_true(cvm_last_error()[0] != '\0'); /* every refusal says why */
        }
        cvm_graph_free(g);
        cvm_tensor *t = NULL;
        if (cvm_onnx_parse_tensor(buf, n, NULL, &t, NULL) == CVM_OK)
            cvm_tensor_free(t);
        files++;
    }
    closedir(d);
    print_message("replayed %d corpus files (%d load as models)\n", files, loaded);
    assert_true(files > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_replay_corpus)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
