/* Measured fp32 peak of this machine: independent FMA chains in vector
 * registers, on 1 thread and on N threads at once.
 *
 *   cc -O2 -pthread bench/peak_fma.c -o peak_fma && ./peak_fma [--seconds S] [--bf16] THREADS...
 *
 * Prints one JSON line per thread count:
 *   {"isa": "avx512f", "lanes": 16, "threads": 2, "gflops": 250.1}
 *
 * --bf16 measures the bf16 peak instead (bf16 products summed in float32,
 * as cvmodels' bf16 precision runs them): AMX tile products (four 16x16
 * float accumulators, tdpbf16ps) where the CPU and Linux allow AMX, else
 * AVX512_BF16 dot products (vdpbf16ps), else it fails.
 *
 * Uses AVX-512 (zmm) when the CPU has avx512f, else AVX2+FMA (ymm); the
 * choice is made at run time so that no -march flag is needed.  Each thread
 * keeps 16 accumulators: more than latency x throughput (4 x 2 on current
 * cores) so that the FMA ports, not the dependency chains, bound the rate.
 * The best of several repetitions is reported, which is the peak a kernel
 * could reach on this machine at this moment (including any frequency drop
 * that wide vectors cause), not a datasheet figure. */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHAINS 16
#define MAX_THREADS 256

static volatile float sink;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* x = x * m + a stays bounded (m < 1), so no denormals or infinities slow it. */
#define STEP(fma, i) acc##i = fma(acc##i, m, a)
#define ALL_STEPS(fma)                                                                       \
    STEP(fma, 0); STEP(fma, 1); STEP(fma, 2); STEP(fma, 3); STEP(fma, 4); STEP(fma, 5);      \
    STEP(fma, 6); STEP(fma, 7); STEP(fma, 8); STEP(fma, 9); STEP(fma, 10); STEP(fma, 11);    \
    STEP(fma, 12); STEP(fma, 13); STEP(fma, 14); STEP(fma, 15)

__attribute__((target("avx512f"))) static void chains_avx512(long iters)
{
    __m512 m = _mm512_set1_ps(0.999999f), a = _mm512_set1_ps(1e-6f);
    __m512 acc0 = _mm512_set1_ps(0.0f), acc1 = _mm512_set1_ps(0.1f), acc2 = _mm512_set1_ps(0.2f);
    __m512 acc3 = _mm512_set1_ps(0.3f), acc4 = _mm512_set1_ps(0.4f), acc5 = _mm512_set1_ps(0.5f);
    __m512 acc6 = _mm512_set1_ps(0.6f), acc7 = _mm512_set1_ps(0.7f), acc8 = _mm512_set1_ps(0.8f);
    __m512 acc9 = _mm512_set1_ps(0.9f), acc10 = _mm512_set1_ps(1.0f), acc11 = _mm512_set1_ps(1.1f);
    __m512 acc12 = _mm512_set1_ps(1.2f), acc13 = _mm512_set1_ps(1.3f), acc14 = _mm512_set1_ps(1.4f);
    __m512 acc15 = _mm512_set1_ps(1.5f);
    for (long i = 0; i < iters; i++) {
        ALL_STEPS(_mm512_fmadd_ps);
    }
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)),
                             _mm512_add_ps(_mm512_add_ps(acc4, acc5), _mm512_add_ps(acc6, acc7)));
    s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(acc8, acc9), _mm512_add_ps(acc10, acc11)),
                                       _mm512_add_ps(_mm512_add_ps(acc12, acc13), _mm512_add_ps(acc14, acc15))));
    float out[16];
    _mm512_storeu_ps(out, s);
    sink = out[0] + out[15];
}

