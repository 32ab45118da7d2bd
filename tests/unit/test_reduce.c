#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "op_test.h"

/* Expected values below were computed with onnxruntime (reduce_cases, resize_cases,
 * gridsample cases) and pasted as literals. */
static const float rx[] = {-2.0f, 1.5f, -0.5f, 3.0f, 1.0f, -1.0f, 2.5f, 0.5f, -1.5f, 2.0f, 0.0f, -2.0f, 1.5f, -0.5f, 3.0f, 1.0f, -1.0f, 2.5f, 0.5f, -1.5f, 2.0f, 0.0f, -2.0f, 1.5f};
static const float rxp[] = {2.25f, 1.75f, 0.75f, 3.25f, 1.25f, 1.25f, 2.75f, 0.75f, 1.75f, 2.25f, 0.25f, 2.25f, 1.75f, 0.75f, 3.25f, 1.25f, 1.25f, 2.75f, 0.75f, 1.75f, 2.25f, 0.25f, 2.25f, 1.75f};
static const float e_sum_ax1[] = {-2.5f, 2.5f, 2.0f, 1.5f, 2.5f, 2.0f, 1.5f, 1.0f};
static const float e_sum_ax02[] = {7.0f, 3.5f, 0.0f};
static const float e_sum_all[] = {10.5f};
static const float e_mean_ax1[] = {-0.833333313f, 0.833333313f, 0.666666687f, 0.5f, 0.833333313f, 0.666666687f, 0.5f, 0.333333343f};
static const float e_mean_ax02[] = {0.875f, 0.4375f, 0.0f};
static const float e_mean_all[] = {0.4375f};
static const float e_max_ax1[] = {1.0f, 2.0f, 2.5f, 3.0f, 2.0f, 2.5f, 3.0f, 1.5f};
static const float e_max_ax02[] = {3.0f, 2.5f, 2.0f};
static const float e_max_all[] = {3.0f};
static const float e_min_ax1[] = {-2.0f, -1.0f, -0.5f, -2.0f, -1.0f, -0.5f, -2.0f, -1.5f};
static const float e_min_ax02[] = {-2.0f, -1.5f, -2.0f};
static const float e_min_all[] = {-2.0f};
static const float e_prod_ax1[] = {3.0f, -3.0f, -0.0f, -3.0f, -3.0f, -0.0f, -3.0f, -2.25f};
static const float e_prod_ax02[] = {-10.125f, -2.34375f, -0.0f};
static const float e_prod_all[] = {-0.0f};
static const float e_l1_ax1[] = {4.5f, 4.5f, 3.0f, 5.5f, 4.5f, 3.0f, 5.5f, 4.0f};
static const float e_l1_ax02[] = {13.0f, 10.5f, 11.0f};
static const float e_l1_all[] = {34.5f};
static const float e_l2_ax1[] = {2.69258237f, 2.69258237f, 2.54950976f, 3.64005494f, 2.69258237f, 2.54950976f, 3.64005494f, 2.34520793f};
static const float e_l2_ax02[] = {5.29150248f, 4.27200174f, 4.52769279f};
static const float e_l2_all[] = {8.17006779f};
static const float e_logsum_ax1[] = {1.65822804f, 1.65822804f, 1.32175589f, 1.83258152f, 1.65822804f, 1.32175589f, 1.83258152f, 1.55814457f};
static const float e_logsum_ax02[] = {2.70805025f, 2.5257287f, 2.56494927f};
static const float e_logsum_all[] = {3.70130205f};
static const float e_logsumexp_ax1[] = {1.123873f, 2.50459695f, 2.623873f, 3.08509731f, 2.50459695f, 2.623873f, 3.08509731f, 2.00459695f};
static const float e_logsumexp_ax02[] = {3.97407961f, 3.44488239f, 3.07977915f};
static const float e_logsumexp_all[] = {4.66621208f};
static const float e_sumsquare_ax1[] = {7.25f, 7.25f, 6.5f, 13.25f, 7.25f, 6.5f, 13.25f, 5.5f};
static const float e_sumsquare_ax02[] = {28.0f, 18.25f, 20.5f};
static const float e_sumsquare_all[] = {66.75f};
static const int32_t e_isum[] = {-2, 6};
static const int32_t e_imax[] = {9, 1, 2};
static const int64_t e_lprod[] = {-42, -36};
static const int64_t e_lmean[] = {0, 2};
static const int64_t e_argmax_0_0[] = {1, 0, 0, 1, 0, 1, 0, 1, 1, 1, 1, 0};
static const int64_t e_argmax_0_1[] = {1, 0, 0, 1, 0, 1, 0, 1, 1, 1, 1, 0};
static const int64_t e_argmax_1_0[] = {1, 0, 1, 2, 2, 1, 2, 1};
static const int64_t e_argmax_1_1[] = {1, 0, 1, 2, 2, 1, 2, 1};
static const int64_t e_argmax_2_0[] = {1, 0, 3, 0, 1, 0};
static const int64_t e_argmax_2_1[] = {2, 2, 3, 3, 3, 2};
static const int64_t e_argmax_9_0[] = {1, 0, 3, 0, 1, 0};
static const int64_t e_argmax_9_1[] = {2, 2, 3, 3, 3, 2};
static const int64_t e_argmin_0_0[] = {0, 1, 1, 0, 1, 0, 1, 0, 0, 0, 0, 1};
static const int64_t e_argmin_0_1[] = {0, 1, 1, 0, 1, 0, 1, 0, 0, 0, 0, 1};
static const int64_t e_argmin_1_0[] = {0, 1, 2, 0, 1, 2, 1, 2};
static const int64_t e_argmin_1_1[] = {0, 1, 2, 0, 1, 2, 1, 2};
static const int64_t e_argmin_2_0[] = {0, 1, 2, 0, 0, 3};
static const int64_t e_argmin_2_1[] = {0, 1, 2, 3, 0, 3};
static const int64_t e_argmin_9_0[] = {0, 1, 2, 0, 0, 3};
static const int64_t e_argmin_9_1[] = {0, 1, 2, 3, 0, 3};
static const float ax[] = {1.0f, 5.0f, 5.0f, 2.0f, 7.0f, 0.0f, 7.0f, 3.0f, 2.0f, 2.0f, 1.0f, 9.0f, 4.0f, 4.0f, 4.0f, 4.0f, 0.0f, 8.0f, 1.0f, 8.0f, 6.0f, 3.0f, 6.0f, 2.0f};
static const float zx[] = {1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f, 7.0f, 8.0f, 9.0f, 10.0f, 11.0f, 12.0f};
static const float e_near2x_asym_floor[] = {1.0f, 1.0f, 2.0f, 2.0f, 3.0f, 3.0f, 4.0f, 4.0f, 1.0f, 1.0f, 2.0f, 2.0f, 3.0f, 3.0f, 4.0f, 4.0f, 5.0f, 5.0f, 6.0f, 6.0f, 7.0f, 7.0f, 8.0f, 8.0f, 5.0f, 5.0f, 6.0f, 6.0f, 7.0f, 7.0f, 8.0f, 8.0f, 9.0f, 9.0f, 10.0f, 10.0f, 11.0f, 11.0f, 12.0f, 12.0f, 9.0f, 9.0f, 10.0f, 10.0f, 11.0f, 11.0f, 12.0f, 12.0f};
static const float e_near2x_default[] = {1.0f, 1.0f, 2.0f, 2.0f, 3.0f, 3.0f, 4.0f, 4.0f, 1.0f, 1.0f, 2.0f, 2.0f, 3.0f, 3.0f, 4.0f, 4.0f, 5.0f, 5.0f, 6.0f, 6.0f, 7.0f, 7.0f, 8.0f, 8.0f, 5.0f, 5.0f, 6.0f, 6.0f, 7.0f, 7.0f, 8.0f, 8.0f, 9.0f, 9.0f, 10.0f, 10.0f, 11.0f, 11.0f, 12.0f, 12.0f, 9.0f, 9.0f, 10.0f, 10.0f, 11.0f, 11.0f, 12.0f, 12.0f};
static const float e_near_down_ceil[] = {6.0f, 7.0f};
static const float e_near_sizes_rpc[] = {1.0f, 1.0f, 2.0f, 3.0f, 3.0f, 4.0f, 4.0f, 1.0f, 1.0f, 2.0f, 3.0f, 3.0f, 4.0f, 4.0f, 5.0f, 5.0f, 6.0f, 7.0f, 7.0f, 8.0f, 8.0f, 9.0f, 9.0f, 10.0f, 11.0f, 11.0f, 12.0f, 12.0f, 9.0f, 9.0f, 10.0f, 11.0f, 11.0f, 12.0f, 12.0f};
static const float e_lin_half_up[] = {1.0f, 1.25f, 1.75f, 2.25f, 2.75f, 3.25f, 3.75f, 4.0f, 2.0f, 2.25f, 2.75f, 3.25f, 3.75f, 4.25f, 4.75f, 5.0f, 4.0f, 4.25f, 4.75f, 5.25f, 5.75f, 6.25f, 6.75f, 7.0f, 6.0f, 6.25f, 6.75f, 7.25f, 7.75f, 8.25f, 8.75f, 9.0f, 8.0f, 8.25f, 8.75f, 9.25f, 9.75f, 10.25f, 10.75f, 11.0f, 9.0f, 9.25f, 9.75f, 10.25f, 10.75f, 11.25f, 11.75f, 12.0f};
static const float e_lin_half_down[] = {2.66666651f, 4.33333302f};
static const float e_lin_align_sizes[] = {1.0f, 1.60000002f, 2.20000005f, 2.79999995f, 3.4000001f, 4.0f, 3.66666675f, 4.26666641f, 4.86666679f, 5.46666622f, 6.0666666f, 6.66666698f, 6.33333349f, 6.9333334f, 7.53333282f, 8.13333321f, 8.73333359f, 9.33333302f, 9.0f, 9.60000038f, 10.1999998f, 10.7999992f, 11.3999996f, 12.0f};
static const float e_lin_pytorch_sizes[] = {1.16666675f, 2.5f, 3.83333325f};
static const float e_lin_half_sizes2x[] = {1.0f, 1.25f, 1.75f, 2.25f, 2.75f, 3.25f, 3.75f, 4.0f, 2.0f, 2.25f, 2.75f, 3.25f, 3.75f, 4.25f, 4.75f, 5.0f, 4.0f, 4.25f, 4.75f, 5.25f, 5.75f, 6.25f, 6.75f, 7.0f, 6.0f, 6.25f, 6.75f, 7.25f, 7.75f, 8.25f, 8.75f, 9.0f, 8.0f, 8.25f, 8.75f, 9.25f, 9.75f, 10.25f, 10.75f, 11.0f, 9.0f, 9.25f, 9.75f, 10.25f, 10.75f, 11.25f, 11.75f, 12.0f};
static const float e_lin_hps[] = {1.0f, 1.19565213f, 1.63043475f, 2.06521749f, 2.5f, 2.93478274f, 3.36956525f, 3.80434799f, 4.0f, 2.64705896f, 2.84271121f, 3.27749372f, 3.71227646f, 4.14705944f, 4.58184147f, 5.01662445f, 5.45140743f, 5.64705896f, 5.0f, 5.19565201f, 5.63043499f, 6.06521749f, 6.5f, 6.93478298f, 7.36956501f, 7.80434799f, 8.0f, 7.35294151f, 7.54859352f, 7.9833765f, 8.41815948f, 8.85294151f, 9.28772449f, 9.72250652f, 10.1572895f, 10.3529415f, 9.0f, 9.19565201f, 9.63043499f, 10.065218f, 10.5f, 10.934783f, 11.369566f, 11.804348f, 12.0f};
static const float e_cub_half_up[] = {0.47265625f, 0.76953125f, 1.24609375f, 1.875f, 2.28125f, 2.91015625f, 3.38671875f, 3.68359375f, 1.66015625f, 1.95703125f, 2.43359375f, 3.0625f, 3.46875f, 4.09765625f, 4.57421875f, 4.87109375f, 3.56640625f, 3.86328125f, 4.33984375f, 4.96875f, 5.375f, 6.00390625f, 6.48046875f, 6.77734375f, 6.22265625f, 6.51953125f, 6.99609375f, 7.625f, 8.03125f, 8.66015625f, 9.13671875f, 9.43359375f, 8.12890625f, 8.42578125f, 8.90234375f, 9.53125f, 9.9375f, 10.5664062f, 11.0429688f, 11.3398438f, 9.31640625f, 9.61328125f, 10.0898438f, 10.71875f, 11.125f, 11.7539062f, 12.2304688f, 12.5273438f};
static const float e_cub_excl_asym[] = {1.0f, 1.60714281f, 2.33333421f, 3.0f, 3.7586205f, 4.10526323f, 6.1603055f, 6.76744747f, 7.49363899f, 8.16030598f, 8.91892529f, 9.26556873f};
/* onnxruntime leaves an axis alone when its size does not change, even under
 * tf_crop_and_resize; the spec (and the ONNX reference) crop it: these values
 * follow the spec and were checked by hand (row 1: 1 + 1.6 * 4 + 1.8 = 9.2). */
