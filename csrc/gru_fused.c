/*
 * gru_fused.c: the GRU's per-row gate math in one pass, eight units per AVX2 vector or
 * sixteen per AVX-512 vector, from one body (gru_fused_body.h; see gru_fused.h). A row's
 * last units that do not fill a vector are read and written under
 * a lane mask; the masked-off lanes compute on zeros, as the activations' zero-padded
 * tail block does, so every unit gets the same arithmetic as in rnn.c's general step.
 * Multiplications and additions are separate instructions there (the core is built
 * without floating-point contraction), so they are here too.
 */
#include "gru_fused.h"

#include <stdint.h>

#include "common.h"
#include "packed_gemm.h"
#include "simd_math.h"

int gp_gru_fused_available(const gp_rnn_config *cfg) {
    return cfg->cell == GP_CELL_GRU && cfg->reset_after && cfg->activation == GP_ACT_TANH &&
           cfg->recurrent_activation == GP_ACT_SIGMOID && gp_packed_isa() != GP_ISA_SCALAR;
}

#ifdef GP_HAVE_X86_SIMD
#define GP_SIMD_WIDTH 8
#include "simd_ops.h"

#include "gru_fused_body.h"
#undef GP_SIMD_WIDTH
#define GP_SIMD_WIDTH 16
#include "simd_ops.h"

#include "gru_fused_body.h"
#undef GP_SIMD_WIDTH
#include "simd_ops.h"

/* The ISA of the packed products decides the width, so that the tests that force each
 * ISA (gp_packed_force_isa) cover both. */
void gp_gru_fused_forward_row(float *gates, float *h_next, const float *h_prev, const float *x,
                              const float *rec, const float *rb, size_t H, size_t u0, size_t u1,
                              int stream) {
    GP_ASSERT(!stream || gp_gru_fused_can_stream(gates, H, u0));
    if (gp_packed_isa() == GP_ISA_AVX512) {
        forward_row16(gates, h_next, h_prev, x, rec, rb, H, u0, u1, stream);
    } else {
        forward_row8(gates, h_next, h_prev, x, rec, rb, H, u0, u1, stream);
    }
}

int gp_gru_fused_can_stream(const float *gates, size_t H, size_t u0) {
    const size_t width = gp_packed_isa() == GP_ISA_AVX512 ? 16 : 8;
    return H % width == 0 && (uintptr_t)(gates + u0) % (width * sizeof(float)) == 0;
}

void gp_gru_fused_fence(void) {
    _mm_sfence();
}

void gp_gru_fused_backward_row(float *gi, float *gr, float *dh, const float *gates,
                               const float *h_prev, size_t H) {
    if (gp_packed_isa() == GP_ISA_AVX512) {
        backward_row16(gi, gr, dh, gates, h_prev, H);
    } else {
        backward_row8(gi, gr, dh, gates, h_prev, H);
    }
}
#else
/* Never called: gp_gru_fused_available() is 0 without x86 SIMD. */
void gp_gru_fused_forward_row(float *gates, float *h_next, const float *h_prev, const float *x,
                              const float *rec, const float *rb, size_t H, size_t u0, size_t u1,
                              int stream) {
    (void)gates, (void)h_next, (void)h_prev, (void)x, (void)rec, (void)rb, (void)H, (void)u0,
        (void)u1, (void)stream;
}

int gp_gru_fused_can_stream(const float *gates, size_t H, size_t u0) {
    (void)gates, (void)H, (void)u0;
    return 0;
}

void gp_gru_fused_fence(void) {}

void gp_gru_fused_backward_row(float *gi, float *gr, float *dh, const float *gates,
                               const float *h_prev, size_t H) {
    (void)gi, (void)gr, (void)dh, (void)gates, (void)h_prev, (void)H;
}
#endif /* GP_HAVE_X86_SIMD */
