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
#include "packed_gemm.h"
#include "simd_math.h"

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

/* A float is NaN or infinite exactly when its exponent bits are all ones, that is when
 * adding one to the exponent of its magnitude carries into the sign bit. Returns the OR
 * of those sums over a block: its sign bit is set if the block holds one. Integer
 * arithmetic, so compilers vectorise it; built for AVX-512, AVX2 and any x86-64. The one
 * running OR takes a vector per cycle, so the widest vectors scan fastest: AVX-512 halves
 * the time of the weights' scan at every call. */
#define GP_DEFINE_NONFINITE_BLOCK(name, attributes)                                                \
    attributes static uint32_t name(const float *v, size_t n) {                                    \
        uint32_t any = 0;                                                                          \
        for (size_t i = 0; i < n; i++) {                                                           \
            uint32_t bits;                                                                         \
            memcpy(&bits, v + i, sizeof bits);                                                     \
            any |= (bits & 0x7fffffffu) + 0x00800000u;                                             \
        }                                                                                          \
        return any;                                                                                \
    }

GP_DEFINE_NONFINITE_BLOCK(nonfinite_block, )
#ifdef GP_HAVE_X86_SIMD
GP_DEFINE_NONFINITE_BLOCK(nonfinite_block_avx2, __attribute__((target("avx2"))))
GP_DEFINE_NONFINITE_BLOCK(nonfinite_block_avx512, __attribute__((target("avx512f"))))
#endif

size_t gp_find_nonfinite(const float *v, size_t n) {
    /* Blocks are scanned whole; only a block with a hit is searched element by element. */
    enum { BLOCK = 4096 };
#ifdef GP_HAVE_X86_SIMD
    const gp_isa isa = gp_packed_isa();
    uint32_t (*scan)(const float *, size_t) =
        isa == GP_ISA_AVX512 ? nonfinite_block_avx512
                             : (isa == GP_ISA_AVX2 ? nonfinite_block_avx2 : nonfinite_block);
#else
    uint32_t (*scan)(const float *, size_t) = nonfinite_block;
#endif
    for (size_t start = 0; start < n; start += BLOCK) {
        const size_t len = n - start < BLOCK ? n - start : BLOCK;
        if (!(scan(v + start, len) & 0x80000000u)) continue;
        for (size_t i = start; i < start + len; i++) {
            if (!isfinite(v[i])) return i;
        }
    }
    return n;
}

const char *gp_blas_config(void) {
    const char *config = GP_BLAS_NAME(openblas_get_config)();
    return config ? config : "unknown";
}
