#include "base/str.h"
#include "vision/result.h"

#include <stdlib.h>
#include <string.h>

#include "base/status.h"

cvm_status cvm_result_new(cvm_task task, const char *const *names, size_t n_names, const cvm_package *pkg,
                          cvm_result_priv **out)
{
    *out = NULL;
    cvm_result_priv *r = calloc(1, sizeof *r);
    if (!r)
        return cvm_errorf(CVM_E_NOMEM, "result: out of memory");
    r->pub.task = task;
    r->pub.top_class = -1;
    if (n_names) {
        r->names = calloc(n_names, sizeof *r->names);
        if (!r->names)
            goto oom;
        r->n_names = n_names;
        for (size_t i = 0; i < n_names; i++)
            if (names[i] && !(r->names[i] = cvm_strdup(names[i])))
                goto oom;
    }
    if (pkg && pkg->n_kp) {
        /* Skeletons and keypoint names, indexed by class id. */
        size_t n_cls = 0, total_e = 0, total_k = 0;
        for (size_t k = 0; k < pkg->n_kp; k++) {
            if (pkg->kp[k].class_id >= 0 && (size_t)pkg->kp[k].class_id + 1 > n_cls)
                n_cls = (size_t)pkg->kp[k].class_id + 1;
            total_e += pkg->kp[k].n_edges;
            total_k += pkg->kp[k].n;
        }
        if (n_cls > 1u << 20)
            n_cls = 1u << 20;
        r->n_skel = n_cls;
        r->skel_off = calloc(n_cls ? n_cls : 1, 2 * sizeof(size_t) + sizeof(size_t));
        r->skel_n = calloc(n_cls ? n_cls : 1, 2 * sizeof(size_t));
        r->edges = calloc(total_e ? total_e : 1, sizeof *r->edges);
        r->kp_names = calloc(total_k + 1, sizeof *r->kp_names);
        if (!r->skel_off || !r->skel_n || !r->edges || !r->kp_names)
            goto oom;
        /* skel_off[c] / skel_n[c]: edges; skel_off[n_cls + c] / skel_n[n_cls + c]: names. */
        size_t *koff = r->skel_off + n_cls, *kn = r->skel_n + n_cls;
        size_t e = 0, kk = 0;
        for (size_t k = 0; k < pkg->n_kp; k++) {
            const cvm_kp_class *c = &pkg->kp[k];
            if (c->class_id < 0 || (size_t)c->class_id >= n_cls)
                continue;
            r->skel_off[c->class_id] = e;
            r->skel_n[c->class_id] = c->n_edges;
            memcpy(r->edges + e, c->edges, c->n_edges * sizeof *r->edges);
            e += c->n_edges;
            koff[c->class_id] = kk;
            kn[c->class_id] = c->n;
            for (size_t j = 0; j < c->n; j++)
                if (!(r->kp_names[kk++] = cvm_strdup(c->names[j])))
                    goto oom;
        }
    }
    *out = r;
    return CVM_OK;
oom:
    cvm_result_free(&r->pub);
    return cvm_errorf(CVM_E_NOMEM, "result: out of memory");
}

void cvm_result_edges(const cvm_result *pub, int class_id, const int (**edges)[2], size_t *n)
{
    const cvm_result_priv *r = (const cvm_result_priv *)pub;
    *edges = NULL;
    *n = 0;
    if (class_id < 0 || (size_t)class_id >= r->n_skel)
        return;
    *edges = (const int(*)[2])(r->edges + r->skel_off[class_id]);
    *n = r->skel_n[class_id];
}

const char *const *cvm_result_kp_names(const cvm_result *pub, int class_id, size_t *n)
{
    const cvm_result_priv *r = (const cvm_result_priv *)pub;
    *n = 0;
    if (class_id < 0 || (size_t)class_id >= r->n_skel)
        return NULL;
    *n = r->skel_n[r->n_skel + class_id];
    return (const char *const *)(r->kp_names + r->skel_off[r->n_skel + class_id]);
}

void cvm_result_free(cvm_result *pub)
{
    if (!pub)
        return;
    cvm_result_priv *r = (cvm_result_priv *)pub;
    for (size_t i = 0; i < pub->n; i++) {
        free(pub->dets[i].mask);
        free(pub->dets[i].keypoints);
    }
    free(pub->dets);
    free(pub->classes);
    if (r->names)
        for (size_t i = 0; i < r->n_names; i++)
            free(r->names[i]);
    free(r->names);
    if (r->kp_names)
        for (size_t i = 0; r->kp_names[i]; i++)
            free(r->kp_names[i]);
    free(r->kp_names);
    free(r->predicted);
    free(r->skel_off);
    free(r->skel_n);
    free(r->edges);
    free(r);
}
