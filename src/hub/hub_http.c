/* HTTP with libcurl: the weights API (retries, pagination, typed errors) and
 * verified, resumable file downloads. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "hub/hub_internal.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result = CURLE_FAILED_INIT;
static void curl_init(void) { curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT); }

static long env_long(const char *name, long def, long lo, long hi)
{
    const char *s = getenv(name);
    if (!s || !*s)
        return def;
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (!end || *end || v < lo || v > hi)
        return def;
    return v;
}

void hub_net_defaults(hub_net *net)
{
    memset(net, 0, sizeof *net);
    net->retry_base_ms = (int)env_long("CVM_HUB_RETRY_BASE_MS", 500, 0, 60000);
    net->max_tries = (int)env_long("CVM_HUB_MAX_TRIES", 4, 1, 20);
    net->connect_timeout_s = env_long("CVM_HUB_CONNECT_TIMEOUT_S", 10, 1, 600);
    net->stall_timeout_s = env_long("CVM_HUB_STALL_TIMEOUT_S", 30, 1, 3600);
    net->api_timeout_s = env_long("CVM_HUB_API_TIMEOUT_S", 20, 1, 600);
    net->max_file_bytes = (int64_t)env_long("CVM_HUB_MAX_FILE_MB", 16384, 1, 1 << 22) << 20;
}

/* urllib's quote(url, safe="~()*!'"): everything but letters, digits and
 * _.-~()*!' is percent-encoded, '/' included. */
static char *quote(const char *s)
{
    size_t n = strlen(s);
    char *o = malloc(3 * n + 1);
    if (!o)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("_.-~()*!'", c)) {
            o[k++] = (char)c;
        } else {
            k += (size_t)sprintf(o + k, "%%%02X", c);
        }
    }
    o[k] = '\0';
    return o;
}

cvm_status hub_wrap_url(const hub_net *net, const char *url, char **out)
{
    *out = NULL;
    if (!net->gateway || !*net->gateway) {
        *out = hub_strdup(url);
        return *out ? CVM_OK : cvm_errorf(CVM_E_NOMEM, "out of memory");
    }
    char *q = quote(url);
    if (!q)
        return cvm_errorf(CVM_E_NOMEM, "out of memory");
    const char *g = net->gateway;
    int has_scheme = strncmp(g, "http://", 7) == 0 || strncmp(g, "https://", 8) == 0;
    size_t gl = strlen(g);
    while (gl && g[gl - 1] == '/')
        gl--;
    size_t cap = gl + strlen(q) + 32;
    char *o = malloc(cap);
    if (o)
        snprintf(o, cap, "%s%.*s/proxy?url=%s", has_scheme ? "" : "http://", (int)gl, g, q);
    free(q);
    *out = o;
    return o ? CVM_OK : cvm_errorf(CVM_E_NOMEM, "out of memory");
}

static int retryable_http(long code) { return code == 408 || code == 429 || code == 502 || code == 503 || code == 504; }

static int retryable_curl(CURLcode c)
{
    switch (c) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return 1;
    default:
        return 0;
    }
}

static void backoff(const hub_net *net, int attempt)
{
    long ms = net->retry_base_ms;
    for (int i = 0; i < attempt && ms < 30000; i++)
        ms *= 2;
    hub_sleep_ms(ms > 30000 ? 30000 : ms);
}

static void common_opts(CURL *c, const hub_net *net, char *errbuf)
{
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, net->connect_timeout_s);
    /* A transfer that moves less than one byte per second for this long is
     * stalled; total time is not capped so large files on slow links work. */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, net->stall_timeout_s);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_USERAGENT, "cvmodels/" CVM_VERSION_STRING);
}

/* ------------------------------------------------------------ API requests */

typedef struct mem_sink {
    hub_buf *buf;
    int too_big;
} mem_sink;

static size_t mem_write(char *p, size_t sz, size_t n, void *arg)
{
    mem_sink *s = arg;
    size_t k = sz * n;
    if (s->buf->len + k > HUB_MAX_RESPONSE_BYTES) {
        s->too_big = 1;
        return 0;
    }
    hub_buf_append(s->buf, p, k);
    return s->buf->failed ? 0 : k;
}