static const float e_tf_crop[] = {6.0f, 10.0f, 10.0f, 9.2f, 10.0f, 10.0f, 10.0f, 10.0f, 10.0f};
static const float e_axes_aspect[] = {1.0f, 1.5f, 2.16666651f, 2.83333325f, 3.5f, 4.0f, 3.0f, 3.5f, 4.16666651f, 4.83333349f, 5.5f, 6.0f, 5.66666651f, 6.16666651f, 6.83333302f, 7.49999952f, 8.16666603f, 8.66666698f, 8.33333302f, 8.83333206f, 9.5f, 10.166666f, 10.833333f, 11.333333f, 9.0f, 9.5f, 10.166666f, 10.833334f, 11.5f, 12.0f};
static const float e_antialias_lin[] = {3.125f, 4.875f};
static const float e_antialias_cub[] = {2.36398864f, 4.38352013f, 8.17736816f, 10.1968994f};
static const float e_up_near[] = {1.0f, 1.0f, 2.0f, 3.0f, 3.0f, 4.0f, 1.0f, 1.0f, 2.0f, 3.0f, 3.0f, 4.0f, 5.0f, 5.0f, 6.0f, 7.0f, 7.0f, 8.0f, 5.0f, 5.0f, 6.0f, 7.0f, 7.0f, 8.0f, 9.0f, 9.0f, 10.0f, 11.0f, 11.0f, 12.0f, 9.0f, 9.0f, 10.0f, 11.0f, 11.0f, 12.0f};
static const float e_up_lin[] = {1.0f, 1.5f, 2.0f, 2.5f, 3.0f, 3.5f, 4.0f, 4.0f, 3.0f, 3.5f, 4.0f, 4.5f, 5.0f, 5.5f, 6.0f, 6.0f, 5.0f, 5.5f, 6.0f, 6.5f, 7.0f, 7.5f, 8.0f, 8.0f, 7.0f, 7.5f, 8.0f, 8.5f, 9.0f, 9.5f, 10.0f, 10.0f, 9.0f, 9.5f, 10.0f, 10.5f, 11.0f, 11.5f, 12.0f, 12.0f, 9.0f, 9.5f, 10.0f, 10.5f, 11.0f, 11.5f, 12.0f, 12.0f};
static const float e_r10_near[] = {1.0f, 3.0f};
struct gs_case { const char *mode, *pad; int align; const float *want; };
static const float gx[] = {-1.0f, -0.5f, 0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 2.5f, 3.0f, 3.5f, 4.0f, 4.5f, 5.0f, 5.5f, 6.0f, 6.5f, 7.0f, 7.5f, 8.0f, 8.5f, 9.0f, 9.5f, 10.0f, 10.5f};
static const float gg[] = {-1.29999995f, -1.0f, -0.600000024f, -0.200000003f, 0.0f, 0.0f, 0.349999994f, 0.699999988f, 1.0f, 1.0f, 1.25f, -0.899999976f, -0.0500000007f, 0.550000012f, 0.800000012f, -1.10000002f, 2.70000005f, 0.300000012f, -0.75f, 1.60000002f};
static const float e_gs_bilinear_zeros_0[] = {0.0f, 0.550000072f, 1.75f, 3.89499927f, 1.125f, 0.0f, 3.34999943f, 0.157499999f, 0.0f, 0.0f, 0.0f, 6.55000019f, 7.75f, 9.59499836f, 2.625f, 0.0f, 9.35000038f, 2.0474999f, 0.0f, 0.0f};
static const float e_gs_bilinear_zeros_1[] = {-0.550000072f, 0.899999976f, 1.75f, 3.41250014f, 4.5f, 0.43750003f, 2.8125f, 0.314999908f, 0.0f, 1.27500033f, 2.75000048f, 6.89999962f, 7.75f, 9.41250038f, 10.5f, 4.1875f, 8.8125f, 5.71499968f, 0.0f, 3.67500091f};
static const float e_gs_bilinear_border_0[] = {-1.0f, 0.550000072f, 1.75f, 4.0999999f, 4.5f, 0.5f, 3.34999967f, 0.5f, 3.39999986f, 3.0f, 5.0f, 6.55000019f, 7.75f, 10.1000004f, 10.5f, 6.5f, 9.34999943f, 6.5f, 9.39999962f, 9.0f};
static const float e_gs_bilinear_border_1[] = {-1.0f, 0.899999976f, 1.75f, 3.41250014f, 4.5f, 0.700000048f, 2.8125f, 0.349999905f, 3.0999999f, 3.1875f, 5.0f, 6.89999962f, 7.75f, 9.41250038f, 10.5f, 6.70000029f, 8.8125f, 6.3499999f, 9.10000038f, 9.1875f};
static const float e_gs_bilinear_reflection_0[] = {-0.950000048f, 0.550000072f, 1.75f, 4.0999999f, 4.5f, 0.5f, 3.34999967f, 0.5f, 1.94999981f, 2.20000029f, 5.05000019f, 6.55000019f, 7.75f, 10.1000004f, 10.5f, 6.5f, 9.34999943f, 6.5f, 7.94999933f, 8.20000076f};
static const float e_gs_bilinear_reflection_1[] = {-0.775000036f, 0.899999976f, 1.75f, 3.41250014f, 4.5f, 0.512500048f, 2.8125f, 0.549999952f, 1.82499981f, 1.98750019f, 5.22500038f, 6.89999962f, 7.75f, 9.41250038f, 10.5f, 6.51249981f, 8.8125f, 6.54999971f, 7.82499981f, 7.98750019f};
static const float e_gs_nearest_zeros_0[] = {0.0f, 1.0f, 2.0f, 4.0f, 0.0f, 0.0f, 3.5f, 0.0f, 0.0f, 0.0f, 0.0f, 7.0f, 8.0f, 10.0f, 0.0f, 0.0f, 9.5f, 0.0f, 0.0f, 0.0f};
static const float e_gs_nearest_zeros_1[] = {-1.0f, 1.5f, 2.0f, 4.0f, 4.5f, 0.5f, 3.5f, 0.5f, 0.0f, 0.0f, 5.0f, 7.5f, 8.0f, 10.0f, 10.5f, 6.5f, 9.5f, 6.5f, 0.0f, 0.0f};
static const float e_gs_nearest_border_0[] = {-1.0f, 1.0f, 2.0f, 4.0f, 4.5f, 0.5f, 3.5f, 0.5f, 2.5f, 3.0f, 5.0f, 7.0f, 8.0f, 10.0f, 10.5f, 6.5f, 9.5f, 6.5f, 8.5f, 9.0f};
static const float e_gs_nearest_border_1[] = {-1.0f, 1.5f, 2.0f, 4.0f, 4.5f, 0.5f, 3.5f, 0.5f, 2.5f, 3.0f, 5.0f, 7.5f, 8.0f, 10.0f, 10.5f, 6.5f, 9.5f, 6.5f, 8.5f, 9.0f};
static const float e_gs_nearest_reflection_0[] = {-1.0f, 1.0f, 2.0f, 4.0f, 4.5f, 0.5f, 3.5f, 0.5f, 1.0f, 3.0f, 5.0f, 7.0f, 8.0f, 10.0f, 10.5f, 6.5f, 9.5f, 6.5f, 7.0f, 9.0f};
static const float e_gs_nearest_reflection_1[] = {-1.0f, 1.5f, 2.0f, 4.0f, 4.5f, 0.5f, 3.5f, 0.5f, 1.0f, 1.0f, 5.0f, 7.5f, 8.0f, 10.0f, 10.5f, 6.5f, 9.5f, 6.5f, 7.0f, 7.0f};
static const float e_gs_bicubic_zeros_0[] = {0.0417654663f, 0.314812154f, 1.75f, 4.14647007f, 1.2421875f, 0.0f, 3.77841926f, 0.0532873571f, 0.0f, -0.32400012f, -0.140483826f, 7.29106903f, 7.75f, 10.0489349f, 2.7421875f, 0.0f, 10.3144083f, 1.88710654f, 0.0f, -0.97200036f};
static const float e_gs_bicubic_zeros_1[] = {-0.607234359f, 0.721151531f, 1.75f, 4.00013113f, 4.5f, 0.493789852f, 3.38105917f, 0.268335879f, 0.0f, 1.50882185f, 2.72988987f, 7.30751991f, 7.75f, 10.6646748f, 10.5f, 4.56483364f, 9.99362087f, 6.38359451f, 0.0f, 4.09258413f};
static const float e_gs_bicubic_border_0[] = {-1.1875f, 0.337375969f, 1.75f, 4.2036891f, 4.734375f, 0.278188348f, 3.44681859f, 0.410937369f, 3.5918138f, 3.00000095f, 4.8125f, 6.33737755f, 7.75f, 10.2036924f, 10.734375f, 6.27819061f, 9.44681549f, 6.41094017f, 9.59181499f, 9.00000381f};
static const float e_gs_bicubic_border_1[] = {-1.05104709f, 0.707999468f, 1.75f, 3.55502176f, 4.5f, 0.705432355f, 3.00110078f, 0.26262486f, 3.27849984f, 3.29121614f, 4.94895363f, 6.70800066f, 7.75f, 9.55502701f, 10.5f, 6.70543385f, 9.00110054f, 6.2626276f, 9.27850342f, 9.29121494f};
static const float e_gs_bicubic_reflection_0[] = {-1.33737504f, 0.337375969f, 1.75f, 4.20725203f, 4.96875f, 0.158750683f, 3.44681859f, 0.192500606f, 2.1294384f, 2.36799955f, 4.66262531f, 6.33737755f, 7.75f, 10.2072554f, 10.96875f, 6.15875292f, 9.44681549f, 6.19250298f, 8.12943935f, 8.36800194f};
static const float e_gs_bicubic_reflection_1[] = {-0.870906174f, 0.623999953f, 1.75f, 3.77574968f, 4.5f, 0.436715543f, 3.20528817f, 0.468250573f, 2.00209355f, 2.22828579f, 5.12909412f, 6.62400055f, 7.75f, 9.77575397f, 10.5f, 6.43671656f, 9.20528793f, 6.46825314f, 8.00209522f, 8.22828484f};
static const struct gs_case gs_cases[] = {
    {"bilinear", "zeros", 0, e_gs_bilinear_zeros_0},
    {"bilinear", "zeros", 1, e_gs_bilinear_zeros_1},
    {"bilinear", "border", 0, e_gs_bilinear_border_0},
    {"bilinear", "border", 1, e_gs_bilinear_border_1},
    {"bilinear", "reflection", 0, e_gs_bilinear_reflection_0},
    {"bilinear", "reflection", 1, e_gs_bilinear_reflection_1},
    {"nearest", "zeros", 0, e_gs_nearest_zeros_0},
    {"nearest", "zeros", 1, e_gs_nearest_zeros_1},
    {"nearest", "border", 0, e_gs_nearest_border_0},
    {"nearest", "border", 1, e_gs_nearest_border_1},
    {"nearest", "reflection", 0, e_gs_nearest_reflection_0},
    {"nearest", "reflection", 1, e_gs_nearest_reflection_1},
    {"bicubic", "zeros", 0, e_gs_bicubic_zeros_0},
    {"bicubic", "zeros", 1, e_gs_bicubic_zeros_1},
    {"bicubic", "border", 0, e_gs_bicubic_border_0},
    {"bicubic", "border", 1, e_gs_bicubic_border_1},
    {"bicubic", "reflection", 0, e_gs_bicubic_reflection_0},
    {"bicubic", "reflection", 1, e_gs_bicubic_reflection_1},
};

