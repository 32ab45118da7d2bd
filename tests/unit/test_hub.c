/* Hub pieces that need no network: cache naming, checks on server-supplied
 * names, the weights API parser, negotiation and ranking, offline errors.
 * Expected slugs and quoted URLs were computed with Python's hashlib and
 * urllib (the library inference-models itself uses). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hub/hub_internal.h"

static void check_slug(const char *id, const char *want)
{
    char *s = NULL;
    assert_int_equal(hub_model_slug(id, &s), CVM_OK);
    assert_string_equal(s, want);
    free(s);
}

static void test_slug(void **st)
{
    (void)st;
    check_slug("rfdetr-base", "v2-rfdetr-base-9144380ec328d468cb3e3a1efed52116");
    check_slug("my-project/2", "v2-my-project-2-07c015e8e7fb44845af4a6c9294e7c9f");
    /* > 64 bytes: several BLAKE2s blocks; runs collapse; prefix cut at 48. */
    check_slug("a very long workspace name__with--runs/and.dots/project-name-that-goes-on-and-on/123",
               "v2-a-very-long-workspace-name-with-runs-and-dots-pr-eb597a3c4eca2dbfd5df466c5986d9b8");
    /* Exactly one block. */
    check_slug("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
               "v2-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx-e1d5fb352cad2589b30d4f38821b1608");
}

