//! One property suite, instantiated for every kernel implementation: natively
//! for `reference`, and under wasm for `simd128` (baseline in Node, relaxed
//! in Chromium). Oracles are computed in f64. The suite is split by kernel
//! family; this module holds what the families share: bounds, the
//! generator, shapes and the baseline build's bit-identity checks.

mod matrix;
mod pointwise;
mod window;

/// Named error bounds, per kernel and format.
pub mod bounds {
    /// f32 dot products of length k: |err| ≤ (k + 2)·ε·Σ|aᵢbᵢ| (classical
    /// summation bound, holds for fused and unfused multiply-add).
    pub fn gemm_f32(k: usize, abs_sum: f64) -> f64 {
        (k as f64 + 2.0) * f32::EPSILON as f64 * abs_sum + f32::MIN_POSITIVE as f64
    }
    /// Elementwise f32 ops are correctly rounded: half an ulp, use one.
    pub const ELEMENTWISE_F32_REL: f64 = f32::EPSILON as f64;
    /// exp: the polynomial is within 2 ulp; allow 3 ε relative.
    pub const EXP_F32_REL: f64 = 3.0 * f32::EPSILON as f64;
    /// erf's rational approximation: 4 ε absolute (|erf| ≤ 1).
    pub const ERF_F32_ABS: f64 = 4.0 * f32::EPSILON as f64;
    /// GELU: x · (erf within 4 ε, plus 1) and two roundings: 8 ε · (1 + |x|).
    pub const GELU_F32_ABS: f64 = 8.0 * f32::EPSILON as f64;
    /// Winograd over c channels: the filter transform is rounded once (f64
    /// at load), the input and output transforms add at most 4 (F(2×2)) or
    /// 8 (F(4×4): five terms a row, then a column) rounding steps each way,
    /// the GEMM c + 2, all on the transformed magnitudes:
    /// |err| ≤ (c + k)·ε·S with k = 16 or 32, where S is the output computed
    /// with every transform and value taken absolute.
    pub fn winograd(c: usize, abs_transformed: f64, tile: crate::kernels::winograd::Tile) -> f64 {
        let k = if tile == crate::kernels::winograd::Tile::F2 { 16.0 } else { 32.0 };
        (c as f64 + k) * f32::EPSILON as f64 * abs_transformed + f32::MIN_POSITIVE as f64
    }
    /// Softmax: exp (≤ 3 ulp) plus a row sum of n terms.
    pub fn softmax_f32(n: usize) -> f64 {
        (n as f64 + 8.0) * f32::EPSILON as f64
    }
}

/// Deterministic xorshift generator: the suite must behave the same natively
/// and in every wasm engine.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    /// Uniform in [-1, 1).
    pub fn unit(&mut self) -> f32 {
        ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
    pub fn vec(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| self.unit() * scale).collect()
    }
}

/// Shapes every GEMM implementation must handle: tile edges, empty
/// dimensions, and a few random ones.
pub fn gemm_shapes() -> Vec<(usize, usize, usize)> {
    let mut shapes =
        vec![(1, 1, 1), (4, 8, 8), (4, 1, 4), (5, 9, 13), (3, 7, 3), (0, 3, 4), (3, 0, 4), (3, 4, 0), (8, 16, 12), (33, 17, 65), (64, 64, 64), (7, 130, 9)];
    // Deeper than one pass over K (512) and taller than one block of rows (256).
    shapes.extend([(9, 1025, 17), (150, 600, 20), (261, 520, 9)]);
    let mut rng = Rng::new(7);
    for _ in 0..24 {
        shapes.push((1 + rng.below(20), 1 + rng.below(40), 1 + rng.below(20)));
    }
    shapes
}

/// Depthwise geometries: 1×1 to 5×5 windows, strides 1–3, dilations 1–2,
/// widths that leave vector tails, and empty outputs.
pub fn depthwise_shapes() -> Vec<crate::kernels::DepthwiseShape> {
    let mut v = Vec::new();
    for (kh, kw) in [(1, 1), (3, 3), (5, 5), (3, 1), (1, 3)] {
        for (sy, sx) in [(1, 1), (2, 2), (1, 3)] {
            for (dy, dx) in [(1, 1), (2, 2)] {
                for (ph, pw) in [(7, 9), (12, 17), (kh, kw)] {
                    let out = |p: usize, k: usize, s: usize, d: usize| if p + 1 > (k - 1) * d { (p - (k - 1) * d - 1) / s + 1 } else { 0 };
                    let shape = crate::kernels::DepthwiseShape { ph, pw, kh, kw, sy, sx, dy, dx, oh: out(ph, kh, sy, dy), ow: out(pw, kw, sx, dx) };
                    assert!(shape.is_valid(), "{shape:?}");
                    v.push(shape);
                }
            }
        }
    }
    v
}

