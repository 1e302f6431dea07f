//! Indexing ops: Concat, Gather, Slice, Pad, Split, Where, Tile.
//! They work for every element type.

use ndarray::{ArrayD, Axis, IxDyn, Slice as NdSlice, Zip};

use super::{int_values, norm_axis, opt_int_input, required, BuildCtx, Op, Registry};
use crate::error::{Result, SquishError};
use crate::ops::elementwise::broadcast_shapes;
use crate::tensor::{checked_numel, Tensor};
use crate::{map_tensor, map_tensor_pair};

use super::facts::{input, Facts};
use crate::ir::infer::{fixed, ints_attr, norm};
use crate::ir::{Dim, Node};
pub fn register(r: &mut Registry) {
    r.insert("", "Concat", build_concat);
    r.insert("", "Gather", build_gather);
    r.insert("", "Slice", build_slice);
    r.insert("", "Pad", build_pad);
    r.insert("", "Split", build_split);
    r.insert("", "Where", |_| Ok(Box::new(Where)));
    r.insert("", "Tile", |_| Ok(Box::new(Tile)));
    r.facts("", &["Concat"], concat_facts);
    r.facts("", &["Gather"], gather_facts);
    r.facts("", &["Where"], super::facts::broadcast_like_second);
    r.facts("", &["Slice"], slice_facts);
}

/// Each sliced axis's length from constant starts/ends/axes/steps (inputs
/// from opset 10, attributes before); a sliced small value is sliced too.
fn slice_facts(node: &Node, ins: &[Facts]) -> Vec<Facts> {
    let x = input(ins, 0);
    let values = |i: usize, attr: &str| ints_attr(node, attr).map(<[i64]>::to_vec).or_else(|| ins.get(i).and_then(|f| f.value.clone()));
    let (Some(starts), Some(ends), Some(shape)) = (values(1, "starts"), values(2, "ends"), x.shape.clone()) else {
        return vec![Facts::with(x.dtype, None)];
    };
    let axes = values(3, "axes").unwrap_or_else(|| (0..starts.len() as i64).collect());
    let steps = ins.get(4).and_then(|f| f.value.clone()).unwrap_or_else(|| vec![1; starts.len()]);
    if axes.len() != starts.len() || ends.len() != starts.len() || steps.len() != starts.len() || steps.contains(&0) {
        return vec![Facts::with(x.dtype, None)];
    }
    let mut out = shape;
    let mut value = x.value.clone();
    for (k, &axis) in axes.iter().enumerate() {
        let Some(a) = norm(axis, out.len()) else { return vec![Facts::with(x.dtype, None)] };
        let Some(dim) = fixed(&out[a]) else {
            out[a] = Dim::Unknown;
            value = None;
            continue;
        };
        let range = slice_indices(slice_for_axis(dim as usize, starts[k], ends[k], steps[k]));
        out[a] = Dim::Fixed(range.len() as i64);
        value = value.filter(|_| out.len() == 1).map(|v| range.iter().filter_map(|&i| v.get(i).copied()).collect());
    }
    vec![Facts { dtype: x.dtype, shape: Some(out), value }]
}

/// Shapes joined along `axis`; small values concatenated (shape arithmetic).
fn concat_facts(node: &Node, ins: &[Facts]) -> Vec<Facts> {
    let shapes: Option<Vec<Vec<Dim>>> = ins.iter().map(|f| f.shape.clone()).collect();
    let shape = shapes.and_then(|s| {
        let axis = norm(node.int_attr("axis", 0), s.first()?.len())?;
        let mut out = s[0].clone();
        out[axis] = s.iter().map(|d| fixed(&d[axis])).try_fold(0i64, |a, d| d.map(|d| a + d)).map_or(Dim::Unknown, Dim::Fixed);
        Some(out)
    });
    let value = ins.iter().map(|f| f.value.clone()).collect::<Option<Vec<_>>>().map(|v| v.concat());
    vec![Facts { dtype: input(ins, 0).dtype, shape, value }]
}

