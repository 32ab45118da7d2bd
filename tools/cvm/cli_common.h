/* Pieces shared by the `cvm` subcommands. */
#ifndef CVM_TOOLS_CLI_COMMON_H
#define CVM_TOOLS_CLI_COMMON_H

#include "cvm/cvm.h"

/* Monotonic clock in milliseconds. */
double cli_now_ms(void);

/* Fills t with the pattern the shared models' reference statistics were
 * computed with: p[n,c,h,w] = ((c*97 + h*13 + w*7) % 256) / 255, NHWC inputs
 * (last dim <= 4, second dim > 4) using their last dim as the channel. */
void cli_fill_pattern(cvm_tensor *t);

/* Parses --precision's value ("fp32" or "bf16"); on anything else prints
 * "cvm CMD: ..." to stderr and returns 0. */
int cli_parse_precision(const char *cmd, const char *s, cvm_precision *out);
const char *cli_precision_name(cvm_precision p);
/* For text reports: the precision and, for bf16, the kernel that runs it. */
const char *cli_precision_detail(cvm_precision p);

/* Parses "1x3x640x640" (or comma-separated) into dims; returns 0 if malformed. */
int cli_parse_dims(const char *s, int *ndim, int64_t *dims);

#endif
