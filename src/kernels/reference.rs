//! Scalar reference kernels: the definition of what each kernel computes,
//! and the fallback where SIMD is not compiled in.

/// `c = a · b` with `a` m×k, `b` k×n, `c` m×n, all row-major and dense.
/// Each output sums its k products in order, starting from zero.
pub fn gemm_f32(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n, "gemm_f32: buffers too small");
    c[..m * n].fill(0.0);
    for i in 0..m {
        let row = &mut c[i * n..(i + 1) * n];
        for p in 0..k {
            let av = a[i * k + p];
            let brow = &b[p * n..(p + 1) * n];
            for (cv, &bv) in row.iter_mut().zip(brow) {
                *cv += av * bv;
            }
        }
    }
}

/// `c = a · b` with B given as `pack_b_f32` panels; same summation order as
/// `gemm_f32`.
pub fn gemm_f32_packed(m: usize, k: usize, n: usize, a: &[f32], bp: &[f32], c: &mut [f32]) {
    use super::GEMM_NR as NR;
    assert!(a.len() >= m * k && bp.len() >= n.div_ceil(NR) * k * NR && c.len() >= m * n, "gemm_f32_packed: buffers too small");
    // Each output still sums over p in order; the NR lanes of a panel are
    // independent, so the inner loop vectorises (natively, the tests' engine).
    for i in 0..m {
        let a_row = &a[i * k..(i + 1) * k];
        for jp in 0..n.div_ceil(NR) {
            let panel = &bp[jp * k * NR..(jp + 1) * k * NR];
            let mut s = [0.0f32; NR];
            for (&av, b) in a_row.iter().zip(panel.chunks_exact(NR)) {
                for (sv, &bv) in s.iter_mut().zip(b) {
                    *sv += av * bv;
                }
            }
            let width = NR.min(n - jp * NR);
            c[i * n + jp * NR..i * n + jp * NR + width].copy_from_slice(&s[..width]);
        }
    }
}

/// `c = a · b` with A given as `pack_a_f32` panels and B as `pack_b_f32`
/// panels; same summation order as `gemm_f32`.
pub fn gemm_f32_prepacked(m: usize, k: usize, n: usize, ap: &[f32], bp: &[f32], c: &mut [f32]) {
    gemm_f32_prepacked_then(m, k, n, ap, bp, super::as_uninit(c), super::Epilogue::default());
}

/// `gemm_f32_prepacked`, each output finished by `ep` as it is stored;
/// every output of `c[..m·n]` is stored, so C may start uninitialised.
pub fn gemm_f32_prepacked_then(m: usize, k: usize, n: usize, ap: &[f32], bp: &[f32], c: &mut [core::mem::MaybeUninit<f32>], ep: super::Epilogue) {
    use super::{GEMM_MR as MR, GEMM_NR as NR};
    assert!(ap.len() >= m.div_ceil(MR) * k * MR && bp.len() >= n.div_ceil(NR) * k * NR && c.len() >= m * n, "gemm_f32_prepacked: buffers too small");
    assert!(ep.bias.is_none_or(|b| b.len() >= m), "gemm_f32_prepacked: bias shorter than the rows");
    for i in 0..m {
        let (ib, r) = (i / MR, i % MR);
        let a_panel = &ap[ib * k * MR..(ib + 1) * k * MR];
        for jp in 0..n.div_ceil(NR) {
            let panel = &bp[jp * k * NR..(jp + 1) * k * NR];
            let mut s = [0.0f32; NR];
            for (a, b) in a_panel.chunks_exact(MR).zip(panel.chunks_exact(NR)) {
                for (sv, &bv) in s.iter_mut().zip(b) {
                    *sv += a[r] * bv;
                }
            }
            let width = NR.min(n - jp * NR);
            s.iter_mut().for_each(|v| *v = ep.apply(i, *v));
            for (dst, &v) in c[i * n + jp * NR..i * n + jp * NR + width].iter_mut().zip(&s) {
                dst.write(v);
            }
        }
    }
}

