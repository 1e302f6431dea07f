//! 3×3 stride-1 convolution by Winograd's minimal filtering (Lavin & Gray,
//! 2016), in two sizes: F(2×2, 3×3) takes 16 products per 2×2 outputs and
//! input channel instead of 36 (2.25× less work than im2col's GEMM),
//! F(4×4, 3×3) 36 per 4×4 outputs (4× less). Filters are transformed once,
//! in f64 (`WinogradFilters`); per call the input is cut into overlapping
//! tiles (4×4 or 6×6), transformed, and each transformed position is an
//! independent GEMM (the active GEMM twin, passed in, so the property suite
//! runs this with every twin); each tile's products fold back into its
//! outputs. Rounding differs from the direct sum, more for F(4×4) (larger
//! transform coefficients): `tests::bounds::winograd` names the bound.

use super::{pack_a_f32, GEMM_NR as NR};
use std::ops::{Add, Sub};

/// What the tile transforms compute on: one value (`f32`), or the same
/// position of four neighbouring tiles (`X4`, one per lane). Both run the
/// same operations in the same order, so the results are bit-identical.
pub(crate) trait Lanes: Copy + Add<Output = Self> + Sub<Output = Self> {
    /// `k · self`.
    fn scale(self, k: f32) -> Self;
}

impl Lanes for f32 {
    #[inline(always)]
    fn scale(self, k: f32) -> f32 {
        k * self
    }
}

/// A GEMM over packed operands: `(m, k, n, packed A, packed B, C)`.
pub type PrepackedGemm = fn(usize, usize, usize, &[f32], &[f32], &mut [f32]);

/// The two tile sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tile {
    /// F(2×2, 3×3): 4×4 input tiles.
    F2,
    /// F(4×4, 3×3): 6×6 input tiles.
    F4,
}

impl Tile {
    /// Outputs per tile side.
    pub fn outputs(self) -> usize {
        match self {
            Tile::F2 => 2,
            Tile::F4 => 4,
        }
    }

    /// Inputs per tile side (outputs + 2).
    pub fn size(self) -> usize {
        self.outputs() + 2
    }
}

