//! SIMD128 twins of the integer kernels: the i16-pair GEMM (plain and
//! finished as floats per tile), B packing and depthwise convolution
//! straight from centred codes, the float epilogue, u8 quantisation and the
//! relaxed build's sign-split int8 GEMM.

use core::arch::wasm32::*;

use super::{load, store, store_first, store_lanes};

/// Integer depthwise convolution straight from 8-bit codes with
/// `i32x4.dot_i16x8_s`: vertically adjacent taps `(ky, kx)` and
/// `(ky + 1, kx)` are one dot product, so each plane is first laid out,
/// centred and padded, as row pairs — per column phase (stride `sx`) and
/// padded row `r`, i32 lane `j` holds rows `r` and `r + dy` of padded column
/// `phase + j·sx` (zero outside the data, four lanes of slack) — and a 3×3
/// window takes six dots per four outputs instead of nine multiply-adds.
/// Wrapping i32 sums: equal to the reference, scaled outputs included.
pub fn depthwise_codes<S: crate::kernels::Centred>(
    x: &S,
    p: crate::kernels::PlaneInPadding,
    taps: &[i16],
    s: crate::kernels::DepthwiseShape,
    mut out: crate::kernels::IntOut,
) {
    let (plane_in, plane_out, per) = (p.h * p.w, s.oh * s.ow, s.kh * s.kw);
    let (planes, channels) = p.depthwise_counts(&s, x.len(), taps.len(), out.len());
    if planes == 0 || plane_out == 0 {
        return;
    }
    let plen = s.pw.div_ceil(s.sx) + 4;
    // Lanes outside the data are never written, so they stay zero for every plane.
    let mut pairs = vec![0i32; s.sx * s.ph * plen + 8];
    let mut acc = if matches!(out, crate::kernels::IntOut::F32(..)) { vec![0i32; plane_out] } else { Vec::new() };
    let mut tap_vectors: Vec<(v128, usize)> = Vec::with_capacity(s.kh.div_ceil(2) * s.kw);
    // Each plane's values once (a quantised float would otherwise be made
    // twice, as the lower and then the upper row of a pair), with 8 zeros of
    // slack so that every row's last vector can be read whole.
    let mut values = vec![0i16; plane_in + 8];
    for i in 0..planes {
        let ch = i % channels;
        centred_values(x, i * plane_in, &mut values[..plane_in]);
        row_pairs(&crate::kernels::Codes { codes: &values[..], zero_point: 0 }, 0, p, s, plen, &mut pairs);
        let w = &taps[ch * per..(ch + 1) * per];
        tap_vectors.clear();
        tap_vectors.extend((0..s.kh.div_ceil(2) * s.kw).map(|t| {
            let (ky, kx) = (2 * (t / s.kw), t % s.kw);
            let below = if ky + 1 < s.kh { w[(ky + 1) * s.kw + kx] } else { 0 };
            let c = kx * s.dx;
            // Lane order of a pair: the upper row's value in the low half.
            let wv = i32x4_splat((w[ky * s.kw + kx] as u16 as u32 | (below as u16 as u32) << 16) as i32);
            (wv, ((c % s.sx) * s.ph + ky * s.dy) * plen + c / s.sx)
        }));
        match &mut out {
            crate::kernels::IntOut::I32(o) => dot_pairs(&pairs, &tap_vectors, s, plen, &mut o[i * plane_out..(i + 1) * plane_out]),
            crate::kernels::IntOut::F32(o, rs) => {
                dot_pairs(&pairs, &tap_vectors, s, plen, &mut acc);
                scale_i32(&acc, rs.from_row(ch), &mut o[i * plane_out..(i + 1) * plane_out]);
            }
        }
    }
}

/// `out[i] = x.at(from + i)`, eight values at a time.
pub fn centred_values<S: crate::kernels::Centred>(x: &S, from: usize, out: &mut [i16]) {
    assert!(from + out.len() <= x.len(), "centred_values: x too short");
    let n = out.len();
    let mut i = 0;
    // SAFETY: from + i + 8 ≤ x.len() and i + 8 ≤ n for every vector.
    unsafe {
        while i + 8 <= n {
            v128_store(out.as_mut_ptr().add(i) as *mut v128, x.eight(from + i));
            i += 8;
        }
    }
    for (j, o) in out.iter_mut().enumerate().skip(i) {
        *o = x.at(from + j);
    }
}

