/* Unit tests of the neural-network operators: convolutions and products
 * against naive loops written here, the GEMM fast paths against the scalar
 * reference, and the remaining operators against values computed with
 * onnxruntime/numpy (inputs: val(i) = (((i*mul + add) % 17) - 8) / 4). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/gemm_f32.h"
#include "base/status.h"
#include "base/threadpool.h"
#include "graph/graph.h"
#include "runtime/eval.h"

static cvm_threadpool *pool2;

/* ------------------------------------------------------------- helpers */

typedef struct tnode {
    cvm_graph *g;
    cvm_attr *attrs;
} tnode;

static tnode mk(const char *op, int n_in, int n_out)
{
    tnode t;
    assert_int_equal(cvm_graph_create(&t.g), CVM_OK);
    int in[8], out[8];
    char name[16];
    for (int i = 0; i < n_in; i++) {
        snprintf(name, sizeof name, "i%d", i);
        assert_int_equal(cvm_graph_value(t.g, name, &in[i]), CVM_OK);
    }
    for (int i = 0; i < n_out; i++) {
        snprintf(name, sizeof name, "o%d", i);
        assert_int_equal(cvm_graph_value(t.g, name, &out[i]), CVM_OK);
    }
    int idx;
    assert_int_equal(cvm_graph_add_node(t.g, op, "", "n0", n_in, in, n_out, out, &idx), CVM_OK);
    t.attrs = calloc(16, sizeof(cvm_attr));
    t.g->nodes[0].attrs = t.attrs;
    return t;
}

static cvm_attr *new_attr(tnode *t, const char *name, cvm_attr_type ty)
{
    cvm_node *n = &t->g->nodes[0];
    assert_true(n->n_attr < 16);
    cvm_attr *a = &t->attrs[n->n_attr++];
    a->name = strdup(name);
    a->type = ty;
    return a;
}

static void a_int(tnode *t, const char *name, int64_t v) { new_attr(t, name, CVM_ATTR_INT)->i = v; }
static void a_float(tnode *t, const char *name, float v) { new_attr(t, name, CVM_ATTR_FLOAT)->f = v; }
static void a_str(tnode *t, const char *name, const char *v)
{
    cvm_attr *a = new_attr(t, name, CVM_ATTR_STRING);
    a->s = strdup(v);
    a->s_len = strlen(v);
}
static void a_ints(tnode *t, const char *name, int n, const int64_t *v)
{
    cvm_attr *a = new_attr(t, name, CVM_ATTR_INTS);
    a->ints = malloc((size_t)n * sizeof(int64_t));
    memcpy(a->ints, v, (size_t)n * sizeof(int64_t));
    a->n = (size_t)n;
}
#define A_INTS(t, name, ...)                                                  \
    do {                                                                      \
        const int64_t v_[] = {__VA_ARGS__};                                   \
        a_ints(t, name, (int)(sizeof v_ / sizeof v_[0]), v_);                 \
    } while (0)

static cvm_status eval(tnode *t, int opset, int n_in, cvm_tensor **in, int n_out, cvm_tensor **out,
                       cvm_threadpool *p)
{
    return cvm_node_eval(&t->g->nodes[0], opset, n_in, (const cvm_tensor *const *)in, n_out, out, p);
}

static cvm_tensor *tens(int ndim, const int64_t *dims)
{
    cvm_tensor *t = NULL;
    assert_int_equal(cvm_tensor_create(CVM_DTYPE_FLOAT32, ndim, dims, &t), CVM_OK);
    return t;
}
#define TENS(...) tens((int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__})

/* Deterministic, exactly representable test values. */
static void fill_val(cvm_tensor *t, int mul, int add)
{
    float *d = t->data;
    int64_t n = cvm_tensor_numel(t);
    for (int64_t i = 0; i < n; i++)
        d[i] = (float)((((i * mul + add) % 17) - 8)) / 4.0f;
}

static void fill_rand(float *d, int64_t n, unsigned *seed)
{
    for (int64_t i = 0; i < n; i++) {
        *seed = *seed * 1103515245u + 12345u;
        d[i] = (float)((*seed >> 16) % 2001) / 1000.0f - 1.0f;
    }
}

static void expect_close(const float *got, const float *want, int64_t n, float tol)
{
    for (int64_t i = 0; i < n; i++) {
        float d = fabsf(got[i] - want[i]);
        if (!(d <= tol * (1.0f + fabsf(want[i])))) {
            print_error("element %lld: got %g want %g\n", (long long)i, got[i], want[i]);
            fail();
        }
    }
}

static void expect_shape(const cvm_tensor *t, int ndim, const int64_t *dims)
{
    assert_non_null(t);
    assert_int_equal(t->ndim, ndim);
    for (int i = 0; i < ndim; i++)
        assert_int_equal(t->dims[i], dims[i]);
}
#define EXPECT_SHAPE(t, ...) \
    expect_shape(t, (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__})

static void free_all(cvm_tensor **t, int n)
{
    for (int i = 0; i < n; i++)
        cvm_tensor_free(t[i]);
}

