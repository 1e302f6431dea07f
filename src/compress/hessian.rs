//! The input Hessian of a linear layer, `H = XᵀX` over calibration rows,
//! and what error-compensating methods need from it: damping, and the
//! upper Cholesky factor `R` of `H⁻¹` (`H⁻¹ = RᵀR`), whose rows give each
//! weight's error weighting and the update that spreads a removed (or
//! rounded) weight's error over the columns not yet processed. Written once
//! for the reconstruction method of pruning (SparseGPT-style) and for
//! error-compensating quantisation (GPTQ-style).

use crate::error::{Result, SquishError};
use crate::kernels::active::gemm_f32;

/// `XᵀX` accumulated over the rows of `X` (`k` features per row).
pub struct Hessian {
    pub k: usize,
    /// Row-major `k × k`, in f64: sums over thousands of rows.
    pub h: Vec<f64>,
    pub rows: usize,
}

impl Hessian {
    pub fn new(k: usize) -> Hessian {
        Hessian { k, h: vec![0.0; k * k], rows: 0 }
    }

    /// Adds `rows` rows of `x` (row-major, `rows × k`), on the f32 GEMM.
    pub fn add_rows(&mut self, x: &[f32], rows: usize) {
        let k = self.k;
        if rows == 0 {
            return;
        }
        let mut xt = vec![0.0f32; k * rows];
        for r in 0..rows {
            for c in 0..k {
                xt[c * rows + r] = x[r * k + c];
            }
        }
        let mut prod = vec![0.0f32; k * k];
        gemm_f32(k, rows, k, &xt, &x[..rows * k], &mut prod);
        self.h.iter_mut().zip(&prod).for_each(|(h, p)| *h += *p as f64);
        self.rows += rows;
    }

    /// `Σ_n d_nᵀ H d_n` for the `n` columns of `d` (row-major `k × n`): the
    /// energy `‖X·d‖²` the layer's outputs get from `d` over the calibration rows.
    pub fn output_energy(&self, d: &[f32], n: usize) -> f64 {
        let k = self.k;
        let h: Vec<f32> = self.h.iter().map(|&v| v as f32).collect();
        let mut hd = vec![0.0f32; k * n];
        gemm_f32(k, k, n, &h, &d[..k * n], &mut hd);
        d.iter().zip(&hd).map(|(&a, &b)| a as f64 * b as f64).sum()
    }

    /// The Hessian of the same inputs taken in `order` (feature `order[i]` first at `i`).
    pub fn permuted(&self, order: &[usize]) -> Hessian {
        let k = self.k;
        let h = (0..k * k).map(|x| self.h[order[x / k] * k + order[x % k]]).collect();
        Hessian { k, h, rows: self.rows }
    }

    /// Features never active in the calibration data (a zero diagonal).
    pub fn dead(&self) -> Vec<bool> {
        (0..self.k).map(|i| self.h[i * self.k + i] == 0.0).collect()
    }

    /// `R`, upper triangular with `RᵀR = (H + λI)⁻¹`, `λ = damping · mean(diag H)`;
    /// dead features get a unit diagonal first (their weights carry no signal).
    /// Row-major `k × k`, f64.
    pub fn inverse_factor(&self, damping: f64) -> Result<Vec<f64>> {
        let k = self.k;
        let mut h = self.h.clone();
        let mean = (0..k).map(|i| h[i * k + i]).sum::<f64>() / k.max(1) as f64;
        let lambda = damping * if mean > 0.0 { mean } else { 1.0 };
        for i in 0..k {
            if h[i * k + i] == 0.0 {
                h[i * k + i] = 1.0;
            }
            h[i * k + i] += lambda;
        }
        // With J the order reversal, chol(J H J) = L gives H = U Uᵀ for the
        // upper triangular U = J L J, so H⁻¹ = (U⁻¹)ᵀ U⁻¹: R = U⁻¹.
        let reversed: Vec<f64> = (0..k * k).map(|i| h[(k - 1 - i / k) * k + (k - 1 - i % k)]).collect();
        let l = cholesky_lower(&reversed, k)?;
        let u: Vec<f64> = (0..k * k).map(|i| l[(k - 1 - i / k) * k + (k - 1 - i % k)]).collect();
        Ok(invert_upper(&u, k))
    }
}

