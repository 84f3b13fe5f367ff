/*
 * simd_math_body.h: exp, sigmoid and tanh on one vector, for the width that simd_ops.h
 * was last included with (exp8 or exp16, ...). Included by simd_math.h once per width,
 * hence no include guard.
 */

/*
 * exp(x): x = n ln2 + r with |r| <= ln2/2 (ln2 split in two parts so that r is exact),
 * exp(r) by its degree-7 Taylor polynomial (truncation error below 6e-9 relative), times
 * 2^n built in the exponent bits. Inputs are clamped to where 2^n is a normal float, so
 * the callers' saturated results come out as 0 or 1 without overflow.
 */
GP_SIMD_TARGET static inline gp_vf GP_SIMD_FN(exp)(gp_vf x) {
    x = vf_min(vf_max(x, vf_set1(-87.0f)), vf_set1(88.0f));
    const gp_vf n = vf_round(vf_mul(x, vf_set1(1.44269504088896341f)));
    gp_vf r = vf_fnmadd(n, vf_set1(0.693359375f), x);
    r = vf_fnmadd(n, vf_set1(-2.12194440e-4f), r);
    gp_vf p = vf_set1(1.0f / 5040.0f);
    p = vf_fmadd(p, r, vf_set1(1.0f / 720.0f));
    p = vf_fmadd(p, r, vf_set1(1.0f / 120.0f));
    p = vf_fmadd(p, r, vf_set1(1.0f / 24.0f));
    p = vf_fmadd(p, r, vf_set1(1.0f / 6.0f));
    p = vf_fmadd(p, r, vf_set1(0.5f));
    p = vf_fmadd(p, r, vf_set1(1.0f));
    p = vf_fmadd(p, r, vf_set1(1.0f));
    const gp_vi bits = vi_shift_left(vi_add(vf_to_int(n), vi_set1(127)), 23);
    return vf_mul(p, vf_from_bits(bits));
}

/* 1 / (1 + e^-x): e^-x is at most e^87, so the sum never overflows. */
GP_SIMD_TARGET static inline gp_vf GP_SIMD_FN(sigmoid)(gp_vf x) {
    const gp_vf one = vf_set1(1.0f);
    return vf_div(one, vf_add(one, GP_SIMD_FN(exp)(vf_sub(vf_zero(), x))));
}

/*
 * tanh(x) = sign(x) (1 - e) / (1 + e), e = e^(-2|x|) <= 1, so nothing overflows. Below
 * |x| = 0.25 the subtraction 1 - e would lose relative accuracy; there the odd Taylor
 * series through x^9 is used instead (its next term is under 3e-9 relative).
 */
GP_SIMD_TARGET static inline gp_vf GP_SIMD_FN(tanh)(gp_vf x) {
    const gp_vf ax = vf_abs(x);
    const gp_vf e = GP_SIMD_FN(exp)(vf_mul(ax, vf_set1(-2.0f)));
    const gp_vf one = vf_set1(1.0f);
    const gp_vf big = vf_div(vf_sub(one, e), vf_add(one, e));
    const gp_vf x2 = vf_mul(x, x);
    gp_vf p = vf_set1(62.0f / 2835.0f);
    p = vf_fmadd(p, x2, vf_set1(-17.0f / 315.0f));
    p = vf_fmadd(p, x2, vf_set1(2.0f / 15.0f));
    p = vf_fmadd(p, x2, vf_set1(-1.0f / 3.0f));
    const gp_vf small = vf_fmadd(vf_mul(p, x2), ax, ax);
    const gp_vf magnitude = vf_select(vf_less(ax, vf_set1(0.25f)), big, small);
    return vf_or(magnitude, vf_sign_of(x));
}
