/*
 * activations.h: elementwise activations of the core and their derivatives.
 * Derivatives are taken from the activation's OUTPUT, so a backward pass never needs
 * the pre-activation (sigmoid' = y(1-y), tanh' = 1-y^2, ...). Softmax is a row
 * operation and lives in dense.c.
 */
#ifndef GP_ACTIVATIONS_H
#define GP_ACTIVATIONS_H

#include <stddef.h>

#include "gru_py.h"

/* v[i] = act(v[i]) for i < n. act must not be GP_ACT_SOFTMAX. */
void gp_act_forward(gp_activation act, float *v, size_t n);

/* d[i] *= act'(x_i), where y[i] = act(x_i). act must not be GP_ACT_SOFTMAX. */
void gp_act_backward(gp_activation act, const float *y, float *d, size_t n);

/* 1 for the activations that work elementwise (every one but softmax). */
int gp_act_is_elementwise(gp_activation act);

#endif /* GP_ACTIVATIONS_H */
