//! Load-time fusions of float chains that transformer exports spell out op
//! by op. Like the integer fusions they change only the session's execution
//! list, and each fused op replays the chain's float operations in order, so
//! results are bit-identical:
//!
//! * `MatMul(x, constant W) → Add(·, constant bias)` becomes `MatMulBias`:
//!   the bias is added to each output row while it is still in cache.
//! * the exact-erf GELU, `Div|Mul → Erf → Add → Mul → Mul`, becomes `GeluChain`
//!   (one pass instead of five, see `kernels::GeluChain`).
//! * `Gather(DequantizeLinear(constant 8-bit table), indices)` becomes
//!   `GatherDequantize`: the rows are gathered as codes and dequantised after,
//!   so an int8 embedding table stays int8 in memory instead of being
//!   expanded to float32 at load (bert_minilm: 47 MB).

use super::{activation_after, internal, scalar_f32};
use crate::ir::editor::Editor;
use crate::ir::{AttrValue, Attribute, Graph, Node};
use crate::ops::internal::CONV_ACTIVATION;
use crate::ops::internal::{GATHER_DEQUANTIZE, GELU_CHAIN, MATMUL_BIAS};

/// The other input of a two-input node, given one of them.
fn other_input<'n>(n: &'n Node, one: &str) -> Option<&'n str> {
    match n.inputs.as_slice() {
        [a, b] if a == one => Some(b),
        [a, b] if b == one => Some(a),
        _ => None,
    }
}

pub(super) fn fuse_matmul_bias(g: &Graph, ed: &mut Editor) {
    let nodes = &g.nodes;
    for (i, n) in nodes.iter().enumerate() {
        if n.op_type != "MatMul" || !n.domain.is_empty() || n.inputs.len() != 2 || n.outputs.len() != 1 || ed.is_edited(i) {
            continue;
        }
        let Some(w) = ed.constant(&n.inputs[1]).and_then(|t| t.as_f32()).filter(|w| w.ndim() == 2) else { continue };
        let Some(a) = ed.only(&n.outputs[0], "Add").filter(|&a| !ed.is_edited(a)) else { continue };
        let add = &nodes[a];
        let Some(bias) = other_input(add, &n.outputs[0]) else { continue };
        // A bias of rank ≤ 2 cannot raise the product's rank (≥ 2 whenever W is packed).
        let cols = w.shape()[1];
        let fits = ed.constant(bias).and_then(|t| t.as_f32()).is_some_and(|b| b.ndim() <= 2 && b.len() == cols && b.shape().last() == Some(&cols));
        if !fits || add.outputs.len() != 1 {
            continue;
        }
        ed.remove(i);
        ed.remove(a);
        let inputs = vec![n.inputs[0].clone(), n.inputs[1].clone(), bias.to_string()];
        ed.replace(i, vec![internal(n, MATMUL_BIAS, inputs, add.outputs.clone(), vec![])]);
    }
}

pub(super) fn fuse_gelu(g: &Graph, ed: &mut Editor) {
    let nodes = &g.nodes;
    for (e, erf) in nodes.iter().enumerate() {
        if erf.op_type != "Erf" || !erf.domain.is_empty() || erf.inputs.len() != 1 || erf.outputs.len() != 1 || ed.is_edited(e) {
            continue;
        }
        // t = x / divisor, or x · divisor, read only by the Erf.
        let Some(s) = ed.producer(&erf.inputs[0]).filter(|&s| !ed.is_edited(s)) else { continue };
        let scale = &nodes[s];
        let divide = scale.op_type == "Div";
        if !(divide || scale.op_type == "Mul") || !scale.domain.is_empty() || scale.inputs.len() != 2 || ed.only(&erf.inputs[0], "Erf") != Some(e) {
            continue;
        }
        // Div's constant is its divisor (input 1); Mul's is either input.
        let (x, divisor) = match (scalar_f32(ed, &scale.inputs[1]), scalar_f32(ed, &scale.inputs[0])) {
            (Some(d), _) => (&scale.inputs[0], d),
            (None, Some(d)) if !divide => (&scale.inputs[1], d),
            _ => continue,
        };
        // e = erf(t) + one.
        let Some(p) = ed.only(&erf.outputs[0], "Add").filter(|&p| !ed.is_edited(p)) else { continue };
        let Some(one) = other_input(&nodes[p], &erf.outputs[0]).and_then(|c| scalar_f32(ed, c)) else { continue };
        let plus = &nodes[p].outputs[0];
        // (x · e) · half, or (x · half) · e.
        let Some(m1) = ed.only(plus, "Mul").filter(|&m| !ed.is_edited(m)) else { continue };
        let Some(other) = other_input(&nodes[m1], plus) else { continue };
        let (half, half_first, chain) = if other == x.as_str() {
            let Some(m2) = ed.only(&nodes[m1].outputs[0], "Mul").filter(|&m| !ed.is_edited(m)) else { continue };
            let Some(half) = other_input(&nodes[m2], &nodes[m1].outputs[0]).and_then(|c| scalar_f32(ed, c)) else { continue };
            (half, false, [s, e, p, m1, m2])
        } else {
            // `other` must be x · half, read only here.
            let Some(h) = ed.producer(other).filter(|&h| !ed.is_edited(h) && nodes[h].op_type == "Mul" && nodes[h].domain.is_empty()) else {
                continue;
            };
            let Some(half) = other_input(&nodes[h], x).and_then(|c| scalar_f32(ed, c)) else { continue };
            if ed.only(other, "Mul") != Some(m1) || nodes[h].inputs.iter().filter(|v| *v == x).count() != 1 {
                continue;
            }
            (half, true, [s, h, e, p, m1])
        };
        let last = *chain.last().expect("five nodes");
        if nodes[last].outputs.len() != 1 {
            continue;
        }
        let float = |name: &str, v: f32| Attribute { name: name.into(), value: AttrValue::Float(v) };
        let int = |name: &str, v: bool| Attribute { name: name.into(), value: AttrValue::Int(v as i64) };
        let attributes = vec![float("divisor", divisor), float("one", one), float("half", half), int("divide", divide), int("half_first", half_first)];
        for &r in &chain {
            ed.remove(r);
        }
        ed.replace(s, vec![internal(scale, GELU_CHAIN, vec![x.clone()], nodes[last].outputs.clone(), attributes)]);
    }
}

