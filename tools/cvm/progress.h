#ifndef CVM_TOOLS_PROGRESS_H
#define CVM_TOOLS_PROGRESS_H

#include <stdint.h>

/* A download progress bar on stderr (only when stderr is a terminal);
 * matches cvm_model_options.progress. */
void cli_download_progress(void *arg, const char *file, int64_t done, int64_t total);

#endif
