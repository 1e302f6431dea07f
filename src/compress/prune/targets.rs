//! The layers a prune section applies to, their weights as
//! `[outputs][inputs]`, the statistics their criterion needs, and writing
//! the pruned weights back under their names.

use std::collections::HashSet;

use ndarray::{ArrayD, IxDyn};

use super::{mask, reconstruct, Criterion, Resolved, Section};
use crate::compress::input_stats::{self as stats, LayerStats, Want};
use crate::compress::record::{Histogram, StepRecord};
use crate::error::{Result, SquishError};
use crate::formats::data::feeds::Feed;
use crate::ir::editor::Editor;
use crate::ir::{Graph, Model, Node};
use crate::tensor::Tensor;

/// How the stored weight maps to `[outputs][inputs]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// MatMul's `[K, N]` (and Gemm without transB): transposed.
    InputsFirst,
    /// Gemm with transB `[N, K]`, Conv `[M, C, kh, kw]` (flattened), Gather `[V, D]`.
    OutputsFirst,
}

#[derive(Debug, Clone)]
pub struct Target {
    pub node: String,
    pub op_type: String,
    /// The initializer holding the weight (shared weights are pruned once).
    pub weight: String,
    pub shape: Vec<usize>,
    pub rows: usize,
    pub cols: usize,
    pub layout: Layout,
    /// The activation input whose statistics Wanda and reconstruction use.
    pub input: String,
    /// Conv: statistics per input channel, each spanning `cols / channels` columns.
    pub channels: Option<usize>,
    pub settings: Resolved,
}

/// The initializer a value reads, through Identity nodes.
fn root_initializer<'g>(g: &'g Graph, name: &'g str) -> Option<&'g str> {
    let mut name = name;
    for _ in 0..16 {
        if g.inputs.iter().any(|v| v.name == name) {
            return None;
        }
        if g.initializer(name).is_some() {
            return Some(name);
        }
        let p = g.nodes.iter().find(|n| n.outputs.iter().any(|o| o == name))?;
        match p.op_type.as_str() {
            "Identity" => name = p.inputs.first()?,
            "Constant" => return Some(name),
            _ => return None,
        }
    }
    None
}

/// Ops that pass a linear layer's output on to the model's output without
/// mixing in other values: a layer that reaches an output only through
/// them is the final classifier.
fn passes_through(n: &Node, g: &Graph) -> bool {
    match n.op_type.as_str() {
        "Softmax" | "LogSoftmax" | "Sigmoid" | "Relu" | "Tanh" | "Identity" | "Reshape" | "Flatten" | "Squeeze" | "Unsqueeze" | "Cast" | "Transpose" => true,
        "Add" | "Sub" | "Mul" | "Div" => n.inputs.iter().filter(|i| g.constant(i).is_none()).count() == 1,
        _ => false,
    }
}

fn is_classifier(g: &Graph, out: &str) -> bool {
    let mut frontier = vec![out.to_string()];
    let mut seen = HashSet::new();
    let mut reaches_output = false;
    while let Some(v) = frontier.pop() {
        if !seen.insert(v.clone()) {
            continue;
        }
        reaches_output |= g.outputs.iter().any(|o| o.name == v);
        for n in g.nodes.iter().filter(|n| n.inputs.contains(&v)) {
            if !passes_through(n, g) {
                return false;
            }
            frontier.extend(n.outputs.iter().cloned());
        }
    }
    reaches_output
}

/// A Gather reading rows of a float matrix constant: an embedding table.
fn is_table(g: &Graph, n: &Node) -> bool {
    let data = n.inputs.first().and_then(|d| root_initializer(g, d)).and_then(|w| g.constant(w));
    data.is_some_and(|t| t.dtype().is_float() && t.shape().len() == 2)
}

/// What a candidate node is to pruning.
enum Verdict {
    Prune(Target),
    /// A layer left dense, and why.
    Kept(String),
    /// Not a layer: a weightless MatMul (attention product), a Gather over shapes.
    NotALayer,
}

/// The layer's weight as a target, or why it stays dense.
fn target_of(g: &Graph, n: &Node, s: &Section) -> Verdict {
    match target_or_reason(g, n, s) {
        Ok(Some(t)) => Verdict::Prune(t),
        Ok(None) => Verdict::NotALayer,
        Err(why) => Verdict::Kept(why),
    }
}

