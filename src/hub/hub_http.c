/* HTTP with libcurl: the weights API (retries, pagination, typed errors) and
 * verified, resumable file downloads. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
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
    net->connections = (int)env_long("CVM_DOWNLOAD_CONNECTIONS", 4, 1, HUB_MAX_CONNECTIONS);
    net->parallel_min_bytes = (int64_t)env_long("CVM_DOWNLOAD_PARALLEL_MIN_BYTES", 32L << 20, 1, LONG_MAX);
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

static long backoff_ms(const hub_net *net, int attempt)
{
    long ms = net->retry_base_ms;
    for (int i = 0; i < attempt && ms < 30000; i++)
        ms *= 2;
    return ms > 30000 ? 30000 : ms;
}

static void backoff(const hub_net *net, int attempt) { hub_sleep_ms(backoff_ms(net, attempt)); }

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

/* What the headers of the final response (after redirects) said. */
typedef struct hdr_seen {
    char content_range[96];
    int accept_ranges;
} hdr_seen;

static size_t hdr_cb(char *p, size_t sz, size_t n, void *arg)
{
    hdr_seen *h = arg;
    size_t k = sz * n;
    if (k >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        memset(h, 0, sizeof *h); /* a new response: forget a redirect's headers */
    } else if (k > 14 && strncasecmp(p, "content-range:", 14) == 0) {
        size_t i = 14, j = k;
        while (i < j && (p[i] == ' ' || p[i] == '\t'))
            i++;
        while (j > i && (p[j - 1] == '\r' || p[j - 1] == '\n' || p[j - 1] == ' '))
            j--;
        size_t len = j - i < sizeof h->content_range - 1 ? j - i : sizeof h->content_range - 1;
        memcpy(h->content_range, p + i, len);
        h->content_range[len] = '\0';
    } else if (k > 14 && strncasecmp(p, "accept-ranges:", 14) == 0) {
        for (size_t i = 14; i + 5 <= k; i++)
            if (strncasecmp(p + i, "bytes", 5) == 0)
                h->accept_ranges = 1;
    }
    return k;
}

static int parse_dec(const char **s, int64_t *v)
{
    const char *p = *s;
    int64_t x = 0;
    if (*p < '0' || *p > '9')
        return 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (x > (INT64_MAX - 9) / 10)
            return 0;
        x = x * 10 + (*p - '0');
    }
    *s = p;
    *v = x;
    return 1;
}