/// Every output of one plane from its row pairs: per tap pair one load, one
/// dot and one add per four outputs.
fn dot_pairs(pairs: &[i32], taps: &[(v128, usize)], s: crate::kernels::DepthwiseShape, plen: usize, out: &mut [i32]) {
    for oy in 0..s.oh {
        let base = oy * s.sy * plen;
        let mut ox = 0;
        // Four output vectors at a time: independent chains of dot-adds.
        while ox + 16 <= s.ow {
            let mut acc = [i32x4_splat(0); 4];
            for &(wv, off) in taps {
                // SAFETY: as below, for outputs ox … ox + 15 < ow.
                let p = unsafe { pairs.as_ptr().add(base + off + ox) };
                for (q, a) in acc.iter_mut().enumerate() {
                    *a = i32x4_add(*a, i32x4_dot_i16x8(unsafe { v128_load(p.add(4 * q) as *const v128) }, wv));
                }
            }
            for (q, a) in acc.iter().enumerate() {
                // SAFETY: the row has ow ≥ ox + 16 outputs.
                unsafe { v128_store(out.as_mut_ptr().add(oy * s.ow + ox + 4 * q) as *mut v128, *a) };
            }
            ox += 16;
        }
        while ox < s.ow {
            let mut acc = i32x4_splat(0);
            for &(wv, off) in taps {
                // SAFETY: is_valid bounds every tap of every output by the
                // padded plane, and the 4 slack lanes cover the last vector.
                acc = i32x4_add(acc, i32x4_dot_i16x8(unsafe { v128_load(pairs.as_ptr().add(base + off + ox) as *const v128) }, wv));
            }
            store_first(&mut out[oy * s.ow + ox..(oy + 1) * s.ow], acc);
            ox += 4;
        }
    }
}

/// One pair lane: the upper row's value in the low half.
#[inline(always)]
fn pair(top: i16, below: i16) -> i32 {
    (top as u16 as u32 | (below as u16 as u32) << 16) as i32
}

/// `depthwise_codes`' row-pair layout of the plane at `x[base..]` (`sx · ph`
/// rows of `plen` lanes, 8 lanes of slack after the last), written where
/// data lands; other lanes are only ever written with zeros.
fn row_pairs<S: crate::kernels::Centred>(
    x: &S,
    base: usize,
    p: crate::kernels::PlaneInPadding,
    s: crate::kernels::DepthwiseShape,
    plen: usize,
    pairs: &mut [i32],
) {
    let data_row = |r: usize| r.checked_sub(p.top).filter(|&y| y < p.h).map(|y| base + y * p.w);
    // A row's last columns are one vector too: reading on into the next row
    // (inside `x`), with the lanes past the row's end zeroed.
    let lanes = i16x8(0, 1, 2, 3, 4, 5, 6, 7);
    let readable = |row: Option<usize>, i: usize| row.is_none_or(|at| at + i + 8 <= x.len());
    // SAFETY (reads): callers check `readable`.
    let load = |row: Option<usize>, i: usize, keep: v128| row.map_or(i16x8_splat(0), |at| v128_and(unsafe { x.eight(at + i) }, keep));
    let all = i16x8_splat(-1);
    for r in 0..s.ph {
        let (top, below) = (data_row(r), data_row(r + s.dy));
        if top.is_none() && below.is_none() {
            continue;
        }
        let mut i = 0;
        while s.sx <= 2 && i < p.w && readable(top, i) && readable(below, i) {
            let keep = if i + 8 <= p.w { all } else { i16x8_gt(i16x8_splat((p.w - i) as i16), lanes) };
            let (t, b) = (load(top, i, keep), load(below, i, keep));
            let c = p.left + i;
            // SAFETY: lanes up to (left + w + 6) / sx + 1 < the next row's
            // start + 8 (or the buffer's 8 lanes of slack); lanes past this
            // row's data get zeros, which is what padding holds, and a next
            // row's data is written after this row.
            unsafe {
                if s.sx == 1 {
                    let dst = pairs.as_mut_ptr().add(r * plen + c) as *mut v128;
                    v128_store(dst, i16x8_shuffle::<0, 8, 1, 9, 2, 10, 3, 11>(t, b));
                    v128_store(dst.add(1), i16x8_shuffle::<4, 12, 5, 13, 6, 14, 7, 15>(t, b));
                } else {
                    // Data columns i, i+2, … share padded column c's phase; i+1, i+3, … the other.
                    let mut at = |c: usize| pairs.as_mut_ptr().add(((c % 2) * s.ph + r) * plen + c / 2) as *mut v128;
                    v128_store(at(c), i16x8_shuffle::<0, 8, 2, 10, 4, 12, 6, 14>(t, b));
                    v128_store(at(c + 1), i16x8_shuffle::<1, 9, 3, 11, 5, 13, 7, 15>(t, b));
                }
            }
            i += 8;
        }
        let value = |row: Option<usize>, i: usize| row.map_or(0, |at| x.at(at + i));
        for i in i..p.w {
            let c = p.left + i;
            pairs[((c % s.sx) * s.ph + r) * plen + c / s.sx] = pair(value(top, i), value(below, i));
        }
    }
}

