#include "progress.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

void cli_download_progress(void *arg, const char *file, int64_t done, int64_t total)
{
    (void)arg;
    if (!isatty(2))
        return;
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    if (total > 0) {
        int width = 30, fill = (int)(done * width / total);
        char bar[32];
        for (int i = 0; i < width; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[width] = '\0';
        fprintf(stderr, "\r%-24.24s [%s] %5.1f / %.1f MB", base, bar, done / 1e6, total / 1e6);
        if (done >= total)
            fputc('\n', stderr);
    } else {
        fprintf(stderr, "\r%-24.24s %.1f MB", base, done / 1e6);
    }
    fflush(stderr);
}