/// A tile size a benchmark forces (0: none, else the outputs per tile).
static FORCED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Forces `tile` on every convolution first run from now on (`None`: by
/// plane again), for same-run A/B timings.
pub fn force(tile: Option<Tile>) {
    FORCED.store(tile.map_or(0, Tile::outputs), std::sync::atomic::Ordering::Relaxed);
}

/// The tile size for an `oh × ow` output plane. F(4×4) needs planes of at
/// least 28×28: its GEMMs have a quarter as many columns (tiles) as F(2×2)'s,
/// too few on small planes. Measured on resnet50 (random weights, Node,
/// per node, F(2×2) → F(4×4)): 56×56 layers 9.1 → 5.2 ms, 28×28 6.0 → 4.4,
/// 14×14 6.2 → 6.9, 7×7 10.6 → 18.0.
pub fn tile_for(oh: usize, ow: usize) -> Tile {
    match FORCED.load(std::sync::atomic::Ordering::Relaxed) {
        2 => Tile::F2,
        4 => Tile::F4,
        _ if oh.min(ow) >= 28 => Tile::F4,
        _ => Tile::F2,
    }
}

/// Winograd filters made on a convolution's first call, in the tile size
/// that suits the plane it sees (`tile_for`); later calls reuse them (a
/// model whose plane size changes keeps the first choice: still exact,
/// perhaps slower).
pub struct LazyWinograd {
    pub m: usize,
    pub c: usize,
    filters: std::cell::OnceCell<WinogradFilters>,
}

impl LazyWinograd {
    pub fn new(m: usize, c: usize) -> LazyWinograd {
        LazyWinograd { m, c, filters: std::cell::OnceCell::new() }
    }

    /// `w`: the constant weights `[m, c, 3, 3]` (used on the first call only).
    pub fn filters(&self, w: &[f32], oh: usize, ow: usize) -> &WinogradFilters {
        self.filters.get_or_init(|| WinogradFilters::new(self.m, self.c, w, tile_for(oh, ow)))
    }
}

/// G of F(2×2, 3×3) (4 × 3).
pub const G2: [[f64; 3]; 4] = [[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]];
/// Bᵀ of F(2×2, 3×3) (4 × 4).
pub const BT2: [[f64; 4]; 4] = [[1.0, 0.0, -1.0, 0.0], [0.0, 1.0, 1.0, 0.0], [0.0, -1.0, 1.0, 0.0], [0.0, 1.0, 0.0, -1.0]];
/// Aᵀ of F(2×2, 3×3) (2 × 4).
pub const AT2: [[f64; 4]; 2] = [[1.0, 1.0, 1.0, 0.0], [0.0, 1.0, -1.0, -1.0]];
/// G of F(4×4, 3×3) (6 × 3).
pub const G4: [[f64; 3]; 6] = [
    [0.25, 0.0, 0.0],
    [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
    [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
    [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
    [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
    [0.0, 0.0, 1.0],
];
/// Bᵀ of F(4×4, 3×3) (6 × 6).
pub const BT4: [[f64; 6]; 6] = [
    [4.0, 0.0, -5.0, 0.0, 1.0, 0.0],
    [0.0, -4.0, -4.0, 1.0, 1.0, 0.0],
    [0.0, 4.0, -4.0, -1.0, 1.0, 0.0],
    [0.0, -2.0, -1.0, 2.0, 1.0, 0.0],
    [0.0, 2.0, -1.0, -2.0, 1.0, 0.0],
    [0.0, 4.0, 0.0, -5.0, 0.0, 1.0],
];
/// Aᵀ of F(4×4, 3×3) (4 × 6).
pub const AT4: [[f64; 6]; 4] =
    [[1.0, 1.0, 1.0, 1.0, 1.0, 0.0], [0.0, 1.0, -1.0, 2.0, -2.0, 0.0], [0.0, 1.0, 1.0, 4.0, 4.0, 0.0], [0.0, 1.0, -1.0, 8.0, -8.0, 1.0]];

/// Filters `[m, c, 3, 3]` as `G·g·Gᵀ`, one packed `m × c` GEMM operand per
/// transformed position.
pub struct WinogradFilters {
    pub m: usize,
    pub c: usize,
    pub tile: Tile,
    positions: Vec<Vec<f32>>,
}

impl WinogradFilters {
    /// `w`: `m · c · 9` values, row-major `[m, c, 3, 3]`.
    pub fn new(m: usize, c: usize, w: &[f32], tile: Tile) -> WinogradFilters {
        assert!(w.len() >= m * c * 9, "WinogradFilters: weights too small");
        let t = tile.size();
        let mut by_position = vec![vec![0.0f32; m * c]; t * t];
        for (mc, g) in w.chunks_exact(9).take(m * c).enumerate() {
            let u = match tile {
                Tile::F2 => transform_filter(&G2, g),
                Tile::F4 => transform_filter(&G4, g),
            };
            for (p, v) in u.into_iter().enumerate() {
                by_position[p][mc] = v;
            }
        }
        let positions = by_position.iter().map(|u| pack_a_f32(m, c, u)).collect();
        WinogradFilters { m, c, tile, positions }
    }
}

/// `G·g·Gᵀ` in f64, rounded once: the filters are transformed at load, so
/// F(4×4)'s sixths and twenty-fourths cost no extra rounding per call.
fn transform_filter<const T: usize>(gm: &[[f64; 3]; T], g: &[f32]) -> Vec<f32> {
    let mut u = Vec::with_capacity(T * T);
    for gi in gm {
        for gj in gm {
            let mut s = 0.0f64;
            for (a, &ga) in gi.iter().enumerate() {
                for (b, &gb) in gj.iter().enumerate() {
                    s += ga * g[a * 3 + b] as f64 * gb;
                }
            }
            u.push(s as f32);
        }
    }
    u
}

/// Where the input sits and how large the output is: `h × w` planes, padded
/// by `top` rows and `left` columns (zeros beyond every edge), `oh × ow`
/// outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WinogradShape {
    pub h: usize,
    pub w: usize,
    pub top: usize,
    pub left: usize,
    pub oh: usize,
    pub ow: usize,
}

/// `out[m, oh, ow]` = the 3×3 stride-1 convolution of `x[c, h, w]` (no bias),
/// by the filters' tile size.
pub fn conv3x3(gemm: PrepackedGemm, x: &[f32], f: &WinogradFilters, s: WinogradShape, out: &mut [f32]) {
    conv3x3_lanes(gemm, x, f, s, out, vector::AVAILABLE);
}

/// `conv3x3`, with the tile transforms four tiles at a time (`vector`,
/// where the build has SIMD128) or one at a time: bit-identical either way.
pub fn conv3x3_lanes(gemm: PrepackedGemm, x: &[f32], f: &WinogradFilters, s: WinogradShape, out: &mut [f32], vector: bool) {
    let vector = vector && vector::AVAILABLE;
    match f.tile {
        Tile::F2 => run::<2, 4, F2x2>(gemm, x, f, s, out, vector),
        Tile::F4 => run::<4, 6, F4x4>(gemm, x, f, s, out, vector),
    }
}

/// The convolution with `M × M` outputs per `T × T` tile: transform the
/// input tiles, one GEMM per position, transform back.
fn run<const M: usize, const T: usize, X: Transform<M, T>>(
    gemm: PrepackedGemm,
    x: &[f32],
    f: &WinogradFilters,
    s: WinogradShape,
    out: &mut [f32],
    vector: bool,
) {
    let (m, c) = (f.m, f.c);
    assert!(x.len() >= c * s.h * s.w && out.len() >= m * s.oh * s.ow, "winograd conv3x3: buffers too small");
    let grid = (s.oh.div_ceil(M), s.ow.div_ceil(M));
    let tiles = grid.0 * grid.1;
    if tiles == 0 || m == 0 {
        return;
    }
    let v = transform_input::<M, T, X>(x, c, s, grid, vector);
    let panel_len = tiles.div_ceil(NR) * c * NR;
    let mut products = vec![0.0f32; T * T * m * tiles];
    for (p, dst) in products.chunks_exact_mut(m * tiles).enumerate() {
        gemm(m, c, tiles, &f.positions[p], &v[p * panel_len..(p + 1) * panel_len], dst);
    }
    transform_output::<M, T, X>(&products, m, s, grid, out, vector);
}

/// Where tile `t`'s value of channel `ch` sits in a position's packed B operand.
#[inline(always)]
fn packed_at(t: usize, ch: usize, c: usize) -> usize {
    (t / NR) * c * NR + ch * NR + t % NR
}

/// `Bᵀ·d·B` of every `T × T` input tile (tile (ty, tx) starts at padded row
/// M·ty, column M·tx), written as T² packed GEMM B operands (`c × tiles`
/// each, panels of NR tiles).
fn transform_input<const M: usize, const T: usize, X: Transform<M, T>>(
    x: &[f32],
    c: usize,
    s: WinogradShape,
    (th, tw): (usize, usize),
    vector: bool,
) -> Vec<f32> {
    let tiles = th * tw;
    let panel_len = tiles.div_ceil(NR) * c * NR;
    let mut v = vec![0.0f32; T * T * panel_len];
    // One channel at a time in a zero-padded plane covering every tile.
    let (ph, pw) = (M * th + 2, M * tw + 2);
    let mut padded = vec![0.0f32; ph * pw];
    let mut split = if vector { vec![0.0f32; ph * pw.div_ceil(M) * M] } else { Vec::new() };
    for ch in 0..c {
        let plane = &x[ch * s.h * s.w..(ch + 1) * s.h * s.w];
        for (y, row) in plane.chunks_exact(s.w.max(1)).enumerate().take(s.h) {
            let py = y + s.top;
            if py >= ph {
                break;
            }
            let n = s.w.min(pw.saturating_sub(s.left));
            padded[py * pw + s.left..py * pw + s.left + n].copy_from_slice(&row[..n]);
        }
        let done = if vector { vector::input_tiles::<M, T, X>(&padded, (ph, pw), &mut split, (th, tw), ch, c, &mut v) } else { 0 };
        for t in (0..tiles).filter(|t| t % tw >= done) {
            let (ty, tx) = (t / tw, t % tw);
            let d: [[f32; T]; T] = std::array::from_fn(|r| std::array::from_fn(|q| padded[(M * ty + r) * pw + M * tx + q]));
            let offset = packed_at(t, ch, c);
            for (r, row) in X::input(&d).iter().enumerate() {
                for (q, &val) in row.iter().enumerate() {
                    v[(r * T + q) * panel_len + offset] = val;
                }
            }
        }
        // Rows and columns past the plane stay zero; the plane's own are rewritten.
        for py in s.top..(s.top + s.h).min(ph) {
            padded[py * pw..(py + 1) * pw].fill(0.0);
        }
    }
    v
}

/// `Aᵀ·P·A` of every tile's T² products: its M × M outputs, those past the
/// output's edge dropped.
fn transform_output<const M: usize, const T: usize, X: Transform<M, T>>(
    products: &[f32],
    m: usize,
    s: WinogradShape,
    (th, tw): (usize, usize),
    out: &mut [f32],
    vector: bool,
) {
    let tiles = th * tw;
    let plane = m * tiles;
    for o in 0..m {
        let dst = &mut out[o * s.oh * s.ow..(o + 1) * s.oh * s.ow];
        let done = if vector { vector::output_tiles::<M, T, X>(products, plane, o * tiles, (th, tw), s, dst) } else { 0 };
        for t in (0..tiles).filter(|t| t % tw >= done) {
            let p: [[f32; T]; T] = std::array::from_fn(|r| std::array::from_fn(|q| products[(r * T + q) * plane + o * tiles + t]));
            write_tile::<M>(&X::output(&p), (t / tw, t % tw), s, dst);
        }
    }
}

/// Tile (ty, tx)'s outputs into the `oh × ow` plane, those past its edge dropped.
#[inline(always)]
fn write_tile<const M: usize>(y: &[[f32; M]; M], (ty, tx): (usize, usize), s: WinogradShape, dst: &mut [f32]) {
    let (oy, ox) = (M * ty, M * tx);
    let n = M.min(s.ow - ox);
    for (r, row) in y.iter().enumerate().take(s.oh.saturating_sub(oy)) {
        let at = (oy + r) * s.ow + ox;
        if n == M {
            dst[at..at + M].copy_from_slice(row);
        } else {
            dst[at..at + n].copy_from_slice(&row[..n]);
        }
    }
}

/// A tile size's two transforms, on single values or on lanes.
pub(crate) trait Transform<const M: usize, const T: usize> {
    /// `Bᵀ·d·B`.
    fn input<E: Lanes>(d: &[[E; T]; T]) -> [[E; T]; T];
    /// `Aᵀ·P·A`.
    fn output<E: Lanes>(p: &[[E; T]; T]) -> [[E; M]; M];
}

/// F(2×2, 3×3).
pub(crate) struct F2x2;
/// F(4×4, 3×3).
pub(crate) struct F4x4;

impl Transform<2, 4> for F2x2 {
    fn input<E: Lanes>(d: &[[E; 4]; 4]) -> [[E; 4]; 4] {
        input_tile2(d)
    }
    fn output<E: Lanes>(p: &[[E; 4]; 4]) -> [[E; 2]; 2] {
        output_tile2(p)
    }
}

impl Transform<4, 6> for F4x4 {
    fn input<E: Lanes>(d: &[[E; 6]; 6]) -> [[E; 6]; 6] {
        input_tile4(d)
    }
    fn output<E: Lanes>(p: &[[E; 6]; 6]) -> [[E; 4]; 4] {
        output_tile4(p)
    }
}

/// `L·d·Lᵀ` where `f(v) = L·v`: the 1-D transform of every row of `d`,
/// then of every column.
#[inline(always)]
fn both_ways<E: Lanes, const I: usize, const O: usize>(d: &[[E; I]; I], f: impl Fn([E; I]) -> [E; O]) -> [[E; O]; O] {
    let rows: [[E; O]; I] = std::array::from_fn(|r| f(d[r]));
    let cols: [[E; O]; O] = std::array::from_fn(|j| f(std::array::from_fn(|r| rows[r][j])));
    std::array::from_fn(|i| std::array::from_fn(|j| cols[j][i]))
}

/// `Bᵀ·d·B` for F(2×2, 3×3), written out (its entries are 0 and ±1).
#[inline(always)]
fn input_tile2<E: Lanes>(d: &[[E; 4]; 4]) -> [[E; 4]; 4] {
    both_ways(d, |v| [v[0] - v[2], v[1] + v[2], v[2] - v[1], v[1] - v[3]])
}

/// `Aᵀ·P·A` for F(2×2, 3×3).
#[inline(always)]
fn output_tile2<E: Lanes>(p: &[[E; 4]; 4]) -> [[E; 2]; 2] {
    both_ways(p, |v| [v[0] + v[1] + v[2], v[1] - v[2] - v[3]])
}

/// `Bᵀ·d·B` for F(4×4, 3×3), with the shared sums factored out.
#[inline(always)]
fn input_tile4<E: Lanes>(d: &[[E; 6]; 6]) -> [[E; 6]; 6] {
    both_ways(d, |v| {
        let (a, b) = (v[4] - v[2].scale(4.0), v[3] - v[1].scale(4.0));
        let (c, e) = (v[4] - v[2], (v[3] - v[1]).scale(2.0));
        [v[0].scale(4.0) - v[2].scale(5.0) + v[4], a + b, a - b, c + e, c - e, v[1].scale(4.0) - v[3].scale(5.0) + v[5]]
    })
}

/// `Aᵀ·P·A` for F(4×4, 3×3).
#[inline(always)]
fn output_tile4<E: Lanes>(p: &[[E; 6]; 6]) -> [[E; 4]; 4] {
    both_ways(p, |v| {
        let (s12, d12, s34, d34) = (v[1] + v[2], v[1] - v[2], v[3] + v[4], v[3] - v[4]);
        [v[0] + s12 + s34, d12 + d34.scale(2.0), s12 + s34.scale(4.0), d12 + d34.scale(8.0) + v[5]]
    })
}

/// The transforms four neighbouring tiles at a time, one per SIMD lane.
/// Each returns how many tiles of every tile row it handled (the first ones,
/// in groups of four); the caller does the rest one at a time.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod vector {
    use super::{packed_at, write_tile, Lanes, Transform, WinogradShape, NR};
    use core::arch::wasm32::*;
    use std::ops::{Add, Sub};

    pub const AVAILABLE: bool = true;

    /// One tile position of four tiles.
    #[derive(Clone, Copy)]
    pub struct X4(v128);

    impl Add for X4 {
        type Output = X4;
        #[inline(always)]
        fn add(self, o: X4) -> X4 {
            X4(f32x4_add(self.0, o.0))
        }
    }

    impl Sub for X4 {
        type Output = X4;
        #[inline(always)]
        fn sub(self, o: X4) -> X4 {
            X4(f32x4_sub(self.0, o.0))
        }
    }

    impl Lanes for X4 {
        #[inline(always)]
        fn scale(self, k: f32) -> X4 {
            X4(f32x4_mul(f32x4_splat(k), self.0))
        }
    }

    #[inline(always)]
    fn load4(s: &[f32], at: usize) -> X4 {
        let four = &s[at..at + 4];
        // SAFETY: `four` holds 4 floats; v128 loads need no alignment.
        X4(unsafe { v128_load(four.as_ptr() as *const v128) })
    }

    #[inline(always)]
    fn lanes(x: X4) -> [f32; 4] {
        [f32x4_extract_lane::<0>(x.0), f32x4_extract_lane::<1>(x.0), f32x4_extract_lane::<2>(x.0), f32x4_extract_lane::<3>(x.0)]
    }

    /// Channel `ch`'s input tiles into `v`. `split` is scratch: the padded
    /// plane with each row's columns sorted by their remainder mod M, so
    /// that one position of four side-by-side tiles is four neighbours.
    pub fn input_tiles<const M: usize, const T: usize, X: Transform<M, T>>(
        padded: &[f32],
        (ph, pw): (usize, usize),
        split: &mut [f32],
        (th, tw): (usize, usize),
        ch: usize,
        c: usize,
        v: &mut [f32],
    ) -> usize {
        let done = tw / 4 * 4;
        if done == 0 {
            return 0;
        }
        let pwx = pw.div_ceil(M);
        for (y, row) in padded.chunks_exact(pw).enumerate().take(ph) {
            for (x, &val) in row.iter().enumerate() {
                split[(y * M + x % M) * pwx + x / M] = val;
            }
        }
        let panel_len = v.len() / (T * T);
        for ty in 0..th {
            for tx in (0..done).step_by(4) {
                let d: [[X4; T]; T] = std::array::from_fn(|r| std::array::from_fn(|q| load4(split, ((M * ty + r) * M + q % M) * pwx + tx + q / M)));
                let u = X::input(&d);
                let t0 = ty * tw + tx;
                let first = packed_at(t0, ch, c);
                for (pos, &val) in u.iter().flatten().enumerate() {
                    let base = pos * panel_len;
                    if t0 % NR + 4 <= NR {
                        let dst = &mut v[base + first..base + first + 4];
                        // SAFETY: `dst` holds 4 floats.
                        unsafe { v128_store(dst.as_mut_ptr() as *mut v128, val.0) };
                    } else {
                        for (i, lane) in lanes(val).into_iter().enumerate() {
                            v[base + packed_at(t0 + i, ch, c)] = lane;
                        }
                    }
                }
            }
        }
        done
    }

    /// Output channel `o`'s tiles (its products start at `base` in each
    /// position's `plane`) into `dst`.
    pub fn output_tiles<const M: usize, const T: usize, X: Transform<M, T>>(
        products: &[f32],
        plane: usize,
        base: usize,
        (th, tw): (usize, usize),
        s: WinogradShape,
        dst: &mut [f32],
    ) -> usize {
        let done = tw / 4 * 4;
        for ty in 0..th {
            for tx in (0..done).step_by(4) {
                let t0 = ty * tw + tx;
                let p: [[X4; T]; T] = std::array::from_fn(|r| std::array::from_fn(|q| load4(products, (r * T + q) * plane + base + t0)));
                let y = X::output(&p);
                let by_lane: [[[f32; 4]; M]; M] = std::array::from_fn(|r| std::array::from_fn(|q| lanes(y[r][q])));
                let tiles: [[[f32; M]; M]; 4] = std::array::from_fn(|i| std::array::from_fn(|r| std::array::from_fn(|q| by_lane[r][q][i])));
                for (i, tile) in tiles.iter().enumerate() {
                    write_tile::<M>(tile, (ty, tx + i), s, dst);
                }
            }
        }
        done
    }
}

/// Builds without SIMD128 transform one tile at a time.
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
mod vector {
    use super::{Transform, WinogradShape};

    pub const AVAILABLE: bool = false;

    pub fn input_tiles<const M: usize, const T: usize, X: Transform<M, T>>(
        _: &[f32],
        _: (usize, usize),
        _: &mut [f32],
        _: (usize, usize),
        _: usize,
        _: usize,
        _: &mut [f32],
    ) -> usize {
        0
    }

    pub fn output_tiles<const M: usize, const T: usize, X: Transform<M, T>>(
        _: &[f32],
        _: usize,
        _: usize,
        _: (usize, usize),
        _: WinogradShape,
        _: &mut [f32],
    ) -> usize {
        0
    }
}
