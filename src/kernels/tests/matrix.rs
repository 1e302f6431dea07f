//! GEMMs: f32 (plain, prepacked, with an epilogue), sparse, and the integer
//! GEMMs with their quantisation and packing helpers.
//! Instantiated for `reference` natively and for `simd128` under wasm.

macro_rules! matrix_suite {
    ($suite:ident, $imp:path) => {
        mod $suite {
            use super::super::{bounds, gemm_shapes, Rng};
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
                        k::gemm_f32_prepacked_then(m, kk, n, &ap, &bp, crate::kernels::as_uninit(&mut got), ep);
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
        }
    };
}

matrix_suite!(reference, crate::kernels::reference);
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
matrix_suite!(simd128, crate::kernels::simd128);
