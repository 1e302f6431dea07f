//! Load-time fusions of integer chains: onnxruntime's dynamic-quantisation
//! chain `MatMulInteger|ConvInteger → Cast(float) → Mul(·, scale) [→ Add(·,
//! bias)] [→ Relu|Clip]` becomes one internal node that converts, scales,
//! adds the bias and bounds while the integer product is still in cache; QDQ
//! MatMul/Conv run on the integer GEMM.

use super::{activation_after, internal, Fusion};
use crate::ir::editor::Editor;
use crate::ir::{AttrValue, Attribute, Graph};
use crate::ops::internal::{DYNAMIC_CONV_INTEGER, QDQ_CONV, QDQ_MATMUL, SCALED_CONV_INTEGER, SCALED_MATMUL_INTEGER};
use crate::ops::per_output_channel;

/// `MatMulInteger|ConvInteger → Cast → Mul [→ Add] [→ Relu|Clip]` chains.
pub(super) fn fuse_integer_chains(g: &Graph, ed: &mut Editor, opset: i64, fusion: Fusion) {
    let nodes = &g.nodes;
    for (i, n) in nodes.iter().enumerate() {
        let conv = n.op_type == "ConvInteger";
        if !(n.op_type == "MatMulInteger" || conv) || !n.domain.is_empty() || n.outputs.len() != 1 || n.inputs.len() < 2 {
            continue;
        }
        let Some(c) = ed.only(&n.outputs[0], "Cast") else { continue };
        if !matches!(nodes[c].attr("to"), Some(AttrValue::Int(1))) {
            continue;
        }
        let Some(m) = ed.only(&nodes[c].outputs[0], "Mul") else { continue };
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
        if let Some(a) = ed.only(&mul.outputs[0], "Add").filter(|_| fusion == Fusion::All) {
            let add = &nodes[a];
            let bias = if add.inputs[0] == mul.outputs[0] { &add.inputs[1] } else { &add.inputs[0] };
            if add.inputs.len() == 2 && ed.constant(bias).is_some_and(|t| t.as_f32().is_some()) {
                inputs.push(bias.clone());
                output = add.outputs[0].clone();
                last = a;
            }
        }
        let mut attributes = if conv { n.attributes.clone() } else { vec![] };
        // A Relu or Clip after it runs in the same pass (it hides a float value).
        if fusion == Fusion::All {
            if let Some((a, kind)) = activation_after(g, ed, &output, opset >= 11) {
                inputs.resize(6, String::new());
                inputs.extend(nodes[a].inputs.iter().skip(1).cloned());
                attributes.push(Attribute { name: "activation".into(), value: AttrValue::Int(kind) });
                output = nodes[a].outputs[0].clone();
                ed.remove(a);
            }
        }
        for r in [c, m, last] {
            ed.remove(r);
        }
        let mut op = if conv { SCALED_CONV_INTEGER } else { SCALED_MATMUL_INTEGER };
        // The input's DynamicQuantizeLinear joins when it feeds only this chain.
        let bias_fits = |b: &String| b.is_empty() || ed.constant(b).and_then(|t| t.as_f32()).is_some_and(|t| per_channel_or_one(ed, &n.inputs[1], t));
        let fits = conv && fusion == Fusion::All && inputs.get(5).is_none_or(bias_fits);
        if let Some((d, scales, w_scale)) = dynamic_input(g, ed, i, m).filter(|_| fits) {
            inputs[0] = nodes[d].inputs[0].clone();
            inputs[2] = String::new();
            inputs[4] = w_scale;
            for r in [d, scales] {
                ed.remove(r);
            }
            op = DYNAMIC_CONV_INTEGER;
        }
        ed.replace(i, vec![internal(n, op, inputs, vec![output], attributes)]);
    }
}