static void test_file_handles(void **st)
{
    (void)st;
    const char *ok[] = {"weights.onnx", "vit/config.json", "class_names.txt", "a.b.c", "console.txt"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        assert_null(hub_check_file_handle(ok[i]));
    const char *bad[] = {"",          "../x",        "/etc/passwd", "a/../../b",         "a//b",   "./a",
                         "CON",       "con.txt",     "sub/COM1",    "model_config.json", "x.lock", "a\\b",
                         "c:/x",      "a/\x01",      "..",          "model_dependencies/x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (!hub_check_file_handle(bad[i]))
            fail_msg("accepted hostile handle '%s'", bad[i]);
    }
    char longh[600];
    memset(longh, 'a', sizeof longh - 1);
    longh[sizeof longh - 1] = '\0';
    assert_non_null(hub_check_file_handle(longh));
}

static void test_ids(void **st)
{
    (void)st;
    assert_null(hub_check_package_id("d9e17d96240d37f366490718373a0555"));
    assert_non_null(hub_check_package_id("../x"));
    assert_non_null(hub_check_package_id("a-b"));
    assert_non_null(hub_check_package_id("LPT1"));
    assert_non_null(hub_check_package_id(""));
    assert_null(hub_check_model_id("workspace/project/3"));
    assert_null(hub_check_model_id("rfdetr-base"));
    assert_non_null(hub_check_model_id("../etc"));
    assert_non_null(hub_check_model_id("/abs"));
    assert_non_null(hub_check_model_id("a/../../b"));
    assert_non_null(hub_check_model_id("a b"));
    char md5[33] = "D41D8CD98F00B204E9800998ECF8427E";
    assert_true(hub_normalize_md5(md5));
    assert_string_equal(md5, "d41d8cd98f00b204e9800998ecf8427e");
    char bad[33] = "z41d8cd98f00b204e9800998ecf8427e";
    assert_false(hub_normalize_md5(bad));
}

#define MD5A "0123456789abcdef0123456789abcdef"

static const char *response =
    "{\"modelMetadata\": {\"type\": \"external-model-metadata-v1\", \"modelId\": \"coco/3\","
    " \"modelArchitecture\": \"yolov8\", \"taskType\": \"object-detection\", \"nextPage\": null,"
    " \"modelPackages\": ["
    /* 0: TRT, ranks above ONNX upstream but cannot run here */
    "{\"packageId\": \"trt1\", \"trustedSource\": true, \"packageManifest\": {\"type\": \"trt-model-package-v1\","
    "  \"backendType\": \"trt\", \"dynamicBatchSize\": false, \"staticBatchSize\": 1, \"quantization\": \"fp16\"},"
    "  \"packageFiles\": [{\"fileHandle\": \"engine.plan\", \"downloadUrl\": \"https://h/e\", \"md5Hash\": \"" MD5A "\"}]},"
    /* 1: ONNX static batch 1, opset 17 */
    "{\"packageId\": \"onnxstatic\", \"trustedSource\": true, \"packageManifest\": {\"type\": \"onnx-model-package-v1\","
    "  \"backendType\": \"onnx\", \"dynamicBatchSize\": false, \"staticBatchSize\": 1, \"quantization\": \"fp32\","
    "  \"opset\": 17}, \"packageFiles\": [{\"fileHandle\": \"weights.onnx\", \"downloadUrl\": \"https://h/w\","
    "  \"md5Hash\": \"" MD5A "\"}]},"
    /* 2: ONNX dynamic batch, opset 12: dynamic beats static */
    "{\"packageId\": \"onnxdyn\", \"trustedSource\": true, \"packageManifest\": {\"type\": \"onnx-model-package-v1\","
    "  \"backendType\": \"onnx\", \"dynamicBatchSize\": true, \"quantization\": \"fp32\", \"opset\": 12},"
    "  \"packageFiles\": [{\"fileHandle\": \"weights.onnx\", \"downloadUrl\": \"https://h/w\", \"md5Hash\": \"" MD5A "\"},"
    "  {\"fileHandle\": \"class_names.txt\", \"downloadUrl\": \"http://h/c\", \"md5Hash\": \"" MD5A "\"}]},"
    /* 3: fp16 ONNX: not in the CPU default set */
    "{\"packageId\": \"onnxfp16\", \"trustedSource\": true, \"packageManifest\": {\"type\": \"onnx-model-package-v1\","
    "  \"backendType\": \"onnx\", \"dynamicBatchSize\": true, \"quantization\": \"fp16\"},"
    "  \"packageFiles\": [{\"fileHandle\": \"weights.onnx\", \"downloadUrl\": \"https://h/w\", \"md5Hash\": \"" MD5A "\"}]},"
    /* 4: hostile handle */
    "{\"packageId\": \"evil\", \"trustedSource\": true, \"packageManifest\": {\"type\": \"onnx-model-package-v1\","
    "  \"backendType\": \"onnx\", \"dynamicBatchSize\": true, \"quantization\": \"fp32\"},"
    "  \"packageFiles\": [{\"fileHandle\": \"../../.bashrc\", \"downloadUrl\": \"https://h/w\", \"md5Hash\": \"" MD5A "\"}]},"
    /* 5: untrusted (trustedSource missing) */
    "{\"packageId\": \"untrusted\", \"packageManifest\": {\"type\": \"onnx-model-package-v1\","
    "  \"backendType\": \"onnx\", \"dynamicBatchSize\": true, \"quantization\": \"fp32\"},"
    "  \"packageFiles\": [{\"fileHandle\": \"weights.onnx\", \"downloadUrl\": \"https://h/w\", \"md5Hash\": \"" MD5A "\"}]},"
    /* 6: torch */
    "{\"packageId\": \"torch1\", \"trustedSource\": true, \"packageManifest\": {\"type\": \"torch-model-package-v1\","
    "  \"backendType\": \"torch\", \"dynamicBatchSize\": true, \"quantization\": \"fp32\"},"
    "  \"packageFiles\": [{\"fileHandle\": \"weights.pth\", \"downloadUrl\": \"https://h/w\", \"md5Hash\": \"" MD5A "\"}]},"
    /* 7: fused NMS */
    "{\"packageId\": \"fused\", \"trustedSource\": true, \"modelFeatures\": {\"nms_fused\": {\"max_detections\": 300}},"
    "  \"packageManifest\": {\"type\": \"onnx-model-package-v1\", \"backendType\": \"onnx\", \"dynamicBatchSize\": true,"
    "  \"quantization\": \"fp32\"}, \"packageFiles\": [{\"fileHandle\": \"weights.onnx\", \"downloadUrl\": "
    "  \"https://h/w\", \"md5Hash\": \"" MD5A "\"}]},"
    /* 8: no md5 */
    "{\"packageId\": \"nohash\", \"trustedSource\": true, \"packageManifest\": {\"type\": \"onnx-model-package-v1\","
    "  \"backendType\": \"onnx\", \"dynamicBatchSize\": true, \"quantization\": \"fp32\"},"
    "  \"packageFiles\": [{\"fileHandle\": \"weights.onnx\", \"downloadUrl\": \"https://h/w\"}]},"
    /* 9: bad package id */
    "{\"packageId\": \"../../x\", \"trustedSource\": true, \"packageManifest\": {\"type\": \"onnx-model-package-v1\","
    "  \"backendType\": \"onnx\", \"dynamicBatchSize\": true, \"quantization\": \"fp32\"},"
    "  \"packageFiles\": [{\"fileHandle\": \"weights.onnx\", \"downloadUrl\": \"file:///etc/passwd\", \"md5Hash\": \"" MD5A "\"}]}"
    "]}}";

static const hub_package *find_pkg(const hub_metadata *md, const char *id)
{
    for (size_t i = 0; i < md->n_pkgs; i++)
        if (strcmp(md->pkgs[i].package_id, id) == 0)
            return &md->pkgs[i];
    fail_msg("package %s not parsed", id);
    return NULL;
}

static void test_parse_and_negotiate(void **st)
{
    (void)st;
    hub_metadata md;
    memset(&md, 0, sizeof md);
    assert_int_equal(hub_parse_weights_page(response, strlen(response), &md), CVM_OK);
    assert_int_equal(md.n_pkgs, 10);
    assert_string_equal(md.model_id, "coco/3");
    assert_string_equal(md.architecture, "yolov8");
    assert_null(md.next_page);
    assert_non_null(find_pkg(&md, "evil")->invalid);
    assert_null(find_pkg(&md, "onnxdyn")->invalid);
    assert_int_equal(find_pkg(&md, "onnxdyn")->n_files, 2);
    assert_int_equal(find_pkg(&md, "onnxstatic")->opset, 17);

    size_t order[10], n = 0;
    hub_buf rep;
    hub_buf_init(&rep);
    assert_int_equal(hub_negotiate(&md, order, &n, &rep), CVM_OK);
    assert_int_equal(n, 2);
    assert_string_equal(md.pkgs[order[0]].package_id, "onnxdyn");
    assert_string_equal(md.pkgs[order[1]].package_id, "onnxstatic");
    assert_non_null(strstr(find_pkg(&md, "trt1")->skip, "TensorRT"));
    assert_non_null(strstr(find_pkg(&md, "torch1")->skip, "PyTorch"));
    assert_non_null(strstr(find_pkg(&md, "onnxfp16")->skip, "fp16"));
    assert_non_null(strstr(find_pkg(&md, "evil")->skip, "unsafe file handle"));
    assert_non_null(strstr(find_pkg(&md, "untrusted")->skip, "trusted"));
    assert_non_null(strstr(find_pkg(&md, "fused")->skip, "NMS"));
    assert_non_null(strstr(find_pkg(&md, "nohash")->skip, "md5Hash"));
    /* The report names every package with its fate. */
    assert_non_null(strstr(rep.data, "candidate 1: onnxdyn"));
    assert_non_null(strstr(rep.data, "skipped trt1"));
    assert_non_null(strstr(rep.data, "skipped evil"));
    hub_buf_free(&rep);
    hub_metadata_free(&md);
}

static const char *one_pkg(char *buf, size_t cap, const char *id, const char *quant, int dyn, int sb, int opset)
{
    snprintf(buf, cap,
             "{\"packageId\": \"%s\", \"trustedSource\": true, \"packageManifest\": {\"type\": "
             "\"onnx-model-package-v1\", \"backendType\": \"onnx\", \"dynamicBatchSize\": %s, %s%s%s "
             "\"quantization\": \"%s\", \"opset\": %d}, \"packageFiles\": [{\"fileHandle\": \"weights.onnx\", "
             "\"downloadUrl\": \"https://h/w\", \"md5Hash\": \"" MD5A "\"}]}",
             id, dyn ? "true" : "false", dyn ? "" : "\"staticBatchSize\": ", dyn ? "" : (sb == 1 ? "1" : "4"),
             dyn ? "" : ",", quant, opset);
    return buf;
}

static void test_ranking(void **st)
{
    (void)st;
    char a[1024], b[1024], c[1024], d[1024], e[1024];
    char body[8192];
    /* Expected order by inference-models' tuple: quantization fp32 > unknown >
     * bf16; then dynamic > static; smaller static batch; higher opset. */
    snprintf(body, sizeof body, "{\"modelMetadata\": {\"modelId\": \"m/1\", \"modelPackages\": [%s,%s,%s,%s,%s]}}",
             one_pkg(a, sizeof a, "bf", "bf16", 1, 0, 17), one_pkg(b, sizeof b, "st4", "fp32", 0, 4, 17),
             one_pkg(c, sizeof c, "st1", "fp32", 0, 1, 17), one_pkg(d, sizeof d, "dyn12", "fp32", 1, 0, 12),
             one_pkg(e, sizeof e, "unk", "unknown", 1, 0, 19));
    hub_metadata md;
    memset(&md, 0, sizeof md);
    assert_int_equal(hub_parse_weights_page(body, strlen(body), &md), CVM_OK);
    size_t order[5], n = 0;
    assert_int_equal(hub_negotiate(&md, order, &n, NULL), CVM_OK);
    assert_int_equal(n, 5);
    const char *want[] = {"dyn12", "st1", "st4", "unk", "bf"};
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(md.pkgs[order[i]].package_id, want[i]);
    hub_metadata_free(&md);
}

static void test_parse_errors(void **st)
{
    (void)st;
    const char *bad[] = {
        "not json",
        "{}",
        "{\"modelMetadata\": 3}",
        "{\"modelMetadata\": {\"modelPackages\": {}}}",
        "{\"modelMetadata\": {\"modelId\": 7}}",
        "{\"modelMetadata\": {\"modelId\": \"../../etc\"}}",
        "{\"modelMetadata\": {\"modelId\": \"a\\u0000b\", \"modelPackages\": []}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hub_metadata md;
        memset(&md, 0, sizeof md);
        if (hub_parse_weights_page(bad[i], strlen(bad[i]), &md) == CVM_OK)
            fail_msg("accepted: %s", bad[i]);
        hub_metadata_free(&md);
    }
    /* Oversized listing. */
    hub_buf b;
    hub_buf_init(&b);
    hub_buf_printf(&b, "{\"modelMetadata\": {\"modelPackages\": [");
    for (int i = 0; i < HUB_MAX_PACKAGES + 1; i++)
        hub_buf_printf(&b, "%s{}", i ? "," : "");
    hub_buf_printf(&b, "]}}");
    hub_metadata md;
    memset(&md, 0, sizeof md);
    assert_int_equal(hub_parse_weights_page(b.data, b.len, &md), CVM_E_LIMIT);
    hub_metadata_free(&md);
    hub_buf_free(&b);
    /* Pagination keeps earlier packages and follows the cursor. */
    char p1[2048], p2[2048], x[1024];
    snprintf(p1, sizeof p1, "{\"modelMetadata\": {\"modelId\": \"m/1\", \"nextPage\": \"abc\", \"modelPackages\": [%s]}}",
             one_pkg(x, sizeof x, "first", "fp32", 1, 0, 17));
    memset(&md, 0, sizeof md);
    assert_int_equal(hub_parse_weights_page(p1, strlen(p1), &md), CVM_OK);
    assert_string_equal(md.next_page, "abc");
    snprintf(p2, sizeof p2, "{\"modelMetadata\": {\"modelId\": \"m/1\", \"modelPackages\": [%s]}}",
             one_pkg(x, sizeof x, "second", "fp32", 1, 0, 17));
    assert_int_equal(hub_parse_weights_page(p2, strlen(p2), &md), CVM_OK);
    assert_null(md.next_page);
    assert_int_equal(md.n_pkgs, 2);
    hub_metadata_free(&md);
}

static void test_gateway_url(void **st)
{
    (void)st;
    hub_net net;
    hub_net_defaults(&net);
    net.gateway = "gw.local:8000/";
    char *u = NULL;
    assert_int_equal(hub_wrap_url(&net, "https://storage.example.com/a b/weights.onnx?sig=x+y&e=1", &u), CVM_OK);
    assert_string_equal(u, "http://gw.local:8000/proxy?url="
                           "https%3A%2F%2Fstorage.example.com%2Fa%20b%2Fweights.onnx%3Fsig%3Dx%2By%26e%3D1");
    free(u);
    net.gateway = NULL;
    assert_int_equal(hub_wrap_url(&net, "https://x/y", &u), CVM_OK);
    assert_string_equal(u, "https://x/y");
    free(u);
}

static void test_offline_missing(void **st)
{
    (void)st;
    char dir[] = "/tmp/cvm-hub-test-XXXXXX";
    assert_non_null(mkdtemp(dir));
    cvm_hub_request r;
    memset(&r, 0, sizeof r);
    r.model_id = "someone/project/4";
    r.cache_dir = dir;
    r.offline = 1;
    char *pkg = NULL, *rep = NULL;
    assert_int_equal(cvm_hub_resolve(&r, &pkg, &rep), CVM_E_NOT_FOUND);
    assert_null(pkg);
    assert_non_null(strstr(cvm_last_error(), "offline"));
    assert_non_null(strstr(cvm_last_error(), "someone/project/4"));
    assert_non_null(rep);
    free(rep);
    r.model_id = "../../etc/passwd";
    assert_int_equal(cvm_hub_resolve(&r, &pkg, NULL), CVM_E_INVALID_ARG);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slug),          cmocka_unit_test(test_file_handles),
        cmocka_unit_test(test_ids),           cmocka_unit_test(test_parse_and_negotiate),
        cmocka_unit_test(test_ranking),       cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_gateway_url),   cmocka_unit_test(test_offline_missing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