__attribute__((target("avx2,fma"))) static void chains_avx2(long iters)
{
    __m256 m = _mm256_set1_ps(0.999999f), a = _mm256_set1_ps(1e-6f);
    __m256 acc0 = _mm256_set1_ps(0.0f), acc1 = _mm256_set1_ps(0.1f), acc2 = _mm256_set1_ps(0.2f);
    __m256 acc3 = _mm256_set1_ps(0.3f), acc4 = _mm256_set1_ps(0.4f), acc5 = _mm256_set1_ps(0.5f);
    __m256 acc6 = _mm256_set1_ps(0.6f), acc7 = _mm256_set1_ps(0.7f), acc8 = _mm256_set1_ps(0.8f);
    __m256 acc9 = _mm256_set1_ps(0.9f), acc10 = _mm256_set1_ps(1.0f), acc11 = _mm256_set1_ps(1.1f);
    __m256 acc12 = _mm256_set1_ps(1.2f), acc13 = _mm256_set1_ps(1.3f), acc14 = _mm256_set1_ps(1.4f);
    __m256 acc15 = _mm256_set1_ps(1.5f);
    for (long i = 0; i < iters; i++) {
        ALL_STEPS(_mm256_fmadd_ps);
    }
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)),
                             _mm256_add_ps(_mm256_add_ps(acc4, acc5), _mm256_add_ps(acc6, acc7)));
    s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(acc8, acc9), _mm256_add_ps(acc10, acc11)),
                                       _mm256_add_ps(_mm256_add_ps(acc12, acc13), _mm256_add_ps(acc14, acc15))));
    float out[8];
    _mm256_storeu_ps(out, s);
    sink = out[0] + out[7];
}

#if defined(__x86_64__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>

/* AVX512_BF16: 16 chains of 16 float lanes, each step 32 bf16 products. */
__attribute__((target("avx512f,avx512bf16"))) static void chains_bf16(long iters)
{
    __m512bh a = (__m512bh)_mm512_set1_epi32(0x3f003f00), b = (__m512bh)_mm512_set1_epi32(0x3a803a80);
    __m512 acc[CHAINS];
    for (int i = 0; i < CHAINS; i++)
        acc[i] = _mm512_set1_ps(0.1f * (float)i);
    for (long i = 0; i < iters; i++)
        for (int c = 0; c < CHAINS; c++)
            acc[c] = _mm512_dpbf16_ps(acc[c], a, b);
    float out[16];
    __m512 s = acc[0];
    for (int i = 1; i < CHAINS; i++)
        s = _mm512_add_ps(s, acc[i]);
    _mm512_storeu_ps(out, s);
    sink = out[0];
}

typedef struct tile_cfg {
    unsigned char palette, start_row, reserved[14];
    unsigned short colsb[16];
    unsigned char rows[16];
} tile_cfg;

/* AMX: four 16x16 accumulators fed by two A and two B tiles, each step
 * 4 x 16 x 16 x 32 bf16 products. */
__attribute__((target("amx-tile,amx-bf16"))) static void chains_amx(long iters)
{
    static const unsigned short ones[16 * 32] = {0};
    tile_cfg c;
    memset(&c, 0, sizeof c);
    c.palette = 1;
    for (int i = 0; i < 8; i++) {
        c.rows[i] = 16;
        c.colsb[i] = 64;
    }
    __asm__ volatile("" : : "r"(&c) : "memory"); /* gcc 12 drops the stores otherwise */
    _tile_loadconfig(&c);
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    _tile_loadd(4, ones, 64);
    _tile_loadd(5, ones, 64);
    _tile_loadd(6, ones, 64);
    _tile_loadd(7, ones, 64);
    for (long i = 0; i < iters; i++) {
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
    float out[16 * 16];
    _tile_stored(0, out, 64);
    _tile_release();
    sink = out[0];
}

static int have_amx(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(d & (1u << 22)) || !(d & (1u << 24)))
        return 0;
    /* Linux hands out the tile state only on request */
    return syscall(SYS_arch_prctl, 0x1023, 18) == 0;
}

static int have_avx512_bf16(void)
{
    unsigned a = 0, b, c, d;
    return __builtin_cpu_supports("avx512f") && __get_cpuid_count(7, 1, &a, &b, &c, &d) &&
           (a & (1u << 5));
}
#endif

typedef struct job {
    void (*fn)(long);
    long iters;
    pthread_barrier_t *start;
} job;

static void *worker(void *arg)
{
    job *j = arg;
    pthread_barrier_wait(j->start);
    j->fn(j->iters);
    return NULL;
}

