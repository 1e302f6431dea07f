//! Compute kernels. Each exists as a scalar `reference` and a `simd128` twin
//! with the same signature; `active` is the one the runtime calls. The same
//! property suite (`tests.rs`) checks every implementation.

pub mod reference;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub mod simd128;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub mod ceiling;

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub use simd128 as active;
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
pub use reference as active;

#[cfg(test)]
mod tests;

/// Columns per packed panel of a GEMM's B operand.
pub const GEMM_NR: usize = 8;

/// Packs B (k×n, row-major) for `gemm_f32_packed`: panels of 8 columns, each
/// `k × 8` contiguous, the last one zero-padded. Done once for constant
/// weights at load time.
pub fn pack_b_f32(k: usize, n: usize, b: &[f32]) -> Vec<f32> {
    assert!(b.len() >= k * n, "pack_b_f32: B too small");
    let panels = n.div_ceil(GEMM_NR);
    let mut out = vec![0.0f32; panels * k * GEMM_NR];
    for jp in 0..panels {
        let j = jp * GEMM_NR;
        let w = GEMM_NR.min(n - j);
        for p in 0..k {
            let dst = jp * k * GEMM_NR + p * GEMM_NR;
            out[dst..dst + w].copy_from_slice(&b[p * n + j..p * n + j + w]);
        }
    }
    out
}

/// Which kernel set this build runs, for the page and the CLI.
pub fn active_name() -> &'static str {
    if cfg!(all(target_arch = "wasm32", target_feature = "relaxed-simd")) {
        "simd128+relaxed"
    } else if cfg!(all(target_arch = "wasm32", target_feature = "simd128")) {
        "simd128"
    } else {
        "scalar"
    }
}

/// Rows per packed A panel of the integer GEMM.
pub const IGEMM_MR: usize = 4;
/// Columns per packed B panel of the integer GEMM.
pub const IGEMM_NR: usize = 8;

/// Packs A (m×k, row-major, zero points already subtracted) for
/// `gemm_i16_packed`: panels of 4 rows; per pair of `k` steps the panel holds
/// `[r0 k0, r0 k1, r1 k0, r1 k1, …]` (8 values), so one vector load gives
/// every row's pair. Odd `k` and the last panel's missing rows are zero.
pub fn pack_a_i16(m: usize, k: usize, a: &[i16]) -> Vec<i16> {
    assert!(a.len() >= m * k, "pack_a_i16: A too small");
    let kq = k.div_ceil(2);
    let mut out = vec![0i16; m.div_ceil(IGEMM_MR) * kq * 2 * IGEMM_MR];
    for i in 0..m {
        let (ib, r) = (i / IGEMM_MR, i % IGEMM_MR);
        let base = ib * kq * 2 * IGEMM_MR;
        for (p, &v) in a[i * k..(i + 1) * k].iter().enumerate() {
            out[base + (p / 2) * 2 * IGEMM_MR + r * 2 + p % 2] = v;
        }
    }
    out
}

/// Packs B (k×n, row-major, zero points already subtracted) for
/// `gemm_i16_packed`: panels of 8 columns; per pair of `k` steps the panel
/// holds `[c0 k0, c0 k1, c1 k0, c1 k1, …, c7 k1]` (16 values).
pub fn pack_b_i16(k: usize, n: usize, b: &[i16]) -> Vec<i16> {
    assert!(b.len() >= k * n, "pack_b_i16: B too small");
    let kq = k.div_ceil(2);
    let mut out = vec![0i16; n.div_ceil(IGEMM_NR) * kq * 2 * IGEMM_NR];
    for p in 0..k {
        for (j, &v) in b[p * n..(p + 1) * n].iter().enumerate() {
            let (jp, c) = (j / IGEMM_NR, j % IGEMM_NR);
            out[jp * kq * 2 * IGEMM_NR + (p / 2) * 2 * IGEMM_NR + c * 2 + p % 2] = v;
        }
    }
    out
}

/// Length of `pack_a_i16`'s output (callers that pack in place size with it).
pub fn packed_a_i16_len(m: usize, k: usize) -> usize {
    m.div_ceil(IGEMM_MR) * k.div_ceil(2) * 2 * IGEMM_MR
}
