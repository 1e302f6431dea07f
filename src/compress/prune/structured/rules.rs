//! Each op's channel rule: given that one axis of one of its inputs or
//! outputs loses some units, what else must shrink with it (the other
//! ports' axes, the node's weights, its shape constant or `group`
//! attribute), or why that cannot be followed.

use super::groups::{Links, Role, Span};
use crate::ir::infer::{ints_attr, norm};
use crate::ir::Node;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Port {
    In(usize),
    Out(usize),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Another port of the node shrinks along `span` (a constant input
    /// becomes a `Follows` cut).
    Value(Port, Span),
    /// A constant input is cut.
    Cut(usize, Span, Role),
    /// The node's target shape names the shrinking output axis.
    Reshape(Span),
    /// A depthwise convolution: its `group` follows the channels.
    Depthwise(Span),
    /// The channels pass through a product of two activations.
    Attention,
}

type Effects = Result<Vec<Effect>, String>;

const UNARY: &[&str] = &[
    "Relu",
    "Clip",
    "Sigmoid",
    "Tanh",
    "Erf",
    "Gelu",
    "HardSigmoid",
    "HardSwish",
    "LeakyRelu",
    "Elu",
    "Selu",
    "Celu",
    "Softplus",
    "Softsign",
    "Mish",
    "Neg",
    "Abs",
    "Exp",
    "Log",
    "Sqrt",
    "Reciprocal",
    "Floor",
    "Ceil",
    "Round",
    "Sin",
    "Cos",
    "Identity",
    "Cast",
    "Dropout",
    "Not",
    "Sign",
    "IsNaN",
    "IsInf",
    "ThresholdedRelu",
    "Shrink",
];
const ELEMENTWISE: &[&str] =
    &["Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean", "Where", "Equal", "Greater", "Less", "And", "Or", "PRelu", "Mod"];
const POOLS: &[&str] = &["MaxPool", "AveragePool", "LpPool", "GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"];

/// What shrinks with `span` on `port` of node `n`.
pub fn effects(l: &Links, n: &Node, port: Port, span: Span) -> Effects {
    if !n.domain.is_empty() {
        return Err(format!("op {}::{} has no channel rule", n.domain, n.op_type));
    }
    let op = n.op_type.as_str();
    match op {
        "Shape" | "Size" => Ok(Vec::new()),
        _ if UNARY.contains(&op) || ELEMENTWISE.contains(&op) => elementwise(l, n, port, span),
        "BatchNormalization" | "InstanceNormalization" => normalization(n, port, span),
        "LayerNormalization" => layer_norm(l, n, port, span),
        "Softmax" | "LogSoftmax" | "Hardmax" => softmax(l, n, port, span),
        _ if POOLS.contains(&op) => pool(n, port, span),
        "Transpose" => transpose(l, n, port, span),
        "Reshape" | "Flatten" | "Squeeze" | "Unsqueeze" => reshape(l, n, port, span),
        "Concat" => concat(l, n, port, span),
        "MatMul" => matmul(l, n, port, span),
        "Gemm" => gemm(l, n, port, span),
        "Conv" => conv(l, n, port, span),
        "ReduceMean" | "ReduceSum" | "ReduceMax" | "ReduceMin" | "ReduceProd" | "ReduceL1" | "ReduceL2" | "ReduceSumSquare" | "ReduceLogSumExp" => {
            reduce(l, n, port, span)
        }
        _ => Err(format!("op {op} has no channel rule in Squish's structured pruning")),
    }
}

fn rank(l: &Links, v: &str) -> Option<usize> {
    l.dims(v).map(|d| d.len())
}

fn value(n: &Node, port: Port) -> &str {
    match port {
        Port::In(s) => n.inputs.get(s).map_or("", String::as_str),
        Port::Out(k) => n.outputs.get(k).map_or("", String::as_str),
    }
}

fn with_axis(span: Span, axis: usize) -> Span {
    Span { axis, ..span }
}

/// Numpy broadcasting: the same aligned axis on every other port, where its
/// size is not 1.
fn elementwise(l: &Links, n: &Node, port: Port, span: Span) -> Effects {
    let out_rank = rank(l, &n.outputs[0]).ok_or("the output's rank is unknown")?;
    let r = rank(l, value(n, port)).ok_or("the rank is unknown")?;
    let aligned = span.axis + out_rank - r;
    let mut out = Vec::new();
    let ports = n.inputs.iter().enumerate().filter(|(_, v)| !v.is_empty()).map(|(s, _)| Port::In(s));
    let ports = ports.chain((0..n.outputs.len()).filter(|k| !n.outputs[*k].is_empty()).map(Port::Out));
    for p in ports.filter(|p| *p != port) {
        let dims = l.dims(value(n, p)).ok_or("an operand's rank is unknown")?;
        let Some(local) = (aligned + dims.len()).checked_sub(out_rank) else { continue };
        match dims[local] {
            Some(1) if matches!(p, Port::In(_)) => {}
            Some(_) => out.push(Effect::Value(p, with_axis(span, local))),
            None => return Err(format!("the size of '{}' along axis {local} is unknown", value(n, p))),
        }
    }
    Ok(out)
}

fn normalization(n: &Node, port: Port, span: Span) -> Effects {
    let other = match port {
        Port::In(0) => Port::Out(0),
        Port::Out(0) => Port::In(0),
        _ => return Err("the channels reach its parameters or statistics outputs".into()),
    };
    let mut out = vec![Effect::Value(other, span)];
    match span.axis {
        0 => {}
        1 => {
            let params = if n.op_type == "BatchNormalization" { 1..5 } else { 1..3 };
            out.extend(params.map(|s| Effect::Cut(s, with_axis(span, 0), Role::Follows)));
        }
        a if n.op_type == "InstanceNormalization" => return Err(format!("it normalises over axis {a}")),
        _ => {}
    }
    Ok(out)
}

fn layer_norm(l: &Links, n: &Node, port: Port, span: Span) -> Effects {
    let r = rank(l, &n.inputs[0]).ok_or("the rank is unknown")?;
    let axis = norm(n.int_attr("axis", -1), r).ok_or("bad axis")?;
    if span.axis >= axis {
        return Err(format!("it normalises over axis {} (its statistics would change)", span.axis));
    }
    match port {
        Port::In(0) => Ok(vec![Effect::Value(Port::Out(0), span)]),
        Port::Out(0) => Ok(vec![Effect::Value(Port::In(0), span)]),
        _ => Err("the channels reach its parameters or statistics outputs".into()),
    }
}

fn softmax(l: &Links, n: &Node, port: Port, span: Span) -> Effects {
    let r = rank(l, &n.inputs[0]).ok_or("the rank is unknown")?;
    let legacy = l.opset < 13;
    let axis = norm(n.int_attr("axis", if legacy { 1 } else { -1 }), r).ok_or("bad axis")?;
    if span.axis == axis || (legacy && span.axis > axis) {
        return Err(format!("it normalises over axis {}", span.axis));
    }
    Ok(vec![Effect::Value(if port == Port::Out(0) { Port::In(0) } else { Port::Out(0) }, span)])
}

fn pool(n: &Node, port: Port, span: Span) -> Effects {
    if n.outputs.get(1).is_some_and(|o| !o.is_empty()) {
        return Err("its indices output numbers the channels".into());
    }
    if span.axis > 1 {
        return Err(format!("it pools over axis {}", span.axis));
    }
    Ok(vec![Effect::Value(if port == Port::Out(0) { Port::In(0) } else { Port::Out(0) }, span)])
}

fn transpose(l: &Links, n: &Node, port: Port, span: Span) -> Effects {
    let r = rank(l, &n.inputs[0]).ok_or("the rank is unknown")?;
    let perm: Vec<usize> = match ints_attr(n, "perm") {
        Some(p) => p.iter().map(|&a| norm(a, r).ok_or("bad perm")).collect::<Result<_, _>>()?,
        None => (0..r).rev().collect(),
    };
    match port {
        Port::In(0) => {
            let j = perm.iter().position(|&a| a == span.axis).ok_or("bad perm")?;
            Ok(vec![Effect::Value(Port::Out(0), with_axis(span, j))])
        }
        _ => Ok(vec![Effect::Value(Port::In(0), with_axis(span, *perm.get(span.axis).ok_or("bad perm")?))]),
    }
}

/// Product of the fixed sizes from `from` on (`None` if any is unknown).
fn inner(d: &[Option<i64>], from: usize) -> Option<i64> {
    d.get(from..).unwrap_or(&[]).iter().try_fold(1i64, |p, x| x.map(|x| p * x))
}

/// Where `span` on axis `axis` of a value shaped `from` lands in the same
/// data shaped `to`: the same axis, one axis split in two (the units must
/// be whole blocks of the inner part), or two axes merged.
fn map_reshape(from: &[Option<i64>], to: &[Option<i64>], span: Span) -> Result<Span, String> {
    let a = span.axis;
    let size = from[a].ok_or("the size is unknown")?;
    let inner_from = inner(from, a + 1).ok_or("the sizes after the axis are unknown")?;
    if let Some(j) = (0..to.len()).find(|&j| to[j] == Some(size) && inner(to, j + 1) == Some(inner_from)) {
        return Ok(with_axis(span, j));
    }
    for j in 0..to.len() {
        if let (Some(Some(h)), Some(Some(d))) = (to.get(j), to.get(j + 1)) {
            if h * d == size && inner(to, j + 2) == Some(inner_from) {
                let d = *d as usize;
                if span.block % d != 0 || span.offset % d != 0 {
                    return Err(format!(
                        "it splits axis {a} ({size}) into {h}×{d}: removing single channels would break the split (pattern \"heads\" removes whole heads)"
                    ));
                }
                return Ok(Span { axis: j, block: span.block / d, offset: span.offset / d });
            }
        }
        if let Some(Some(next)) = from.get(a + 1) {
            if to[j] == Some(size * next) && inner(to, j + 1) == inner(from, a + 2) {
                let next = *next as usize;
                return Ok(Span { axis: j, block: span.block * next, offset: span.offset * next });
            }
        }
    }
    Err(format!("it reshapes axis {a} in a way channel pruning cannot follow"))
}

/// The output axis an attention Reshape splits into heads: `[…, H·d] →
/// […, H, d]` on the last axis, with H and d above 1.
pub fn head_split(l: &Links, n: &Node) -> Option<usize> {
    let from = l.dims(n.inputs.first()?)?;
    let to = l.dims(n.outputs.first()?)?;
    let last = from.len().checked_sub(1)?;
    let span = map_reshape(&from, &to, Span { axis: last, block: to.last().copied()?? as usize, offset: 0 }).ok()?;
    let heads = to.get(span.axis).copied()??;
    (to.len() == from.len() + 1 && span.axis + 2 == to.len() && heads > 1 && to[span.axis + 1]? > 1).then_some(span.axis)
}

fn reshape(l: &Links, n: &Node, port: Port, span: Span) -> Effects {
    let from = l.dims(value(n, port)).ok_or("the rank is unknown")?;
    let (other, to) = match port {
        Port::In(0) => (Port::Out(0), l.dims(&n.outputs[0])),
        Port::Out(0) => (Port::In(0), l.dims(&n.inputs[0])),
        _ => return Err("the channels reach its shape input".into()),
    };
    let to = to.ok_or("the other side's rank is unknown")?;
    let mapped = map_reshape(&from, &to, span)?;
    let mut out = vec![Effect::Value(other, mapped)];
    if n.op_type == "Reshape" {
        let out_span = if port == Port::Out(0) { span } else { mapped };
        super::cut::check_shape_element(l, n, out_span.axis)?;
        out.push(Effect::Reshape(out_span));
    }
    Ok(out)
}

fn concat(l: &Links, n: &Node, port: Port, span: Span) -> Effects {
    let r = rank(l, &n.outputs[0]).ok_or("the rank is unknown")?;
    let axis = norm(n.int_attr("axis", 0), r).ok_or("bad axis")?;
    let sizes: Vec<Option<i64>> = n.inputs.iter().map(|v| l.dims(v).and_then(|d| d.get(axis).copied().flatten())).collect();
    let starts: Vec<Option<usize>> = sizes
        .iter()
        .scan(Some(0usize), |acc, s| {
            let here = *acc;
            *acc = acc.zip(*s).map(|(a, s)| a + s as usize);
            Some(here)
        })
        .collect();
    if span.axis != axis {
        let mut out: Vec<Effect> = (0..n.inputs.len()).map(Port::In).filter(|p| *p != port).map(|p| Effect::Value(p, span)).collect();
        if port != Port::Out(0) {
            out.push(Effect::Value(Port::Out(0), span));
        }
        return Ok(out);
    }
    match port {
        Port::In(s) => {
            let start = starts[s].ok_or("the sizes of the inputs before it are unknown")?;
            Ok(vec![Effect::Value(Port::Out(0), Span { offset: span.offset + start, ..span })])
        }
        Port::Out(_) => {
            for (s, (start, size)) in starts.iter().zip(&sizes).enumerate() {
                if let (Some(start), Some(size)) = (start, size) {
                    let end = start + *size as usize;
                    if span.offset >= *start && span.offset < end {
                        return Ok(vec![Effect::Value(Port::In(s), Span { offset: span.offset - start, ..span })]);
                    }
                }
            }
            Err("the channels span more than one of its inputs".into())
        }
    }
}

fn reduce(l: &Links, n: &Node, port: Port, span: Span) -> Effects {
    let r = rank(l, &n.inputs[0]).ok_or("the rank is unknown")?;
    let axes: Vec<i64> = match ints_attr(n, "axes") {
        Some(a) => a.to_vec(),
        None => match n.inputs.get(1).filter(|v| !v.is_empty()) {
            Some(v) => l.g.constant(v).and_then(|t| t.to_i64_vec()).ok_or("its axes are computed at run time")?,
            None => Vec::new(),
        },
    };
    if axes.is_empty() {
        return Err("it reduces over every axis".into());
    }
    let axes: Vec<usize> = axes.iter().map(|&a| norm(a, r).ok_or("bad axes")).collect::<Result<_, _>>()?;
    let keep = n.int_attr("keepdims", 1) != 0;
    let to_out = |a: usize| if keep { a } else { a - axes.iter().filter(|&&x| x < a).count() };
    match port {
        Port::In(0) if axes.contains(&span.axis) => Err(format!("it reduces over axis {}", span.axis)),
        Port::In(0) => Ok(vec![Effect::Value(Port::Out(0), with_axis(span, to_out(span.axis)))]),
        _ => {
            let a = (0..r).filter(|a| !axes.contains(a)).find(|&a| to_out(a) == span.axis).ok_or("bad axes")?;
            Ok(vec![Effect::Value(Port::In(0), with_axis(span, a))])
        }
    }
}

/// MatMul: `[…, M, K] × [K, N]` with a constant right side is a layer;
/// with two activations (attention) batch axes, K and N couple across.
fn matmul(l: &Links, n: &Node, port: Port, span: Span) -> Effects {
    let (ra, rb) = (rank(l, &n.inputs[0]).ok_or("rank unknown")?, rank(l, &n.inputs[1]).ok_or("rank unknown")?);
    if ra < 2 || rb < 2 {
        return Err("a MatMul with a vector operand".into());
    }
    if l.root_constant(&n.inputs[0]).is_some() {
        return Err("its left operand is a constant".into());
    }
    let ro = ra.max(rb);
    let weight = l.root_constant(&n.inputs[1]).is_some();
    if weight && rb > 2 {
        return Err("its constant right operand has batch axes".into());
    }
    let batch = |from_rank: usize, axis: usize| -> Vec<Effect> {
        // A batch axis: the same aligned axis on the other operands and the output.
        let aligned = axis + ro - from_rank;
        let mut out = Vec::new();
        for (p, r) in [(Port::In(0), ra), (Port::In(1), rb), (Port::Out(0), ro)] {
            if p != port && aligned + r >= ro && !(weight && p == Port::In(1)) {
                out.push(Effect::Value(p, with_axis(span, aligned + r - ro)));
            }
        }
        out
    };
    let effects = match port {
        Port::In(0) if span.axis == ra - 1 && weight => vec![Effect::Cut(1, with_axis(span, rb - 2), Role::Reads)],
        Port::In(0) if span.axis == ra - 1 => vec![Effect::Value(Port::In(1), with_axis(span, rb - 2))],
        Port::In(0) if span.axis == ra - 2 => vec![Effect::Value(Port::Out(0), with_axis(span, ro - 2))],
        Port::In(0) => batch(ra, span.axis),
        Port::In(1) if span.axis == rb - 2 => vec![Effect::Value(Port::In(0), with_axis(span, ra - 1))],
        Port::In(1) if span.axis == rb - 1 => vec![Effect::Value(Port::Out(0), with_axis(span, ro - 1))],
        Port::In(1) => batch(rb, span.axis),
        Port::In(_) => return Err("it has more than two inputs".into()),
        Port::Out(_) if span.axis == ro - 1 && weight => vec![Effect::Cut(1, with_axis(span, rb - 1), Role::Produces)],
        Port::Out(_) if span.axis == ro - 1 => vec![Effect::Value(Port::In(1), with_axis(span, rb - 1))],
        Port::Out(_) if span.axis == ro - 2 => vec![Effect::Value(Port::In(0), with_axis(span, ra - 2))],
        Port::Out(_) => batch(ro, span.axis),
    };
    let mut effects = effects;
    if !weight {
        effects.push(Effect::Attention);
    }
    Ok(effects)
}

fn gemm(l: &Links, n: &Node, port: Port, span: Span) -> Effects {
    if n.int_attr("transA", 0) != 0 {
        return Err("Gemm with transA".into());
    }
    if l.root_constant(&n.inputs[1]).is_none() {
        return Err("its right operand is not a constant weight".into());
    }
    let trans_b = n.int_attr("transB", 0) != 0;
    let bias = |axis: usize| -> Vec<Effect> {
        // C broadcasts to [M, N]: cut it where it has the axis.
        let dims = n.inputs.get(2).filter(|c| !c.is_empty()).and_then(|c| l.dims(c)).unwrap_or_default();
        match (dims.len() + axis).checked_sub(2) {
            Some(local) if dims[local] != Some(1) => vec![Effect::Cut(2, with_axis(span, local), Role::Follows)],
            _ => Vec::new(),
        }
    };
    match (port, span.axis) {
        (Port::In(0), 1) => Ok(vec![Effect::Cut(1, with_axis(span, usize::from(trans_b)), Role::Reads)]),
        (Port::In(0), 0) => Ok([vec![Effect::Value(Port::Out(0), span)], bias(0)].concat()),
        (Port::Out(0), 0) => Ok([vec![Effect::Value(Port::In(0), span)], bias(0)].concat()),
        (Port::Out(0), 1) => Ok([vec![Effect::Cut(1, with_axis(span, usize::from(!trans_b)), Role::Produces)], bias(1)].concat()),
        _ => Err("the channels reach its weight or bias as an activation".into()),
    }
}

fn conv(l: &Links, n: &Node, port: Port, span: Span) -> Effects {
    let w = n.inputs.get(1).and_then(|w| l.root_constant(w).and_then(|c| l.g.constant(&c).map(|t| t.shape().to_vec())));
    let w = w.ok_or("its weight is not a constant")?;
    let group = n.int_attr("group", 1);
    let has_bias = n.inputs.get(2).is_some_and(|b| !b.is_empty());
    let other = match port {
        Port::In(0) => Port::Out(0),
        Port::Out(0) => Port::In(0),
        _ => return Err("the channels reach its weight or bias as an activation".into()),
    };
    match span.axis {
        0 => Ok(vec![Effect::Value(other, span)]),
        1 if group == 1 && port == Port::In(0) => Ok(vec![Effect::Cut(1, with_axis(span, 1), Role::Reads)]),
        1 if group == 1 => {
            let mut out = vec![Effect::Cut(1, with_axis(span, 0), Role::Produces)];
            out.extend(has_bias.then(|| Effect::Cut(2, with_axis(span, 0), Role::Follows)));
            Ok(out)
        }
        1 if w[1] == 1 && group as usize == w[0] => {
            // Depthwise, one filter per channel: the channels pass through.
            let mut out = vec![Effect::Value(other, span), Effect::Cut(1, with_axis(span, 0), Role::Follows), Effect::Depthwise(span)];
            out.extend(has_bias.then(|| Effect::Cut(2, with_axis(span, 0), Role::Follows)));
            Ok(out)
        }
        1 => Err(format!("grouped convolution (group {group}) with {} filters per group", w[0] / group.max(1) as usize)),
        a => Err(format!("it slides over axis {a}")),
    }
}