/* Expected values (onnxruntime 1.x / numpy.einsum). */
static const float mp_ceil[18] = {0.75f, 1.75f, 1.5f, 2.0f, 2.0f, 1.25f, 1.75f, 1.75f, 1.0f, 2.0f, 1.5f, 0.75f, 2.0f, 1.5f, 0.75f, 2.0f, 1.25f, 0.5f};
static const float mp_val[36] = {0.75f, 0.75f, 1.75f, 1.75f, 1.75f, 1.5f, 0.5f, 2.0f, 2.0f, 2.0f, 1.5f, 1.25f, 0.0f, 1.75f, 1.75f, 1.75f, 1.0f, 1.0f, 2.0f, 2.0f, 2.0f, 1.5f, 1.25f, 0.75f, 2.0f, 2.0f, 1.75f, 1.25f, 1.0f, 0.5f, 1.5f, 1.5f, 1.5f, 0.75f, 0.75f, 0.0f};
static const int64_t mp_idx[36] = {6, 6, 9, 9, 9, 4, 18, 14, 14, 14, 21, 16, 25, 26, 26, 26, 28, 28, 31, 31, 31, 38, 33, 40, 48, 48, 43, 50, 45, 52, 55, 55, 55, 57, 57, 59};
static const int64_t mp_idx_cm[12] = {1, 16, 20, 3, 12, 22, 35, 41, 51, 33, 43, 53};
static const float ap_excl[24] = {-0.4375f, -0.291666657f, 0.375f, 0.0f, -0.625f, 0.111111112f, 0.305555552f, 0.166666672f, -0.8125f, 0.0416666679f, 0.0f, -0.375f, 0.0f, 0.5f, -0.25f, -0.625f, 0.166666672f, 0.194444448f, -0.555555582f, -1.16666663f, 0.6875f, 0.125f, -0.625f, -1.0f};
static const float ap_incl[24] = {-0.194444448f, -0.194444448f, 0.25f, 0.0f, -0.416666657f, 0.111111112f, 0.305555552f, 0.0833333358f, -0.361111104f, 0.027777778f, 0.0f, -0.125f, 0.0f, 0.333333343f, -0.166666672f, -0.208333328f, 0.111111112f, 0.194444448f, -0.555555582f, -0.583333313f, 0.305555552f, 0.0833333358f, -0.416666657f, -0.333333343f};
static const float ap_same[18] = {-0.375f, -0.583333313f, 0.0833333358f, -0.5625f, 0.291666657f, 0.25f, -0.8125f, 0.0416666679f, 0.0f, 1.125f, 0.916666687f, 0.166666672f, -0.125f, 0.375f, -0.375f, 0.6875f, 0.125f, -0.625f};
static const float lp_pool[12] = {2.33184481f, 2.66926956f, 2.19374108f, 2.56173778f, 2.56173778f, 2.16506362f, 2.85043859f, 2.25f, 2.33184481f, 2.70416355f, 2.16506362f, 2.56173778f};
static const float gap[2] = {-0.100000001f, -0.0166666675f};
static const float gmp[2] = {2.0f, 2.0f};
static const float bn[24] = {-1.05684137f, -0.173840463f, 0.709160447f, 1.59216142f, -1.69940054f, 0.174662799f, 2.04872632f, -2.44902587f, 1.38881159f, 0.505148947f, 2.62593937f, 1.74227667f, 0.532560289f, 1.4155612f, -0.703641057f, 0.179359913f, 1.67391336f, -2.82383847f, -0.949775219f, 0.924288154f, -0.201781154f, 1.91900921f, 1.03534651f, 0.151683927f};
static const float inorm[24] = {-0.420648694f, 0.0264504254f, 0.473549545f, 0.920648694f, -1.54642892f, 0.0634617805f, 1.67335248f, -2.19038534f, 0.767605186f, -0.394368827f, 2.39436865f, 1.2323947f, 0.366197407f, 0.947184384f, -0.447184384f, 0.133802593f, 1.19038522f, -2.67335272f, -1.06346178f, 0.546428978f, -0.126923561f, 2.44890165f, 1.37564111f, 0.302380562f};
static const float ln_y[24] = {-1.34129739f, -0.123549573f, -0.247099146f, 2.98259473f, -0.697619319f, 0.287820578f, -1.24890161f, -1.95384693f, 0.2323948f, 0.797184408f, 1.59436882f, -0.164789587f, 0.2323948f, 0.797184408f, 1.59436882f, -0.164789557f, 1.12692344f, -0.624450803f, 0.575641155f, 1.69523859f, 1.12692344f, -0.624450803f, 0.575641155f, 1.69523859f};
static const float ln_mean[6] = {0.125f, -0.1875f, -0.5f, 0.249999985f, -0.0625f, 0.6875f};
static const float ln_inv[6] = {0.715358615f, 0.858608365f, 0.929579198f, 0.929579198f, 0.858608365f, 0.858608365f};
static const float ln2_y[24] = {1.88048697f, 0.188048691f, 0.0f, 1.31634068f, -0.977853119f, -0.702048421f, -1.69243813f, 0.526536286f, -0.0125365788f, 0.952780008f, -2.54492569f, 0.789804459f, -0.26566267f, -0.929819405f, -0.0f, -0.185963869f, 1.22204828f, 3.47132564f, 0.841265082f, -0.194819301f, 0.363072336f, -1.09807229f, -0.0619879402f, -1.79765081f};
static const float gn[24] = {0.299968541f, 0.812186658f, 1.32440484f, 1.83662295f, 0.607299447f, 1.11951756f, 1.91945696f, -2.85783625f, -0.867297411f, 1.12324142f, -3.65405154f, -1.66351295f, 1.16587818f, 1.66351283f, 0.469189703f, 0.966824353f, 1.46445894f, 0.27013582f, -2.90246248f, -0.524384379f, 1.85369372f, -3.85369372f, -1.47561562f, 0.902462602f};
static const float lpn[24] = {-0.861640394f, -0.436435759f, 0.287347883f, 0.766261041f, -0.492365956f, 0.21821788f, 0.574695766f, -0.574695766f, -0.123091489f, 0.872871518f, -0.766261041f, -0.287347883f, 0.207390338f, 0.655610085f, -0.912870884f, 0.0f, 0.518475831f, -0.655610085f, -0.365148365f, 0.44721359f, 0.829561353f, -0.374634326f, 0.182574183f, 0.89442718f};
static const float lpn1[24] = {-0.349999994f, -0.100000001f, 0.150000006f, 0.400000006f, -0.235294119f, 0.0588235296f, 0.352941185f, -0.352941185f, -0.0625f, 0.25f, -0.5f, -0.1875f, 0.142857149f, 0.5f, -0.357142866f, 0.0f, 0.294117659f, -0.411764711f, -0.117647059f, 0.176470593f, 0.421052635f, -0.210526317f, 0.0526315793f, 0.315789461f};
static const float lrn[20] = {-1.28126502f, -0.731698871f, -0.18373926f, 0.368395209f, 0.915189326f, 1.46204233f, -1.09834039f, -0.548943758f, 0.0f, 0.548943758f, 1.09834039f, -1.46204233f, -0.915189326f, -0.366529316f, 0.183435187f, 0.731623471f, 1.28126502f, -1.28404629f, -0.73648417f, -0.184121042f};
static const float sm11[24] = {0.00837550871f, 0.0292333961f, 0.102034576f, 0.356135666f, 0.0177309494f, 0.0618871003f, 0.216007203f, 0.0107543655f, 0.0375364237f, 0.131014988f, 0.00652285246f, 0.0227669906f, 0.0576473437f, 0.201208994f, 0.0100176055f, 0.0349648818f, 0.122039422f, 0.00607598526f, 0.021207273f, 0.074020654f, 0.258357465f, 0.0128628602f, 0.0448957942f, 0.156701729f};
static const float sm13[24] = {0.131601647f, 0.131601647f, 0.314373672f, 0.913972139f, 0.278600693f, 0.278600693f, 0.665529072f, 0.0275995675f, 0.589797676f, 0.589797676f, 0.0200972371f, 0.0584282838f, 0.131601647f, 0.913972139f, 0.131601647f, 0.131601647f, 0.278600693f, 0.0275995675f, 0.278600693f, 0.278600693f, 0.589797676f, 0.0584282838f, 0.589797676f, 0.589797676f};
static const float lsm13[24] = {-2.35020661f, -2.35020661f, -0.126928046f, -0.126928046f, -2.35020661f, -0.126928046f, -0.126928046f, -2.35020661f, -2.35020661f, -0.126928046f, -2.35020661f, -2.35020661f, -0.100206584f, -0.100206584f, -2.12692809f, -2.12692809f, -0.100206584f, -2.12692809f, -2.12692809f, -0.100206584f, -0.100206584f, -2.12692809f, -0.100206584f, -0.100206584f};
static const float hm11[24] = {0.0f, 0.0f, 0.0f, 1.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 1.0f, 0.0f, 0.0f, 0.0f};
static const float hm13[24] = {0.0f, 0.0f, 0.0f, 1.0f, 0.0f, 0.0f, 1.0f, 0.0f, 1.0f, 1.0f, 0.0f, 0.0f, 0.0f, 1.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 1.0f, 0.0f, 1.0f, 1.0f};
static const float sm_def11[24] = {0.00837550871f, 0.0292333961f, 0.102034576f, 0.356135666f, 0.0177309494f, 0.0618871003f, 0.216007203f, 0.0107543655f, 0.0375364237f, 0.131014988f, 0.00652285246f, 0.0227669906f, 0.0576473437f, 0.201208994f, 0.0100176055f, 0.0349648818f, 0.122039422f, 0.00607598526f, 0.021207273f, 0.074020654f, 0.258357465f, 0.0128628602f, 0.0448957942f, 0.156701729f};
static const float es_mm[15] = {5.5625f, 1.8125f, -3.0f, -1.4375f, 3.3125f, -4.5f, -5.125f, 5.9375f, -1.0625f, -4.875f, 2.4375f, 4.9375f, -4.25f, -1.75f, 3.9375f};
static const float es_bmm[30] = {5.5625f, 1.8125f, -3.0f, -1.4375f, 3.3125f, -4.5f, -5.125f, 5.9375f, -1.0625f, -4.875f, 2.4375f, 4.9375f, -4.25f, -1.75f, 3.9375f, 7.125f, -1.0625f, 0.3125f, 0.625f, -1.1875f, -1.0f, -5.0f, 6.9375f, 5.0625f, -4.25f, -1.6875f, 3.8125f, -4.5f, -3.25f, 3.3125f};
static const float es_diag[4] = {-1.75f, 2.0f, 1.5f, 1.0f};
static const float es_ell[24] = {-1.25f, 1.5f, 0.0f, 0.5f, -1.0f, 1.75f, -2.0f, 0.75f, -0.75f, -0.25f, -1.75f, 1.0f, -1.5f, 1.25f, -0.25f, 0.25f, -1.25f, 1.5f, 2.0f, 0.5f, -1.0f, -0.5f, -2.0f, 0.75f};
static const float es_dot[1] = {-1.375f};
static const float es_impl[15] = {5.5625f, 1.8125f, -3.0f, -1.4375f, 3.3125f, -4.5f, -5.125f, 5.9375f, -1.0625f, -4.875f, 2.4375f, 4.9375f, -4.25f, -1.75f, 3.9375f};
static const float es_trans_impl[12] = {-1.25f, 1.5f, 0.0f, 0.5f, -1.0f, 1.75f, -2.0f, 0.75f, -0.75f, -0.25f, -1.75f, 1.0f};
static const float es_trace[1] = {2.75f};
static const float es_outer[36] = {1.875f, 0.3125f, -1.25f, 2.5f, 0.9375f, -0.625f, -0.75f, -0.125f, 0.5f, -1.0f, -0.375f, 0.25f, 3.0f, 0.5f, -2.0f, 4.0f, 1.5f, -1.0f, 0.375f, 0.0625f, -0.25f, 0.5f, 0.1875f, -0.125f, -2.25f, -0.375f, 1.5f, -3.0f, -1.125f, 0.75f, 1.5f, 0.25f, -1.0f, 2.0f, 0.75f, -0.5f};
static const float es_bdiag[6] = {-1.25f, 1.5f, 0.0f, 1.75f, 0.25f, -1.25f};

/* ---------------------------------------------------------------- GEMM */