/// `RowScale` row 0 applied to `acc` into `out`, four lanes at a time with
/// the reference's operations (convert, multiply, add, pmax/pmin bounds).
pub fn scale_i32(acc: &[i32], rs: crate::kernels::RowScale, out: &mut [f32]) {
    assert!(out.len() >= acc.len() && !rs.scale.is_empty(), "scale_i32: buffers too small");
    let n = acc.len();
    let mut i = 0;
    // SAFETY: i + 4 <= n for every access; out holds at least n floats.
    unsafe {
        while i + 4 <= n {
            store(out.as_mut_ptr().add(i), finish_lanes(v128_load(acc.as_ptr().add(i) as *const v128), rs, 0));
            i += 4;
        }
    }
    crate::kernels::reference::scale_i32(&acc[i..], rs, &mut out[i..]);
}

/// Four i32 sums of row `row` made floats as `RowScale` says.
#[inline(always)]
fn finish_lanes(v: v128, rs: crate::kernels::RowScale, row: usize) -> v128 {
    let mut f = f32x4_mul(f32x4_convert_i32x4(v), f32x4_splat(rs.scale[row]));
    if let Some(b) = rs.bias {
        f = f32x4_add(f, f32x4_splat(b[row]));
    }
    if let Some(l) = rs.lo {
        f = f32x4_pmax(f, f32x4_splat(l));
    }
    if let Some(h) = rs.hi {
        f = f32x4_pmin(f, f32x4_splat(h));
    }
    f
}

/// `gemm_i16_packed` whose tiles are finished as floats by `rs` (row `i` of
/// C by row `i` of `rs`) before they are stored: no i32 matrix in between.
pub fn gemm_i16_packed_scaled(m: usize, k: usize, n: usize, ap: &[i16], bp: &[i16], rs: crate::kernels::RowScale, c: &mut [f32]) {
    assert!(c.len() >= m * n, "gemm_i16_packed_scaled: buffers too small");
    assert!(rs.scale.len() >= m && rs.bias.is_none_or(|b| b.len() >= m), "gemm_i16_packed_scaled: row scales too short");
    for_each_tile_row(m, k, n, ap, bp, |i, j, w, row| {
        let (v0, v1) = (finish_lanes(row[0], rs, i), finish_lanes(row[1], rs, i));
        store_lanes(&mut c[i * n + j..i * n + j + w], &[v0, v1]);
    });
}

