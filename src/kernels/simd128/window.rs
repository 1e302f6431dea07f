//! Window kernels of the SIMD128 twin: depthwise convolution and max
//! pooling over one padded plane (`reference::depthwise_f32`,
//! `reference::max_pool_f32`).

use super::{finish_vec, load, madd, store, store_first};
use crate::kernels::{DepthwiseShape, Epilogue};
use core::arch::wasm32::*;

/// Depthwise convolution of one padded plane, four outputs of a row at a
/// time with every tap's weight in a register; taps are summed in the
/// reference's order. Strides 1 and 2 read the plane where it is; larger
/// strides split it into column phases first.
pub fn depthwise_f32(padded: &[f32], w: &[f32], s: DepthwiseShape, out: &mut [f32], ep: Epilogue) {
    assert!(s.is_valid() && padded.len() >= s.ph * s.pw && w.len() >= s.kh * s.kw && out.len() >= s.oh * s.ow, "depthwise_f32: bad geometry");
    assert!(ep.bias.is_none_or(|b| !b.is_empty()), "depthwise_f32: empty bias");
    match s.sx {
        _ if s.oh == 0 || s.ow == 0 => {}
        1 => depthwise_direct::<1>(padded, w, s, out, &ep),
        2 => depthwise_direct::<2>(padded, w, s, out, &ep),
        _ => depthwise_by_phases(padded, w, s, out, &ep),
    }
}

/// Four outputs of one row at stride `SX` (1 or 2) from `p`, the tap's
/// first column: one load, or two loads and the even lanes.
#[inline(always)]
unsafe fn strided4<const SX: usize>(p: *const f32) -> v128 {
    if SX == 1 {
        load(p)
    } else {
        i32x4_shuffle::<0, 2, 4, 6>(load(p), load(p.add(4)))
    }
}

/// Strides 1 and 2 read the padded plane in place (no copy): sixteen
/// outputs at a time as four independent chains of taps (one chain alone
/// waits on each multiply-add's latency), then four; only outputs whose
/// vector would read past the plane's end go one at a time, with the same
/// multiply-add on splat values, so every output rounds alike. Planes
/// narrower than 16 (14 or 7 wide) go to `narrow_rows`, which finds its
/// four chains in four rows.
fn depthwise_direct<const SX: usize>(padded: &[f32], w: &[f32], s: DepthwiseShape, out: &mut [f32], ep: &Epilogue) {
    // The taps on the stack for windows up to 5×5 (no allocation per plane:
    // small planes come by the hundred).
    let tap = |t: usize| (f32x4_splat(w[t]), (t / s.kw) * s.dy * s.pw + (t % s.kw) * s.dx);
    let mut on_stack = [(f32x4_splat(0.0), 0usize); 25];
    let on_heap: Vec<(v128, usize)>;
    let taps: &[(v128, usize)] = if s.kh * s.kw <= on_stack.len() {
        on_stack.iter_mut().enumerate().take(s.kh * s.kw).for_each(|(t, slot)| *slot = tap(t));
        &on_stack[..s.kh * s.kw]
    } else {
        on_heap = (0..s.kh * s.kw).map(tap).collect();
        &on_heap
    };
    let reach = taps.iter().map(|t| t.1).max().unwrap_or(0);
    if s.ow < 16 {
        return narrow_rows::<SX>(padded, (taps, reach), s, out, ep);
    }
    for oy in 0..s.oh {
        let row = oy * s.sy * s.pw;
        // Vectors for outputs before `ox + n` read up to row + reach + SX·(ox + n) − 1.
        let inside = |ox: usize, n: usize| row + reach + SX * (ox + n) <= padded.len();
        let fits = |ox: usize, n: usize| ox + n <= s.ow && inside(ox, n);
        let dst = &mut out[oy * s.ow..(oy + 1) * s.ow];
        let mut ox = 0;
        while fits(ox, 16) {
            let mut acc = [f32x4_splat(0.0); 4];
            for &(wv, off) in taps {
                // SAFETY: `fits` bounds every read of this block by the plane.
                let p = unsafe { padded.as_ptr().add(row + off + SX * ox) };
                for (q, a) in acc.iter_mut().enumerate() {
                    *a = madd(wv, unsafe { strided4::<SX>(p.add(4 * SX * q)) }, *a);
                }
            }
            for (q, a) in acc.iter().enumerate() {
                // SAFETY: ox + 16 <= ow.
                unsafe { store(dst.as_mut_ptr().add(ox + 4 * q), finish_vec(*a, ep, 0)) };
            }
            ox += 16;
        }
        // Then four at a time, the row's last vector too while its reads stay
        // in the plane (lanes past the row's end are computed, not stored).
        while ox < s.ow && inside(ox, 4) {
            let mut acc = f32x4_splat(0.0);
            for &(wv, off) in taps {
                // SAFETY: as above, for four outputs.
                acc = madd(wv, unsafe { strided4::<SX>(padded.as_ptr().add(row + off + SX * ox)) }, acc);
            }
            store_first(&mut dst[ox..], finish_vec(acc, ep, 0));
            ox += 4;
        }
        for (i, d) in dst.iter_mut().enumerate().skip(ox) {
            *d = single_output(padded, taps, row + SX * i, ep);
        }
    }
}

