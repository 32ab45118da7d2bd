#include "base/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define CVM_ERR_CAP 1024

/* Thread-local so that concurrent runs report their own failures. */
static _Thread_local char last_error[CVM_ERR_CAP];

const char *cvm_last_error(void) { return last_error; }

cvm_status cvm_errorf(cvm_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return s;
}

cvm_status cvm_error_wrap(cvm_status s, const char *fmt, ...)
{
    char prefix[CVM_ERR_CAP], old[CVM_ERR_CAP];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, last_error, sizeof old);
    size_t k = strlen(prefix);
    if (k > CVM_ERR_CAP - 3)
        k = CVM_ERR_CAP - 3;
    memcpy(last_error, prefix, k);
    last_error[k++] = ':';
    last_error[k++] = ' ';
    size_t rest = strlen(old);
    if (rest > CVM_ERR_CAP - 1 - k)
        rest = CVM_ERR_CAP - 1 - k;
    memcpy(last_error + k, old, rest);
    last_error[k + rest] = '\0';
    return s;
}

void cvm_error_clear(void) { last_error[0] = '\0'; }

const char *cvm_status_name(cvm_status s)
{
    switch (s) {
    case CVM_OK: return "CVM_OK";
    case CVM_E_INVALID_ARG: return "CVM_E_INVALID_ARG";
    case CVM_E_NOMEM: return "CVM_E_NOMEM";
    case CVM_E_IO: return "CVM_E_IO";
    case CVM_E_PARSE: return "CVM_E_PARSE";
    case CVM_E_UNSUPPORTED: return "CVM_E_UNSUPPORTED";
    case CVM_E_SHAPE: return "CVM_E_SHAPE";
    case CVM_E_TYPE: return "CVM_E_TYPE";
    case CVM_E_LIMIT: return "CVM_E_LIMIT";
    case CVM_E_NOT_FOUND: return "CVM_E_NOT_FOUND";
    case CVM_E_INTERNAL: return "CVM_E_INTERNAL";
    }
    return "CVM_E_UNKNOWN";
}