static void mask_key(const char *key, char *out, size_t cap)
{
    size_t n = strlen(key);
    if (n <= 6)
        snprintf(out, cap, "'%.*s...'", n > 2 ? 2 : (int)n, key);
    else
        snprintf(out, cap, "'%.4s...' (%zu characters)", key, n);
}

static cvm_status http_error(const hub_net *net, long code, const char *model_id, const char *host)
{
    char key[64] = "";
    if (net->api_key)
        mask_key(net->api_key, key, sizeof key);
    switch (code) {
    case 401:
        if (!net->api_key)
            return cvm_errorf(CVM_E_INVALID_ARG,
                              "the Roboflow API at %s needs an API key for model '%s' (HTTP 401): set "
                              "ROBOFLOW_API_KEY or pass api_key (find your key at app.roboflow.com -> Settings -> "
                              "API Keys)",
                              host, model_id);
        return cvm_errorf(CVM_E_INVALID_ARG,
                          "the Roboflow API at %s rejected the API key %s from %s for model '%s' (HTTP 401): the "
                          "key is wrong or revoked; copy it again from app.roboflow.com -> Settings -> API Keys",
                          host, key, net->key_source, model_id);
    case 402:
        return cvm_errorf(CVM_E_INVALID_ARG,
                          "the workspace of API key %s has no credits or plan for model '%s' (HTTP 402 Payment "
                          "Required): check billing in the Roboflow workspace settings",
                          key, model_id);
    case 403:
        return cvm_errorf(CVM_E_INVALID_ARG,
                          "API key %s from %s may not access model '%s' (HTTP 403 Forbidden): the model belongs "
                          "to another workspace or is private; use a key of the workspace that owns it",
                          key[0] ? key : "(none)", net->key_source, model_id);
    case 404:
        return cvm_errorf(CVM_E_NOT_FOUND,
                          "model '%s' does not exist at %s (HTTP 404): check the id (workspace/project/version, "
                          "project/version, or a public alias such as 'rfdetr-base')",
                          model_id, host);
    case 423:
        return cvm_errorf(CVM_E_INVALID_ARG,
                          "usage is paused for the workspace of API key %s (HTTP 423 Locked) when loading '%s': "
                          "resume usage in the Roboflow workspace settings",
                          key, model_id);
    default:
        return cvm_errorf(CVM_E_IO, "the weights API at %s answered HTTP %ld for model '%s'", host, code, model_id);
    }
}

/* One GET of the API with retries; on success *body holds the response. */
static cvm_status api_get(hub_net *net, const char *url, const char *model_id, hub_buf *body)
{
    char errbuf[CURL_ERROR_SIZE];
    struct curl_slist *hdr = NULL;
    char *auth = NULL;
    if (net->api_key) {
        size_t cap = strlen(net->api_key) + 32;
        auth = malloc(cap);
        if (!auth)
            return cvm_errorf(CVM_E_NOMEM, "out of memory");
        snprintf(auth, cap, "Authorization: Bearer %s", net->api_key);
        hdr = curl_slist_append(hdr, auth);
    }
    hdr = curl_slist_append(hdr, "Accept: application/json");
    cvm_status st = CVM_E_IO;
    for (int attempt = 0; attempt < net->max_tries; attempt++) {
        if (attempt)
            backoff(net, attempt - 1);
        CURL *c = curl_easy_init();
        if (!c) {
            st = cvm_errorf(CVM_E_NOMEM, "libcurl could not create a handle");
            break;
        }
        hub_buf_free(body);
        mem_sink sink = {body, 0};
        errbuf[0] = '\0';
        common_opts(c, net, errbuf);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, net->api_timeout_s);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, mem_write);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
        CURLcode rc = curl_easy_perform(c);
        long code = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        curl_easy_cleanup(c);
        net->last_was_network = 0;
        if (sink.too_big) {
            st = cvm_errorf(CVM_E_LIMIT, "weights API response for '%s' is larger than 16 MiB; refused", model_id);
            break;
        }
        if (body->failed) {
            st = cvm_errorf(CVM_E_NOMEM, "out of memory reading the weights API response");
            break;
        }
        if (rc != CURLE_OK) {
            net->last_was_network = 1;
            st = cvm_errorf(CVM_E_IO, "cannot reach the weights API at %s after %d attempt%s: %s%s%s", net->api_host,
                            attempt + 1, attempt ? "s" : "", curl_easy_strerror(rc), errbuf[0] ? " - " : "", errbuf);
            if (retryable_curl(rc))
                continue;
            break;
        }
        if (code == 200) {
            st = CVM_OK;
            break;
        }
        st = http_error(net, code, model_id, net->api_host);
        if (retryable_http(code)) {
            net->last_was_network = 1;
            cvm_error_wrap(st, "gave up after %d attempts", attempt + 1);
            continue;
        }
        break;
    }
    curl_slist_free_all(hdr);
    free(auth);
    return st;
}

