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
