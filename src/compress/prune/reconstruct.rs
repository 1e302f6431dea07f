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
use crate::kernels::active::gemm_f32;

/// Prunes `w` (`rows × cols`) by `rule` (`PerRow`/`PerMatrix` applied per
/// block, `NofM` per group), updating the kept weights. `dead`: inputs that never
/// carried signal, zeroed first. Returns the weights zeroed.
pub fn prune(w: &mut [f32], rows: usize, cols: usize, r: &[f64], dead: &[bool], rule: Rule, block: usize) -> usize {
    for (c, _) in dead.iter().enumerate().filter(|(_, d)| **d) {
        (0..rows).for_each(|i| w[i * cols + c] = 0.0);
    }
    let rf: Vec<f32> = r.iter().map(|&v| v as f32).collect();
    let mut zeroed = 0;
    for i1 in (0..cols).step_by(block.max(1)) {
        let i2 = (i1 + block).min(cols);
        let b = i2 - i1;
        // The block's weights and the errors it pushes on, as `rows × b`.
        let mut w1: Vec<f32> = (0..rows).flat_map(|i| w[i * cols + i1..i * cols + i2].to_vec()).collect();
        let mut err = vec![0.0f32; rows * b];
        let mut mask = block_mask(&w1, rows, b, &rf, cols, i1, rule);
        for j in 0..b {
            let d = rf[(i1 + j) * cols + i1 + j];
            if let Rule::NofM { n, m } = rule {
                if j % m == 0 {
                    group_mask(&w1, &mut mask, rows, b, j, m, n, &rf, cols, i1);
                }
            }
            for i in 0..rows {
                let wv = w1[i * b + j];
                let q = if mask[i * b + j] { 0.0 } else { wv };
                let e = (wv - q) / d;
                zeroed += (mask[i * b + j] && wv != 0.0) as usize;
                w1[i * b + j] = q;
                err[i * b + j] = e;
                for c in j + 1..b {
                    w1[i * b + c] -= e * rf[(i1 + j) * cols + i1 + c];
                }
            }
        }
        for i in 0..rows {
            w[i * cols + i1..i * cols + i2].copy_from_slice(&w1[i * b..(i + 1) * b]);
        }
        // The block's errors onto the columns after it: W[:, i2..] −= Err · R[i1..i2, i2..].
        let rest = cols - i2;
        if rest > 0 {
            let r_block: Vec<f32> = (i1..i2).flat_map(|p| rf[p * cols + i2..(p + 1) * cols].to_vec()).collect();
            let mut delta = vec![0.0f32; rows * rest];
            gemm_f32(rows, b, rest, &err, &r_block, &mut delta);
            for i in 0..rows {
                w[i * cols + i2..(i + 1) * cols].iter_mut().zip(&delta[i * rest..(i + 1) * rest]).for_each(|(v, d)| *v -= d);
            }
        }
    }
    zeroed
}

/// `w² / d²` of a block's weight at (row, column j), d the factor's diagonal.
fn saliency(w1: &[f32], rf: &[f32], cols: usize, i1: usize, b: usize, i: usize, j: usize) -> f32 {
    let d = rf[(i1 + j) * cols + i1 + j];
    let v = w1[i * b + j];
    v * v / (d * d)
}

/// The unstructured mask of a block: the `share` lowest saliencies of each
/// row (`PerRow`, as Wanda compares weights within an output) or of the
/// whole block (`PerMatrix`). N:M masks are chosen group by group as the
/// block proceeds.
fn block_mask(w1: &[f32], rows: usize, b: usize, rf: &[f32], cols: usize, i1: usize, rule: Rule) -> Vec<bool> {
    let mut mask = vec![false; rows * b];
    let (share, groups) = match rule {
        Rule::PerRow(share) => (share, rows),
        Rule::PerMatrix(share) => (share, 1),
        _ => return mask,
    };
    let per = rows * b / groups;
    for g in 0..groups {
        let mut order: Vec<usize> = (g * per..(g + 1) * per).collect();
        let score = |x: usize| saliency(w1, rf, cols, i1, b, x / b, x % b);
        // Lowest first; ties in column order, so the mask is deterministic.
        order.sort_by(|&x, &y| score(x).total_cmp(&score(y)).then(x.cmp(&y)));
        for &x in order.iter().take((share * per as f64).floor() as usize) {
            mask[x] = true;
        }
    }
    mask
}

/// In each row, of the `m` columns from `j`, the `m − n` lowest saliencies.
#[allow(clippy::too_many_arguments)]
fn group_mask(w1: &[f32], mask: &mut [bool], rows: usize, b: usize, j: usize, m: usize, n: usize, rf: &[f32], cols: usize, i1: usize) {
    let end = (j + m).min(b);
    for i in 0..rows {
        let mut cand: Vec<usize> = (j..end).collect();
        cand.sort_by(|&x, &y| saliency(w1, rf, cols, i1, b, i, x).total_cmp(&saliency(w1, rf, cols, i1, b, i, y)).then(x.cmp(&y)));
        for &c in cand.iter().take((end - j).saturating_sub(n)) {
            mask[i * b + c] = true;
        }
    }
}
