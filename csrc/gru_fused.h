/*
 * gru_fused.h: a GRU step's gate math for one row in a single pass (internal).
 *
 * For Keras' default GRU (reset_after, sigmoid gates, tanh candidate) on CPUs with
 * AVX2+FMA or AVX-512. rnn.c's general step sweeps each row several times and calls an activation
 * per gate block; at small H those sweeps and calls cost as much as the products. These
 * functions do the same operations in the same order, eight units at a time, so either
 * path gives the same bits. Layouts are rnn.c's: a row's cached gates are z | r | hh | q
 * (4H), its recurrent products z | r | h (3H).
 */
#ifndef GP_GRU_FUSED_H
#define GP_GRU_FUSED_H

#include <stddef.h>

#include "gru_py.h"

/* 1 if the fused step serves this configuration on this CPU. */
int gp_gru_fused_available(const gp_rnn_config *cfg);

/*
 * Units [u0, u1) of one row, forward:
 *   z = sigmoid(x_z + rec_z + rb_z), r = sigmoid(x_r + rec_r + rb_r), q = rec_h + rb_h,
 *   hh = tanh(x_h + r * q), h_next = z * h_prev + (1 - z) * hh;
 * gates (4H) written with z, r, hh, q. x and rec (3H); rb (3H) or NULL for no bias.
 * With `stream` (which needs gp_gru_fused_can_stream) the gates go past the CPU caches,
 * for a training forward's cache, which only backward reads back, long after; then call
 * gp_gru_fused_fence before another thread reads them.
 */
void gp_gru_fused_forward_row(float *gates, float *h_next, const float *h_prev, const float *x,
                              const float *rec, const float *rb, size_t H, size_t u0, size_t u1,
                              int stream);

/* 1 if the gates of units [u0, ...) of rows at `gates` can be streamed: every vector of the
 * fused pass then starts at a boundary of its size. */
int gp_gru_fused_can_stream(const float *gates, size_t H, size_t u0);

/* Orders this thread's streamed gates before its later stores (a job's completion). */
void gp_gru_fused_fence(void);

/*
 * One active row, backward: from dh (H), the gradient w.r.t. h_next, writes the gate
 * pre-activation gradients of the input side gi (3H) and of the recurrent side gr (3H),
 * and turns dh into the part of the gradient w.r.t. h_prev that does not pass through
 * the recurrent kernel (dh * z). gates (4H) and h_prev (H) are the forward's.
 */
void gp_gru_fused_backward_row(float *gi, float *gr, float *dh, const float *gates,
                               const float *h_prev, size_t H);

#endif /* GP_GRU_FUSED_H */