fn target_or_reason(g: &Graph, n: &Node, s: &Section) -> std::result::Result<Option<Target>, String> {
    let settings = s.settings_for(&n.name);
    let (slot, layout, input) = match n.op_type.as_str() {
        "MatMul" => (1, Layout::InputsFirst, 0),
        "Gemm" if n.int_attr("transA", 0) != 0 => return Err("Gemm with transA is not pruned".into()),
        "Gemm" => (1, if n.int_attr("transB", 0) != 0 { Layout::OutputsFirst } else { Layout::InputsFirst }, 0),
        "Conv" if n.int_attr("group", 1) != 1 => return Err("grouped (depthwise) convolutions are left dense".into()),
        "Conv" => (1, Layout::OutputsFirst, 0),
        // Gathers over shapes and index lists are not tables.
        "Gather" if !is_table(g, n) => return Ok(None),
        "Gather" if !s.include_embeddings => return Err("embedding tables are left dense by default (set \"include_embeddings\")".into()),
        "Gather" => (0, Layout::OutputsFirst, usize::MAX),
        _ => unreachable!("filtered by the caller"),
    };
    let name = n.inputs.get(slot).map(String::as_str).unwrap_or("");
    let Some(weight) = root_initializer(g, name) else { return Ok(None) };
    let t = g.constant(weight).and_then(|t| t.as_f32()).ok_or_else(|| format!("weight '{weight}' is not a float32 constant"))?;
    let shape = t.shape().to_vec();
    let conv = n.op_type == "Conv";
    if (conv && shape.len() < 3) || (!conv && shape.len() != 2) {
        return Err(format!("weight '{weight}' has shape {shape:?}"));
    }
    let (rows, cols) = match layout {
        Layout::InputsFirst => (shape[1], shape[0]),
        Layout::OutputsFirst => (shape[0], shape[1..].iter().product()),
    };
    // A pattern set for the whole section skips the layers it cannot fit (a
    // first convolution over 3 channels); one set for this layer is an error (check).
    let explicit_pattern = s.layers.get(&n.name).is_some_and(|o| o.pattern.is_some());
    if let Some((_, m)) = settings.pattern.n_of_m().filter(|&(_, m)| cols % m != 0 && !explicit_pattern) {
        return Err(format!("its {cols} inputs per output are not a multiple of {m}, as pattern \"{}\" needs", settings.pattern.name()));
    }
    let needs_inputs = settings.method != Criterion::Magnitude;
    if needs_inputs && n.op_type == "Gather" {
        return Err(format!("{:?} needs the layer's inputs, and an embedding's are token ids: use method \"magnitude\" for it", settings.method).to_lowercase());
    }
    if settings.method == Criterion::Sparsegpt && conv {
        return Err("sparsegpt reconstructs MatMul and Gemm layers; convolutions take magnitude or wanda".into());
    }
    let input = if input == usize::MAX { String::new() } else { n.inputs[input].clone() };
    let channels = conv.then(|| shape[1]);
    Ok(Some(Target { node: n.name.clone(), op_type: n.op_type.clone(), weight: weight.to_string(), shape, rows, cols, layout, input, channels, settings }))
}

/// The layers to prune, and the ones left dense with the reason.
pub fn find(model: &Model, s: &Section) -> (Vec<Target>, Vec<(String, String)>) {
    let g = &model.graph;
    let (mut found, mut kept) = (Vec::new(), Vec::new());
    let mut pruned_weights: HashSet<String> = HashSet::new();
    for n in &g.nodes {
        if !n.domain.is_empty() || !matches!(n.op_type.as_str(), "MatMul" | "Gemm" | "Conv" | "Gather") {
            continue;
        }
        if s.exclude.nodes.contains(&n.name) || s.exclude.op_types.contains(&n.op_type) {
            continue;
        }
        let named = s.layers.contains_key(&n.name);
        if n.op_type != "Gather" && !s.include_classifier && !named && n.outputs.first().is_some_and(|o| is_classifier(g, o)) {
            kept.push((n.name.clone(), "the final classifier is left dense by default (set \"include_classifier\")".into()));
            continue;
        }
        match target_of(g, n, s) {
            Verdict::Prune(t) if !pruned_weights.insert(t.weight.clone()) => {
                kept.push((n.name.clone(), format!("shares weight '{}' with a layer pruned before it", t.weight)))
            }
            Verdict::Prune(t) => found.push(t),
            Verdict::Kept(why) => kept.push((n.name.clone(), why)),
            Verdict::NotALayer => {}
        }
    }
    (found, kept)
}

/// Input statistics for the layers whose criterion needs them.
pub fn gather_stats(model: &Model, found: &[Target], calibration: &[Feed]) -> Result<Vec<Option<LayerStats>>> {
    let wants: Vec<(usize, Want)> = found
        .iter()
        .enumerate()
        .filter(|(_, t)| t.settings.method != Criterion::Magnitude)
        .map(|(i, t)| {
            let features = t.channels.unwrap_or(t.cols);
            (i, Want { input: t.input.clone(), features, channels_first: t.channels.is_some(), hessian: t.settings.method == Criterion::Sparsegpt })
        })
        .collect();
    let mut out: Vec<Option<LayerStats>> = found.iter().map(|_| None).collect();
    if wants.is_empty() {
        return Ok(out);
    }
    let (idx, wants): (Vec<usize>, Vec<Want>) = wants.into_iter().unzip();
    for (i, st) in idx.into_iter().zip(stats::gather(model, &wants, calibration, "section 'prune': this method")?) {
        out[i] = Some(st);
    }
    Ok(out)
}

/// A target's weight, `[rows][cols]`.
pub struct Weights {
    pub data: Vec<f32>,
    pub original: Vec<f32>,
}

