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

/// Inverse of an upper triangular matrix (non-zero diagonal).
fn invert_upper(u: &[f64], k: usize) -> Vec<f64> {
    let mut inv = vec![0.0f64; k * k];
    for j in (0..k).rev() {
        inv[j * k + j] = 1.0 / u[j * k + j];
        for i in (0..j).rev() {
            let mut s = 0.0;
            for p in i + 1..=j {
                s += u[i * k + p] * inv[p * k + j];
            }
            inv[i * k + j] = -s / u[i * k + i];
        }
    }
    inv
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

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