/* Seconds for `threads` threads to each run `iters` iterations, measured
 * from the moment all of them are released together. */
static double timed(void (*fn)(long), long iters, int threads)
{
    pthread_t tid[MAX_THREADS];
    pthread_barrier_t start;
    job j = {fn, iters, &start};
    pthread_barrier_init(&start, NULL, (unsigned)threads + 1);
    int made = 0;
    for (; made < threads; made++)
        if (pthread_create(&tid[made], NULL, worker, &j) != 0)
            break;
    if (made < threads) {
        fprintf(stderr, "peak_fma: could only start %d of %d threads\n", made, threads);
        exit(1);
    }
    pthread_barrier_wait(&start);
    double t0 = now_s();
    for (int i = 0; i < threads; i++)
        pthread_join(tid[i], NULL);
    double dt = now_s() - t0;
    pthread_barrier_destroy(&start);
    return dt;
}

int main(int argc, char **argv)
{
    double seconds = 0.5;
    int counts[64], n_counts = 0, bf16 = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--bf16")) {
            bf16 = 1;
        } else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
            seconds = atof(argv[++i]);
            if (!(seconds > 0.0 && seconds <= 60.0)) {
                fprintf(stderr, "peak_fma: --seconds expects a number in (0, 60]\n");
                return 2;
            }
        } else {
            char *end;
            long t = strtol(argv[i], &end, 10);
            if (end == argv[i] || *end || t < 1 || t > MAX_THREADS || n_counts == 64) {
                fprintf(stderr, "usage: peak_fma [--seconds S] [--bf16] THREADS...  (1 <= THREADS <= %d)\n",
                        MAX_THREADS);
                return 2;
            }
            counts[n_counts++] = (int)t;
        }
    }
    if (!n_counts)
        counts[n_counts++] = 1;
    __builtin_cpu_init();
    void (*fn)(long);
    const char *isa;
    int lanes;
    double flops_per_iter;
    if (bf16) {
#if defined(__x86_64__)
        if (have_amx()) {
            /* per step: 4 tiles of 16 x 16 sums over 32 products */
            fn = chains_amx, isa = "amx-bf16", lanes = 256;
            flops_per_iter = 2.0 * 4 * 16 * 16 * 32;
        } else if (have_avx512_bf16()) {
            fn = chains_bf16, isa = "avx512_bf16", lanes = 16;
            flops_per_iter = 2.0 * 32 * CHAINS;
        } else
#endif
        {
            fprintf(stderr, "peak_fma: --bf16 needs AMX-BF16 or AVX512_BF16, which this CPU lacks\n");
            return 1;
        }
    } else if (__builtin_cpu_supports("avx512f")) {
        fn = chains_avx512, isa = "avx512f", lanes = 16;
    } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        fn = chains_avx2, isa = "avx2", lanes = 8;
    } else {
        fprintf(stderr, "peak_fma: this CPU has neither AVX-512F nor AVX2+FMA\n");
        return 1;
    }
    if (!bf16)
        flops_per_iter = 2.0 * lanes * CHAINS;
    /* Size one repetition to about seconds / 5 on one thread; every thread
     * count then runs the same work per thread. */
    long iters = 1 << 16;
    for (;;) {
        double dt = timed(fn, iters, 1);
        if (dt > 0.02 || iters > (1L << 40)) {
            iters = (long)(iters * (seconds / 5.0) / (dt > 1e-9 ? dt : 1e-9));
            break;
        }
        iters *= 4;
    }
    if (iters < 1)
        iters = 1;
    for (int c = 0; c < n_counts; c++) {
        double best = 0.0;
        for (int rep = 0; rep < 5; rep++) {
            double dt = timed(fn, iters, counts[c]);
            double gf = flops_per_iter * (double)iters * counts[c] / dt / 1e9;
            if (gf > best)
                best = gf;
        }
        printf("{\"isa\": \"%s\", \"lanes\": %d, \"threads\": %d, \"gflops\": %.1f}\n", isa, lanes, counts[c],
               best);
        fflush(stdout);
    }
    return 0;
}
