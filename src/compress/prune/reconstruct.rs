//! The reconstruction method (`"sparsegpt"`), in the spirit of SparseGPT /
//! Optimal Brain Surgeon: the layer's inputs are processed in blocks of
//! columns; in each block the mask is chosen by `w² / [H⁻¹]ⱼⱼ` (the error
//! removing a weight adds, with the layer's input Hessian `H`), and every
//! removed weight's error is pushed onto the inputs not yet processed, so
//! the kept weights minimise ‖WX − ŴX‖² on the calibration activations.
//! Weights are `[outputs][inputs]`, row-major; `r` is the upper factor of
//! `H⁻¹` (`hessian::Hessian::inverse_factor`). Statistics come from the
//! original model's activations (not the already-pruned model's): each
//! layer is reconstructed independently.

use super::mask::Rule;
use crate::compress::hessian::{self, Block, ColumnRule};

/// Prunes `w` (`rows × cols`) by `rule` (`PerRow`/`PerMatrix` applied per
/// block, `NofM` per group), updating the kept weights. `dead`: inputs that never
/// carried signal, zeroed first. Returns the weights zeroed.
pub fn prune(w: &mut [f32], rows: usize, cols: usize, r: &[f64], dead: &[bool], rule: Rule, block: usize) -> usize {
    let mut pruner = Pruner { rule, mask: Vec::new(), zeroed: 0 };
    hessian::compensate(w, rows, cols, r, dead, block, &mut pruner);
    pruner.zeroed
}

/// The mask of the current block (`rows × width`), chosen as the block
/// begins (or group by group for N:M), and the weights it zeroed so far.
struct Pruner {
    rule: Rule,
    mask: Vec<bool>,
    zeroed: usize,
}

impl ColumnRule for Pruner {
    fn begin_block(&mut self, b: &Block) {
        self.mask = block_mask(b, self.rule);
    }

    fn column(&mut self, b: &Block, j: usize, out: &mut [f32]) {
        if let Rule::NofM { n, m } = self.rule {
            if j % m == 0 {
                group_mask(b, &mut self.mask, j, m, n);
            }
        }
        for (i, o) in out.iter_mut().enumerate() {
            let (v, pruned) = (b.w[i * b.width + j], self.mask[i * b.width + j]);
            self.zeroed += (pruned && v != 0.0) as usize;
            *o = if pruned { 0.0 } else { v };
        }
    }
}

/// `w² / d²` of a block's weight at (row, column j), d the factor's diagonal.
fn saliency(b: &Block, i: usize, j: usize) -> f32 {
    let (v, d) = (b.w[i * b.width + j], b.diag[j]);
    v * v / (d * d)
}

/// The unstructured mask of a block: the `share` lowest saliencies of each
/// row (`PerRow`, as Wanda compares weights within an output) or of the
/// whole block (`PerMatrix`). N:M masks are chosen group by group as the
/// block proceeds.
fn block_mask(b: &Block, rule: Rule) -> Vec<bool> {
    let mut mask = vec![false; b.rows * b.width];
    let (share, groups) = match rule {
        Rule::PerRow(share) => (share, b.rows),
        Rule::PerMatrix(share) => (share, 1),
        _ => return mask,
    };
    let per = b.rows * b.width / groups;
    for g in 0..groups {
        let mut order: Vec<usize> = (g * per..(g + 1) * per).collect();
        let score = |x: usize| saliency(b, x / b.width, x % b.width);
        // Lowest first; ties in column order, so the mask is deterministic.
        order.sort_by(|&x, &y| score(x).total_cmp(&score(y)).then(x.cmp(&y)));
        for &x in order.iter().take((share * per as f64).floor() as usize) {
            mask[x] = true;
        }
    }
    mask
}

/// In each row, of the `m` columns from `j`, the `m − n` lowest saliencies.
fn group_mask(b: &Block, mask: &mut [bool], j: usize, m: usize, n: usize) {
    let end = (j + m).min(b.width);
    for i in 0..b.rows {
        let mut cand: Vec<usize> = (j..end).collect();
        cand.sort_by(|&x, &y| saliency(b, i, x).total_cmp(&saliency(b, i, y)).then(x.cmp(&y)));
        for &c in cand.iter().take((end - j).saturating_sub(n)) {
            mask[i * b.width + c] = true;
        }
    }
}
