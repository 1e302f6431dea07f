//! Window kernels: depthwise convolution (float and integer), Winograd 3×3
//! and max pooling.
//! Instantiated for `reference` natively and for `simd128` under wasm.

macro_rules! window_suite {
    ($suite:ident, $imp:path) => {
        mod $suite {
            use super::super::{bounds, depthwise_shapes, winograd_abs, Rng};
            use wasm_bindgen_test::wasm_bindgen_test;
            use $imp as k;

            #[wasm_bindgen_test(unsupported = test)]
            fn depthwise_within_bound_of_f64_oracle() {
                let mut rng = Rng::new(21);
                for shape in depthwise_shapes() {
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
                            let abs = winograd_abs(&wt, &at, (o, c), (oy, ox), tile);
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
                for shape in depthwise_shapes() {
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
                for shape in depthwise_shapes() {
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
                for shape in depthwise_shapes() {
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
        }
    };
}

window_suite!(reference, crate::kernels::reference);
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
window_suite!(simd128, crate::kernels::simd128);
