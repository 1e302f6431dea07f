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

use std::collections::HashMap;

use super::fuse::{internal, Links};
use crate::ir::{AttrValue, Attribute, Node};
use crate::ops::internal::{GATHER_DEQUANTIZE, GELU_CHAIN, MATMUL_BIAS};

/// The other input of a two-input node, given one of them.
fn other_input<'n>(n: &'n Node, one: &str) -> Option<&'n str> {
    match n.inputs.as_slice() {
        [a, b] if a == one => Some(b),
        [a, b] if b == one => Some(a),
        _ => None,
    }
}

fn free(i: usize, removed: &[bool], replacement: &HashMap<usize, Node>) -> bool {
    !removed[i] && !replacement.contains_key(&i)
}

pub(super) fn fuse_matmul_bias(links: &Links, removed: &mut [bool], replacement: &mut HashMap<usize, Node>) {
    let nodes = &links.g.nodes;
    for (i, n) in nodes.iter().enumerate() {
        if n.op_type != "MatMul" || !n.domain.is_empty() || n.inputs.len() != 2 || n.outputs.len() != 1 || !free(i, removed, replacement) {
            continue;
        }
        let Some(w) = links.constant(&n.inputs[1]).and_then(|t| t.as_f32()).filter(|w| w.ndim() == 2) else { continue };
        let Some(a) = links.only(&n.outputs[0], "Add").filter(|&a| free(a, removed, replacement)) else { continue };
        let add = &nodes[a];
        let Some(bias) = other_input(add, &n.outputs[0]) else { continue };
        // A bias of rank ≤ 2 cannot raise the product's rank (≥ 2 whenever W is packed).
        let cols = w.shape()[1];
        let fits = links.constant(bias).and_then(|t| t.as_f32()).is_some_and(|b| b.ndim() <= 2 && b.len() == cols && b.shape().last() == Some(&cols));
        if !fits || add.outputs.len() != 1 {
            continue;
        }
        removed[i] = true;
        removed[a] = true;
        let inputs = vec![n.inputs[0].clone(), n.inputs[1].clone(), bias.to_string()];
        replacement.insert(i, internal(n, MATMUL_BIAS, inputs, add.outputs.clone(), vec![]));
    }
}

pub(super) fn fuse_gelu(links: &Links, removed: &mut [bool], replacement: &mut HashMap<usize, Node>) {
    let nodes = &links.g.nodes;
    for (e, erf) in nodes.iter().enumerate() {
        if erf.op_type != "Erf" || !erf.domain.is_empty() || erf.inputs.len() != 1 || erf.outputs.len() != 1 || !free(e, removed, replacement) {
            continue;
        }
        // t = x / divisor, or x · divisor, read only by the Erf.
        let Some(s) = links.producer(&erf.inputs[0]).filter(|&s| free(s, removed, replacement)) else { continue };
        let scale = &nodes[s];
        let divide = scale.op_type == "Div";
        if !(divide || scale.op_type == "Mul") || !scale.domain.is_empty() || scale.inputs.len() != 2 || links.only(&erf.inputs[0], "Erf") != Some(e) {
            continue;
        }
        // Div's constant is its divisor (input 1); Mul's is either input.
        let (x, divisor) = match (links.scalar_f32(&scale.inputs[1]), links.scalar_f32(&scale.inputs[0])) {
            (Some(d), _) => (&scale.inputs[0], d),
            (None, Some(d)) if !divide => (&scale.inputs[1], d),
            _ => continue,
        };
        // e = erf(t) + one.
        let Some(p) = links.only(&erf.outputs[0], "Add").filter(|&p| free(p, removed, replacement)) else { continue };
        let Some(one) = other_input(&nodes[p], &erf.outputs[0]).and_then(|c| links.scalar_f32(c)) else { continue };
        let plus = &nodes[p].outputs[0];
        // (x · e) · half, or (x · half) · e.
        let Some(m1) = links.only(plus, "Mul").filter(|&m| free(m, removed, replacement)) else { continue };
        let Some(other) = other_input(&nodes[m1], plus) else { continue };
        let (half, half_first, chain) = if other == x.as_str() {
            let Some(m2) = links.only(&nodes[m1].outputs[0], "Mul").filter(|&m| free(m, removed, replacement)) else { continue };
            let Some(half) = other_input(&nodes[m2], &nodes[m1].outputs[0]).and_then(|c| links.scalar_f32(c)) else { continue };
            (half, false, [s, e, p, m1, m2])
        } else {
            // `other` must be x · half, read only here.
            let Some(h) = links.producer(other).filter(|&h| free(h, removed, replacement) && nodes[h].op_type == "Mul" && nodes[h].domain.is_empty()) else {
                continue;
            };
            let Some(half) = other_input(&nodes[h], x).and_then(|c| links.scalar_f32(c)) else { continue };
            if links.only(other, "Mul") != Some(m1) || nodes[h].inputs.iter().filter(|v| *v == x).count() != 1 {
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
            removed[r] = true;
        }
        replacement.insert(s, internal(scale, GELU_CHAIN, vec![x.clone()], nodes[last].outputs.clone(), attributes));
    }
}

pub(super) fn fuse_gather_dequantize(links: &Links, removed: &mut [bool], replacement: &mut HashMap<usize, Node>) {
    use crate::tensor::DType;
    let nodes = &links.g.nodes;
    for (d, dq) in nodes.iter().enumerate() {
        if dq.op_type != "DequantizeLinear" || !dq.domain.is_empty() || dq.inputs.len() < 2 || dq.outputs.len() != 1 || !free(d, removed, replacement) {
            continue;
        }
        let Some(gi) = links.only(&dq.outputs[0], "Gather").filter(|&g| free(g, removed, replacement)) else { continue };
        let gather = &nodes[gi];
        let Some(codes) = links.constant(&dq.inputs[0]).filter(|t| matches!(t.dtype(), DType::U8 | DType::I8) && !t.shape().is_empty()) else { continue };
        let Some(scale) = links.constant(&dq.inputs[1]).and_then(|t| t.as_f32()) else { continue };
        let zp = dq.inputs.get(2).filter(|z| !z.is_empty());
        let zp_ok = zp.is_none_or(|z| links.constant(z).is_some_and(|t| t.dtype() == codes.dtype() && t.len() == scale.len()));
        let rank = codes.shape().len() as i64;
        let rows = codes.shape()[0];
        // Per tensor, or one scale per row of the table (axis 0).
        let per_row = scale.len() == rows && scale.ndim() == 1 && (dq.int_attr("axis", 1) + rank) % rank == 0;
        let params_ok = (scale.len() == 1 || per_row) && dq.int_attr("block_size", 0) == 0 && zp_ok;
        if !params_ok || gather.inputs.len() != 2 || gather.inputs[0] != dq.outputs[0] || (gather.int_attr("axis", 0) + rank) % rank != 0 {
            continue;
        }
        removed[d] = true;
        removed[gi] = true;
        let inputs = vec![dq.inputs[0].clone(), dq.inputs[1].clone(), zp.cloned().unwrap_or_default(), gather.inputs[1].clone()];
        replacement.insert(gi, internal(gather, GATHER_DEQUANTIZE, inputs, gather.outputs.clone(), vec![]));
    }
}
