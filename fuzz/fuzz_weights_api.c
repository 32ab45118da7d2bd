/* libFuzzer target: any byte string as a weights API page (twice, as
 * pagination would append it) must parse and negotiate or fail cleanly. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hub/hub_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hub_metadata md;
    memset(&md, 0, sizeof md);
    if (hub_parse_weights_page((const char *)data, size, &md) == CVM_OK)
        hub_parse_weights_page((const char *)data, size, &md);
    size_t *order = calloc(md.n_pkgs ? md.n_pkgs : 1, sizeof *order);
    size_t n = 0;
    hub_buf rep;
    hub_buf_init(&rep);
    if (order && hub_negotiate(&md, order, &n, &rep) == CVM_OK) {
        for (size_t i = 0; i < n; i++) {
            const hub_package *p = &md.pkgs[order[i]];
            /* Whatever survives must be safe to turn into paths. */
            if (hub_check_package_id(p->package_id))
                abort();
            for (size_t f = 0; f < p->n_files; f++)
                if (hub_check_file_handle(p->files[f].handle) || strlen(p->files[f].md5) != 32)
                    abort();
        }
        hub_describe_rejections(&md, &rep);
    }
    hub_buf_free(&rep);
    free(order);
    hub_metadata_free(&md);
    return 0;
}