/// `data[.., indices, ..]` along `axis`; small values gathered (shape arithmetic).
fn gather_facts(node: &Node, ins: &[Facts]) -> Vec<Facts> {
    let (x, idx) = (input(ins, 0), input(ins, 1));
    let axis = node.int_attr("axis", 0);
    let shape = match (&x.shape, &idx.shape) {
        (Some(d), Some(i)) => norm(axis, d.len()).map(|a| [&d[..a], &i[..], &d[a + 1..]].concat()),
        _ => None,
    };
    let value = match (&x.value, &idx.value) {
        (Some(v), Some(i)) if axis == 0 => i.iter().map(|&j| v.get(if j < 0 { (j + v.len() as i64) as usize } else { j as usize }).copied()).collect(),
        _ => None,
    };
    vec![Facts { dtype: x.dtype, shape, value }]
}

/// Dispatches on the variant of `$first` and binds every tensor of `$all`
/// as a view of that variant (`Err` if any differs).
macro_rules! with_views {
    ($first:expr, $all:expr, $views:ident => $body:expr) => {{
        macro_rules! arm {
            ($v:ident) => {{
                let $views = $all
                    .iter()
                    .map(|t| match t {
                        Tensor::$v(a) => Ok(a.view()),
                        o => Err(SquishError::op(format!("all inputs must share one type, got {} and {}", $first.dtype(), o.dtype()))),
                    })
                    .collect::<Result<Vec<_>>>()?;
                Tensor::$v($body)
            }};
        }
        match $first {
            Tensor::F32(_) => arm!(F32),
            Tensor::F64(_) => arm!(F64),
            Tensor::F16(_) => arm!(F16),
            Tensor::BF16(_) => arm!(BF16),
            Tensor::I8(_) => arm!(I8),
            Tensor::U8(_) => arm!(U8),
            Tensor::I16(_) => arm!(I16),
            Tensor::U16(_) => arm!(U16),
            Tensor::I32(_) => arm!(I32),
            Tensor::U32(_) => arm!(U32),
            Tensor::I64(_) => arm!(I64),
            Tensor::U64(_) => arm!(U64),
            Tensor::Bool(_) => arm!(Bool),
            Tensor::Small(st, _) => {
                let $views = $all
                    .iter()
                    .map(|t| match t {
                        Tensor::Small(u, a) if u == st => Ok(a.view()),
                        o => Err(SquishError::op(format!("all inputs must share one type, got {} and {}", $first.dtype(), o.dtype()))),
                    })
                    .collect::<Result<Vec<_>>>()?;
                Tensor::Small(*st, $body)
            }
        }
    }};
}

struct Concat {
    axis: i64,
}

fn build_concat(ctx: &BuildCtx) -> Result<Box<dyn Op>> {
    Ok(Box::new(Concat { axis: ctx.attrs().required_int("axis")? }))
}

impl Op for Concat {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let ts: Vec<&Tensor> = inputs.iter().flatten().copied().collect();
        let first = *ts.first().ok_or_else(|| SquishError::op("Concat needs at least one input"))?;
        Ok(vec![concat(&ts, norm_axis(self.axis, first.shape().len())?)?])
    }
}

/// `ts` (at least one, all of one type) joined along `axis`.
pub(super) fn concat(ts: &[&Tensor], axis: usize) -> Result<Tensor> {
    let first = *ts.first().ok_or_else(|| SquishError::op("nothing to concatenate"))?;
    for t in ts {
        let (a, b) = (first.shape(), t.shape());
        if a.len() != b.len() || a.iter().zip(b).enumerate().any(|(i, (x, y))| i != axis && x != y) {
            return Err(SquishError::op(format!("cannot concatenate shapes {a:?} and {b:?} along axis {axis}")));
        }
    }
    Ok(with_views!(first, ts, views => ndarray::concatenate(Axis(axis), &views).map_err(|e| SquishError::op(e.to_string()))?))
}

struct Gather {
    axis: i64,
}

fn build_gather(ctx: &BuildCtx) -> Result<Box<dyn Op>> {
    Ok(Box::new(Gather { axis: ctx.attrs().int("axis", 0)? }))
}

