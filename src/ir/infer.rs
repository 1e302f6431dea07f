//! Static shape and type inference: the dtype and shape of every value,
//! from the declared inputs, the weights and per-op rules, without running
//! the model. Symbolic dimensions ("batch") flow through; where a rule
//! cannot decide (a shape computed from data, an op without a rule) the
//! result is unknown rather than guessed.

use std::collections::HashMap;

use super::{AttrValue, Dim, Graph, Model, Node, ValueType};
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
    fn unknown() -> Facts {
        Facts { dtype: None, shape: None, value: None }
    }

    fn of_tensor(t: &Tensor) -> Facts {
        let value = if t.len() <= 64 { t.to_i64_vec() } else { None };
        Facts { dtype: Some(t.dtype()), shape: Some(t.shape().iter().map(|&d| Dim::Fixed(d as i64)).collect()), value }
    }

    fn with(dtype: Option<DType>, shape: Option<Vec<Dim>>) -> Facts {
        Facts { dtype, shape, value: None }
    }
}

fn ints_attr<'a>(node: &'a Node, name: &str) -> Option<&'a [i64]> {
    match node.attr(name) {
        Some(AttrValue::Ints(v)) => Some(v),
        _ => None,
    }
}

fn norm(axis: i64, rank: usize) -> Option<usize> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    (0..r).contains(&a).then_some(a as usize)
}