pub fn load_weights(ed: &Editor, found: &[Target]) -> Result<Vec<Weights>> {
    found
        .iter()
        .map(|t| {
            let w = ed
                .initializer(&t.weight)
                .and_then(|w| w.as_f32())
                .ok_or_else(|| SquishError::tensor(&t.weight, "pruning needs it as a float32 initializer"))?;
            let flat: Vec<f32> = w.iter().copied().collect();
            if let Some(i) = flat.iter().position(|v| !v.is_finite()) {
                return Err(SquishError::tensor(&t.weight, format!("element {i} is {}; NaN/Inf weights cannot be pruned (fix or exclude the layer)", flat[i])));
            }
            let data = to_rows(t, &flat);
            Ok(Weights { original: data.clone(), data })
        })
        .collect()
}

/// The stored weight as `[rows][cols]`.
pub fn to_rows(t: &Target, flat: &[f32]) -> Vec<f32> {
    match t.layout {
        Layout::OutputsFirst => flat.to_vec(),
        Layout::InputsFirst => (0..t.rows * t.cols).map(|x| flat[(x % t.cols) * t.rows + x / t.cols]).collect(),
    }
}

/// `[rows][cols]` back to the stored layout.
pub fn to_stored(t: &Target, rows: &[f32]) -> Vec<f32> {
    match t.layout {
        Layout::OutputsFirst => rows.to_vec(),
        Layout::InputsFirst => (0..rows.len()).map(|x| rows[(x % t.rows) * t.cols + x / t.rows]).collect(),
    }
}

/// Each weight's score: |w| (magnitude), or |w|·‖x‖ of its input feature (Wanda).
pub fn scores(t: &Target, w: &Weights, st: Option<&LayerStats>) -> Vec<f32> {
    match (t.settings.method, st) {
        (Criterion::Magnitude, _) | (_, None) => w.data.iter().map(|v| v.abs()).collect(),
        (_, Some(st)) => {
            let per_channel = t.channels.map_or(1, |c| t.cols / c.max(1));
            let norms: Vec<f32> = st.sumsq.iter().map(|s| s.sqrt() as f32).collect();
            w.data.iter().enumerate().map(|(x, v)| v.abs() * norms[(x % t.cols) / per_channel]).collect()
        }
    }
}

/// Prunes one target's weights in place by `rule`.
pub fn prune_one(t: &Target, w: &mut Weights, st: Option<&LayerStats>, rule: mask::Rule, s: &Section) -> Result<()> {
    if t.settings.method == Criterion::Sparsegpt {
        let h = st.and_then(|st| st.hessian.as_ref()).expect("gathered for sparsegpt targets");
        let r = h.inverse_factor(s.damping).map_err(|e| SquishError::Calibration(format!("node '{}': {e}", t.node)))?;
        reconstruct::prune(&mut w.data, t.rows, t.cols, &r, &h.dead(), rule, s.block_size);
    } else {
        let sc = scores(t, w, st);
        mask::apply(&mut w.data, &sc, t.rows, t.cols, rule);
    }
    Ok(())
}

/// Stored bytes of a sparse encoding: a bitmap of the non-zeros and their values.
fn sparse_bytes(w: &[f32]) -> usize {
    w.len().div_ceil(8) + w.iter().filter(|v| **v != 0.0).count() * 4
}

/// Replaces each pruned weight (same name, same layout) and records it.
pub fn write_back(ed: &mut Editor, found: &[Target], pruned: Vec<Weights>, record: &mut StepRecord) {
    for (t, w) in found.iter().zip(pruned) {
        let stored = to_stored(t, &w.data);
        let zeros = w.data.iter().filter(|v| **v == 0.0).count();
        let err = w.data.iter().zip(&w.original).fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        let gzip = crate::formats::gzip_len(&stored.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>());
        let tensor = Tensor::F32(ArrayD::from_shape_vec(IxDyn(&t.shape), stored).expect("same shape"));
        ed.remove_initializer(&t.weight);
        ed.add_initializer_as(&t.weight, tensor);
        let node = ed.nodes().iter().find(|n| n.name == t.node).expect("a node of the graph").clone();
        let s = &t.settings;
        let label = format!("{} {}", format!("{:?}", s.method).to_lowercase(), s.pattern.name());
        let grouping = match (s.pattern.n_of_m(), s.global, s.method) {
            (Some((n, m)), _, _) => format!("{n} of every {m} inputs per output"),
            (None, true, _) => "one threshold over all layers".into(),
            (None, false, Criterion::Magnitude) => "per layer".into(),
            (None, false, _) => "per output".into(),
        };
        let bytes = w.data.len() * 4;
        let e = record.entry(&t.weight, &node, &label, grouping, (bytes, bytes), zeros as f64 / w.data.len().max(1) as f64, err);
        e.sparse_bytes = Some(sparse_bytes(&w.data));
        e.gzip_bytes = Some(gzip);
        e.histogram = Some(Histogram::of(&w.original, &w.data));
    }
}