/// One block of columns as error compensation sees it.
pub struct Block<'a> {
    /// Index of the block's first column in the whole matrix.
    pub first: usize,
    pub width: usize,
    pub rows: usize,
    /// The block's current weights, `rows × width`: columns before the one
    /// being decided are final, the others carry the errors pushed so far.
    pub w: &'a [f32],
    /// `R`'s diagonal for the block's columns: the weight of each column's error.
    pub diag: &'a [f32],
}

/// What a compensating method decides column by column: the value each
/// weight takes (0 when pruned, a grid point when quantised).
pub trait ColumnRule {
    /// Called as each block begins (a mask chosen for the whole block).
    fn begin_block(&mut self, _block: &Block) {}
    /// Column `j` of the block: `out[i]` is the value row `i`'s weight takes.
    fn column(&mut self, block: &Block, j: usize, out: &mut [f32]);
}

/// Error compensation (Optimal Brain Surgeon as SparseGPT and GPTQ apply it):
/// `w` (`rows × cols`, weights `[outputs][inputs]`) is processed column by
/// column; each column takes the values `rule` decides, and its error,
/// scaled by `R`'s row, is pushed onto the columns not yet processed, so the
/// result minimises ‖WX − ŴX‖² on the calibration inputs. Columns are taken
/// in blocks of `block`: inside a block the updates are immediate, the rest
/// of the matrix gets the block's errors at once, on the GEMM (lazy batch
/// updates). `r`: `Hessian::inverse_factor`; `dead`: features that never
/// carried signal, zeroed first.
pub fn compensate(w: &mut [f32], rows: usize, cols: usize, r: &[f64], dead: &[bool], block: usize, rule: &mut impl ColumnRule) {
    for (c, _) in dead.iter().enumerate().filter(|(_, d)| **d) {
        (0..rows).for_each(|i| w[i * cols + c] = 0.0);
    }
    let rf: Vec<f32> = r.iter().map(|&v| v as f32).collect();
    let mut decided = vec![0.0f32; rows];
    for i1 in (0..cols).step_by(block.max(1)) {
        let i2 = (i1 + block).min(cols);
        let b = i2 - i1;
        // The block's weights and the errors it pushes on, as `rows × b`.
        let mut w1: Vec<f32> = (0..rows).flat_map(|i| w[i * cols + i1..i * cols + i2].to_vec()).collect();
        let mut err = vec![0.0f32; rows * b];
        let diag: Vec<f32> = (i1..i2).map(|c| rf[c * cols + c]).collect();
        rule.begin_block(&Block { first: i1, width: b, rows, w: &w1, diag: &diag });
        for j in 0..b {
            rule.column(&Block { first: i1, width: b, rows, w: &w1, diag: &diag }, j, &mut decided);
            let r_row = &rf[(i1 + j) * cols + i1..(i1 + j) * cols + i2];
            for i in 0..rows {
                let e = (w1[i * b + j] - decided[i]) / diag[j];
                w1[i * b + j] = decided[i];
                err[i * b + j] = e;
                w1[i * b + j + 1..(i + 1) * b].iter_mut().zip(&r_row[j + 1..]).for_each(|(v, r)| *v -= e * r);
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
}

/// Lower Cholesky factor of a symmetric positive definite matrix.
fn cholesky_lower(a: &[f64], k: usize) -> Result<Vec<f64>> {
    let mut l = vec![0.0f64; k * k];
    for j in 0..k {
        let mut d = a[j * k + j];
        for p in 0..j {
            d -= l[j * k + p] * l[j * k + p];
        }
        if d.is_nan() || d <= 0.0 || d.is_infinite() {
            return Err(SquishError::Calibration(format!("the layer's input Hessian is not positive definite at feature {} (raise \"damping\")", k - 1 - j)));
        }
        let d = d.sqrt();
        l[j * k + j] = d;
        for i in j + 1..k {
            let mut s = a[i * k + j];
            for p in 0..j {
                s -= l[i * k + p] * l[j * k + p];
            }
            l[i * k + j] = s / d;
        }
    }
    Ok(l)
}

/// Inverse of an upper triangular matrix (non-zero diagonal), row by row
/// from the bottom: row `i` of the inverse is `(eᵢ − Σₚ u[i][p]·inv[p]) / u[i][i]`
/// over `p > i`, whose rows are already known (contiguous axpys).
fn invert_upper(u: &[f64], k: usize) -> Vec<f64> {
    let mut inv = vec![0.0f64; k * k];
    for i in (0..k).rev() {
        let (top, below) = inv.split_at_mut((i + 1) * k);
        let row = &mut top[i * k..];
        row[i] = 1.0;
        for p in i + 1..k {
            let f = u[i * k + p];
            if f != 0.0 {
                row[p..].iter_mut().zip(&below[(p - i - 1) * k + p..(p - i) * k]).for_each(|(r, v)| *r -= f * v);
            }
        }
        let d = u[i * k + i];
        row[i..].iter_mut().for_each(|r| *r /= d);
    }
    inv
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    /// `output_energy(d)` is ‖X·d‖² summed over d's columns.
    #[wasm_bindgen_test(unsupported = test)]
    fn output_energy_is_the_energy_of_x_times_d() {
        let (k, rows, n) = (6, 15, 3);
        let x: Vec<f32> = (0..rows * k).map(|i| ((i * 13 % 7) as f32 - 3.0) * 0.5).collect();
        let d: Vec<f32> = (0..k * n).map(|i| ((i * 5 % 9) as f32 - 4.0) * 0.1).collect();
        let mut h = Hessian::new(k);
        h.add_rows(&x, rows);
        let direct: f64 = (0..rows)
            .flat_map(|r| (0..n).map(move |c| (r, c)))
            .map(|(r, c)| (0..k).map(|i| x[r * k + i] as f64 * d[i * n + c] as f64).sum::<f64>().powi(2))
            .sum();
        assert!((h.output_energy(&d, n) - direct).abs() < 1e-4 * direct, "{} vs {direct}", h.output_energy(&d, n));
    }

    /// RᵀR (H + λI) = I, R upper triangular, for a Hessian built from rows.
    #[wasm_bindgen_test(unsupported = test)]
    fn the_factor_inverts_the_damped_hessian() {
        let (k, rows) = (7, 20);
        let x: Vec<f32> = (0..rows * k).map(|i| ((i * 37 % 11) as f32 - 5.0) * 0.3 + (i as f32 * 0.01).sin()).collect();
        let mut hs = Hessian::new(k);
        hs.add_rows(&x[..10 * k], 10);
        hs.add_rows(&x[10 * k..], 10);
        assert_eq!(hs.rows, rows);
        // XᵀX by hand.
        for (i, j) in [(0, 0), (2, 5), (6, 1)] {
            let want: f64 = (0..rows).map(|r| x[r * k + i] as f64 * x[r * k + j] as f64).sum();
            assert!((hs.h[i * k + j] - want).abs() < 1e-4 * (1.0 + want.abs()), "H[{i},{j}]");
        }
        let damping = 0.01;
        let r = hs.inverse_factor(damping).unwrap();
        let mean = (0..k).map(|i| hs.h[i * k + i]).sum::<f64>() / k as f64;
        for i in 0..k {
            for j in 0..i {
                assert_eq!(r[i * k + j], 0.0, "R is upper triangular");
            }
        }
        for i in 0..k {
            for j in 0..k {
                // (RᵀR H_damped)[i][j]
                let mut s = 0.0;
                for a in 0..k {
                    let rtr: f64 = (0..k).map(|p| r[p * k + i] * r[p * k + a]).sum();
                    let h = hs.h[a * k + j] + if a == j { damping * mean } else { 0.0 };
                    s += rtr * h;
                }
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((s - want).abs() < 1e-9, "({i},{j}): {s}");
            }
        }
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn dead_features_are_found_and_do_not_break_the_factor() {
        let mut hs = Hessian::new(3);
        hs.add_rows(&[1.0, 0.0, 2.0, -1.0, 0.0, 0.5], 2);
        assert_eq!(hs.dead(), [false, true, false]);
        assert!(hs.inverse_factor(0.01).is_ok());
        // Without damping a dependent pair still factors only when it is full rank.
        let mut singular = Hessian::new(2);
        singular.add_rows(&[1.0, 1.0, 2.0, 2.0], 2);
        assert!(singular.inverse_factor(0.0).is_err());
        assert!(singular.inverse_factor(0.01).is_ok());
    }
}