static char *url_escape(const char *s)
{
    CURL *c = curl_easy_init();
    if (!c)
        return NULL;
    char *e = curl_easy_escape(c, s, 0);
    char *r = hub_strdup(e);
    curl_free(e);
    curl_easy_cleanup(c);
    return r;
}

cvm_status hub_fetch_metadata(hub_net *net, const char *model_id, hub_metadata *md)
{
    pthread_once(&curl_once, curl_init);
    if (curl_init_result != CURLE_OK)
        return cvm_errorf(CVM_E_IO, "libcurl failed to initialise");
    char *id = url_escape(model_id);
    if (!id)
        return cvm_errorf(CVM_E_NOMEM, "out of memory");
    cvm_status st = CVM_OK;
    hub_buf body;
    hub_buf_init(&body);
    for (int page = 0;; page++) {
        if (page >= HUB_MAX_PAGES) {
            /* Upstream stops here too, keeping what it has. */
            break;
        }
        hub_buf u;
        hub_buf_init(&u);
        size_t hl = strlen(net->api_host);
        while (hl && net->api_host[hl - 1] == '/')
            hl--;
        hub_buf_printf(&u, "%.*s/models/v1/external/weights?modelId=%s", (int)hl, net->api_host, id);
        if (md->next_page) {
            char *np = url_escape(md->next_page);
            if (!np) {
                hub_buf_free(&u);
                st = cvm_errorf(CVM_E_NOMEM, "out of memory");
                break;
            }
            hub_buf_printf(&u, "&startAfter=%s", np);
            free(np);
        }
        char *raw = hub_buf_take(&u), *url = NULL;
        if (!raw) {
            st = cvm_errorf(CVM_E_NOMEM, "out of memory");
            break;
        }
        st = hub_wrap_url(net, raw, &url);
        free(raw);
        if (st != CVM_OK)
            break;
        st = api_get(net, url, model_id, &body);
        free(url);
        if (st != CVM_OK)
            break;
        char *prev = md->next_page ? hub_strdup(md->next_page) : NULL;
        st = hub_parse_weights_page(body.data, body.len, md);
        if (st == CVM_OK && md->next_page && prev && strcmp(prev, md->next_page) == 0) {
            free(md->next_page); /* a server repeating its cursor would loop */
            md->next_page = NULL;
        }
        free(prev);
        if (st != CVM_OK) {
            cvm_error_wrap(st, "model '%s' at %s", model_id, net->api_host);
            break;
        }
        if (!md->next_page)
            break;
    }
    hub_buf_free(&body);
    free(id);
    if (st == CVM_OK && md->n_pkgs == 0)
        st = cvm_errorf(CVM_E_NOT_FOUND, "the weights API at %s lists no packages for model '%s'", net->api_host,
                        model_id);
    return st;
}

/* ------------------------------------------------------------- downloads */

typedef struct dl_state {
    CURL *curl;
    int fd;
    EVP_MD_CTX *md5;
    int64_t have;        /* bytes in the partial file before this request */
    int64_t written;     /* bytes written by this request */
    int64_t max_bytes;
    int started;         /* first body chunk seen, status checked */
    int restart;         /* server ignored the Range: start from zero */
    int refused;         /* HTTP status not 200/206: body discarded */
    int too_big, io_error;
    const hub_net *net;
    const char *label;
} dl_state;

