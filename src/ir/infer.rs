//! Static shape and type inference, the driver: the dtype and shape of every
//! value, from the declared inputs, the weights and each op's own rule
//! (`ops` registers them: `ops::facts`), without running the model. Symbolic
//! dimensions ("batch") flow through; where a rule cannot decide (a shape
//! computed from data, an op without a rule) the result is unknown rather
//! than guessed.

use std::collections::HashMap;

use super::{AttrValue, Dim, Graph, Node, ValueType};
use crate::tensor::{DType, Tensor};

/// What inference knows of one value.
#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    pub dtype: Option<DType>,
    /// `None`: rank unknown.
    pub shape: Option<Vec<Dim>>,
    /// Small integer values known statically (shape tensors), for Reshape etc.
    pub value: Option<Vec<i64>>,
}

impl Facts {
    pub fn unknown() -> Facts {
        Facts { dtype: None, shape: None, value: None }
    }

    pub fn of_tensor(t: &Tensor) -> Facts {
        let value = if t.len() <= 64 { t.to_i64_vec() } else { None };
        Facts { dtype: Some(t.dtype()), shape: Some(t.shape().iter().map(|&d| Dim::Fixed(d as i64)).collect()), value }
    }

    pub fn with(dtype: Option<DType>, shape: Option<Vec<Dim>>) -> Facts {
        Facts { dtype, shape, value: None }
    }
}

/// An ints attribute, if present.
pub fn ints_attr<'a>(node: &'a Node, name: &str) -> Option<&'a [i64]> {
    match node.attr(name) {
        Some(AttrValue::Ints(v)) => Some(v),
        _ => None,
    }
}

/// A possibly negative axis within `rank`.
pub fn norm(axis: i64, rank: usize) -> Option<usize> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    (0..r).contains(&a).then_some(a as usize)
}

/// Numpy broadcasting over possibly symbolic dimensions.
pub fn broadcast(a: &[Dim], b: &[Dim]) -> Vec<Dim> {
    let rank = a.len().max(b.len());
    (0..rank)
        .map(|i| {
            let da = if i + a.len() >= rank { a[i + a.len() - rank].clone() } else { Dim::Fixed(1) };
            let db = if i + b.len() >= rank { b[i + b.len() - rank].clone() } else { Dim::Fixed(1) };
            match (da, db) {
                (x, y) if x == y => x,
                (Dim::Fixed(1), y) => y,
                (x, Dim::Fixed(1)) => x,
                (Dim::Fixed(x), _) if x != 1 => Dim::Fixed(x),
                (_, Dim::Fixed(y)) if y != 1 => Dim::Fixed(y),
                _ => Dim::Unknown,
            }
        })
        .collect()
}

/// A dimension's value when it is fixed.
pub fn fixed(d: &Dim) -> Option<i64> {
    match d {
        Dim::Fixed(v) => Some(*v),
        _ => None,
    }
}

/// Output length of a sliding window along one axis: `pads` in total,
/// `pad_begin` of them before the input. With `ceil`, the last window must
/// still start inside the input or its begin padding (as the pools do).
#[allow(clippy::too_many_arguments)]
pub fn window_out(input: &Dim, kernel: i64, stride: i64, dilation: i64, pads: i64, pad_begin: i64, ceil: bool, same: bool) -> Dim {
    let Some(n) = fixed(input) else { return Dim::Unknown };
    if same {
        return Dim::Fixed((n + stride - 1) / stride);
    }
    let span = n + pads - dilation * (kernel - 1) - 1;
    if span < 0 || stride <= 0 {
        return Dim::Unknown;
    }
    if !ceil {
        return Dim::Fixed(span / stride + 1);
    }
    let mut out = (span + stride - 1) / stride + 1;
    if (out - 1) * stride >= n + pad_begin {
        out -= 1;
    }
    Dim::Fixed(out)
}

/// An op's rule: the facts of a node's outputs from those of its inputs
/// (one entry per output).
pub type Rule<'r> = &'r dyn Fn(&Node, &[Facts]) -> Vec<Facts>;

/// Facts for every named value of `g` (of `nodes`, which stand for its
/// node list), from the declared input types, or from `concrete` input
/// shapes where given (symbolic dimensions stay symbolic otherwise).
pub fn infer_graph(g: &Graph, nodes: &[Node], concrete: &[(String, DType, Vec<usize>)], rule: Rule) -> HashMap<String, Facts> {
    let mut facts: HashMap<String, Facts> = HashMap::new();
    for vi in &g.inputs {
        if let ValueType::Tensor { shape, .. } = &vi.ty {
            facts.insert(vi.name.clone(), Facts::with(vi.ty.dtype(), shape.clone()));
        }
    }
    for (name, dtype, shape) in concrete {
        facts.insert(name.clone(), Facts::with(Some(*dtype), Some(shape.iter().map(|&d| Dim::Fixed(d as i64)).collect())));
    }
    for (name, t) in &g.initializers {
        facts.insert(name.clone(), Facts::of_tensor(t));
    }
    // Nodes are usually in order; a few passes settle graphs that are not.
    for _ in 0..3 {
        let before = facts.len();
        for node in nodes {
            if node.outputs.iter().all(|o| o.is_empty() || facts.contains_key(o)) {
                continue;
            }
            let ins: Vec<Facts> = node.inputs.iter().map(|i| facts.get(i).cloned().unwrap_or_else(Facts::unknown)).collect();
            if node.inputs.iter().any(|i| !i.is_empty() && !facts.contains_key(i)) {
                continue;
            }
            for (o, f) in node.outputs.iter().zip(rule(node, &ins)) {
                if !o.is_empty() {
                    facts.insert(o.clone(), f);
                }
            }
        }
        if facts.len() == before {
            break;
        }
    }
    facts
}
