//! Load-time fusion of onnxruntime's dynamic-quantisation chain
//! `MatMulInteger|ConvInteger → Cast(float) → Mul(·, scale) [→ Add(·, bias)]` into one
//! internal node that converts, scales and adds the bias while the integer
//! product is still in cache. The model the user sees (summary, saving) is
//! not changed: only the session's execution list is.

use std::collections::{HashMap, HashSet};

use crate::ir::{AttrValue, Graph, Node};
use crate::tensor::Tensor;

pub use crate::ops::internal::*;

/// Which fusions a session applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fusion {
    All,
    /// No fusion that hides a float value of the original graph.
    KeepFloatValues,
}

/// The fused node list, or `None` when nothing matched. `opset`: the
/// default domain's version (Clip takes its bounds as inputs from 11).
pub fn fuse(g: &Graph, opset: i64, fusion: Fusion) -> Option<Vec<Node>> {
    let nodes = &g.nodes;
    // Keep graphs with subgraphs simple: no fusion.
    if nodes.iter().flat_map(|n| &n.attributes).any(|a| matches!(a.value, AttrValue::Graph(_) | AttrValue::Graphs(_))) {
        return None;
    }
    let links = Links::new(g);
    let only = |value: &str, op: &str| links.only(value, op);
    // A float constant bias (its shape is checked when the fused op runs).
    let float_constant = |name: &str| links.constant(name).is_some_and(|t| t.as_f32().is_some());
    let mut removed = vec![false; nodes.len()];
    let mut replacement: HashMap<usize, Node> = HashMap::new();
    for (i, n) in nodes.iter().enumerate() {
        let conv = n.op_type == "ConvInteger";
        if !(n.op_type == "MatMulInteger" || conv) || !n.domain.is_empty() || n.outputs.len() != 1 || n.inputs.len() < 2 {
            continue;
        }
        let Some(c) = only(&n.outputs[0], "Cast") else { continue };
        if !matches!(nodes[c].attr("to"), Some(AttrValue::Int(1))) {
            continue;
        }
        let Some(m) = only(&nodes[c].outputs[0], "Mul") else { continue };
        let mul = &nodes[m];
        let y_f = nodes[c].outputs[0].as_str();
        let scale = if mul.inputs[0] == y_f { &mul.inputs[1] } else { &mul.inputs[0] };
        if mul.inputs.len() != 2 || scale == y_f {
            continue;
        }
        let mut inputs: Vec<String> = n.inputs.clone();
        inputs.resize(4, String::new());
        inputs.push(scale.clone());
        let mut output = mul.outputs[0].clone();
        let mut last = m;
        // The bias Add's output is a float value of the original graph: a
        // comparison session keeps it visible.
        if let Some(a) = only(&mul.outputs[0], "Add").filter(|_| fusion == Fusion::All) {
            let add = &nodes[a];
            let bias = if add.inputs[0] == mul.outputs[0] { &add.inputs[1] } else { &add.inputs[0] };
            if add.inputs.len() == 2 && float_constant(bias) {
                inputs.push(bias.clone());
                output = add.outputs[0].clone();
                last = a;
            }
        }
        let mut attributes = if conv { n.attributes.clone() } else { vec![] };
        // A Relu or Clip after it runs in the same pass (it hides a float value).
        if fusion == Fusion::All {
            if let Some((a, kind)) = activation_after(g, &only, &output, opset >= 11, &removed) {
                inputs.resize(6, String::new());
                inputs.extend(nodes[a].inputs.iter().skip(1).cloned());
                attributes.push(crate::ir::Attribute { name: "activation".into(), value: AttrValue::Int(kind) });
                output = nodes[a].outputs[0].clone();
                removed[a] = true;
            }
        }
        for r in [i, c, m, last] {
            removed[r] = true;
        }
        let op = if conv { SCALED_CONV_INTEGER } else { SCALED_MATMUL_INTEGER };
        replacement.insert(i, internal(n, op, inputs, vec![output], attributes));
    }
    fuse_qdq(&links, &mut removed, &mut replacement);
    // The dequantised table is a weight, never compared: fused in every session.
    super::fuse_float::fuse_gather_dequantize(&links, &mut removed, &mut replacement);
    if fusion == Fusion::All {
        fuse_conv_activation(g, &only, opset >= 11, &mut removed, &mut replacement);
        super::fuse_float::fuse_matmul_bias(&links, &mut removed, &mut replacement);
        super::fuse_float::fuse_gelu(&links, &mut removed, &mut replacement);
    }
    if replacement.is_empty() {
        return None;
    }
    // The planner orders nodes topologically, so the fused node may stand
    // where its MatMulInteger stood even if the scale is computed later.
    Some(nodes.iter().enumerate().filter_map(|(i, n)| replacement.remove(&i).or_else(|| (!removed[i]).then(|| n.clone()))).collect())
}