static void test_gemm_kernels_vs_reference(void **st)
{
    (void)st;
    static const int64_t Ms[] = {1, 2, 5, 7, 8, 9, 16, 17, 33, 67};
    static const int64_t Ns[] = {1, 3, 15, 16, 17, 31, 32, 33, 67};
    /* 300: one K chunk; 385 and 700: two and three equal chunks (cvm_gemm_kc) */
    static const int64_t Ks[] = {1, 2, 13, 67, 256, 300, 385, 700};
    const char *names[] = {"generic", "avx2", "avx512", "avx512_12"};
    unsigned seed = 7;
    float *a = malloc(67 * 900 * 4), *b = malloc(900 * 67 * 4), *c = malloc(67 * 67 * 4),
          *r = malloc(67 * 67 * 4), bias[67];
    fill_rand(a, 67 * 900, &seed);
    fill_rand(b, 900 * 67, &seed);
    fill_rand(bias, 67, &seed);
    for (int kn = 0; kn < 4; kn++) {
        const cvm_gemm_kernel *k = cvm_gemm_kernel_named(names[kn]);
        if (!k)
            continue; /* not supported by this CPU */
        int slots = cvm_gemm_slots(pool2);
        void *scratch = malloc(cvm_gemm_scratch_bytes(k, slots));
        for (size_t mi = 0; mi < sizeof Ms / sizeof Ms[0]; mi++)
            for (size_t ni = 0; ni < sizeof Ns / sizeof Ns[0]; ni++)
                for (size_t ki = 0; ki < sizeof Ks / sizeof Ks[0]; ki++) {
                    int64_t M = Ms[mi], N = Ns[ni], K = Ks[ki];
                    int variant = (int)((mi + ni + ki) % 3);
                    /* variant 0: plain + bias; 1: A and B transposed; 2: accumulate */
                    int64_t rsa = variant == 1 ? 1 : K, csa = variant == 1 ? M : 1;
                    int64_t rsb = variant == 1 ? 1 : N, csb = variant == 1 ? K : 1;
                    for (int64_t i = 0; i < M * N; i++)
                        c[i] = r[i] = (float)(i % 5) - 2.0f;
                    cvm_sgemm_ref(M, N, K, 1.0f, a, rsa, csa, b, rsb, csb, variant == 2 ? 1.0f : 0.0f,
                                  r, N);
                    if (variant == 0)
                        for (int64_t i = 0; i < M * N; i++)
                            r[i] += bias[i / N];
                    cvm_sgemm_strided(k, M, N, K, a, rsa, csa, b, rsb, csb, c, N,
                                      variant == 0 ? bias : NULL, variant == 2,
                                      (mi & 1) ? pool2 : NULL, scratch, slots);
                    expect_close(c, r, M * N, 1e-4f);
                }
        /* prepacked operands give the same result */
        int64_t M = 37, N = 45, K = 800; /* four chunks of 200 */
        assert_int_equal(cvm_gemm_kc(K), 200);
        assert_int_equal(cvm_gemm_kc(384), CVM_GEMM_KC);
        float *pa = malloc(cvm_gemm_packed_a_size(k, M, K) * 4);
        float *pb = malloc(cvm_gemm_packed_b_size(k, K, N) * 4);
        cvm_gemm_prepack_a(k, M, K, a, K, 1, 1.0f, pa);
        cvm_gemm_prepack_b(k, K, N, b, N, 1, 2.0f, pb);
        for (int64_t k0 = 0; k0 < K; k0 += cvm_gemm_kc(K)) {
            int64_t kc = K - k0 < cvm_gemm_kc(K) ? K - k0 : cvm_gemm_kc(K);
            float buf[CVM_GEMM_KC * 64];
            cvm_gemm_pack_a(k, a, K, 1, k->mr, 2 * k->mr, k0, kc, 1.0f, buf);
            assert_memory_equal(buf, cvm_gemm_packed_a_block(k, pa, M, k0, kc, k->mr),
                                (size_t)(2 * k->mr * kc) * 4);
            cvm_gemm_pack_b(k, b, N, 1, k0, kc, k->nr, N - k->nr < k->nr ? N - k->nr : k->nr, 2.0f, buf);
            assert_memory_equal(buf, cvm_gemm_packed_b_block(k, pb, N, k0, kc, k->nr),
                                (size_t)(k->nr * kc) * 4);
        }
        free(pa);
        free(pb);
        free(scratch);
    }
    free(a);
    free(b);
    free(c);
    free(r);
}

/* ---------------------------------------------------------------- Conv */

typedef struct cconf {
    int nsp;
    int64_t N, C, M, G;
    int64_t in[3], k[3], s[3], d[3], pb[3], pe[3];
} cconf;

static int64_t conv_out(const cconf *c, int i)
{
    return (c->in[i] + c->pb[i] + c->pe[i] - ((c->k[i] - 1) * c->d[i] + 1)) / c->s[i] + 1;
}

/* Spatial dims are right-aligned in 3-D with leading extents of 1. */
static void naive_conv(const cconf *c, const float *x, const float *w, const float *b, float *y)
{
    int64_t o[3], Cg = c->C / c->G, Mg = c->M / c->G;
    for (int i = 0; i < 3; i++)
        o[i] = conv_out(c, i);
    for (int64_t n = 0; n < c->N; n++)
        for (int64_t m = 0; m < c->M; m++)
            for (int64_t od = 0; od < o[0]; od++)
                for (int64_t oh = 0; oh < o[1]; oh++)
                    for (int64_t ow = 0; ow < o[2]; ow++) {
                        double s = b ? b[m] : 0.0;
                        int64_t g = m / Mg;
                        for (int64_t ci = 0; ci < Cg; ci++)
                            for (int64_t kd = 0; kd < c->k[0]; kd++)
                                for (int64_t kh = 0; kh < c->k[1]; kh++)
                                    for (int64_t kw = 0; kw < c->k[2]; kw++) {
                                        int64_t id = od * c->s[0] - c->pb[0] + kd * c->d[0];
                                        int64_t ih = oh * c->s[1] - c->pb[1] + kh * c->d[1];
                                        int64_t iw = ow * c->s[2] - c->pb[2] + kw * c->d[2];
                                        if (id < 0 || id >= c->in[0] || ih < 0 || ih >= c->in[1] ||
                                            iw < 0 || iw >= c->in[2])
                                            continue;
                                        int64_t xi = (((n * c->C + g * Cg + ci) * c->in[0] + id) *
                                                          c->in[1] + ih) * c->in[2] + iw;
                                        int64_t wi = (((m * Cg + ci) * c->k[0] + kd) * c->k[1] + kh) *
                                                         c->k[2] + kw;
                                        s += (double)x[xi] * w[wi];
                                    }
                        y[(((n * c->M + m) * o[0] + od) * o[1] + oh) * o[2] + ow] = (float)s;
                    }
}

static void run_conv_case(const cconf *c, int with_bias, cvm_threadpool *p)
{
    int off = 3 - c->nsp;
    int64_t xd[5] = {c->N, c->C}, wd[5] = {c->M, c->C / c->G}, yd[5] = {c->N, c->M};
    int64_t strides[3], dil[3], pads[6], ks[3];
    for (int i = 0; i < c->nsp; i++) {
        xd[2 + i] = c->in[off + i];
        wd[2 + i] = ks[i] = c->k[off + i];
        yd[2 + i] = conv_out(c, off + i);
        strides[i] = c->s[off + i];
        dil[i] = c->d[off + i];
        pads[i] = c->pb[off + i];
        pads[c->nsp + i] = c->pe[off + i];
    }
    cvm_tensor *in[3] = {tens(2 + c->nsp, xd), tens(2 + c->nsp, wd), NULL}, *out[1] = {NULL};
    unsigned seed = (unsigned)(c->C * 31 + c->M);
    fill_rand(in[0]->data, cvm_tensor_numel(in[0]), &seed);
    fill_rand(in[1]->data, cvm_tensor_numel(in[1]), &seed);
    if (with_bias) {
        in[2] = TENS(c->M);
        fill_rand(in[2]->data, c->M, &seed);
    }
    tnode t = mk("Conv", with_bias ? 3 : 2, 1);
    a_ints(&t, "strides", c->nsp, strides);
    a_ints(&t, "dilations", c->nsp, dil);
    a_ints(&t, "pads", 2 * c->nsp, pads);
    if (with_bias)
        a_ints(&t, "kernel_shape", c->nsp, ks);
    a_int(&t, "group", c->G);
    assert_int_equal(eval(&t, 17, with_bias ? 3 : 2, in, 1, out, p), CVM_OK);
    expect_shape(out[0], 2 + c->nsp, yd);
    cvm_tensor *ref = tens(2 + c->nsp, yd);
    naive_conv(c, in[0]->data, in[1]->data, with_bias ? in[2]->data : NULL, ref->data);
    expect_close(out[0]->data, ref->data, cvm_tensor_numel(ref), 1e-4f);
    cvm_tensor_free(ref);
    free_all(in, 3);
    free_all(out, 1);
    cvm_graph_free(t.g);
}

