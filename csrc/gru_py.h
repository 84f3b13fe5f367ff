/*
 * gru_py.h: the public C API of the gru_py numerical core.
 *
 * Plain C11, no Python. Every tensor is a dense, row-major float32 array owned by the
 * caller. Dimension letters used in the shape comments:
 *   B batch, T timesteps, I input features, H units (hidden size), N rows, O output units.
 *
 * Memory model: measure, then allocate. Functions that need scratch memory or keep
 * activations for a backward pass report the sizes they need (`*_cache_size`,
 * `*_workspace_size`, counted in floats) and are handed that memory. The core never
 * allocates, prints, exits or aborts.
 *
 * Gradient contract: parameter gradients (weights, biases) ACCUMULATE (`+=`), so the
 * caller zeroes them before the first backward of a step. Gradients with respect to
 * inputs and states are WRITTEN (`=`).
 *
 * Threads: the core splits work between its own threads, as many as
 * gp_blas_get_num_threads() says (OPENBLAS_NUM_THREADS, threadpoolctl, or
 * gp_blas_set_num_threads set it); while a call runs, OpenBLAS's own count is held at 1.
 * That count is the core's only global state; concurrent calls on disjoint output
 * buffers are safe.
 */
#ifndef GRU_PY_H
#define GRU_PY_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    GP_OK = 0,
    GP_ERR_NULL_POINTER,   /* a required pointer was NULL */
    GP_ERR_BAD_SIZE,       /* a size was zero, or a product of sizes overflows */
    GP_ERR_BAD_ACTIVATION, /* activation not allowed in this position */
    GP_ERR_BAD_FLAG,       /* a flag had a value other than 0 or 1 */
    GP_ERR_BAD_PARAMETER,  /* a hyper-parameter is out of its range */
    GP_ERR_BAD_LABEL       /* a class label is outside [0, classes) */
} gp_status;

/* A short, static, human-readable description of a status. Never NULL. */
const char *gp_status_str(gp_status status);

typedef enum {
    GP_ACT_LINEAR = 0,   /* x */
    GP_ACT_SIGMOID,      /* 1 / (1 + exp(-x)) */
    GP_ACT_TANH,         /* tanh(x) */
    GP_ACT_HARD_SIGMOID, /* Keras 3: clip(x / 6 + 1/2, 0, 1) */
    GP_ACT_RELU,         /* max(x, 0) */
    GP_ACT_SOFTMAX,      /* over the last axis; Dense only, not a GRU gate */
    GP_ACT_COUNT
} gp_activation;

/* ---------------------------------------------------------------------------------- */
/* Recurrent layers: GRU, LSTM and SimpleRNN over whole sequences                      */
/* ---------------------------------------------------------------------------------- */

/*
 * Keras 3 layouts and formulas. G is the number of gate blocks and S the number of state
 * tensors; kernel (I, G*H) and recurrent_kernel (H, G*H) hold the gate blocks side by
 * side in the order given below.
 *
 * GRU, G = 3 [z | r | h], S = 1:
 *   z  = rec_act(x W_z + b_z + h_prev U_z + rb_z)
 *   r  = rec_act(x W_r + b_r + h_prev U_r + rb_r)
 *   reset_after = 1:  hh = act(x W_h + b_h + r * (h_prev U_h + rb_h))   bias (2, 3H)
 *   reset_after = 0:  hh = act(x W_h + b_h + (r * h_prev) U_h)          bias (3H)
 *   h  = z * h_prev + (1 - z) * hh
 *   With reset_after = 1, bias row 0 is the input bias b and row 1 the recurrent bias rb.
 * LSTM, G = 4 [i | f | c | o], S = 2 (h, c), bias (4H):
 *   i = rec_act(.), f = rec_act(.), g = act(.), o = rec_act(.)   with (.) = x W + b + h_prev U
 *   c = f * c_prev + i * g;   h = o * act(c)
 * SimpleRNN, G = 1, S = 1, bias (H):   h = act(x W + b + h_prev U)
 *
 * Timestep k of the recurrence reads input column t = k, or t = T-1-k with go_backwards;
 * outputs are stored in processing order (outputs[:, k] is the output of step k), as
 * Keras does for go_backwards.
 *
 * Masks (Keras semantics): where mask[b, t] is 0 the step is skipped for row b: its states
 * are carried over unchanged and its output is the row's previous output (zeros before the
 * row's first used step), or zeros when zero_output_for_mask. Skipped steps contribute
 * nothing to any gradient.
 *
 * Dropout (Keras' implementation-1 semantics, one multiplier mask per gate block, the
 * same at every step): gate g's input projection is (x * m_g) W_g and its recurrent
 * product (h_prev * rm_g) U_g; the GRU's reset_after = 0 candidate uses (r * h_prev * rm_h)
 * U_h. The state update itself (z * h_prev, f * c_prev) uses the undropped states.
 */
