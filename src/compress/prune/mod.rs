//! Pruning, the recipe section `"prune"`: weights set to exactly zero, chosen
//! by magnitude, by Wanda (|w|·‖x‖, the input's norm over the calibration
//! rows), or by reconstruction (SparseGPT-style: the kept weights are
//! updated to make up for the removed ones), unstructured or N:M. The
//! pruned model is standard ONNX: zeros are stored (gzip shrinks them; the
//! record also gives a sparse-encoded size), or with `"storage":
//! "sparse_initializer"` the weights are written as ONNX sparse initializers
//! where that is smaller.
//!
//! ```json
//! { "prune": { "method": "wanda", "sparsity": 0.5, "pattern": "unstructured",
//!              "scope": "layer", "exclude": {…}, "layers": {…} } }
//! ```

mod mask;
mod reconstruct;
pub mod single;
pub mod structured;
mod targets;

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::record::StepRecord;
use super::{Exclude, Method};
pub use crate::compress::input_stats::LayerStats;
use crate::error::{Result, SquishError};
use crate::ir::editor::Editor;
use crate::ir::Model;
use mask::Rule;
pub use targets::Target;

/// How weights are scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Criterion {
    Magnitude,
    Wanda,
    Sparsegpt,
}

/// Which zeros: any (`unstructured`), N of every M inputs kept
/// (`2:4`, `4:8`), or whole channels / attention heads (structured).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Pattern {
    #[default]
    #[serde(rename = "unstructured")]
    Unstructured,
    #[serde(rename = "2:4")]
    TwoFour,
    #[serde(rename = "4:8")]
    FourEight,
    #[serde(rename = "channels")]
    Channels,
    #[serde(rename = "heads")]
    Heads,
}

impl Pattern {
    /// `(kept, group)` of an N:M pattern.
    fn n_of_m(self) -> Option<(usize, usize)> {
        match self {
            Pattern::TwoFour => Some((2, 4)),
            Pattern::FourEight => Some((4, 8)),
            _ => None,
        }
    }

    fn is_structured(self) -> bool {
        matches!(self, Pattern::Channels | Pattern::Heads)
    }

    /// What a sparsity is a share of.
    fn unit(self) -> &'static str {
        match self {
            Pattern::Channels => "channels",
            Pattern::Heads => "attention heads",
            _ => "weights",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Pattern::Unstructured => "unstructured",
            Pattern::TwoFour => "2:4",
            Pattern::FourEight => "4:8",
            Pattern::Channels => "channels",
            Pattern::Heads => "heads",
        }
    }
}

/// One sparsity target for many layers (`global`), or each layer its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    #[default]
    Layer,
    Global,
}

/// How pruned weights are written to the ONNX file: with their zeros
/// (`dense`, every runtime), or as `sparse_initializer` (values and int64
/// indices) where that is smaller, which onnxruntime densifies at load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Storage {
    #[default]
    Dense,
    SparseInitializer,
}

impl Storage {
    fn is_dense(&self) -> bool {
        *self == Storage::Dense
    }
}

/// Settings a layer may override.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerPrune {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<Criterion>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sparsity: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pattern: Option<Pattern>,
}

fn default_method() -> Criterion {
    Criterion::Magnitude
}
fn default_damping() -> f64 {
    0.01
}
fn default_block() -> usize {
    128
}
fn is_false(v: &bool) -> bool {
    !*v
}

/// The `"prune"` section of a recipe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Section {
    #[serde(default = "default_method")]
    pub method: Criterion,
    /// Share of each layer's weights set to zero (unstructured); implied by N:M.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sparsity: Option<f64>,
    #[serde(default)]
    pub pattern: Pattern,
    #[serde(default)]
    pub scope: Scope,
    #[serde(default, skip_serializing_if = "Exclude::is_empty")]
    pub exclude: Exclude,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub layers: BTreeMap<String, LayerPrune>,
    /// The final classifier (the last linear layer before the outputs) is
    /// left dense unless this is set.
    #[serde(default, skip_serializing_if = "is_false")]
    pub include_classifier: bool,
    /// Embedding tables (Gather) are left dense unless this is set.
    #[serde(default, skip_serializing_if = "is_false")]
    pub include_embeddings: bool,
    #[serde(default, skip_serializing_if = "Storage::is_dense")]
    pub storage: Storage,
    /// Reconstruction: added to the Hessian's diagonal, as a share of its mean.
    #[serde(default = "default_damping")]
    pub damping: f64,
    /// Reconstruction: input columns per block (masks are chosen per block).
    #[serde(default = "default_block")]
    pub block_size: usize,
}