/// S of `bounds::winograd` for output `(o, oy, ox)`: the Winograd
/// computation of `tile` with every matrix and value taken absolute, in f64.
pub fn winograd_abs(
    wt: &[f32],
    x: &dyn Fn(usize, usize, usize) -> f64,
    (o, c): (usize, usize),
    (oy, ox): (usize, usize),
    tile: crate::kernels::winograd::Tile,
) -> f64 {
    use crate::kernels::winograd::{Tile, AT2, AT4, BT2, BT4, G2, G4};
    type Rows<'a> = Vec<&'a [f64]>;
    fn rows<const N: usize>(m: &[[f64; N]]) -> Rows<'_> {
        m.iter().map(|r| &r[..]).collect()
    }
    let (g, bt, at) = match tile {
        Tile::F2 => (rows(&G2), rows(&BT2), rows(&AT2)),
        Tile::F4 => (rows(&G4), rows(&BT4), rows(&AT4)),
    };
    let (m, t) = (tile.outputs(), tile.size());
    let (ty, tx, r, q) = (oy / m, ox / m, oy % m, ox % m);
    let mut total = 0.0;
    for ch in 0..c {
        for i in 0..t {
            for j in 0..t {
                let mut u = 0.0;
                let mut v = 0.0;
                for a in 0..3 {
                    for b in 0..3 {
                        u += g[i][a].abs() * (wt[(o * c + ch) * 9 + a * 3 + b] as f64).abs() * g[j][b].abs();
                    }
                }
                for a in 0..t {
                    for b in 0..t {
                        v += bt[i][a].abs() * x(ch, m * ty + a, m * tx + b).abs() * bt[j][b].abs();
                    }
                }
                total += at[r][i].abs() * at[q][j].abs() * u * v;
            }
        }
    }
    total
}

/// Without relaxed SIMD the vector depthwise kernel adds the same products in
/// the same order as the reference: equal bit for bit.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128", not(target_feature = "relaxed-simd")))]
#[wasm_bindgen_test::wasm_bindgen_test]
fn baseline_simd_depthwise_is_bit_identical_to_reference() {
    let mut rng = Rng::new(22);
    for shape in depthwise_shapes() {
        let padded = rng.vec(shape.ph * shape.pw, 1.0);
        let w = rng.vec(shape.kh * shape.kw, 1.0);
        let bias = [0.25f32];
        for ep in [crate::kernels::Epilogue::default(), crate::kernels::Epilogue { bias: Some(&bias), lo: Some(0.0), hi: Some(0.5) }] {
            let (mut a, mut b) = (vec![0.0; shape.oh * shape.ow], vec![0.0; shape.oh * shape.ow]);
            crate::kernels::reference::depthwise_f32(&padded, &w, shape, &mut a, ep);
            crate::kernels::simd128::depthwise_f32(&padded, &w, shape, &mut b, ep);
            assert_eq!(a, b, "{shape:?} {ep:?}");
        }
    }
}

/// Without relaxed SIMD the vector GEMM adds the same products in the same
/// order as the reference, so the two must agree bit for bit.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128", not(target_feature = "relaxed-simd")))]
#[wasm_bindgen_test::wasm_bindgen_test]
fn baseline_simd_gemm_is_bit_identical_to_reference() {
    let mut rng = Rng::new(5);
    for (m, kk, n) in gemm_shapes() {
        let a = rng.vec(m * kk, 1.0);
        let b = rng.vec(kk * n, 1.0);
        let (mut c1, mut c2) = (vec![0.0; m * n], vec![0.0; m * n]);
        crate::kernels::reference::gemm_f32(m, kk, n, &a, &b, &mut c1);
        crate::kernels::simd128::gemm_f32(m, kk, n, &a, &b, &mut c2);
        assert_eq!(c1, c2, "{m}x{kk}x{n}");
    }
}

/// The relaxed build must really have relaxed SIMD compiled in (so that the
/// Chromium run tests the relaxed kernels, not the baseline twice).
#[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd"))]
#[wasm_bindgen_test::wasm_bindgen_test]
fn relaxed_build_reports_relaxed_kernels() {
    assert_eq!(crate::kernels::active_name(), "simd128+relaxed");
}

/// The benchmark's ceiling kernel computes the same product.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128", feature = "bench"))]
#[wasm_bindgen_test::wasm_bindgen_test]
fn ceiling_kernel_matches_reference() {
    use crate::kernels::ceiling;
    let mut rng = Rng::new(9);
    let (m, kk, n) = (8, 37, 16);
    let a = rng.vec(m * kk, 1.0);
    let b = rng.vec(kk * n, 1.0);
    let (mut want, mut got) = (vec![0.0; m * n], vec![0.0; m * n]);
    crate::kernels::reference::gemm_f32(m, kk, n, &a, &b, &mut want);
    ceiling::gemm_prepacked(m, kk, n, &ceiling::pack_a(m, kk, &a), &ceiling::pack_b(kk, n, &b), &mut got);
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() <= 1e-5 * (1.0 + w.abs()));
    }
}