/// Planes narrower than 16: four output rows at a time (then two, then
/// one), four outputs of each per vector — a row's 14 or 7 outputs alone
/// make one chain. Out of line: inside `depthwise_direct` it made V8
/// allocate the wide path's registers worse.
#[inline(never)]
fn narrow_rows<const SX: usize>(padded: &[f32], (taps, reach): (&[(v128, usize)], usize), s: DepthwiseShape, out: &mut [f32], ep: &Epilogue) {
    let mut oy = 0;
    while oy + 4 <= s.oh {
        rows_at_once::<4, SX>(padded, (taps, reach), s, oy, out, ep);
        oy += 4;
    }
    if oy + 2 <= s.oh {
        rows_at_once::<2, SX>(padded, (taps, reach), s, oy, out, ep);
        oy += 2;
    }
    if oy < s.oh {
        rows_at_once::<1, SX>(padded, (taps, reach), s, oy, out, ep);
    }
}

/// Output rows `oy .. oy + R` of `depthwise_direct` (planes narrower than 16).
#[inline(always)]
fn rows_at_once<const R: usize, const SX: usize>(
    padded: &[f32],
    (taps, reach): (&[(v128, usize)], usize),
    s: DepthwiseShape,
    oy: usize,
    out: &mut [f32],
    ep: &Epilogue,
) {
    let rows: [usize; R] = core::array::from_fn(|q| (oy + q) * s.sy * s.pw);
    // Four outputs from ox read up to rows[R - 1] + reach + SX·(ox + 4) − 1 (the last row reads furthest).
    let inside = |ox: usize| rows[R - 1] + reach + SX * (ox + 4) <= padded.len();
    let mut ox = 0;
    while ox < s.ow && inside(ox) {
        let mut acc = [f32x4_splat(0.0); R];
        for &(wv, off) in taps {
            let p = padded.as_ptr().wrapping_add(off + SX * ox);
            for (a, &r) in acc.iter_mut().zip(&rows) {
                // SAFETY: `inside` bounds every read of the block by the plane.
                *a = madd(wv, unsafe { strided4::<SX>(p.add(r)) }, *a);
            }
        }
        for (q, a) in acc.iter().enumerate() {
            let v = finish_vec(*a, ep, 0);
            store_first(&mut out[(oy + q) * s.ow + ox..(oy + q + 1) * s.ow], v);
        }
        ox += 4;
    }
    for (q, &row) in rows.iter().enumerate() {
        for i in ox..s.ow {
            out[(oy + q) * s.ow + i] = single_output(padded, taps, row + SX * i, ep);
        }
    }
}

/// One output whose window starts at `at`, with the vector kernel's
/// multiply-add on splat values (so it rounds as the vector outputs do):
/// for the few whose vector would read past the plane's end.
#[inline(always)]
fn single_output(padded: &[f32], taps: &[(v128, usize)], at: usize, ep: &Epilogue) -> f32 {
    let mut acc = f32x4_splat(0.0);
    for &(wv, off) in taps {
        acc = madd(wv, f32x4_splat(padded[at + off]), acc);
    }
    f32x4_extract_lane::<0>(finish_vec(acc, ep, 0))
}

/// Larger strides: each row's columns regrouped by their remainder mod the
/// stride first, so that a tap's four neighbouring outputs are four
/// neighbouring values.
fn depthwise_by_phases(padded: &[f32], w: &[f32], s: DepthwiseShape, out: &mut [f32], ep: &Epilogue) {
    let (phases, plen) = split_phases(padded, &s, 0.0);
    let taps: Vec<(v128, usize)> = (0..s.kh * s.kw)
        .map(|t| {
            let (ky, kx) = (t / s.kw, t % s.kw);
            let c = kx * s.dx;
            // Offset of the tap's first value, relative to output column 0 of row oy·sy.
            (f32x4_splat(w[t]), ((c % s.sx) * s.ph + ky * s.dy) * plen + c / s.sx)
        })
        .collect();
    for oy in 0..s.oh {
        let base = oy * s.sy * plen;
        let mut ox = 0;
        // Four output vectors at a time: four independent chains of taps
        // (one chain alone waits on each multiply-add's latency).
        while ox + 16 <= s.ow {
            let mut acc = [f32x4_splat(0.0); 4];
            for &(wv, off) in &taps {
                // SAFETY: as below, for outputs ox … ox + 15 < ow.
                let p = unsafe { phases.as_ptr().add(base + off + ox) };
                for (q, a) in acc.iter_mut().enumerate() {
                    *a = madd(wv, unsafe { load(p.add(4 * q)) }, *a);
                }
            }
            for (q, a) in acc.iter().enumerate() {
                // SAFETY: the row has ow ≥ ox + 16 outputs.
                unsafe { store(out.as_mut_ptr().add(oy * s.ow + ox + 4 * q), finish_vec(*a, ep, 0)) };
            }
            ox += 16;
        }
        while ox < s.ow {
            let mut acc = f32x4_splat(0.0);
            for &(wv, off) in &taps {
                // SAFETY: is_valid bounds every tap of every output by the
                // padded plane, and the 4 slack columns cover the last vector.
                acc = madd(wv, unsafe { load(phases.as_ptr().add(base + off + ox)) }, acc);
            }
            store_first(&mut out[oy * s.ow + ox..(oy + 1) * s.ow], finish_vec(acc, ep, 0));
            ox += 4;
        }
    }
}

