/*
 * simd_math.h: sigmoid and tanh for 8 floats at once (AVX2+FMA), shared by the
 * activations and the fused GRU steps so that both give the same bits (internal).
 * GP_HAVE_X86_SIMD is defined where these exist: x86-64 with GCC or Clang, unless the build
 * asks for scalar code only (-DGP_NO_SIMD). Callers check gp_cpu_has_avx2_fma() before
 * running any of them.
 */
#ifndef GP_SIMD_MATH_H
#define GP_SIMD_MATH_H

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(GP_NO_SIMD)
#define GP_HAVE_X86_SIMD 1
#include <immintrin.h>
#endif

#ifdef GP_HAVE_X86_SIMD
/*
 * exp(x) for 8 floats: x = n ln2 + r with |r| <= ln2/2 (ln2 split in two parts so that r
 * is exact), exp(r) by its degree-7 Taylor polynomial (truncation error below 6e-9
 * relative), times 2^n built in the exponent bits. Inputs are clamped to where 2^n is a
 * normal float, so the callers' saturated results come out as 0 or 1 without overflow.
 */
__attribute__((target("avx2,fma"))) static inline __m256 exp8(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(88.0f));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.0f / 5040.0f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    const __m256i bits =
        _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
}

/* 1 / (1 + e^-x): e^-x is at most e^87, so the sum never overflows. */
__attribute__((target("avx2,fma"))) static inline __m256 sigmoid8(__m256 x) {
    const __m256 one = _mm256_set1_ps(1.0f);
    return _mm256_div_ps(one, _mm256_add_ps(one, exp8(_mm256_sub_ps(_mm256_setzero_ps(), x))));
}

/*
 * tanh(x) = sign(x) (1 - e) / (1 + e), e = e^(-2|x|) <= 1, so nothing overflows. Below
 * |x| = 0.25 the subtraction 1 - e would lose relative accuracy; there the odd Taylor
 * series through x^9 is used instead (its next term is under 3e-9 relative).
 */
__attribute__((target("avx2,fma"))) static inline __m256 tanh8(__m256 x) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256 ax = _mm256_andnot_ps(sign, x);
    const __m256 e = exp8(_mm256_mul_ps(ax, _mm256_set1_ps(-2.0f)));
    const __m256 one = _mm256_set1_ps(1.0f);
    const __m256 big = _mm256_div_ps(_mm256_sub_ps(one, e), _mm256_add_ps(one, e));
    const __m256 x2 = _mm256_mul_ps(x, x);
    __m256 p = _mm256_set1_ps(62.0f / 2835.0f);
    p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(-17.0f / 315.0f));
    p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(2.0f / 15.0f));
    p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(-1.0f / 3.0f));
    const __m256 small = _mm256_fmadd_ps(_mm256_mul_ps(p, x2), ax, ax);
    const __m256 use_small = _mm256_cmp_ps(ax, _mm256_set1_ps(0.25f), _CMP_LT_OQ);
    const __m256 magnitude = _mm256_blendv_ps(big, small, use_small);
    return _mm256_or_ps(magnitude, _mm256_and_ps(x, sign));
}

/* A maskload/maskstore mask of the lanes whose bits are set in the low 8 bits of `bits`. */
__attribute__((target("avx2,fma"))) static inline __m256i gp_lanes8(unsigned bits) {
    const __m256i lane_bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    const __m256i m = _mm256_set1_epi32((int)(bits & 0xffu));
    return _mm256_cmpeq_epi32(_mm256_and_si256(m, lane_bit), lane_bit);
}
#endif /* GP_HAVE_X86_SIMD */

/* 1 if this CPU runs AVX2 and FMA (always 0 without GP_HAVE_X86_SIMD). */
int gp_cpu_has_avx2_fma(void);

#endif /* GP_SIMD_MATH_H */
