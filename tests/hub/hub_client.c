/* Test driver's view of cvm_hub_resolve: resolves one id with the settings in
 * the environment (INFERENCE_HOME, ROBOFLOW_API_HOST, ROBOFLOW_API_KEY,
 * CVM_HUB_*) and prints machine-readable lines:
 *   PACKAGE <dir>            on success
 *   ERROR <status> <message> on failure
 *   PROGRESS <calls> <max done> <last total>
 *   REPORT ... (the decision report, line by line)
 * Options: --offline, --verbose, --load (open <dir>/weights.onnx in the engine).
 * Exit status 0 on success, 1 on failure, 2 on usage errors. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cvm/cvm.h"
#include "hub/hub.h"

typedef struct progress_seen {
    long calls;
    int64_t max_done, last_total;
} progress_seen;

static void on_progress(void *arg, const char *file, int64_t done, int64_t total)
{
    (void)file;
    progress_seen *p = arg;
    p->calls++;
    if (done > p->max_done)
        p->max_done = done;
    if (total)
        p->last_total = total;
}

int main(int argc, char **argv)
{
    cvm_hub_request r;
    memset(&r, 0, sizeof r);
    int load = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--offline") == 0)
            r.offline = 1;
        else if (strcmp(argv[i], "--verbose") == 0)
            r.verbose = 1;
        else if (strcmp(argv[i], "--load") == 0)
            load = 1;
        else if (argv[i][0] == '-') {
            fprintf(stderr, "usage: hub_client MODEL_ID [--offline] [--verbose] [--load]\n");
            return 2;
        } else
            r.model_id = argv[i];
    }
    if (!r.model_id) {
        fprintf(stderr, "usage: hub_client MODEL_ID [--offline] [--verbose] [--load]\n");
        return 2;
    }
    progress_seen seen = {0, 0, 0};
    r.progress = on_progress;
    r.progress_arg = &seen;
    char *dir = NULL, *report = NULL;
    cvm_status s = cvm_hub_resolve(&r, &dir, &report);
    if (report) {
        for (char *line = strtok(report, "\n"); line; line = strtok(NULL, "\n"))
            printf("REPORT %s\n", line);
    }
    printf("PROGRESS %ld %lld %lld\n", seen.calls, (long long)seen.max_done, (long long)seen.last_total);
    if (s != CVM_OK) {
        printf("ERROR %s %s\n", cvm_status_name(s), cvm_last_error());
        free(report);
        return 1;
    }
    printf("PACKAGE %s\n", dir);
    int rc = 0;
#ifndef HUB_CLIENT_NO_ENGINE
    if (load) {
        size_t n = strlen(dir) + 32;
        char *w = malloc(n);
        snprintf(w, n, "%s/weights.onnx", dir);
        cvm_session *sess = NULL;
        cvm_status ls = cvm_session_create(w, NULL, &sess);
        if (ls == CVM_OK) {
            printf("LOADED %s\n", w);
            cvm_session_free(sess);
        } else {
            printf("ERROR %s loading %s: %s\n", cvm_status_name(ls), w, cvm_last_error());
            rc = 1;
        }
        free(w);
    }
#else
    (void)load;
#endif
    free(dir);
    free(report);
    return rc;
}