pub(super) fn fuse_gather_dequantize(g: &Graph, ed: &mut Editor) {
    use crate::tensor::DType;
    let nodes = &g.nodes;
    for (d, dq) in nodes.iter().enumerate() {
        if dq.op_type != "DequantizeLinear" || !dq.domain.is_empty() || dq.inputs.len() < 2 || dq.outputs.len() != 1 || ed.is_edited(d) {
            continue;
        }
        let Some(gi) = ed.only(&dq.outputs[0], "Gather").filter(|&g| !ed.is_edited(g)) else { continue };
        let gather = &nodes[gi];
        let Some(codes) = ed.constant(&dq.inputs[0]).filter(|t| matches!(t.dtype(), DType::U8 | DType::I8) && !t.shape().is_empty()) else { continue };
        let Some(scale) = ed.constant(&dq.inputs[1]).and_then(|t| t.as_f32()) else { continue };
        let zp = dq.inputs.get(2).filter(|z| !z.is_empty());
        let zp_ok = zp.is_none_or(|z| ed.constant(z).is_some_and(|t| t.dtype() == codes.dtype() && t.len() == scale.len()));
        let rank = codes.shape().len() as i64;
        let rows = codes.shape()[0];
        // Per tensor, or one scale per row of the table (axis 0).
        let per_row = scale.len() == rows && scale.ndim() == 1 && (dq.int_attr("axis", 1) + rank) % rank == 0;
        let params_ok = (scale.len() == 1 || per_row) && dq.int_attr("block_size", 0) == 0 && zp_ok;
        if !params_ok || gather.inputs.len() != 2 || gather.inputs[0] != dq.outputs[0] || (gather.int_attr("axis", 0) + rank) % rank != 0 {
            continue;
        }
        ed.remove(d);
        ed.remove(gi);
        let inputs = vec![dq.inputs[0].clone(), dq.inputs[1].clone(), zp.cloned().unwrap_or_default(), gather.inputs[1].clone()];
        ed.replace(gi, vec![internal(gather, GATHER_DEQUANTIZE, inputs, gather.outputs.clone(), vec![])]);
    }
}

/// Float `Conv` whose only reader is `Relu`, or `Clip` at opset ≥ 11, becomes
/// `ConvActivation` writing the activation's output.
pub(super) fn fuse_conv_activation(g: &Graph, ed: &mut Editor, clip_takes_inputs: bool) {
    let nodes = &g.nodes;
    for (i, n) in nodes.iter().enumerate() {
        if n.op_type != "Conv" || !n.domain.is_empty() || ed.is_edited(i) || ed.is_edited(i) || n.outputs.len() != 1 || n.inputs.len() < 2 {
            continue;
        }
        let Some((a, kind)) = activation_after(g, ed, &n.outputs[0], clip_takes_inputs) else { continue };
        ed.remove(i);
        ed.remove(a);
        ed.replace(i, vec![conv_activation(n, n.inputs.clone(), &nodes[a], kind)]);
    }
}

/// The `ConvActivation` standing for `conv` (reading `inputs`: X, W and an
/// optional B) followed by activation node `act` of `kind` (1 Relu, 2 Clip,
/// whose bounds follow the convolution's inputs).
fn conv_activation(conv: &Node, mut inputs: Vec<String>, act: &Node, kind: i64) -> Node {
    inputs.resize(3, String::new());
    if kind == 2 {
        inputs.extend(act.inputs.iter().skip(1).cloned());
    }
    let mut attributes = conv.attributes.clone();
    attributes.push(Attribute { name: "activation".into(), value: AttrValue::Int(kind) });
    internal(conv, CONV_ACTIVATION, inputs, act.outputs.clone(), attributes)
}