/// Every row of every 4×8 tile of `ap · bp` (packed operands): `f(i, j, w,
/// row)` with C's row `i`, first column `j`, the panel's `w` real columns.
#[inline(always)]
fn for_each_tile_row(m: usize, k: usize, n: usize, ap: &[i16], bp: &[i16], mut f: impl FnMut(usize, usize, usize, &[v128; 2])) {
    use crate::kernels::{IGEMM_MR as IMR, IGEMM_NR as INR};
    let kq = k.div_ceil(2);
    assert!(ap.len() >= m.div_ceil(IMR) * kq * 2 * IMR && bp.len() >= n.div_ceil(INR) * kq * 2 * INR, "integer GEMM: packed operands too small");
    for jp in 0..n.div_ceil(INR) {
        let j = jp * INR;
        let panel = &bp[jp * kq * 2 * INR..(jp + 1) * kq * 2 * INR];
        for ib in 0..m.div_ceil(IMR) {
            // SAFETY: each A panel holds kq·8 values, each B panel kq·16.
            let tile = unsafe { tile_i16_4x8(kq, ap.as_ptr().add(ib * kq * 2 * IMR), panel.as_ptr()) };
            for (r, row) in tile.iter().enumerate().take(m - ib * IMR) {
                f(ib * IMR + r, j, INR.min(n - j), row);
            }
        }
    }
}

/// `pack_b_i16` of the matrix `b` holds from `offset` on, straight from the
/// codes: per pair of rows and eight columns, two reads of eight centred
/// values and two interleaving shuffles. Equal to the reference.
pub fn pack_b_codes<S: crate::kernels::Centred>(k: usize, n: usize, b: &S, offset: usize) -> Vec<i16> {
    use crate::kernels::IGEMM_NR as INR;
    assert!(b.len() >= offset + k * n, "pack_b_codes: B too small");
    let kq = k.div_ceil(2);
    let mut out = vec![0i16; n.div_ceil(INR) * kq * 2 * INR];
    let full = n / INR;
    for q in 0..kq {
        let (r0, r1) = (2 * q, 2 * q + 1);
        for jp in 0..full {
            // SAFETY: rows r0 (and r1 < k) hold n ≥ (jp + 1)·8 values from
            // offset; the panel holds kq·16 values.
            unsafe {
                let top = b.eight(offset + r0 * n + jp * INR);
                let below = if r1 < k { b.eight(offset + r1 * n + jp * INR) } else { i16x8_splat(0) };
                let dst = out.as_mut_ptr().add(jp * kq * 2 * INR + q * 2 * INR) as *mut v128;
                v128_store(dst, i16x8_shuffle::<0, 8, 1, 9, 2, 10, 3, 11>(top, below));
                v128_store(dst.add(1), i16x8_shuffle::<4, 12, 5, 13, 6, 14, 7, 15>(top, below));
            }
        }
        for p in [r0, r1].into_iter().filter(|&p| p < k) {
            for j in full * INR..n {
                out[full * kq * 2 * INR + q * 2 * INR + (j - full * INR) * 2 + p % 2] = b.at(offset + p * n + j);
            }
        }
    }
    out
}

/// Integer GEMM on `pack_a_i16` / `pack_b_i16` panels: a 4×8 tile of C in
/// eight i32 vectors; per pair of `k` steps four 32-bit load-splats (each
/// row's pair), two B loads and eight `i32x4.dot_i16x8_s`
/// (each adds two products per lane). Exact, so equal to the reference.
pub fn gemm_i16_packed(m: usize, k: usize, n: usize, ap: &[i16], bp: &[i16], c: &mut [i32]) {
    assert!(c.len() >= m * n, "gemm_i16_packed: buffers too small");
    for_each_tile_row(m, k, n, ap, bp, |i, j, w, row| store_lanes(&mut c[i * n + j..i * n + j + w], row));
}