/* ---------------------------------------------------------------- Reduce */

static const char *const rops[] = {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd",
                                   "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp",
                                   "ReduceSumSquare"};
static const float *const want_ax1[] = {e_sum_ax1, e_mean_ax1, e_max_ax1, e_min_ax1, e_prod_ax1,
                                        e_l1_ax1, e_l2_ax1, e_logsum_ax1, e_logsumexp_ax1, e_sumsquare_ax1};
static const float *const want_ax02[] = {e_sum_ax02, e_mean_ax02, e_max_ax02, e_min_ax02, e_prod_ax02,
                                         e_l1_ax02, e_l2_ax02, e_logsum_ax02, e_logsumexp_ax02,
                                         e_sumsquare_ax02};
static const float *const want_all[] = {e_sum_all, e_mean_all, e_max_all, e_min_all, e_prod_all,
                                        e_l1_all, e_l2_all, e_logsum_all, e_logsumexp_all, e_sumsquare_all};

/* Runs a reduction with axes as attribute (axes_input 0) or as input. */
static cvm_status reduce_eval(const char *op, const cvm_tensor *x, int n_axes, const int64_t *axes,
                              int keep, int axes_input, int noop, cvm_tensor **out)
{
    cvm_node *n;
    int opset = axes_input ? 18 : 11;
    cvm_graph *g = mk(op, axes_input ? 2 : 1, 1, &n);
    cvm_tensor *at = NULL;
    if (keep >= 0)
        attr_i(n, "keepdims", keep);
    if (noop)
        attr_i(n, "noop_with_empty_axes", 1);
    if (axes_input) {
        int64_t d = n_axes;
        at = tens(CVM_DTYPE_INT64, 1, &d, axes);
    } else if (n_axes) {
        attr_ints(n, "axes", (size_t)n_axes, axes);
    }
    const cvm_tensor *in[2] = {x, at};
    cvm_status st = cvm_node_eval(n, opset, axes_input ? 2 : 1, in, 1, out, NULL);
    cvm_tensor_free(at);
    cvm_graph_free(g);
    return st;
}