/// `reference::max_pool_f32`, four outputs per vector: the padded plane is
/// split into `sx` phases (columns p, p + sx, … of each row) so that every
/// tap of four neighbouring outputs is one contiguous load; `f32x4.max` is
/// the reference's `maximum` (NaN-propagating, +0 above −0), so the two
/// agree bit for bit.
pub fn max_pool_f32(padded: &[f32], s: DepthwiseShape, out: &mut [f32]) {
    assert!(s.is_valid() && padded.len() >= s.ph * s.pw && out.len() >= s.oh * s.ow, "max_pool_f32: bad geometry");
    if s.oh == 0 || s.ow == 0 {
        return;
    }
    let (phases, plen) = split_phases(padded, &s, f32::NEG_INFINITY);
    let taps: Vec<usize> = (0..s.kh * s.kw)
        .map(|t| {
            let (ky, kx) = (t / s.kw, t % s.kw);
            let c = kx * s.dx;
            ((c % s.sx) * s.ph + ky * s.dy) * plen + c / s.sx
        })
        .collect();
    for oy in 0..s.oh {
        let base = oy * s.sy * plen;
        for ox in (0..s.ow).step_by(4) {
            let mut acc = f32x4_splat(f32::NEG_INFINITY);
            for &off in &taps {
                // SAFETY: is_valid bounds every tap of every output by the
                // padded plane, and the 4 slack columns cover the last vector.
                acc = f32x4_max(acc, unsafe { load(phases.as_ptr().add(base + off + ox)) });
            }
            // A lane store, not a copy of a run-time length (a call in V8):
            // this loop stores one vector per four outputs.
            store_first(&mut out[oy * s.ow + ox..(oy + 1) * s.ow], acc);
        }
    }
}

/// The padded plane split into `sx` phases: phase p, row r holds columns
/// p, p + sx, … of padded row r, then `fill` (at least 4 columns of it, so a
/// vector load at any output column stays inside). Returns the phases and
/// the length of one phase row. Stride 2 splits eight values at a time by
/// two shuffles (one value at a time, resnet50's stem MaxPool took 2.45 ms
/// in Node, 2.03 ms with them).
fn split_phases(padded: &[f32], s: &DepthwiseShape, fill: f32) -> (Vec<f32>, usize) {
    let plen = s.pw.div_ceil(s.sx) + 4;
    let mut phases = vec![fill; s.sx * s.ph * plen];
    let rows = padded.chunks_exact(s.pw).take(s.ph);
    if s.sx == 1 {
        for (dst, row) in phases.chunks_exact_mut(plen).zip(rows) {
            super::copy_f32(&mut dst[..row.len()], row);
        }
        return (phases, plen);
    }
    if s.sx == 2 {
        let (even, odd) = phases.split_at_mut(s.ph * plen);
        for (r, row) in rows.enumerate() {
            let (e, o) = (&mut even[r * plen..(r + 1) * plen], &mut odd[r * plen..(r + 1) * plen]);
            let mut pairs = row.chunks_exact(8);
            for (i, eight) in pairs.by_ref().enumerate() {
                // SAFETY: eight values to read; e and o hold plen ≥ pw / 2 + 4 ≥ 4i + 4 values.
                unsafe {
                    let (a, b) = (load(eight.as_ptr()), load(eight.as_ptr().add(4)));
                    store(e.as_mut_ptr().add(4 * i), i32x4_shuffle::<0, 2, 4, 6>(a, b));
                    store(o.as_mut_ptr().add(4 * i), i32x4_shuffle::<1, 3, 5, 7>(a, b));
                }
            }
            let done = (row.len() / 8) * 4;
            for (k, &v) in pairs.remainder().iter().enumerate() {
                let dst = if k % 2 == 0 { &mut e[done + k / 2] } else { &mut o[done + k / 2] };
                *dst = v;
            }
        }
        return (phases, plen);
    }
    for p in 0..s.sx {
        for (r, row) in rows.clone().enumerate() {
            let dst = &mut phases[(p * s.ph + r) * plen..];
            for (d, &v) in dst.iter_mut().zip(row.iter().skip(p).step_by(s.sx)) {
                *d = v;
            }
        }
    }
    (phases, plen)
}