/// `Conv(x, constant W[, constant B])` whose only reader is an inference
/// `BatchNormalization` with constant parameters becomes one `Conv` (or
/// `ConvActivation`, when Relu or Clip alone reads the normalised value)
/// with the normalisation folded into its filters and bias:
/// `s = scale / √(var + ε)`, `W' = W · s`, `B' = (B − mean) · s + bias`, per
/// output channel, computed once at load as `Constant` nodes. Unlike the
/// fusions above this changes rounding (as onnxruntime's fold does), so only
/// sessions that may hide float values apply it.
pub(super) fn fold_batch_norm(g: &Graph, ed: &mut Editor, clip_takes_inputs: bool) {
    let nodes = &g.nodes;
    for (i, conv) in nodes.iter().enumerate() {
        if conv.op_type != "Conv" || !conv.domain.is_empty() || ed.is_edited(i) || conv.outputs.len() != 1 || !(2..=3).contains(&conv.inputs.len()) {
            continue;
        }
        let Some(b) = ed.only(&conv.outputs[0], "BatchNormalization").filter(|&b| !ed.is_edited(b)) else { continue };
        let bn = &nodes[b];
        let Some((filters, bias)) = folded_filters(ed, conv, bn) else { continue };
        let w_name = ed.fresh(&format!("{}_bn_folded_w", conv.name));
        let b_name = ed.fresh(&format!("{}_bn_folded_b", conv.name));
        let constant = |name: &str, t| Node {
            name: name.to_string(),
            op_type: "Constant".into(),
            domain: String::new(),
            inputs: vec![],
            outputs: vec![name.to_string()],
            attributes: vec![Attribute { name: "value".into(), value: AttrValue::Tensor(t) }],
            doc_string: String::new(),
        };
        let inputs = vec![conv.inputs[0].clone(), w_name.clone(), b_name.clone()];
        let folded = match activation_after(g, ed, &bn.outputs[0], clip_takes_inputs) {
            Some((a, kind)) => {
                ed.remove(a);
                conv_activation(conv, inputs, &nodes[a], kind)
            }
            None => Node { inputs, outputs: bn.outputs[..1].to_vec(), ..conv.clone() },
        };
        ed.remove(b);
        ed.replace(i, vec![constant(&w_name, filters), constant(&b_name, bias), folded]);
    }
}

/// The folded filters and bias of `conv` → `bn`, when every parameter is a
/// constant of the right size and the normalisation is the inference form.
fn folded_filters(ed: &Editor, conv: &Node, bn: &Node) -> Option<(crate::tensor::Tensor, crate::tensor::Tensor)> {
    use crate::tensor::Tensor;
    let inference = bn.inputs.len() == 5 && bn.int_attr("training_mode", 0) == 0 && bn.int_attr("spatial", 1) == 1;
    if !bn.domain.is_empty() || !inference || bn.outputs.iter().skip(1).any(|o| !o.is_empty()) || bn.inputs[0] != conv.outputs[0] {
        return None;
    }
    let w = ed.constant(&conv.inputs[1])?.as_f32()?;
    let m = *w.shape().first()?;
    let vector =
        |name: &str| ed.constant(name).and_then(|t| t.as_f32()).filter(|t| t.ndim() == 1 && t.len() == m).map(|t| t.iter().copied().collect::<Vec<f32>>());
    let (scale, shift, mean, var) = (vector(&bn.inputs[1])?, vector(&bn.inputs[2])?, vector(&bn.inputs[3])?, vector(&bn.inputs[4])?);
    let conv_bias = match conv.inputs.get(2).filter(|b| !b.is_empty()) {
        Some(name) => vector(name)?,
        None => vec![0.0; m],
    };
    let epsilon = match bn.attr("epsilon") {
        Some(AttrValue::Float(e)) => *e,
        None => 1e-5,
        Some(_) => return None,
    };
    if w.ndim() < 3 || m == 0 {
        return None;
    }
    let s: Vec<f32> = scale.iter().zip(&var).map(|(&g, &v)| g / (v + epsilon).sqrt()).collect();
    let flat = crate::ops::contiguous(w);
    let per = flat.len() / m;
    let filters: Vec<f32> = flat.iter().enumerate().map(|(j, &x)| x * s[j / per]).collect();
    let bias: Vec<f32> = (0..m).map(|o| (conv_bias[o] - mean[o]) * s[o] + shift[o]).collect();
    Some((Tensor::from_vec(w.shape(), filters).ok()?, Tensor::from_vec(&[m], bias).ok()?))
}