/// A layer's settings, resolved.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Resolved {
    pub method: Criterion,
    pub sparsity: f64,
    pub pattern: Pattern,
    /// Part of the global pool (scope global, no per-layer sparsity).
    pub global: bool,
}

fn err(detail: impl Into<String>) -> SquishError {
    SquishError::Recipe(format!("section 'prune': {}", detail.into()))
}

impl Section {
    /// Parses the section and checks what needs no model.
    pub fn from_value(v: serde_json::Value) -> Result<Section> {
        let s: Section = serde_json::from_value(v).map_err(|e| err(e.to_string()))?;
        s.check_settings(None, s.method, s.sparsity, s.pattern)?;
        for (node, l) in &s.layers {
            if l.pattern.is_some() && (s.pattern.is_structured() || l.pattern.is_some_and(Pattern::is_structured)) {
                return Err(err(format!(
                    "layers.{node}.pattern: structured pruning (\"channels\", \"heads\") is set for the whole section, not per layer (use \"steps\")"
                )));
            }
            s.check_settings(Some(node), l.method.unwrap_or(s.method), l.sparsity.or(s.sparsity), l.pattern.unwrap_or(s.pattern))?;
        }
        if !(0.0..=1.0).contains(&s.damping) {
            return Err(err(format!("damping must be in [0, 1], got {}", s.damping)));
        }
        if s.block_size == 0 {
            return Err(err("block_size must be positive"));
        }
        if s.scope == Scope::Global && s.method == Criterion::Sparsegpt {
            return Err(err("scope \"global\" needs scores comparable across layers; sparsegpt chooses its masks block by block (use scope \"layer\")"));
        }
        if s.storage != Storage::Dense && s.pattern.is_structured() {
            return Err(err(format!("storage \"sparse_initializer\" stores zeros compactly; pattern \"{}\" leaves none (it removes them)", s.pattern.name())));
        }
        Ok(s)
    }

    fn check_settings(&self, node: Option<&str>, method: Criterion, sparsity: Option<f64>, pattern: Pattern) -> Result<()> {
        let at = node.map_or(String::new(), |n| format!("layers.{n}."));
        if pattern.is_structured() && method == Criterion::Sparsegpt {
            return Err(err(format!("{at}method \"sparsegpt\" reconstructs single weights; pattern \"{}\" takes \"magnitude\" or \"wanda\"", pattern.name())));
        }
        if pattern.is_structured() && self.scope == Scope::Global {
            return Err(err(format!("scope \"global\" with pattern \"{}\": each dependency group is ranked on its own (use scope \"layer\")", pattern.name())));
        }
        match (sparsity, pattern.n_of_m()) {
            (Some(s), _) if !(0.0..1.0).contains(&s) => Err(err(format!("{at}sparsity must be in [0, 1), got {s}"))),
            (None, None) => Err(err(format!("{at}pattern \"{}\" needs \"sparsity\" (the share of {} removed, e.g. 0.5)", pattern.name(), pattern.unit()))),
            (Some(s), Some((n, m))) if (s - (m - n) as f64 / m as f64).abs() > 1e-9 => {
                Err(err(format!("{at}sparsity {s} contradicts pattern \"{}\", which zeroes {} of every {m}", pattern.name(), m - n)))
            }
            _ => {
                let _ = method;
                Ok(())
            }
        }
    }

    /// Every node the section names exists.
    fn check_names(&self, model: &Model) -> Result<()> {
        for name in self.layers.keys().chain(&self.exclude.nodes) {
            if !model.graph.nodes.iter().any(|n| &n.name == name) {
                return Err(err(format!("node '{name}' does not exist in the model")));
            }
        }
        Ok(())
    }

    /// The settings for a node: its override over the section's.
    pub fn settings_for(&self, node: &str) -> Resolved {
        let over = self.layers.get(node);
        let pattern = over.and_then(|o| o.pattern).unwrap_or(self.pattern);
        let implied = pattern.n_of_m().map(|(n, m)| (m - n) as f64 / m as f64);
        let sparsity = over.and_then(|o| o.sparsity).or(self.sparsity).or(implied).unwrap_or(0.0);
        let method = over.and_then(|o| o.method).unwrap_or(self.method);
        let global = self.scope == Scope::Global && over.is_none_or(|o| o.sparsity.is_none() && o.pattern.is_none());
        Resolved { method, sparsity, pattern, global }
    }
}