static void test_reduce_all_ops(void **st)
{
    (void)st;
    int64_t dims[3] = {2, 3, 4};
    cvm_tensor *x = tens(CVM_DTYPE_FLOAT32, 3, dims, rx), *xp = tens(CVM_DTYPE_FLOAT32, 3, dims, rxp);
    cvm_threadpool *pool;
    assert_int_equal(cvm_threadpool_create(2, &pool), CVM_OK);
    for (int k = 0; k < 10; k++) {
        const cvm_tensor *in = k == 7 ? xp : x;
        for (int form = 0; form < 2; form++) {
            cvm_tensor *y = NULL;
            int64_t a1[1] = {1}, a02[2] = {0, -1};
            assert_int_equal(reduce_eval(rops[k], in, 1, a1, 1, form, 0, &y), CVM_OK);
            int64_t d1[3] = {2, 1, 4};
            expect_shape(y, 3, d1);
            expect_f32(y, want_ax1[k], 8, 1e-5f);
            cvm_tensor_free(y);
            assert_int_equal(reduce_eval(rops[k], in, 2, a02, 0, form, 0, &y), CVM_OK);
            int64_t d02[1] = {3};
            expect_shape(y, 1, d02);
            expect_f32(y, want_ax02[k], 3, 1e-5f);
            cvm_tensor_free(y);
            /* no axes: everything, keepdims default 1 */
            assert_int_equal(reduce_eval(rops[k], in, 0, NULL, -1, form, 0, &y), CVM_OK);
            int64_t d0[3] = {1, 1, 1};
            expect_shape(y, 3, d0);
            expect_f32(y, want_all[k], 1, 1e-5f);
            cvm_tensor_free(y);
        }
        /* noop_with_empty_axes passes the input through */
        cvm_tensor *y = NULL;
        assert_int_equal(reduce_eval(rops[k], in, 0, NULL, 1, 1, 1, &y), CVM_OK);
        expect_shape(y, 3, dims);
        expect_f32(y, in->data, 24, 0.0f);
        cvm_tensor_free(y);
    }
    /* the same through a thread pool, on a bigger tensor: sum over axis 1 of [3, 1000, 37] */
    int64_t bd[3] = {3, 1000, 37};
    cvm_tensor *big = tens(CVM_DTYPE_FLOAT32, 3, bd, NULL);
    float *b = big->data;
    for (int i = 0; i < 3 * 1000 * 37; i++)
        b[i] = (float)((i * 7) % 13) - 6.0f;
    for (int axis = 0; axis < 3; axis++) {
        cvm_node *n;
        cvm_graph *g = mk("ReduceMean", 1, 1, &n);
        int64_t ax = axis;
        attr_ints(n, "axes", 1, &ax);
        attr_i(n, "keepdims", 0);
        const cvm_tensor *in[1] = {big};
        cvm_tensor *y;
        assert_int_equal(cvm_node_eval(n, 13, 1, in, 1, &y, pool), CVM_OK);
        /* naive double-precision reference */
        int64_t od[2];
        int k = 0;
        for (int d = 0; d < 3; d++)
            if (d != axis)
                od[k++] = bd[d];
        const float *yo = y->data;
        for (int64_t i = 0; i < od[0]; i++)
            for (int64_t j = 0; j < od[1]; j++) {
                double s = 0;
                for (int64_t r = 0; r < bd[axis]; r++) {
                    int64_t idx[3];
                    int q = 0;
                    for (int d = 0; d < 3; d++)
                        idx[d] = d == axis ? r : (q++ == 0 ? i : j);
                    s += b[(idx[0] * 1000 + idx[1]) * 37 + idx[2]];
                }
                s /= (double)bd[axis];
                assert_true(fabs(yo[i * od[1] + j] - s) < 1e-4);
            }
        cvm_tensor_free(y);
        cvm_graph_free(g);
    }
    cvm_tensor_free(big);
    cvm_threadpool_free(pool);
    cvm_tensor_free(x);
    cvm_tensor_free(xp);
}