impl Op for Gather {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let data = required(inputs, 0)?;
        let idx_t = required(inputs, 1)?;
        let raw = int_values(idx_t, "indices")?;
        let axis = norm_axis(self.axis, data.shape().len())?;
        let dim = data.shape()[axis] as i64;
        let idx = raw
            .iter()
            .map(|&i| {
                let j = if i < 0 { i + dim } else { i };
                if j < 0 || j >= dim {
                    Err(SquishError::op(format!("index {i} is out of range for axis {axis} of size {dim}")))
                } else {
                    Ok(j as usize)
                }
            })
            .collect::<Result<Vec<_>>>()?;
        let mut shape: Vec<usize> = data.shape()[..axis].to_vec();
        shape.extend_from_slice(idx_t.shape());
        shape.extend_from_slice(&data.shape()[axis + 1..]);
        let picked = map_tensor!(data, a => a.select(Axis(axis), &idx));
        Ok(vec![picked.reshaped(&shape)?])
    }
}

/// Starts, ends and (optional) axes of an opset < 10 Slice.
type SliceAttrs = (Vec<i64>, Vec<i64>, Option<Vec<i64>>);

struct SliceOp {
    /// Opset < 10 takes starts/ends/axes as attributes.
    attrs: Option<SliceAttrs>,
}

fn build_slice(ctx: &BuildCtx) -> Result<Box<dyn Op>> {
    let a = ctx.attrs();
    let attrs = if ctx.opset < 10 {
        let starts = a.opt_ints("starts")?.ok_or_else(|| a.error("starts", "is required"))?.to_vec();
        let ends = a.opt_ints("ends")?.ok_or_else(|| a.error("ends", "is required"))?.to_vec();
        Some((starts, ends, a.opt_ints("axes")?.map(<[i64]>::to_vec)))
    } else {
        None
    };
    Ok(Box::new(SliceOp { attrs }))
}

/// The indices an ndarray slice visits, in order (a negative step walks its range backwards).
fn slice_indices(s: NdSlice) -> Vec<usize> {
    let (start, end) = (s.start.max(0) as usize, s.end.unwrap_or(s.start).max(0) as usize);
    let step = s.step.unsigned_abs();
    if s.step > 0 {
        (start..end).step_by(step).collect()
    } else {
        (start..end).rev().step_by(step).collect()
    }
}

/// ONNX slice bounds for one axis, clamped as the spec says, as an ndarray slice.
fn slice_for_axis(dim: usize, start: i64, end: i64, step: i64) -> NdSlice {
    let d = dim as i64;
    let norm = |v: i64| if v < 0 { v.saturating_add(d) } else { v };
    if step > 0 {
        let s = norm(start).clamp(0, d);
        let e = norm(end).clamp(0, d);
        NdSlice::new(s as isize, Some(e.max(s) as isize), step as isize)
    } else {
        // Walk down from start (inclusive) to end (exclusive).
        let s = norm(start).clamp(-1, d - 1);
        let e = norm(end).clamp(-1, d - 1);
        if s <= e {
            NdSlice::new(0, Some(0), 1)
        } else {
            NdSlice::new((e + 1) as isize, Some((s + 1) as isize), step as isize)
        }
    }
}

impl Op for SliceOp {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = required(inputs, 0)?;
        let (starts, ends, axes, steps) = match &self.attrs {
            Some((s, e, a)) => (s.clone(), e.clone(), a.clone(), None),
            None => (
                int_values(required(inputs, 1)?, "starts")?,
                int_values(required(inputs, 2)?, "ends")?,
                opt_int_input(inputs, 3, "axes")?,
                opt_int_input(inputs, 4, "steps")?,
            ),
        };
        let rank = x.shape().len();
        if starts.len() != ends.len() {
            return Err(SquishError::op(format!("starts ({}) and ends ({}) differ in length", starts.len(), ends.len())));
        }
        let axes = match axes {
            Some(a) => a.iter().map(|&v| norm_axis(v, rank)).collect::<Result<Vec<_>>>()?,
            None => (0..starts.len()).collect(),
        };
        let steps = steps.unwrap_or_else(|| vec![1; starts.len()]);
        if axes.len() != starts.len() || steps.len() != starts.len() {
            return Err(SquishError::op("starts, ends, axes and steps must have the same length"));
        }
        let mut per_axis: Vec<NdSlice> = (0..rank).map(|_| NdSlice::new(0, None, 1)).collect();
        for (i, &ax) in axes.iter().enumerate() {
            if steps[i] == 0 {
                return Err(SquishError::op("slice step cannot be 0"));
            }
            per_axis[ax] = slice_for_axis(x.shape()[ax], starts[i], ends[i], steps[i]);
        }
        Ok(vec![map_tensor!(x, a => a.slice_each_axis(|d| per_axis[d.axis.index()]).to_owned())])
    }
}

