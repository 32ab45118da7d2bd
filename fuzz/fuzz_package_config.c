/* libFuzzer target: the package parsers (model_config.json,
 * inference_config.json, class_names.txt, keypoints_metadata.json).  The
 * first byte picks the parser (its value mod 4, so the seeds can start with
 * an ASCII digit 0..3) and the rest is the file.  Each input is parsed twice
 * into the same package, as a package assembled in memory may be, so that
 * replacing fields already set is exercised too. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "models/package.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static cvm_status parse(int which, const char *text, size_t len, cvm_package *p)
{
    switch (which) {
    case 0: return cvm_package_parse_model_config(text, len, "model_config.json", p);
    case 1: return cvm_package_parse_inference_config(text, len, "inference_config.json", p);
    case 2: return cvm_package_parse_class_names(text, len, "class_names.txt", p);
    default: return cvm_package_parse_keypoints(text, len, "keypoints_metadata.json", p);
    }
}

/* What the rest of the library relies on after a successful parse. */
static void check(const cvm_package *p)
{
    for (size_t i = 0; i < p->n_classes; i++)
        if (!p->class_names[i] || !p->class_names[i][0])
            abort();
    for (size_t i = 0; i < p->n_removed; i++)
        if (!p->removed_classes[i])
            abort();
    for (size_t k = 0; k < p->n_kp; k++) {
        const cvm_kp_class *c = &p->kp[k];
        for (size_t i = 0; i < c->n; i++)
            if (!c->names[i])
                abort();
        for (size_t e = 0; e < c->n_edges; e++)
            if (c->edges[e][0] < 0 || (size_t)c->edges[e][0] >= c->n || c->edges[e][1] < 0 ||
                (size_t)c->edges[e][1] >= c->n)
                abort();
    }
    if (p->has_inference_config && (p->pre.width <= 0 || p->pre.height <= 0))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    int which = data[0] % 4;
    /* A copy of exactly the file's bytes, so that any read past the end is
     * caught (the parsers must not rely on a terminating NUL). */
    size_t len = size - 1;
    char *text = malloc(len ? len : 1);
    if (!text)
        return 0;
    for (size_t i = 0; i < len; i++)
        text[i] = (char)data[i + 1];
    cvm_package *p = calloc(1, sizeof *p);
    if (p) {
        if (parse(which, text, len, p) == CVM_OK) {
            check(p);
            if (parse(which, text, len, p) != CVM_OK)
                abort(); /* the same bytes cannot be accepted once and refused later */
            check(p);
        } else if (!cvm_last_error()[0]) {
            abort(); /* every refusal says why */
        }
        cvm_package_free(p);
    }
    free(text);
    return 0;
}
