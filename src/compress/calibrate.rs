//! Activation ranges for static quantisation from the user's calibration
//! inputs: MinMax, Percentile, Entropy (KL divergence) and MSE. One pass
//! finds each tensor's range; the histogram methods take a second pass
//! over the same inputs (2048 bins), so memory stays per tensor, not per sample.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Result, SquishError};
use crate::ir::Model;
use crate::runtime::Session;
use crate::tensor::Tensor;

/// Calibration method for static quantisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CalibrationMethod {
    Minmax,
    Percentile,
    Entropy,
    Mse,
}

/// How activation ranges are calibrated (the recipe's `calibration` key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calibration {
    #[serde(default = "default_method")]
    pub method: CalibrationMethod,
    /// For `percentile`: the share of values kept inside the range.
    #[serde(default = "default_percentile")]
    pub percentile: f64,
}

fn default_method() -> CalibrationMethod {
    CalibrationMethod::Minmax
}
fn default_percentile() -> f64 {
    99.99
}

impl Default for Calibration {
    fn default() -> Self {
        Calibration { method: default_method(), percentile: default_percentile() }
    }
}

const BINS: usize = 2048;

/// Calibrated `(low, high)` per tensor name.
pub fn ranges(model: Model, names: &[String], feeds: &[Vec<(String, Tensor)>], how: &Calibration) -> Result<BTreeMap<String, (f32, f32)>> {
    let first = model.graph.outputs.len();
    let session = Session::observing_owned(model, names)?;
    let mut lo = vec![f32::INFINITY; names.len()];
    let mut hi = vec![f32::NEG_INFINITY; names.len()];
    let run = |i: usize, feed: &Vec<(String, Tensor)>| -> Result<Vec<Option<Vec<f32>>>> {
        let out = session.run(feed.clone()).map_err(|e| SquishError::Calibration(format!("sample {i}: {e}")))?;
        Ok(out.outputs[first..].iter().map(|(_, t)| t.as_f32().map(|a| a.iter().copied().collect())).collect())
    };
    for (i, feed) in feeds.iter().enumerate() {
        for (j, values) in run(i, feed)?.into_iter().enumerate() {
            for v in values.unwrap_or_default() {
                if !v.is_finite() {
                    return Err(SquishError::Calibration(format!("sample {i}: tensor '{}' holds {v}", names[j])));
                }
                lo[j] = lo[j].min(v);
                hi[j] = hi[j].max(v);
            }
        }
    }
    let mut result = BTreeMap::new();
    if how.method == CalibrationMethod::Minmax {
        for (j, name) in names.iter().enumerate() {
            if lo[j] <= hi[j] {
                result.insert(name.clone(), (lo[j], hi[j]));
            }
        }
        return Ok(result);
    }
    let mut hists: Vec<Histogram> = (0..names.len()).map(|j| Histogram::new(lo[j], hi[j])).collect();
    for (i, feed) in feeds.iter().enumerate() {
        for (j, values) in run(i, feed)?.into_iter().enumerate() {
            hists[j].add(&values.unwrap_or_default());
        }
    }
    for (j, name) in names.iter().enumerate() {
        if lo[j] > hi[j] {
            continue;
        }
        let h = &hists[j];
        let r = match how.method {
            CalibrationMethod::Percentile => h.percentile_range(how.percentile),
            CalibrationMethod::Entropy => h.entropy_range(),
            CalibrationMethod::Mse => h.mse_range(),
            CalibrationMethod::Minmax => unreachable!("handled above"),
        };
        result.insert(name.clone(), r);
    }
    Ok(result)
}

/// Counts of values in `BINS` equal bins over `[lo, hi]`.
#[derive(Debug, Clone)]
pub struct Histogram {
    pub lo: f32,
    pub hi: f32,
    pub counts: Vec<f64>,
}

impl Histogram {
    pub fn new(lo: f32, hi: f32) -> Histogram {
        Histogram { lo, hi, counts: vec![0.0; BINS] }
    }

    fn width(&self) -> f64 {
        (self.hi as f64 - self.lo as f64) / BINS as f64
    }

    fn center(&self, b: usize) -> f64 {
        self.lo as f64 + (b as f64 + 0.5) * self.width()
    }

    pub fn add(&mut self, values: &[f32]) {
        let w = self.width();
        for &v in values {
            let b = if w > 0.0 { (((v as f64 - self.lo as f64) / w) as usize).min(BINS - 1) } else { 0 };
            self.counts[b] += 1.0;
        }
    }