/// `c = a · b` with B in compressed-column form (`SparseB`), A and C laid
/// out as `layout` says: each output sums its non-zero products in input
/// order, as `gemm_f32` sums all of them.
pub fn gemm_f32_sparse(m: usize, a: &[f32], b: &super::sparse::SparseB, c: &mut [f32], layout: super::sparse::Layout) {
    let (k, n) = (b.k, b.n);
    assert!(a.len() >= m * k && c.len() >= m * n, "gemm_f32_sparse: buffers too small");
    for i in 0..m {
        for j in 0..n {
            let (rows, values) = b.column(j);
            let mut s = 0.0f32;
            for (&p, &w) in rows.iter().zip(values) {
                s += a[layout.a(m, k, i, p as usize)] * w;
            }
            c[layout.c(m, n, i, j)] = s;
        }
    }
}

macro_rules! binary {
    ($name:ident, $op:tt) => {
        /// Elementwise over equal-length slices.
        pub fn $name(a: &[f32], b: &[f32], out: &mut [f32]) {
            assert!(a.len() == out.len() && b.len() == out.len(), concat!(stringify!($name), ": length mismatch"));
            for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
                *o = x $op y;
            }
        }
    };
}
binary!(add_f32, +);
binary!(sub_f32, -);
binary!(mul_f32, *);
binary!(div_f32, /);

/// `y += alpha · x` over equal-length slices.
pub fn axpy_f32(alpha: f32, x: &[f32], y: &mut [f32]) {
    assert!(x.len() == y.len(), "axpy_f32: length mismatch");
    for (yv, &xv) in y.iter_mut().zip(x) {
        *yv += alpha * xv;
    }
}

/// `exp` in place (the library function: the accuracy the SIMD twin is held to).
pub fn exp_f32(x: &mut [f32]) {
    x.iter_mut().for_each(|v| *v = v.exp());
}

/// erf as a rational approximation on [-4, 4] (numerator odd, degree 13;
/// denominator even, degree 8), within a few ulp; ±1 beyond.
pub fn erf_f32(x: &mut [f32]) {
    x.iter_mut().for_each(|v| *v = erf_scalar(*v));
}

pub const ERF_NUM: [f32; 7] = [-2.726_142_3e-10, 2.770_681_4e-8, -2.101_024e-6, -5.692_506_4e-5, -7.349_906_3e-4, -2.954_6e-3, -1.609_603_3e-2];
pub const ERF_DEN: [f32; 5] = [-1.456_607_2e-5, -2.133_740_6e-4, -1.682_827e-3, -7.373_329e-3, -1.426_474e-2];

pub fn erf_scalar(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let p = ERF_NUM[1..].iter().fold(ERF_NUM[0], |acc, &c| acc * x2 + c);
    let q = ERF_DEN[1..].iter().fold(ERF_DEN[0], |acc, &c| acc * x2 + c);
    x * p / q
}

/// Depthwise convolution of one padded plane: each output sums its taps in
/// (ky, kx) order, starting from zero, and is finished by `ep` (its one bias).
pub fn depthwise_f32(padded: &[f32], w: &[f32], s: super::DepthwiseShape, out: &mut [f32], ep: super::Epilogue) {
    assert!(s.is_valid() && padded.len() >= s.ph * s.pw && w.len() >= s.kh * s.kw && out.len() >= s.oh * s.ow, "depthwise_f32: bad geometry");
    assert!(ep.bias.is_none_or(|b| !b.is_empty()), "depthwise_f32: empty bias");
    for oy in 0..s.oh {
        for ox in 0..s.ow {
            let mut acc = 0.0f32;
            for ky in 0..s.kh {
                let row = &padded[(oy * s.sy + ky * s.dy) * s.pw..];
                for kx in 0..s.kw {
                    acc += w[ky * s.kw + kx] * row[ox * s.sx + kx * s.dx];
                }
            }
            out[oy * s.ow + ox] = ep.apply(0, acc);
        }
    }
}

/// The larger of two floats as IEEE 754-2019 `maximum` (and wasm's
/// `f32x4.max`) defines it: NaN if either is NaN, +0 above −0.
#[inline(always)]
pub fn maximum(a: f32, b: f32) -> f32 {
    if a.is_nan() || b.is_nan() {
        f32::NAN
    } else if a == b {
        if a.is_sign_positive() {
            a
        } else {
            b
        }
    } else if a > b {
        a
    } else {
        b
    }
}

