//! 3×3 stride-1 convolution by Winograd's minimal filtering F(2×2, 3×3)
//! (Lavin & Gray, 2016): each 2×2 block of outputs takes 16 products per
//! input channel instead of 36, so the GEMM at its heart does 2.25× less
//! work than im2col's. Filters are transformed once (`WinogradFilters`);
//! per call the input is cut into overlapping 4×4 tiles, transformed, and
//! the 16 transformed positions are 16 independent GEMMs (the active GEMM
//! twin, passed in, so the property suite runs this with every twin), then
//! each 4×4 result folds back into 2×2 outputs. Rounding differs from the
//! direct sum: `tests::bounds::winograd_f23` names the bound.

use super::{pack_a_f32, GEMM_NR as NR};

/// Transformed positions per tile (4×4).
const POSITIONS: usize = 16;

/// A GEMM over packed operands: `(m, k, n, packed A, packed B, C)`.
pub type PrepackedGemm = fn(usize, usize, usize, &[f32], &[f32], &mut [f32]);

/// Filters `[m, c, 3, 3]` as `G·g·Gᵀ`, one packed `m × c` GEMM operand per
/// transformed position.
pub struct WinogradFilters {
    pub m: usize,
    pub c: usize,
    positions: Vec<Vec<f32>>,
}

impl WinogradFilters {
    /// `w`: `m · c · 9` values, row-major `[m, c, 3, 3]`.
    pub fn new(m: usize, c: usize, w: &[f32]) -> WinogradFilters {
        assert!(w.len() >= m * c * 9, "WinogradFilters: weights too small");
        let mut by_position = vec![vec![0.0f32; m * c]; POSITIONS];
        for (mc, g) in w.chunks_exact(9).take(m * c).enumerate() {
            for (p, u) in transform_filter(g).into_iter().enumerate() {
                by_position[p][mc] = u;
            }
        }
        let positions = by_position.iter().map(|u| pack_a_f32(m, c, u)).collect();
        WinogradFilters { m, c, positions }
    }
}

/// `G·g·Gᵀ` with G = [[1, 0, 0], [½, ½, ½], [½, −½, ½], [0, 0, 1]].
fn transform_filter(g: &[f32]) -> [f32; 16] {
    let col = |a: f32, b: f32, c: f32| [a, 0.5 * (a + b + c), 0.5 * (a - b + c), c];
    // Rows of G·g (4 × 3), then each row times Gᵀ.
    let mut gg = [[0.0f32; 3]; 4];
    for j in 0..3 {
        let t = col(g[j], g[3 + j], g[6 + j]);
        for i in 0..4 {
            gg[i][j] = t[i];
        }
    }
    let mut u = [0.0f32; 16];
    for i in 0..4 {
        let t = col(gg[i][0], gg[i][1], gg[i][2]);
        u[i * 4..i * 4 + 4].copy_from_slice(&t);
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

/// `out[m, oh, ow]` = the 3×3 stride-1 convolution of `x[c, h, w]` (no bias).
pub fn conv3x3_f23(gemm: PrepackedGemm, x: &[f32], f: &WinogradFilters, s: WinogradShape, out: &mut [f32]) {
    let (m, c) = (f.m, f.c);
    assert!(x.len() >= c * s.h * s.w && out.len() >= m * s.oh * s.ow, "conv3x3_f23: buffers too small");
    let (th, tw) = (s.oh.div_ceil(2), s.ow.div_ceil(2));
    let tiles = th * tw;
    if tiles == 0 || m == 0 {
        return;
    }
    let v = transform_input(x, c, s, (th, tw));
    let panel_len = tiles.div_ceil(NR) * c * NR;
    let mut products = vec![0.0f32; POSITIONS * m * tiles];
    for (p, dst) in products.chunks_exact_mut(m * tiles).enumerate() {
        gemm(m, c, tiles, &f.positions[p], &v[p * panel_len..(p + 1) * panel_len], dst);
    }
    transform_output(&products, m, s, (th, tw), out);
}

/// `Bᵀ·d·B` of every 4×4 input tile (tile (ty, tx) starts at padded row 2ty,
/// column 2tx), with Bᵀ = [[1, 0, −1, 0], [0, 1, 1, 0], [0, −1, 1, 0],
/// [0, 1, 0, −1]], written as 16 packed GEMM B operands (`c × tiles` each,
/// panels of 8 tiles).
fn transform_input(x: &[f32], c: usize, s: WinogradShape, (th, tw): (usize, usize)) -> Vec<f32> {
    let tiles = th * tw;
    let panel_len = tiles.div_ceil(NR) * c * NR;
    let mut v = vec![0.0f32; POSITIONS * panel_len];
    // One channel at a time in a zero-padded plane covering every tile.
    let (ph, pw) = (2 * th + 2, 2 * tw + 2);
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
            let at = |r: usize, q: usize| padded[(2 * ty + r) * pw + 2 * tx + q];
            // Bᵀ·d by rows, then ·B by columns.
            let d: [[f32; 4]; 4] = std::array::from_fn(|r| std::array::from_fn(|q| at(r, q)));
            let bd: [[f32; 4]; 4] = [
                std::array::from_fn(|q| d[0][q] - d[2][q]),
                std::array::from_fn(|q| d[1][q] + d[2][q]),
                std::array::from_fn(|q| d[2][q] - d[1][q]),
                std::array::from_fn(|q| d[1][q] - d[3][q]),
            ];
            let offset = (t / NR) * c * NR + ch * NR + t % NR;
            for (r, row) in bd.iter().enumerate() {
                let vals = [row[0] - row[2], row[1] + row[2], row[2] - row[1], row[1] - row[3]];
                for (q, val) in vals.into_iter().enumerate() {
                    v[(r * 4 + q) * panel_len + offset] = val;
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

/// `Aᵀ·M·A` of every tile's 16 products, Aᵀ = [[1, 1, 1, 0], [0, 1, −1, −1]]:
/// its 2×2 outputs, those past the output's edge dropped.
fn transform_output(products: &[f32], m: usize, s: WinogradShape, (th, tw): (usize, usize), out: &mut [f32]) {
    let tiles = th * tw;
    let plane = m * tiles;
    for o in 0..m {
        let dst = &mut out[o * s.oh * s.ow..(o + 1) * s.oh * s.ow];
        for t in 0..tiles {
            let mv = |p: usize| products[p * plane + o * tiles + t];
            let am: [[f32; 4]; 2] = [std::array::from_fn(|q| mv(q) + mv(4 + q) + mv(8 + q)), std::array::from_fn(|q| mv(4 + q) - mv(8 + q) - mv(12 + q))];
            let (oy, ox) = (2 * (t / tw), 2 * (t % tw));
            for (r, row) in am.iter().enumerate() {
                if oy + r >= s.oh {
                    break;
                }
                let pair = [row[0] + row[1] + row[2], row[1] - row[2] - row[3]];
                for (q, &y) in pair.iter().enumerate() {
                    if ox + q < s.ow {
                        dst[(oy + r) * s.ow + ox + q] = y;
                    }
                }
            }
        }
    }
}
