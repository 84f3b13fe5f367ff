/*
 * gru_fused_body.h: the fused GRU rows (gru_fused.h) for the width that simd_ops.h was
 * last included with: forward_row8 and backward_row8, or forward_row16 and
 * backward_row16. Included by gru_fused.c once per width, hence no include guard.
 */

/* The bias at p, or zeros: adding +0.0 is what the general step does without one. */
GP_SIMD_TARGET static inline gp_vf GP_SIMD_FN(load_bias)(const float *p, gp_vtail l) {
    return p ? vf_load_tail(p, l) : vf_zero();
}

GP_SIMD_TARGET static void GP_SIMD_FN(forward_row)(float *gates, float *h_next, const float *h_prev,
                                                   const float *x, const float *rec,
                                                   const float *rb, size_t H, size_t u0, size_t u1,
                                                   int stream) {
    const gp_vf one = vf_set1(1.0f);
    for (size_t j = u0; j < u1; j += GP_SIMD_WIDTH) {
        const gp_vtail m = vf_tail_at(j, u1);
        const gp_vf z =
            GP_SIMD_FN(sigmoid)(vf_add(vf_add(vf_load_tail(x + j, m), vf_load_tail(rec + j, m)),
                                       GP_SIMD_FN(load_bias)(rb ? rb + j : NULL, m)));
        const gp_vf r = GP_SIMD_FN(sigmoid)(
            vf_add(vf_add(vf_load_tail(x + H + j, m), vf_load_tail(rec + H + j, m)),
                   GP_SIMD_FN(load_bias)(rb ? rb + H + j : NULL, m)));
        const gp_vf q = vf_add(vf_load_tail(rec + 2 * H + j, m),
                               GP_SIMD_FN(load_bias)(rb ? rb + 2 * H + j : NULL, m));
        const gp_vf hh = GP_SIMD_FN(tanh)(vf_add(vf_load_tail(x + 2 * H + j, m), vf_mul(r, q)));
        const gp_vf h = vf_add(vf_mul(z, vf_load_tail(h_prev + j, m)), vf_mul(vf_sub(one, z), hh));
        vf_stream_tail(gates + j, m, z, stream);
        vf_stream_tail(gates + H + j, m, r, stream);
        vf_stream_tail(gates + 2 * H + j, m, hh, stream);
        vf_stream_tail(gates + 3 * H + j, m, q, stream);
        vf_store_tail(h_next + j, m, h);
    }
}

GP_SIMD_TARGET static void GP_SIMD_FN(backward_row)(float *gi, float *gr, float *dh,
                                                    const float *gates, const float *h_prev,
                                                    size_t H) {
    const gp_vf one = vf_set1(1.0f);
    for (size_t j = 0; j < H; j += GP_SIMD_WIDTH) {
        const gp_vtail m = vf_tail_at(j, H);
        const gp_vf z = vf_load_tail(gates + j, m), r = vf_load_tail(gates + H + j, m);
        const gp_vf hh = vf_load_tail(gates + 2 * H + j, m);
        const gp_vf q = vf_load_tail(gates + 3 * H + j, m);
        const gp_vf d = vf_load_tail(dh + j, m);
        /* h_next = z * h_prev + (1 - z) * hh */
        gp_vf dz = vf_mul(d, vf_sub(vf_load_tail(h_prev + j, m), hh));
        gp_vf dhh = vf_mul(d, vf_sub(one, z));
        /* hh = tanh(x_h + r * q) */
        dhh = vf_mul(dhh, vf_sub(one, vf_mul(hh, hh)));
        gp_vf dr = vf_mul(dhh, q);
        const gp_vf dq = vf_mul(dhh, r);
        /* z and r are sigmoids */
        dz = vf_mul(dz, vf_mul(z, vf_sub(one, z)));
        dr = vf_mul(dr, vf_mul(r, vf_sub(one, r)));
        vf_store_tail(gi + j, m, dz);
        vf_store_tail(gi + H + j, m, dr);
        vf_store_tail(gi + 2 * H + j, m, dhh);
        vf_store_tail(gr + j, m, dz);
        vf_store_tail(gr + H + j, m, dr);
        vf_store_tail(gr + 2 * H + j, m, dq);
        vf_store_tail(dh + j, m, vf_mul(d, z));
    }
}
