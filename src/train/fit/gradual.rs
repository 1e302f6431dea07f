//! Gradual magnitude pruning during training (Zhu & Gupta, 2017): the
//! sparsity of every weight matrix rises along a cubic from the start
//! epoch to the end epoch, pruning the smallest weights of each layer at the
//! end of every epoch in between; the pruned entries then stay zero.

use serde::{Deserialize, Serialize};

use crate::error::{Result, SquishError};
use crate::train::tape::Param;

/// `"gradual": {"sparsity": 0.9, "start": 0.0, "end": 0.75}` in a distill
/// section: `start` and `end` are shares of the epochs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gradual {
    pub sparsity: f64,
    #[serde(default)]
    pub start: f64,
    #[serde(default = "default_end")]
    pub end: f64,
}

fn default_end() -> f64 {
    0.75
}

impl Gradual {
    pub fn check(&self) -> Result<()> {
        let bad = |key: &str, why: &str| Err(SquishError::Recipe(format!("key 'distill.gradual.{key}': {why}")));
        if !(0.0..1.0).contains(&self.sparsity) {
            return bad("sparsity", "must be in [0, 1)");
        }
        if !(0.0..1.0).contains(&self.start) {
            return bad("start", "is a share of the epochs in [0, 1)");
        }
        if !(self.end > self.start && self.end <= 1.0) {
            return bad("end", "is a share of the epochs after start, at most 1");
        }
        Ok(())
    }

    /// The epoch (1-based, counted as finished) from which the final sparsity holds.
    pub fn end_epoch(&self, epochs: usize) -> usize {
        ((self.end * epochs as f64).round() as usize).clamp(1, epochs)
    }

    /// The sparsity to reach after `epoch` of `epochs` epochs.
    pub fn sparsity_after(&self, epoch: usize, epochs: usize) -> f64 {
        let start = (self.start * epochs as f64).round() as usize;
        let end = self.end_epoch(epochs).max(start + 1);
        if epoch <= start {
            return 0.0;
        }
        let t = ((epoch - start) as f64 / (end - start) as f64).min(1.0);
        self.sparsity * (1.0 - (1.0 - t).powi(3))
    }
}

/// Prunes each prunable weight to `sparsity` by magnitude (its own
/// smallest values; ties by position) and keeps those entries at zero.
pub fn prune_to(params: &mut [Param], sparsity: f64) {
    for p in params.iter_mut().filter(|p| p.prunable) {
        let n = p.value.len();
        let k = ((sparsity * n as f64).round() as usize).min(n);
        let mut order: Vec<usize> = (0..n).collect();
        let values: Vec<f32> = p.value.iter().copied().collect();
        order.sort_by(|&a, &b| values[a].abs().total_cmp(&values[b].abs()).then(a.cmp(&b)));
        let mut mask = p.frozen_zeros.take().unwrap_or_else(|| vec![false; n]);
        for &i in &order[..k] {
            mask[i] = true;
        }
        p.frozen_zeros = Some(mask);
        p.apply_mask();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_rises_along_a_cubic_to_the_final_sparsity() {
        let g = Gradual { sparsity: 0.9, start: 0.0, end: 0.5 };
        assert_eq!(g.sparsity_after(0, 100), 0.0);
        assert!((g.sparsity_after(25, 100) - 0.9 * (1.0 - 0.125)).abs() < 1e-12);
        assert_eq!(g.sparsity_after(50, 100), 0.9);
        assert_eq!(g.sparsity_after(90, 100), 0.9);
        assert!(g.sparsity_after(1, 100) > 0.0 && g.sparsity_after(1, 100) < g.sparsity_after(2, 100));
        assert_eq!(g.end_epoch(100), 50);
        assert!(Gradual { sparsity: 0.9, start: 0.5, end: 0.5 }.check().is_err());
        assert!(Gradual { sparsity: 1.0, start: 0.0, end: 0.5 }.check().is_err());
    }
}