static size_t dl_write(char *p, size_t sz, size_t n, void *arg)
{
    dl_state *s = arg;
    size_t k = sz * n;
    if (!s->started) {
        s->started = 1;
        long code = 0;
        curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &code);
        if (code == 200 && s->have > 0) {
            /* Range not honoured: the body is the whole file again. */
            if (ftruncate(s->fd, 0) != 0 || lseek(s->fd, 0, SEEK_SET) != 0) {
                s->io_error = 1;
                return 0;
            }
            EVP_DigestInit_ex(s->md5, EVP_md5(), NULL);
            s->have = 0;
            s->restart = 1;
        } else if (code != 200 && code != 206) {
            s->refused = 1;
        }
    }
    if (s->refused)
        return k; /* drain an error page without keeping it */
    if (s->have + s->written + (int64_t)k > s->max_bytes) {
        s->too_big = 1;
        return 0;
    }
    size_t done = 0;
    while (done < k) {
        ssize_t w = write(s->fd, p + done, k - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            s->io_error = 1;
            return 0;
        }
        done += (size_t)w;
    }
    EVP_DigestUpdate(s->md5, p, k);
    s->written += (int64_t)k;
    return k;
}

static int dl_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    (void)ultotal;
    (void)ulnow;
    dl_state *s = arg;
    const cvm_hub_request *r = s->net->req;
    if (r && r->progress && !s->refused)
        r->progress(r->progress_arg, s->label, s->have + (int64_t)dlnow, dltotal > 0 ? s->have + (int64_t)dltotal : 0);
    return 0;
}

/* Feeds the bytes already in the partial file into the digest. */
static int rehash_partial(int fd, EVP_MD_CTX *md5, int64_t *have)
{
    if (lseek(fd, 0, SEEK_SET) != 0)
        return 0;
    unsigned char buf[65536];
    int64_t total = 0;
    for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return 0;
        if (r == 0)
            break;
        EVP_DigestUpdate(md5, buf, (size_t)r);
        total += r;
    }
    *have = total;
    return 1;
}

