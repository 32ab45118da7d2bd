/* Text buffers, name checks for server-supplied strings, the cache folder
 * naming (BLAKE2s) and small file helpers (atomic writes, flock locks). */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "base/str.h"
#include "hub/hub_internal.h"

/* ------------------------------------------------------------ text buffer */

void hub_buf_init(hub_buf *b) { memset(b, 0, sizeof *b); }

void hub_buf_free(hub_buf *b)
{
    free(b->data);
    hub_buf_init(b);
}

void hub_buf_append(hub_buf *b, const void *data, size_t n)
{
    if (b->failed)
        return;
    if (n > SIZE_MAX / 2 - b->len - 1) {
        b->failed = 1;
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->data, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->data = p;
        b->cap = cap;
    }
    if (n)
        memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void hub_buf_printf(hub_buf *b, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (k < 0)
        return;
    if ((size_t)k < sizeof small) {
        hub_buf_append(b, small, (size_t)k);
        return;
    }
    char *big = malloc((size_t)k + 1);
    if (!big) {
        b->failed = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)k + 1, fmt, ap);
    va_end(ap);
    hub_buf_append(b, big, (size_t)k);
    free(big);
}

char *hub_buf_take(hub_buf *b)
{
    if (b->failed) {
        hub_buf_free(b);
        return NULL;
    }
    if (!b->data)
        hub_buf_append(b, "", 0);
    char *p = b->data;
    hub_buf_init(b);
    return p;
}

char *hub_strdup(const char *s) { return cvm_strdup(s); }

/* ----------------------------------------------------------------- BLAKE2s */

static const uint32_t b2s_iv[8] = {0x6A09E667u, 0xBB67AE85u, 0x3C6EF372u, 0xA54FF53Au,
                                   0x510E527Fu, 0x9B05688Cu, 0x1F83D9ABu, 0x5BE0CD19u};

static const uint8_t b2s_sigma[10][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
    {11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4},
    {7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8},
    {9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13},
    {2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9},
    {12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11},
    {13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10},
    {6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5},
    {10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0},
};

static uint32_t rotr32(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

static void b2s_compress(uint32_t h[8], const uint8_t block[64], uint64_t counter, int last)
{
    uint32_t m[16], v[16];
    for (int i = 0; i < 16; i++)
        m[i] = (uint32_t)block[4 * i] | (uint32_t)block[4 * i + 1] << 8 | (uint32_t)block[4 * i + 2] << 16 |
               (uint32_t)block[4 * i + 3] << 24;
    for (int i = 0; i < 8; i++) {
        v[i] = h[i];
        v[i + 8] = b2s_iv[i];
    }
    v[12] ^= (uint32_t)counter;
    v[13] ^= (uint32_t)(counter >> 32);
    if (last)
        v[14] = ~v[14];
#define B2S_G(a, b, c, d, x, y)           \
    do {                                  \
        v[a] = v[a] + v[b] + (x);         \
        v[d] = rotr32(v[d] ^ v[a], 16);   \
        v[c] = v[c] + v[d];               \
        v[b] = rotr32(v[b] ^ v[c], 12);   \
        v[a] = v[a] + v[b] + (y);         \
        v[d] = rotr32(v[d] ^ v[a], 8);    \
        v[c] = v[c] + v[d];               \
        v[b] = rotr32(v[b] ^ v[c], 7);    \
    } while (0)
    for (int r = 0; r < 10; r++) {
        const uint8_t *s = b2s_sigma[r];
        B2S_G(0, 4, 8, 12, m[s[0]], m[s[1]]);
        B2S_G(1, 5, 9, 13, m[s[2]], m[s[3]]);
        B2S_G(2, 6, 10, 14, m[s[4]], m[s[5]]);
        B2S_G(3, 7, 11, 15, m[s[6]], m[s[7]]);
        B2S_G(0, 5, 10, 15, m[s[8]], m[s[9]]);
        B2S_G(1, 6, 11, 12, m[s[10]], m[s[11]]);
        B2S_G(2, 7, 8, 13, m[s[12]], m[s[13]]);
        B2S_G(3, 4, 9, 14, m[s[14]], m[s[15]]);
    }
#undef B2S_G
    for (int i = 0; i < 8; i++)
        h[i] ^= v[i] ^ v[i + 8];
}

/* OpenSSL 3.0 only offers the 32-byte BLAKE2s, and a shorter digest is not a
 * truncation of it (the length is part of the parameter block). */
void hub_blake2s128(const void *data, size_t n, uint8_t out[16])
{
    uint32_t h[8];
    memcpy(h, b2s_iv, sizeof h);
    h[0] ^= 0x01010000u ^ 16u;
    const uint8_t *p = data;
    uint64_t counter = 0;
    while (n > 64) {
        counter += 64;
        b2s_compress(h, p, counter, 0);
        p += 64;
        n -= 64;
    }
    uint8_t last[64] = {0};
    if (n)
        memcpy(last, p, n);
    counter += n;
    b2s_compress(h, last, counter, 1);
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < 4; k++)
            out[4 * i + k] = (uint8_t)(h[i] >> (8 * k));
}

