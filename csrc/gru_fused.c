/*
 * gru_fused.c: the GRU's per-row gate math in one pass, eight units per AVX2 vector (see
 * gru_fused.h). A row's last units that do not fill a vector are read and written under
 * a lane mask; the masked-off lanes compute on zeros, as the activations' zero-padded
 * tail block does, so every unit gets the same arithmetic as in rnn.c's general step.
 * Multiplications and additions are separate instructions there (the core is built
 * without floating-point contraction), so they are here too.
 */
#include "gru_fused.h"

#include "simd_math.h"

int gp_gru_fused_available(const gp_rnn_config *cfg) {
    return cfg->cell == GP_CELL_GRU && cfg->reset_after && cfg->activation == GP_ACT_TANH &&
           cfg->recurrent_activation == GP_ACT_SIGMOID && gp_cpu_has_avx2_fma();
}

#ifdef GP_HAVE_X86_SIMD
/* Lanes [0, n) of a vector, n <= 8. */
__attribute__((target("avx2,fma"))) static inline __m256i first_lanes(size_t n) {
    return gp_lanes8((1u << n) - 1u);
}

/* The lanes of the vector at unit j of a row that ends at unit `end`: all eight, or the
 * first few of its last, partial vector. Masked moves are slow on some CPUs (AMD's
 * masked stores especially), so only that last vector uses them; its other lanes read
 * as zeros. */
typedef struct {
    int partial;
    __m256i m;
} lanes;

__attribute__((target("avx2,fma"))) static inline lanes lanes_at(size_t j, size_t end) {
    const int partial = end - j < 8;
    return (lanes){partial, partial ? first_lanes(end - j) : _mm256_setzero_si256()};
}

__attribute__((target("avx2,fma"))) static inline __m256 load(const float *p, lanes l) {
    return l.partial ? _mm256_maskload_ps(p, l.m) : _mm256_loadu_ps(p);
}

__attribute__((target("avx2,fma"))) static inline void store(float *p, lanes l, __m256 v) {
    if (l.partial) {
        _mm256_maskstore_ps(p, l.m, v);
    } else {
        _mm256_storeu_ps(p, v);
    }
}

/* The bias at p, or zeros: adding +0.0 is what the general step does without one. */
__attribute__((target("avx2,fma"))) static inline __m256 load_bias(const float *p, lanes l) {
    return p ? load(p, l) : _mm256_setzero_ps();
}

__attribute__((target("avx2,fma"))) void
gp_gru_fused_forward_row(float *gates, float *h_next, const float *h_prev, const float *x,
                         const float *rec, const float *rb, size_t H, size_t u0, size_t u1) {
    const __m256 one = _mm256_set1_ps(1.0f);
    for (size_t j = u0; j < u1; j += 8) {
        const lanes m = lanes_at(j, u1);
        const __m256 z = sigmoid8(_mm256_add_ps(_mm256_add_ps(load(x + j, m), load(rec + j, m)),
                                                load_bias(rb ? rb + j : NULL, m)));
        const __m256 r =
            sigmoid8(_mm256_add_ps(_mm256_add_ps(load(x + H + j, m), load(rec + H + j, m)),
                                   load_bias(rb ? rb + H + j : NULL, m)));
        const __m256 q =
            _mm256_add_ps(load(rec + 2 * H + j, m), load_bias(rb ? rb + 2 * H + j : NULL, m));
        const __m256 hh = tanh8(_mm256_add_ps(load(x + 2 * H + j, m), _mm256_mul_ps(r, q)));
        const __m256 h = _mm256_add_ps(_mm256_mul_ps(z, load(h_prev + j, m)),
                                       _mm256_mul_ps(_mm256_sub_ps(one, z), hh));
        store(gates + j, m, z);
        store(gates + H + j, m, r);
        store(gates + 2 * H + j, m, hh);
        store(gates + 3 * H + j, m, q);
        store(h_next + j, m, h);
    }
}

__attribute__((target("avx2,fma"))) void gp_gru_fused_backward_row(float *gi, float *gr, float *dh,
                                                                   const float *gates,
                                                                   const float *h_prev, size_t H) {
    const __m256 one = _mm256_set1_ps(1.0f);
    for (size_t j = 0; j < H; j += 8) {
        const lanes m = lanes_at(j, H);
        const __m256 z = load(gates + j, m), r = load(gates + H + j, m);
        const __m256 hh = load(gates + 2 * H + j, m), q = load(gates + 3 * H + j, m);
        const __m256 d = load(dh + j, m);
        /* h_next = z * h_prev + (1 - z) * hh */
        __m256 dz = _mm256_mul_ps(d, _mm256_sub_ps(load(h_prev + j, m), hh));
        __m256 dhh = _mm256_mul_ps(d, _mm256_sub_ps(one, z));
        /* hh = tanh(x_h + r * q) */
        dhh = _mm256_mul_ps(dhh, _mm256_sub_ps(one, _mm256_mul_ps(hh, hh)));
        __m256 dr = _mm256_mul_ps(dhh, q);
        const __m256 dq = _mm256_mul_ps(dhh, r);
        /* z and r are sigmoids */
        dz = _mm256_mul_ps(dz, _mm256_mul_ps(z, _mm256_sub_ps(one, z)));
        dr = _mm256_mul_ps(dr, _mm256_mul_ps(r, _mm256_sub_ps(one, r)));
        store(gi + j, m, dz);
        store(gi + H + j, m, dr);
        store(gi + 2 * H + j, m, dhh);
        store(gr + j, m, dz);
        store(gr + H + j, m, dr);
        store(gr + 2 * H + j, m, dq);
        store(dh + j, m, _mm256_mul_ps(d, z));
    }
}
#else
/* Never called: gp_gru_fused_available() is 0 without x86 SIMD. */
void gp_gru_fused_forward_row(float *gates, float *h_next, const float *h_prev, const float *x,
                              const float *rec, const float *rb, size_t H, size_t u0, size_t u1) {
    (void)gates, (void)h_next, (void)h_prev, (void)x, (void)rec, (void)rb, (void)H, (void)u0,
        (void)u1;
}

void gp_gru_fused_backward_row(float *gi, float *gr, float *dh, const float *gates,
                               const float *h_prev, size_t H) {
    (void)gi, (void)gr, (void)dh, (void)gates, (void)h_prev, (void)H;
}
#endif /* GP_HAVE_X86_SIMD */
