//! A plain register-blocked SIMD128 GEMM micro-kernel over operands packed
//! in advance: the practical f32 ceiling on this CPU, which the benchmark
//! reports next to `gemm_f32` (packing included there). Not used by the
//! runtime. A is packed as `[m/4][k][4]`, B as `[n/8][k][8]`.

use core::arch::wasm32::*;

/// A in the layout the micro-kernel reads (the runtime GEMM's own packing).
pub use super::simd128::pack_a;

/// B in `[n/8][k][8]` panels (the runtime's `pack_b_f32`).
pub fn pack_b(k: usize, n: usize, b: &[f32]) -> Vec<f32> {
    super::pack_b_f32(k, n, b)
}

/// `c = a · b` for m a multiple of 4 and n of 8.
pub fn gemm_prepacked(m: usize, k: usize, n: usize, ap: &[f32], bp: &[f32], c: &mut [f32]) {
    assert!(m % 4 == 0 && n % 8 == 0 && ap.len() >= m * k && bp.len() >= k * n && c.len() >= m * n);
    for jb in 0..n / 8 {
        for ib in 0..m / 4 {
            let mut acc = [f32x4_splat(0.0); 8];
            // SAFETY: panel offsets stay within the asserted sizes.
            unsafe {
                let pa = ap.as_ptr().add(ib * k * 4);
                let pb = bp.as_ptr().add(jb * k * 8);
                let end = pb.add(k * 8);
                let (mut a, mut b) = (pa, pb);
                while b < end {
                    let b0 = v128_load(b as *const v128);
                    let b1 = v128_load(b.add(4) as *const v128);
                    for (r, pair) in acc.chunks_exact_mut(2).enumerate() {
                        let s = v128_load32_splat(a.add(r) as *const u32);
                        pair[0] = f32x4_add(pair[0], f32x4_mul(s, b0));
                        pair[1] = f32x4_add(pair[1], f32x4_mul(s, b1));
                    }
                    a = a.add(4);
                    b = b.add(8);
                }
                for r in 0..4 {
                    let row = c.as_mut_ptr().add((ib * 4 + r) * n + jb * 8);
                    v128_store(row as *mut v128, acc[2 * r]);
                    v128_store(row.add(4) as *mut v128, acc[2 * r + 1]);
                }
            }
        }
    }
}
