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
