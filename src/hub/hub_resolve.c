/* Placeholder until the hub lands: ids cannot be resolved yet. */
#include <stdlib.h>

#include "base/status.h"
#include "hub/hub.h"

cvm_status cvm_hub_resolve(const cvm_hub_request *req, char **package_dir, char **report)
{
    *package_dir = NULL;
    if (report)
        *report = NULL;
    return cvm_errorf(CVM_E_NOT_FOUND, "'%s' is not a folder or file, and resolving model ids is not built yet",
                      req && req->model_id ? req->model_id : "(null)");
}