/// Max pooling of one plane already padded with −∞ (`s.ph × s.pw`) into
/// `s.oh × s.ow` outputs: each the `maximum` of its window's taps.
pub fn max_pool_f32(padded: &[f32], s: super::DepthwiseShape, out: &mut [f32]) {
    assert!(s.is_valid() && padded.len() >= s.ph * s.pw && out.len() >= s.oh * s.ow, "max_pool_f32: bad geometry");
    for oy in 0..s.oh {
        for ox in 0..s.ow {
            let mut acc = f32::NEG_INFINITY;
            for ky in 0..s.kh {
                let row = &padded[(oy * s.sy + ky * s.dy) * s.pw..];
                for kx in 0..s.kw {
                    acc = maximum(acc, row[ox * s.sx + kx * s.dx]);
                }
            }
            out[oy * s.ow + ox] = acc;
        }
    }
}

/// Integer depthwise convolution straight from 8-bit codes: every plane of
/// `x` (`p.h × p.w` centred codes, plane `i` filtered by channel
/// `i % channels` of `taps`, `kh·kw` each), padded with zeros (the zero
/// point, as onnxruntime pads) as `p` places it in `s`'s padded plane. Each
/// output is the wrapping i32 sum of its taps' products in (ky, kx) order —
/// exact whenever the true sum fits i32, as it does for 8-bit codes — then
/// written as it is or scaled per channel (`IntOut`).
pub fn depthwise_codes<S: super::Centred>(x: &S, p: super::PlaneInPadding, taps: &[i16], s: super::DepthwiseShape, mut out: super::IntOut) {
    let (plane_in, plane_out, per) = (p.h * p.w, s.oh * s.ow, s.kh * s.kw);
    let (planes, channels) = p.depthwise_counts(&s, x.len(), taps.len(), out.len());
    let mut acc = vec![0i32; plane_out];
    for i in 0..planes {
        let w = &taps[(i % channels) * per..(i % channels + 1) * per];
        for oy in 0..s.oh {
            for ox in 0..s.ow {
                let mut sum = 0i32;
                for ky in 0..s.kh {
                    for kx in 0..s.kw {
                        let (y, c) = ((oy * s.sy + ky * s.dy).wrapping_sub(p.top), (ox * s.sx + kx * s.dx).wrapping_sub(p.left));
                        let v = if y < p.h && c < p.w { x.at(i * plane_in + y * p.w + c) } else { 0 };
                        sum = sum.wrapping_add(w[ky * s.kw + kx] as i32 * v as i32);
                    }
                }
                acc[oy * s.ow + ox] = sum;
            }
        }
        match &mut out {
            super::IntOut::I32(o) => o[i * plane_out..(i + 1) * plane_out].copy_from_slice(&acc),
            super::IntOut::F32(o, rs) => scale_i32(&acc, rs.from_row(i % channels), &mut o[i * plane_out..(i + 1) * plane_out]),
        }
    }
}

/// `out[i] = x.at(from + i)`: centred values laid out as i16 (for floats,
/// each quantised once).
pub fn centred_values<S: super::Centred>(x: &S, from: usize, out: &mut [i16]) {
    assert!(from + out.len() <= x.len(), "centred_values: x too short");
    for (i, o) in out.iter_mut().enumerate() {
        *o = x.at(from + i);
    }
}

/// `RowScale` row 0 applied to `acc` into `out`.
pub fn scale_i32(acc: &[i32], rs: super::RowScale, out: &mut [f32]) {
    assert!(out.len() >= acc.len() && !rs.scale.is_empty(), "scale_i32: buffers too small");
    let (sc, bias) = (rs.scale[0], rs.bias.map(|b| b[0]));
    for (o, &a) in out.iter_mut().zip(acc) {
        let mut v = a as f32 * sc;
        if let Some(b) = bias {
            v += b;
        }
        v = match rs.lo {
            Some(l) if v < l => l,
            _ => v,
        };
        *o = match rs.hi {
            Some(h) if v > h => h,
            _ => v,
        };
    }
}

/// `gemm_i16_packed`, each output row `i` finished by row `i` of `rs`.
pub fn gemm_i16_packed_scaled(m: usize, k: usize, n: usize, ap: &[i16], bp: &[i16], rs: super::RowScale, c: &mut [f32]) {
    assert!(c.len() >= m * n && rs.scale.len() >= m && rs.bias.is_none_or(|b| b.len() >= m), "gemm_i16_packed_scaled: buffers too small");
    let mut acc = vec![0i32; m * n];
    gemm_i16_packed(m, k, n, ap, bp, &mut acc);
    for i in 0..m {
        scale_i32(&acc[i * n..(i + 1) * n], rs.from_row(i), &mut c[i * n..(i + 1) * n]);
    }
}

