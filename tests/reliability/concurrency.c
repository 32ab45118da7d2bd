/*
 * One session shared by many threads must give exactly the results of
 * running the same inputs one after another, and sessions created and freed
 * in parallel must not disturb each other.
 *
 * usage: concurrency MODEL.onnx [--threads T] [--iters N] [--variants V]
 *                               [--sizes S1,S2,...] [--create R] [--pool P]
 *
 *  T threads x N runs each on one session; run i of thread t feeds input
 *  variant (3t + i) mod V, so neighbouring threads work on different data at
 *  the same time.  --sizes feeds square images of these sizes (models with
 *  symbolic H and W), one per variant in turn, so concurrent runs also build,
 *  share and evict cached plans (more than 8 sizes force eviction).  --create
 *  R: afterwards each thread creates, runs and frees R sessions of its own.
 *  --pool P: worker threads of the shared session (default 0 = all cores).
 *
 * References come from sequential runs on the shared session and on a
 * one-thread session; both must agree bit for bit, as must every concurrent
 * result.  Exit status 0 when everything matched.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "common.h"

#define MAX_IN 4
#define MAX_OUT 8
#define MAX_VARIANTS 64

typedef struct feed {
    size_t n_in, n_out;
    const char *names[MAX_IN];
    cvm_tensor *in[MAX_IN];
    cvm_tensor *ref[MAX_OUT];
} feed;

static const char *model_path;
static uint8_t *model_bytes;
static size_t model_size;
static cvm_session *shared;
static feed variants[MAX_VARIANTS];
static int n_variants = 8, iters = 20, n_threads = 8, n_create = 2;
static int sizes[MAX_VARIANTS], n_sizes;
static atomic_int mismatches, failures;
static pthread_barrier_t start_line;

static void run_feed(cvm_session *s, const feed *f, cvm_tensor **out, const char *what)
{
    rel_check(cvm_session_run(s, f->n_in, f->names, (const cvm_tensor *const *)f->in, f->n_out, NULL, out), what);
}

static void free_outputs(cvm_tensor **out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cvm_tensor_free(out[i]);
}

static int matches(const feed *f, cvm_tensor **out)
{
    for (size_t o = 0; o < f->n_out; o++)
        if (!rel_same_tensor(f->ref[o], out[o]))
            return 0;
    return 1;
}

static void *shared_worker(void *arg)
{
    int t = (int)(intptr_t)arg;
    pthread_barrier_wait(&start_line);
    for (int i = 0; i < iters; i++) {
        const feed *f = &variants[(3 * t + i) % n_variants];
        cvm_tensor *out[MAX_OUT] = {0};
        cvm_status st =
            cvm_session_run(shared, f->n_in, f->names, (const cvm_tensor *const *)f->in, f->n_out, NULL, out);
        if (st != CVM_OK) {
            if (atomic_fetch_add(&failures, 1) < 5)
                fprintf(stderr, "thread %d run %d: %s\n", t, i, cvm_last_error());
        } else if (!matches(f, out)) {
            if (atomic_fetch_add(&mismatches, 1) < 5)
                fprintf(stderr, "thread %d run %d (variant %d): output differs from the sequential run\n", t, i,
                        (3 * t + i) % n_variants);
        }
        free_outputs(out, f->n_out);
    }
    return NULL;
}

static void *create_worker(void *arg)
{
    int t = (int)(intptr_t)arg;
    pthread_barrier_wait(&start_line);
    for (int r = 0; r < n_create; r++) {
        cvm_session_options o;
        cvm_session_options_init(&o);
        o.threads = 1 + (t + r) % 2;
        cvm_session *s = NULL;
        /* Alternate file and memory loading: both paths share the loader. */
        cvm_status st = (t + r) % 2 ? cvm_session_create(model_path, &o, &s)
                                    : cvm_session_create_from_memory(model_bytes, model_size, NULL, &o, &s);
        if (st != CVM_OK) {
            if (atomic_fetch_add(&failures, 1) < 5)
                fprintf(stderr, "thread %d create %d: %s\n", t, r, cvm_last_error());
            continue;
        }
        const feed *f = &variants[(t + r) % n_variants];
        cvm_tensor *out[MAX_OUT] = {0};
        st = cvm_session_run(s, f->n_in, f->names, (const cvm_tensor *const *)f->in, f->n_out, NULL, out);
        if (st != CVM_OK)
            atomic_fetch_add(&failures, 1);
        else if (!matches(f, out))
            atomic_fetch_add(&mismatches, 1);
        free_outputs(out, f->n_out);
        cvm_session_free(s);
    }
    return NULL;
}

