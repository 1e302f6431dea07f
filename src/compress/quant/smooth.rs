//! SmoothQuant-style equalisation for `int8_static` (`"smooth": {"alpha": α}`):
//! transformer activations have a few channels with outliers a hundred times
//! the rest, so one activation range per tensor wastes most int8 codes. Per
//! input channel `j` of the layers reading an activation `X`, the scale
//! `s_j = max|X_j|^α / max|W_j|^(1−α)` moves range from the activation to
//! the weights: `X·W = (X / s)·(s·W)`. The division is folded into the
//! LayerNormalization that produces `X` when nothing else reads it, else it
//! is a `Mul` before those layers; the multiplication is folded into their
//! weights. The float model computes the same function before quantisation.

use std::borrow::Cow;
use std::collections::BTreeMap;

use ndarray::{ArrayD, IxDyn};
use serde::{Deserialize, Serialize};

use crate::compress::input_stats::{self, Want};
use crate::compress::record::Smoothed;
use crate::error::{Result, SquishError};
use crate::formats::data::feeds::Feed;
use crate::ir::editor::Editor;
use crate::ir::{Model, Node};
use crate::tensor::Tensor;

/// The recipe's `"smooth"` key.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Smooth {
    /// How much range moves to the weights: 0 none, 1 all. Default 0.75:
    /// on paraphrase-MiniLM-L3 (weights per channel) 0.65–0.85 gave min
    /// cosine ≈ 0.9975 against 0.9947 without, 0.5 only 0.9897.
    #[serde(default = "default_alpha")]
    pub alpha: f64,
}

fn default_alpha() -> f64 {
    0.75
}

/// A layer reading the activation: its node index, weight name and whether
/// the weight is stored `[outputs][inputs]` (Gemm with `transB`).
struct Reader {
    node: usize,
    weight: String,
    outputs_first: bool,
}

/// Equalises the activations feeding `layers` (indices of MatMul/Gemm nodes
/// with constant 2-D weights), measured on `calibration`.
pub fn equalize(model: Model, layers: &[usize], calibration: &[Feed], s: Smooth) -> Result<(Model, Vec<Smoothed>)> {
    let groups = reader_groups(&model, layers);
    if groups.is_empty() {
        return Ok((model, Vec::new()));
    }
    let wants: Vec<Want> = groups.iter().map(|(x, (k, _))| Want { input: x.clone(), features: *k, channels_first: false, hessian: false }).collect();
    let stats = input_stats::gather(&model, &wants, calibration, "section 'quantize': \"smooth\"")?;
    let (mut shell, graph) = Model::split(Cow::Owned(model));
    let mut ed = Editor::new(graph);
    let mut done = Vec::new();
    for ((x, (k, readers)), st) in groups.into_iter().zip(stats) {
        let scales = channel_scales(&ed, &readers, &st.absmax, k, s.alpha);
        for r in &readers {
            scale_weight_rows(&mut ed, r, &scales);
        }
        let folded_into = fold_into_layer_norm(&mut ed, &x, &readers, &scales);
        if folded_into.is_none() {
            insert_division(&mut ed, &x, &readers, &scales);
        }
        let (lo, hi) = scales.iter().fold((f32::INFINITY, 0.0f32), |(l, h), &v| (l.min(v), h.max(v)));
        let layers = readers.iter().map(|r| ed.nodes()[r.node].name.clone()).collect();
        done.push(Smoothed { activation: x, layers, folded_into, alpha: s.alpha, scale_min: lo, scale_max: hi });
    }
    shell.graph = ed.finish();
    Ok((shell, done))
}

/// The layers grouped by the activation they read, with its feature count.
/// An activation is smoothed only when every weight is read by these
/// layers alone (a shared weight would change elsewhere).
fn reader_groups(model: &Model, layers: &[usize]) -> BTreeMap<String, (usize, Vec<Reader>)> {
    let g = &model.graph;
    let mut groups: BTreeMap<String, (usize, Vec<Reader>)> = BTreeMap::new();
    for &i in layers {
        let n = &g.nodes[i];
        let outputs_first = n.op_type == "Gemm" && n.int_attr("transB", 0) != 0;
        let Some(w) = g.initializer(&n.inputs[1]).and_then(Tensor::as_f32).filter(|w| w.ndim() == 2) else { continue };
        let k = w.shape()[if outputs_first { 1 } else { 0 }];
        let entry = groups.entry(n.inputs[0].clone()).or_insert((k, Vec::new()));
        if entry.0 == k {
            entry.1.push(Reader { node: i, weight: n.inputs[1].clone(), outputs_first });
        }
    }
    let readers_of = |name: &str| g.nodes.iter().filter(|n| n.inputs.iter().any(|i| i == name)).count();
    groups.retain(|x, (_, readers)| g.initializer(x).is_none() && readers.iter().all(|r| readers_of(&r.weight) == 1));
    groups
}