static void test_reduce_empty_and_int(void **st)
{
    (void)st;
    int64_t dims[3] = {2, 0, 3};
    cvm_tensor *x = tens(CVM_DTYPE_FLOAT32, 3, dims, NULL);
    /* identities: sum 0, prod 1, max -inf, min +inf, log-sum and log-sum-exp -inf */
    const float ident[10] = {0.0f, NAN, -INFINITY, INFINITY, 1.0f, 0.0f, 0.0f, -INFINITY, -INFINITY, 0.0f};
    for (int k = 0; k < 10; k++) {
        int64_t a1[1] = {1};
        cvm_tensor *y = NULL;
        assert_int_equal(reduce_eval(rops[k], x, 1, a1, 0, 1, 0, &y), CVM_OK);
        int64_t od[2] = {2, 3};
        expect_shape(y, 2, od);
        float want[6];
        for (int i = 0; i < 6; i++)
            want[i] = ident[k];
        expect_f32(y, want, 6, 0.0f);
        cvm_tensor_free(y);
    }
    cvm_tensor_free(x);

    int64_t d2[2] = {2, 3};
    const int32_t xi[6] = {3, -7, 2, 9, 1, -4};
    const int64_t xl[6] = {3, -7, 2, 9, 1, -4};
    cvm_tensor *ti = tens(CVM_DTYPE_INT32, 2, d2, xi), *tl = tens(CVM_DTYPE_INT64, 2, d2, xl), *y;
    int64_t a0[1] = {0}, a1[1] = {1};
    assert_int_equal(reduce_eval("ReduceSum", ti, 1, a1, 0, 0, 0, &y), CVM_OK);
    assert_int_equal(y->dtype, CVM_DTYPE_INT32);
    assert_memory_equal(y->data, e_isum, sizeof e_isum);
    cvm_tensor_free(y);
    assert_int_equal(reduce_eval("ReduceMax", ti, 1, a0, 0, 1, 0, &y), CVM_OK);
    assert_memory_equal(y->data, e_imax, sizeof e_imax);
    cvm_tensor_free(y);
    assert_int_equal(reduce_eval("ReduceProd", tl, 1, a1, 1, 1, 0, &y), CVM_OK);
    assert_int_equal(y->dtype, CVM_DTYPE_INT64);
    assert_memory_equal(y->data, e_lprod, sizeof e_lprod);
    cvm_tensor_free(y);
    assert_int_equal(reduce_eval("ReduceMean", tl, 1, a1, 1, 0, 0, &y), CVM_OK);
    assert_memory_equal(y->data, e_lmean, sizeof e_lmean);
    cvm_tensor_free(y);
    /* bad axis is an error, not a crash */
    int64_t bad[1] = {5};
    assert_int_equal(reduce_eval("ReduceSum", ti, 1, bad, 0, 1, 0, &y), CVM_E_SHAPE);
    assert_null(y);
    cvm_tensor_free(ti);
    cvm_tensor_free(tl);
}

