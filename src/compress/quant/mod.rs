//! Quantisation, the recipe section `"quantize"`: `Model × Section → Model`
//! plus its entries in the record. Each scheme rewrites the graph into
//! standard ONNX (or onnxruntime's `com.microsoft` ops) so that the result
//! runs in onnxruntime as well as in Squish.

pub mod params;
mod rewrite;

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::record::StepRecord;
use super::{Exclude, Method};
pub use crate::compress::calibrate::{Calibration, CalibrationMethod};
use crate::error::{Result, SquishError};
use crate::formats::data::feeds::Feed;
use crate::ir::{Model, Node};

/// What to do with a layer's weights (and, for dynamic/static, activations).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scheme {
    /// Leave the layer as it is.
    Fp32,
    /// Weights stored as float16 (computed in fp32 after a Cast).
    Fp16,
    /// Weights stored as bfloat16.
    Bf16,
    /// int8 weights, `DequantizeLinear` + float op.
    Int8Weight,
    /// 4-bit weights (16 levels), `DequantizeLinear` + float op: mostly a
    /// stress test of a model's sensitivity.
    Int4Weight,
    /// int8 weights, activations quantised at run time
    /// (`DynamicQuantizeLinear` + `MatMulInteger`/`ConvInteger`).
    Int8Dynamic,
    /// int8 weights and activations with ranges from calibration (QDQ).
    Int8Static,
    /// Block-wise 4-bit weights (MatMul only).
    Int4Block,
    /// Block-wise 8-bit weights (MatMul only).
    Int8Block,
}

impl Scheme {
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Fp32 => "fp32",
            Scheme::Fp16 => "fp16",
            Scheme::Bf16 => "bf16",
            Scheme::Int8Weight => "int8_weight",
            Scheme::Int4Weight => "int4_weight",
            Scheme::Int8Dynamic => "int8_dynamic",
            Scheme::Int8Static => "int8_static",
            Scheme::Int4Block => "int4_block",
            Scheme::Int8Block => "int8_block",
        }
    }
}

/// How block-wise weights are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockFormat {
    /// `com.microsoft.MatMulNBits` (onnxruntime, onnxruntime-web).
    Matmulnbits,
    /// Standard opset-21 blocked `DequantizeLinear` + MatMul.
    Qdq,
}

/// Settings that can be given for the whole model and overridden per layer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerSettings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheme: Option<Scheme>,
    /// One scale per output channel (default true) or one per tensor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_channel: Option<bool>,
    /// Zero point fixed at the middle of the range (default true for weights).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub symmetric: Option<bool>,
    /// Block size for `int4_block`/`int8_block`: 32, 64 or 128 (default 32).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block_size: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<BlockFormat>,
}

/// The `"quantize"` section of a recipe (before recipe version 1, the whole
/// recipe): settings for the whole model, exclusions and per-layer overrides.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Section {
    #[serde(flatten)]
    pub defaults: LayerSettings,
    /// Node names or op types left in fp32.
    #[serde(default, skip_serializing_if = "Exclude::is_empty")]
    pub exclude: Exclude,
    /// Per-node settings (mixed precision), by node name.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub layers: std::collections::BTreeMap<String, LayerSettings>,
    #[serde(default)]
    pub calibration: Calibration,
}

impl Section {
    /// Parses the section (a JSON value) and checks what needs no model.
    pub fn from_value(v: serde_json::Value) -> Result<Section> {
        let r: Section = serde_json::from_value(v).map_err(|e| SquishError::Recipe(format!("section 'quantize': {e}")))?;
        if r.defaults.scheme.is_none() && r.layers.values().all(|l| l.scheme.is_none()) {
            return Err(SquishError::Recipe("section 'quantize': no scheme given (set \"scheme\", e.g. \"int8_dynamic\")".into()));
        }
        let p = r.calibration.percentile;
        if !(50.0..=100.0).contains(&p) {
            return Err(SquishError::Recipe(format!("section 'quantize': calibration.percentile must be in [50, 100], got {p}")));
        }
        for (at, b) in std::iter::once(("", r.defaults.block_size)).chain(r.layers.iter().map(|(n, l)| (n.as_str(), l.block_size))) {
            if let Some(b) = b.filter(|b| ![32, 64, 128].contains(b)) {
                let at = if at.is_empty() { String::new() } else { format!("layers.{at}.") };
                return Err(SquishError::Recipe(format!("section 'quantize': {at}block_size must be 32, 64 or 128, got {b}")));
            }
        }
        Ok(r)
    }

