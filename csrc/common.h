/*
 * common.h: internal helpers shared by the core's .c files (not part of the public API).
 * Size arithmetic that cannot overflow silently, and the one assert for internal
 * invariants. Caller mistakes are reported with gp_status, never asserted.
 */
#ifndef GP_COMMON_H
#define GP_COMMON_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "gru_py.h"

/* Internal invariants only: a failure here is a bug in the core, not bad input. Compiled
 * out unless GP_DEBUG is defined (the sanitizer build defines it). */
#ifdef GP_DEBUG
#include <assert.h>
#define GP_ASSERT(cond) assert(cond)
#else
#define GP_ASSERT(cond) ((void)0)
#endif

/* *out = a * b; returns 1 if the product overflows size_t. */
static inline int gp_mul_overflows(size_t a, size_t b, size_t *out) {
    return __builtin_mul_overflow(a, b, out);
}

/* 1 if n can be handed to BLAS, whose sizes and strides are C ints. */
static inline int gp_fits_blas_int(size_t n) {
    return n <= (size_t)INT_MAX;
}

/* 1 if a buffer of n floats can be addressed: its size in bytes fits a ptrdiff_t. */
static inline int gp_fits_float_buffer(size_t n) {
    return n <= (size_t)PTRDIFF_MAX / sizeof(float);
}

/* 1 if the flag is a proper boolean. */
static inline int gp_is_flag(int flag) {
    return flag == 0 || flag == 1;
}

#endif /* GP_COMMON_H */
