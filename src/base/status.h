/* Internal error reporting: set the thread's message and return the code. */
#ifndef CVM_BASE_STATUS_H
#define CVM_BASE_STATUS_H

#include "cvm/cvm.h"

#if defined(__GNUC__)
#define CVM_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CVM_PRINTF(a, b)
#endif

/* Records the formatted message as this thread's last error and returns `s`. */
cvm_status cvm_errorf(cvm_status s, const char *fmt, ...) CVM_PRINTF(2, 3);
/* Prepends "prefix: " to the current message (adds context while unwinding). */
cvm_status cvm_error_wrap(cvm_status s, const char *fmt, ...) CVM_PRINTF(2, 3);
void cvm_error_clear(void);

/* Propagate a failure. */
#define CVM_TRY(expr)                  \
    do {                               \
        cvm_status cvm_try_s_ = (expr); \
        if (cvm_try_s_ != CVM_OK)      \
            return cvm_try_s_;         \
    } while (0)

#endif
