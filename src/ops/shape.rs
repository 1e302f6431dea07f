//! Shape-only ops: Shape, Size, Reshape, Flatten, Unsqueeze, Squeeze,
//! Expand, Transpose. They work for every element type.

use ndarray::IxDyn;

use super::{int_values, norm_axis, opt_int_input, required, BuildCtx, Op, Registry};
use crate::error::{Result, SquishError};
use crate::map_tensor;
use crate::ops::elementwise::broadcast_shapes;
use crate::tensor::Tensor;

use super::facts::{input, Facts};
use crate::ir::infer::{fixed, ints_attr, norm};
use crate::ir::{Dim, Node};
use crate::tensor::DType;
pub fn register(r: &mut Registry) {
    r.insert("", "Shape", build_shape);
    r.insert("", "Size", |_| Ok(Box::new(Size)));
    r.insert("", "Reshape", build_reshape);
    r.insert("", "Flatten", build_flatten);
    r.insert("", "Unsqueeze", |ctx| build_axes_op(ctx, true));
    r.insert("", "Squeeze", |ctx| build_axes_op(ctx, false));
    r.insert("", "Expand", |_| Ok(Box::new(Expand)));
    r.insert("", "Transpose", build_transpose);
    r.facts("", &["Flatten"], flatten_facts);
    r.facts("", &["Transpose"], transpose_facts);
    r.facts("", &["Shape"], shape_facts);
    r.facts("", &["Reshape"], reshape_facts);
    r.facts("", &["Unsqueeze", "Squeeze"], squeeze_facts);
}

/// `[d0 … d(axis−1)] × [d(axis) …]` collapsed into two dimensions; `axis`
/// may be the rank itself, and a negative axis counts from the rank.
fn flatten_facts(node: &Node, ins: &[Facts]) -> Vec<Facts> {
    let x = input(ins, 0);
    let shape = x.shape.and_then(|s| {
        let a = node.int_attr("axis", 1);
        let axis = if a < 0 { a + s.len() as i64 } else { a };
        let axis = usize::try_from(axis).ok().filter(|&a| a <= s.len())?;
        let prod = |ds: &[Dim]| ds.iter().map(fixed).try_fold(1i64, |acc, d| d.map(|d| acc * d));
        Some(vec![prod(&s[..axis]).map_or(Dim::Unknown, Dim::Fixed), prod(&s[axis..]).map_or(Dim::Unknown, Dim::Fixed)])
    });
    vec![Facts::with(x.dtype, shape)]
}

fn transpose_facts(node: &Node, ins: &[Facts]) -> Vec<Facts> {
    let x = input(ins, 0);
    let shape = x.shape.map(|s| match ints_attr(node, "perm") {
        Some(p) => p.iter().map(|&a| norm(a, s.len()).map_or(Dim::Unknown, |a| s[a].clone())).collect(),
        None => s.iter().rev().cloned().collect(),
    });
    vec![Facts::with(x.dtype, shape)]
}

/// The input's dimensions `start..end` (clamped, negative from the rank) as
/// a value, when every one of them is fixed.
fn shape_facts(node: &Node, ins: &[Facts]) -> Vec<Facts> {
    let x = input(ins, 0);
    let Some(s) = x.shape else { return vec![Facts::with(Some(DType::I64), None)] };
    let r = s.len() as i64;
    let clamp = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
    let (start, end) = (clamp(node.int_attr("start", 0)), clamp(node.int_attr("end", r)));
    let dims = if start < end { &s[start..end] } else { &[] };
    let value = dims.iter().map(fixed).collect::<Option<Vec<i64>>>();
    vec![Facts { dtype: Some(DType::I64), shape: Some(vec![Dim::Fixed(dims.len() as i64)]), value }]
}