/// Who produces and who reads each value of a graph, and which values must
/// stay visible (graph inputs and outputs).
pub(super) struct Links<'g> {
    pub g: &'g Graph,
    consumers: HashMap<&'g str, Vec<usize>>,
    producer: HashMap<&'g str, usize>,
    pinned: HashSet<&'g str>,
}

impl<'g> Links<'g> {
    fn new(g: &'g Graph) -> Links<'g> {
        let mut consumers: HashMap<&str, Vec<usize>> = HashMap::new();
        let mut producer = HashMap::new();
        for (i, n) in g.nodes.iter().enumerate() {
            for inp in n.inputs.iter().filter(|s| !s.is_empty()) {
                consumers.entry(inp.as_str()).or_default().push(i);
            }
            for o in &n.outputs {
                producer.insert(o.as_str(), i);
            }
        }
        let pinned = g.outputs.iter().chain(&g.inputs).map(|v| v.name.as_str()).collect();
        Links { g, consumers, producer, pinned }
    }

    /// The one node reading `value`, if it is a default-domain `op` and
    /// `value` is not a graph input or output.
    pub fn only(&self, value: &str, op: &str) -> Option<usize> {
        if self.pinned.contains(value) {
            return None;
        }
        match self.consumers.get(value).map(|v| v.as_slice()) {
            Some([c]) if self.g.nodes[*c].op_type == op && self.g.nodes[*c].domain.is_empty() => Some(*c),
            _ => None,
        }
    }

    pub fn producer(&self, value: &str) -> Option<usize> {
        self.producer.get(value).copied()
    }

    /// The value of a constant (`Graph::constant`).
    pub fn constant(&self, name: &str) -> Option<&'g Tensor> {
        self.g.constant(name)
    }

    /// A constant holding one f32.
    pub fn scalar_f32(&self, name: &str) -> Option<f32> {
        let t = self.constant(name)?.as_f32()?;
        (t.len() == 1).then(|| *t.iter().next().expect("one value"))
    }
}

/// The runtime-only node that stands for a fused chain starting at `first`
/// (it keeps that node's name, so errors still point at the user's node).
pub(super) fn internal(first: &Node, op_type: &str, inputs: Vec<String>, outputs: Vec<String>, attributes: Vec<crate::ir::Attribute>) -> Node {
    Node { name: first.name.clone(), op_type: op_type.into(), domain: INTERNAL_DOMAIN.into(), inputs, outputs, attributes, doc_string: String::new() }
}

/// The Relu, or Clip taking its bounds as inputs, that alone reads `value`
/// (as its data input): its index and 1 for Relu, 2 for Clip.
fn activation_after(g: &Graph, only: &dyn Fn(&str, &str) -> Option<usize>, value: &str, clip_takes_inputs: bool, removed: &[bool]) -> Option<(usize, i64)> {
    let (a, kind) = match (only(value, "Relu"), only(value, "Clip")) {
        (Some(a), _) => (a, 1),
        (None, Some(a)) if clip_takes_inputs => (a, 2),
        _ => return None,
    };
    let act = &g.nodes[a];
    (!removed[a] && act.inputs.first().map(String::as_str) == Some(value) && act.outputs.len() == 1).then_some((a, kind))
}

