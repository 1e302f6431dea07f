//! Error-compensating rounding (`"rounding": "gptq"`, in the spirit of
//! GPTQ): a linear layer's weights are rounded one input column at a time,
//! and each column's rounding error is pushed onto the columns not yet
//! rounded through the layer's damped input Hessian, so the rounded layer
//! keeps ‖WX − ŴX‖² small on the calibration inputs instead of each weight
//! being merely close. The column loop is pruning's reconstruction loop
//! (`hessian::compensate`); only the value each weight takes differs.
//!
//! Weights are seen as `[outputs][inputs]` rows. Scales per tensor or per
//! output come from the original weights; scales per block of inputs are
//! chosen when the block's first column is reached, from the weights as the
//! errors pushed so far left them (GPTQ's grouping), or from the original
//! weights when columns are taken in activation order (the groups then stay
//! the stored blocks).

use super::params::{Affine, Codes, Quantized};
use crate::compress::hessian::{self, Block, ColumnRule, Hessian};
use crate::error::Result;

/// How quantisation parameters group over a `[outputs][inputs]` weight.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RowGroups {
    PerTensor,
    /// One range per output.
    PerRow,
    /// One range per run of this many inputs of each output.
    Blocks(usize),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    /// Added to the Hessian's diagonal, as a share of its mean.
    pub damping: f64,
    /// Columns in decreasing order of their input energy (GPTQ's act-order).
    pub act_order: bool,
}

/// Lazy-batch width: columns updated immediately before the rest of the
/// matrix gets their errors on the GEMM (a multiple of every block size).
const BATCH: usize = 128;

/// Codes in the original `[outputs][inputs]` order and parameters laid out
/// per row (`PerTensor`: one; `PerRow`: one per row; `Blocks`: row-major
/// `rows × blocks`).
pub struct RowCodes {
    pub codes: Vec<i16>,
    pub params: Vec<Affine>,
    /// Largest |w − ŵ| against the original weights (compensation moves
    /// weights further than rounding alone would).
    pub max_abs_error: f32,
    pub zeros: usize,
}

/// What the Hessian gives every layer that reads the same input: the
/// column order, and the inverse factor of the Hessian in that order.
pub struct Prepared {
    order: Vec<usize>,
    r: Vec<f64>,
    dead: Vec<bool>,
}

/// Prepares `h` (the input Hessian of one or more layers) for rounding.
pub fn prepare(h: &Hessian, opt: Options) -> Result<Prepared> {
    let cols = h.k;
    let mut order: Vec<usize> = (0..cols).collect();
    if opt.act_order {
        order.sort_by(|&a, &b| h.h[b * cols + b].total_cmp(&h.h[a * cols + a]).then(a.cmp(&b)));
    }
    let permuted = h.permuted(&order);
    Ok(Prepared { r: permuted.inverse_factor(opt.damping)?, dead: permuted.dead(), order })
}

/// Rounds `w` (`rows × cols`, finite; `cols` the prepared Hessian's
/// features) onto the grid of `codes` with error compensation.
pub fn quantize(w: &[f32], rows: usize, cols: usize, h: &Prepared, groups: RowGroups, codes: Codes, symmetric: bool) -> RowCodes {
    let order = &h.order;
    let mut work: Vec<f32> = (0..rows * cols).map(|x| w[(x / cols) * cols + order[x % cols]]).collect();
    // Reordered columns keep the stored blocks, so their ranges come first.
    let reordered = order.iter().enumerate().any(|(i, &c)| i != c);
    let lazy_groups = matches!(groups, RowGroups::Blocks(_)) && !reordered;
    let mut rounder = Rounder {
        order,
        cols,
        groups,
        codes,
        symmetric,
        params: if lazy_groups {
            vec![Affine { scale: 1.0, zero_point: 0 }; param_count(rows, cols, groups)]
        } else {
            initial_params(w, rows, cols, groups, codes, symmetric)
        },
        lazy_groups,
        out: vec![0; rows * cols],
    };
    let batch = match groups {
        RowGroups::Blocks(g) => g * (BATCH / g).max(1),
        _ => BATCH,
    };
    hessian::compensate(&mut work, rows, cols, &h.r, &h.dead, batch, &mut rounder);
    let mut max_abs_error = 0.0f32;
    let mut zeros = 0;
    for i in 0..rows {
        for (p, &c) in order.iter().enumerate() {
            let (q, param) = (rounder.out[i * cols + c], rounder.params[rounder.param_index(i, c)]);
            max_abs_error = max_abs_error.max((w[i * cols + c] - work[i * cols + p]).abs());
            zeros += (q as i32 == param.zero_point) as usize;
        }
    }
    RowCodes { codes: rounder.out, params: rounder.params, max_abs_error, zeros }
}

fn param_count(rows: usize, cols: usize, groups: RowGroups) -> usize {
    match groups {
        RowGroups::PerTensor => 1,
        RowGroups::PerRow => rows,
        RowGroups::Blocks(g) => rows * cols.div_ceil(g),
    }
}