static void test_argminmax(void **st)
{
    (void)st;
    int64_t dims[3] = {2, 3, 4};
    cvm_tensor *x = tens(CVM_DTYPE_FLOAT32, 3, dims, ax);
    const int64_t *want[2][4][2] = {
        {{e_argmax_0_0, e_argmax_0_1}, {e_argmax_1_0, e_argmax_1_1}, {e_argmax_2_0, e_argmax_2_1},
         {e_argmax_9_0, e_argmax_9_1}},
        {{e_argmin_0_0, e_argmin_0_1}, {e_argmin_1_0, e_argmin_1_1}, {e_argmin_2_0, e_argmin_2_1},
         {e_argmin_9_0, e_argmin_9_1}}};
    const int64_t axes[4] = {0, 1, 2, -1};
    for (int op = 0; op < 2; op++)
        for (int a = 0; a < 4; a++)
            for (int last = 0; last < 2; last++)
                for (int keep = 0; keep < 2; keep++) {
                    cvm_node *n;
                    cvm_graph *g = mk(op ? "ArgMin" : "ArgMax", 1, 1, &n);
                    attr_i(n, "axis", axes[a]);
                    attr_i(n, "keepdims", keep);
                    attr_i(n, "select_last_index", last);
                    const cvm_tensor *in[1] = {x};
                    cvm_tensor *y;
                    assert_int_equal(cvm_node_eval(n, 13, 1, in, 1, &y, NULL), CVM_OK);
                    assert_int_equal(y->dtype, CVM_DTYPE_INT64);
                    int ax = (int)(axes[a] < 0 ? axes[a] + 3 : axes[a]);
                    assert_int_equal(y->ndim, keep ? 3 : 2);
                    int64_t numel = 24 / dims[ax];
                    assert_int_equal(cvm_tensor_numel(y), numel);
                    assert_memory_equal(y->data, want[op][a][last], (size_t)numel * 8);
                    cvm_tensor_free(y);
                    cvm_graph_free(g);
                }
    cvm_tensor_free(x);
}

/* ---------------------------------------------------------------- Resize */

typedef struct rz {
    const char *mode, *ctm, *nearest;
    const float *scales;   /* 4 values, or NULL */
    const int64_t *sizes;  /* NULL, or n_sz values */
    int n_sz;
    const float *roi;      /* 8 values, or NULL */
    int64_t out[4];
    const float *want;
} rz;

static cvm_tensor *resize_eval(const rz *c, int opset, void (*extra)(cvm_node *), cvm_threadpool *pool)
{
    int64_t xd[4] = {1, 1, 3, 4};
    cvm_tensor *x = tens(CVM_DTYPE_FLOAT32, 4, xd, zx);
    cvm_node *n;
    cvm_graph *g = mk("Resize", 4, 1, &n);
    attr_s(n, "mode", c->mode);
    if (c->ctm)
        attr_s(n, "coordinate_transformation_mode", c->ctm);
    if (c->nearest)
        attr_s(n, "nearest_mode", c->nearest);
    if (extra)
        extra(n);
    int64_t four = 4, eight = 8, nsz = c->n_sz;
    cvm_tensor *roi = c->roi ? tens(CVM_DTYPE_FLOAT32, 1, &eight, c->roi) : NULL;
    cvm_tensor *sc = c->scales ? tens(CVM_DTYPE_FLOAT32, 1, &four, c->scales) : NULL;
    cvm_tensor *sz = c->sizes ? tens(CVM_DTYPE_INT64, 1, &nsz, c->sizes) : NULL;
    if (!roi)
        n->in[1] = -1;
    if (!sc)
        n->in[2] = -1;
    if (!sz)
        n->in[3] = -1;
    const cvm_tensor *in[4] = {x, roi, sc, sz};
    cvm_tensor *y = NULL;
    cvm_status s = cvm_node_eval(n, opset, sz ? 4 : 3, in, 1, &y, pool);
    if (s != CVM_OK)
        fail_msg("Resize %s/%s: %s", c->mode, c->ctm ? c->ctm : "-", cvm_last_error());
    cvm_tensor_free(x);
    cvm_tensor_free(roi);
    cvm_tensor_free(sc);
    cvm_tensor_free(sz);
    cvm_graph_free(g);
    return y;
}

