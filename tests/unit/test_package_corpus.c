/* Replays the package parsers' fuzz corpus (fuzz/corpus/package_config) in
 * the ordinary and the sanitizer build, so that every input the fuzzer kept
 * stays a regression test without libFuzzer, plus the cases the fuzzer
 * found. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "corpus_replay.h"
#include "models/package.h"

/* Same framing as fuzz/fuzz_package_config.c: the first byte mod 4 picks
 * the parser, the rest is the file. */
static cvm_status parse(int which, const char *text, size_t len, cvm_package *p)
{
    switch (which) {
    case 0: return cvm_package_parse_model_config(text, len, "model_config.json", p);
    case 1: return cvm_package_parse_inference_config(text, len, "inference_config.json", p);
    case 2: return cvm_package_parse_class_names(text, len, "class_names.txt", p);
    default: return cvm_package_parse_keypoints(text, len, "keypoints_metadata.json", p);
    }
}

typedef struct package_counts {
    int accepted, kinds[4];
} package_counts;

static void replay_one(const unsigned char *buf, size_t n, void *arg)
{
    package_counts *c = arg;
    if (n == 0)
        return;
    int which = buf[0] % 4;
    /* An exact-size copy so that the sanitizer build sees any read past
     * the end of the file. */
    size_t len = n - 1;
    char *text = malloc(len ? len : 1);
    assert_non_null(text);
    memcpy(text, buf + 1, len);
    cvm_package *p = calloc(1, sizeof *p);
    assert_non_null(p);
    cvm_status s = parse(which, text, len, p);
    if (s == CVM_OK) {
        /* Accepted once, accepted again into the same package. */
        assert_int_equal(parse(which, text, len, p), CVM_OK);
        c->accepted++;
        c->kinds[which]++;
    } else {
        assert_true(cvm_last_error()[0] != '\0'); /* every refusal says why */
    }
    cvm_package_free(p);
    free(text);
}

static void test_replay_corpus(void **st)
{
    (void)st;
    package_counts c = {0};
    int files = corpus_replay("package_config", "CVM_PACKAGE_CORPUS", replay_one, &c);
    if (files < 0) {
        print_message("corpus not found; skipped\n");
        skip();
    }
    print_message("replayed %d corpus files (%d accepted: %d model, %d inference, %d class, %d keypoint)\n", files,
                  c.accepted, c.kinds[0], c.kinds[1], c.kinds[2], c.kinds[3]);
    assert_true(files > 0);
    /* The seeds are real package files: each parser must accept some. */
    for (int k = 0; k < 4; k++)
        assert_true(c.kinds[k] > 0);
}

/* Found by the fuzzer: re-reading an inference_config.json into a package
 * that already held class removals leaked the earlier list (LeakSanitizer
 * reports it in the sanitizer build); the new list must replace the old. */
static void test_class_removals_replaced(void **st)
{
    (void)st;
    static const char a[] = "{\"network_input\":{\"training_input_size\":{\"width\":32,\"height\":32},"
                            "\"resize_mode\":\"stretch\"},\"class_names_operations\":["
                            "{\"type\":\"class_name_removal\",\"class_name\":\"a\"},"
                            "{\"type\":\"class_name_removal\",\"class_name\":\"b\"}]}";
    static const char b[] = "{\"network_input\":{\"training_input_size\":{\"width\":32,\"height\":32},"
                            "\"resize_mode\":\"stretch\"},\"class_names_operations\":["
                            "{\"type\":\"class_name_removal\",\"class_name\":\"c\"}]}";
    cvm_package *p = calloc(1, sizeof *p);
    assert_non_null(p);
    assert_int_equal(cvm_package_parse_inference_config(a, sizeof a - 1, "a.json", p), CVM_OK);
    assert_int_equal(p->n_removed, 2);
    assert_int_equal(cvm_package_parse_inference_config(b, sizeof b - 1, "b.json", p), CVM_OK);
    assert_int_equal(p->n_removed, 1);
    assert_string_equal(p->removed_classes[0], "c");
    cvm_package_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replay_corpus),
        cmocka_unit_test(test_class_removals_replaced),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