/// Ranges from the original weights, for every group at once.
fn initial_params(w: &[f32], rows: usize, cols: usize, groups: RowGroups, codes: Codes, symmetric: bool) -> Vec<Affine> {
    let range = |vals: &mut dyn Iterator<Item = f32>| {
        let (lo, hi) = vals.fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), v| (l.min(v), h.max(v)));
        Affine::new(lo.min(0.0), hi.max(0.0), codes, symmetric)
    };
    match groups {
        RowGroups::PerTensor => vec![range(&mut w.iter().copied())],
        RowGroups::PerRow => (0..rows).map(|i| range(&mut w[i * cols..(i + 1) * cols].iter().copied())).collect(),
        RowGroups::Blocks(g) => (0..rows)
            .flat_map(|i| (0..cols.div_ceil(g)).map(move |b| (i, b)))
            .map(|(i, b)| range(&mut w[i * cols + b * g..i * cols + ((b + 1) * g).min(cols)].iter().copied()))
            .collect(),
    }
}

struct Rounder<'a> {
    /// Processing position → original column.
    order: &'a [usize],
    cols: usize,
    groups: RowGroups,
    codes: Codes,
    symmetric: bool,
    params: Vec<Affine>,
    /// Block ranges are chosen as each block's first column comes up.
    lazy_groups: bool,
    /// Codes, `rows × cols` in the original column order.
    out: Vec<i16>,
}

impl Rounder<'_> {
    fn param_index(&self, row: usize, col: usize) -> usize {
        match self.groups {
            RowGroups::PerTensor => 0,
            RowGroups::PerRow => row,
            RowGroups::Blocks(g) => row * self.cols.div_ceil(g) + col / g,
        }
    }
}

impl ColumnRule for Rounder<'_> {
    fn column(&mut self, b: &Block, j: usize, out: &mut [f32]) {
        let col = self.order[b.first + j];
        if let (true, RowGroups::Blocks(g)) = (self.lazy_groups, self.groups) {
            // Without reordering, column `col` sits at position `col`; the batch is a
            // multiple of `g`, so the whole group lies inside this block.
            if col % g == 0 {
                let end = (j + g).min(b.width);
                for i in 0..b.rows {
                    let vals = &b.w[i * b.width + j..i * b.width + end];
                    let (lo, hi) = vals.iter().fold((0.0f32, 0.0f32), |(l, h), &v| (l.min(v), h.max(v)));
                    let at = self.param_index(i, col);
                    self.params[at] = Affine::new(lo, hi, self.codes, self.symmetric);
                }
            }
        }
        for (i, o) in out.iter_mut().enumerate() {
            let p = self.params[self.param_index(i, col)];
            let q = p.quantize(b.w[i * b.width + j], self.codes);
            self.out[i * self.cols + col] = q as i16;
            *o = p.dequantize(q);
        }
    }
}