cvm_status hub_model_slug(const char *model_id, char **out)
{
    *out = NULL;
    /* Runs of characters outside [A-Za-z0-9_-] become one '-', then runs of
     * two or more '_'/'-' collapse to one '-', then the prefix is cut to 48. */
    size_t n = strlen(model_id);
    char *a = malloc(n + 1);
    if (!a)
        return cvm_errorf(CVM_E_NOMEM, "out of memory naming the cache folder");
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)model_id[i];
        if (isalnum(c) && c < 128) {
            a[k++] = (char)c;
            i++;
        } else if (c == '_' || c == '-') {
            a[k++] = (char)c;
            i++;
        } else {
            while (i < n) {
                unsigned char d = (unsigned char)model_id[i];
                if ((d < 128 && isalnum(d)) || d == '_' || d == '-')
                    break;
                i++;
            }
            a[k++] = '-';
        }
    }
    a[k] = '\0';
    size_t j = 0;
    for (size_t i = 0; i < k;) {
        if (a[i] == '_' || a[i] == '-') {
            size_t r = i;
            while (r < k && (a[r] == '_' || a[r] == '-'))
                r++;
            a[j++] = (r - i >= 2) ? '-' : a[i];
            i = r;
        } else {
            a[j++] = a[i++];
        }
    }
    if (j > 48)
        j = 48;
    a[j] = '\0';
    uint8_t d[16];
    hub_blake2s128(model_id, n, d);
    char *s = malloc(j + 3 + 1 + 32 + 1);
    if (!s) {
        free(a);
        return cvm_errorf(CVM_E_NOMEM, "out of memory naming the cache folder");
    }
    int w = sprintf(s, "v2-%s-", a);
    for (int i = 0; i < 16; i++)
        w += sprintf(s + w, "%02x", d[i]);
    free(a);
    *out = s;
    return CVM_OK;
}

/* ------------------------------------------------------------ name checks */

static int is_reserved_name(const char *s, size_t n)
{
    /* Windows device names, with or without an extension: a cache folder may
     * be shared with (or copied to) a Windows machine. */
    static const char *const names[] = {"CON", "PRN", "AUX", "NUL"};
    size_t base = 0;
    while (base < n && s[base] != '.')
        base++;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (base == 3 && strncasecmp(s, names[i], 3) == 0)
            return 1;
    if (base == 4 && (strncasecmp(s, "COM", 3) == 0 || strncasecmp(s, "LPT", 3) == 0) && s[3] >= '0' &&
        s[3] <= '9')
        return 1;
    return 0;
}

const char *hub_check_model_id(const char *id)
{
    if (!id || !*id)
        return "the model id is empty";
    size_t n = strlen(id);
    if (n > HUB_MAX_MODEL_ID_LEN)
        return "the model id is longer than 512 characters";
    if (id[0] == '/' || id[0] == '.')
        return "a model id cannot start with '/' or '.'";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)id[i];
        if (c < 0x20 || c == 0x7f || c == '\\' || c == '?' || c == '#' || c == '&' || c == '%' || c == ' ')
            return "a model id cannot hold spaces, control characters or any of \\ ? # & %";
    }
    if (strstr(id, "..") || strstr(id, "//"))
        return "a model id cannot contain '..' or '//'";
    return NULL;
}

const char *hub_check_package_id(const char *id)
{
    if (!id || !*id)
        return "empty package id";
    size_t n = strlen(id);
    if (n > HUB_MAX_ID_LEN)
        return "package id longer than 255 characters";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)id[i];
        if (!(c < 128 && isalnum(c)))
            return "package id holds characters other than letters and digits";
    }
    if (is_reserved_name(id, n))
        return "package id is a reserved device name";
    return NULL;
}