static double run_threads(void *(*fn)(void *))
{
    pthread_t th[256];
    pthread_barrier_init(&start_line, NULL, (unsigned)n_threads);
    double t0 = rel_now();
    for (int t = 0; t < n_threads; t++)
        if (pthread_create(&th[t], NULL, fn, (void *)(intptr_t)t) != 0) {
            fprintf(stderr, "FAIL: pthread_create\n");
            exit(1);
        }
    for (int t = 0; t < n_threads; t++)
        pthread_join(th[t], NULL);
    pthread_barrier_destroy(&start_line);
    return rel_now() - t0;
}

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *d = sz > 0 ? malloc((size_t)sz) : NULL;
    if (d && fread(d, 1, (size_t)sz, f) != (size_t)sz) {
        free(d);
        d = NULL;
    }
    fclose(f);
    *n = (size_t)sz;
    return d;
}

int main(int argc, char **argv)
{
    int pool = 0;
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL.onnx [--threads T] [--iters N] [--variants V] [--sizes S1,S2,...] "
                        "[--create R] [--pool P]\n", argv[0]);
        return 2;
    }
    model_path = argv[1];
    for (int i = 2; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--threads"))
            n_threads = atoi(v);
        else if (!strcmp(k, "--iters"))
            iters = atoi(v);
        else if (!strcmp(k, "--variants"))
            n_variants = atoi(v);
        else if (!strcmp(k, "--create"))
            n_create = atoi(v);
        else if (!strcmp(k, "--pool"))
            pool = atoi(v);
        else if (!strcmp(k, "--sizes")) {
            char *end;
            for (const char *p = v; *p && n_sizes < MAX_VARIANTS; p = *end ? end + 1 : end) {
                sizes[n_sizes++] = (int)strtol(p, &end, 10);
                if (end == p)
                    break;
            }
        } else {
            fprintf(stderr, "unknown option %s\n", k);
            return 2;
        }
    }
    if (n_threads < 1 || n_threads > 256 || n_variants < 1 || n_variants > MAX_VARIANTS || iters < 0) {
        fprintf(stderr, "bad counts\n");
        return 2;
    }
    if (n_sizes > n_variants)
        n_variants = n_sizes;
    model_bytes = slurp(model_path, &model_size);
    if (!model_bytes) {
        fprintf(stderr, "FAIL: cannot read %s\n", model_path);
        return 1;
    }

    cvm_session_options o;
    cvm_session_options_init(&o);
    o.threads = pool;
    double t0 = rel_now();
    rel_check(cvm_session_create(model_path, &o, &shared), model_path);
    cvm_session_options o1;
    cvm_session_options_init(&o1);
    o1.threads = 1;
    cvm_session *single = NULL;
    rel_check(cvm_session_create(model_path, &o1, &single), model_path);
    double t_load = rel_now() - t0;

    /* Sequential references. */
    t0 = rel_now();
    int differs_by_pool = 0;
    for (int v = 0; v < n_variants; v++) {
        feed *f = &variants[v];
        rel_make_inputs(shared, n_sizes ? sizes[v % n_sizes] : 0, v, &f->n_in, f->names, f->in, MAX_IN);
        rel_check(cvm_session_output_count(shared, &f->n_out), "output count");
        if (f->n_out > MAX_OUT) {
            fprintf(stderr, "FAIL: too many outputs\n");
            return 1;
        }
        run_feed(shared, f, f->ref, "reference run");
        cvm_tensor *one[MAX_OUT] = {0};
        run_feed(single, f, one, "one-thread reference run");
        if (!matches(f, one))
            differs_by_pool++;
        free_outputs(one, f->n_out);
    }
    double t_ref = rel_now() - t0;
    cvm_session_free(single);
    if (differs_by_pool)
        fprintf(stderr, "%d of %d variants differ between a %d-thread and a 1-thread session\n", differs_by_pool,
                n_variants, pool);

    double t_shared = run_threads(shared_worker);
    int shared_mismatch = atomic_load(&mismatches), shared_fail = atomic_load(&failures);
    double t_create = n_create > 0 ? run_threads(create_worker) : 0;
    int total = n_threads * iters;
    printf("model %s: load %.2f s; 2 x %d sequential reference runs %.2f s (%.1f ms each)\n", model_path, t_load,
           n_variants, t_ref, 1e3 * t_ref / (2 * n_variants));
    printf("shared session: %d threads x %d runs = %d in %.2f s (%.1f runs/s); %d mismatches, %d failures\n",
           n_threads, iters, total, t_shared, total / (t_shared > 0 ? t_shared : 1), shared_mismatch, shared_fail);
    if (n_create > 0)
        printf("parallel create/run/free: %d threads x %d sessions in %.2f s; %d mismatches, %d failures\n",
               n_threads, n_create, t_create, atomic_load(&mismatches) - shared_mismatch,
               atomic_load(&failures) - shared_fail);

    for (int v = 0; v < n_variants; v++) {
        free_outputs(variants[v].ref, variants[v].n_out);
        free_outputs(variants[v].in, variants[v].n_in);
    }
    cvm_session_free(shared);
    free(model_bytes);
    int bad = atomic_load(&mismatches) + atomic_load(&failures) + differs_by_pool;
    printf("%s\n", bad ? "FAIL" : "OK");
    return bad ? 1 : 0;
}