static void check_rz(const rz *c, int opset, void (*extra)(cvm_node *))
{
    cvm_threadpool *pool;
    assert_int_equal(cvm_threadpool_create(3, &pool), CVM_OK);
    for (int p = 0; p < 2; p++) {
        cvm_tensor *y = resize_eval(c, opset, extra, p ? pool : NULL);
        expect_shape(y, 4, c->out);
        expect_f32(y, c->want, c->out[0] * c->out[1] * c->out[2] * c->out[3], 2e-5f);
        cvm_tensor_free(y);
    }
    cvm_threadpool_free(pool);
}

static const float sc2[4] = {1, 1, 2, 2}, scd[4] = {1, 1, 0.6f, 0.6f};

static void cubic_excl(cvm_node *n)
{
    attr_f(n, "cubic_coeff_a", -0.5f);
    attr_i(n, "exclude_outside", 1);
}
static void extrap10(cvm_node *n) { attr_f(n, "extrapolation_value", 10.0f); }
static void axes_aspect(cvm_node *n)
{
    int64_t a[2] = {2, 3};
    attr_ints(n, "axes", 2, a);
    attr_s(n, "keep_aspect_ratio_policy", "not_larger");
}
static void antialias(cvm_node *n) { attr_i(n, "antialias", 1); }

