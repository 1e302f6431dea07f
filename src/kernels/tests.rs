//! One property suite, instantiated for every kernel implementation: natively
//! for `reference`, and under wasm for `simd128` (baseline in Node, relaxed
//! in Chromium). Oracles are computed in f64.

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

macro_rules! kernel_suite {
    ($suite:ident, $imp:path) => {
        mod $suite {
            use super::{bounds, gemm_shapes, Rng};
            use wasm_bindgen_test::wasm_bindgen_test;
            use $imp as k;

            #[wasm_bindgen_test(unsupported = test)]
            fn gemm_within_bound_of_f64_oracle() {
                let mut rng = Rng::new(1);
                for (m, kk, n) in gemm_shapes() {
                    let a = rng.vec(m * kk, 2.0);
                    let b = rng.vec(kk * n, 2.0);
                    let mut c = vec![f32::NAN; m * n];
                    k::gemm_f32(m, kk, n, &a, &b, &mut c);
                    for i in 0..m {
                        for j in 0..n {
                            let (mut exact, mut abs_sum) = (0.0f64, 0.0f64);
                            for p in 0..kk {
                                let t = a[i * kk + p] as f64 * b[p * n + j] as f64;
                                exact += t;
                                abs_sum += t.abs();
                            }
                            let err = (c[i * n + j] as f64 - exact).abs();
                            assert!(err <= bounds::gemm_f32(kk, abs_sum), "gemm {m}x{kk}x{n} at ({i},{j}): got {}, exact {exact}, err {err}", c[i * n + j]);
                        }
                    }
                }
            }

            #[wasm_bindgen_test(unsupported = test)]
            fn gemm_with_packed_b_equals_gemm() {
                let mut rng = Rng::new(6);
                for (m, kk, n) in gemm_shapes() {
                    let a = rng.vec(m * kk, 1.0);
                    let b = rng.vec(kk * n, 1.0);
                    let (mut c1, mut c2) = (vec![0.0; m * n], vec![1.0; m * n]);
                    k::gemm_f32(m, kk, n, &a, &b, &mut c1);
                    k::gemm_f32_packed(m, kk, n, &a, &crate::kernels::pack_b_f32(kk, n, &b), &mut c2);
                    assert_eq!(c1, c2, "{m}x{kk}x{n}");
                    let mut c3 = vec![2.0; m * n];
                    k::gemm_f32_prepacked(m, kk, n, &crate::kernels::pack_a_f32(m, kk, &a), &crate::kernels::pack_b_f32(kk, n, &b), &mut c3);
                    assert_eq!(c1, c3, "prepacked A and B, {m}x{kk}x{n}");
                }
            }

            /// A GEMM that adds the bias and bounds each output as it stores
            /// it equals the GEMM then `Epilogue::apply`, bit for bit: NaN and
            /// ±∞ sums, bounds that touch, every K (one pass or several).
            #[wasm_bindgen_test(unsupported = test)]
            fn gemm_epilogue_equals_a_pass_after() {
                use crate::kernels::Epilogue;
                let mut rng = Rng::new(27);
                let mut shapes = gemm_shapes();
                shapes.extend([(6, 1100, 9), (9, 16, 31)]);
                for (m, kk, n) in shapes {
                    let mut a = rng.vec(m * kk, 1.0);
                    if a.len() > 2 {
                        a[1] = f32::NAN;
                        let last = a.len() - 1;
                        a[last] = f32::INFINITY;
                    }
                    let b = rng.vec(kk * n, 1.0);
                    let bias = rng.vec(m, 2.0);
                    let (ap, bp) = (crate::kernels::pack_a_f32(m, kk, &a), crate::kernels::pack_b_f32(kk, n, &b));
                    let mut plain = vec![0.0; m * n];
                    k::gemm_f32_prepacked(m, kk, n, &ap, &bp, &mut plain);
                    for ep in [
                        Epilogue { bias: Some(&bias), lo: None, hi: None },
                        Epilogue { bias: Some(&bias), lo: Some(0.0), hi: None },
                        Epilogue { bias: None, lo: Some(0.0), hi: Some(6.0) },
                        Epilogue { bias: Some(&bias), lo: Some(-0.5), hi: Some(-0.5) },
                    ] {
                        let mut got = vec![3.0; m * n];
                        k::gemm_f32_prepacked_then(m, kk, n, &ap, &bp, &mut got, ep);
                        let want: Vec<u32> = plain.iter().enumerate().map(|(i, &v)| ep.apply(i / n.max(1), v).to_bits()).collect();
                        assert_eq!(got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), want, "{m}x{kk}x{n} {ep:?}");
                    }
                }
            }

            /// The sparse kernel equals the dense one (same sums in the same
            /// order) at every zero fraction, ±0 zeros included.
            #[wasm_bindgen_test(unsupported = test)]
            fn sparse_gemm_equals_dense_gemm() {
                use crate::kernels::sparse::{Layout, SparseB};
                let transpose = |r: usize, c: usize, x: &[f32]| -> Vec<f32> { (0..r * c).map(|i| x[(i % r) * c + i / r]).collect() };
                let mut rng = Rng::new(21);
                let mut shapes = gemm_shapes();
                shapes.extend([(16, 64, 9), (17, 33, 5), (32, 128, 24), (1, 200, 3)]);
                for (m, kk, n) in shapes {
                    for zeros in [0.0, 0.5, 0.9, 1.0] {
                        let a = rng.vec(m * kk, 1.0);
                        let b: Vec<f32> = (0..kk * n)
                            .map(|_| {
                                if (rng.below(1000) as f64) < 1000.0 * zeros {
                                    if rng.below(2) == 0 {
                                        0.0
                                    } else {
                                        -0.0
                                    }
                                } else {
                                    rng.unit()
                                }
                            })
                            .collect();
                        let (mut dense, mut sparse) = (vec![0.0; m * n], vec![f32::NAN; m * n]);
                        k::gemm_f32(m, kk, n, &a, &b, &mut dense);
                        let sb = SparseB::from_dense(kk, n, &b);
                        k::gemm_f32_sparse(m, &a, &sb, &mut sparse, Layout::RowMajor);
                        assert_eq!(dense, sparse, "{m}x{kk}x{n}, {zeros} zeros");
                        // Transposed, as a 1×1 convolution runs it: C^T = B^T · A^T densely.
                        let (a_t, b_t) = (transpose(m, kk, &a), transpose(kk, n, &b));
                        let (mut dense_t, mut sparse_t) = (vec![0.0; m * n], vec![f32::NAN; m * n]);
                        k::gemm_f32(n, kk, m, &b_t, &a_t, &mut dense_t);
                        k::gemm_f32_sparse(m, &a_t, &sb, &mut sparse_t, Layout::Transposed);
                        assert_eq!(dense_t, sparse_t, "transposed {m}x{kk}x{n}, {zeros} zeros");
                    }
                }
            }

            /// Non-finite inputs: NaN wherever the dense product has 0·∞ or NaN.
            #[wasm_bindgen_test(unsupported = test)]
            fn sparse_gemm_propagates_non_finite_inputs_as_dense_does() {
                use crate::kernels::sparse::{propagate_non_finite, Layout, SparseB};
                let mut rng = Rng::new(22);
                let (m, kk, n) = (9, 40, 11);
                let mut a = rng.vec(m * kk, 1.0);
                a[3] = f32::INFINITY;
                a[kk + 7] = f32::NAN;
                a[5 * kk + 39] = f32::NEG_INFINITY;
                let b: Vec<f32> = (0..kk * n).map(|x| if x % 3 == 0 { rng.unit() } else { 0.0 }).collect();
                let (mut dense, mut sparse) = (vec![0.0; m * n], vec![0.0; m * n]);
                k::gemm_f32(m, kk, n, &a, &b, &mut dense);
                let sb = SparseB::from_dense(kk, n, &b);
                k::gemm_f32_sparse(m, &a, &sb, &mut sparse, Layout::RowMajor);
                propagate_non_finite(m, &a, &sb, &mut sparse, Layout::RowMajor);
                for (x, (d, s)) in dense.iter().zip(&sparse).enumerate() {
                    assert!(d.to_bits() == s.to_bits() || (d.is_nan() && s.is_nan()), "output {x}: dense {d}, sparse {s}");
                }
                // The same in the transposed layout: output (i, j) sits at j·m + i.
                let a_t: Vec<f32> = (0..m * kk).map(|x| a[(x % m) * kk + x / m]).collect();
                let mut sparse_t = vec![0.0; m * n];
                k::gemm_f32_sparse(m, &a_t, &sb, &mut sparse_t, Layout::Transposed);
                propagate_non_finite(m, &a_t, &sb, &mut sparse_t, Layout::Transposed);
                for (x, d) in dense.iter().enumerate() {
                    let s = sparse_t[(x % n) * m + x / n];
                    assert!(d.to_bits() == s.to_bits() || (d.is_nan() && s.is_nan()), "transposed output {x}: dense {d}, sparse {s}");
                }
                assert!(dense.iter().any(|v| v.is_nan()) && dense.iter().any(|v| v.is_infinite()));
            }

            #[wasm_bindgen_test(unsupported = test)]
            fn integer_gemm_is_exact() {
                let mut rng = Rng::new(11);
                let mut shapes = gemm_shapes();
                shapes.push((5, 1023, 3));
                for (m, kk, n) in shapes {
                    // Centred 8-bit values span [-255, 255]; include the extremes.
                    let val = |rng: &mut Rng| match rng.below(8) {
                        0 => 255i16,
                        1 => -255,
                        _ => rng.below(511) as i16 - 255,
                    };
                    let a: Vec<i16> = (0..m * kk).map(|_| val(&mut rng)).collect();
                    let b: Vec<i16> = (0..kk * n).map(|_| val(&mut rng)).collect();
                    let mut c = vec![i32::MIN; m * n];
                    k::gemm_i16_packed(m, kk, n, &crate::kernels::pack_a_i16(m, kk, &a), &crate::kernels::pack_b_i16(kk, n, &b), &mut c);
                    for i in 0..m {
                        for j in 0..n {
                            let exact: i64 = (0..kk).map(|p| a[i * kk + p] as i64 * b[p * n + j] as i64).sum();
                            assert_eq!(c[i * n + j] as i64, exact, "{m}x{kk}x{n} at ({i},{j})");
                        }
                    }
                }
            }

            #[wasm_bindgen_test(unsupported = test)]
            fn quantize_u8_matches_the_definition_bit_for_bit() {
                let mut rng = Rng::new(12);
                for n in [0usize, 1, 15, 16, 17, 100, 1000] {
                    let mut x = rng.vec(n, 3.0);
                    if n > 3 {
                        x[0] = 0.5 * 0.02; // ties round to even
                        x[1] = 1.5 * 0.02;
                        x[2] = 1e9; // saturates
                    }
                    let (lo, hi) = k::min_max_f32(&x);
                    if n > 0 {
                        assert_eq!(lo, x.iter().copied().fold(f32::INFINITY, f32::min), "n={n}");
                        assert_eq!(hi, x.iter().copied().fold(f32::NEG_INFINITY, f32::max), "n={n}");
                    }
                    let mut q = vec![7u8; n];
                    k::quantize_u8(&x, 0.02, 100.0, &mut q);
                    for (i, (&v, &got)) in x.iter().zip(&q).enumerate() {
                        let want = ((v / 0.02f32) as f64).round_ties_even().clamp(-100.0, 155.0) as i32 + 100;
                        assert_eq!(got as i32, want, "n={n} i={i} x={v}");
                    }
                }
                // Quotients on and a few ulps either side of half-integers, where
                // x · (1/scale) and x / scale may round to different integers.
                for scale in [0.02f32, 1.0 / 3.0, 0.012_345_679, 7.1e-3, 0.37] {
                    let mut x = Vec::new();
                    for k in -130..130 {
                        let tie = (k as f32 + 0.5) * scale;
                        let mut v = tie;
                        for _ in 0..4 {
                            x.push(v);
                            x.push(-v);
                            v = f32::from_bits(v.to_bits() + 1);
                        }
                        let mut v = tie;
                        for _ in 0..3 {
                            v = f32::from_bits(v.to_bits().wrapping_sub(1));
                            x.push(v);
                        }
                    }
                    let mut q = vec![7u8; x.len()];
                    k::quantize_u8(&x, scale, 128.0, &mut q);
                    for (i, (&v, &got)) in x.iter().zip(&q).enumerate() {
                        let want = ((v / scale) as f64).round_ties_even().clamp(-128.0, 127.0) as i32 + 128;
                        assert_eq!(got as i32, want, "scale {scale} i={i} x={v}");
                    }
                }
                let mut x = vec![1.0f32; 9];
                x[5] = f32::NAN;
                assert!(k::min_max_f32(&x).0.is_nan());
                // NaN and ±Inf inside the vector body and in the tail.
                let mut x = vec![0.5f32; 21];
                x[3] = f32::NAN;
                x[4] = f32::INFINITY;
                x[5] = f32::NEG_INFINITY;
                x[20] = f32::NAN;
                assert!(k::min_max_f32(&x[..16]).0.is_nan());
                let mut q = vec![7u8; 21];
                k::quantize_u8(&x, 0.02, 100.0, &mut q);
                assert_eq!((q[3], q[4], q[5], q[20], q[0]), (0, 255, 0, 0, 125));
            }

            #[wasm_bindgen_test(unsupported = test)]
            fn signed_split_int8_gemm_is_exact() {
                let mut rng = Rng::new(13);
                let mut shapes = gemm_shapes();
                shapes.push((5, 1023, 7));
                for (m, kk, n) in shapes {
                    let a: Vec<i8> = (0..m * kk)
                        .map(|_| match rng.below(8) {
                            0 => -128,
                            1 => 127,
                            _ => rng.below(256) as i16 as i8,
                        })
                        .collect();
                    let b: Vec<i16> = (0..kk * n)
                        .map(|_| match rng.below(8) {
                            0 => -127,
                            1 => 127,
                            _ => rng.below(255) as i16 - 127,
                        })
                        .collect();
                    let bp = crate::kernels::pack_b_pn(kk, n, &b).expect("in range");
                    let mut c = vec![i32::MIN; m * n];
                    k::gemm_i8_pn_packed(m, kk, n, &crate::kernels::pack_a_i8(m, kk, &a), &bp, &mut c);
                    for i in 0..m {
                        for j in 0..n {
                            let exact: i64 = (0..kk).map(|p| a[i * kk + p] as i64 * b[p * n + j] as i64).sum();
                            assert_eq!(c[i * n + j] as i64, exact, "{m}x{kk}x{n} at ({i},{j})");
                        }
                    }
                }
                assert!(crate::kernels::pack_b_pn(1, 2, &[5, -128]).is_none());
            }

            #[wasm_bindgen_test(unsupported = test)]
            fn gemm_overwrites_output_and_propagates_nan() {
                let a = [1.0, f32::NAN, 2.0, 3.0];
                let b = [1.0, 1.0, 1.0, 1.0];
                let mut c = [99.0f32; 4];
                k::gemm_f32(2, 2, 2, &a, &b, &mut c);
                assert!(c[0].is_nan() && c[1].is_nan());
                assert_eq!(&c[2..], &[5.0, 5.0]);
            }

            #[wasm_bindgen_test(unsupported = test)]
            fn elementwise_ops_are_correctly_rounded() {
                let mut rng = Rng::new(2);
                for n in [0usize, 1, 3, 4, 5, 17, 64, 1001] {
                    let a = rng.vec(n, 10.0);
                    let b: Vec<f32> = rng.vec(n, 10.0).iter().map(|v| if *v == 0.0 { 1.0 } else { *v }).collect();
                    let mut out = vec![0.0f32; n];
                    let cases: [(fn(&[f32], &[f32], &mut [f32]), fn(f64, f64) -> f64); 4] =
                        [(k::add_f32, |x, y| x + y), (k::sub_f32, |x, y| x - y), (k::mul_f32, |x, y| x * y), (k::div_f32, |x, y| x / y)];
                    for (kernel, exact) in cases {
                        kernel(&a, &b, &mut out);
                        for i in 0..n {
                            let e = exact(a[i] as f64, b[i] as f64);
                            let err = (out[i] as f64 - e).abs();
                            assert!(err <= bounds::ELEMENTWISE_F32_REL * e.abs() + 1e-45, "n={n} i={i}: {} vs {e}", out[i]);
                        }
                    }
                }
            }

            #[wasm_bindgen_test(unsupported = test)]
            fn axpy_within_two_roundings() {
                let mut rng = Rng::new(8);
                for n in [0usize, 1, 3, 4, 9, 64, 257] {
                    let x = rng.vec(n, 4.0);
                    let y0 = rng.vec(n, 4.0);
                    let mut y = y0.clone();
                    k::axpy_f32(0.75, &x, &mut y);
                    for i in 0..n {
                        let e = y0[i] as f64 + 0.75 * x[i] as f64;
                        let scale = y0[i].abs() as f64 + (0.75 * x[i]).abs() as f64;
                        assert!((y[i] as f64 - e).abs() <= 2.0 * bounds::ELEMENTWISE_F32_REL * scale, "n={n} i={i}");
                    }
                }
            }

            #[wasm_bindgen_test(unsupported = test)]
            fn relu_matches_definition_including_nan_and_signed_zero() {
                let mut rng = Rng::new(3);
                for n in [0usize, 1, 4, 7, 33] {
                    let mut x = rng.vec(n, 5.0);
                    if n > 2 {
                        x[0] = f32::NAN;
                        x[1] = -0.0;
                    }
                    let before = x.clone();
                    k::relu_f32(&mut x);
                    for (o, i) in x.iter().zip(&before) {
                        if i.is_nan() {
                            assert!(o.is_nan());
                        } else if *i < 0.0 {
                            assert_eq!(o.to_bits(), 0.0f32.to_bits());
                        } else {
                            assert_eq!(o.to_bits(), i.to_bits());
                        }
                    }
                }
            }

            #[wasm_bindgen_test(unsupported = test)]
            fn exp_within_bound_over_its_range() {
                let mut x: Vec<f32> = (-870..=885).map(|i| i as f32 / 10.0 + 0.0371).collect();
                x.extend([0.0, -0.0, 1e-8, -1e-8, f32::NAN]);
                let mut y = x.clone();
                k::exp_f32(&mut y);
                for (xi, yi) in x.iter().zip(&y) {
                    if xi.is_nan() {
                        assert!(yi.is_nan());
                        continue;
                    }
                    let e = (*xi as f64).exp();
                    assert!((*yi as f64 - e).abs() <= bounds::EXP_F32_REL * e, "exp({xi}) = {yi}, exact {e}");
                }
            }

            #[wasm_bindgen_test(unsupported = test)]
            fn erf_within_bound_of_the_series() {
                let mut x: Vec<f32> = (-6000..=6000).map(|i| i as f32 / 1000.0).collect();
                let orig = x.clone();
                k::erf_f32(&mut x);
                for (xi, yi) in orig.iter().zip(&x) {
                    let e = crate::kernels::reference::erf_f64(*xi as f64);
                    assert!((*yi as f64 - e).abs() <= bounds::ERF_F32_ABS, "erf({xi}) = {yi}, exact {e}");
                }
            }

            #[wasm_bindgen_test(unsupported = test)]
            fn gelu_equals_its_op_chain_and_the_exact_function() {
                let x: Vec<f32> =
                    (-9000..=9000).step_by(7).map(|i| i as f32 / 1000.0).chain([0.0, -0.0, 1e-30, f32::NAN, f32::INFINITY, f32::NEG_INFINITY]).collect();
                let chains = [
                    crate::kernels::GeluChain::STANDARD,
                    crate::kernels::GeluChain { divisor: std::f32::consts::SQRT_2, divide: true, one: 1.0, half: 0.5, half_first: false },
                ];
                for c in chains {
                    let mut y = x.clone();
                    k::gelu_f32(&mut y, c);
                    // The chain op by op, with this implementation's erf.
                    let mut t: Vec<f32> = x.iter().map(|v| if c.divide { v / c.divisor } else { v * c.divisor }).collect();
                    k::erf_f32(&mut t);
                    for ((xi, ti), yi) in x.iter().zip(&t).zip(&y) {
                        let e = ti + c.one;
                        let chain = if c.half_first { (xi * c.half) * e } else { (xi * e) * c.half };
                        assert!(chain.to_bits() == yi.to_bits() || (chain.is_nan() && yi.is_nan()), "gelu({xi}) = {yi}, chain {chain}");
                        if xi.is_finite() {
                            let exact = 0.5 * *xi as f64 * (1.0 + crate::kernels::reference::erf_f64(*xi as f64 / std::f64::consts::SQRT_2));
                            assert!((*yi as f64 - exact).abs() <= bounds::GELU_F32_ABS * (1.0 + xi.abs() as f64), "gelu({xi}) = {yi}, exact {exact}");
                        }
                    }
                }
            }

            #[wasm_bindgen_test(unsupported = test)]
            fn depthwise_within_bound_of_f64_oracle() {
                let mut rng = Rng::new(21);
                for shape in super::depthwise_shapes() {
                    let padded = rng.vec(shape.ph * shape.pw, 1.0);
                    let w = rng.vec(shape.kh * shape.kw, 1.0);
                    let mut out = vec![f32::NAN; shape.oh * shape.ow];
                    k::depthwise_f32(&padded, &w, shape, &mut out, crate::kernels::Epilogue::default());
                    for oy in 0..shape.oh {
                        for ox in 0..shape.ow {
                            let (mut exact, mut abs) = (0.0f64, 0.0f64);
                            for ky in 0..shape.kh {
                                for kx in 0..shape.kw {
                                    let x = padded[(oy * shape.sy + ky * shape.dy) * shape.pw + ox * shape.sx + kx * shape.dx] as f64;
                                    exact += w[ky * shape.kw + kx] as f64 * x;
                                    abs += (w[ky * shape.kw + kx] as f64 * x).abs();
                                }
                            }
                            let got = out[oy * shape.ow + ox] as f64;
                            assert!((got - exact).abs() <= bounds::gemm_f32(shape.kh * shape.kw, abs), "{shape:?} at ({oy},{ox}): {got} vs {exact}");
                        }
                    }
                }
            }

            #[wasm_bindgen_test(unsupported = test)]
            fn winograd_within_bound_of_f64_oracle() {
                use crate::kernels::winograd::{conv3x3, Tile, WinogradFilters, WinogradShape};
                let mut rng = Rng::new(25);
                // (m, c, h, w, pad begin, pad end): odd sizes, no padding, one-sided padding, more than 8 tiles.
                let shapes = [(1, 1, 3, 3, 0, 0), (5, 3, 7, 6, 1, 1), (4, 2, 5, 9, 0, 2), (9, 17, 11, 13, 1, 1), (3, 4, 2, 2, 2, 1), (2, 5, 18, 19, 1, 1)];
                for ((m, c, h, w, pb, pe), tile) in shapes.into_iter().flat_map(|s| [(s, Tile::F2), (s, Tile::F4)]) {
                    let (oh, ow) = (h + pb + pe - 2, w + pb + pe - 2);
                    let x = rng.vec(c * h * w, 1.0);
                    let wt = rng.vec(m * c * 9, 1.0);
                    let filters = WinogradFilters::new(m, c, &wt, tile);
                    let mut out = vec![f32::NAN; m * oh * ow];
                    conv3x3(k::gemm_f32_prepacked, &x, &filters, WinogradShape { h, w, top: pb, left: pb, oh, ow }, &mut out);
                    for o in 0..m {
                        for (oy, ox) in (0..oh).flat_map(|y| (0..ow).map(move |x| (y, x))) {
                            let at = |ch: usize, y: usize, xx: usize| {
                                let (iy, ix) = (y as isize - pb as isize, xx as isize - pb as isize);
                                if (0..h as isize).contains(&iy) && (0..w as isize).contains(&ix) {
                                    x[ch * h * w + iy as usize * w + ix as usize] as f64
                                } else {
                                    0.0
                                }
                            };
                            let mut exact = 0.0f64;
                            for ch in 0..c {
                                for (ky, kx) in (0..3).flat_map(|a| (0..3).map(move |b| (a, b))) {
                                    exact += wt[(o * c + ch) * 9 + ky * 3 + kx] as f64 * at(ch, oy + ky, ox + kx);
                                }
                            }
                            let abs = super::winograd_abs(&wt, &at, (o, c), (oy, ox), tile);
                            let got = out[o * oh * ow + oy * ow + ox] as f64;
                            assert!((got - exact).abs() <= bounds::winograd(c, abs, tile), "{tile:?} m{m} c{c} {h}x{w} at ({o},{oy},{ox}): {got} vs {exact}");
                        }
                    }
                }
            }

            /// A depthwise plane finished by an epilogue (its bias, Relu6's
            /// bounds) equals the plane then `Epilogue::apply`, bit for bit,
            /// NaN included, at every geometry.
            #[wasm_bindgen_test(unsupported = test)]
            fn depthwise_epilogue_equals_a_pass_after() {
                use crate::kernels::Epilogue;
                let mut rng = Rng::new(28);
                for shape in super::depthwise_shapes() {
                    let mut padded = rng.vec(shape.ph * shape.pw, 1.0);
                    padded[0] = f32::NAN;
                    let w = rng.vec(shape.kh * shape.kw, 1.0);
                    let mut plain = vec![0.0; shape.oh * shape.ow];
                    k::depthwise_f32(&padded, &w, shape, &mut plain, Epilogue::default());
                    let ep = Epilogue { bias: Some(&[-0.125]), lo: Some(0.0), hi: Some(6.0) };
                    let mut got = vec![1.0; shape.oh * shape.ow];
                    k::depthwise_f32(&padded, &w, shape, &mut got, ep);
                    let want: Vec<u32> = plain.iter().map(|&v| ep.apply(0, v).to_bits()).collect();
                    assert_eq!(got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), want, "{shape:?}");
                }
            }

            /// The tile transforms four tiles at a time (SIMD128 builds) give
            /// the same bits as one at a time: same operations, same order.
            /// Shapes: tile rows of 4–9 tiles, groups that straddle a packed
            /// panel, tiles cut by the output's edge.
            #[wasm_bindgen_test(unsupported = test)]
            fn winograd_transforms_by_lanes_are_bit_identical() {
                use crate::kernels::winograd::{conv3x3_lanes, Tile, WinogradFilters, WinogradShape};
                let mut rng = Rng::new(26);
                for ((m, c, h, w), tile) in
                    [(3, 5, 9, 15), (5, 2, 17, 18), (2, 3, 30, 37), (4, 4, 8, 8)].into_iter().flat_map(|s| [(s, Tile::F2), (s, Tile::F4)])
                {
                    let (oh, ow) = (h, w);
                    let mut x = rng.vec(c * h * w, 1.0);
                    x[3] = f32::NAN;
                    x[c * h * w - 1] = f32::INFINITY;
                    let filters = WinogradFilters::new(m, c, &rng.vec(m * c * 9, 1.0), tile);
                    let shape = WinogradShape { h, w, top: 1, left: 1, oh, ow };
                    let (mut lanes, mut single) = (vec![0.5f32; m * oh * ow], vec![0.5f32; m * oh * ow]);
                    conv3x3_lanes(k::gemm_f32_prepacked, &x, &filters, shape, &mut lanes, true);
                    conv3x3_lanes(k::gemm_f32_prepacked, &x, &filters, shape, &mut single, false);
                    let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&lanes), bits(&single), "{tile:?} m{m} c{c} {h}x{w}");
                }
            }

            /// Max pooling is exact: each output is its window's largest
            /// value, NaN when the window holds one, +0 over −0.
            #[wasm_bindgen_test(unsupported = test)]
            fn max_pool_is_the_window_maximum() {
                let mut rng = Rng::new(24);
                for shape in super::depthwise_shapes() {
                    let mut padded = rng.vec(shape.ph * shape.pw, 1.0);
                    for (i, v) in padded.iter_mut().enumerate() {
                        match i % 11 {
                            3 => *v = f32::NEG_INFINITY,
                            5 => *v = -0.0,
                            7 if i % 3 == 0 => *v = 0.0,
                            9 if i % 37 == 0 => *v = f32::NAN,
                            _ => {}
                        }
                    }
                    let mut out = vec![f32::NAN; shape.oh * shape.ow];
                    k::max_pool_f32(&padded, shape, &mut out);
                    for oy in 0..shape.oh {
                        for ox in 0..shape.ow {
                            let window: Vec<f32> = (0..shape.kh * shape.kw)
                                .map(|t| padded[(oy * shape.sy + (t / shape.kw) * shape.dy) * shape.pw + ox * shape.sx + (t % shape.kw) * shape.dx])
                                .collect();
                            let got = out[oy * shape.ow + ox];
                            let want = if window.iter().any(|v| v.is_nan()) {
                                f32::NAN
                            } else {
                                let top = window.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                                if top == 0.0 && window.iter().any(|v| *v == 0.0 && v.is_sign_positive()) {
                                    0.0
                                } else {
                                    top
                                }
                            };
                            assert!(
                                got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                                "{shape:?} at ({oy},{ox}): {got} vs {want} of {window:?}"
                            );
                        }
                    }
                }
            }

            #[wasm_bindgen_test(unsupported = test)]
            fn integer_depthwise_is_exact_and_scales_like_the_chain() {
                use crate::kernels::{Codes, IntOut, PlaneInPadding, QuantizedF32, RowScale};
                let mut rng = Rng::new(23);
                for shape in super::depthwise_shapes() {
                    // The data inside the padded plane: 0–2 rows/columns of padding on each side.
                    let (top, left) = (shape.ph.min(2) / 2, shape.pw.min(3) / 2);
                    let (h, w) = (shape.ph - top - (shape.ph > 3) as usize, shape.pw - left - (shape.pw > 4) as usize);
                    let p = PlaneInPadding { h, w, top, left };
                    let (planes, channels, per) = (5, 3, shape.kh * shape.kw);
                    let raw: Vec<u8> = (0..planes * h * w).map(|i| if i % 7 == 0 { 255 } else { rng.below(256) as u8 }).collect();
                    let signed: Vec<i8> = raw.iter().map(|&v| v as i8).collect();
                    let taps: Vec<i16> = (0..channels * per).map(|i| if i % 5 == 0 { -255 } else { rng.below(511) as i16 - 255 }).collect();
                    let scale: Vec<f32> = (0..channels).map(|c| 0.001 * (c as f32 + 1.5)).collect();
                    let bias: Vec<f32> = (0..channels).map(|c| c as f32 - 1.0).collect();
                    let plane_out = shape.oh * shape.ow;
                    for (zp, codes) in [(131i16, raw.iter().map(|&v| v as i16).collect::<Vec<i16>>()), (-7, signed.iter().map(|&v| v as i16).collect())] {
                        let exact = |i: usize, oy: usize, ox: usize| -> i64 {
                            let mut sum = 0i64;
                            for ky in 0..shape.kh {
                                for kx in 0..shape.kw {
                                    let (y, x) = ((oy * shape.sy + ky * shape.dy) as i64 - top as i64, (ox * shape.sx + kx * shape.dx) as i64 - left as i64);
                                    if (0..h as i64).contains(&y) && (0..w as i64).contains(&x) {
                                        let v = codes[i * h * w + y as usize * w + x as usize] as i64 - zp as i64;
                                        sum += v * taps[(i % channels) * per + ky * shape.kw + kx] as i64;
                                    }
                                }
                            }
                            sum
                        };
                        let mut ints = vec![i32::MIN; planes * plane_out];
                        let mut floats = vec![f32::NAN; planes * plane_out];
                        let rs = RowScale { scale: &scale, bias: Some(&bias), lo: Some(-0.5), hi: Some(6.0) };
                        if zp == 131 {
                            let src = Codes { codes: &raw[..], zero_point: zp };
                            k::depthwise_codes(&src, p, &taps, shape, IntOut::I32(&mut ints));
                            k::depthwise_codes(&src, p, &taps, shape, IntOut::F32(&mut floats, rs));
                        } else {
                            let src = Codes { codes: &signed[..], zero_point: zp };
                            k::depthwise_codes(&src, p, &taps, shape, IntOut::I32(&mut ints));
                            k::depthwise_codes(&src, p, &taps, shape, IntOut::F32(&mut floats, rs));
                        }
                        if zp == 131 {
                            // Floats quantised as they are read give what their stored codes give.
                            let floats: Vec<f32> = (0..planes * h * w).map(|i| (i as f32 * 0.377).sin() * 3.0).collect();
                            let mut q = vec![0u8; floats.len()];
                            crate::kernels::reference::quantize_u8(&floats, 0.0241, 131.0, &mut q);
                            let (mut from_codes, mut from_floats) = (vec![0i32; planes * plane_out], vec![1i32; planes * plane_out]);
                            k::depthwise_codes(&Codes { codes: &q[..], zero_point: 131 }, p, &taps, shape, IntOut::I32(&mut from_codes));
                            k::depthwise_codes(&QuantizedF32 { x: &floats, scale: 0.0241, zero_point: 131 }, p, &taps, shape, IntOut::I32(&mut from_floats));
                            assert_eq!(from_codes, from_floats, "{shape:?} {p:?}: quantised floats");
                        }
                        for i in 0..planes {
                            for oy in 0..shape.oh {
                                for ox in 0..shape.ow {
                                    let (e, at) = (exact(i, oy, ox), i * plane_out + oy * shape.ow + ox);
                                    assert_eq!(ints[at] as i64, e, "{shape:?} {p:?} zp {zp} plane {i} at ({oy},{ox})");
                                    let chain = (e as i32 as f32 * scale[i % channels] + bias[i % channels]).max(-0.5).min(6.0);
                                    assert_eq!(floats[at].to_bits(), chain.to_bits(), "{shape:?} scaled, plane {i} at ({oy},{ox})");
                                }
                            }
                        }
                    }
                }
            }

            #[wasm_bindgen_test(unsupported = test)]
            fn scaled_integer_gemm_finishes_rows_like_the_chain() {
                use crate::kernels::RowScale;
                let mut rng = Rng::new(25);
                for (m, kk, n) in gemm_shapes() {
                    let a: Vec<i16> = (0..m * kk).map(|_| rng.below(511) as i16 - 255).collect();
                    let b: Vec<i16> = (0..kk * n).map(|_| rng.below(511) as i16 - 255).collect();
                    let scale: Vec<f32> = (0..m).map(|i| 1e-4 * (i as f32 + 0.5)).collect();
                    let bias: Vec<f32> = (0..m).map(|i| 0.25 * i as f32 - 1.0).collect();
                    let (ap, bp) = (crate::kernels::pack_a_i16(m, kk, &a), crate::kernels::pack_b_i16(kk, n, &b));
                    for (bias, lo, hi) in [(None, None, None), (Some(&bias[..]), Some(0.0f32), None), (Some(&bias[..]), Some(-1.0), Some(1.0))] {
                        let mut c = vec![f32::NAN; m * n];
                        k::gemm_i16_packed_scaled(m, kk, n, &ap, &bp, RowScale { scale: &scale, bias, lo, hi }, &mut c);
                        for i in 0..m {
                            for j in 0..n {
                                let exact: i64 = (0..kk).map(|p| a[i * kk + p] as i64 * b[p * n + j] as i64).sum();
                                let mut want = exact as i32 as f32 * scale[i];
                                if let Some(bv) = bias {
                                    want += bv[i];
                                }
                                want = lo.map_or(want, |l| if want < l { l } else { want });
                                want = hi.map_or(want, |h| if want > h { h } else { want });
                                assert_eq!(c[i * n + j].to_bits(), want.to_bits(), "{m}x{kk}x{n} at ({i},{j}), bias {} lo {lo:?} hi {hi:?}", bias.is_some());
                            }
                        }
                    }
                }
            }

            #[wasm_bindgen_test(unsupported = test)]
            fn packing_codes_centres_and_interleaves_pairs() {
                use crate::kernels::{Codes, QuantizedF32, IGEMM_NR as NR};
                let mut rng = Rng::new(24);
                for (kk, n) in [(1usize, 1usize), (2, 8), (3, 9), (16, 40), (7, 23), (0, 5), (4, 0)] {
                    let raw: Vec<u8> = (0..kk * n).map(|_| rng.below(256) as u8).collect();
                    let signed: Vec<i8> = raw.iter().map(|&v| v as i8).collect();
                    let wide: Vec<i16> = raw.iter().map(|&v| v as i16 * 100 - 12_000).collect();
                    let kq = kk.div_ceil(2);
                    // Where (p, j) goes, and that everything else is zero padding.
                    let check = |packed: &[i16], value: &dyn Fn(usize) -> i16, what: &str| {
                        assert_eq!(packed.len(), n.div_ceil(NR) * kq * 2 * NR, "{what} {kk}x{n}: length");
                        let mut seen = vec![false; packed.len()];
                        for p in 0..kk {
                            for j in 0..n {
                                let at = (j / NR) * kq * 2 * NR + (p / 2) * 2 * NR + (j % NR) * 2 + p % 2;
                                assert_eq!(packed[at], value(p * n + j), "{what} {kk}x{n} at ({p},{j})");
                                seen[at] = true;
                            }
                        }
                        assert!(packed.iter().zip(&seen).all(|(&v, &s)| s || v == 0), "{what} {kk}x{n}: padding");
                    };
                    check(&k::pack_b_codes(kk, n, &Codes { codes: &raw[..], zero_point: 131 }, 0), &|i| raw[i] as i16 - 131, "u8");
                    check(&k::pack_b_codes(kk, n, &Codes { codes: &signed[..], zero_point: -7 }, 0), &|i| signed[i] as i16 + 7, "i8");
                    check(&k::pack_b_codes(kk, n, &Codes { codes: &wide[..], zero_point: 0 }, 0), &|i| wide[i], "i16");
                    // From an offset, and from floats quantised as they are read.
                    let shifted: Vec<u8> = [3u8, 9, 250].iter().copied().chain(raw.iter().copied()).collect();
                    check(&k::pack_b_codes(kk, n, &Codes { codes: &shifted[..], zero_point: 131 }, 3), &|i| raw[i] as i16 - 131, "u8 at offset 3");
                    let mut floats: Vec<f32> = (0..kk * n).map(|i| (i as f32 * 0.731).sin() * 2.0).collect();
                    // Beyond the range on both sides, NaN (code 0) and ±Inf, inside the vector body.
                    for (i, v) in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1e30, -1e30].into_iter().enumerate() {
                        if let Some(f) = floats.get_mut(3 * i + 1) {
                            *f = v;
                        }
                    }
                    let mut q = vec![0u8; floats.len()];
                    crate::kernels::reference::quantize_u8(&floats, 0.013, 120.0, &mut q);
                    let src = QuantizedF32 { x: &floats, scale: 0.013, zero_point: 120 };
                    check(&k::pack_b_codes(kk, n, &src, 0), &|i| q[i] as i16 - 120, "quantised f32");
                    let mut values = vec![i16::MIN; (kk * n).saturating_sub(1)];
                    k::centred_values(&src, 1.min(kk * n), &mut values);
                    assert!(values.iter().enumerate().all(|(i, &v)| v == q[i + 1] as i16 - 120), "{kk}x{n}: centred values from 1");
                }
            }

            #[wasm_bindgen_test(unsupported = test)]
            fn max_propagates_nan() {
                assert_eq!(k::max_f32(&[]), f32::NEG_INFINITY);
                assert_eq!(k::max_f32(&[1.0, 5.0, -2.0, 4.0, 3.0]), 5.0);
                assert!(k::max_f32(&[1.0, 2.0, 3.0, 4.0, f32::NAN]).is_nan());
                assert!(k::max_f32(&[f32::NAN, 2.0, 3.0, 4.0, 5.0]).is_nan());
            }

            #[wasm_bindgen_test(unsupported = test)]
            fn softmax_rows_sum_to_one_and_match_oracle() {
                let mut rng = Rng::new(4);
                for (rows, row) in [(1usize, 1usize), (3, 10), (2, 4), (5, 33), (1, 1000)] {
                    let x = rng.vec(rows * row, 20.0);
                    let mut y = x.clone();
                    k::softmax_f32(&mut y, row);
                    for r in 0..rows {
                        let xs = &x[r * row..(r + 1) * row];
                        let m = xs.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
                        let s: f64 = xs.iter().map(|&v| (v as f64 - m).exp()).sum();
                        for j in 0..row {
                            let e = (xs[j] as f64 - m).exp() / s;
                            let got = y[r * row + j] as f64;
                            // Subnormal results are flushed to zero (both twins).
                            assert!((got - e).abs() <= bounds::softmax_f32(row) * e + f32::MIN_POSITIVE as f64, "row {r} col {j}: {got} vs {e}");
                            assert!(!(got as f32).is_subnormal(), "row {r} col {j}: {got} is subnormal");
                        }
                    }
                }
                // Exponentials and results below the normal range become 0, NaN stays.
                let mut tiny = vec![0.0f32, -90.0, -100.0, -88.0, 0.0, 0.0, 0.0, 0.0, 0.0];
                k::softmax_f32(&mut tiny, 9);
                assert!(tiny.iter().all(|v| !v.is_subnormal()), "{tiny:?}");
                assert_eq!(&tiny[1..4], &[0.0, 0.0, 0.0]);
                let mut nan = vec![0.0f32, f32::NAN, 1.0, 2.0, 3.0];
                k::softmax_f32(&mut nan, 5);
                assert!(nan.iter().all(|v| v.is_nan()));
                // Large logits must not overflow.
                let mut big = vec![1000.0f32, 1000.0, -1000.0];
                k::softmax_f32(&mut big, 3);
                assert_eq!(big, vec![0.5, 0.5, 0.0]);
            }
        }
    };
}

kernel_suite!(reference_suite, crate::kernels::reference);
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
kernel_suite!(simd128_suite, crate::kernels::simd128);

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