static void test_conv_vs_naive(void **st)
{
    (void)st;
    static const cconf cases[] = {
        /* nsp N C M G  in        k         s         d         pb        pe */
        {2, 1, 3, 5, 1, {1, 7, 9}, {1, 3, 3}, {1, 1, 1}, {1, 1, 1}, {0, 1, 1}, {0, 1, 1}},
        {2, 2, 4, 6, 2, {1, 8, 7}, {1, 3, 2}, {1, 2, 1}, {1, 1, 2}, {0, 1, 0}, {0, 0, 2}},
        {2, 1, 6, 6, 6, {1, 9, 10}, {1, 3, 3}, {1, 1, 1}, {1, 1, 1}, {0, 1, 1}, {0, 1, 1}},
        {2, 2, 4, 8, 4, {1, 7, 7}, {1, 3, 3}, {1, 2, 2}, {1, 1, 1}, {0, 1, 1}, {0, 1, 1}},
        {2, 1, 5, 5, 5, {1, 6, 9}, {1, 5, 3}, {1, 1, 3}, {1, 2, 1}, {0, 2, 0}, {0, 3, 2}},
        {2, 1, 40, 19, 1, {1, 6, 11}, {1, 3, 3}, {1, 1, 1}, {1, 1, 1}, {0, 1, 1}, {0, 1, 1}},
        {2, 1, 300, 9, 1, {1, 5, 7}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, {0, 0, 0}, {0, 0, 0}},
        {2, 1, 8, 16, 1, {1, 20, 33}, {1, 1, 1}, {1, 2, 2}, {1, 1, 1}, {0, 0, 0}, {0, 0, 0}},
        {2, 1, 3, 5, 1, {1, 70, 70}, {1, 3, 3}, {1, 1, 1}, {1, 1, 1}, {0, 1, 1}, {0, 1, 1}},
        {1, 1, 3, 4, 1, {1, 1, 15}, {1, 1, 4}, {1, 1, 3}, {1, 1, 2}, {0, 0, 2}, {0, 0, 1}},
        {3, 1, 2, 3, 1, {4, 5, 6}, {2, 3, 2}, {1, 2, 1}, {2, 1, 1}, {1, 0, 1}, {0, 1, 1}},
        {3, 1, 4, 4, 2, {3, 4, 5}, {1, 3, 3}, {1, 1, 2}, {1, 1, 1}, {0, 1, 1}, {0, 1, 0}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        run_conv_case(&cases[i], (int)(i & 1), pool2);
        run_conv_case(&cases[i], (int)!(i & 1), NULL);
    }
}

static void test_conv_auto_pad(void **st)
{
    (void)st;
    /* SAME_UPPER on 5x6 with k=3 s=2: out 3x3; total pad H = 2*2+3-5 = 2 -> 1/1,
     * W = 2*2+3-6 = 1 -> 0 before, 1 after (SAME_LOWER: 1 before, 0 after). */
    for (int lower = 0; lower < 2; lower++) {
        cvm_tensor *in[2] = {TENS(1, 2, 5, 6), TENS(3, 2, 3, 3)}, *out[1] = {NULL};
        unsigned seed = 3;
        fill_rand(in[0]->data, 60, &seed);
        fill_rand(in[1]->data, 54, &seed);
        tnode t = mk("Conv", 2, 1);
        a_str(&t, "auto_pad", lower ? "SAME_LOWER" : "SAME_UPPER");
        A_INTS(&t, "strides", 2, 2);
        assert_int_equal(eval(&t, 11, 2, in, 1, out, pool2), CVM_OK);
        EXPECT_SHAPE(out[0], 1, 3, 3, 3);
        cconf c = {2, 1, 2, 3, 1, {1, 5, 6}, {1, 3, 3}, {1, 2, 2}, {1, 1, 1},
                   {0, 1, lower ? 1 : 0}, {0, 1, lower ? 0 : 1}};
        cvm_tensor *ref = TENS(1, 3, 3, 3);
        naive_conv(&c, in[0]->data, in[1]->data, NULL, ref->data);
        expect_close(out[0]->data, ref->data, 27, 1e-5f);
        cvm_tensor_free(ref);
        free_all(in, 2);
        free_all(out, 1);
        cvm_graph_free(t.g);
    }
}

static void test_conv_errors(void **st)
{
    (void)st;
    cvm_tensor *in[2] = {TENS(1, 3, 5, 5), TENS(4, 2, 3, 3)}, *out[1] = {NULL};
    tnode t = mk("Conv", 2, 1);
    assert_int_equal(eval(&t, 17, 2, in, 1, out, NULL), CVM_E_SHAPE);
    assert_non_null(strstr(cvm_last_error(), "[1,3,5,5]"));
    assert_non_null(strstr(cvm_last_error(), "[4,2,3,3]"));
    assert_null(out[0]);
    cvm_graph_free(t.g);
    /* kernel larger than the padded input */
    cvm_tensor *in2[2] = {TENS(1, 2, 2, 2), TENS(1, 2, 3, 3)};
    t = mk("Conv", 2, 1);
    assert_int_equal(eval(&t, 17, 2, in2, 1, out, NULL), CVM_E_SHAPE);
    cvm_graph_free(t.g);
    /* pads of the wrong length */
    t = mk("Conv", 2, 1);
    A_INTS(&t, "pads", 1, 1);
    assert_int_equal(eval(&t, 17, 2, in2, 1, out, NULL), CVM_E_SHAPE);
    assert_non_null(strstr(cvm_last_error(), "pads"));
    cvm_graph_free(t.g);
    free_all(in, 2);
    free_all(in2, 2);
}

/* ---------------------------------------------------------- ConvTranspose */

static void test_convtranspose_vs_naive(void **st)
{
    (void)st;
    typedef struct {
        int nsp;
        int64_t N, C, Mg, G, in[3], k[3], s[3], d[3], pb[3], pe[3], op[3];
    } tc;
    static const tc cases[] = {
        {2, 1, 2, 3, 1, {1, 3, 4}, {1, 3, 3}, {1, 2, 2}, {1, 1, 1}, {0, 1, 0}, {0, 1, 1}, {0, 1, 0}},
        {2, 2, 4, 2, 2, {1, 4, 3}, {1, 2, 3}, {1, 1, 2}, {1, 2, 1}, {0, 0, 1}, {0, 1, 0}, {0, 0, 1}},
        {1, 1, 3, 2, 1, {1, 1, 5}, {1, 1, 3}, {1, 1, 3}, {1, 1, 1}, {0, 0, 0}, {0, 0, 0}, {0, 0, 2}},
        {3, 1, 2, 2, 1, {2, 3, 2}, {2, 2, 2}, {2, 1, 2}, {1, 1, 1}, {0, 1, 1}, {1, 0, 0}, {1, 0, 0}},
        /* kernel = stride (taps that do not overlap, each output written once):
         * 2x2/2 as upsampling heads use it, with a begin pad and with
         * output_padding (a last row and a last column that only take the
         * bias), and 3x3/3 in two groups with a begin pad past a whole tile */
        {2, 1, 3, 4, 1, {1, 5, 7}, {1, 2, 2}, {1, 2, 2}, {1, 1, 1}, {0, 0, 0}, {0, 0, 0}, {0, 0, 0}},
        {2, 2, 2, 3, 1, {1, 4, 5}, {1, 2, 2}, {1, 2, 2}, {1, 1, 1}, {0, 0, 1}, {0, 0, 0}, {0, 1, 1}},
        {2, 1, 4, 2, 2, {1, 3, 4}, {1, 3, 3}, {1, 3, 3}, {1, 1, 1}, {0, 0, 4}, {0, 2, 0}, {0, 0, 2}},
    };
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const tc *c = &cases[ci];
        int off = 3 - c->nsp;
        int64_t Cg = c->C / c->G, M = c->Mg * c->G, o3[3];
        int64_t xd[5] = {c->N, c->C}, wd[5] = {c->C, c->Mg}, yd[5] = {c->N, M};
        int64_t s[3], d[3], pads[6], opad[3];
        for (int i = 0; i < 3; i++)
            o3[i] = c->s[i] * (c->in[i] - 1) + c->op[i] + (c->k[i] - 1) * c->d[i] + 1 - c->pb[i] - c->pe[i];
        for (int i = 0; i < c->nsp; i++) {
            xd[2 + i] = c->in[off + i];
            wd[2 + i] = c->k[off + i];
            yd[2 + i] = o3[off + i];
            s[i] = c->s[off + i];
            d[i] = c->d[off + i];
            pads[i] = c->pb[off + i];
            pads[c->nsp + i] = c->pe[off + i];
            opad[i] = c->op[off + i];
        }
        cvm_tensor *in[3] = {tens(2 + c->nsp, xd), tens(2 + c->nsp, wd), TENS(M)}, *out[1] = {NULL};
        unsigned seed = 11;
        fill_rand(in[0]->data, cvm_tensor_numel(in[0]), &seed);
        fill_rand(in[1]->data, cvm_tensor_numel(in[1]), &seed);
        fill_rand(in[2]->data, M, &seed);
        tnode t = mk("ConvTranspose", 3, 1);
        a_ints(&t, "strides", c->nsp, s);
        a_ints(&t, "dilations", c->nsp, d);
        a_ints(&t, "pads", 2 * c->nsp, pads);
        a_ints(&t, "output_padding", c->nsp, opad);
        a_int(&t, "group", c->G);
        assert_int_equal(eval(&t, 17, 3, in, 1, out, pool2), CVM_OK);
        expect_shape(out[0], 2 + c->nsp, yd);
        cvm_tensor *ref = tens(2 + c->nsp, yd);
        float *y = ref->data;
        const float *x = in[0]->data, *w = in[1]->data, *b = in[2]->data;
        int64_t OUT = o3[0] * o3[1] * o3[2], IN = c->in[0] * c->in[1] * c->in[2];
        for (int64_t n = 0; n < c->N; n++)
            for (int64_t m = 0; m < M; m++)
                for (int64_t i = 0; i < OUT; i++)
                    y[(n * M + m) * OUT + i] = b[m];
        for (int64_t n = 0; n < c->N; n++)
            for (int64_t ch = 0; ch < c->C; ch++)
                for (int64_t m = 0; m < c->Mg; m++)
                    for (int64_t i = 0; i < IN; i++)
                        for (int64_t kk = 0; kk < c->k[0] * c->k[1] * c->k[2]; kk++) {
                            int64_t iw = i % c->in[2], ih = i / c->in[2] % c->in[1], id = i / c->in[2] / c->in[1];
                            int64_t kw = kk % c->k[2], kh = kk / c->k[2] % c->k[1], kd = kk / c->k[2] / c->k[1];
                            int64_t od = id * c->s[0] - c->pb[0] + kd * c->d[0];
                            int64_t oh = ih * c->s[1] - c->pb[1] + kh * c->d[1];
                            int64_t ow = iw * c->s[2] - c->pb[2] + kw * c->d[2];
                            if (od < 0 || od >= o3[0] || oh < 0 || oh >= o3[1] || ow < 0 || ow >= o3[2])
                                continue;
                            int64_t oc = (ch / Cg) * c->Mg + m;
                            y[(n * M + oc) * OUT + (od * o3[1] + oh) * o3[2] + ow] +=
                                x[(n * c->C + ch) * IN + i] * w[(ch * c->Mg + m) * c->k[0] * c->k[1] * c->k[2] + kk];
                        }
        expect_close(out[0]->data, ref->data, cvm_tensor_numel(ref), 1e-4f);
        cvm_tensor_free(ref);
        free_all(in, 3);
        free_all(out, 1);
        cvm_graph_free(t.g);
    }
}

