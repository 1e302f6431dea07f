//! Quantisation, the recipe section `"quantize"`: `Model × Section → Model`
//! plus its entries in the record. Each scheme rewrites the graph into
//! standard ONNX (or onnxruntime's `com.microsoft` ops) so that the result
//! runs in onnxruntime as well as in Squish.

pub mod gptq;
pub mod params;
mod rewrite;
pub mod smooth;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::record::StepRecord;
use super::{Cache, Exclude, Method};
pub use crate::compress::calibrate::{Calibration, CalibrationMethod};
use crate::compress::hessian::Hessian;
use crate::compress::input_stats;
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
    /// Whether weights end up as integer codes (the schemes rounding applies to).
    pub fn has_integer_weights(self) -> bool {
        !matches!(self, Scheme::Fp32 | Scheme::Fp16 | Scheme::Bf16)
    }

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

/// How weights are put on the integer grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rounding {
    /// Each weight to its nearest grid point.
    #[default]
    Nearest,
    /// Error-compensating (GPTQ-style): each rounding error is pushed onto
    /// the weights not yet rounded, through the layer's input Hessian from
    /// the calibration inputs. MatMul and Gemm weights; needs calibration.
    Gptq,
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
    /// Zero point fixed at the middle of the range (default true for
    /// weights, false for `int4_block`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub symmetric: Option<bool>,
    /// Block size for `int4_block`/`int8_block`: 32, 64 or 128 (default 32
    /// for `int4_block`, 128 for `int8_block`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block_size: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<BlockFormat>,
    /// Nearest (default) or error-compensating rounding of integer weights.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rounding: Option<Rounding>,
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
    /// `"rounding": "gptq"`: added to the Hessian's diagonal, as a share of
    /// its mean (default 0.01).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub damping: Option<f64>,
    /// `"rounding": "gptq"`: round the inputs with the most energy first
    /// (default true: measured closer on paraphrase-MiniLM-L3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act_order: Option<bool>,
    /// `int8_static`: equalise activation ranges into the weights first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smooth: Option<smooth::Smooth>,
}

/// `"damping"` when the recipe gives none: 1% of the mean Hessian diagonal.
const DEFAULT_DAMPING: f64 = 0.01;

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
        if let Some(d) = r.damping.filter(|d| !(d.is_finite() && *d >= 0.0 && *d <= 1.0)) {
            return Err(SquishError::Recipe(format!("section 'quantize': damping must be in [0, 1] (a share of the mean Hessian diagonal), got {d}")));
        }
        let gptq = std::iter::once(&r.defaults).chain(r.layers.values()).any(|l| l.rounding == Some(Rounding::Gptq));
        if !gptq && (r.damping.is_some() || r.act_order.is_some()) {
            let key = if r.damping.is_some() { "damping" } else { "act_order" };
            return Err(SquishError::Recipe(format!("section 'quantize': {key} applies to \"rounding\": \"gptq\", which no layer uses")));
        }
        if let Some(sm) = &r.smooth {
            smooth::check(sm)?;
            if !std::iter::once(&r.defaults).chain(r.layers.values()).any(|l| l.scheme == Some(Scheme::Int8Static)) {
                return Err(SquishError::Recipe("section 'quantize': smooth applies to scheme int8_static, which no layer uses".into()));
            }
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
            // Measured on paraphrase-MiniLM-L3 (tests/quant_minilm_native.rs):
            // asymmetric 4-bit blocks keep min cosine 0.977 against 0.963
            // symmetric; 8-bit blocks of 128 lose nothing measurable against
            // 32 and keep the model a quarter of its fp32 size.
            symmetric: pick(|s| s.symmetric, scheme != Scheme::Int4Block),
            block_size: over.and_then(|o| o.block_size).or(self.defaults.block_size).unwrap_or(if scheme == Scheme::Int8Block { 128 } else { 32 }),
            format: over.and_then(|o| o.format).or(self.defaults.format).unwrap_or(BlockFormat::Matmulnbits),
            rounding: over.and_then(|o| o.rounding).or(self.defaults.rounding).unwrap_or_default(),
        }
    }

    /// The layer inputs whose Hessian error-compensating rounding needs (one
    /// per input value: layers reading the same input share it).
    fn hessian_wants(&self, model: &Model) -> Vec<input_stats::Want> {
        let mut wants: Vec<input_stats::Want> = Vec::new();
        for n in &model.graph.nodes {
            let s = self.settings_for(n);
            if s.rounding != Rounding::Gptq || !rewrite::accepts(n, s.scheme) || !s.scheme.has_integer_weights() {
                continue;
            }
            if let Some(features) = rewrite::compensable_features(&model.graph, n).filter(|_| !wants.iter().any(|w| w.input == n.inputs[0])) {
                wants.push(input_stats::Want { input: n.inputs[0].clone(), features, channels_first: false, hessian: true });
            }
        }
        wants
    }

    fn gptq_options(&self) -> gptq::Options {
        gptq::Options { damping: self.damping.unwrap_or(DEFAULT_DAMPING), act_order: self.act_order.unwrap_or(true) }
    }
}