/* "bytes a-b/total" (total may be '*', given as -1). */
static int parse_content_range(const char *s, int64_t *a, int64_t *b, int64_t *total)
{
    if (strncasecmp(s, "bytes", 5) != 0)
        return 0;
    s += 5;
    while (*s == ' ')
        s++;
    if (!parse_dec(&s, a) || *s++ != '-' || !parse_dec(&s, b) || *s++ != '/' || *b < *a)
        return 0;
    if (*s == '*') {
        *total = -1;
        s++;
    } else if (!parse_dec(&s, total) || *total <= *b) {
        return 0;
    }
    return *s == '\0';
}

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
    int bad_range;       /* 206 for another range than the one asked for */
    hdr_seen hdr;
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
        } else if (code == 206 && s->have > 0) {
            int64_t a, b, t;
            if (!parse_content_range(s->hdr.content_range, &a, &b, &t) || a != s->have) {
                s->bad_range = 1;
                return 0;
            }
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

/* ------------------------------------------------ parallel ranged download
 *
 * One thread drives every connection through libcurl's multi interface.  The
 * first request is a plain GET: when its headers show a file of at least
 * parallel_min_bytes and "Accept-Ranges: bytes", the file is split into
 * `connections` segments, that GET keeps the first one and ranged GETs fetch
 * the others, each written at its offset.  Otherwise the same GET simply
 * carries on as the one stream, so small files cost no extra request.
 *
 * A journal beside the partial file (<partial>.ranges, fixed-width records
 * rewritten in place) says how far each segment got, so a process killed
 * mid-way resumes every segment from its position.  It only ever records
 * bytes already handed to the kernel, so a crash of the process cannot make
 * it claim bytes that are not in the file; a power loss can, and the MD5
 * check then catches it.
 *
 * The MD5 is computed once the file is complete, by reading it back, rather
 * than incrementally over the growing contiguous prefix: segments finish in
 * any order, so a prefix digest would have to re-read from disk (or hold
 * out-of-order data in memory) anyway, and a digest state cannot be kept
 * across a kill -9 while the journal can.  Reading back a file that has just
 * been written comes from the page cache and costs little next to the
 * download. */

#define PAR_REC_LEN 63 /* "%020lld %020lld %020lld\n" */
#define PAR_HDR_LEN 38 /* "cvm-ranges-v1 %020lld %02d\n" */
#define PAR_JOURNAL_EVERY (256 << 10)

typedef enum { PAR_DONE, PAR_SINGLE, PAR_ERROR } par_result;

struct par;

typedef struct seg {
    int64_t start, end;    /* [start, end); end < 0 while the probe's size is unknown */
    int64_t pos;           /* next byte to write */
    int64_t journaled;     /* pos as last written to the journal */
    CURL *h;
    int tries;
    int64_t retry_at_ms;
    int done;
    int probe;             /* the plain GET that learns the size */
    int checked;           /* status and Content-Range checked */
    int stopped;           /* the write callback ended it at its segment end */
    int refused;           /* HTTP status that carries no file bytes */
    long code;
    hdr_seen hdr;
    char errbuf[CURL_ERROR_SIZE];
    char range[64];
    struct par *p;
} seg;

typedef struct par {
    hub_net *net;
    const char *url, *label, *partial, *journal;
    int fd, jfd;
    int64_t size;          /* -1 until known */
    int n;                 /* segments in use */
    int single;            /* the probe found the file unfit to split */
    int fallback;          /* ranges proved unreliable: finish as one stream */
    int too_big, io_error, fatal;
    char why[256];         /* fallback or fatal reason */
    int64_t last_done;
    seg segs[HUB_MAX_CONNECTIONS];
} par;

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int pwrite_all(int fd, const void *buf, size_t n, int64_t off)
{
    const char *p = buf;
    while (n) {
        ssize_t w = pwrite(fd, p, n, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return 0;
        p += w;
        n -= (size_t)w;
        off += w;
    }
    return 1;
}

static int journal_record(par *p, int i)
{
    seg *s = &p->segs[i];
    char rec[PAR_REC_LEN + 1];
    snprintf(rec, sizeof rec, "%020lld %020lld %020lld\n", (long long)s->start, (long long)s->end, (long long)s->pos);
    if (!pwrite_all(p->jfd, rec, PAR_REC_LEN, PAR_HDR_LEN + (int64_t)i * PAR_REC_LEN))
        return 0;
    s->journaled = s->pos;
    return 1;
}

static int journal_create(par *p)
{
    p->jfd = open(p->journal, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (p->jfd < 0)
        return 0;
    char hdr[PAR_HDR_LEN + 1];
    snprintf(hdr, sizeof hdr, "cvm-ranges-v1 %020lld %02d\n", (long long)p->size, p->n);
    if (strlen(hdr) != PAR_HDR_LEN || !pwrite_all(p->jfd, hdr, PAR_HDR_LEN, 0))
        return 0;
    for (int i = 0; i < p->n; i++)
        if (!journal_record(p, i))
            return 0;
    return 1;
}

/* Loads a journal left by an earlier run; 0 when it is missing, damaged or
 * does not match the partial file. */
static int journal_load(par *p)
{
    char buf[PAR_HDR_LEN + HUB_MAX_CONNECTIONS * PAR_REC_LEN + 1];
    int fd = open(p->journal, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t got = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (got < PAR_HDR_LEN)
        return 0;
    buf[got] = '\0';
    long long size = 0;
    int n = 0;
    if (sscanf(buf, "cvm-ranges-v1 %20lld %2d", &size, &n) != 2 || n < 1 || n > HUB_MAX_CONNECTIONS ||
        size < n || size > p->net->max_file_bytes || got != PAR_HDR_LEN + (ssize_t)n * PAR_REC_LEN)
        return 0;
    struct stat st;
    if (fstat(p->fd, &st) != 0 || st.st_size != size)
        return 0;
    int64_t expect = 0;
    for (int i = 0; i < n; i++) {
        long long a, b, c;
        const char *r = buf + PAR_HDR_LEN + i * PAR_REC_LEN;
        if (r[PAR_REC_LEN - 1] != '\n' || sscanf(r, "%20lld %20lld %20lld", &a, &b, &c) != 3 || a != expect ||
            b <= a || c < a || c > b || b > size)
            return 0;
        seg *s = &p->segs[i];
        memset(s, 0, sizeof *s);
        s->start = a;
        s->end = b;
        s->pos = s->journaled = c;
        s->done = c == b;
        s->p = p;
        expect = b;
    }
    if (expect != size)
        return 0;
    p->size = size;
    p->n = n;
    p->jfd = open(p->journal, O_RDWR | O_CLOEXEC);
    return p->jfd >= 0;
}

/* The probe's headers show a file worth splitting: lay out the segments. The
 * journal is written before the file is extended, so a partial file with
 * holes never exists without a journal describing it. */
static int par_split(par *p, int64_t size)
{
    int n = p->net->connections;
    if ((int64_t)n > size)
        n = (int)size;
    p->size = size;
    p->n = n;
    for (int i = 0; i < n; i++) {
        seg *s = &p->segs[i];
        if (i > 0) {
            memset(s, 0, sizeof *s);
            s->p = p;
        }
        s->start = size / n * i;
        s->end = i == n - 1 ? size : size / n * (i + 1);
        if (i > 0)
            s->pos = s->journaled = s->start;
    }
    return journal_create(p) && ftruncate(p->fd, (off_t)size) == 0;
}

static size_t seg_write(char *ptr, size_t sz, size_t nm, void *arg)
{
    seg *s = arg;
    par *p = s->p;
    size_t k = sz * nm;
    if (!s->checked) {
        s->checked = 1;
        curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &s->code);
        if (s->probe) {
            curl_off_t cl = -1;
            curl_easy_getinfo(s->h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
            if (s->code != 200) {
                s->refused = 1;
                return 0;
            }
            if (cl > p->net->max_file_bytes) {
                p->too_big = 1;
                return 0;
            }
            if (cl >= p->net->parallel_min_bytes && cl >= 2 && s->hdr.accept_ranges) {
                if (!par_split(p, (int64_t)cl)) {
                    p->io_error = 1;
                    return 0;
                }
            } else {
                p->single = 1;
            }
        } else {
            int64_t a, b, t;
            if (s->code == 200) {
                p->fallback = 1;
                snprintf(p->why, sizeof p->why, "the server ignored Range: bytes=%s", s->range);
                return 0;
            }
            if (s->code != 206) {
                s->refused = 1;
                return 0;
            }
            if (!parse_content_range(s->hdr.content_range, &a, &b, &t) || a != s->pos || b != s->end - 1 ||
                t != p->size) {
                p->fallback = 1;
                snprintf(p->why, sizeof p->why, "the server answered Content-Range '%s' to Range: bytes=%s",
                         s->hdr.content_range, s->range);
                return 0;
            }
        }
    }
    size_t take = k;
    if (s->end >= 0 && s->pos + (int64_t)k > s->end) {
        if (!s->probe) {
            p->fallback = 1;
            snprintf(p->why, sizeof p->why, "the server sent more than the %s asked for", s->range);
            return 0;
        }
        take = (size_t)(s->end - s->pos);
    }
    if (s->end < 0 && s->pos + (int64_t)k > p->net->max_file_bytes) {
        p->too_big = 1;
        return 0;
    }
    if (take && !pwrite_all(p->fd, ptr, take, s->pos)) {
        p->io_error = 1;
        return 0;
    }
    s->pos += (int64_t)take;
    if (!p->single && p->n > 0 && s->pos - s->journaled >= PAR_JOURNAL_EVERY && !journal_record(p, (int)(s - p->segs))) {
        p->io_error = 1;
        return 0;
    }
    if (take < k) {
        s->stopped = 1; /* the rest belongs to the other segments */
        return 0;
    }
    return k;
}

static int seg_start(par *p, CURLM *m, seg *s)
{
    CURL *c = curl_easy_init();
    if (!c)
        return 0;
    s->h = c;
    s->checked = s->stopped = s->refused = 0;
    s->code = 0;
    s->errbuf[0] = '\0';
    memset(&s->hdr, 0, sizeof s->hdr);
    common_opts(c, p->net, s->errbuf);
    curl_easy_setopt(c, CURLOPT_URL, p->url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, seg_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, hdr_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &s->hdr);
    curl_easy_setopt(c, CURLOPT_PRIVATE, s);
    if (!s->probe) {
        snprintf(s->range, sizeof s->range, "%lld-%lld", (long long)s->pos, (long long)s->end - 1);
        curl_easy_setopt(c, CURLOPT_RANGE, s->range);
    }
    if (curl_multi_add_handle(m, c) != CURLM_OK) {
        curl_easy_cleanup(c);
        s->h = NULL;
        return 0;
    }
    return 1;
}

static void seg_stop(CURLM *m, seg *s)
{
    if (s->h) {
        curl_multi_remove_handle(m, s->h);
        curl_easy_cleanup(s->h);
        s->h = NULL;
    }
}

/* A segment's transfer ended: done, retried later, or the whole download
 * gives up.  Returns PAR_SINGLE when the probe should hand over to the
 * one-stream path, else PAR_DONE (meaning: keep going). */
static par_result seg_finished(par *p, CURLM *m, seg *s, CURLcode rc)
{
    long code = s->code;
    if (!s->checked)
        curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &code);
    seg_stop(m, s);
    int idx = (int)(s - p->segs);
    if (p->too_big || p->io_error || p->fallback)
        return PAR_DONE;
    if (s->probe && p->single) {
        if (rc == CURLE_OK && code == 200) {
            s->done = 1;
            p->size = s->pos;
            return PAR_DONE;
        }
        return PAR_SINGLE; /* broken stream: the one-stream path resumes it */
    }
    if (s->probe && p->n == 0)
        return PAR_SINGLE; /* error status or empty body: that path reports it */
    s->probe = 0;
    if (s->stopped || s->pos == s->end) {
        /* Every byte of the segment arrived under a checked Content-Range;
         * an error after the last one does not matter. */
        s->done = 1;
        if (!journal_record(p, idx))
            p->io_error = 1;
        return PAR_DONE;
    }
    char reason[CURL_ERROR_SIZE + 96];
    int retry;
    if (s->refused || (rc == CURLE_OK && !s->checked && code != 206)) {
        snprintf(reason, sizeof reason, "HTTP %ld", code);
        retry = retryable_http(code) || code >= 500;
        if (code == 401 || code == 403)
            snprintf(reason, sizeof reason,
                     "HTTP %ld: the storage server refused the link; signed download links expire, so load the "
                     "model again to get fresh ones",
                     code);
    } else if (rc != CURLE_OK) {
        snprintf(reason, sizeof reason, "%s%s%s", curl_easy_strerror(rc), s->errbuf[0] ? " - " : "", s->errbuf);
        retry = retryable_curl(rc);
        p->net->last_was_network = 1;
    } else {
        snprintf(reason, sizeof reason, "the response ended at byte %lld", (long long)s->pos);
        retry = 1;
    }
    if (!journal_record(p, idx)) {
        p->io_error = 1;
        return PAR_DONE;
    }
    s->tries++;
    if (!retry || s->tries >= p->net->max_tries) {
        int64_t done = 0;
        for (int i = 0; i < p->n; i++)
            done += p->segs[i].pos - p->segs[i].start;
        p->fatal = 1;
        cvm_errorf(CVM_E_IO,
                   "downloading %s: segment %d of %d (bytes %lld-%lld) failed after %d attempt%s: %s (%lld of %lld "
                   "bytes kept for resuming)",
                   p->label, idx + 1, p->n, (long long)s->start, (long long)s->end - 1, s->tries,
                   s->tries > 1 ? "s" : "", reason, (long long)done, (long long)p->size);
        return PAR_DONE;
    }
    s->retry_at_ms = mono_ms() + backoff_ms(p->net, s->tries - 1);
    return PAR_DONE;
}

static void par_progress(par *p)
{
    const cvm_hub_request *r = p->net->req;
    if (!r || !r->progress)
        return;
    int64_t done = 0;
    int n = p->n ? p->n : 1;
    for (int i = 0; i < n; i++)
        done += p->segs[i].pos - p->segs[i].start;
    if (done == p->last_done)
        return;
    p->last_done = done;
    int64_t total = p->size;
    if (total < 0) {
        curl_off_t cl = -1;
        if (p->segs[0].h)
            curl_easy_getinfo(p->segs[0].h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
        total = cl > 0 ? (int64_t)cl : 0;
    }
    r->progress(r->progress_arg, p->label, done, total);
}

static par_result par_loop(par *p)
{
    CURLM *m = curl_multi_init();
    if (!m) {
        cvm_errorf(CVM_E_NOMEM, "libcurl could not create a multi handle");
        return PAR_ERROR;
    }
    par_result res = PAR_DONE;
    for (;;) {
        int64_t now = mono_ms(), wait_ms = 1000;
        int pending = 0;
        int n = p->n ? p->n : 1;
        for (int i = 0; i < n; i++) {
            seg *s = &p->segs[i];
            if (s->done || s->h)
                continue;
            pending = 1;
            if (now < s->retry_at_ms) {
                if (s->retry_at_ms - now < wait_ms)
                    wait_ms = s->retry_at_ms - now;
                continue;
            }
            if (!seg_start(p, m, s)) {
                cvm_errorf(CVM_E_NOMEM, "libcurl could not create a handle");
                res = PAR_ERROR;
                goto out;
            }
        }
        int running = 0;
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            char *priv = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
            seg *s = (seg *)(void *)priv;
            CURLcode rc = msg->data.result;
            if (seg_finished(p, m, s, rc) == PAR_SINGLE) {
                res = PAR_SINGLE;
                goto out;
            }
        }
        par_progress(p);
        if (p->too_big || p->io_error || p->fallback || p->fatal)
            break;
        int all = 1;
        n = p->n ? p->n : 1;
        for (int i = 0; i < n; i++)
            all &= p->segs[i].done;
        if (all)
            break;
        if (running || pending)
            curl_multi_poll(m, NULL, 0, (int)(wait_ms > 0 ? wait_ms : 0), NULL);
    }
out:
    for (int i = 0; i < HUB_MAX_CONNECTIONS; i++)
        seg_stop(m, &p->segs[i]);
    curl_multi_cleanup(m);
    return res;
}

/* Bytes 0..prefix are in place: the first segments that are complete plus
 * what the first unfinished one holds. */
static int64_t par_prefix(const par *p)
{
    int64_t prefix = 0;
    for (int i = 0; i < p->n; i++) {
        prefix = p->segs[i].pos;
        if (p->segs[i].pos < p->segs[i].end)
            break;
    }
    return prefix;
}

int64_t hub_partial_progress(const char *partial, int64_t *total)
{
    *total = 0;
    size_t jl = strlen(partial) + 8;
    char *journal = malloc(jl);
    if (!journal)
        return 0;
    snprintf(journal, jl, "%s.ranges", partial);
    hub_net net;
    hub_net_defaults(&net);
    par p;
    memset(&p, 0, sizeof p);
    p.net = &net;
    p.journal = journal;
    p.jfd = -1;
    p.fd = open(partial, O_RDONLY | O_CLOEXEC);
    int64_t done = 0;
    if (p.fd >= 0) {
        if (journal_load(&p)) {
            for (int i = 0; i < p.n; i++)
                done += p.segs[i].pos - p.segs[i].start;
            *total = p.size;
        } else {
            struct stat st;
            done = fstat(p.fd, &st) == 0 ? (int64_t)st.st_size : 0;
        }
        close(p.fd);
    }
    if (p.jfd >= 0)
        close(p.jfd);
    free(journal);
    return done;
}

/* Runs the parallel path when it applies.  PAR_SINGLE hands over to the
 * one-stream path with `partial` holding a contiguous prefix (or nothing)
 * and no journal; PAR_DONE means `dest` is in place; PAR_ERROR carries the
 * error. */
static par_result download_parallel(hub_net *net, const char *url, const char *md5, const char *partial,
                                    const char *dest, const char *label, cvm_status *st)
{
    size_t jl = strlen(partial) + 8;
    char *journal = malloc(jl);
    if (!journal) {
        *st = cvm_errorf(CVM_E_NOMEM, "out of memory");
        return PAR_ERROR;
    }
    snprintf(journal, jl, "%s.ranges", partial);
    par_result res = PAR_SINGLE;
    for (int pass = 0; pass < 2; pass++) {
        par *p = calloc(1, sizeof *p);
        if (!p) {
            *st = cvm_errorf(CVM_E_NOMEM, "out of memory");
            res = PAR_ERROR;
            break;
        }
        p->net = net;
        p->url = url;
        p->label = label;
        p->partial = partial;
        p->journal = journal;
        p->jfd = -1;
        p->size = -1;
        p->fd = open(partial, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (p->fd < 0) {
            *st = cvm_errorf(CVM_E_IO, "cannot write %s: %s", partial, strerror(errno));
            free(p);
            res = PAR_ERROR;
            break;
        }
        int resumed = journal_load(p);
        struct stat fs;
        if (!resumed) {
            if (hub_file_exists(journal)) {
                /* A journal that does not describe the file: neither can be trusted. */
                unlink(journal);
                if (ftruncate(p->fd, 0) != 0) {
                    *st = cvm_errorf(CVM_E_IO, "cannot write %s: %s", partial, strerror(errno));
                    close(p->fd);
                    free(p);
                    res = PAR_ERROR;
                    break;
                }
            }
            if (fstat(p->fd, &fs) != 0 || fs.st_size > 0 || net->connections < 2) {
                /* A prefix left by the one-stream path: it resumes its own. */
                close(p->fd);
                free(p);
                res = PAR_SINGLE;
                break;
            }
            memset(p->segs, 0, sizeof p->segs); /* journal_load may have filled some */
            p->segs[0].probe = 1;
            p->segs[0].end = -1;
            p->segs[0].p = p;
        }
        par_result r = par_loop(p);
        int synced = fsync(p->fd) == 0;
        if (p->jfd >= 0)
            close(p->jfd);
        close(p->fd);
        res = PAR_ERROR;
        if (r == PAR_ERROR) {
            *st = CVM_E_NOMEM;
        } else if (p->too_big) {
            unlink(journal);
            unlink(partial);
            *st = cvm_errorf(CVM_E_LIMIT, "%s is larger than the %lld MiB ceiling (CVM_HUB_MAX_FILE_MB); refused",
                             label, (long long)(net->max_file_bytes >> 20));
        } else if (p->io_error || !synced) {
            *st = cvm_errorf(CVM_E_IO, "cannot write %s: %s (disk full?)", partial, strerror(errno));
        } else if (r == PAR_SINGLE) {
            /* The probe stream broke or was refused: whatever it wrote is a
             * prefix, which the one-stream path resumes (with backoff). */
            if (p->segs[0].pos > 0)
                backoff(net, 0);
            res = PAR_SINGLE;
        } else if (p->fallback) {
            int64_t prefix = par_prefix(p);
            unlink(journal);
            if (truncate(partial, (off_t)prefix) != 0) {
                unlink(partial);
            }
            res = PAR_SINGLE;
        } else if (p->fatal) {
            *st = CVM_E_IO;
        } else {
            char hex[33];
            *st = hub_md5_file(partial, hex);
            if (*st == CVM_OK && strcmp(hex, md5) != 0) {
                unlink(journal);
                unlink(partial);
                *st = cvm_errorf(CVM_E_PARSE,
                                 "%s failed its integrity check: MD5 %s, expected %s (%lld bytes, %d connection%s); "
                                 "the file was discarded",
                                 label, hex, md5, (long long)p->size, p->n ? p->n : 1, p->n > 1 ? "s" : "");
                if (resumed && pass == 0) {
                    free(p);
                    continue; /* stale bytes from an earlier run: once more from scratch */
                }
            } else if (*st == CVM_OK) {
                /* Journal first: a complete file without one is taken for a
                 * finished prefix, never the other way round. */
                unlink(journal);
                if (rename(partial, dest) != 0)
                    *st = cvm_errorf(CVM_E_IO, "cannot move %s to %s: %s", partial, dest, strerror(errno));
                else
                    res = PAR_DONE;
            }
        }
        free(p);
        break;
    }
    free(journal);
    return res;
}

cvm_status hub_download_file(hub_net *net, const char *url, const char *md5, const char *partial, const char *dest,
                             const char *label)
{
    pthread_once(&curl_once, curl_init);
    if (curl_init_result != CURLE_OK)
        return cvm_errorf(CVM_E_IO, "libcurl failed to initialise");
    char *wurl = NULL;
    CVM_TRY(hub_wrap_url(net, url, &wurl));
    cvm_status pst = CVM_OK;
    par_result pr = download_parallel(net, wurl, md5, partial, dest, label, &pst);
    if (pr != PAR_SINGLE) {
        free(wurl);
        return pr == PAR_DONE ? CVM_OK : pst;
    }
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
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, hdr_cb);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, &s.hdr);
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
        if (s.bad_range) {
            /* What came back cannot be placed after the kept bytes: start
             * over without a Range. */
            unlink(partial);
            st = cvm_errorf(CVM_E_IO, "downloading %s: the server answered Content-Range '%s' to a resume from byte %lld",
                            label, s.hdr.content_range, (long long)had);
            continue;
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