#[derive(Clone, Copy, PartialEq)]
enum PadMode {
    Constant,
    Reflect,
    Edge,
    Wrap,
}

struct Pad {
    mode: PadMode,
    /// Opset < 11: pads and value are attributes.
    attr_pads: Option<(Vec<i64>, f32)>,
}

fn build_pad(ctx: &BuildCtx) -> Result<Box<dyn Op>> {
    let a = ctx.attrs();
    let mode = match a.opt_string("mode")?.as_deref().unwrap_or("constant") {
        "constant" => PadMode::Constant,
        "reflect" => PadMode::Reflect,
        "edge" => PadMode::Edge,
        "wrap" => PadMode::Wrap,
        other => return Err(a.error("mode", format!("unknown mode '{other}'"))),
    };
    let attr_pads = if ctx.opset < 11 {
        let pads = a.opt_ints("pads")?.or(a.opt_ints("paddings")?).ok_or_else(|| a.error("pads", "is required"))?;
        Some((pads.to_vec(), a.float("value", 0.0)?))
    } else {
        None
    };
    Ok(Box::new(Pad { mode, attr_pads }))
}

/// Source index along one axis for output position `o`, or `None` for the constant.
fn pad_source(o: i64, begin: i64, n: i64, mode: PadMode) -> Option<usize> {
    let i = o - begin;
    if (0..n).contains(&i) {
        return Some(i as usize);
    }
    if n == 0 {
        return None;
    }
    match mode {
        PadMode::Constant => None,
        PadMode::Edge => Some(i.clamp(0, n - 1) as usize),
        PadMode::Wrap => Some(i.rem_euclid(n) as usize),
        PadMode::Reflect => {
            if n == 1 {
                return Some(0);
            }
            let period = 2 * (n - 1);
            let m = i.rem_euclid(period);
            Some(if m < n { m } else { period - m } as usize)
        }
    }
}

impl Op for Pad {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = required(inputs, 0)?;
        let rank = x.shape().len();
        let (pads_in, value) = match &self.attr_pads {
            Some((p, v)) => (p.clone(), Some(Tensor::scalar(*v))),
            None => (int_values(required(inputs, 1)?, "pads")?, inputs.get(2).copied().flatten().cloned()),
        };
        let axes = match opt_int_input(inputs, 3, "axes")? {
            Some(a) => a.iter().map(|&v| norm_axis(v, rank)).collect::<Result<Vec<_>>>()?,
            None => (0..rank).collect(),
        };
        if pads_in.len() != 2 * axes.len() {
            return Err(SquishError::op(format!("pads has {} values, expected {}", pads_in.len(), 2 * axes.len())));
        }
        let (mut begin, mut end) = (vec![0i64; rank], vec![0i64; rank]);
        for (i, &ax) in axes.iter().enumerate() {
            begin[ax] = pads_in[i];
            end[ax] = pads_in[i + axes.len()];
        }
        let mut out_shape = Vec::with_capacity(rank);
        for d in 0..rank {
            let n = x.shape()[d] as i64 + begin[d] + end[d];
            if n < 0 {
                return Err(SquishError::op(format!("pads {pads_in:?} crop axis {d} below zero")));
            }
            if self.mode != PadMode::Constant && x.shape()[d] == 0 && n > 0 {
                return Err(SquishError::op("cannot pad an empty axis except with a constant"));
            }
            out_shape.push(n as usize);
        }
        checked_numel(&out_shape, "Pad output")?;
        let value = match value {
            Some(v) if v.dtype() != x.dtype() => crate::ops::array::cast(&v, x.dtype())?,
            Some(v) => v,
            None => crate::ops::array::cast(&Tensor::scalar(0.0f32), x.dtype())?,
        };
        let mode = self.mode;
        let dims: Vec<i64> = x.shape().iter().map(|&d| d as i64).collect();
        let out = map_tensor_pair!(x, &value, a, v => {
            let fill = v.iter().next().copied().unwrap_or_default();
            let mut src = vec![0usize; rank];
            ArrayD::from_shape_fn(IxDyn(&out_shape), |idx| {
                for d in 0..rank {
                    match pad_source(idx[d] as i64, begin[d], dims[d], mode) {
                        Some(s) => src[d] = s,
                        None => return fill,
                    }
                }
                a[IxDyn(&src)]
            })
        })?;
        Ok(vec![out])
    }
}