/// For ConvInteger node `i` whose scale Mul is node `rescale`: the
/// DynamicQuantizeLinear making its input and zero point, and the Mul making
/// its scale `x_scale · w_scale` (w_scale a constant per output channel), when
/// nothing else reads their outputs: (that DynamicQuantizeLinear, that Mul,
/// w_scale's name).
fn dynamic_input(g: &Graph, ed: &Editor, i: usize, rescale: usize) -> Option<(usize, usize, String)> {
    let n = &g.nodes[i];
    let d = ed.producer(&n.inputs[0])?;
    let dq = &g.nodes[d];
    if dq.op_type != "DynamicQuantizeLinear" || !dq.domain.is_empty() || ed.is_edited(d) || dq.outputs.len() != 3 || n.inputs.get(2) != Some(&dq.outputs[2]) {
        return None;
    }
    if ed.only(&dq.outputs[0], "ConvInteger") != Some(i) || ed.only(&dq.outputs[2], "ConvInteger") != Some(i) {
        return None;
    }
    let scales = ed.only(&dq.outputs[1], "Mul")?;
    let mul = &g.nodes[scales];
    if ed.is_edited(scales) || mul.inputs.len() != 2 || ed.only(&mul.outputs[0], "Mul") != Some(rescale) {
        return None;
    }
    let w_scale = if mul.inputs[0] == dq.outputs[1] { &mul.inputs[1] } else { &mul.inputs[0] };
    let ws = ed.constant(w_scale)?.as_f32()?;
    (w_scale != &dq.outputs[1] && per_channel_or_one(ed, &n.inputs[1], ws)).then(|| (d, scales, w_scale.clone()))
}

/// `per_output_channel` for the constant filters named `w`.
fn per_channel_or_one(ed: &Editor, w: &str, t: &ndarray::ArrayD<f32>) -> bool {
    ed.constant(w).is_some_and(|w| per_output_channel(t.shape(), w.shape().first().copied().unwrap_or(0), w.shape().len()))
}

/// MatMul/Conv whose activation input is `DequantizeLinear(xq, per-tensor
/// scale)` and whose weight is `DequantizeLinear` of constant 8-bit codes
/// (per tensor, or per output channel) become `QdqMatMul`/`QdqConv`.
pub(super) fn fuse_qdq(g: &Graph, ed: &mut Editor) {
    let nodes = &g.nodes;
    for (i, n) in nodes.iter().enumerate() {
        let conv = n.op_type == "Conv";
        if !(n.op_type == "MatMul" || conv) || !n.domain.is_empty() || ed.is_edited(i) || n.inputs.len() < 2 {
            continue;
        }
        let (Some((pa, a)), Some((pb, b))) = (dq_into(g, ed, &n.inputs[0], i), dq_into(g, ed, &n.inputs[1], i)) else { continue };
        if ed.is_edited(pa) || ed.is_edited(pb) {
            continue;
        }
        // Activation: per-tensor constant scale. Weights: constant 8-bit codes.
        if ed.constant(&a[1]).is_none_or(|s| s.len() != 1) {
            continue;
        }
        let Some(wq) = ed.constant(&b[0]) else { continue };
        let rank_ok = if conv { (3..=4).contains(&wq.shape().len()) } else { wq.shape().len() == 2 };
        let w_scale_len = ed.constant(&b[1]).map(|t| t.len());
        let zp_constant = b[2].is_empty() || ed.constant(&b[2]).is_some();
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
        for r in [pa, pb] {
            ed.remove(r);
        }
        let op = if conv { QDQ_CONV } else { QDQ_MATMUL };
        ed.replace(i, vec![internal(n, op, inputs, n.outputs.clone(), if conv { n.attributes.clone() } else { vec![] })]);
    }
}

/// A DequantizeLinear feeding only node `user`, not blocked: its index and
/// inputs padded to 3.
fn dq_into(g: &Graph, ed: &Editor, value: &str, user: usize) -> Option<(usize, Vec<String>)> {
    let p = ed.producer(value)?;
    let dq = &g.nodes[p];
    if dq.op_type != "DequantizeLinear" || !dq.domain.is_empty() || dq.int_attr("block_size", 0) != 0 || ed.only(value, &g.nodes[user].op_type) != Some(user) {
        return None;
    }
    let mut inputs = dq.inputs.clone();
    inputs.resize(3, String::new());
    Some((p, inputs))
}