#[derive(Debug, Clone, Copy)]
struct Resolved {
    scheme: Scheme,
    per_channel: bool,
    symmetric: bool,
    block_size: usize,
    format: BlockFormat,
    rounding: Rounding,
}

impl Method for Section {
    fn name(&self) -> &'static str {
        "quantize"
    }

    /// Node names and per-layer schemes against the model, before any work.
    fn check(&self, model: &Model) -> Result<()> {
        let names = crate::ir::all_node_names(&model.graph);
        for name in self.layers.keys().chain(&self.exclude.nodes) {
            if !names.contains(name.as_str()) {
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
    fn apply(&self, model: Cow<'_, Model>, inputs: &crate::compress::StepInputs, record: &mut StepRecord, cache: &Cache) -> Result<Model> {
        let calibration = inputs.calibration;
        self.check(&model)?;
        let (model, cache) = match self.smooth {
            Some(sm) => {
                let layers: Vec<usize> = (model.graph.nodes.iter().enumerate())
                    .filter(|(_, n)| {
                        self.settings_for(n).scheme == Scheme::Int8Static
                            && rewrite::accepts(n, Scheme::Int8Static)
                            && rewrite::compensable_features(&model.graph, n).is_some()
                    })
                    .map(|(i, _)| i)
                    .collect();
                // Equalising changes the model the rest is computed on.
                let cache = cache.scoped(&format!("smooth:{sm:?}:{layers:?}"));
                let (m, smoothed) = smooth::equalize(model.into_owned(), &layers, calibration, sm)?;
                record.record.smoothed.extend(smoothed);
                (Cow::Owned(m), cache)
            }
            None => (model, cache.clone()),
        };
        let static_nodes: Vec<usize> = (model.graph.nodes.iter().enumerate())
            .filter(|(_, n)| self.settings_for(n).scheme == Scheme::Int8Static && rewrite::accepts(n, Scheme::Int8Static))
            .map(|(i, _)| i)
            .collect();
        if !static_nodes.is_empty() && calibration.is_empty() {
            return Err(SquishError::Recipe("section 'quantize': scheme int8_static needs calibration inputs (none were given)".into()));
        }
        let wants = self.hessian_wants(&model);
        let hessians = if wants.is_empty() { Default::default() } else { hessians(&model, wants, calibration, &cache)? };
        // Calibration runs a copy of the model as given (before any rewrite).
        let runnable = (!static_nodes.is_empty()).then(|| Model::clone(&model));
        let (mut shell, graph) = Model::split(model);
        let mut out = rewrite::Rewriter::new(graph, shell.opsets.clone());
        out.compensate_with(hessians, self.gptq_options());
        out.remember_in(cache.clone());
        let ranges = match runnable {
            None => Default::default(),
            Some(m) => {
                let wanted = rewrite::static_activation_names(out.editor(), &static_nodes);
                ranges(m, wanted, calibration, &self.calibration, &cache)?
            }
        };
        let plan: Vec<(usize, Resolved)> = out.editor().nodes().iter().enumerate().map(|(i, n)| (i, self.settings_for(n))).collect();
        for (i, settings) in plan {
            out.apply(i, settings, &ranges, record)?;
            out.rewrite_inside(i, &|n| self.settings_for(n), record)?;
        }
        let (graph, opsets) = out.finish();
        shell.graph = graph;
        shell.opsets = opsets;
        Ok(shell)
    }

    /// 4-bit → 8-bit of the same kind → fp16, as far as the node takes them.
    fn milder(&self, model: &Model, node: &str) -> Vec<crate::compress::Rung> {
        let Some(n) = crate::ir::find_node(&model.graph, node) else { return Vec::new() };
        let ladder: &[Scheme] = match self.settings_for(n).scheme {
            Scheme::Int4Block => &[Scheme::Int8Block, Scheme::Fp16],
            Scheme::Int4Weight => &[Scheme::Int8Weight, Scheme::Fp16],
            Scheme::Int8Weight | Scheme::Int8Dynamic | Scheme::Int8Static | Scheme::Int8Block => &[Scheme::Fp16],
            Scheme::Fp16 | Scheme::Bf16 | Scheme::Fp32 => &[],
        };
        // 8-bit blocks no longer than the weight's input axis (K): MatMulNBits
        // pads K to a whole block, which doubles a K = 64 layer at 128.
        let k = blocked_axis_len(model, n).unwrap_or(128);
        let block = [32usize, 64, 128].into_iter().find(|b| *b >= k).unwrap_or(128);
        (ladder.iter().filter(|s| rewrite::accepts(n, **s)))
            .map(|s| {
                let layer = match s {
                    Scheme::Int8Block if self.defaults.block_size.is_none() => serde_json::json!({ "scheme": s.name(), "block_size": block }),
                    _ => serde_json::json!({ "scheme": s.name() }),
                };
                crate::compress::Rung { label: s.name().into(), layer }
            })
            .collect()
    }

    /// 4-bit blocks longer than the section's own, when the section leaves
    /// the block size open: 64 and 128 values per scale (GPTQ's usual
    /// group) store 4.5 and 4.25 bits per weight against 5 at 32. Only
    /// blocks no longer than the weight's K, which MatMulNBits pads to a whole block.
    fn stronger(&self, model: &Model, node: &str) -> Vec<crate::compress::Rung> {
        let Some(n) = crate::ir::find_node(&model.graph, node) else { return Vec::new() };
        let own = self.settings_for(n);
        let open = self.defaults.block_size.is_none() && self.layers.get(node).is_none_or(|l| l.block_size.is_none());
        if own.scheme != Scheme::Int4Block || !open {
            return Vec::new();
        }
        let k = blocked_axis_len(model, n);
        let own_block = own.block_size;
        [128usize, 64]
            .into_iter()
            .filter(|b| *b > own_block && k.is_some_and(|k| *b <= k))
            .map(|b| crate::compress::Rung { label: format!("int4_block/{b}"), layer: serde_json::json!({ "scheme": "int4_block", "block_size": b }) })
            .collect()
    }

    fn set_rung(&mut self, node: &str, rung: &crate::compress::Rung) -> Result<()> {
        let over: LayerSettings =
            serde_json::from_value(rung.layer.clone()).map_err(|e| SquishError::Recipe(format!("section 'quantize': layers.{node}: {e}")))?;
        let slot = self.layers.entry(node.to_string()).or_default();
        slot.scheme = over.scheme.or(slot.scheme);
        slot.block_size = over.block_size.or(slot.block_size);
        self.exclude.nodes.retain(|n| n != node);
        Ok(())
    }

    /// Keeps `node` in fp32: added to `exclude.nodes`, any override dropped.
    fn exclude(&mut self, node: &str) {
        self.layers.remove(node);
        if !self.exclude.nodes.iter().any(|n| n == node) {
            self.exclude.nodes.push(node.to_string());
        }
    }
}

/// The length of the axis a node's weight is quantised in blocks along: a
/// table's rows (Gather), a MatMul weight's K (Gemm's second axis under transB).
fn blocked_axis_len(model: &Model, n: &crate::ir::Node) -> Option<usize> {
    let (input, axis) = match n.op_type.as_str() {
        "Gather" => (0, 1),
        "Gemm" if n.int_attr("transB", 0) != 0 => (1, 1),
        _ => (1, 0),
    };
    n.inputs.get(input).and_then(|w| model.graph.initializer(w)).and_then(|w| w.shape().get(axis).copied())
}

/// Input Hessians for error-compensating rounding, by layer input; those
/// `cache` kept are not gathered again.
fn hessians(model: &Model, wants: Vec<input_stats::Want>, calibration: &[Feed], cache: &Cache) -> Result<HashMap<String, Arc<Hessian>>> {
    let got = cache.fill(
        wants,
        |w| format!("hessian:{}", w.input),
        |missing| {
            let stats = input_stats::gather(model, &missing, calibration, "section 'quantize': \"rounding\": \"gptq\"")?;
            Ok(missing.into_iter().zip(stats).filter_map(|(w, st)| Some((w, st.hessian?))).collect())
        },
    )?;
    Ok(got.into_iter().map(|(w, h)| (w.input, h)).collect())
}

/// Calibrated activation ranges by name; those `cache` kept are not
/// calibrated again (a range depends on its activation alone). An
/// activation without values has no range, and that is kept too.
fn ranges(model: Model, wanted: Vec<String>, calibration: &[Feed], how: &Calibration, cache: &Cache) -> Result<BTreeMap<String, (f32, f32)>> {
    let got = cache.fill(
        wanted,
        |name| format!("range:{how:?}:{name}"),
        |missing| {
            let found = crate::compress::calibrate::ranges(model, &missing, calibration, how)?;
            Ok(missing.into_iter().map(|name| (name.clone(), found.get(&name).copied())).collect())
        },
    )?;
    Ok(got.into_iter().filter_map(|(name, r)| Some((name, (*r)?))).collect())
}