/// `pack_b_i16` of the k×n matrix B (row-major) that `b` holds from
/// `offset` on, straight from the codes: panels of `IGEMM_NR` columns, per
/// pair of `k` steps the panel's columns interleaved `[c0 k0, c0 k1, c1 k0,
/// …]`; odd `k` and the last panel's missing columns are zero.
pub fn pack_b_codes<S: super::Centred>(k: usize, n: usize, b: &S, offset: usize) -> Vec<i16> {
    use super::IGEMM_NR as NR;
    assert!(b.len() >= offset + k * n, "pack_b_codes: B too small");
    let kq = k.div_ceil(2);
    let mut out = vec![0i16; n.div_ceil(NR) * kq * 2 * NR];
    for p in 0..k {
        for j in 0..n {
            out[(j / NR) * kq * 2 * NR + (p / 2) * 2 * NR + (j % NR) * 2 + p % 2] = b.at(offset + p * n + j);
        }
    }
    out
}

/// GELU in place, as the op chain `c` describes (see `GeluChain`).
pub fn gelu_f32(x: &mut [f32], c: super::GeluChain) {
    for v in x {
        let t = if c.divide { *v / c.divisor } else { *v * c.divisor };
        let e = erf_scalar(t) + c.one;
        *v = if c.half_first { (*v * c.half) * e } else { (*v * e) * c.half };
    }
}

/// `dst = src` (equal lengths): the window kernels' row copies.
pub fn copy_f32(dst: &mut [f32], src: &[f32]) {
    dst.copy_from_slice(src);
}

/// `max(x, 0)` in place; NaN stays NaN.
pub fn relu_f32(x: &mut [f32]) {
    for v in x {
        if *v < 0.0 {
            *v = 0.0;
        }
    }
}

/// NaN-propagating maximum (the semantics of wasm's `f32x4.max`).
pub fn max_f32(x: &[f32]) -> f32 {
    x.iter().fold(f32::NEG_INFINITY, |m, &v| {
        if v.is_nan() || m.is_nan() {
            f32::NAN
        } else if v > m {
            v
        } else {
            m
        }
    })
}

/// Softmax over consecutive rows of length `row` (in place):
/// `exp(x - max) * (1 / sum)`, with every value below `f32::MIN_POSITIVE`
/// (the exponentials and the results) flushed to zero: subnormal operands
/// make x86 arithmetic, which wasm cannot switch to flush-to-zero, some
/// hundred times slower in every product that reads them (attention over
/// padding, and its gradients in training).
pub fn softmax_f32(x: &mut [f32], row: usize) {
    if row == 0 {
        return;
    }
    let flush = |v: f32| if v < f32::MIN_POSITIVE { 0.0 } else { v };
    for r in x.chunks_exact_mut(row) {
        let m = max_f32(r);
        let mut sum = 0.0f32;
        for v in r.iter_mut() {
            *v = flush((*v - m).exp());
            sum += *v;
        }
        let inv = 1.0 / sum;
        for v in r.iter_mut() {
            *v = flush(*v * inv);
        }
    }
}

/// Integer GEMM `c = a · b` on operands packed by `pack_a_i16` /
/// `pack_b_i16` (8-bit values with their zero points subtracted, so each fits
/// i16); sums in i32, exact for k < 2^15.
pub fn gemm_i16_packed(m: usize, k: usize, n: usize, ap: &[i16], bp: &[i16], c: &mut [i32]) {
    use super::{IGEMM_MR as MR, IGEMM_NR as NR};
    let kq = k.div_ceil(2);
    assert!(ap.len() >= m.div_ceil(MR) * kq * 2 * MR && bp.len() >= n.div_ceil(NR) * kq * 2 * NR && c.len() >= m * n, "gemm_i16_packed: buffers too small");
    for i in 0..m {
        let a_base = (i / MR) * kq * 2 * MR + (i % MR) * 2;
        for j in 0..n {
            let b_base = (j / NR) * kq * 2 * NR + (j % NR) * 2;
            let mut s = 0i32;
            for q in 0..kq {
                for h in 0..2 {
                    s += ap[a_base + q * 2 * MR + h] as i32 * bp[b_base + q * 2 * NR + h] as i32;
                }
            }
            c[i * n + j] = s;
        }
    }
}

