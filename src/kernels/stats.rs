//! Statistics shared by calibration (`compress`), training (`train`) and
//! comparison (`compare`). Scalar only: they run once per tensor or per
//! example, never in a model's inner loop, so they have no SIMD twin.

/// KL(P ‖ Q) in nats of two distributions given as non-negative weights
/// (histograms or probabilities; each is normalised by its sum). Terms where
/// P is 0 contribute nothing; Q is floored at 1e-12 so a bin P has and Q
/// lacks stays finite. Infinite when either has no mass.
pub fn kl_divergence(p: &[f64], q: &[f64]) -> f64 {
    let (sp, sq): (f64, f64) = (p.iter().sum(), q.iter().sum());
    if sp <= 0.0 || sq <= 0.0 {
        return f64::INFINITY;
    }
    let kl: f64 = p
        .iter()
        .zip(q)
        .filter(|(&a, _)| a > 0.0)
        .map(|(&a, &b)| {
            let (pa, qb) = (a / sp, (b / sq).max(1e-12));
            pa * (pa / qb).ln()
        })
        .sum();
    kl.max(0.0)
}

/// Cosine similarity; 1 when both are all-zero, 0 when only one is.
pub fn cosine(x: &[f64], y: &[f64]) -> f64 {
    let (mut xy, mut xx, mut yy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        xy += a * b;
        xx += a * a;
        yy += b * b;
    }
    cosine_from(xy, xx, yy)
}

pub fn cosine_from(xy: f64, xx: f64, yy: f64) -> f64 {
    match (xx > 0.0, yy > 0.0) {
        (false, false) => 1.0,
        (true, true) => (xy / (xx.sqrt() * yy.sqrt())).clamp(-1.0, 1.0),
        _ => 0.0,
    }
}

/// Energy of a reference (signal) and of an approximation's difference from
/// it (noise), summed value by value: their ratio is the relative squared
/// error that the comparison, the target search and the record report.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ErrorEnergy {
    pub signal: f64,
    pub noise: f64,
}

impl ErrorEnergy {
    pub fn add(&mut self, reference: f64, got: f64) {
        self.signal += reference * reference;
        self.noise += (reference - got) * (reference - got);
    }

    pub fn add_all(&mut self, reference: &[f64], got: &[f64]) {
        for (&a, &b) in reference.iter().zip(got) {
            self.add(a, b);
        }
    }

    /// noise / signal; the noise itself when the reference is all zero.
    pub fn ratio(&self) -> f64 {
        if self.signal > 0.0 {
            self.noise / self.signal
        } else {
            self.noise
        }
    }
}

/// Index of the largest value (the first on ties).
pub fn argmax<T: PartialOrd>(row: &[T]) -> usize {
    let mut best = 0;
    for (i, v) in row.iter().enumerate() {
        if *v > row[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test(unsupported = test)]
    fn kl_by_hand() {
        assert_eq!(kl_divergence(&[1.0, 2.0, 1.0], &[2.0, 4.0, 2.0]), 0.0);
        // Unnormalised weights give the same as their probabilities.
        let want = 0.5 * (0.5f64 / 0.25).ln() + 0.5 * (0.5f64 / 0.75).ln();
        assert!((kl_divergence(&[1.0, 1.0], &[1.0, 3.0]) - want).abs() < 1e-12);
        assert!((kl_divergence(&[0.5, 0.5], &[0.25, 0.75]) - want).abs() < 1e-12);
        // A bin P has and Q lacks is large but finite; no mass is infinite.
        assert!(kl_divergence(&[0.5, 0.5], &[1.0, 0.0]).is_finite());
        assert_eq!(kl_divergence(&[0.0, 0.0], &[1.0, 0.0]), f64::INFINITY);
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn error_energy_by_hand() {
        let mut e = ErrorEnergy::default();
        e.add_all(&[3.0, 4.0], &[3.0, 3.0]);
        assert_eq!(e, ErrorEnergy { signal: 25.0, noise: 1.0 });
        assert_eq!(e.ratio(), 0.04);
        // An all-zero reference: the noise itself.
        let mut z = ErrorEnergy::default();
        z.add(0.0, 2.0);
        assert_eq!(z.ratio(), 4.0);
    }
}