impl RowCodes {
    /// In `params::quantize`'s layout for the weight as stored: `[inputs][outputs]`
    /// (MatMul's `[K, N]`, groups along axis 0, per channel on axis 1) when
    /// `inputs_first`, else the rows themselves (`[N, K]`, per channel on axis 0).
    pub fn into_quantized(self, rows: usize, cols: usize, groups: RowGroups, inputs_first: bool) -> Quantized {
        let RowCodes { codes, params, max_abs_error, zeros } = self;
        let codes = if inputs_first { (0..rows * cols).map(|x| codes[(x % rows) * cols + x / rows]).collect() } else { codes };
        let (params, param_shape) = match groups {
            RowGroups::PerTensor => (params, vec![]),
            RowGroups::PerRow => (params, vec![rows]),
            RowGroups::Blocks(g) => {
                let kb = cols.div_ceil(g);
                assert!(inputs_first, "blocks run along the stored inputs axis");
                ((0..kb * rows).map(|x| params[(x % rows) * kb + x / rows]).collect(), vec![kb, rows])
            }
        };
        Quantized { codes, params, param_shape, max_abs_error, zeros, histogram: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compress::quant::params::{self, Grouping};
    use wasm_bindgen_test::wasm_bindgen_test;

    /// Deterministic pseudo-random values in [-1, 1).
    fn noise(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    /// ‖(W − Ŵ)Xᵀ‖² over the rows of `x` (`n × cols`).
    fn output_error(w: &[f32], wq: &[f32], rows: usize, cols: usize, x: &[f32]) -> f64 {
        let mut total = 0.0;
        for xr in x.chunks_exact(cols) {
            for i in 0..rows {
                let d: f64 = (0..cols).map(|c| (w[i * cols + c] - wq[i * cols + c]) as f64 * xr[c] as f64).sum();
                total += d * d;
            }
        }
        total
    }

    fn dequantized(rc: &RowCodes, rows: usize, cols: usize, groups: RowGroups) -> Vec<f32> {
        let kb = |g: usize| cols.div_ceil(g);
        (0..rows * cols)
            .map(|x| {
                let (i, c) = (x / cols, x % cols);
                let p = match groups {
                    RowGroups::PerTensor => rc.params[0],
                    RowGroups::PerRow => rc.params[i],
                    RowGroups::Blocks(g) => rc.params[i * kb(g) + c / g],
                };
                p.dequantize(rc.codes[x] as i32)
            })
            .collect()
    }

    /// Correlated inputs (as real activations are), so compensation has something to use.
    fn correlated_inputs(n: usize, cols: usize) -> Vec<f32> {
        let base = noise(n * 4, 7);
        let mix = noise(4 * cols, 11);
        let jitter = noise(n * cols, 13);
        (0..n * cols).map(|x| (0..4).map(|f| base[(x / cols) * 4 + f] * mix[f * cols + x % cols]).sum::<f32>() + 0.1 * jitter[x]).collect()
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn compensation_lowers_the_output_error_of_every_grouping() {
        let (rows, cols, n) = (24, 96, 400);
        let w = noise(rows * cols, 3);
        let x = correlated_inputs(n, cols);
        let mut h = Hessian::new(cols);
        h.add_rows(&x, n);
        for (groups, codes, symmetric) in [
            (RowGroups::Blocks(32), Codes::U4, false),
            (RowGroups::Blocks(32), Codes::U4, true),
            (RowGroups::PerRow, Codes::I4, true),
            (RowGroups::PerTensor, Codes::I8, true),
        ] {
            for act_order in [false, true] {
                let rc = quantize(&w, rows, cols, &prepare(&h, Options { damping: 0.01, act_order }).unwrap(), groups, codes, symmetric);
                assert!(rc.codes.iter().all(|&c| (codes.lo..=codes.hi).contains(&(c as i32))), "{groups:?}: codes in range");
                let compensated = dequantized(&rc, rows, cols, groups);
                let grouping = match groups {
                    RowGroups::PerTensor => Grouping::PerTensor,
                    RowGroups::PerRow => Grouping::PerChannel { axis: 0 },
                    RowGroups::Blocks(g) => Grouping::Blocked { axis: 1, block: g },
                };
                let q = params::quantize(&w, &[rows, cols], grouping, codes, symmetric);
                let (_, group) = params::group_of(&[rows, cols], grouping);
                let nearest: Vec<f32> = q.codes.iter().enumerate().map(|(i, &c)| q.params[group(i)].dequantize(c as i32)).collect();
                let (e_gptq, e_near) = (output_error(&w, &compensated, rows, cols, &x), output_error(&w, &nearest, rows, cols, &x));
                assert!(e_gptq < 0.7 * e_near, "{groups:?} {codes:?} act_order {act_order}: {e_gptq} vs nearest {e_near}");
                let max = w.iter().zip(&compensated).fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
                assert_eq!(rc.max_abs_error, max);
            }
        }
    }

    /// With uncorrelated inputs (a diagonal Hessian) no error has anywhere to
    /// go: the result is round-to-nearest exactly.
    #[wasm_bindgen_test(unsupported = test)]
    fn a_diagonal_hessian_gives_round_to_nearest() {
        let (rows, cols) = (5, 64);
        let w = noise(rows * cols, 5);
        let mut h = Hessian::new(cols);
        let x: Vec<f32> = (0..cols * cols).map(|i| if i % (cols + 1) == 0 { 1.0 + (i % 7) as f32 } else { 0.0 }).collect();
        h.add_rows(&x, cols);
        for (groups, grouping) in [(RowGroups::Blocks(32), Grouping::Blocked { axis: 1, block: 32 }), (RowGroups::PerRow, Grouping::PerChannel { axis: 0 })] {
            let rc = quantize(&w, rows, cols, &prepare(&h, Options { damping: 0.01, act_order: false }).unwrap(), groups, Codes::U4, false);
            let q = params::quantize(&w, &[rows, cols], grouping, Codes::U4, false);
            assert_eq!(rc.codes, q.codes, "{groups:?}");
            assert_eq!(rc.params, q.params, "{groups:?}");
        }
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn stored_layouts_match_params_quantize() {
        let (rows, cols) = (3, 64); // N = 3 outputs, K = 64 inputs
        let w = noise(rows * cols, 9);
        let mut h = Hessian::new(cols);
        let x: Vec<f32> = (0..cols * cols).map(|i| if i % (cols + 1) == 0 { 1.0 } else { 0.0 }).collect();
        h.add_rows(&x, cols);
        let rc = quantize(&w, rows, cols, &prepare(&h, Options { damping: 0.01, act_order: false }).unwrap(), RowGroups::Blocks(32), Codes::U4, true);
        let stored = rc.into_quantized(rows, cols, RowGroups::Blocks(32), true);
        let k_by_n: Vec<f32> = (0..rows * cols).map(|x| w[(x % rows) * cols + x / rows]).collect();
        let q = params::quantize(&k_by_n, &[cols, rows], Grouping::Blocked { axis: 0, block: 32 }, Codes::U4, true);
        assert_eq!(stored.codes, q.codes);
        assert_eq!(stored.params, q.params);
        assert_eq!(stored.param_shape, q.param_shape);
    }
}