const char *hub_check_file_handle(const char *h)
{
    if (!h || !*h)
        return "empty file handle";
    size_t n = strlen(h);
    if (n > HUB_MAX_HANDLE_LEN)
        return "file handle longer than 512 characters";
    if (h[0] == '/')
        return "absolute file handle";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)h[i];
        if (c < 0x20 || c == 0x7f)
            return "control character in file handle";
        if (c == '\\' || c == ':')
            return "'\\' or ':' in file handle";
    }
    int depth = 0;
    for (const char *seg = h; seg;) {
        const char *slash = strchr(seg, '/');
        size_t len = slash ? (size_t)(slash - seg) : strlen(seg);
        if (len == 0)
            return "empty path segment in file handle";
        if ((len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.'))
            return "'.' or '..' segment in file handle";
        if (is_reserved_name(seg, len))
            return "reserved device name in file handle";
        if (seg == h) {
            static const char *const own[] = {"model_config.json", "model_dependencies", "dependencies"};
            for (size_t i = 0; i < 3; i++)
                if (len == strlen(own[i]) && strncmp(seg, own[i], len) == 0)
                    return "file handle collides with a name the cache itself uses";
        }
        if (++depth > 16)
            return "file handle nested more than 16 folders deep";
        seg = slash ? slash + 1 : NULL;
    }
    if (n >= 5 && strcmp(h + n - 5, ".lock") == 0)
        return "file handle names a lock file";
    return NULL;
}

int hub_normalize_md5(char *md5)
{
    if (strlen(md5) != 32)
        return 0;
    for (int i = 0; i < 32; i++) {
        if (!isxdigit((unsigned char)md5[i]))
            return 0;
        md5[i] = (char)tolower((unsigned char)md5[i]);
    }
    return 1;
}

/* ------------------------------------------------------------------ files */

char *hub_path(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    char *p = malloc(na + nb + 2);
    if (!p)
        return NULL;
    memcpy(p, a, na);
    size_t k = na;
    if (k && p[k - 1] != '/')
        p[k++] = '/';
    memcpy(p + k, b, nb + 1);
    return p;
}

int hub_file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

cvm_status hub_mkdirs(const char *path)
{
    char *p = hub_strdup(path);
    if (!p)
        return cvm_errorf(CVM_E_NOMEM, "out of memory");
    for (char *s = p + 1;; s++) {
        if (*s == '/' || *s == '\0') {
            char keep = *s;
            *s = '\0';
            if (mkdir(p, 0755) != 0 && errno != EEXIST) {
                int e = errno;
                cvm_status st = cvm_errorf(CVM_E_IO, "cannot create folder %s: %s", p, strerror(e));
                free(p);
                return st;
            }
            *s = keep;
            if (!keep)
                break;
        }
    }
    free(p);
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return cvm_errorf(CVM_E_IO, "%s exists but is not a folder", path);
    return CVM_OK;
}

cvm_status hub_write_atomic(const char *path, const char *data, size_t n)
{
    size_t k = strlen(path);
    char *tmp = malloc(k + 32);
    if (!tmp)
        return cvm_errorf(CVM_E_NOMEM, "out of memory");
    snprintf(tmp, k + 32, "%s.%ld.tmp", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        cvm_status s = cvm_errorf(CVM_E_IO, "cannot write %s: %s", tmp, strerror(errno));
        free(tmp);
        return s;
    }
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(fd, data + done, n - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        done += (size_t)w;
    }
    int ok = done == n && fsync(fd) == 0;
    ok = (close(fd) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        cvm_status s = cvm_errorf(CVM_E_IO, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        free(tmp);
        return s;
    }
    free(tmp);
    return CVM_OK;
}

/* flock, not fcntl record locks: the Python `filelock` package uses flock on
 * Unix, so both libraries exclude each other on the same lock files. */
cvm_status hub_lock(const char *path, int timeout_s, int *fd)
{
    *fd = -1;
    int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (f < 0)
        return cvm_errorf(CVM_E_IO, "cannot open lock file %s: %s", path, strerror(errno));
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        if (flock(f, LOCK_EX | LOCK_NB) == 0)
            break;
        if (errno != EWOULDBLOCK && errno != EINTR) {
            cvm_status s = cvm_errorf(CVM_E_IO, "cannot lock %s: %s", path, strerror(errno));
            close(f);
            return s;
        }
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        if (t.tv_sec - t0.tv_sec >= timeout_s) {
            close(f);
            return cvm_errorf(CVM_E_IO,
                              "another process has held %s for more than %d s (still downloading?); "
                              "retry later or raise CVM_HUB_LOCK_TIMEOUT_S",
                              path, timeout_s);
        }
        hub_sleep_ms(50);
    }
    *fd = f;
    return CVM_OK;
}

void hub_unlock(int fd)
{
    if (fd >= 0) {
        flock(fd, LOCK_UN);
        close(fd);
    }
}

void hub_sleep_ms(long ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

cvm_status hub_md5_file(const char *path, char out[33])
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return cvm_errorf(CVM_E_IO, "cannot read %s: %s", path, strerror(errno));
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_md5(), NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        fclose(f);
        return cvm_errorf(CVM_E_INTERNAL, "OpenSSL refused to start an MD5 digest");
    }
    unsigned char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        EVP_DigestUpdate(ctx, buf, n);
    int err = ferror(f);
    fclose(f);
    unsigned char d[16];
    unsigned int dl = 0;
    EVP_DigestFinal_ex(ctx, d, &dl);
    EVP_MD_CTX_free(ctx);
    if (err)
        return cvm_errorf(CVM_E_IO, "error reading %s", path);
    for (int i = 0; i < 16; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
    return CVM_OK;
}
