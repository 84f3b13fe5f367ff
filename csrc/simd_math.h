/*
 * simd_math.h: sigmoid and tanh on 8 floats (AVX2+FMA) or 16 (AVX-512), shared by the
 * activations and the fused GRU steps so that all of them give the same bits (internal),
 * and the loads and stores of an array's last, partial vector.
 * GP_HAVE_X86_SIMD is defined where these exist: x86-64 with GCC or Clang, unless the build
 * asks for scalar code only (-DGP_NO_SIMD). Callers check the CPU (gp_cpu_has_avx2_fma(),
 * gp_packed_isa()) before running any of them.
 */
#ifndef GP_SIMD_MATH_H
#define GP_SIMD_MATH_H

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(GP_NO_SIMD)
#define GP_HAVE_X86_SIMD 1
#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>
#endif

#ifdef GP_HAVE_X86_SIMD
/* A maskload/maskstore mask of the lanes whose bits are set in the low 8 bits of `bits`. */
__attribute__((target("avx2,fma"))) static inline __m256i gp_lanes8(unsigned bits) {
    const __m256i lane_bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    const __m256i m = _mm256_set1_epi32((int)(bits & 0xffu));
    return _mm256_cmpeq_epi32(_mm256_and_si256(m, lane_bit), lane_bit);
}

/* The lanes of the vector at element j of an array that ends at `end`: all of them, or the
 * first few of its last, partial vector, whose other lanes read as zeros. AVX2's masked
 * moves are slow on some CPUs (AMD's masked stores especially), so only that last vector
 * uses them; AVX-512's masked moves cost nothing extra. */
typedef struct {
    int partial;
    __m256i m;
} gp_tail8;

__attribute__((target("avx2,fma"))) static inline gp_tail8 gp_tail_at8(size_t j, size_t end) {
    const int partial = end - j < 8;
    return (gp_tail8){partial,
                      partial ? gp_lanes8((1u << (end - j)) - 1u) : _mm256_setzero_si256()};
}

__attribute__((target("avx2,fma"))) static inline __m256 gp_load_tail8(const float *p, gp_tail8 l) {
    return l.partial ? _mm256_maskload_ps(p, l.m) : _mm256_loadu_ps(p);
}

__attribute__((target("avx2,fma"))) static inline void gp_store_tail8(float *p, gp_tail8 l,
                                                                      __m256 v) {
    if (l.partial) {
        _mm256_maskstore_ps(p, l.m, v);
    } else {
        _mm256_storeu_ps(p, v);
    }
}

__attribute__((target("avx512f"))) static inline __mmask16 gp_tail_at16(size_t j, size_t end) {
    return end - j < 16 ? (__mmask16)((1u << (end - j)) - 1u) : (__mmask16)0xffffu;
}

__attribute__((target("avx512f"))) static inline __m512 gp_load_tail16(const float *p,
                                                                       __mmask16 l) {
    return _mm512_maskz_loadu_ps(l, p);
}

__attribute__((target("avx512f"))) static inline void gp_store_tail16(float *p, __mmask16 l,
                                                                      __m512 v) {
    _mm512_mask_storeu_ps(p, l, v);
}

/* As gp_store_tail8 and 16, or with `stream` a whole vector goes past the caches (a
 * non-temporal store, which needs p at a boundary of the vector's size). */
__attribute__((target("avx2,fma"))) static inline void gp_stream_tail8(float *p, gp_tail8 l,
                                                                       __m256 v, int stream) {
    if (stream && !l.partial) {
        _mm256_stream_ps(p, v);
    } else {
        gp_store_tail8(p, l, v);
    }
}

__attribute__((target("avx512f"))) static inline void gp_stream_tail16(float *p, __mmask16 l,
                                                                       __m512 v, int stream) {
    if (stream && l == (__mmask16)0xffffu) {
        _mm512_stream_ps(p, v);
    } else {
        gp_store_tail16(p, l, v);
    }
}

/* exp8, sigmoid8, tanh8 (AVX2+FMA) and exp16, sigmoid16, tanh16 (AVX-512): one body. */
#define GP_SIMD_WIDTH 8
#include "simd_ops.h"

#include "simd_math_body.h"
#undef GP_SIMD_WIDTH
#define GP_SIMD_WIDTH 16
#include "simd_ops.h"

#include "simd_math_body.h"
#undef GP_SIMD_WIDTH
#include "simd_ops.h"
#endif /* GP_HAVE_X86_SIMD */

/* 1 if this CPU runs AVX2 and FMA (always 0 without GP_HAVE_X86_SIMD). */
int gp_cpu_has_avx2_fma(void);

#endif /* GP_SIMD_MATH_H */
