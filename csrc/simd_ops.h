/*
 * simd_ops.h: the vector operations of one SIMD width under common names (internal), so
 * that one body of code compiles for AVX2 (8 floats) and for AVX-512 (16 floats) with the
 * same operations in the same order, and so gives the same bits in every lane at either
 * width. The bodies are simd_math_body.h and gru_fused_body.h.
 *
 * Deliberately without an include guard: define GP_SIMD_WIDTH as 8 or 16 and include this
 * to get that width's names; include it with GP_SIMD_WIDTH undefined to remove them.
 */
#undef GP_SIMD_TARGET
#undef GP_SIMD_FN
#undef GP_SIMD_PASTE
#undef GP_SIMD_PASTE_
#undef gp_vf
#undef gp_vi
#undef gp_vmask
#undef gp_vtail
#undef vf_set1
#undef vf_zero
#undef vf_add
#undef vf_sub
#undef vf_mul
#undef vf_div
#undef vf_min
#undef vf_max
#undef vf_fmadd
#undef vf_fnmadd
#undef vf_round
#undef vf_to_int
#undef vf_from_bits
#undef vi_set1
#undef vi_add
#undef vi_shift_left
#undef vf_abs
#undef vf_sign_of
#undef vf_or
#undef vf_less
#undef vf_select
#undef vf_tail_at
#undef vf_load_tail
#undef vf_store_tail
#undef vf_stream_tail

#ifdef GP_SIMD_WIDTH
/* GP_SIMD_FN(exp) is exp8 or exp16: each width's functions have their own names. */
#define GP_SIMD_PASTE_(a, b) a##b
#define GP_SIMD_PASTE(a, b) GP_SIMD_PASTE_(a, b)
#define GP_SIMD_FN(name) GP_SIMD_PASTE(name, GP_SIMD_WIDTH)
#endif

#if defined(GP_SIMD_WIDTH) && GP_SIMD_WIDTH == 8
#define GP_SIMD_TARGET __attribute__((target("avx2,fma")))
#define gp_vf __m256
#define gp_vi __m256i
#define gp_vmask __m256 /* a comparison's result */
#define gp_vtail gp_tail8
#define vf_set1 _mm256_set1_ps
#define vf_zero _mm256_setzero_ps
#define vf_add _mm256_add_ps
#define vf_sub _mm256_sub_ps
#define vf_mul _mm256_mul_ps
#define vf_div _mm256_div_ps
#define vf_min _mm256_min_ps
#define vf_max _mm256_max_ps
#define vf_fmadd _mm256_fmadd_ps
#define vf_fnmadd _mm256_fnmadd_ps
#define vf_round(x) _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define vf_to_int _mm256_cvtps_epi32
#define vf_from_bits _mm256_castsi256_ps
#define vi_set1 _mm256_set1_epi32
#define vi_add _mm256_add_epi32
#define vi_shift_left _mm256_slli_epi32
#define vf_abs(x) _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x)
#define vf_sign_of(x) _mm256_and_ps(x, _mm256_set1_ps(-0.0f))
#define vf_or _mm256_or_ps
#define vf_less(a, b) _mm256_cmp_ps(a, b, _CMP_LT_OQ)
#define vf_select(m, if_false, if_true) _mm256_blendv_ps(if_false, if_true, m)
#define vf_tail_at gp_tail_at8
#define vf_load_tail gp_load_tail8
#define vf_store_tail gp_store_tail8
#define vf_stream_tail gp_stream_tail8
#elif defined(GP_SIMD_WIDTH) && GP_SIMD_WIDTH == 16
#define GP_SIMD_TARGET __attribute__((target("avx512f")))
#define gp_vf __m512
#define gp_vi __m512i
#define gp_vmask __mmask16
#define gp_vtail __mmask16
#define vf_set1 _mm512_set1_ps
#define vf_zero _mm512_setzero_ps
#define vf_add _mm512_add_ps
#define vf_sub _mm512_sub_ps
#define vf_mul _mm512_mul_ps
#define vf_div _mm512_div_ps
#define vf_min _mm512_min_ps
#define vf_max _mm512_max_ps
#define vf_fmadd _mm512_fmadd_ps
#define vf_fnmadd _mm512_fnmadd_ps
#define vf_round(x) _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define vf_to_int _mm512_cvtps_epi32
#define vf_from_bits _mm512_castsi512_ps
#define vi_set1 _mm512_set1_epi32
#define vi_add _mm512_add_epi32
#define vi_shift_left _mm512_slli_epi32
#define vf_abs _mm512_abs_ps
#define vf_sign_of(x)                                                                              \
    _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32(INT32_MIN)))
#define vf_or(a, b)                                                                                \
    _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(a), _mm512_castps_si512(b)))
#define vf_less(a, b) _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ)
#define vf_select(m, if_false, if_true) _mm512_mask_blend_ps(m, if_false, if_true)
#define vf_tail_at gp_tail_at16
#define vf_load_tail gp_load_tail16
#define vf_store_tail gp_store_tail16
#define vf_stream_tail gp_stream_tail16
#endif