/// `s_j = max|X_j|^α / max|W_j|^(1−α)` over the readers' weights; 1 where a
/// channel never carried signal or has no weight (nothing to move).
fn channel_scales(ed: &Editor, readers: &[Reader], absmax: &[f64], k: usize, alpha: f64) -> Vec<f32> {
    let mut wmax = vec![0.0f64; k];
    for r in readers {
        let w = ed.initializer(&r.weight).and_then(Tensor::as_f32).expect("grouped with a float weight");
        let cols = w.shape()[1];
        for (x, v) in w.iter().enumerate() {
            let j = if r.outputs_first { x % cols } else { x / cols.max(1) };
            wmax[j] = wmax[j].max(v.abs() as f64);
        }
    }
    (0..k)
        .map(|j| {
            let s = absmax[j].powf(alpha) / wmax[j].powf(1.0 - alpha);
            if s.is_finite() && s > 0.0 && absmax[j] > 0.0 {
                s as f32
            } else {
                1.0
            }
        })
        .collect()
}

/// `W_j *= s_j` along the weight's input axis.
fn scale_weight_rows(ed: &mut Editor, r: &Reader, scales: &[f32]) {
    let mut w = ed.initializer(&r.weight).and_then(Tensor::as_f32).expect("a float weight").clone();
    let cols = w.shape()[1];
    for (x, v) in w.iter_mut().enumerate() {
        *v *= scales[if r.outputs_first { x % cols } else { x / cols }];
    }
    ed.remove_initializer(&r.weight);
    ed.add_initializer_as(&r.weight, Tensor::F32(w));
}

/// When `x` is the output of a LayerNormalization over its last axis whose
/// scale and bias are constants only it reads, and nothing but the readers
/// reads `x`: `γ /= s`, `β /= s`. Returns the LayerNormalization's name.
fn fold_into_layer_norm(ed: &mut Editor, x: &str, readers: &[Reader], scales: &[f32]) -> Option<String> {
    let p = ed.producer(x)?;
    let ln = ed.nodes()[p].clone();
    let only_readers = ed.consumers(x).iter().all(|c| readers.iter().any(|r| r.node == *c)) && !ed.base().outputs.iter().any(|o| o.name == x);
    if ln.op_type != "LayerNormalization"
        || !ln.domain.is_empty()
        || ln.int_attr("axis", -1) != -1
        || !only_readers
        || ln.outputs.len() > 1 && !ln.outputs[1..].iter().all(String::is_empty)
    {
        return None;
    }
    let params: Vec<String> = ln.inputs.iter().skip(1).filter(|n| !n.is_empty()).cloned().collect();
    let usable = |name: &String| {
        ed.consumers(name).len() == 1 && ed.initializer(name).and_then(Tensor::as_f32).is_some_and(|t| t.ndim() == 1 && t.len() == scales.len())
    };
    if params.is_empty() || !params.iter().all(usable) {
        return None;
    }
    for name in &params {
        let t = ed.initializer(name).and_then(Tensor::as_f32).expect("checked").clone();
        let v: Vec<f32> = t.iter().zip(scales).map(|(v, s)| v / s).collect();
        ed.remove_initializer(name);
        ed.add_initializer_as(name, Tensor::F32(ArrayD::from_shape_vec(IxDyn(&[v.len()]), v).expect("1-D")));
    }
    // Without a bias input the shift stays 0: scaling γ alone is exact.
    Some(ln.name)
}

/// `x_smoothed = x · (1/s)` before the first reader; every reader reads it.
fn insert_division(ed: &mut Editor, x: &str, readers: &[Reader], scales: &[f32]) {
    let inv: Vec<f32> = scales.iter().map(|s| 1.0 / s).collect();
    let inv = ed.add_initializer(&format!("{x}_smooth_scale"), Tensor::F32(ArrayD::from_shape_vec(IxDyn(&[inv.len()]), inv).expect("1-D")));
    let smoothed = ed.fresh(&format!("{x}_smoothed"));
    let first = readers.iter().map(|r| r.node).min().expect("a group has readers");
    for r in readers {
        let mut n = ed.nodes()[r.node].clone();
        n.inputs[0] = smoothed.clone();
        let mut nodes: Vec<Node> = Vec::new();
        if r.node == first {
            let name = ed.fresh(&format!("{x}_smooth"));
            nodes.push(super::rewrite::node("Mul", name, vec![x.to_string(), inv.clone()], vec![smoothed.clone()], vec![]));
        }
        nodes.push(n);
        ed.replace(r.node, nodes);
    }
}

/// Checks the key's value: α in [0, 1].
pub fn check(s: &Smooth) -> Result<()> {
    if !(0.0..=1.0).contains(&s.alpha) || !s.alpha.is_finite() {
        return Err(SquishError::Recipe(format!("section 'quantize': smooth.alpha must be in [0, 1], got {}", s.alpha)));
    }
    Ok(())
}