typedef enum { GP_CELL_GRU = 0, GP_CELL_LSTM, GP_CELL_SIMPLE_RNN, GP_CELL_COUNT } gp_cell;

typedef struct {
    gp_cell cell;
    size_t batch;                       /* B >= 1 */
    size_t steps;                       /* T >= 1 */
    size_t input_size;                  /* I >= 1 */
    size_t units;                       /* H >= 1 */
    gp_activation activation;           /* candidate / output activation: not SOFTMAX */
    gp_activation recurrent_activation; /* gate activation (unused by SimpleRNN): not SOFTMAX */
    int reset_after;                    /* 0 or 1; GRU only, 0 for the other cells */
    int use_bias;                       /* 0 or 1; 0 means bias is ignored (may be NULL) */
    int go_backwards;                   /* 0 or 1 */
    int zero_output_for_mask;           /* 0 or 1 */
    int input_dropout;                  /* 0 or 1: per-gate input dropout masks are given */
    int recurrent_dropout;              /* 0 or 1: per-gate recurrent dropout masks are given */
} gp_rnn_config;

/* G and S of a cell kind; 0 for an unknown kind. */
size_t gp_rnn_gate_count(gp_cell cell);
size_t gp_rnn_state_count(gp_cell cell);

/* What a forward reads (and its backward reads again). */
typedef struct {
    const float *x;                 /* (B, T, I) */
    const float *initial_state;     /* (S, B, H), or NULL for zeros */
    const float *kernel;            /* (I, G*H) */
    const float *recurrent_kernel;  /* (H, G*H) */
    const float *bias;              /* see above; NULL allowed when !use_bias */
    const unsigned char *mask;      /* (B, T), nonzero = the step is used; NULL = all used */
    const float *input_dropout;     /* (G, B, I) multipliers, when cfg->input_dropout */
    const float *recurrent_dropout; /* (G, B, H) multipliers, when cfg->recurrent_dropout */
} gp_rnn_inputs;

/* Where a backward writes. */
typedef struct {
    float *d_x;                /* (B, T, I) written; may be NULL if not wanted, which also
                                  skips its (B*T, G*H) x (G*H, I) product */
    float *d_initial_state;    /* (S, B, H) written; may be NULL if not wanted */
    float *d_kernel;           /* (I, G*H) accumulated */
    float *d_recurrent_kernel; /* (H, G*H) accumulated */
    float *d_bias;             /* like bias, accumulated; ignored (may be NULL) when !use_bias */
} gp_rnn_gradients;

/* Checks a configuration: known cell, sizes non-zero, no size product overflows, flags 0
 * or 1, activations allowed. Every other gp_rnn_* function starts with this check. */
gp_status gp_rnn_check_config(const gp_rnn_config *cfg);

/*
 * Floats in the cache that a training forward keeps for backward, time-major:
 *   states (T+1, B, H)  states[0] = initial h, states[k+1] = h after step k
 *   carries (T+1, B, H) LSTM only, the same for c
 *   gates (T, B, W)     per step and row: GRU W = 4H [z | r | hh | q], where q is
 *                       h_prev U_h + rb_h (reset_after) or r * h_prev * rm_h (otherwise);
 *                       LSTM W = 5H [i | f | g | o | act(c)]; SimpleRNN W = 0.
 * Under dropout, the inputs and states that each gate block read (x * m_g, h_prev * rm_g)
 * are not kept: backward makes them again from x, the states and the masks.
 * 0 if the config is invalid.
 */