/// The requested shape, with 0 (copy, unless `allowzero`) and a single −1
/// resolved where the other dimensions are known.
fn reshape_facts(node: &Node, ins: &[Facts]) -> Vec<Facts> {
    let x = input(ins, 0);
    let shape = input(ins, 1).value.map(|spec| {
        let src = x.shape.clone().unwrap_or_default();
        let mut out: Vec<Dim> = spec
            .iter()
            .enumerate()
            .map(|(i, &d)| match d {
                0 if node.int_attr("allowzero", 0) == 0 => src.get(i).cloned().unwrap_or(Dim::Unknown),
                -1 => Dim::Unknown,
                d => Dim::Fixed(d),
            })
            .collect();
        let total = src.iter().map(fixed).try_fold(1i64, |a, d| d.map(|d| a * d));
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

/// Axes from the attribute (opset < 13) or input 1.
fn squeeze_facts(node: &Node, ins: &[Facts]) -> Vec<Facts> {
    let x = input(ins, 0);
    let axes = ints_attr(node, "axes").map(<[i64]>::to_vec).or(input(ins, 1).value);
    let shape = match (x.shape, axes) {
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
    // The values are unchanged (a shape scalar becomes a one-element vector).
    vec![Facts { dtype: x.dtype, shape, value: x.value }]
}

struct ShapeOp {
    start: i64,
    end: Option<i64>,
}

fn build_shape(ctx: &BuildCtx) -> Result<Box<dyn Op>> {
    let a = ctx.attrs();
    Ok(Box::new(ShapeOp { start: a.int("start", 0)?, end: a.opt_int("end")? }))
}

impl Op for ShapeOp {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let shape = required(inputs, 0)?.shape();
        let r = shape.len() as i64;
        let clamp = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
        let (s, e) = (clamp(self.start), clamp(self.end.unwrap_or(r)));
        let dims: Vec<i64> = if s < e { shape[s..e].iter().map(|&d| d as i64).collect() } else { vec![] };
        Ok(vec![Tensor::i64_vec(dims)])
    }
}

struct Size;

impl Op for Size {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        Ok(vec![Tensor::scalar(required(inputs, 0)?.len() as i64)])
    }
}

struct Reshape {
    allow_zero: bool,
}

fn build_reshape(ctx: &BuildCtx) -> Result<Box<dyn Op>> {
    if ctx.opset < 5 {
        return Err(ctx.attrs().error("shape", "Reshape-1 (shape as an attribute) is not supported; use opset ≥ 5"));
    }
    Ok(Box::new(Reshape { allow_zero: ctx.attrs().int("allowzero", 0)? != 0 }))
}

/// Resolves ONNX Reshape's `0` (copy) and `-1` (infer) against `input`.
pub fn reshape_target(input: &[usize], spec: &[i64], allow_zero: bool) -> Result<Vec<usize>> {
    let mut out = Vec::with_capacity(spec.len());
    let mut infer_at = None;
    for (i, &d) in spec.iter().enumerate() {
        match d {
            -1 if infer_at.is_none() => {
                infer_at = Some(i);
                out.push(1);
            }
            -1 => return Err(SquishError::op(format!("shape {spec:?} has more than one -1"))),
            0 if !allow_zero => {
                out.push(*input.get(i).ok_or_else(|| SquishError::op(format!("shape {spec:?} copies dimension {i} but the input has rank {}", input.len())))?)
            }
            d if d < 0 => return Err(SquishError::op(format!("invalid dimension {d} in shape {spec:?}"))),
            d => out.push(d as usize),
        }
    }
    let total: usize = input.iter().product();
    if let Some(i) = infer_at {
        let known: usize = out.iter().product();
        if known == 0 || total % known != 0 {
            return Err(SquishError::op(format!("cannot infer -1 in {spec:?} for input {input:?}")));
        }
        out[i] = total / known;
    }
    Ok(out)
}

impl Op for Reshape {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = required(inputs, 0)?;
        let spec = int_values(required(inputs, 1)?, "shape")?;
        let target = reshape_target(x.shape(), &spec, self.allow_zero)?;
        Ok(vec![x.clone().reshaped(&target)?])
    }

    fn reusable_inputs(&self) -> &'static [usize] {
        &[0]
    }

    /// The data moves over unchanged: no copy.
    fn eval_reusing(&self, inputs: &[Option<&Tensor>], _at: usize, x: Tensor) -> Result<Vec<Tensor>> {
        let spec = int_values(required(inputs, 1)?, "shape")?;
        let target = reshape_target(x.shape(), &spec, self.allow_zero)?;
        Ok(vec![x.reshaped(&target)?])
    }
}

struct Flatten {
    axis: i64,
}

fn build_flatten(ctx: &BuildCtx) -> Result<Box<dyn Op>> {
    Ok(Box::new(Flatten { axis: ctx.attrs().int("axis", 1)? }))
}

impl Op for Flatten {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        self.flatten(required(inputs, 0)?.clone())
    }

    fn reusable_inputs(&self) -> &'static [usize] {
        &[0]
    }

    fn eval_reusing(&self, _inputs: &[Option<&Tensor>], _at: usize, x: Tensor) -> Result<Vec<Tensor>> {
        self.flatten(x)
    }
}

impl Flatten {
    fn flatten(&self, x: Tensor) -> Result<Vec<Tensor>> {
        let rank = x.shape().len() as i64;
        if self.axis < -rank || self.axis > rank {
            return Err(SquishError::op(format!("axis {} is out of range for rank {rank}", self.axis)));
        }
        let axis = if self.axis < 0 { self.axis + rank } else { self.axis } as usize;
        let outer: usize = x.shape()[..axis].iter().product();
        let inner: usize = x.shape()[axis..].iter().product();
        Ok(vec![x.reshaped(&[outer, inner])?])
    }
}

