//! Reductions over any set of axes (ReduceMean, ReduceSum, ReduceMax, …)
//! and ArgMax/ArgMin. Accumulation is in f64; the result keeps the input type.

use ndarray::{ArrayD, IxDyn};

use super::array::cast;
use super::{norm_axis, opt_int_input, required, BuildCtx, Op, Registry};
use crate::error::{Result, SquishError};
use crate::tensor::{DType, Tensor};

const REDUCE_OPS: [&str; 10] =
    ["ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"];

use super::facts::{input, Facts};
use crate::ir::infer::{ints_attr, norm};
use crate::ir::{Dim, Node};
pub fn register(r: &mut Registry) {
    for name in REDUCE_OPS {
        r.insert("", name, build_reduce);
    }
    r.insert("", "ArgMax", |ctx| build_arg(ctx, true));
    r.insert("", "ArgMin", |ctx| build_arg(ctx, false));
    r.facts("", &REDUCE_OPS, reduce_facts);
    r.facts("", &["ArgMax", "ArgMin"], reduce_facts);
}

/// Reduced axes dropped, or kept as 1 (`keepdims`); axes from the attribute
/// (or input 1 from opset 18), all of them when none are given. ArgMax and
/// ArgMin reduce one axis (default 0) to int64 indices.
fn reduce_facts(node: &Node, ins: &[Facts]) -> Vec<Facts> {
    let x = input(ins, 0);
    let arg = node.op_type.starts_with("Arg");
    let dtype = if arg { Some(DType::I64) } else { x.dtype };
    let keep = node.int_attr("keepdims", 1) != 0;
    let axes = if arg { Some(vec![node.int_attr("axis", 0)]) } else { ints_attr(node, "axes").map(<[i64]>::to_vec).or(input(ins, 1).value) };
    let shape = x.shape.and_then(|s| {
        let axes: Vec<usize> = match axes {
            Some(a) if !a.is_empty() => a.iter().map(|&v| norm(v, s.len())).collect::<Option<Vec<_>>>()?,
            _ if node.int_attr("noop_with_empty_axes", 0) != 0 => return Some(s),
            _ if ins.get(1).is_some_and(|f| f.value.is_none()) && node.inputs.get(1).is_some_and(|n| !n.is_empty()) => return None,
            _ => (0..s.len()).collect(),
        };
        Some(s.into_iter().enumerate().filter_map(|(i, d)| if !axes.contains(&i) { Some(d) } else { keep.then_some(Dim::Fixed(1)) }).collect())
    });
    vec![Facts::with(dtype, shape)]
}

struct Reduce {
    kind: &'static str,
    attr_axes: Option<Vec<i64>>,
    keepdims: bool,
    noop_with_empty_axes: bool,
}

fn build_reduce(ctx: &BuildCtx) -> Result<Box<dyn Op>> {
    let a = ctx.attrs();
    let kind = REDUCE_OPS.iter().find(|n| **n == ctx.node.op_type).expect("registered from REDUCE_OPS");
    // Axes moved from attribute to input: ReduceSum at opset 13, the others at 18.
    let input_axes = if *kind == "ReduceSum" { ctx.opset >= 13 } else { ctx.opset >= 18 };
    Ok(Box::new(Reduce {
        kind,
        attr_axes: if input_axes { None } else { a.opt_ints("axes")?.map(<[i64]>::to_vec) },
        keepdims: a.int("keepdims", 1)? != 0,
        noop_with_empty_axes: a.int("noop_with_empty_axes", 0)? != 0,
    }))
}

/// Moves `axes` last and returns (kept shape, rows of the reduced values).
fn rows_over_axes(x: &ArrayD<f64>, axes: &[usize]) -> (Vec<usize>, usize, Vec<f64>) {
    let rank = x.ndim();
    let mut perm: Vec<usize> = (0..rank).filter(|d| !axes.contains(d)).collect();
    let kept: Vec<usize> = perm.iter().map(|&d| x.shape()[d]).collect();
    perm.extend(axes);
    let row: usize = axes.iter().map(|&d| x.shape()[d]).product();
    let data: Vec<f64> = x.view().permuted_axes(IxDyn(&perm)).iter().copied().collect();
    (kept, row, data)
}