cvm_status hub_download_file(hub_net *net, const char *url, const char *md5, const char *partial, const char *dest,
                             const char *label)
{
    pthread_once(&curl_once, curl_init);
    if (curl_init_result != CURLE_OK)
        return cvm_errorf(CVM_E_IO, "libcurl failed to initialise");
    char *wurl = NULL;
    CVM_TRY(hub_wrap_url(net, url, &wurl));
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx) {
        free(wurl);
        return cvm_errorf(CVM_E_NOMEM, "out of memory");
    }
    char errbuf[CURL_ERROR_SIZE];
    cvm_status st = CVM_E_IO;
    int fresh_retry_used = 0;
    for (int attempt = 0; attempt < net->max_tries + 1; attempt++) {
        int fd = open(partial, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) {
            st = cvm_errorf(CVM_E_IO, "cannot write %s: %s", partial, strerror(errno));
            break;
        }
        dl_state s;
        memset(&s, 0, sizeof s);
        s.fd = fd;
        s.md5 = ctx;
        s.net = net;
        s.label = label;
        s.max_bytes = net->max_file_bytes;
        EVP_DigestInit_ex(ctx, EVP_md5(), NULL);
        if (!rehash_partial(fd, ctx, &s.have) || lseek(fd, 0, SEEK_END) != (off_t)s.have) {
            close(fd);
            st = cvm_errorf(CVM_E_IO, "cannot read back %s: %s", partial, strerror(errno));
            break;
        }
        int64_t had = s.have;
        CURL *c = curl_easy_init();
        if (!c) {
            close(fd);
            st = cvm_errorf(CVM_E_NOMEM, "libcurl could not create a handle");
            break;
        }
        s.curl = c;
        errbuf[0] = '\0';
        common_opts(c, net, errbuf);
        curl_easy_setopt(c, CURLOPT_URL, wurl);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, dl_write);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, dl_progress);
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, &s);
        if (had > 0)
            curl_easy_setopt(c, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)had);
        CURLcode rc = curl_easy_perform(c);
        long code = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        curl_easy_cleanup(c);
        int synced = fsync(fd) == 0;
        close(fd);
        if (s.too_big) {
            unlink(partial);
            st = cvm_errorf(CVM_E_LIMIT, "%s is larger than the %lld MiB ceiling (CVM_HUB_MAX_FILE_MB); refused",
                            label, (long long)(net->max_file_bytes >> 20));
            break;
        }
        if (s.io_error || !synced) {
            st = cvm_errorf(CVM_E_IO, "cannot write %s: %s (disk full?)", partial, strerror(errno));
            break;
        }
        if (rc == CURLE_OK && code != 200 && code != 206)
            s.refused = 1; /* an error status with an empty body */
        if (rc == CURLE_RANGE_ERROR || code == 416) {
            /* The partial file may already be complete, or the server cannot
             * resume: check it, else start over. */
            if (had > 0) {
                unsigned char d[16];
                unsigned int dl = 0;
                EVP_MD_CTX *chk = EVP_MD_CTX_new();
                int fd2 = chk ? open(partial, O_RDONLY | O_CLOEXEC) : -1;
                int64_t h2 = 0;
                char hex[33] = "";
                if (fd2 >= 0 && EVP_DigestInit_ex(chk, EVP_md5(), NULL) == 1 && rehash_partial(fd2, chk, &h2) &&
                    EVP_DigestFinal_ex(chk, d, &dl) == 1)
                    for (int i = 0; i < 16; i++)
                        sprintf(hex + 2 * i, "%02x", d[i]);
                if (fd2 >= 0)
                    close(fd2);
                EVP_MD_CTX_free(chk);
                if (strcmp(hex, md5) == 0 && rename(partial, dest) == 0) {
                    st = CVM_OK;
                    break;
                }
            }
            unlink(partial);
            st = cvm_errorf(CVM_E_IO, "server refused to resume %s (HTTP %ld)", label, code);
            continue;
        }
        if (rc != CURLE_OK || s.refused) {
            if (rc != CURLE_OK) {
                net->last_was_network = 1;
                st = cvm_errorf(CVM_E_IO, "downloading %s failed after %d attempt%s (%lld bytes kept for resuming): %s%s%s",
                                label, attempt + 1, attempt ? "s" : "", (long long)(s.have + s.written),
                                curl_easy_strerror(rc), errbuf[0] ? " - " : "", errbuf);
                if (retryable_curl(rc)) {
                    backoff(net, attempt);
                    continue;
                }
                break;
            }
            if (retryable_http(code) || code >= 500) {
                st = cvm_errorf(CVM_E_IO, "downloading %s: server answered HTTP %ld after %d attempt%s", label, code,
                                attempt + 1, attempt ? "s" : "");
                backoff(net, attempt);
                continue;
            }
            if (code == 403 || code == 401)
                st = cvm_errorf(CVM_E_IO,
                                "downloading %s: the storage server refused the link (HTTP %ld); signed download "
                                "links expire, so load the model again to get fresh ones",
                                label, code);
            else
                st = cvm_errorf(CVM_E_IO, "downloading %s: server answered HTTP %ld", label, code);
            break;
        }
        unsigned char d[16];
        unsigned int dl = 0;
        EVP_DigestFinal_ex(ctx, d, &dl);
        char hex[33];
        for (int i = 0; i < 16; i++)
            sprintf(hex + 2 * i, "%02x", d[i]);
        if (strcmp(hex, md5) != 0) {
            unlink(partial);
            st = cvm_errorf(CVM_E_PARSE,
                            "%s failed its integrity check: MD5 %s, expected %s (%lld bytes); the file was "
                            "discarded",
                            label, hex, md5, (long long)(s.have + s.written));
            /* A resumed download may have spliced a stale partial file onto
             * a changed one: one clean retry settles it. */
            if (had > 0 && !s.restart && !fresh_retry_used) {
                fresh_retry_used = 1;
                continue;
            }
            break;
        }
        if (rename(partial, dest) != 0) {
            st = cvm_errorf(CVM_E_IO, "cannot move %s to %s: %s", partial, dest, strerror(errno));
            break;
        }
        st = CVM_OK;
        break;
    }
    EVP_MD_CTX_free(ctx);
    free(wurl);
    return st;
}