struct Split {
    axis: i64,
    outputs: usize,
    attr_split: Option<Vec<i64>>,
}

fn build_split(ctx: &BuildCtx) -> Result<Box<dyn Op>> {
    let a = ctx.attrs();
    let attr_split = if ctx.opset < 13 { a.opt_ints("split")?.map(<[i64]>::to_vec) } else { None };
    let outputs = a.opt_int("num_outputs")?.map(|n| n as usize).unwrap_or(ctx.node.outputs.len());
    Ok(Box::new(Split { axis: a.int("axis", 0)?, outputs, attr_split }))
}

impl Op for Split {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = required(inputs, 0)?;
        let axis = norm_axis(self.axis, x.shape().len())?;
        let dim = x.shape()[axis];
        let sizes: Vec<usize> = match self.attr_split.clone().or(opt_int_input(inputs, 1, "split")?) {
            Some(s) => {
                if s.iter().any(|&v| v < 0) || s.iter().sum::<i64>() != dim as i64 {
                    return Err(SquishError::op(format!("split {s:?} does not add up to axis size {dim}")));
                }
                s.iter().map(|&v| v as usize).collect()
            }
            None => {
                let n = self.outputs.max(1);
                let chunk = dim.div_ceil(n);
                (0..n).map(|i| chunk.min(dim.saturating_sub(i * chunk))).collect()
            }
        };
        let mut start = 0;
        let mut out = Vec::with_capacity(sizes.len());
        for s in sizes {
            let sl = NdSlice::new(start as isize, Some((start + s) as isize), 1);
            out.push(map_tensor!(x, a => a.slice_axis(Axis(axis), sl).to_owned()));
            start += s;
        }
        Ok(out)
    }
}

struct Where;

impl Op for Where {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let cond = match required(inputs, 0)? {
            Tensor::Bool(c) => c,
            other => return Err(SquishError::op(format!("condition must be bool, got {}", other.dtype()))),
        };
        let (x, y) = (required(inputs, 1)?, required(inputs, 2)?);
        let shape = broadcast_shapes(&broadcast_shapes(cond.shape(), x.shape())?, y.shape())?;
        let c = cond.broadcast(IxDyn(&shape)).expect("broadcastable");
        let out = map_tensor_pair!(x, y, a, b => {
            let (av, bv) = (a.broadcast(IxDyn(&shape)).expect("broadcastable"), b.broadcast(IxDyn(&shape)).expect("broadcastable"));
            let mut out = ArrayD::from_elem(IxDyn(&shape), Default::default());
            Zip::from(&mut out).and(&c).and(&av).and(&bv).for_each(|o, &c, &p, &q| *o = if c { p } else { q });
            out
        })?;
        Ok(vec![out])
    }
}

struct Tile;

impl Op for Tile {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = required(inputs, 0)?;
        let reps = int_values(required(inputs, 1)?, "repeats")?;
        if reps.len() != x.shape().len() || reps.iter().any(|&r| r < 0) {
            return Err(SquishError::op(format!("repeats {reps:?} must be {} non-negative values", x.shape().len())));
        }
        let shape: Vec<usize> = x.shape().iter().zip(&reps).map(|(&d, &r)| d * r as usize).collect();
        checked_numel(&shape, "Tile output")?;
        let dims = x.shape().to_vec();
        Ok(vec![map_tensor!(x, a => {
            let mut src = vec![0usize; dims.len()];
            ArrayD::from_shape_fn(IxDyn(&shape), |idx| {
                for d in 0..dims.len() {
                    src[d] = idx[d] % dims[d];
                }
                a[IxDyn(&src)]
            })
        })])
    }
}