fn reduce_row(kind: &str, r: &[f64]) -> f64 {
    match kind {
        "ReduceMean" => r.iter().sum::<f64>() / r.len() as f64,
        "ReduceSum" => r.iter().sum(),
        "ReduceMax" => r.iter().copied().fold(f64::NEG_INFINITY, |m, v| if v.is_nan() || v > m { v } else { m }),
        "ReduceMin" => r.iter().copied().fold(f64::INFINITY, |m, v| if v.is_nan() || v < m { v } else { m }),
        "ReduceProd" => r.iter().product(),
        "ReduceL1" => r.iter().map(|v| v.abs()).sum(),
        "ReduceL2" => r.iter().map(|v| v * v).sum::<f64>().sqrt(),
        "ReduceLogSum" => r.iter().sum::<f64>().ln(),
        "ReduceLogSumExp" => {
            let m = r.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            if m.is_infinite() {
                return r.iter().map(|v| v.exp()).sum::<f64>().ln();
            }
            m + r.iter().map(|v| (v - m).exp()).sum::<f64>().ln()
        }
        _ => r.iter().map(|v| v * v).sum(),
    }
}

impl Op for Reduce {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = required(inputs, 0)?;
        let rank = x.shape().len();
        let axes = match &self.attr_axes {
            Some(a) => Some(a.clone()),
            None => opt_int_input(inputs, 1, "axes")?,
        };
        let axes: Vec<usize> = match axes {
            Some(a) if !a.is_empty() => {
                let mut v = a.iter().map(|&d| norm_axis(d, rank)).collect::<Result<Vec<_>>>()?;
                v.sort_unstable();
                v.dedup();
                v
            }
            _ if self.noop_with_empty_axes => return Ok(vec![x.clone()]),
            _ => (0..rank).collect(),
        };
        let xf = ArrayD::from_shape_vec(IxDyn(x.shape()), x.to_f64_vec()).expect("same count");
        let (_, row, data) = rows_over_axes(&xf, &axes);
        let outer = data.len().checked_div(row).unwrap_or_else(|| x.shape().iter().enumerate().filter(|(i, _)| !axes.contains(i)).map(|(_, &d)| d).product());
        let mut values: Vec<f64> = (0..outer).map(|i| reduce_row(self.kind, &data[i * row..(i + 1) * row])).collect();
        // Over an empty set Max/Min are ∓∞; types without infinities take
        // their lowest/highest value instead (false/true for bool).
        if row == 0 && !matches!(x.dtype(), DType::F32 | DType::F64 | DType::F16 | DType::BF16) {
            let bound = match (self.kind, x.dtype()) {
                ("ReduceMax", DType::Bool) => Some(0.0),
                ("ReduceMin", DType::Bool) => Some(1.0),
                ("ReduceMax", d) => Some(int_bound(d, false)),
                ("ReduceMin", d) => Some(int_bound(d, true)),
                _ => None,
            };
            if let Some(b) = bound {
                values.iter_mut().for_each(|v| *v = b);
            }
        }
        let shape: Vec<usize> = if self.keepdims {
            x.shape().iter().enumerate().map(|(i, &d)| if axes.contains(&i) { 1 } else { d }).collect()
        } else {
            x.shape().iter().enumerate().filter(|(i, _)| !axes.contains(i)).map(|(_, &d)| d).collect()
        };
        let out = Tensor::from_vec(&shape, values)?;
        Ok(vec![cast(&out, x.dtype())?])
    }
}

/// The lowest (or highest) value of an integer type, as f64.
fn int_bound(d: DType, highest: bool) -> f64 {
    let (lo, hi) = d.integer_range().unwrap_or((f64::NEG_INFINITY, f64::INFINITY));
    if highest {
        hi
    } else {
        lo
    }
}

struct ArgOp {
    max: bool,
    axis: i64,
    keepdims: bool,
    select_last: bool,
}

fn build_arg(ctx: &BuildCtx, max: bool) -> Result<Box<dyn Op>> {
    let a = ctx.attrs();
    Ok(Box::new(ArgOp { max, axis: a.int("axis", 0)?, keepdims: a.int("keepdims", 1)? != 0, select_last: a.int("select_last_index", 0)? != 0 }))
}

impl Op for ArgOp {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = required(inputs, 0)?;
        let axis = norm_axis(self.axis, x.shape().len())?;
        if x.shape()[axis] == 0 {
            return Err(SquishError::op("cannot take an arg-extremum over an empty axis"));
        }
        let xf = ArrayD::from_shape_vec(IxDyn(x.shape()), x.to_f64_vec()).expect("same count");
        let (_, row, data) = rows_over_axes(&xf, &[axis]);
        let idx: Vec<i64> = data
            .chunks_exact(row)
            .map(|r| {
                let mut best = 0;
                for (i, &v) in r.iter().enumerate().skip(1) {
                    let better = if self.max { v > r[best] } else { v < r[best] };
                    if better || (self.select_last && v == r[best]) {
                        best = i;
                    }
                }
                best as i64
            })
            .collect();
        let mut shape = x.shape().to_vec();
        if self.keepdims {
            shape[axis] = 1;
        } else {
            shape.remove(axis);
        }
        Ok(vec![Tensor::from_vec(&shape, idx)?])
    }
}