static void test_convtranspose_output_shape(void **st)
{
    (void)st;
    /* in 3, stride 2, k 3: full extent 7; output_shape 6 trims one (SAME_UPPER
     * puts it at the end); output_shape 8 extends the end with bias only. */
    cvm_tensor *in[2] = {TENS(1, 1, 3), TENS(1, 1, 3)}, *out[1] = {NULL};
    float *x = in[0]->data, *w = in[1]->data;
    x[0] = 1, x[1] = 2, x[2] = 3;
    w[0] = 1, w[1] = 10, w[2] = 100;
    /* full: y[i*2+k] += x[i]*w[k] -> [1,10,102,20,203,30,300] */
    tnode t = mk("ConvTranspose", 2, 1);
    A_INTS(&t, "strides", 2);
    A_INTS(&t, "output_shape", 6);
    a_str(&t, "auto_pad", "SAME_UPPER");
    assert_int_equal(eval(&t, 11, 2, in, 1, out, NULL), CVM_OK);
    EXPECT_SHAPE(out[0], 1, 1, 6);
    const float want[6] = {1, 10, 102, 20, 203, 30};
    expect_close(out[0]->data, want, 6, 1e-6f);
    cvm_tensor_free(out[0]);
    cvm_graph_free(t.g);
    t = mk("ConvTranspose", 2, 1);
    A_INTS(&t, "strides", 2);
    A_INTS(&t, "output_shape", 1, 1, 8);
    assert_int_equal(eval(&t, 11, 2, in, 1, out, NULL), CVM_OK);
    EXPECT_SHAPE(out[0], 1, 1, 8);
    const float want8[8] = {1, 10, 102, 20, 203, 30, 300, 0};
    expect_close(out[0]->data, want8, 8, 1e-6f);
    cvm_tensor_free(out[0]);
    cvm_graph_free(t.g);
    free_all(in, 2);
}

/* ------------------------------------------------------- MatMul and Gemm */

static void naive_matmul_case(const int64_t *ad, int an, const int64_t *bd, int bn, cvm_threadpool *p)
{
    cvm_tensor *in[2] = {tens(an, ad), tens(bn, bd)}, *out[1] = {NULL};
    unsigned seed = (unsigned)(an * 10 + bn);
    fill_rand(in[0]->data, cvm_tensor_numel(in[0]), &seed);
    fill_rand(in[1]->data, cvm_tensor_numel(in[1]), &seed);
    tnode t = mk("MatMul", 2, 1);
    assert_int_equal(eval(&t, 13, 2, in, 1, out, p), CVM_OK);
    /* promote to [batch..., M, K] x [batch..., K, N] and broadcast by hand */
    int64_t A4[6] = {1, 1, 1, 1, 1, 1}, B4[6] = {1, 1, 1, 1, 1, 1};
    int64_t M = an >= 2 ? ad[an - 2] : 1, K = ad[an - 1], N = bn >= 2 ? bd[bn - 1] : 1;
    for (int i = 0; i < an - 2; i++)
        A4[4 - (an - 2) + i] = ad[i];
    for (int i = 0; i < bn - 2; i++)
        B4[4 - (bn - 2) + i] = bd[i];
    int64_t O4[4], nout = 1;
    for (int i = 0; i < 4; i++) {
        O4[i] = A4[i] > B4[i] ? A4[i] : B4[i];
        nout *= O4[i];
    }
    float *ref = malloc((size_t)(nout * M * N) * 4);
    const float *a = in[0]->data, *b = in[1]->data;
    for (int64_t o = 0; o < nout; o++) {
        int64_t idx[4], r = o, ao = 0, bo = 0, as = 1, bs = 1;
        for (int i = 3; i >= 0; i--) {
            idx[i] = r % O4[i];
            r /= O4[i];
        }
        for (int i = 3; i >= 0; i--) {
            ao += (A4[i] == 1 ? 0 : idx[i]) * as;
            bo += (B4[i] == 1 ? 0 : idx[i]) * bs;
            as *= A4[i];
            bs *= B4[i];
        }
        for (int64_t m = 0; m < M; m++)
            for (int64_t n = 0; n < N; n++) {
                double s = 0;
                for (int64_t k = 0; k < K; k++)
                    s += (double)a[(ao * M + m) * K + k] * b[(bo * K + k) * N + n];
                ref[(o * M + m) * N + n] = (float)s;
            }
    }
    assert_int_equal(cvm_tensor_numel(out[0]), nout * M * N);
    expect_close(out[0]->data, ref, nout * M * N, 1e-4f);
    free(ref);
    free_all(in, 2);
    free_all(out, 1);
    cvm_graph_free(t.g);
}

static void test_matmul_broadcast(void **st)
{
    (void)st;
    naive_matmul_case((int64_t[]){2, 1, 3, 4}, 4, (int64_t[]){3, 4, 5}, 3, pool2);
    naive_matmul_case((int64_t[]){7, 33}, 2, (int64_t[]){33, 70}, 2, pool2);
    naive_matmul_case((int64_t[]){2, 5, 9, 40}, 4, (int64_t[]){40, 3}, 2, NULL);
    naive_matmul_case((int64_t[]){5, 40}, 2, (int64_t[]){3, 40, 6}, 3, pool2);
    naive_matmul_case((int64_t[]){4}, 1, (int64_t[]){2, 4, 5}, 3, NULL);
    naive_matmul_case((int64_t[]){2, 3, 4}, 3, (int64_t[]){4}, 1, NULL);
    /* shapes: [4]x[4,5] -> [5]; [2,3,4]x[4] -> [2,3]; [4]x[4] -> [] */
    cvm_tensor *in[2] = {TENS(4), TENS(4)}, *out[1] = {NULL};
    fill_val(in[0], 1, 0);
    fill_val(in[1], 1, 0);
    tnode t = mk("MatMul", 2, 1);
    assert_int_equal(eval(&t, 13, 2, in, 1, out, NULL), CVM_OK);
    assert_int_equal(out[0]->ndim, 0);
    /* (-2,-1.75,-1.5,-1.25) . itself = 4+3.0625+2.25+1.5625 */
    assert_true(fabsf(((float *)out[0]->data)[0] - 10.875f) < 1e-5f);
    free_all(out, 1);
    free_all(in, 2);
    cvm_tensor *in2[2] = {TENS(2, 3, 4), TENS(2, 5, 4)};
    assert_int_equal(eval(&t, 13, 2, in2, 1, out, NULL), CVM_E_SHAPE);
    assert_non_null(strstr(cvm_last_error(), "[2,5,4]"));
    free_all(in2, 2);
    cvm_graph_free(t.g);
}

