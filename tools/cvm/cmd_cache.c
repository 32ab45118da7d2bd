/* cvm cache ls|clear: inspect and prune the model cache that model ids are
 * downloaded into (shared with inference-models when INFERENCE_HOME is). */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "commands.h"

/* Wired into main.c as "cache"; declared here until commands.h lists it. */

#include "hub/hub_internal.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: cvm cache ls [--cache DIR]\n"
            "       cvm cache clear [MODEL_ID] [--cache DIR]\n"
            "  ls     list cached packages (model id, package, backend, quantization, size)\n"
            "  clear  remove one model's packages (or every cached model) and the shared\n"
            "         files no remaining package uses\n"
            "  DIR defaults to $INFERENCE_HOME, else $MODEL_CACHE_DIR, else /tmp/cache\n");
}

static const char *cache_root(const char *opt)
{
    if (opt && *opt)
        return opt;
    const char *e = getenv("INFERENCE_HOME");
    if (e && *e)
        return e;
    e = getenv("MODEL_CACHE_DIR");
    if (e && *e)
        return e;
    return "/tmp/cache";
}

static char *join(const char *a, const char *b)
{
    char *p = hub_path(a, b);
    if (!p) {
        fprintf(stderr, "cvm cache: out of memory\n");
        exit(1);
    }
    return p;
}

/* Bytes of the package's files, following the links into shared-blobs. */
static long long package_bytes(const char *dir)
{
    long long total = 0;
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char *p = join(dir, e->d_name);
        struct stat st;
        if (stat(p, &st) == 0) {
            if (S_ISREG(st.st_mode))
                total += st.st_size;
            else if (S_ISDIR(st.st_mode))
                total += package_bytes(p);
        }
        free(p);
    }
    closedir(d);
    return total;
}

static int cache_ls(const char *root)
{
    char *mc = join(root, "models-cache");
    DIR *d = opendir(mc);
    if (!d) {
        printf("no cached models in %s\n", root);
        free(mc);
        return 0;
    }
    printf("%-40s %-34s %-8s %-8s %10s\n", "MODEL", "PACKAGE", "BACKEND", "QUANT", "MB");
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char *md = join(mc, e->d_name);
        DIR *pd = opendir(md);
        struct dirent *p;
        while (pd && (p = readdir(pd))) {
            if (p->d_name[0] == '.')
                continue;
            char *pkg = join(md, p->d_name);
            char *cfg = join(pkg, "model_config.json");
            FILE *f = fopen(cfg, "rb");
            char buf[65536];
            size_t len = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
            if (f)
                fclose(f);
            buf[len] = '\0';
            cJSON *j = len ? cJSON_Parse(buf) : NULL;
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "model_id");
            const cJSON *be = cJSON_GetObjectItemCaseSensitive(j, "backend_type");
            const cJSON *q = cJSON_GetObjectItemCaseSensitive(j, "quantization");
            printf("%-40s %-34s %-8s %-8s %10.1f%s\n", cJSON_IsString(id) ? id->valuestring : e->d_name, p->d_name,
                   cJSON_IsString(be) ? be->valuestring : "?", cJSON_IsString(q) ? q->valuestring : "?",
                   (double)package_bytes(pkg) / (1024.0 * 1024.0), j ? "" : "  (incomplete)");
            cJSON_Delete(j);
            free(cfg);
            free(pkg);
            n++;
        }
        if (pd)
            closedir(pd);
        free(md);
    }
    closedir(d);
    free(mc);
    if (!n)
        printf("(none)\n");
    return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    if (remove(path) != 0 && errno != ENOENT)
        fprintf(stderr, "cvm cache: cannot remove %s: %s\n", path, strerror(errno));
    return 0;
}

static void rm_tree(const char *path) { nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

/* Names of the blobs that some package still links to. */
static char **g_used;
static size_t g_n_used, g_cap_used;

static int collect_link(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag != FTW_SL)
        return 0;
    char target[4096];
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n <= 0)
        return 0;
    target[n] = '\0';
    const char *base = strrchr(target, '/');
    base = base ? base + 1 : target;
    if (g_n_used == g_cap_used) {
        size_t cap = g_cap_used ? 2 * g_cap_used : 64;
        char **p = realloc(g_used, cap * sizeof *p);
        if (!p)
            return 1;
        g_used = p;
        g_cap_used = cap;
    }
    g_used[g_n_used] = hub_strdup(base);
    if (g_used[g_n_used])
        g_n_used++;
    return 0;
}

static int gc_blobs(const char *root)
{
    char *mc = join(root, "models-cache"), *sb = join(root, "shared-blobs");
    g_n_used = 0;
    struct stat st;
    if (stat(mc, &st) == 0 && nftw(mc, collect_link, 16, FTW_PHYS) != 0) {
        fprintf(stderr, "cvm cache: could not scan %s; shared files kept\n", mc);
        free(mc);
        free(sb);
        return 1;
    }
    int removed = 0;
    DIR *d = opendir(sb);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char name[64];
        snprintf(name, sizeof name, "%.40s", e->d_name);
        if (!hub_normalize_md5(name) || strcmp(name, e->d_name) != 0)
            continue; /* partial downloads and foreign files stay */
        int used = 0;
        for (size_t i = 0; i < g_n_used && !used; i++)
            used = strcmp(g_used[i], e->d_name) == 0;
        if (!used) {
            char *p = join(sb, e->d_name);
            if (unlink(p) == 0)
                removed++;
            free(p);
        }
    }
    if (d)
        closedir(d);
    for (size_t i = 0; i < g_n_used; i++)
        free(g_used[i]);
    free(g_used);
    g_used = NULL;
    g_n_used = g_cap_used = 0;
    printf("removed %d unused shared file%s\n", removed, removed == 1 ? "" : "s");
    free(mc);
    free(sb);
    return 0;
}

static int cache_clear(const char *root, const char *model_id)
{
    if (model_id) {
        const char *bad = hub_check_model_id(model_id);
        if (bad) {
            fprintf(stderr, "cvm cache: '%s': %s\n", model_id, bad);
            return 2;
        }
        char *slug = NULL;
        if (hub_model_slug(model_id, &slug) != CVM_OK) {
            fprintf(stderr, "cvm cache: %s\n", cvm_last_error());
            return 1;
        }
        char *mc = join(root, "models-cache"), *dir = join(mc, slug);
        struct stat st;
        if (stat(dir, &st) != 0) {
            printf("model '%s' is not cached in %s\n", model_id, root);
        } else {
            rm_tree(dir);
            printf("removed %s\n", dir);
        }
        free(slug);
        free(mc);
        free(dir);
    } else {
        static const char *const sub[] = {"models-cache", "auto-resolution-cache"};
        for (size_t i = 0; i < 2; i++) {
            char *p = join(root, sub[i]);
            rm_tree(p);
            free(p);
        }
        printf("removed every cached model in %s\n", root);
    }
    return gc_blobs(root);
}

int cmd_cache(int argc, char **argv)
{
    const char *dir = NULL, *sub = NULL, *model = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--cache") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (!sub)
            sub = argv[i];
        else if (!model)
            model = argv[i];
        else {
            usage(stderr);
            return 2;
        }
    }
    const char *root = cache_root(dir);
    if (sub && strcmp(sub, "ls") == 0 && !model)
        return cache_ls(root);
    if (sub && strcmp(sub, "clear") == 0)
        return cache_clear(root, model);
    usage(stderr);
    return 2;
}
