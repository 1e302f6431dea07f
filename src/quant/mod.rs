//! Quantisation: `Model × Recipe → Model` plus a `Record` of every change.
//! Each scheme rewrites the graph into standard ONNX (or onnxruntime's
//! `com.microsoft` ops) so that the result runs in onnxruntime as well as in
//! Squish.

pub mod calibrate;
pub mod params;
mod rewrite;

use serde::{Deserialize, Serialize};

use crate::error::{Result, SquishError};
use crate::graph::{Model, Node};
use crate::tensor::Tensor;

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

/// Calibration method for static quantisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CalibrationMethod {
    Minmax,
    Percentile,
    Entropy,
    Mse,
}

/// Settings that can be given for the whole model and overridden per layer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerSettings {
    pub scheme: Option<Scheme>,
    /// One scale per output channel (default true) or one per tensor.
    pub per_channel: Option<bool>,
    /// Zero point fixed at the middle of the range (default true for weights).
    pub symmetric: Option<bool>,
    /// Block size for `int4_block`/`int8_block`: 32, 64 or 128 (default 32).
    pub block_size: Option<usize>,
    pub format: Option<BlockFormat>,
}

/// A compression recipe (the JSON format shared by the CLI, the page and the widget).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    #[serde(flatten)]
    pub defaults: LayerSettings,
    /// Node names or op types left in fp32.
    #[serde(default)]
    pub exclude: Exclude,
    /// Per-node settings (mixed precision), by node name.
    #[serde(default)]
    pub layers: std::collections::BTreeMap<String, LayerSettings>,
    #[serde(default)]
    pub calibration: Calibration,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exclude {
    #[serde(default)]
    pub nodes: Vec<String>,
    #[serde(default)]
    pub op_types: Vec<String>,
}

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

impl Recipe {
    pub fn from_json(text: &str) -> Result<Recipe> {
        let r: Recipe = serde_json::from_str(text).map_err(|e| SquishError::Recipe(format!("invalid JSON: {e}")))?;
        if r.defaults.scheme.is_none() && r.layers.values().all(|l| l.scheme.is_none()) {
            return Err(SquishError::Recipe("no scheme given (set \"scheme\", e.g. \"int8_dynamic\")".into()));
        }
        let p = r.calibration.percentile;
        if !(50.0..=100.0).contains(&p) {
            return Err(SquishError::Recipe(format!("calibration.percentile must be in [50, 100], got {p}")));
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

/// What compression did to one weight tensor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub tensor: String,
    pub node: String,
    pub op_type: String,
    pub scheme: String,
    /// How the quantisation parameters group the values, as written
    /// ("per channel (axis 0)", "per tensor", "blocks of 32 along K", …).
    #[serde(default)]
    pub grouping: String,
    pub bytes_before: usize,
    pub bytes_after: usize,
    pub max_abs_error: f32,
}

/// A layer the recipe selected (or that had weights) but that stayed fp32, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Skipped {
    pub node: String,
    pub op_type: String,
    pub reason: String,
}

/// A layer that got less than the recipe asked for (a coarser grouping of
/// the quantisation parameters, or wider storage), and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Warning {
    pub node: String,
    pub op_type: String,
    pub tensor: String,
    pub detail: String,
}

/// Everything compression changed, for the CLI table, the page and `compare`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub changes: Vec<Change>,
    pub skipped: Vec<Skipped>,
    /// Layers that got less than asked; shown wherever the record is.
    #[serde(default)]
    pub warnings: Vec<Warning>,
    /// Activations quantised with calibrated ranges: (tensor, low, high).
    pub activation_ranges: Vec<(String, f32, f32)>,
    /// Serialised model size before and after.
    pub model_bytes_before: usize,
    pub model_bytes_after: usize,
}

/// Applies `recipe` to `model`. `calibration` holds input feeds (required
/// when any layer uses `int8_static`). Nothing is modified on error.
pub fn compress(model: &Model, recipe: &Recipe, calibration: &[Vec<(String, Tensor)>]) -> Result<(Model, Record)> {
    compress_owned(model.clone(), recipe, calibration, None)
}

/// `compress` consuming the model, so that each weight's float32 copy is
/// freed as soon as its compressed form exists (peak memory in the browser).
/// `file_bytes`: the size of the file the model came from, when known
/// (re-encoding a large model just to measure it would double its memory).
pub fn compress_owned(model: Model, recipe: &Recipe, calibration: &[Vec<(String, Tensor)>], file_bytes: Option<usize>) -> Result<(Model, Record)> {
    for name in recipe.layers.keys().chain(&recipe.exclude.nodes) {
        if !model.graph.nodes.iter().any(|n| &n.name == name) {
            return Err(SquishError::Recipe(format!("node '{name}' does not exist in the model")));
        }
    }
    let before = file_bytes.unwrap_or_else(|| crate::onnx::encoded_len(&model));
    let mut record = Record { model_bytes_before: before, ..Record::default() };
    let mut out = rewrite::Rewriter::new(model);
    let nodes = &out.model().graph.nodes;
    let plan: Vec<(usize, Resolved)> = nodes.iter().enumerate().map(|(i, n)| (i, recipe.settings_for(n))).collect();
    for (i, settings) in &plan {
        let n = &nodes[*i];
        if let Some(o) = recipe.layers.get(&n.name) {
            if let (Some(s), false) = (o.scheme, rewrite::accepts(n, settings.scheme)) {
                return Err(SquishError::Recipe(format!(
                    "node '{}' ({}) cannot take scheme {}: {}",
                    n.name,
                    n.op_type,
                    s.name(),
                    rewrite::supported_for(&n.op_type)
                )));
            }
        }
        if ![32, 64, 128].contains(&settings.block_size) {
            return Err(SquishError::Recipe(format!("block_size must be 32, 64 or 128, got {}", settings.block_size)));
        }
    }
    let static_nodes: Vec<usize> =
        plan.iter().filter(|(i, s)| s.scheme == Scheme::Int8Static && rewrite::accepts(&nodes[*i], Scheme::Int8Static)).map(|(i, _)| *i).collect();
    let ranges = if static_nodes.is_empty() {
        Default::default()
    } else {
        if calibration.is_empty() {
            return Err(SquishError::Recipe("scheme int8_static needs calibration inputs (none were given)".into()));
        }
        let wanted = rewrite::static_activation_names(out.model(), &static_nodes);
        calibrate::ranges(out.runnable_copy(), &wanted, calibration, &recipe.calibration)?
    };
    for (i, settings) in plan {
        out.apply(i, settings, &ranges, &mut record)?;
    }
    let model = out.finish()?;
    record.model_bytes_after = crate::onnx::encoded_len(&model);
    Ok((model, record))
}