    /// The range that keeps `p` percent of the values, cut equally from both tails.
    pub fn percentile_range(&self, p: f64) -> (f32, f32) {
        let total: f64 = self.counts.iter().sum();
        let cut = total * (100.0 - p) / 200.0;
        let (mut acc, mut lo_bin) = (0.0, 0);
        for (b, &c) in self.counts.iter().enumerate() {
            acc += c;
            if acc > cut {
                lo_bin = b;
                break;
            }
        }
        let (mut acc, mut hi_bin) = (0.0, BINS - 1);
        for (b, &c) in self.counts.iter().enumerate().rev() {
            acc += c;
            if acc > cut {
                hi_bin = b;
                break;
            }
        }
        let w = self.width();
        ((self.lo as f64 + lo_bin as f64 * w) as f32, (self.lo as f64 + (hi_bin + 1) as f64 * w) as f32)
    }

    /// Expected squared quantisation error of uint8 codes over `[a, b]`:
    /// clipping error outside, Δ²/12 rounding error inside.
    pub fn mse_of(&self, a: f64, b: f64) -> f64 {
        let delta = (b - a) / 255.0;
        let mut e = 0.0;
        for (bin, &c) in self.counts.iter().enumerate() {
            if c == 0.0 {
                continue;
            }
            let x = self.center(bin);
            e += c * if x < a {
                (a - x).powi(2)
            } else if x > b {
                (x - b).powi(2)
            } else {
                delta * delta / 12.0
            };
        }
        e
    }

    /// The range `[α·lo, α·hi]` (α from 0.3 to 1) with the least expected error.
    pub fn mse_range(&self) -> (f32, f32) {
        let (lo, hi) = (self.lo.min(0.0) as f64, self.hi.max(0.0) as f64);
        let mut best = (f64::INFINITY, lo, hi);
        for step in 0..=70 {
            let alpha = 1.0 - step as f64 * 0.01;
            let e = self.mse_of(alpha * lo, alpha * hi);
            if e < best.0 {
                best = (e, alpha * lo, alpha * hi);
            }
        }
        (best.1 as f32, best.2 as f32)
    }

    /// TensorRT-style entropy calibration on |x|: the threshold whose 128-level
    /// quantised distribution has the least KL divergence from the clipped one.
    pub fn entropy_range(&self) -> (f32, f32) {
        let amax = self.lo.abs().max(self.hi.abs()) as f64;
        if amax == 0.0 {
            return (0.0, 0.0);
        }
        // Fold the signed histogram onto |x| with BINS bins over [0, amax].
        let mut abs = vec![0.0f64; BINS];
        for (b, &c) in self.counts.iter().enumerate() {
            let x = self.center(b).abs();
            abs[((x / amax * BINS as f64) as usize).min(BINS - 1)] += c;
        }
        const LEVELS: usize = 128;
        let mut best = (f64::INFINITY, BINS);
        for i in (LEVELS..=BINS).step_by(16) {
            let mut p: Vec<f64> = abs[..i].to_vec();
            p[i - 1] += abs[i..].iter().sum::<f64>();
            let mut q = vec![0.0f64; i];
            for l in 0..LEVELS {
                let (s, e) = (l * i / LEVELS, ((l + 1) * i / LEVELS).max(l * i / LEVELS + 1));
                let total: f64 = abs[s..e].iter().sum();
                let nonzero = abs[s..e].iter().filter(|&&c| c > 0.0).count();
                if nonzero > 0 {
                    for b in s..e {
                        if abs[b] > 0.0 {
                            q[b] = total / nonzero as f64;
                        }
                    }
                }
            }
            let kl = kl_divergence(&p, &q);
            if kl < best.0 {
                best = (kl, i);
            }
        }
        let t = (best.1 as f64 / BINS as f64 * amax) as f32;
        (self.lo.max(-t), self.hi.min(t))
    }
}

use crate::kernels::stats::kl_divergence;

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn gaussian_with_outlier() -> Histogram {
        // Deterministic bell-shaped sample in [-1, 1] plus one outlier at 20.
        let mut v: Vec<f32> = (0..20000)
            .map(|i| {
                let u = (i as f32 + 0.5) / 20000.0;
                let t = (u * 2.0 - 1.0) * 3.0;
                (t * t * t) / 27.0
            })
            .collect();
        v.push(20.0);
        let mut h = Histogram::new(-1.0, 20.0);
        h.add(&v);
        h
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn percentile_mse_and_entropy_clip_a_single_outlier() {
        let h = gaussian_with_outlier();
        let (lo, hi) = h.percentile_range(99.9);
        assert!(lo >= -1.01 && hi < 1.1, "percentile {lo}..{hi}");
        let (_, hi) = h.mse_range();
        assert!(hi < 20.0, "mse kept the outlier: {hi}");
        let (_, hi) = h.entropy_range();
        assert!(hi < 5.0, "entropy kept the outlier: {hi}");
        // MSE prefers the chosen range to the full one.
        let full = h.mse_of(-1.0, 20.0);
        let (a, b) = h.mse_range();
        assert!(h.mse_of(a as f64, b as f64) <= full);
    }
}