/// Unsqueeze and Squeeze: axes come from an attribute before opset 13 and
/// from an input from 13 on.
struct AxesOp {
    insert: bool,
    attr_axes: Option<Vec<i64>>,
}

fn build_axes_op(ctx: &BuildCtx, insert: bool) -> Result<Box<dyn Op>> {
    let attr_axes = if ctx.opset < 13 { ctx.attrs().opt_ints("axes")?.map(<[i64]>::to_vec) } else { None };
    if insert && ctx.opset < 13 && attr_axes.is_none() {
        return Err(ctx.attrs().error("axes", "is required"));
    }
    Ok(Box::new(AxesOp { insert, attr_axes }))
}

impl Op for AxesOp {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = required(inputs, 0)?;
        Ok(vec![x.clone().reshaped(&self.target(x.shape(), inputs)?)?])
    }

    fn reusable_inputs(&self) -> &'static [usize] {
        &[0]
    }

    fn eval_reusing(&self, inputs: &[Option<&Tensor>], _at: usize, x: Tensor) -> Result<Vec<Tensor>> {
        let target = self.target(x.shape(), inputs)?;
        Ok(vec![x.reshaped(&target)?])
    }
}

impl AxesOp {
    /// The output shape for an input of `shape`.
    fn target(&self, shape: &[usize], inputs: &[Option<&Tensor>]) -> Result<Vec<usize>> {
        let axes = match &self.attr_axes {
            Some(a) => Some(a.clone()),
            None => opt_int_input(inputs, 1, "axes")?,
        };
        Ok(if self.insert {
            let axes = axes.ok_or_else(|| SquishError::op("Unsqueeze needs axes"))?;
            let rank = shape.len() + axes.len();
            let mut norm = axes.iter().map(|&a| norm_axis(a, rank)).collect::<Result<Vec<_>>>()?;
            norm.sort_unstable();
            if norm.windows(2).any(|w| w[0] == w[1]) {
                return Err(SquishError::op(format!("axes {axes:?} repeat an axis")));
            }
            let mut out = Vec::with_capacity(rank);
            let mut src = shape.iter();
            for i in 0..rank {
                if norm.binary_search(&i).is_ok() {
                    out.push(1);
                } else {
                    out.push(*src.next().expect("rank accounts for every source dim"));
                }
            }
            out
        } else {
            match axes {
                None => shape.iter().copied().filter(|&d| d != 1).collect(),
                Some(axes) => {
                    let norm = axes.iter().map(|&a| norm_axis(a, shape.len())).collect::<Result<Vec<_>>>()?;
                    for &a in &norm {
                        if shape[a] != 1 {
                            return Err(SquishError::op(format!("cannot squeeze axis {a} of size {}", shape[a])));
                        }
                    }
                    shape.iter().enumerate().filter(|(i, _)| !norm.contains(i)).map(|(_, &d)| d).collect()
                }
            }
        })
    }
}

struct Expand;

impl Op for Expand {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = required(inputs, 0)?;
        let dims = int_values(required(inputs, 1)?, "shape")?;
        let want = crate::tensor::shape_from_dims(&dims, "Expand shape")?;
        let shape = broadcast_shapes(x.shape(), &want)?;
        crate::tensor::checked_numel(&shape, "Expand output")?;
        Ok(vec![map_tensor!(x, a => a.broadcast(IxDyn(&shape)).expect("broadcastable").to_owned())])
    }
}

struct Transpose {
    perm: Option<Vec<i64>>,
}

fn build_transpose(ctx: &BuildCtx) -> Result<Box<dyn Op>> {
    Ok(Box::new(Transpose { perm: ctx.attrs().opt_ints("perm")?.map(<[i64]>::to_vec) }))
}

impl Op for Transpose {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = required(inputs, 0)?;
        let rank = x.shape().len();
        let perm: Vec<usize> = match &self.perm {
            None => (0..rank).rev().collect(),
            Some(p) => {
                let p = p.iter().map(|&a| norm_axis(a, rank)).collect::<Result<Vec<_>>>()?;
                let mut seen = p.clone();
                seen.sort_unstable();
                if seen != (0..rank).collect::<Vec<_>>() {
                    return Err(SquishError::op(format!("perm {p:?} is not a permutation of 0..{rank}")));
                }
                p
            }
        };
        Ok(vec![map_tensor!(x, a => a.view().permuted_axes(IxDyn(&perm)).as_standard_layout().into_owned())])
    }
}