/* Wide products cut N into several tiles, whose count 2 workers round up to
 * an even number of equal tiles: every boundary lands on a panel edge. */
static void test_gemm_wide_tiles(void **st)
{
    (void)st;
    static const int64_t Ns[] = {255, 257, 400, 1600, 1601, 2100};
    static const int64_t Ms[] = {5, 17};
    static const int64_t Ks[] = {13, 300};
    const cvm_gemm_kernel *k = cvm_gemm_kernel_best();
    int slots = cvm_gemm_slots(pool2);
    void *scratch = malloc(cvm_gemm_scratch_bytes(k, slots));
    unsigned seed = 11;
    float *a = malloc(17 * 300 * 4), *b = malloc(300 * 2100 * 4), *c = malloc(17 * 2100 * 4),
          *r = malloc(17 * 2100 * 4);
    fill_rand(a, 17 * 300, &seed);
    fill_rand(b, 300 * 2100, &seed);
    for (size_t ni = 0; ni < sizeof Ns / sizeof Ns[0]; ni++)
        for (size_t mi = 0; mi < 2; mi++)
            for (size_t ki = 0; ki < 2; ki++)
                for (int threads = 0; threads < 2; threads++) {
                    int64_t M = Ms[mi], N = Ns[ni], K = Ks[ki];
                    cvm_sgemm_ref(M, N, K, 1.0f, a, K, 1, b, N, 1, 0.0f, r, N);
                    for (int64_t i = 0; i < M * N; i++)
                        c[i] = 1e30f;
                    cvm_sgemm_strided(k, M, N, K, a, K, 1, b, N, 1, c, N, NULL, 0,
                                      threads ? pool2 : NULL, scratch, slots);
                    expect_close(c, r, M * N, 1e-4f);
                }
    free(a);
    free(b);
    free(c);
    free(r);
    free(scratch);
}

/* Prepacked B (a MatMul's weights): 2 workers also cut the rows of an N
 * tile and take the items as they come free; every row and column is
 * written once, by both the 8-row and the 12-row kernel. */
typedef struct pre_ctx {
    const cvm_gemm_kernel *k;
    const float *a, *pb;
    float *c;
    int64_t K, N;
} pre_ctx;

static const float *pre_get_a(const void *v, int64_t b, int64_t m0, int64_t mc, int64_t k0,
                              int64_t kc, float *buf)
{
    const pre_ctx *p = v;
    (void)b;
    cvm_gemm_pack_a(p->k, p->a, p->K, 1, m0, mc, k0, kc, 1.0f, buf);
    return buf;
}

static const float *pre_get_b(const void *v, int64_t b, int64_t k0, int64_t kc, int64_t n0,
                              int64_t nc, float *buf)
{
    const pre_ctx *p = v;
    (void)b, (void)nc, (void)buf;
    return cvm_gemm_packed_b_block(p->k, p->pb, p->N, k0, kc, n0);
}

static float *pre_c_of(const void *v, int64_t b)
{
    (void)b;
    return ((const pre_ctx *)v)->c;
}

static void test_gemm_prepacked_b_rows_split(void **st)
{
    (void)st;
    static const int64_t Ms[] = {50, 200, 581};
    static const int64_t Ns[] = {40, 300};
    static const int64_t Ks[] = {300, 700};
    const char *names[] = {"avx512", "avx512_12", "generic"};
    unsigned seed = 13;
    float *a = malloc(581 * 700 * 4), *b = malloc(700 * 300 * 4), *c = malloc(581 * 300 * 4),
          *r = malloc(581 * 300 * 4);
    fill_rand(a, 581 * 700, &seed);
    fill_rand(b, 700 * 300, &seed);
    for (int kn = 0; kn < 3; kn++) {
        const cvm_gemm_kernel *k = cvm_gemm_kernel_named(names[kn]);
        if (!k)
            continue;
        int slots = cvm_gemm_slots(pool2);
        void *scratch = malloc(cvm_gemm_scratch_bytes(k, slots));
        for (size_t mi = 0; mi < 3; mi++)
            for (size_t ni = 0; ni < 2; ni++)
                for (size_t ki = 0; ki < 2; ki++) {
                    int64_t M = Ms[mi], N = Ns[ni], K = Ks[ki];
                    float *pb = malloc(cvm_gemm_packed_b_size(k, K, N) * 4);
                    cvm_gemm_prepack_b(k, K, N, b, N, 1, 1.0f, pb);
                    cvm_sgemm_ref(M, N, K, 1.0f, a, K, 1, b, N, 1, 0.0f, r, N);
                    for (int threads = 0; threads < 2; threads++) {
                        for (int64_t i = 0; i < M * N; i++)
                            c[i] = 1e30f;
                        pre_ctx p = {k, a, pb, c, K, N};
                        cvm_gemm_op op = {.kern = k, .M = M, .N = N, .K = K, .batch = 1,
                                          .get_a = pre_get_a, .get_b = pre_get_b, .ctx = &p,
                                          .c_of = pre_c_of, .ldc = N, .b_prepacked = 1};
                        cvm_gemm_run(&op, threads ? pool2 : NULL, scratch, slots);
                        expect_close(c, r, M * N, 1e-4f);
                    }
                    free(pb);
                }
        free(scratch);
    }
    free(a);
    free(b);
    free(c);
    free(r);
}

static void test_gemm_attrs(void **st)
{
    (void)st;
    const int64_t M = 5, N = 7, K = 9;
    for (int variant = 0; variant < 4; variant++) {
        int ta = variant & 1, tb = (variant >> 1) & 1;
        cvm_tensor *c_in = variant == 0 ? TENS(N) : variant == 1 ? TENS(M, 1) : variant == 2 ? TENS(1) : TENS(M, N);
        cvm_tensor *in[3] = {ta ? TENS(K, M) : TENS(M, K), tb ? TENS(N, K) : TENS(K, N), c_in};
        cvm_tensor *out[1] = {NULL};
        unsigned seed = 5 + (unsigned)variant;
        for (int i = 0; i < 3; i++)
            fill_rand(in[i]->data, cvm_tensor_numel(in[i]), &seed);
        tnode t = mk("Gemm", 3, 1);
        a_int(&t, "transA", ta);
        a_int(&t, "transB", tb);
        a_float(&t, "alpha", 0.5f);
        a_float(&t, "beta", 2.0f);
        assert_int_equal(eval(&t, 13, 3, in, 1, out, pool2), CVM_OK);
        EXPECT_SHAPE(out[0], M, N);
        float ref[5 * 7];
        const float *a = in[0]->data, *b = in[1]->data, *cc = c_in->data;
        for (int64_t m = 0; m < M; m++)
            for (int64_t n = 0; n < N; n++) {
                double s = 0;
                for (int64_t k = 0; k < K; k++)
                    s += (double)(ta ? a[k * M + m] : a[m * K + k]) * (tb ? b[n * K + k] : b[k * N + n]);
                float cv = variant == 0 ? cc[n] : variant == 1 ? cc[m] : variant == 2 ? cc[0] : cc[m * N + n];
                ref[m * N + n] = (float)(0.5 * s + 2.0 * cv);
            }
        expect_close(out[0]->data, ref, M * N, 1e-5f);
        free_all(in, 3);
        free_all(out, 1);
        cvm_graph_free(t.g);
    }
    /* no C, and K mismatch */
    cvm_tensor *in[2] = {TENS(2, 3), TENS(4, 2)}, *out[1] = {NULL};
    tnode t = mk("Gemm", 2, 1);
    assert_int_equal(eval(&t, 13, 2, in, 1, out, NULL), CVM_E_SHAPE);
    cvm_graph_free(t.g);
    t = mk("Gemm", 2, 1);
    a_int(&t, "transA", 1);
    a_int(&t, "transB", 1);
    fill_val(in[0], 1, 0);
    fill_val(in[1], 3, 1);
    assert_int_equal(eval(&t, 13, 2, in, 1, out, NULL), CVM_OK);
    EXPECT_SHAPE(out[0], 3, 4);
    float ref[12];
    cvm_sgemm_ref(3, 4, 2, 1.0f, in[0]->data, 1, 3, in[1]->data, 1, 2, 0.0f, ref, 4);
    expect_close(out[0]->data, ref, 12, 1e-6f);
    free_all(in, 2);
    free_all(out, 1);
    cvm_graph_free(t.g);
}

/* ---------------------------------------------- values from onnxruntime */

static void run_val_case(tnode *t, int opset, int n_in, cvm_tensor **in, const float *want,
                         int64_t n_want, float tol)
{
    cvm_tensor *out[1] = {NULL};
    assert_int_equal(eval(t, opset, n_in, in, 1, out, pool2), CVM_OK);
    assert_int_equal(cvm_tensor_numel(out[0]), n_want);
    expect_close(out[0]->data, want, n_want, tol);
    free_all(out, 1);
    cvm_graph_free(t->g);
}