#[inline(always)]
unsafe fn tile_i16_4x8(kq: usize, ap: *const i16, panel: *const i16) -> [[v128; 2]; 4] {
    let z = i32x4_splat(0);
    let (mut c00, mut c01, mut c10, mut c11, mut c20, mut c21, mut c30, mut c31) = (z, z, z, z, z, z, z, z);
    for q in 0..kq {
        let b0 = v128_load(panel.add(q * 16) as *const v128);
        let b1 = v128_load(panel.add(q * 16 + 8) as *const v128);
        // Each row's pair broadcast straight from memory (one load-splat, no shuffle).
        let pa = ap.add(q * 8) as *const u32;
        let (x0, x1, x2, x3) = (v128_load32_splat(pa), v128_load32_splat(pa.add(1)), v128_load32_splat(pa.add(2)), v128_load32_splat(pa.add(3)));
        c00 = i32x4_add(c00, i32x4_dot_i16x8(x0, b0));
        c01 = i32x4_add(c01, i32x4_dot_i16x8(x0, b1));
        c10 = i32x4_add(c10, i32x4_dot_i16x8(x1, b0));
        c11 = i32x4_add(c11, i32x4_dot_i16x8(x1, b1));
        c20 = i32x4_add(c20, i32x4_dot_i16x8(x2, b0));
        c21 = i32x4_add(c21, i32x4_dot_i16x8(x2, b1));
        c30 = i32x4_add(c30, i32x4_dot_i16x8(x3, b0));
        c31 = i32x4_add(c31, i32x4_dot_i16x8(x3, b1));
    }
    [[c00, c01], [c10, c11], [c20, c21], [c30, c31]]
}

/// Four floats' codes minus the zero point as i32 lanes, `quantize_lanes`
/// − zp in fewer operations: x / scale rounded half to even and clamped to
/// the codes' range shifted by the zero point, `[lo, hi] = [−zp, 255 − zp]`
/// (equal to adding zp, clamping to [0, 255] and subtracting it, as every
/// clamped value is a small integer); NaN gives −zp (code 0).
#[inline(always)]
pub fn quantize_centred_lanes(v: v128, sv: v128, lo: v128, hi: v128) -> v128 {
    // c + 1.5·2²³ holds the integer c in its low mantissa bits for |c| < 2²².
    const MAGIC: f32 = 12_582_912.0;
    let d = f32x4_nearest(f32x4_div(v, sv));
    // pmax(lo, d) is lo when d is NaN (the comparison is false): code 0.
    let c = f32x4_pmin(hi, f32x4_pmax(lo, d));
    let centred = i32x4_sub(f32x4_add(c, f32x4_splat(MAGIC)), i32x4_splat(MAGIC.to_bits() as i32));
    // With relaxed SIMD enabled LLVM may turn the clamp into min/max whose
    // NaN result is the engine's choice: NaN lanes are set explicitly.
    #[cfg(target_feature = "relaxed-simd")]
    let centred = v128_bitselect(i32x4_trunc_sat_f32x4(lo), centred, f32x4_ne(d, d));
    centred
}

/// Four floats' uint8 codes as i32 lanes: x / scale (`sv`), rounded half to
/// even, plus the zero point (`zv`), clamped to [0, 255]; NaN gives 0.
#[inline(always)]
pub fn quantize_lanes(v: v128, sv: v128, zv: v128) -> v128 {
    // The clamped value is a whole number in [0, 255]; adding 2²³ puts it in
    // the low mantissa bits (cheaper than V8's float → int conversion). NaN
    // gives 0, as the reference's `as u8` does.
    const MAGIC: f32 = 8_388_608.0;
    // The NaN mask is taken from the quotient: with relaxed SIMD enabled LLVM
    // may turn the pmin/pmax clamp into min/max whose NaN result is the
    // engine's choice.
    let d = f32x4_div(v, sv);
    let c = f32x4_pmin(f32x4_pmax(f32x4_add(f32x4_nearest(d), zv), f32x4_splat(0.0)), f32x4_splat(255.0));
    v128_andnot(i32x4_sub(f32x4_add(c, f32x4_splat(MAGIC)), i32x4_splat(MAGIC.to_bits() as i32)), f32x4_ne(d, d))
}

/// QuantizeLinear to u8, sixteen values at a time: divide, round half to
/// even (`f32x4.nearest`), add the zero point, clamp, narrow.
pub fn quantize_u8(x: &[f32], scale: f32, zero_point: f32, out: &mut [u8]) {
    assert!(x.len() == out.len(), "quantize_u8: length mismatch");
    let n = x.len();
    let (sv, zv) = (f32x4_splat(scale), f32x4_splat(zero_point));
    let q = |v: v128| quantize_lanes(v, sv, zv);
    let mut i = 0;
    // SAFETY: i + 16 <= n for every access; out has n bytes.
    unsafe {
        while i + 16 <= n {
            let p = x.as_ptr().add(i);
            let a = i16x8_narrow_i32x4(q(load(p)), q(load(p.add(4))));
            let b = i16x8_narrow_i32x4(q(load(p.add(8))), q(load(p.add(12))));
            v128_store(out.as_mut_ptr().add(i) as *mut v128, u8x16_narrow_i16x8(a, b));
            i += 16;
        }
    }
    crate::kernels::reference::quantize_u8(&x[i..], scale, zero_point, &mut out[i..]);
}