size_t gp_rnn_cache_size(const gp_rnn_config *cfg);

/* Floats of scratch memory for gp_rnn_forward (training = 1 or 0) or gp_rnn_backward.
 * 0 if the config is invalid. */
size_t gp_rnn_forward_workspace_size(const gp_rnn_config *cfg, int training);
size_t gp_rnn_backward_workspace_size(const gp_rnn_config *cfg);

/*
 * Runs the recurrence over whole sequences.
 *
 *   outputs     (B, T, H)   written; may be NULL when only the last state is wanted
 *   last_state  (S, B, H)   written; the states after the final step
 *   cache       (cache_size) written when non-NULL (training); NULL for inference
 *   workspace   (forward_workspace_size(cfg, cache != NULL)) scratch
 */
gp_status gp_rnn_forward(float *outputs, float *last_state, float *cache, float *workspace,
                         const gp_rnn_inputs *in, const gp_rnn_config *cfg);

/*
 * Checking the kernels for NaN and Inf through a step's products. A forward computes with
 * whatever its inputs hold. When x and the initial state are finite, a NaN or Inf
 * anywhere in the kernels makes at least one product x W or h_prev U non-finite (NaN
 * times anything and Inf times zero are NaN, and a non-finite term leaves its sum
 * non-finite). An inference forward of one timestep of a GRU or LSTM leaves every one of
 * those products in its workspace, 2*B*G*H floats against the kernels' (I + H)*G*H. So
 * for a small batch a caller can run the step first and scan only its products, and
 * scan the kernels only if a product is not finite, to find the culprit: finite kernels
 * can also give a non-finite product, by overflow.
 *
 * gp_rnn_step_products_checkable: 1 if this holds for an inference forward of cfg and the
 * products are fewer floats than the kernels, else 0.
 * gp_rnn_step_products_finite: after such a forward, given its workspace: 1 if every
 * product was finite, else 0.
 */
int gp_rnn_step_products_checkable(const gp_rnn_config *cfg);
int gp_rnn_step_products_finite(const float *workspace, const gp_rnn_config *cfg);

/*
 * Backpropagation through time, from the cache of a training forward with the same
 * config and inputs.
 *
 *   workspace    (backward_workspace_size(cfg)) scratch
 *   d_outputs    (B, T, H)  gradient w.r.t. outputs; NULL means zeros
 *   d_last_state (S, B, H)  gradient w.r.t. last_state; NULL means zeros
 */
gp_status gp_rnn_backward(const gp_rnn_gradients *grads, float *workspace, const float *cache,
                          const gp_rnn_inputs *in, const float *d_outputs,
                          const float *d_last_state, const gp_rnn_config *cfg);

/* ---------------------------------------------------------------------------------- */
/* Activations on (N, C) rows                                                          */
/* ---------------------------------------------------------------------------------- */

/*   y (N, C) written (may equal x);  x (N, C).  SOFTMAX normalises each row. */
gp_status gp_activation_forward(float *y, const float *x, size_t rows, size_t cols,
                                gp_activation activation);

/*   d_x (N, C) written (may equal d_y);  y (N, C) the forward's output;  d_y (N, C).
 * The derivative is taken from y, so no pre-activation needs to be kept. */
gp_status gp_activation_backward(float *d_x, const float *y, const float *d_y, size_t rows,
                                 size_t cols, gp_activation activation);

/* ---------------------------------------------------------------------------------- */
/* Dense: y = act(x W + b)                                                             */
/* ---------------------------------------------------------------------------------- */

typedef struct {
    size_t rows;              /* N >= 1: every leading axis of the input, flattened */
    size_t input_size;        /* I >= 1 */
    size_t units;             /* O >= 1 */
    gp_activation activation; /* any; SOFTMAX normalises each row */
    int use_bias;             /* 0 or 1 */
} gp_dense_config;

gp_status gp_dense_check_config(const gp_dense_config *cfg);

