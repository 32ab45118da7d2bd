/* Replaying a fuzz corpus (fuzz/corpus/<target>/) in the ordinary and the
 * sanitizer builds, so that every input the fuzzer kept stays a regression
 * test without libFuzzer. */
#ifndef CVM_TESTS_CORPUS_REPLAY_H
#define CVM_TESTS_CORPUS_REPLAY_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*corpus_fn)(const unsigned char *data, size_t size, void *arg);

/* Calls fn on every file of the corpus folder ($env_var, else
 * <repo>/fuzz/corpus/<target>, found from this header's path) and returns
 * how many files it read, or -1 when the folder does not exist. */
static inline int corpus_replay(const char *target, const char *env_var, corpus_fn fn, void *arg)
{
    char dir[4096];
    const char *env = getenv(env_var);
    if (env) {
        snprintf(dir, sizeof dir, "%s", env);
    } else {
        snprintf(dir, sizeof dir, "%s", __FILE__);
        char *p = strstr(dir, "tests/unit/");
        if (p)
            snprintf(p, sizeof dir - (size_t)(p - dir), "fuzz/corpus/%s", target);
    }
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    static unsigned char buf[1 << 20];
    int files = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        if (!f)
            continue;
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        fn(buf, n, arg);
        files++;
    }
    closedir(d);
    return files;
}

#endif