    /// The settings for `node`: its override merged over the defaults; `Fp32`
    /// when excluded.
    fn settings_for(&self, node: &Node) -> Resolved {
        let over = self.layers.get(&node.name);
        let pick = |f: fn(&LayerSettings) -> Option<bool>, default: bool| over.and_then(f).or(f(&self.defaults)).unwrap_or(default);
        let excluded = self.exclude.nodes.contains(&node.name) || self.exclude.op_types.contains(&node.op_type);
        let scheme = if excluded && over.and_then(|o| o.scheme).is_none() {
            Scheme::Fp32
        } else {
            over.and_then(|o| o.scheme).or(self.defaults.scheme).unwrap_or(Scheme::Fp32)
        };
        Resolved {
            scheme,
            per_channel: pick(|s| s.per_channel, true),
            symmetric: pick(|s| s.symmetric, true),
            block_size: over.and_then(|o| o.block_size).or(self.defaults.block_size).unwrap_or(32),
            format: over.and_then(|o| o.format).or(self.defaults.format).unwrap_or(BlockFormat::Matmulnbits),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Resolved {
    scheme: Scheme,
    per_channel: bool,
    symmetric: bool,
    block_size: usize,
    format: BlockFormat,
}

impl Method for Section {
    fn name(&self) -> &'static str {
        "quantize"
    }

    /// Node names and per-layer schemes against the model, before any work.
    fn check(&self, model: &Model) -> Result<()> {
        for name in self.layers.keys().chain(&self.exclude.nodes) {
            if !model.graph.nodes.iter().any(|n| &n.name == name) {
                return Err(SquishError::Recipe(format!("section 'quantize': node '{name}' does not exist in the model")));
            }
        }
        for n in &model.graph.nodes {
            let settings = self.settings_for(n);
            if let Some(s) = self.layers.get(&n.name).and_then(|o| o.scheme).filter(|_| !rewrite::accepts(n, settings.scheme)) {
                let why = rewrite::supported_for(&n.op_type);
                return Err(SquishError::Recipe(format!("section 'quantize': node '{}' ({}) cannot take scheme {}: {why}", n.name, n.op_type, s.name())));
            }
            if ![32, 64, 128].contains(&settings.block_size) {
                return Err(SquishError::Recipe(format!("section 'quantize': block_size must be 32, 64 or 128, got {}", settings.block_size)));
            }
        }
        Ok(())
    }

    /// Consumes the model, so that each weight's float32 copy is freed as
    /// soon as its compressed form exists (peak memory in the browser).
    /// `calibration` is required when any layer uses `int8_static`.
    fn apply(&self, model: Cow<'_, Model>, calibration: &[Feed], record: &mut StepRecord) -> Result<Model> {
        self.check(&model)?;
        // Calibration runs the model as given (before any rewrite).
        let static_nodes: Vec<usize> = (model.graph.nodes.iter().enumerate())
            .filter(|(_, n)| self.settings_for(n).scheme == Scheme::Int8Static && rewrite::accepts(n, Scheme::Int8Static))
            .map(|(i, _)| i)
            .collect();
        if !static_nodes.is_empty() && calibration.is_empty() {
            return Err(SquishError::Recipe("section 'quantize': scheme int8_static needs calibration inputs (none were given)".into()));
        }
        let runnable = (!static_nodes.is_empty()).then(|| Model::clone(&model));
        let (mut shell, graph) = Model::split(model);
        let mut out = rewrite::Rewriter::new(graph, shell.opsets.clone());
        let ranges = match runnable {
            None => Default::default(),
            Some(m) => {
                let wanted = rewrite::static_activation_names(out.editor(), &static_nodes);
                crate::compress::calibrate::ranges(m, &wanted, calibration, &self.calibration)?
            }
        };
        let plan: Vec<(usize, Resolved)> = out.editor().nodes().iter().enumerate().map(|(i, n)| (i, self.settings_for(n))).collect();
        for (i, settings) in plan {
            out.apply(i, settings, &ranges, record)?;
        }
        let (graph, opsets) = out.finish();
        shell.graph = graph;
        shell.opsets = opsets;
        Ok(shell)
    }

    /// Keeps `node` in fp32: added to `exclude.nodes`, any override dropped.
    fn exclude(&mut self, node: &str) {
        self.layers.remove(node);
        if !self.exclude.nodes.iter().any(|n| n == node) {
            self.exclude.nodes.push(node.to_string());
        }
    }
}