/*
 *   y       (N, O)  written
 *   x       (N, I)
 *   kernel  (I, O)
 *   bias    (O)     NULL allowed when !use_bias
 */
gp_status gp_dense_forward(float *y, const float *x, const float *kernel, const float *bias,
                           const gp_dense_config *cfg);

/* Floats of scratch memory for gp_dense_backward: N*O. 0 if the config is invalid. */
size_t gp_dense_backward_workspace_size(const gp_dense_config *cfg);

/*
 * The activation's derivative is taken from the forward output y, so no pre-activation
 * needs to be kept.
 *
 *   d_x       (N, I)  written; may be NULL if not wanted
 *   d_kernel  (I, O)  accumulated
 *   d_bias    (O)     accumulated; ignored (may be NULL) when !use_bias
 *   workspace (N*O)   scratch
 *   x         (N, I), kernel (I, O), y (N, O): as in the forward
 *   d_y       (N, O)  gradient w.r.t. y
 */
gp_status gp_dense_backward(float *d_x, float *d_kernel, float *d_bias, float *workspace,
                            const float *x, const float *kernel, const float *y, const float *d_y,
                            const gp_dense_config *cfg);

/* ---------------------------------------------------------------------------------- */
/* Optimizers: one fused pass per tensor, Keras 3's update rules                       */
/* ---------------------------------------------------------------------------------- */

/*
 * What every optimizer step shares, applied element by element in Keras 3's order before
 * the optimizer's own rule:
 *   g = grad * grad_scale                      (clipnorm / global_clipnorm; 1 = off)
 *   g = clip(g, -clip_value, clip_value)       (clipvalue; 0 = off)
 *   w = w - w * weight_decay * learning_rate   (decoupled weight decay; 0 = off)
 * The caller computes grad_scale from gp_sum_squares.
 */
typedef struct {
    float learning_rate;
    float weight_decay;
    float grad_scale;
    float clip_value;
} gp_optim_step;

/* Sum of squares of n floats, accumulated in double (for gradient norms). */
double gp_sum_squares(const float *v, size_t n);

/*
 * SGD.  momentum == 0:  w -= lr * g.
 * Otherwise velocity (n) is required:  velocity = momentum * velocity - lr * g, then
 * w += velocity, or with nesterov  w += momentum * velocity - lr * g.
 */
gp_status gp_sgd_update(float *w, float *velocity, const float *grad, size_t n,
                        const gp_optim_step *step, float momentum, int nesterov);

/*
 * Adam (AdamW is Adam with weight_decay). iteration t >= 1 is the 1-based step number.
 *   m += (g - m)(1 - beta_1);  v += (g^2 - v)(1 - beta_2)
 *   v_hat = max(v_hat, v) and used in place of v when v_hat != NULL (amsgrad)
 *   w -= alpha * m / (sqrt(v) + epsilon),  alpha = lr sqrt(1 - beta_2^t) / (1 - beta_1^t)
 * epsilon is added to the uncorrected sqrt(v), as Keras does (PyTorch differs).
 * beta_1 and beta_2 are double because Keras forms 1 - beta in double precision before
 * rounding to float32; doing it in float32 would shift v by about 1e-5 relative.
 */
gp_status gp_adam_update(float *w, float *m, float *v, float *v_hat, const float *grad, size_t n,
                         const gp_optim_step *step, double beta_1, double beta_2, float epsilon,
                         double iteration);

/*
 * RMSprop.  velocity = rho velocity + (1 - rho) g^2
 * centered (average_grad != NULL): average_grad = rho average_grad + (1 - rho) g and
 *   den = velocity - average_grad^2 + epsilon;  otherwise den = velocity + epsilon
 * increment = lr g / sqrt(den)   (epsilon inside the square root)
 * momentum_buf != NULL: momentum_buf = momentum momentum_buf + increment; w -= momentum_buf
 * otherwise w -= increment.  rho is double for the same reason as Adam's betas.
 */
gp_status gp_rmsprop_update(float *w, float *velocity, float *momentum_buf, float *average_grad,
                            const float *grad, size_t n, const gp_optim_step *step, double rho,
                            float momentum, float epsilon);