static void test_resize_nearest(void **st)
{
    (void)st;
    const int64_t s57[4] = {1, 1, 5, 7};
    rz cases[] = {
        {"nearest", "asymmetric", "floor", sc2, NULL, 0, NULL, {1, 1, 6, 8}, e_near2x_asym_floor},
        {"nearest", NULL, NULL, sc2, NULL, 0, NULL, {1, 1, 6, 8}, e_near2x_default},
        {"nearest", NULL, "ceil", scd, NULL, 0, NULL, {1, 1, 1, 2}, e_near_down_ceil},
        {"nearest", "half_pixel", "round_prefer_ceil", NULL, s57, 4, NULL, {1, 1, 5, 7}, e_near_sizes_rpc},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_rz(&cases[i], 19, NULL);
    /* opset 10: scales is input 1 and downsampling rounds up */
    int64_t xd[4] = {1, 1, 3, 4}, four = 4;
    cvm_tensor *x = tens(CVM_DTYPE_FLOAT32, 4, xd, zx), *sc = tens(CVM_DTYPE_FLOAT32, 1, &four, scd), *y;
    cvm_node *n;
    cvm_graph *g = mk("Resize", 2, 1, &n);
    attr_s(n, "mode", "nearest");
    const cvm_tensor *in[2] = {x, sc};
    assert_int_equal(cvm_node_eval(n, 10, 2, in, 1, &y, NULL), CVM_OK);
    expect_f32(y, e_r10_near, 2, 0.0f);
    cvm_tensor_free(y);
    cvm_graph_free(g);
    /* Upsample 9 (scales input) and 7 (scales attribute) */
    const float su[4] = {1, 1, 2, 1.5f};
    cvm_tensor *scu = tens(CVM_DTYPE_FLOAT32, 1, &four, su);
    g = mk("Upsample", 2, 1, &n);
    attr_s(n, "mode", "nearest");
    in[1] = scu;
    assert_int_equal(cvm_node_eval(n, 9, 2, in, 1, &y, NULL), CVM_OK);
    int64_t ud[4] = {1, 1, 6, 6};
    expect_shape(y, 4, ud);
    expect_f32(y, e_up_near, 36, 0.0f);
    cvm_tensor_free(y);
    cvm_graph_free(g);
    g = mk("Upsample", 1, 1, &n);
    attr_s(n, "mode", "linear");
    attr_floats(n, "scales", 4, sc2);
    assert_int_equal(cvm_node_eval(n, 7, 1, in, 1, &y, NULL), CVM_OK);
    expect_f32(y, e_up_lin, 48, 1e-6f);
    cvm_tensor_free(y);
    cvm_graph_free(g);
    cvm_tensor_free(scu);
    cvm_tensor_free(sc);
    cvm_tensor_free(x);
}

static void test_resize_linear_cubic(void **st)
{
    (void)st;
    const int64_t s46[4] = {1, 1, 4, 6}, s13[4] = {1, 1, 1, 3}, s68[4] = {1, 1, 6, 8}, s33[4] = {1, 1, 3, 3};
    const int64_t s66[2] = {6, 6};
    const float shps[4] = {1, 1, 1.7f, 2.3f}, sce[4] = {1, 1, 0.8f, 1.5f};
    const float saa[4] = {1, 1, 0.6f, 0.5f}, saac[4] = {1, 1, 0.7f, 0.5f};
    const float roi[8] = {0, 0, 0.4f, 0.6f, 1, 1, 1.2f, 1.7f};
    rz cases[] = {
        {"linear", NULL, NULL, sc2, NULL, 0, NULL, {1, 1, 6, 8}, e_lin_half_up},
        {"linear", NULL, NULL, scd, NULL, 0, NULL, {1, 1, 1, 2}, e_lin_half_down},
        {"linear", "align_corners", NULL, NULL, s46, 4, NULL, {1, 1, 4, 6}, e_lin_align_sizes},
        {"linear", "pytorch_half_pixel", NULL, NULL, s13, 4, NULL, {1, 1, 1, 3}, e_lin_pytorch_sizes},
        /* sizes giving the same shape as scales 2 give the same values */
        {"linear", NULL, NULL, NULL, s68, 4, NULL, {1, 1, 6, 8}, e_lin_half_sizes2x},
        {"linear", "half_pixel_symmetric", NULL, shps, NULL, 0, NULL, {1, 1, 5, 9}, e_lin_hps},
        {"cubic", NULL, NULL, sc2, NULL, 0, NULL, {1, 1, 6, 8}, e_cub_half_up},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_rz(&cases[i], 19, NULL);
    rz ce = {"cubic", "asymmetric", NULL, sce, NULL, 0, NULL, {1, 1, 2, 6}, e_cub_excl_asym};
    check_rz(&ce, 13, cubic_excl);
    rz tf = {"linear", "tf_crop_and_resize", NULL, NULL, s33, 4, roi, {1, 1, 3, 3}, e_tf_crop};
    check_rz(&tf, 13, extrap10);
    rz aa = {"linear", NULL, NULL, NULL, s66, 2, NULL, {1, 1, 5, 6}, e_axes_aspect};
    check_rz(&aa, 18, axes_aspect);
    rz al = {"linear", NULL, NULL, saa, NULL, 0, NULL, {1, 1, 1, 2}, e_antialias_lin};
    check_rz(&al, 18, antialias);
    rz ac = {"cubic", NULL, NULL, saac, NULL, 0, NULL, {1, 1, 2, 2}, e_antialias_cub};
    check_rz(&ac, 18, antialias);
}

/* A larger nearest 2x upsample (the YOLO neck) against a direct loop, with
 * threads, and for a 1-byte type. */
static void test_resize_nearest_big(void **st)
{
    (void)st;
    int64_t xd[4] = {2, 5, 7, 9}, four = 4;
    cvm_tensor *x = tens(CVM_DTYPE_FLOAT32, 4, xd, NULL), *xb = tens(CVM_DTYPE_UINT8, 4, xd, NULL);
    for (int i = 0; i < 2 * 5 * 7 * 9; i++) {
        ((float *)x->data)[i] = (float)i;
        ((uint8_t *)xb->data)[i] = (uint8_t)(i * 13);
    }
    cvm_tensor *sc = tens(CVM_DTYPE_FLOAT32, 1, &four, sc2);
    cvm_threadpool *pool;
    assert_int_equal(cvm_threadpool_create(3, &pool), CVM_OK);
    for (int t = 0; t < 2; t++) {
        cvm_node *n;
        cvm_graph *g = mk("Resize", 3, 1, &n);
        attr_s(n, "mode", "nearest");
        attr_s(n, "coordinate_transformation_mode", "asymmetric");
        attr_s(n, "nearest_mode", "floor");
        n->in[1] = -1;
        const cvm_tensor *in[3] = {t ? xb : x, NULL, sc};
        cvm_tensor *y;
        assert_int_equal(cvm_node_eval(n, 13, 3, in, 1, &y, pool), CVM_OK);
        int64_t od[4] = {2, 5, 14, 18};
        expect_shape(y, 4, od);
        for (int64_t p = 0; p < 10; p++)
            for (int64_t h = 0; h < 14; h++)
                for (int64_t w = 0; w < 18; w++) {
                    int64_t src = (p * 7 + h / 2) * 9 + w / 2, dst = (p * 14 + h) * 18 + w;
                    if (t)
                        assert_int_equal(((uint8_t *)y->data)[dst], ((uint8_t *)xb->data)[src]);
                    else
                        assert_true(((float *)y->data)[dst] == ((float *)x->data)[src]);
                }
        cvm_tensor_free(y);
        cvm_graph_free(g);
    }
    cvm_threadpool_free(pool);
    cvm_tensor_free(sc);
    cvm_tensor_free(x);
    cvm_tensor_free(xb);
}

static void test_resize_errors(void **st)
{
    (void)st;
    int64_t xd[4] = {1, 1, 3, 4}, three = 3, four = 4;
    cvm_tensor *x = tens(CVM_DTYPE_FLOAT32, 4, xd, zx);
    const float bad[4] = {1, 1, -2, 2};
    cvm_tensor *s3 = tens(CVM_DTYPE_FLOAT32, 1, &three, sc2), *neg = tens(CVM_DTYPE_FLOAT32, 1, &four, bad);
    cvm_node *n;
    cvm_graph *g = mk("Resize", 3, 1, &n);
    n->in[1] = -1;
    const cvm_tensor *in[3] = {x, NULL, s3};
    cvm_tensor *y = NULL;
    assert_int_equal(cvm_node_eval(n, 13, 3, in, 1, &y, NULL), CVM_E_SHAPE);
    in[2] = neg;
    assert_int_equal(cvm_node_eval(n, 13, 3, in, 1, &y, NULL), CVM_E_SHAPE);
    assert_null(y);
    cvm_graph_free(g);
    cvm_tensor_free(s3);
    cvm_tensor_free(neg);
    cvm_tensor_free(x);
}

/* ------------------------------------------------------------ GridSample */

static void test_gridsample(void **st)
{
    (void)st;
    int64_t xd[4] = {1, 2, 3, 4}, gd[4] = {1, 2, 5, 2}, od[4] = {1, 2, 2, 5};
    cvm_tensor *x = tens(CVM_DTYPE_FLOAT32, 4, xd, gx), *grid = tens(CVM_DTYPE_FLOAT32, 4, gd, gg);
    for (size_t i = 0; i < sizeof gs_cases / sizeof gs_cases[0]; i++) {
        for (int opset = 16; opset <= 20; opset += 4) {
            cvm_node *n;
            cvm_graph *g = mk("GridSample", 2, 1, &n);
            const char *mode = gs_cases[i].mode;
            if (opset == 20)
                mode = strcmp(mode, "bilinear") == 0 ? "linear" : strcmp(mode, "bicubic") == 0 ? "cubic" : mode;
            attr_s(n, "mode", mode);
            attr_s(n, "padding_mode", gs_cases[i].pad);
            attr_i(n, "align_corners", gs_cases[i].align);
            const cvm_tensor *in[2] = {x, grid};
            cvm_tensor *y;
            assert_int_equal(cvm_node_eval(n, opset, 2, in, 1, &y, NULL), CVM_OK);
            expect_shape(y, 4, od);
            expect_f32(y, gs_cases[i].want, 20, 1e-5f);
            cvm_tensor_free(y);
            cvm_graph_free(g);
        }
    }
    /* grid of the wrong shape */
    int64_t bd[4] = {1, 2, 5, 3};
    cvm_tensor *bad = tens(CVM_DTYPE_FLOAT32, 4, bd, NULL), *y = NULL;
    cvm_node *n;
    cvm_graph *g = mk("GridSample", 2, 1, &n);
    const cvm_tensor *in[2] = {x, bad};
    assert_int_equal(cvm_node_eval(n, 16, 2, in, 1, &y, NULL), CVM_E_SHAPE);
    cvm_graph_free(g);
    cvm_tensor_free(bad);
    cvm_tensor_free(x);
    cvm_tensor_free(grid);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reduce_all_ops),    cmocka_unit_test(test_reduce_empty_and_int),
        cmocka_unit_test(test_argminmax),         cmocka_unit_test(test_resize_nearest),
        cmocka_unit_test(test_resize_linear_cubic), cmocka_unit_test(test_resize_nearest_big),
        cmocka_unit_test(test_resize_errors),     cmocka_unit_test(test_gridsample),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