/// Float `Conv` whose only reader is `Relu`, or `Clip` at opset ≥ 11, becomes
/// `ConvActivation` writing the activation's output.
fn fuse_conv_activation(
    g: &Graph,
    only: &dyn Fn(&str, &str) -> Option<usize>,
    clip_takes_inputs: bool,
    removed: &mut [bool],
    replacement: &mut HashMap<usize, Node>,
) {
    let nodes = &g.nodes;
    for (i, n) in nodes.iter().enumerate() {
        if n.op_type != "Conv" || !n.domain.is_empty() || removed[i] || replacement.contains_key(&i) || n.outputs.len() != 1 || n.inputs.len() < 2 {
            continue;
        }
        let Some((a, kind)) = activation_after(g, only, &n.outputs[0], clip_takes_inputs, removed) else { continue };
        let act = &nodes[a];
        let mut inputs = n.inputs.clone();
        inputs.resize(3, String::new());
        if kind == 2 {
            inputs.extend(act.inputs.iter().skip(1).cloned());
        }
        let mut attributes = n.attributes.clone();
        attributes.push(crate::ir::Attribute { name: "activation".into(), value: AttrValue::Int(kind) });
        removed[i] = true;
        removed[a] = true;
        replacement.insert(i, internal(n, CONV_ACTIVATION, inputs, act.outputs.clone(), attributes));
    }
}

/// MatMul/Conv whose activation input is `DequantizeLinear(xq, per-tensor
/// scale)` and whose weight is `DequantizeLinear` of constant 8-bit codes
/// (per tensor, or per output channel) become `QdqMatMul`/`QdqConv`.
fn fuse_qdq(links: &Links, removed: &mut [bool], replacement: &mut HashMap<usize, Node>) {
    let nodes = &links.g.nodes;
    let only = |value: &str, op: &str| links.only(value, op);
    let constant = |name: &str| links.constant(name);
    // A DequantizeLinear feeding only node `user`, not blocked: (index, inputs padded to 3).
    let dq_into = |value: &str, user: usize| -> Option<(usize, Vec<String>)> {
        let p = links.producer(value)?;
        let dq = &nodes[p];
        if dq.op_type != "DequantizeLinear" || !dq.domain.is_empty() || dq.int_attr("block_size", 0) != 0 || only(value, &nodes[user].op_type) != Some(user) {
            return None;
        }
        let mut inputs = dq.inputs.clone();
        inputs.resize(3, String::new());
        Some((p, inputs))
    };
    for (i, n) in nodes.iter().enumerate() {
        // Grouped (depthwise) convolutions stay on the float direct kernel:
        // im2col on the integer GEMM is slower there (mobilenetv2: 47 → 84 ms).
        let conv = n.op_type == "Conv" && n.int_attr("group", 1) == 1;
        if n.op_type == "Conv" && !conv {
            continue;
        }
        if !(n.op_type == "MatMul" || conv) || !n.domain.is_empty() || removed[i] || n.inputs.len() < 2 {
            continue;
        }
        let (Some((pa, a)), Some((pb, b))) = (dq_into(&n.inputs[0], i), dq_into(&n.inputs[1], i)) else { continue };
        if removed[pa] || removed[pb] {
            continue;
        }
        // Activation: per-tensor constant scale. Weights: constant 8-bit codes.
        if constant(&a[1]).is_none_or(|s| s.len() != 1) {
            continue;
        }
        let Some(wq) = constant(&b[0]) else { continue };
        let rank_ok = if conv { (3..=4).contains(&wq.shape().len()) } else { wq.shape().len() == 2 };
        let w_scale_len = constant(&b[1]).map(|t| t.len());
        let zp_constant = b[2].is_empty() || constant(&b[2]).is_some();
        if !rank_ok || !matches!(wq.dtype(), crate::tensor::DType::U8 | crate::tensor::DType::I8) || w_scale_len.is_none() || !zp_constant {
            continue;
        }
        // Per-channel weights must be per output channel: axis 1 of [K, N], axis 0 of a filter bank.
        let axis = &nodes[pb].int_attr("axis", 1);
        let rank = wq.shape().len() as i64;
        let out_axis = if conv { 0 } else { 1 };
        if w_scale_len != Some(1) && (axis + rank) % rank != out_axis {
            continue;
        }
        let mut inputs = vec![a[0].clone(), b[0].clone(), a[2].clone(), b[2].clone(), a[1].clone(), b[1].clone()];
        if conv {
            if let Some(bias) = n.inputs.get(2).filter(|s| !s.is_empty()) {
                inputs.push(bias.clone());
            }
        }
        for r in [i, pa, pb] {
            removed[r] = true;
        }
        let op = if conv { QDQ_CONV } else { QDQ_MATMUL };
        replacement.insert(i, internal(n, op, inputs, n.outputs.clone(), if conv { n.attributes.clone() } else { vec![] }));
    }
}