/* Adagrad.  accumulator += g^2;  w -= lr g / sqrt(accumulator + epsilon). */
gp_status gp_adagrad_update(float *w, float *accumulator, const float *grad, size_t n,
                            const gp_optim_step *step, float epsilon);

/* ---------------------------------------------------------------------------------- */
/* Losses: per-row values and their gradient; the reduction is the caller's            */
/* ---------------------------------------------------------------------------------- */

/*
 * Each loss reduces the last axis (C columns) of a row to one value, as Keras' loss
 * functions do; rows are every leading axis flattened (N). With p = y_pred, y = y_true:
 *   MSE    mean_j (y - p)^2
 *   MAE    mean_j |y - p|
 *   HUBER  mean_j (|e| <= delta ? e^2 / 2 : delta |e| - delta^2 / 2),  e = p - y
 *   CATEGORICAL_CROSSENTROPY  -sum_j y_j log q_j, with q = softmax(p) when from_logits,
 *          else q = clip(p / sum_j p_j, eps, 1 - eps)   (Keras normalises, then clips)
 *   BINARY_CROSSENTROPY  mean_j -(y log q + (1 - y) log(1 - q)), q = sigmoid(p) when
 *          from_logits (computed stably), else q = clip(p, eps, 1 - eps)
 * label_smoothing s (crossentropies): y = y (1 - s) + s / C, or + s / 2 for binary.
 * eps is Keras' 1e-7. Clipped entries have a zero gradient, as in Keras.
 */
typedef enum {
    GP_LOSS_MSE = 0,
    GP_LOSS_MAE,
    GP_LOSS_HUBER,
    GP_LOSS_CATEGORICAL_CROSSENTROPY,
    GP_LOSS_BINARY_CROSSENTROPY,
    GP_LOSS_COUNT
} gp_loss_kind;

typedef struct {
    size_t rows; /* N >= 1 */
    size_t cols; /* C >= 1 */
    gp_loss_kind kind;
    int from_logits;       /* 0 or 1; crossentropies only */
    float label_smoothing; /* in [0, 1]; crossentropies only */
    float delta;           /* > 0; HUBER only */
} gp_loss_config;

gp_status gp_loss_check_config(const gp_loss_config *cfg);

/*   per_row (N) written;  y_true (N, C);  y_pred (N, C) */
gp_status gp_loss_forward(float *per_row, const float *y_true, const float *y_pred,
                          const gp_loss_config *cfg);

/*   d_pred (N, C) written: d_per_row[n] * d(per_row[n]) / d(y_pred[n, :]) */
gp_status gp_loss_backward(float *d_pred, const float *y_true, const float *y_pred,
                           const float *d_per_row, const gp_loss_config *cfg);

/*
 * Sparse categorical crossentropy: integer labels instead of one-hot rows.
 *   per_row (N) written;  labels (N), each in [0, C) else GP_ERR_BAD_LABEL;
 *   y_pred (N, C);  label_smoothing must be 0; cfg->kind is not read.
 */
gp_status gp_sparse_crossentropy_forward(float *per_row, const long long *labels,
                                         const float *y_pred, const gp_loss_config *cfg);
gp_status gp_sparse_crossentropy_backward(float *d_pred, const long long *labels,
                                          const float *y_pred, const float *d_per_row,
                                          const gp_loss_config *cfg);

/* ---------------------------------------------------------------------------------- */
/* Input checks                                                                        */
/* ---------------------------------------------------------------------------------- */

/* The index of the first NaN or infinity in v (n floats), or n if every entry is finite. */
size_t gp_find_nonfinite(const float *v, size_t n);

/* ---------------------------------------------------------------------------------- */
/* BLAS information                                                                    */
/* ---------------------------------------------------------------------------------- */

/* The OpenBLAS build string (version, architecture, threading). Static; never NULL. */
const char *gp_blas_config(void);
/* The number of threads the core computes with (OpenBLAS's count outside core calls). */
int gp_blas_get_num_threads(void);
void gp_blas_set_num_threads(int num_threads);

#ifdef __cplusplus
}
#endif

#endif /* GRU_PY_H */