static void test_pooling(void **st)
{
    (void)st;
    cvm_tensor *x = TENS(1, 2, 5, 6);
    fill_val(x, 7, 3);
    cvm_tensor *in[1] = {x}, *out[2] = {NULL, NULL};
    tnode t = mk("MaxPool", 1, 1);
    A_INTS(&t, "kernel_shape", 3, 3);
    A_INTS(&t, "strides", 2, 2);
    A_INTS(&t, "pads", 1, 0, 0, 1);
    a_int(&t, "ceil_mode", 1);
    run_val_case(&t, 12, 1, in, mp_ceil, 18, 0);

    t = mk("MaxPool", 1, 2);
    A_INTS(&t, "kernel_shape", 2, 3);
    A_INTS(&t, "strides", 2, 1);
    A_INTS(&t, "pads", 0, 1, 1, 1);
    assert_int_equal(eval(&t, 12, 1, in, 2, out, NULL), CVM_OK);
    EXPECT_SHAPE(out[0], 1, 2, 3, 6);
    expect_close(out[0]->data, mp_val, 36, 0);
    assert_memory_equal(out[1]->data, mp_idx, sizeof mp_idx);
    free_all(out, 2);
    cvm_graph_free(t.g);

    t = mk("MaxPool", 1, 2);
    A_INTS(&t, "kernel_shape", 2, 2);
    A_INTS(&t, "strides", 2, 2);
    a_int(&t, "storage_order", 1);
    assert_int_equal(eval(&t, 12, 1, in, 2, out, NULL), CVM_OK);
    assert_memory_equal(out[1]->data, mp_idx_cm, sizeof mp_idx_cm);
    free_all(out, 2);
    cvm_graph_free(t.g);

    t = mk("AveragePool", 1, 1);
    A_INTS(&t, "kernel_shape", 3, 3);
    A_INTS(&t, "strides", 2, 2);
    A_INTS(&t, "pads", 1, 1, 1, 1);
    a_int(&t, "ceil_mode", 1);
    run_val_case(&t, 12, 1, in, ap_excl, 24, 1e-6f);
    t = mk("AveragePool", 1, 1);
    A_INTS(&t, "kernel_shape", 3, 3);
    A_INTS(&t, "strides", 2, 2);
    A_INTS(&t, "pads", 1, 1, 1, 1);
    a_int(&t, "ceil_mode", 1);
    a_int(&t, "count_include_pad", 1);
    run_val_case(&t, 12, 1, in, ap_incl, 24, 1e-6f);
    t = mk("AveragePool", 1, 1);
    A_INTS(&t, "kernel_shape", 2, 3);
    A_INTS(&t, "strides", 2, 2);
    a_str(&t, "auto_pad", "SAME_LOWER");
    run_val_case(&t, 12, 1, in, ap_same, 18, 1e-6f);
    t = mk("LpPool", 1, 1);
    A_INTS(&t, "kernel_shape", 2, 2);
    A_INTS(&t, "strides", 2, 2);
    a_int(&t, "p", 2);
    run_val_case(&t, 12, 1, in, lp_pool, 12, 1e-6f);
    t = mk("GlobalAveragePool", 1, 1);
    run_val_case(&t, 12, 1, in, gap, 2, 1e-6f);
    t = mk("GlobalMaxPool", 1, 1);
    run_val_case(&t, 12, 1, in, gmp, 2, 0);

    /* kernel_shape is required */
    t = mk("MaxPool", 1, 1);
    assert_int_equal(eval(&t, 12, 1, in, 1, out, NULL), CVM_E_SHAPE);
    cvm_graph_free(t.g);
    cvm_tensor_free(x);
}

/* Global pools over long planes (eight chains and a tail): the mean
 * against a double sum, the max exact, with a NaN (ignored, as the
 * comparison has it) and the largest value in the tail or in any chain. */
static void test_global_pool_long(void **st)
{
    (void)st;
    const int64_t C = 3, HW = 6403;
    cvm_tensor *x = TENS(1, 3, 19, 337);
    float *d = x->data;
    unsigned seed = 77;
    fill_rand(d, C * HW, &seed);
    d[5] = NAN;               /* plane 0: a NaN in a chain */
    d[HW + HW - 1] = 9.0f;    /* plane 1: the max in the tail */
    d[2 * HW + 4001] = 7.5f;  /* plane 2: the max in chain 1 */
    cvm_tensor *in[1] = {x}, *out[1] = {NULL};
    tnode t = mk("GlobalMaxPool", 1, 1);
    assert_int_equal(eval(&t, 12, 1, in, 1, out, pool2), CVM_OK);
    for (int64_t c = 0; c < C; c++) {
        float m = -INFINITY;
        for (int64_t i = 0; i < HW; i++)
            m = d[c * HW + i] > m ? d[c * HW + i] : m;
        assert_true(((const float *)out[0]->data)[c] == m);
    }
    assert_true(((const float *)out[0]->data)[1] == 9.0f && ((const float *)out[0]->data)[2] == 7.5f);
    free_all(out, 1);
    cvm_graph_free(t.g);
    d[5] = 0.25f;
    t = mk("GlobalAveragePool", 1, 1);
    assert_int_equal(eval(&t, 12, 1, in, 1, out, NULL), CVM_OK);
    for (int64_t c = 0; c < C; c++) {
        double sum = 0;
        for (int64_t i = 0; i < HW; i++)
            sum += d[c * HW + i];
        float got = ((const float *)out[0]->data)[c], want = (float)(sum / (double)HW);
        if (fabsf(got - want) > 1e-7f)
            fail_msg("plane %lld: mean %g, want %g", (long long)c, got, want);
    }
    free_all(out, 1);
    cvm_graph_free(t.g);
    cvm_tensor_free(x);
}

static void test_norms(void **st)
{
    (void)st;
    cvm_tensor *x = TENS(2, 3, 4), *sc = TENS(3), *b = TENS(3), *mean = TENS(3), *var = TENS(3);
    fill_val(x, 5, 1);
    memcpy(sc->data, (float[]){0.5f, 1.5f, -1.0f}, 12);
    memcpy(b->data, (float[]){0.25f, -0.5f, 1.0f}, 12);
    memcpy(mean->data, (float[]){0.1f, -0.2f, 0.3f}, 12);
    memcpy(var->data, (float[]){0.5f, 1.0f, 2.0f}, 12);
    cvm_tensor *bn_in[5] = {x, sc, b, mean, var};
    tnode t = mk("BatchNormalization", 5, 1);
    a_float(&t, "epsilon", 1e-3f);
    run_val_case(&t, 15, 5, bn_in, bn, 24, 1e-5f);
    t = mk("BatchNormalization", 5, 1);
    a_int(&t, "training_mode", 1);
    cvm_tensor *out[3] = {NULL, NULL, NULL};
    assert_int_equal(eval(&t, 15, 5, bn_in, 1, out, NULL), CVM_E_UNSUPPORTED);
    assert_non_null(strstr(cvm_last_error(), "training_mode"));
    cvm_graph_free(t.g);

    t = mk("InstanceNormalization", 3, 1);
    a_float(&t, "epsilon", 1e-3f);
    run_val_case(&t, 6, 3, bn_in, inorm, 24, 1e-5f);

    cvm_tensor *sc4 = TENS(4), *b4 = TENS(4);
    memcpy(sc4->data, (float[]){1.0f, 0.5f, -1.0f, 2.0f}, 16);
    memcpy(b4->data, (float[]){0.0f, 0.1f, 0.2f, 0.3f}, 16);
    cvm_tensor *ln_in[3] = {x, sc4, b4};
    t = mk("LayerNormalization", 3, 3);
    a_int(&t, "axis", -1);
    a_float(&t, "epsilon", 1e-3f);
    assert_int_equal(eval(&t, 17, 3, ln_in, 3, out, pool2), CVM_OK);
    expect_close(out[0]->data, ln_y, 24, 1e-5f);
    EXPECT_SHAPE(out[1], 2, 3, 1);
    expect_close(out[1]->data, ln_mean, 6, 1e-5f);
    expect_close(out[2]->data, ln_inv, 6, 1e-5f);
    free_all(out, 3);
    cvm_graph_free(t.g);
    cvm_tensor *sc12 = TENS(3, 4);
    fill_val(sc12, 3, 2);
    cvm_tensor *ln2_in[2] = {x, sc12};
    t = mk("LayerNormalization", 2, 1);
    a_int(&t, "axis", 1);
    run_val_case(&t, 17, 2, ln2_in, ln2_y, 24, 1e-5f);

    cvm_tensor *x4 = TENS(2, 4, 3), *gs = TENS(2), *gb = TENS(2);
    fill_val(x4, 5, 1);
    memcpy(gs->data, (float[]){0.5f, 2.0f}, 8);
    memcpy(gb->data, (float[]){1.0f, -1.0f}, 8);
    cvm_tensor *gn_in[3] = {x4, gs, gb};
    t = mk("GroupNormalization", 3, 1);
    a_int(&t, "num_groups", 2);
    a_float(&t, "epsilon", 1e-3f);
    run_val_case(&t, 18, 3, gn_in, gn, 24, 1e-5f);

    t = mk("LpNormalization", 1, 1);
    a_int(&t, "axis", 1);
    run_val_case(&t, 1, 1, &x, lpn, 24, 1e-5f);
    t = mk("LpNormalization", 1, 1);
    a_int(&t, "p", 1);
    run_val_case(&t, 1, 1, &x, lpn1, 24, 1e-5f);

    cvm_tensor *x5 = TENS(1, 5, 2, 2);
    fill_val(x5, 3, 1);
    t = mk("LRN", 1, 1);
    a_int(&t, "size", 3);
    a_float(&t, "alpha", 0.01f);
    a_float(&t, "beta", 0.75f);
    a_float(&t, "bias", 1.5f);
    run_val_case(&t, 13, 1, &x5, lrn, 20, 1e-5f);

    cvm_tensor *all[] = {x, sc, b, mean, var, sc4, b4, sc12, x4, gs, gb, x5};
    free_all(all, 12);
}