impl Method for Section {
    fn name(&self) -> &'static str {
        "prune"
    }

    fn check(&self, model: &Model) -> Result<()> {
        self.check_names(model)?;
        if self.pattern.is_structured() {
            return Ok(());
        }
        for t in targets::find(model, self).0 {
            if let Some((_, m)) = t.settings.pattern.n_of_m() {
                if t.cols % m != 0 {
                    return Err(err(format!(
                        "node '{}' ({}) cannot take pattern \"{}\": its {} inputs per output are not a multiple of {m}",
                        t.node,
                        t.op_type,
                        t.settings.pattern.name(),
                        t.cols
                    )));
                }
            }
        }
        Ok(())
    }

    /// Pruning gathers its statistics anew each time (`_cache` unused).
    fn apply(&self, model: Cow<'_, Model>, inputs: &crate::compress::StepInputs, record: &mut StepRecord, _cache: &crate::compress::Cache) -> Result<Model> {
        let calibration = inputs.calibration;
        self.check(&model)?;
        if self.pattern.is_structured() {
            return structured::apply(model, self, calibration, record);
        }
        let (found, kept) = targets::find(&model, self);
        for (node, reason) in kept {
            let n = model.graph.nodes.iter().find(|n| n.name == node).expect("found in the graph");
            record.kept(n, reason);
        }
        let stats = targets::gather_stats(&model, &found, calibration)?;
        let (mut shell, graph) = Model::split(model);
        let mut ed = Editor::new(graph);
        for i in 0..ed.nodes().len() {
            ed.hoist_constant(i);
        }
        let mut pruned = targets::load_weights(&ed, &found)?;
        let global = global_threshold(&found, &pruned, &stats, self.settings_for("").sparsity);
        for ((t, w), st) in found.iter().zip(&mut pruned).zip(&stats) {
            let rule = match (t.settings.pattern.n_of_m(), t.settings.global, global) {
                (Some((n, m)), _, _) => Rule::NofM { n, m },
                (None, true, Some(th)) => Rule::Below(th),
                (None, _, _) if t.settings.method == Criterion::Magnitude => Rule::PerMatrix(t.settings.sparsity),
                (None, _, _) => Rule::PerRow(t.settings.sparsity),
            };
            targets::prune_one(t, w, st.as_ref(), rule, self)?;
        }
        targets::write_back(&mut ed, &found, pruned, record);
        shell.graph = ed.finish();
        if self.storage == Storage::SparseInitializer {
            shell.graph.sparse_stored.extend(found.iter().map(|t| t.weight.clone()));
        }
        Ok(shell)
    }

    /// Unstructured: ¾, ½ and ¼ of the node's sparsity. N:M and structured
    /// patterns have no milder form than leaving the layer dense.
    fn milder(&self, _model: &Model, node: &str) -> Vec<crate::compress::Rung> {
        let r = self.settings_for(node);
        if self.pattern.is_structured() || r.pattern != Pattern::Unstructured || r.sparsity <= 0.0 {
            return Vec::new();
        }
        [0.75, 0.5, 0.25]
            .iter()
            .map(|f| {
                let s = (r.sparsity * f * 1000.0).round() / 1000.0;
                crate::compress::Rung { label: format!("sparsity {s}"), layer: serde_json::json!({ "sparsity": s }) }
            })
            .collect()
    }

    fn set_rung(&mut self, node: &str, rung: &crate::compress::Rung) -> Result<()> {
        let over: LayerPrune = serde_json::from_value(rung.layer.clone()).map_err(|e| err(format!("layers.{node}: {e}")))?;
        let slot = self.layers.entry(node.to_string()).or_default();
        slot.sparsity = over.sparsity.or(slot.sparsity);
        slot.pattern = over.pattern.or(slot.pattern);
        self.exclude.nodes.retain(|n| n != node);
        Ok(())
    }

    fn exclude(&mut self, node: &str) {
        self.layers.remove(node);
        if !self.exclude.nodes.iter().any(|n| n == node) {
            self.exclude.nodes.push(node.to_string());
        }
    }
}

/// One threshold over the scores of every layer in the global pool.
fn global_threshold(found: &[Target], weights: &[targets::Weights], stats: &[Option<LayerStats>], share: f64) -> Option<f32> {
    let mut pool: Vec<f32> = Vec::new();
    for ((t, w), st) in found.iter().zip(weights).zip(stats) {
        if t.settings.global && t.settings.pattern.n_of_m().is_none() {
            pool.extend(targets::scores(t, w, st.as_ref()));
        }
    }
    (!pool.is_empty()).then(|| mask::threshold(&mut pool, share))
}
