//! Optimisers and learning-rate schedules.

use ndarray::{ArrayD, Zip};
use serde::{Deserialize, Serialize};

use super::tape::Param;

/// `"optimizer"` in a distill section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Optimizer {
    /// Adam with decoupled weight decay (AdamW), β = (0.9, 0.999), ε = 1e-8.
    #[default]
    Adam,
    /// SGD with momentum 0.9 (and decoupled weight decay).
    Sgd,
}

/// `"schedule"`: how the learning rate moves over the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    Constant,
    /// Half a cosine from the rate to zero over the run.
    #[default]
    Cosine,
    /// A straight line from the rate to zero.
    Linear,
}

impl Schedule {
    /// The rate at `step` of `total`, after `warmup` steps rising linearly.
    pub fn rate(self, base: f32, step: usize, total: usize, warmup: usize) -> f32 {
        if step < warmup {
            return base * (step + 1) as f32 / warmup as f32;
        }
        let span = total.saturating_sub(warmup).max(1) as f32;
        let t = ((step - warmup) as f32 / span).min(1.0);
        match self {
            Schedule::Constant => base,
            Schedule::Cosine => base * 0.5 * (1.0 + (std::f32::consts::PI * t).cos()),
            Schedule::Linear => base * (1.0 - t),
        }
    }
}

const BETA1: f32 = 0.9;
const BETA2: f32 = 0.999;
const EPS: f32 = 1e-8;
const MOMENTUM: f32 = 0.9;

/// Per-weight optimiser state.
pub struct State {
    kind: Optimizer,
    first: Vec<ArrayD<f32>>,
    second: Vec<ArrayD<f32>>,
    steps: i32,
}

impl State {
    pub fn new(kind: Optimizer, params: &[Param]) -> State {
        let zeros = || params.iter().map(|p| ArrayD::zeros(p.value.raw_dim())).collect::<Vec<_>>();
        let second = if kind == Optimizer::Adam { zeros() } else { Vec::new() };
        State { kind, first: zeros(), second, steps: 0 }
    }

    /// One update of every weight from its gradient; masked entries stay zero.
    pub fn update(&mut self, params: &mut [Param], grads: &[ArrayD<f32>], rate: f32, weight_decay: f32) {
        self.steps += 1;
        let (c1, c2) = (1.0 - BETA1.powi(self.steps), 1.0 - BETA2.powi(self.steps));
        for (i, (p, g)) in params.iter_mut().zip(grads).enumerate() {
            let decay = 1.0 - rate * weight_decay;
            match self.kind {
                Optimizer::Adam => {
                    Zip::from(&mut p.value).and(&mut self.first[i]).and(&mut self.second[i]).and(g).for_each(|w, m, v, &g| {
                        *m = BETA1 * *m + (1.0 - BETA1) * g;
                        *v = BETA2 * *v + (1.0 - BETA2) * g * g;
                        *w = *w * decay - rate * (*m / c1) / ((*v / c2).sqrt() + EPS);
                    });
                }
                Optimizer::Sgd => {
                    Zip::from(&mut p.value).and(&mut self.first[i]).and(g).for_each(|w, m, &g| {
                        *m = MOMENTUM * *m + g;
                        *w = *w * decay - rate * *m;
                    });
                }
            }
            p.apply_mask();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_start_at_the_rate_and_end_near_zero() {
        assert_eq!(Schedule::Cosine.rate(0.1, 0, 100, 0), 0.1);
        assert!(Schedule::Cosine.rate(0.1, 100, 100, 0) < 1e-6);
        assert!((Schedule::Linear.rate(0.1, 50, 100, 0) - 0.05).abs() < 1e-6);
        assert_eq!(Schedule::Constant.rate(0.1, 99, 100, 0), 0.1);
        assert!((Schedule::Cosine.rate(0.1, 0, 100, 10) - 0.01).abs() < 1e-7, "warm-up starts at rate/warmup");
    }
}