static void test_softmax_axis_semantics(void **st)
{
    (void)st;
    cvm_tensor *x = TENS(2, 3, 4);
    fill_val(x, 5, 1);
    tnode t = mk("Softmax", 1, 1);
    a_int(&t, "axis", 1);
    run_val_case(&t, 11, 1, &x, sm11, 24, 1e-5f); /* rows of 12 */
    t = mk("Softmax", 1, 1);
    a_int(&t, "axis", 1);
    run_val_case(&t, 13, 1, &x, sm13, 24, 1e-5f); /* over the 3, strided */
    t = mk("LogSoftmax", 1, 1);
    a_int(&t, "axis", 0);
    run_val_case(&t, 13, 1, &x, lsm13, 24, 1e-5f);
    t = mk("Hardmax", 1, 1);
    a_int(&t, "axis", 1);
    run_val_case(&t, 11, 1, &x, hm11, 24, 0);
    t = mk("Hardmax", 1, 1);
    a_int(&t, "axis", 1);
    run_val_case(&t, 13, 1, &x, hm13, 24, 0);
    t = mk("Softmax", 1, 1);
    run_val_case(&t, 11, 1, &x, sm_def11, 24, 1e-5f);
    t = mk("Softmax", 1, 1);
    a_int(&t, "axis", 3);
    cvm_tensor *out[1] = {NULL};
    assert_int_equal(eval(&t, 13, 1, &x, 1, out, NULL), CVM_E_SHAPE);
    cvm_graph_free(t.g);
    /* a wide non-last axis crosses the column blocks */
    cvm_tensor *w = TENS(2, 16, 150);
    fill_val(w, 3, 0);
    t = mk("Softmax", 1, 1);
    a_int(&t, "axis", 1);
    assert_int_equal(eval(&t, 13, 1, &w, 1, out, pool2), CVM_OK);
    const float *y = out[0]->data, *wd = w->data;
    for (int n = 0; n < 2; n++)
        for (int c = 0; c < 150; c += 7) {
            double s = 0, mx = -1e9;
            for (int i = 0; i < 16; i++)
                mx = fmax(mx, wd[(n * 16 + i) * 150 + c]);
            for (int i = 0; i < 16; i++)
                s += exp(wd[(n * 16 + i) * 150 + c] - mx);
            for (int i = 0; i < 16; i++) {
                float want = (float)(exp(wd[(n * 16 + i) * 150 + c] - mx) / s);
                assert_true(fabsf(y[(n * 16 + i) * 150 + c] - want) < 1e-6f);
            }
        }
    free_all(out, 1);
    cvm_graph_free(t.g);
    cvm_tensor_free(w);
    cvm_tensor_free(x);
}

static void einsum_case(const char *eq, int n_in, cvm_tensor **in, const float *want, int64_t n,
                        int want_rank)
{
    tnode t = mk("Einsum", n_in, 1);
    a_str(&t, "equation", eq);
    cvm_tensor *out[1] = {NULL};
    assert_int_equal(eval(&t, 12, n_in, in, 1, out, NULL), CVM_OK);
    assert_int_equal(out[0]->ndim, want_rank);
    assert_int_equal(cvm_tensor_numel(out[0]), n);
    expect_close(out[0]->data, want, n, 1e-5f);
    free_all(out, 1);
    cvm_graph_free(t.g);
}

static void test_einsum(void **st)
{
    (void)st;
    cvm_tensor *A = TENS(3, 4), *B = TENS(4, 5), *C3 = TENS(2, 3, 4), *D3 = TENS(2, 4, 5);
    cvm_tensor *S = TENS(4, 4), *v = TENS(6), *w = TENS(6), *E = TENS(2, 3, 3);
    fill_val(A, 7, 3);
    fill_val(B, 5, 2);
    fill_val(C3, 7, 3);
    fill_val(D3, 5, 2);
    fill_val(S, 3, 1);
    fill_val(v, 7, 3);
    fill_val(w, 5, 2);
    fill_val(E, 7, 3);
    einsum_case("ij,jk->ik", 2, (cvm_tensor *[]){A, B}, es_mm, 15, 2);
    einsum_case("bij,bjk->bik", 2, (cvm_tensor *[]){C3, D3}, es_bmm, 30, 3);
    einsum_case("ii->i", 1, (cvm_tensor *[]){S}, es_diag, 4, 1);
    einsum_case("...ij->...ji", 1, (cvm_tensor *[]){C3}, es_ell, 24, 3);
    einsum_case("i,i", 2, (cvm_tensor *[]){v, w}, es_dot, 1, 0);
    einsum_case("ij,jk", 2, (cvm_tensor *[]){A, B}, es_impl, 15, 2);
    einsum_case("ji", 1, (cvm_tensor *[]){A}, es_trans_impl, 12, 2);
    einsum_case("ii", 1, (cvm_tensor *[]){S}, es_trace, 1, 0);
    einsum_case("i, j -> ij", 2, (cvm_tensor *[]){v, w}, es_outer, 36, 2);
    einsum_case("...ii->...i", 1, (cvm_tensor *[]){E}, es_bdiag, 6, 2);
    /* errors: extent mismatch, bad output label, wrong term count */
    const char *bad[] = {"ij,ik->jk", "ij,jk->iz", "ij->", "ij,jk,kl->il"};
    int nbad[] = {2, 2, 2, 2};
    for (int i = 0; i < 4; i++) {
        tnode t = mk("Einsum", nbad[i], 1);
        a_str(&t, "equation", bad[i]);
        cvm_tensor *out[1] = {NULL};
        cvm_status s = eval(&t, 12, 2, (cvm_tensor *[]){A, B}, 1, out, NULL);
        assert_int_equal(s, CVM_E_SHAPE);
        cvm_graph_free(t.g);
    }
    cvm_tensor *all[] = {A, B, C3, D3, S, v, w, E};
    free_all(all, 8);
}

static void test_dropout(void **st)
{
    (void)st;
    cvm_tensor *x = TENS(3, 5), *out[2] = {NULL, NULL};
    fill_val(x, 7, 3);
    tnode t = mk("Dropout", 1, 2);
    assert_int_equal(eval(&t, 13, 1, &x, 2, out, NULL), CVM_OK);
    assert_memory_equal(out[0]->data, x->data, 60);
    assert_int_equal(out[1]->dtype, CVM_DTYPE_BOOL);
    for (int i = 0; i < 15; i++)
        assert_int_equal(((uint8_t *)out[1]->data)[i], 1);
    free_all(out, 2);
    cvm_graph_free(t.g);
    cvm_tensor_free(x);
}

int main(void)
{
    if (cvm_threadpool_create(2, &pool2) != CVM_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gemm_kernels_vs_reference),
        cmocka_unit_test(test_gemm_wide_tiles),
        cmocka_unit_test(test_gemm_prepacked_b_rows_split),
        cmocka_unit_test(test_conv_vs_naive),
        cmocka_unit_test(test_conv_auto_pad),
        cmocka_unit_test(test_conv_errors),
        cmocka_unit_test(test_convtranspose_vs_naive),
        cmocka_unit_test(test_convtranspose_output_shape),
        cmocka_unit_test(test_matmul_broadcast),
        cmocka_unit_test(test_gemm_attrs),
        cmocka_unit_test(test_pooling),
        cmocka_unit_test(test_global_pool_long),
        cmocka_unit_test(test_norms),
        cmocka_unit_test(test_softmax_axis_semantics),
        cmocka_unit_test(test_einsum),
        cmocka_unit_test(test_dropout),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    cvm_threadpool_free(pool2);
    return r;
}
