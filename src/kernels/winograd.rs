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
    match f.tile {
        Tile::F2 => run::<2, 4>(gemm, x, f, s, out, input_tile2, output_tile2),
        Tile::F4 => run::<4, 6>(gemm, x, f, s, out, input_tile4, output_tile4),
    }
}

/// The convolution with `M × M` outputs per `T × T` tile: transform the
/// input tiles, one GEMM per position, transform back.
fn run<const M: usize, const T: usize>(
    gemm: PrepackedGemm,
    x: &[f32],
    f: &WinogradFilters,
    s: WinogradShape,
    out: &mut [f32],
    input: fn(&[[f32; T]; T]) -> [[f32; T]; T],
    output: fn(&[[f32; T]; T]) -> [[f32; M]; M],
) {
    let (m, c) = (f.m, f.c);
    assert!(x.len() >= c * s.h * s.w && out.len() >= m * s.oh * s.ow, "winograd conv3x3: buffers too small");
    let grid = (s.oh.div_ceil(M), s.ow.div_ceil(M));
    let tiles = grid.0 * grid.1;
    if tiles == 0 || m == 0 {
        return;
    }
    let v = transform_input::<M, T>(x, c, s, grid, input);
    let panel_len = tiles.div_ceil(NR) * c * NR;
    let mut products = vec![0.0f32; T * T * m * tiles];
    for (p, dst) in products.chunks_exact_mut(m * tiles).enumerate() {
        gemm(m, c, tiles, &f.positions[p], &v[p * panel_len..(p + 1) * panel_len], dst);
    }
    transform_output::<M, T>(&products, m, s, grid, out, output);
}

/// `Bᵀ·d·B` of every `T × T` input tile (tile (ty, tx) starts at padded row
/// M·ty, column M·tx), written as T² packed GEMM B operands (`c × tiles`
/// each, panels of NR tiles).
fn transform_input<const M: usize, const T: usize>(
    x: &[f32],
    c: usize,
    s: WinogradShape,
    (th, tw): (usize, usize),
    input: fn(&[[f32; T]; T]) -> [[f32; T]; T],
) -> Vec<f32> {
    let tiles = th * tw;
    let panel_len = tiles.div_ceil(NR) * c * NR;
    let mut v = vec![0.0f32; T * T * panel_len];
    // One channel at a time in a zero-padded plane covering every tile.
    let (ph, pw) = (M * th + 2, M * tw + 2);
    let mut padded = vec![0.0f32; ph * pw];
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
        for t in 0..tiles {
            let (ty, tx) = (t / tw, t % tw);
            let d: [[f32; T]; T] = std::array::from_fn(|r| std::array::from_fn(|q| padded[(M * ty + r) * pw + M * tx + q]));
            let offset = (t / NR) * c * NR + ch * NR + t % NR;
            for (r, row) in input(&d).iter().enumerate() {
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
fn transform_output<const M: usize, const T: usize>(
    products: &[f32],
    m: usize,
    s: WinogradShape,
    (th, tw): (usize, usize),
    out: &mut [f32],
    output: fn(&[[f32; T]; T]) -> [[f32; M]; M],
) {
    let tiles = th * tw;
    let plane = m * tiles;
    for o in 0..m {
        let dst = &mut out[o * s.oh * s.ow..(o + 1) * s.oh * s.ow];
        for t in 0..tiles {
            let p: [[f32; T]; T] = std::array::from_fn(|r| std::array::from_fn(|q| products[(r * T + q) * plane + o * tiles + t]));
            let (oy, ox) = (M * (t / tw), M * (t % tw));
            for (r, row) in output(&p).iter().enumerate().take(s.oh.saturating_sub(oy)) {
                let n = M.min(s.ow - ox);
                dst[(oy + r) * s.ow + ox..(oy + r) * s.ow + ox + n].copy_from_slice(&row[..n]);
            }
        }
    }
}

/// `L·d·Lᵀ` where `f(v) = L·v`: the 1-D transform of every row of `d`,
/// then of every column.
fn both_ways<const I: usize, const O: usize>(d: &[[f32; I]; I], f: impl Fn([f32; I]) -> [f32; O]) -> [[f32; O]; O] {
    let rows: [[f32; O]; I] = std::array::from_fn(|r| f(d[r]));
    let cols: [[f32; O]; O] = std::array::from_fn(|j| f(std::array::from_fn(|r| rows[r][j])));
    std::array::from_fn(|i| std::array::from_fn(|j| cols[j][i]))
}

/// `Bᵀ·d·B` for F(2×2, 3×3), written out (its entries are 0 and ±1).
fn input_tile2(d: &[[f32; 4]; 4]) -> [[f32; 4]; 4] {
    both_ways(d, |v| [v[0] - v[2], v[1] + v[2], v[2] - v[1], v[1] - v[3]])
}

/// `Aᵀ·P·A` for F(2×2, 3×3).
fn output_tile2(p: &[[f32; 4]; 4]) -> [[f32; 2]; 2] {
    both_ways(p, |v| [v[0] + v[1] + v[2], v[1] - v[2] - v[3]])
}

/// `Bᵀ·d·B` for F(4×4, 3×3), with the shared sums factored out.
fn input_tile4(d: &[[f32; 6]; 6]) -> [[f32; 6]; 6] {
    both_ways(d, |v| {
        let (a, b) = (v[4] - 4.0 * v[2], v[3] - 4.0 * v[1]);
        let (c, e) = (v[4] - v[2], 2.0 * (v[3] - v[1]));
        [4.0 * v[0] - 5.0 * v[2] + v[4], a + b, a - b, c + e, c - e, 4.0 * v[1] - 5.0 * v[3] + v[5]]
    })
}

/// `Aᵀ·P·A` for F(4×4, 3×3).
fn output_tile4(p: &[[f32; 6]; 6]) -> [[f32; 4]; 4] {
    both_ways(p, |v| {
        let (s12, d12, s34, d34) = (v[1] + v[2], v[1] - v[2], v[3] + v[4], v[3] - v[4]);
        [v[0] + s12 + s34, d12 + 2.0 * d34, s12 + 4.0 * s34, d12 + 8.0 * d34 + v[5]]
    })
}
