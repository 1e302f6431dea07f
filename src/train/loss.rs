//! Distillation losses: each gives the loss of a minibatch and its gradient
//! with respect to the student's values.
//!
//! Rows: a class loss (`Kl`) reads the last axis as classes and every other
//! position as a row; `Mse` averages over elements; `Cosine` compares each
//! example (first axis) flattened.

use ndarray::{ArrayD, IxDyn};
use serde::{Deserialize, Serialize};

use crate::error::{Result, SquishError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossKind {
    /// KL divergence from the teacher's temperature-softened class
    /// distribution (Hinton et al.), mixed with cross-entropy on labels.
    Kl,
    /// Mean squared difference.
    Mse,
    /// One minus the cosine between each example's outputs.
    Cosine,
}

impl LossKind {
    pub fn name(self) -> &'static str {
        match self {
            LossKind::Kl => "kl",
            LossKind::Mse => "mse",
            LossKind::Cosine => "cosine",
        }
    }
}

/// A loss value and its gradient.
pub struct LossGrad {
    pub loss: f64,
    pub grad: ArrayD<f32>,
}

fn softmax_row(z: &[f32], t: f32, out: &mut [f32]) {
    let max = z.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v / t));
    let mut sum = 0.0f32;
    for (o, &v) in out.iter_mut().zip(z) {
        *o = (v / t - max).exp();
        sum += *o;
    }
    for o in out.iter_mut() {
        *o /= sum;
    }
}

/// Whether every row of the last axis is a probability distribution.
pub fn is_distribution(v: &ArrayD<f32>) -> bool {
    let classes = v.shape().last().copied().unwrap_or(0);
    if classes < 2 {
        return false;
    }
    let s = v.as_standard_layout();
    s.as_slice().expect("standard").chunks(classes).all(|r| r.iter().all(|&p| (0.0..=1.0).contains(&p)) && (r.iter().sum::<f32>() - 1.0).abs() < 1e-3)
}

/// Class scores as logits: probabilities become their logarithms (a
/// softmax of those gives them back), anything else is taken as logits.
pub fn as_logits(v: &ArrayD<f32>) -> ArrayD<f32> {
    if is_distribution(v) {
        v.mapv(|p| p.max(1e-30).ln())
    } else {
        v.clone()
    }
}

/// `(1 − label_weight)·T²·KL(softmax(t/T) ‖ softmax(z/T)) + label_weight·CE(labels, softmax(z))`,
/// averaged over rows; `z` student logits, `t` teacher logits, `labels` one
/// distribution per row (one-hot, or mixed by mixup). Without labels the KL
/// term has weight 1.
pub fn kl(z: &ArrayD<f32>, t: &ArrayD<f32>, labels: Option<&[f32]>, temperature: f32, label_weight: f32) -> Result<LossGrad> {
    if z.shape() != t.shape() {
        return Err(SquishError::op(format!("student output {:?} and teacher output {:?} differ in shape", z.shape(), t.shape())));
    }
    let classes = z.shape().last().copied().unwrap_or(1).max(1);
    let rows = z.len() / classes;
    if let Some(l) = labels {
        if l.len() != rows * classes {
            return Err(SquishError::op(format!("{} labels for {rows} rows of class scores", l.len() / classes)));
        }
    }
    let w = if labels.is_some() { label_weight } else { 0.0 };
    let (zs, ts) = (z.as_standard_layout(), t.as_standard_layout());
    let (zs, ts) = (zs.as_slice().expect("standard"), ts.as_slice().expect("standard"));
    let mut grad = vec![0.0f32; z.len()];
    let (mut p, mut q, mut s) = (vec![0.0f32; classes], vec![0.0f32; classes], vec![0.0f32; classes]);
    let mut loss = 0.0f64;
    let inv_rows = 1.0 / rows as f32;
    for r in 0..rows {
        let (zr, tr) = (&zs[r * classes..(r + 1) * classes], &ts[r * classes..(r + 1) * classes]);
        softmax_row(tr, temperature, &mut p);
        softmax_row(zr, temperature, &mut q);
        let g = &mut grad[r * classes..(r + 1) * classes];
        let t2 = (temperature * temperature) as f64;
        for j in 0..classes {
            if p[j] > 0.0 {
                loss += (1.0 - w as f64) * t2 * p[j] as f64 * ((p[j] as f64).ln() - (q[j].max(1e-30) as f64).ln()) / rows as f64;
            }
            g[j] = (1.0 - w) * temperature * (q[j] - p[j]) * inv_rows;
        }
        if let Some(l) = labels {
            softmax_row(zr, 1.0, &mut s);
            let y = &l[r * classes..(r + 1) * classes];
            for j in 0..classes {
                loss -= w as f64 * y[j] as f64 * (s[j].max(1e-30) as f64).ln() / rows as f64;
                g[j] += w * (s[j] - y[j]) * inv_rows;
            }
        }
    }
    Ok(LossGrad { loss, grad: ArrayD::from_shape_vec(IxDyn(z.shape()), grad).expect("sizes") })
}