/// Numpy broadcasting over possibly symbolic dimensions.
fn broadcast(a: &[Dim], b: &[Dim]) -> Vec<Dim> {
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

fn fixed(d: &Dim) -> Option<i64> {
    match d {
        Dim::Fixed(v) => Some(*v),
        _ => None,
    }
}

/// Output length of a sliding window along one axis.
fn window_out(input: &Dim, kernel: i64, stride: i64, dilation: i64, pads: i64, ceil: bool, same: bool) -> Dim {
    let Some(n) = fixed(input) else { return Dim::Unknown };
    if same {
        return Dim::Fixed((n + stride - 1) / stride);
    }
    let span = n + pads - dilation * (kernel - 1) - 1;
    if span < 0 || stride <= 0 {
        return Dim::Unknown;
    }
    Dim::Fixed(if ceil { (span + stride - 1) / stride + 1 } else { span / stride + 1 })
}

/// Output facts of one node from its input facts (one entry per output).
fn rule(node: &Node, ins: &[Facts]) -> Vec<Facts> {
    let get = |i: usize| ins.get(i).cloned().unwrap_or_else(Facts::unknown);
    let x = get(0);
    let same = || vec![Facts::with(x.dtype, x.shape.clone())];
    match node.op_type.as_str() {
        "Identity"
        | "Relu"
        | "Sigmoid"
        | "Tanh"
        | "LeakyRelu"
        | "HardSigmoid"
        | "HardSwish"
        | "Elu"
        | "Selu"
        | "Celu"
        | "Softplus"
        | "Gelu"
        | "Mish"
        | "ThresholdedRelu"
        | "PRelu"
        | "Clip"
        | "Softmax"
        | "LogSoftmax"
        | "Abs"
        | "Neg"
        | "Exp"
        | "Log"
        | "Sqrt"
        | "Reciprocal"
        | "Floor"
        | "Ceil"
        | "Round"
        | "Erf"
        | "Sin"
        | "Cos"
        | "Tan"
        | "Sign"
        | "Softsign"
        | "BatchNormalization"
        | "InstanceNormalization"
        | "LRN"
        | "Dropout"
        | "LayerNormalization" => {
            let mut out = same();
            if node.op_type == "Identity" {
                out[0].value = x.value.clone();
            }
            out
        }
        "Cast" => {
            let to = crate::tensor::DType::from_onnx(node.int_attr("to", 0) as i32);
            vec![Facts { dtype: to, shape: x.shape.clone(), value: x.value.clone() }]
        }
        "Add" | "Sub" | "Mul" | "Div" | "Pow" | "Max" | "Min" | "Sum" | "Mean" | "Mod" | "Where" | "Equal" | "Greater" | "GreaterOrEqual" | "Less"
        | "LessOrEqual" | "And" | "Or" | "Xor" => {
            let shapes: Option<Vec<Vec<Dim>>> = ins.iter().map(|f| f.shape.clone()).collect();
            let shape = shapes.map(|s| s.iter().skip(1).fold(s[0].clone(), |acc, d| broadcast(&acc, d)));
            let dtype = match node.op_type.as_str() {
                "Equal" | "Greater" | "GreaterOrEqual" | "Less" | "LessOrEqual" | "And" | "Or" | "Xor" => Some(DType::Bool),
                "Where" => get(1).dtype,
                _ => x.dtype,
            };
            vec![Facts::with(dtype, shape)]
        }
        "MatMul" => {
            let (a, b) = (x.shape.clone(), get(1).shape);
            let shape = match (a, b) {
                (Some(a), Some(b)) if a.len() >= 2 && b.len() >= 2 => {
                    let mut s = broadcast(&a[..a.len() - 2], &b[..b.len() - 2]);
                    s.push(a[a.len() - 2].clone());
                    s.push(b[b.len() - 1].clone());
                    Some(s)
                }
                _ => None,
            };
            vec![Facts::with(x.dtype, shape)]
        }
        "Gemm" => {
            let (a, b) = (x.shape.clone(), get(1).shape);
            let shape = match (a, b) {
                (Some(a), Some(b)) if a.len() == 2 && b.len() == 2 => {
                    let m = if node.int_attr("transA", 0) != 0 { a[1].clone() } else { a[0].clone() };
                    let n = if node.int_attr("transB", 0) != 0 { b[0].clone() } else { b[1].clone() };
                    Some(vec![m, n])
                }
                _ => None,
            };
            vec![Facts::with(x.dtype, shape)]
        }
        "Conv" | "MaxPool" | "AveragePool" => {
            let Some(xs) = x.shape.clone().filter(|s| s.len() >= 3) else { return vec![Facts::with(x.dtype, None)] };
            let r = xs.len() - 2;
            let w = get(1).shape;
            let kernel: Vec<i64> = match (ints_attr(node, "kernel_shape"), &w) {
                (Some(k), _) => k.to_vec(),
                (None, Some(w)) if node.op_type == "Conv" && w.len() == xs.len() => match w[2..].iter().map(fixed).collect() {
                    Some(k) => k,
                    None => return vec![Facts::with(x.dtype, None)],
                },
                _ => return vec![Facts::with(x.dtype, None)],
            };
            let strides = ints_attr(node, "strides").map(<[i64]>::to_vec).unwrap_or(vec![1; r]);
            let dil = ints_attr(node, "dilations").map(<[i64]>::to_vec).unwrap_or(vec![1; r]);
            let pads = ints_attr(node, "pads").map(<[i64]>::to_vec).unwrap_or(vec![0; 2 * r]);
            let auto = matches!(node.attr("auto_pad"), Some(AttrValue::String(s)) if s.starts_with(b"SAME"));
            let ceil = node.int_attr("ceil_mode", 0) != 0;
            if kernel.len() != r || strides.len() != r || dil.len() != r || pads.len() != 2 * r {
                return vec![Facts::with(x.dtype, None)];
            }
            let channels = if node.op_type == "Conv" { w.as_ref().map(|w| w[0].clone()).unwrap_or(Dim::Unknown) } else { xs[1].clone() };
            let mut shape = vec![xs[0].clone(), channels];
            shape.extend((0..r).map(|i| window_out(&xs[2 + i], kernel[i], strides[i], dil[i], pads[i] + pads[i + r], ceil, auto)));
            let mut out = vec![Facts::with(x.dtype, Some(shape.clone()))];
            if node.op_type == "MaxPool" {
                out.push(Facts::with(Some(DType::I64), Some(shape)));
            }
            out
        }
        "GlobalAveragePool" | "GlobalMaxPool" => {
            let shape = x.shape.clone().map(|s| s.iter().enumerate().map(|(i, d)| if i < 2 { d.clone() } else { Dim::Fixed(1) }).collect());
            vec![Facts::with(x.dtype, shape)]
        }
        "Flatten" => {
            let shape = x.shape.clone().and_then(|s| {
                let axis = norm(node.int_attr("axis", 1), s.len() + 1)?;
                let prod = |ds: &[Dim]| ds.iter().map(fixed).try_fold(1i64, |acc, d| d.map(|d| acc * d));
                Some(vec![prod(&s[..axis]).map_or(Dim::Unknown, Dim::Fixed), prod(&s[axis..]).map_or(Dim::Unknown, Dim::Fixed)])
            });
            vec![Facts::with(x.dtype, shape)]
        }
        "Transpose" => {
            let shape = x.shape.clone().map(|s| match ints_attr(node, "perm") {
                Some(p) => p.iter().map(|&a| norm(a, s.len()).map_or(Dim::Unknown, |a| s[a].clone())).collect(),
                None => s.iter().rev().cloned().collect(),
            });
            vec![Facts::with(x.dtype, shape)]
        }
        "Shape" => {
            let value = x.shape.as_ref().and_then(|s| s.iter().map(fixed).collect::<Option<Vec<i64>>>());
            let rank = x.shape.as_ref().map(|s| vec![Dim::Fixed(s.len() as i64)]);
            vec![Facts { dtype: Some(DType::I64), shape: rank, value }]
        }
        "Reshape" => {
            let spec = get(1).value;
            let shape = spec.map(|spec| {
                let input = x.shape.clone().unwrap_or_default();
                let mut out: Vec<Dim> = spec
                    .iter()
                    .enumerate()
                    .map(|(i, &d)| match d {
                        0 if node.int_attr("allowzero", 0) == 0 => input.get(i).cloned().unwrap_or(Dim::Unknown),
                        -1 => Dim::Unknown,
                        d => Dim::Fixed(d),
                    })
                    .collect();
                // Resolve a single -1 when every other dimension is known.
                let total = input.iter().map(fixed).try_fold(1i64, |a, d| d.map(|d| a * d));
                if let (Some(total), Some(pos)) = (total, spec.iter().position(|&d| d == -1)) {
                    let known = out.iter().enumerate().filter(|(i, _)| *i != pos).map(|(_, d)| fixed(d)).try_fold(1i64, |a, d| d.map(|d| a * d));
                    if let Some(k) = known.filter(|&k| k > 0) {
                        out[pos] = Dim::Fixed(total / k);
                    }
                }
                out
            });
            vec![Facts::with(x.dtype, shape)]
        }
        "Unsqueeze" | "Squeeze" => {
            let axes = ints_attr(node, "axes").map(<[i64]>::to_vec).or(get(1).value);
            let shape = match (x.shape.clone(), axes) {
                (Some(s), Some(axes)) if node.op_type == "Unsqueeze" => {
                    let rank = s.len() + axes.len();
                    let set: Vec<usize> = axes.iter().filter_map(|&a| norm(a, rank)).collect();
                    let mut src = s.into_iter();
                    Some((0..rank).map(|i| if set.contains(&i) { Dim::Fixed(1) } else { src.next().unwrap_or(Dim::Unknown) }).collect())
                }
                (Some(s), Some(axes)) => {
                    let set: Vec<usize> = axes.iter().filter_map(|&a| norm(a, s.len())).collect();
                    Some(s.into_iter().enumerate().filter(|(i, _)| !set.contains(i)).map(|(_, d)| d).collect())
                }
                _ => None,
            };
            vec![Facts::with(x.dtype, shape)]
        }
        "Concat" => {
            let shapes: Option<Vec<Vec<Dim>>> = ins.iter().map(|f| f.shape.clone()).collect();
            let shape = shapes.and_then(|s| {
                let axis = norm(node.int_attr("axis", 0), s.first()?.len())?;
                let mut out = s[0].clone();
                out[axis] = s.iter().map(|d| fixed(&d[axis])).try_fold(0i64, |a, d| d.map(|d| a + d)).map_or(Dim::Unknown, Dim::Fixed);
                Some(out)
            });
            let value = ins.iter().map(|f| f.value.clone()).collect::<Option<Vec<_>>>().map(|v| v.concat());
            vec![Facts { dtype: x.dtype, shape, value }]
        }
        "Gather" => {
            let idx = get(1);
            let shape = match (x.shape.clone(), idx.shape.clone()) {
                (Some(d), Some(i)) => norm(node.int_attr("axis", 0), d.len()).map(|a| [&d[..a], &i[..], &d[a + 1..]].concat()),
                _ => None,
            };
            let value = match (&x.value, &idx.value) {
                (Some(v), Some(i)) if node.int_attr("axis", 0) == 0 => {
                    i.iter().map(|&j| v.get(if j < 0 { (j + v.len() as i64) as usize } else { j as usize }).copied()).collect()
                }
                _ => None,
            };
            vec![Facts { dtype: x.dtype, shape, value }]
        }
        "Constant" => match node.attr("value") {
            Some(AttrValue::Tensor(t)) => vec![Facts::of_tensor(t)],
            _ => vec![Facts::unknown()],
        },
        _ => vec![Facts::unknown(); node.outputs.len()],
    }
}

/// Facts for every named value of the model's main graph, from the
/// declared input types (symbolic dimensions stay symbolic).
pub fn infer(model: &Model) -> HashMap<String, Facts> {
    infer_graph(&model.graph, &[])
}

/// Like `infer`, with concrete input shapes (e.g. the user's inputs).
pub fn infer_for(model: &Model, inputs: &[(String, DType, Vec<usize>)]) -> HashMap<String, Facts> {
    infer_graph(&model.graph, inputs)
}

fn infer_graph(g: &Graph, concrete: &[(String, DType, Vec<usize>)]) -> HashMap<String, Facts> {
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
        for node in &g.nodes {
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
