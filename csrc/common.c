/*
 * common.c: the entry points of the core that are not an op: status strings, the
 * finiteness scan of inputs, and the BLAS build string (the thread count is in
 * parallel.c).
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "blas.h"
#include "common.h"

const char *gp_status_str(gp_status status) {
    switch (status) {
    case GP_OK:
        return "success";
    case GP_ERR_NULL_POINTER:
        return "a required array is missing (NULL pointer)";
    case GP_ERR_BAD_SIZE:
        return "a size is zero or too large";
    case GP_ERR_BAD_ACTIVATION:
        return "activation not supported in this position";
    case GP_ERR_BAD_FLAG:
        return "a flag must be 0 or 1";
    case GP_ERR_BAD_PARAMETER:
        return "a hyper-parameter is out of its range";
    case GP_ERR_BAD_LABEL:
        return "a class label is outside [0, number of classes)";
    }
    return "unknown status";
}

size_t gp_find_nonfinite(const float *v, size_t n) {
    /* A float is NaN or infinite exactly when its exponent bits are all ones. Blocks are
     * scanned with an OR of that test, which compilers vectorise; only a block with a hit
     * is searched element by element. */
    enum { BLOCK = 1024 };
    for (size_t start = 0; start < n; start += BLOCK) {
        const size_t end = n - start < BLOCK ? n : start + BLOCK;
        uint32_t any = 0;
        for (size_t i = start; i < end; i++) {
            uint32_t bits;
            memcpy(&bits, v + i, sizeof bits);
            any |= (uint32_t)((bits & 0x7f800000u) == 0x7f800000u);
        }
        if (any) {
            for (size_t i = start; i < end; i++) {
                if (!isfinite(v[i])) return i;
            }
        }
    }
    return n;
}

const char *gp_blas_config(void) {
    const char *config = GP_BLAS_NAME(openblas_get_config)();
    return config ? config : "unknown";
}