pub fn mse(s: &ArrayD<f32>, t: &ArrayD<f32>) -> Result<LossGrad> {
    if s.shape() != t.shape() {
        return Err(SquishError::op(format!("student output {:?} and teacher output {:?} differ in shape", s.shape(), t.shape())));
    }
    let n = s.len().max(1) as f32;
    let d = s - t;
    let loss = d.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>() / n as f64;
    Ok(LossGrad { loss, grad: d.mapv(|v| 2.0 * v / n) })
}

/// Mean over examples of `1 − cos(s_i, t_i)`.
pub fn cosine(s: &ArrayD<f32>, t: &ArrayD<f32>) -> Result<LossGrad> {
    if s.shape() != t.shape() {
        return Err(SquishError::op(format!("student output {:?} and teacher output {:?} differ in shape", s.shape(), t.shape())));
    }
    let rows = s.shape().first().copied().unwrap_or(1).max(1);
    let cols = s.len() / rows;
    let (ss, ts) = (s.as_standard_layout(), t.as_standard_layout());
    let (ss, ts) = (ss.as_slice().expect("standard"), ts.as_slice().expect("standard"));
    let mut grad = vec![0.0f32; s.len()];
    let mut loss = 0.0f64;
    for r in 0..rows {
        let (a, b) = (&ss[r * cols..(r + 1) * cols], &ts[r * cols..(r + 1) * cols]);
        let dot: f64 = a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum();
        let na = a.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt().max(1e-12);
        let nb = b.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt().max(1e-12);
        let cos = dot / (na * nb);
        loss += (1.0 - cos) / rows as f64;
        for (g, (&x, &y)) in grad[r * cols..(r + 1) * cols].iter_mut().zip(a.iter().zip(b)) {
            *g = (-(y as f64 / (na * nb) - cos * x as f64 / (na * na)) / rows as f64) as f32;
        }
    }
    Ok(LossGrad { loss, grad: ArrayD::from_shape_vec(IxDyn(s.shape()), grad).expect("sizes") })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arr(shape: &[usize], v: &[f32]) -> ArrayD<f32> {
        ArrayD::from_shape_vec(IxDyn(shape), v.to_vec()).unwrap()
    }

    /// Each loss's gradient against central differences of its value.
    fn check(f: impl Fn(&ArrayD<f32>) -> LossGrad, s: &ArrayD<f32>) {
        let g = f(s).grad;
        for i in 0..s.len() {
            let h = 1e-3f32;
            let mut up = s.clone();
            up.as_slice_mut().unwrap()[i] += h;
            let mut down = s.clone();
            down.as_slice_mut().unwrap()[i] -= h;
            let numeric = (f(&up).loss - f(&down).loss) / (2.0 * h as f64);
            let analytic = g.as_slice().unwrap()[i] as f64;
            assert!((numeric - analytic).abs() < 2e-3 * (1.0 + numeric.abs()), "element {i}: numeric {numeric} vs analytic {analytic}");
        }
    }

    #[test]
    fn loss_gradients_match_finite_differences() {
        let z = arr(&[2, 3], &[0.2, -1.0, 0.5, 1.5, 0.1, -0.3]);
        let t = arr(&[2, 3], &[1.0, 0.0, -1.0, 0.3, 0.2, 0.1]);
        check(|z| kl(z, &t, None, 2.0, 0.0).unwrap(), &z);
        check(|z| kl(z, &t, Some(&[0.0, 0.0, 1.0, 0.6, 0.4, 0.0]), 3.0, 0.3).unwrap(), &z);
        check(|s| mse(s, &t).unwrap(), &z);
        check(|s| cosine(s, &t).unwrap(), &z);
    }

    #[test]
    fn losses_are_zero_when_the_student_equals_the_teacher() {
        let t = arr(&[2, 3], &[1.0, 0.0, -1.0, 0.3, 0.2, 0.1]);
        assert!(kl(&t, &t, None, 4.0, 0.0).unwrap().loss.abs() < 1e-7);
        assert_eq!(mse(&t, &t).unwrap().loss, 0.0);
        assert!(cosine(&t, &t).unwrap().loss.abs() < 1e-7);
        assert!(kl(&t, &t, Some(&[0.0, 1.0, 0.0, 1.0, 0.0, 0.0]), 1.0, 0.5).unwrap().loss > 0.1, "labels that disagree with the teacher cost something");
    }

    #[test]
    fn probabilities_are_read_as_their_logarithms() {
        let p = arr(&[1, 3], &[0.7, 0.2, 0.1]);
        assert!(is_distribution(&p));
        let l = as_logits(&p);
        assert!((l[[0, 0]] - 0.7f32.ln()).abs() < 1e-6);
        let logits = arr(&[1, 3], &[3.0, -1.0, 0.5]);
        assert_eq!(as_logits(&logits), logits);
    }

    #[test]
    fn wrong_label_count_is_an_error() {
        let z = arr(&[2, 3], &[0.0; 6]);
        let e = kl(&z, &z, Some(&[0.0, 1.0, 0.0]), 1.0, 0.5).err().unwrap().to_string();
        assert!(e.contains("1 labels for 2 rows"), "{e}");
    }
}