/// Smallest and largest value; NaN if any value is NaN (as wasm's
/// `f32x4.min`/`max` propagate it). Empty: (+inf, -inf).
pub fn min_max_f32(x: &[f32]) -> (f32, f32) {
    let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
    for &v in x {
        if v.is_nan() {
            return (f32::NAN, f32::NAN);
        }
        lo = if v < lo { v } else { lo };
        hi = if v > hi { v } else { hi };
    }
    (lo, hi)
}

/// QuantizeLinear to u8: `saturate(round_half_even(x / scale) + zero_point)`,
/// divided in f32 as onnxruntime does.
pub fn quantize_u8(x: &[f32], scale: f32, zero_point: f32, out: &mut [u8]) {
    assert!(x.len() == out.len(), "quantize_u8: length mismatch");
    for (o, &v) in out.iter_mut().zip(x) {
        *o = quantize_one(v, scale, zero_point);
    }
}

/// One value as `quantize_u8` quantises it.
#[inline(always)]
pub fn quantize_one(v: f32, scale: f32, zero_point: f32) -> u8 {
    let q = v / scale;
    // NaN is spelled out: in the relaxed build LLVM may vectorise `as u8`
    // with a truncation whose NaN result is the engine's choice.
    if q.is_nan() {
        0
    } else {
        (q.round_ties_even() + zero_point).clamp(0.0, 255.0) as u8
    }
}

/// `c = a · (P − N)` on `pack_a_i8` / `pack_b_pn` operands, exact in i32.
pub fn gemm_i8_pn_packed(m: usize, k: usize, n: usize, ap: &[i8], bp: &[u8], c: &mut [i32]) {
    use super::{IGEMM_MR as MR, PN_NR as NR};
    let kq = k.div_ceil(4);
    assert!(ap.len() >= m.div_ceil(MR) * kq * 16 && bp.len() >= n.div_ceil(NR) * kq * 32 && c.len() >= m * n, "gemm_i8_pn_packed: buffers too small");
    for i in 0..m {
        let a_base = (i / MR) * kq * 16 + (i % MR) * 4;
        for j in 0..n {
            let b_base = (j / NR) * kq * 32 + (j % NR) * 4;
            let mut s = 0i32;
            for q in 0..kq {
                for t in 0..4 {
                    let a = ap[a_base + q * 16 + t] as i32;
                    s += a * (bp[b_base + q * 32 + t] as i32 - bp[b_base + q * 32 + 16 + t] as i32);
                }
            }
            c[i * n + j] = s;
        }
    }
}

/// The error function to near f64 precision: its Taylor series for
/// |x| < 2.5, a continued fraction for erfc beyond (Rust's std has no erf).
pub fn erf_f64(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    let ax = x.abs();
    if ax > 6.0 {
        return 1.0f64.copysign(x); // erfc(6) ≈ 2e-17: below f64 resolution at 1.
    }
    if ax < 2.5 {
        // Σ (-1)^n x^(2n+1) / (n! (2n+1)); 60 terms reach f64 precision for |x| < 2.5.
        let (mut sum, mut term, x2) = (x, x, x * x);
        for n in 1..60 {
            let n = n as f64;
            term *= -x2 / n;
            sum += term / (2.0 * n + 1.0);
        }
        sum * std::f64::consts::FRAC_2_SQRT_PI
    } else {
        // Lentz's continued fraction for erfc(z) · √π · e^(z²).
        let z = ax;
        let (mut f, mut c, mut d) = (z, z, 0.0f64);
        for i in 1..200 {
            let a = i as f64 / 2.0;
            d = z + a * d;
            d = if d == 0.0 { 1e-300 } else { 1.0 / d };
            c = z + a / c;
            let delta = c * d;
            f *= delta;
            if (delta - 1.0).abs() < 1e-16 {
                break;
            }
        }
        let erfc = (-z * z).exp() / f / std::f64::consts::PI.sqrt();
        (1.0 - erfc).copysign(x)
    }
}
