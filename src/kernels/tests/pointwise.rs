//! Elementwise and row kernels: arithmetic, activations, exp/erf/GELU, max
//! and softmax.
//! Instantiated for `reference` natively and for `simd128` under wasm.

macro_rules! pointwise_suite {
    ($suite:ident, $imp:path) => {
        mod $suite {
            use super::super::{bounds, Rng};
            use wasm_bindgen_test::wasm_bindgen_test;
            use $imp as k;

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
            fn copy_copies_every_length_exactly() {
                let mut rng = Rng::new(31);
                for n in 0usize..=19 {
                    let mut src = rng.vec(n, 3.0);
                    if n > 2 {
                        src[1] = f32::NAN;
                        src[2] = -0.0;
                    }
                    let mut dst = vec![7.0f32; n + 3];
                    k::copy_f32(&mut dst[1..n + 1], &src);
                    assert_eq!(dst[0], 7.0, "n={n}: wrote before the start");
                    assert_eq!(&dst[n + 1..], &[7.0; 2], "n={n}: wrote past the end");
                    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&dst[1..n + 1]), bits(&src), "n={n}");
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

pointwise_suite!(reference, crate::kernels::reference);
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pointwise_suite!(simd128, crate::kernels::simd128);