/// `c = a · (P − N)` (see `pack_b_pn`). With relaxed SIMD: a 4×4 tile, per
/// four `k` steps four load-splats of A, one P and one N load and eight
/// `relaxed_dot_i8x16_i7x16_add` (16 products each, exact because P and N
/// are 7-bit). Without it this twin is never chosen by the runtime and
/// defers to the reference.
pub fn gemm_i8_pn_packed(m: usize, k: usize, n: usize, ap: &[i8], bp: &[u8], c: &mut [i32]) {
    #[cfg(target_feature = "relaxed-simd")]
    {
        use crate::kernels::{IGEMM_MR as IMR, PN_NR as PNR};
        let kq = k.div_ceil(4);
        assert!(ap.len() >= m.div_ceil(IMR) * kq * 16 && bp.len() >= n.div_ceil(PNR) * kq * 32 && c.len() >= m * n, "gemm_i8_pn_packed: buffers too small");
        for jp in 0..n.div_ceil(PNR) {
            let j = jp * PNR;
            let w = PNR.min(n - j);
            let panel = &bp[jp * kq * 32..(jp + 1) * kq * 32];
            for ib in 0..m.div_ceil(IMR) {
                // SAFETY: each A panel holds kq·16 bytes, each B panel kq·32.
                let tile = unsafe { tile_pn_4x4(kq, ap.as_ptr().add(ib * kq * 16), panel.as_ptr()) };
                for (r, row) in tile.iter().enumerate().take(m - ib * IMR) {
                    let i = ib * IMR + r;
                    store_lanes(&mut c[i * n + j..i * n + j + w], std::slice::from_ref(row));
                }
            }
        }
    }
    #[cfg(not(target_feature = "relaxed-simd"))]
    crate::kernels::reference::gemm_i8_pn_packed(m, k, n, ap, bp, c)
}

#[cfg(target_feature = "relaxed-simd")]
#[inline(always)]
unsafe fn tile_pn_4x4(kq: usize, ap: *const i8, panel: *const u8) -> [v128; 4] {
    let z = i32x4_splat(0);
    let (mut p0, mut p1, mut p2, mut p3, mut n0, mut n1, mut n2, mut n3) = (z, z, z, z, z, z, z, z);
    for q in 0..kq {
        let bp = v128_load(panel.add(q * 32) as *const v128);
        let bn = v128_load(panel.add(q * 32 + 16) as *const v128);
        let pa = ap.add(q * 16) as *const u32;
        let (x0, x1, x2, x3) = (v128_load32_splat(pa), v128_load32_splat(pa.add(1)), v128_load32_splat(pa.add(2)), v128_load32_splat(pa.add(3)));
        p0 = i32x4_relaxed_dot_i8x16_i7x16_add(x0, bp, p0);
        n0 = i32x4_relaxed_dot_i8x16_i7x16_add(x0, bn, n0);
        p1 = i32x4_relaxed_dot_i8x16_i7x16_add(x1, bp, p1);
        n1 = i32x4_relaxed_dot_i8x16_i7x16_add(x1, bn, n1);
        p2 = i32x4_relaxed_dot_i8x16_i7x16_add(x2, bp, p2);
        n2 = i32x4_relaxed_dot_i8x16_i7x16_add(x2, bn, n2);
        p3 = i32x4_relaxed_dot_i8x16_i7x16_add(x3, bp, p3);
        n3 = i32x4_relaxed_dot_i8x16_i7x16_add(x3, bn, n3);
    }
    [i32x4_sub(p0, n0), i32x4_sub(p1, n1), i32x4_sub(p2, n2), i32x4_sub(p3, n3)]
}
