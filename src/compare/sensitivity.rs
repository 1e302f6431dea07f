//! Sensitivity: for each unit (layer) a recipe's steps compress, the output
//! error with only that unit compressed and with only that unit left as it
//! is, ranked, and the exclusion list, which goes into each step's
//! `exclude.nodes`. It works through the method interface (`Method::exclude`)
//! and the record's units, so it applies to every method.

use std::sync::Arc;

use serde::Serialize;

use super::metrics::argmax;
use super::Feed;
use crate::compress::{compress, Recipe, Unit};
use crate::error::Result;
use crate::ir::Model;
use crate::runtime::Session;
use crate::tensor::Tensor;

/// Output error of one variant against the original.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Outcome {
    /// Mean over float outputs of noise energy / signal energy (0 = identical).
    pub error: f64,
    /// Top-1 agreement on the first output whose last axis has ≥ 2 classes.
    pub agreement: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LayerSensitivity {
    /// The recipe step and method that compress this unit.
    pub step: usize,
    pub method: String,
    pub node: String,
    pub op_type: String,
    pub only_this: Outcome,
    pub restored: Outcome,
    /// Error removed by keeping this layer in fp32 (baseline − restored).
    pub restore_gain: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Sensitivity {
    /// The whole recipe applied.
    pub baseline: Outcome,
    /// Most harmful first (largest restore gain).
    pub ranked: Vec<LayerSensitivity>,
    /// The suggested exclusions (node names; each goes into the `exclude.nodes`
    /// of the step that compressed it: `Recipe::excluding`, `suggested_recipe`).
    pub exclusion: Vec<String>,
    /// The same, with their steps.
    pub exclusion_units: Vec<(usize, String)>,
    pub rule: String,
}

/// The original's outputs on every feed, and what variants are measured on.
pub struct Study {
    original: Arc<Model>,
    recipe: Recipe,
    calibration: Vec<Feed>,
    feeds: Vec<Feed>,
    reference: Vec<Vec<Tensor>>,
    /// Output index and class count used for agreement.
    class_output: Option<usize>,
}

impl Study {
    pub fn new(original: impl Into<Arc<Model>>, recipe: Recipe, calibration: Vec<Feed>, feeds: Vec<Feed>) -> Result<Study> {
        let original = original.into();
        let session = Session::new(Arc::clone(&original))?;
        let mut reference = Vec::with_capacity(feeds.len());
        for f in &feeds {
            reference.push(session.run(f.clone())?.outputs.into_iter().map(|(_, t)| t).collect::<Vec<_>>());
        }
        let class_output = reference.first().and_then(|outs| class_output(outs));
        Ok(Study { original, recipe, calibration, feeds, reference, class_output })
    }

    /// The whole recipe applied (one compression): the units it compresses,
    /// in graph order, and the output error it causes.
    pub fn baseline(&self) -> Result<(Vec<Unit>, Outcome)> {
        let (model, record) = compress(&self.original, &self.recipe, &self.calibration)?;
        Ok((record.units(), self.score(model)?))
    }

    /// Both variants for one unit. `all` lists every compressed unit.
    pub fn layer(&self, unit: &Unit, all: &[Unit], baseline: &Outcome) -> Result<LayerSensitivity> {
        let others: Vec<(usize, &str)> = all.iter().filter(|u| *u != unit).map(|u| (u.step, u.node.as_str())).collect();
        let only_this = self.measure(&self.recipe.excluding(&others))?;
        let restored = self.measure(&self.recipe.excluding(&[(unit.step, unit.node.as_str())]))?;
        Ok(LayerSensitivity {
            step: unit.step,
            method: unit.method.clone(),
            node: unit.node.clone(),
            op_type: unit.op_type.clone(),
            only_this,
            restored,
            restore_gain: baseline.error - restored.error,
        })
    }

    fn measure(&self, recipe: &Recipe) -> Result<Outcome> {
        self.score(compress(&self.original, recipe, &self.calibration)?.0)
    }

    /// Output error and agreement of a compressed variant against the original.
    fn score(&self, model: Model) -> Result<Outcome> {
        let session = Session::new(model)?;
        let mut got = Vec::with_capacity(self.feeds.len());
        for f in &self.feeds {
            got.push(session.run(f.clone())?.outputs.into_iter().map(|(_, t)| t).collect::<Vec<_>>());
        }
        Ok(outcome(&self.reference, &got, self.class_output))
    }
}

/// The output that agreement is measured on: the first float output whose
/// last axis has ≥ 2 classes.
pub fn class_output(outputs: &[Tensor]) -> Option<usize> {
    outputs.iter().position(|t| t.dtype().is_float() && t.shape().len() >= 2 && t.shape().last().is_some_and(|&c| c >= 2))
}

/// Output error (mean over float outputs of noise / signal energy) and
/// top-1 agreement of `got` against `reference` (per feed, every output).
pub fn outcome(reference: &[Vec<Tensor>], got: &[Vec<Tensor>], class_output: Option<usize>) -> Outcome {
    let (mut error_sum, mut error_n, mut agree, mut total) = (0.0, 0usize, 0usize, 0usize);
    let mut energy = vec![crate::kernels::stats::ErrorEnergy::default(); reference.first().map_or(0, |r| r.len())];
    for (g_all, want) in got.iter().zip(reference) {
        for (j, (g, w)) in g_all.iter().zip(want).enumerate() {
            if !w.dtype().is_float() || g.shape() != w.shape() {
                continue;
            }
            let (gv, wv) = (g.to_f64_vec(), w.to_f64_vec());
            energy[j].add_all(&wv, &gv);
            if Some(j) == class_output {
                let c = *w.shape().last().unwrap_or(&1);
                for (rw, rg) in wv.chunks(c).zip(gv.chunks(c)) {
                    agree += (argmax(rw) == argmax(rg)) as usize;
                    total += 1;
                }
            }
        }
    }
    for e in energy.iter().filter(|e| e.signal > 0.0 || e.noise > 0.0) {
        // Noise on an all-zero reference output is no fraction of anything.
        error_sum += if e.signal > 0.0 { e.ratio() } else { f64::INFINITY };
        error_n += 1;
    }
    Outcome { error: if error_n == 0 { 0.0 } else { error_sum / error_n as f64 }, agreement: (total > 0).then(|| agree as f64 / total as f64) }
}

pub const RULE: &str = "most harmful layers first (largest error removed by restoring the layer alone), \
     while each removes > 1% of the error, until half of the error is removed; \
     at most a quarter of the compressed layers (at least one)";

/// Ranks layers and picks the exclusion list (see `RULE`).
pub fn summarise(baseline: Outcome, mut layers: Vec<LayerSensitivity>) -> Sensitivity {
    layers.sort_by(|a, b| b.restore_gain.total_cmp(&a.restore_gain).then(b.only_this.error.total_cmp(&a.only_this.error)));
    let cap = layers.len().div_ceil(4).max(1);
    let mut exclusion_units = Vec::new();
    let mut removed = 0.0;
    for l in &layers {
        if exclusion_units.len() >= cap || removed >= 0.5 * baseline.error || l.restore_gain <= 0.01 * baseline.error {
            break;
        }
        removed += l.restore_gain;
        exclusion_units.push((l.step, l.node.clone()));
    }
    let exclusion = exclusion_units.iter().map(|(_, n)| n.clone()).collect();
    Sensitivity { baseline, ranked: layers, exclusion, exclusion_units, rule: RULE.into() }
}

/// The recipe with the study's suggested exclusions written into its steps.
pub fn suggested_recipe(recipe: &Recipe, s: &Sensitivity) -> Recipe {
    recipe.excluding(&s.exclusion_units.iter().map(|(step, n)| (*step, n.as_str())).collect::<Vec<_>>())
}

/// The whole study at once (CLI and tests); the page calls `Study::layer`
/// one layer at a time to show progress.
pub fn run(study: &Study, progress: super::Progress<'_>) -> Result<Sensitivity> {
    let (all, baseline) = study.baseline()?;
    let mut out = Vec::with_capacity(all.len());
    for (i, unit) in all.iter().enumerate() {
        progress("sensitivity", i, all.len());
        out.push(study.layer(unit, &all, &baseline)?);
    }
    Ok(summarise(baseline, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(node: &str, gain: f64) -> LayerSensitivity {
        let o = Outcome { error: 0.0, agreement: None };
        LayerSensitivity { step: 0, method: "quantize".into(), node: node.into(), op_type: "MatMul".into(), only_this: o, restored: o, restore_gain: gain }
    }

    #[test]
    fn exclusion_rule_by_hand() {
        let base = Outcome { error: 1.0, agreement: None };
        // 8 layers → at most 2. Gains 0.3, 0.15 reach 0.45 < 0.5 → both, cap stops.
        let ls =
            vec![layer("a", 0.005), layer("b", 0.3), layer("c", 0.15), layer("d", 0.1), layer("e", 0.0), layer("f", 0.0), layer("g", 0.0), layer("h", 0.0)];
        let s = summarise(base, ls);
        assert_eq!(s.ranked[0].node, "b");
        assert_eq!(s.exclusion, vec!["b", "c"]);
        // One layer removing 60% is enough on its own.
        let s = summarise(base, vec![layer("x", 0.6), layer("y", 0.3), layer("z", 0.2), layer("w", 0.1), layer("v", 0.1)]);
        assert_eq!(s.exclusion, vec!["x"]);
        // Gains at or below 1% of the error are never suggested.
        let s = summarise(base, vec![layer("x", 0.01), layer("y", 0.0)]);
        assert!(s.exclusion.is_empty());
    }
}
