//! Output facts (dtype, shape, small constant values) of ops from their
//! input facts. Each family registers its ops' rules next to their builders
//! (`Registry::facts`); the rules shared by several families live here.
//! `infer`/`infer_for` run them over a model with `ir::infer` as the driver;
//! the runtime uses them to check a run's memory before it starts.

use std::collections::HashMap;

pub use crate::ir::infer::Facts;
use crate::ir::infer::{broadcast, fixed, infer_graph, ints_attr, window_out};
use crate::ir::{AttrValue, Dim, Model, Node};
use crate::tensor::DType;

/// A rule: the facts of a node's outputs from those of its inputs.
pub type FactsRule = fn(&Node, &[Facts]) -> Vec<Facts>;

/// Input `i`'s facts (unknown when omitted).
pub fn input(ins: &[Facts], i: usize) -> Facts {
    ins.get(i).cloned().unwrap_or_else(Facts::unknown)
}

/// One output shaped and typed like input 0 (unary math, activations,
/// normalisations).
pub fn like_first(_: &Node, ins: &[Facts]) -> Vec<Facts> {
    let x = input(ins, 0);
    vec![Facts::with(x.dtype, x.shape)]
}

fn broadcast_all(ins: &[Facts]) -> Option<Vec<Dim>> {
    let shapes: Option<Vec<Vec<Dim>>> = ins.iter().map(|f| f.shape.clone()).collect();
    shapes.filter(|s| !s.is_empty()).map(|s| s.iter().skip(1).fold(s[0].clone(), |acc, d| broadcast(&acc, d)))
}

/// Numpy broadcasting of every input, typed like input 0 (arithmetic).
/// Small integer values (shape arithmetic: `Shape / 2`) are computed too.
pub fn broadcast_like_first(node: &Node, ins: &[Facts]) -> Vec<Facts> {
    let mut f = Facts::with(input(ins, 0).dtype, broadcast_all(ins));
    f.value = small_arithmetic(&node.op_type, ins);
    vec![f]
}

fn small_arithmetic(op: &str, ins: &[Facts]) -> Option<Vec<i64>> {
    let [a, b] = ins else { return None };
    let (a, b) = (a.value.as_ref()?, b.value.as_ref()?);
    let n = a.len().max(b.len());
    if !(a.len() == n || a.len() == 1) || !(b.len() == n || b.len() == 1) {
        return None;
    }
    let at = |v: &[i64], i: usize| if v.len() == 1 { v[0] } else { v[i] };
    (0..n)
        .map(|i| {
            let (x, y) = (at(a, i), at(b, i));
            match op {
                "Add" => x.checked_add(y),
                "Sub" => x.checked_sub(y),
                "Mul" => x.checked_mul(y),
                // Integer division truncates, as for int64 tensors.
                "Div" if y != 0 => x.checked_div(y),
                _ => None,
            }
        })
        .collect()
}

/// Numpy broadcasting of every input, boolean (comparisons, logic).
pub fn broadcast_bool(_: &Node, ins: &[Facts]) -> Vec<Facts> {
    vec![Facts::with(Some(DType::Bool), broadcast_all(ins))]
}

/// `Where(condition, x, y)`: broadcast, typed like x.
pub fn broadcast_like_second(_: &Node, ins: &[Facts]) -> Vec<Facts> {
    vec![Facts::with(input(ins, 1).dtype, broadcast_all(ins))]
}

/// Sliding windows (Conv, MaxPool, AveragePool): batch, channels (the
/// filter count for Conv), then one output length per spatial axis.
pub fn window(node: &Node, ins: &[Facts]) -> Vec<Facts> {
    let x = input(ins, 0);
    let unknown = || vec![Facts::with(x.dtype, None)];
    let Some(xs) = x.shape.clone().filter(|s| s.len() >= 3) else { return unknown() };
    let r = xs.len() - 2;
    let conv = node.op_type == "Conv";
    let w = input(ins, 1).shape;
    let kernel: Vec<i64> = match (ints_attr(node, "kernel_shape"), &w) {
        (Some(k), _) => k.to_vec(),
        (None, Some(w)) if conv && w.len() == xs.len() => match w[2..].iter().map(fixed).collect() {
            Some(k) => k,
            None => return unknown(),
        },
        _ => return unknown(),
    };
    let strides = ints_attr(node, "strides").map(<[i64]>::to_vec).unwrap_or(vec![1; r]);
    let dil = ints_attr(node, "dilations").map(<[i64]>::to_vec).unwrap_or(vec![1; r]);
    let pads = ints_attr(node, "pads").map(<[i64]>::to_vec).unwrap_or(vec![0; 2 * r]);
    let same = matches!(node.attr("auto_pad"), Some(AttrValue::String(s)) if s.starts_with(b"SAME"));
    let ceil = node.int_attr("ceil_mode", 0) != 0;
    if kernel.len() != r || strides.len() != r || dil.len() != r || pads.len() != 2 * r {
        return unknown();
    }
    let channels = if conv { w.as_ref().map(|w| w[0].clone()).unwrap_or(Dim::Unknown) } else { xs[1].clone() };
    let mut shape = vec![xs[0].clone(), channels];
    shape.extend((0..r).map(|i| window_out(&xs[2 + i], kernel[i], strides[i], dil[i], pads[i] + pads[i + r], pads[i], ceil, same)));
    let mut out = vec![Facts::with(x.dtype, Some(shape.clone()))];
    if node.op_type == "MaxPool" {
        out.push(Facts::with(Some(DType::I64), Some(shape)));
    }
    out
}

/// Facts for every named value of the model's main graph, from the
/// declared input types (symbolic dimensions stay symbolic).
pub fn infer(model: &Model) -> HashMap<String, Facts> {
    infer_for(model, &[])
}

/// Like `infer`, with concrete input shapes (e.g. the user's inputs).
pub fn infer_for(model: &Model, inputs: &[(String, DType, Vec<usize>)]) -> HashMap<String, Facts> {
    let registry = super::Registry::standard();
    infer_graph(&model.graph, &model.graph.nodes, inputs, &|n, ins| registry.output_facts(n, ins))
}
