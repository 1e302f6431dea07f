//! Element-wise indexing and ordering ops: GatherElements, GatherND,
//! ScatterElements (and the older Scatter), ScatterND, Trilu, CumSum, TopK.
//! Data movement works for every element type; the arithmetic of CumSum and
//! of the scatter reductions for the numeric ones. Negative indices count
//! from the end of their axis; any index still out of range is an error
//! naming the input, the value and the axis.

use std::cmp::Ordering;

use half::{bf16, f16};
use ndarray::{ArrayD, IxDyn};

use super::facts::{input, like_first, Facts};
use super::{contiguous, int_values, norm_axis, required, BuildCtx, Op, Registry};
use crate::error::{Result, SquishError};
use crate::ir::infer::{fixed, norm};
use crate::ir::{Dim, Node};
use crate::map_tensor;
use crate::tensor::{checked_numel, DType, Tensor};

pub fn register(r: &mut Registry) {
    r.insert("", "GatherElements", |ctx| Ok(Box::new(GatherElements { axis: ctx.attrs().int("axis", 0)? })));
    r.insert("", "GatherND", |ctx| Ok(Box::new(GatherNd { batch_dims: batch_dims(ctx)? })));
    r.insert("", "ScatterElements", build_scatter_elements);
    r.insert("", "Scatter", build_scatter_elements);
    r.insert("", "ScatterND", |ctx| Ok(Box::new(ScatterNd { reduction: reduction(ctx)? })));
    r.insert("", "Trilu", |ctx| Ok(Box::new(Trilu { upper: ctx.attrs().int("upper", 1)? != 0 })));
    r.insert("", "CumSum", |ctx| build_cumulative(ctx, false));
    r.insert("", "CumProd", |ctx| build_cumulative(ctx, true));
    r.insert("", "TopK", build_topk);
    r.facts("", &["ScatterElements", "Scatter", "ScatterND", "Trilu", "CumSum", "CumProd"], like_first);
    r.facts("", &["GatherElements"], gather_elements_facts);
    r.facts("", &["GatherND"], gather_nd_facts);
    r.facts("", &["TopK"], topk_facts);
}

/// Typed like the data, shaped like the indices.
fn gather_elements_facts(_: &Node, ins: &[Facts]) -> Vec<Facts> {
    vec![Facts::with(input(ins, 0).dtype, input(ins, 1).shape)]
}

/// `indices.shape[..-1] ++ data.shape[batch_dims + m..]`, `m` the length
/// of an index tuple (the last dimension of the indices).
fn gather_nd_facts(node: &Node, ins: &[Facts]) -> Vec<Facts> {
    let (data, idx) = (input(ins, 0), input(ins, 1));
    let b = node.int_attr("batch_dims", 0).max(0) as usize;
    let shape = match (&data.shape, &idx.shape) {
        (Some(d), Some(i)) if !i.is_empty() => {
            fixed(&i[i.len() - 1]).and_then(|m| usize::try_from(m).ok()).filter(|&m| b + m <= d.len()).map(|m| [&i[..i.len() - 1], &d[b + m..]].concat())
        }
        _ => None,
    };
    vec![Facts::with(data.dtype, shape)]
}

/// Values and int64 indices, shaped like the input with `k` along `axis`
/// (from the attribute before opset 10, else a constant `K`).
fn topk_facts(node: &Node, ins: &[Facts]) -> Vec<Facts> {
    let x = input(ins, 0);
    let k = match node.attr("k") {
        Some(_) => Some(node.int_attr("k", 0)),
        None => input(ins, 1).value.filter(|v| v.len() == 1).map(|v| v[0]),
    };
    let shape = x.shape.and_then(|mut s| {
        let axis = norm(node.int_attr("axis", -1), s.len())?;
        s[axis] = k.filter(|&k| k >= 0).map_or(Dim::Unknown, Dim::Fixed);
        Some(s)
    });
    vec![Facts::with(x.dtype, shape.clone()), Facts::with(Some(DType::I64), shape)]
}

/// Arithmetic for CumSum and the scatter reductions: integers wrap, as
/// ONNX integer arithmetic does; Max and Min propagate NaN (numpy).
trait Num: Copy + Default + PartialOrd {
    fn plus(self, o: Self) -> Self;
    fn times(self, o: Self) -> Self;
    fn one() -> Self;
}

macro_rules! float_num {
    ($($t:ty),*) => {$(
        impl Num for $t {
            fn plus(self, o: Self) -> Self { self + o }
            fn times(self, o: Self) -> Self { self * o }
            fn one() -> Self { <$t>::from_f32(1.0) }
        }
    )*};
}
trait FromF32 {
    fn from_f32(v: f32) -> Self;
}
impl FromF32 for f32 {
    fn from_f32(v: f32) -> Self {
        v
    }
}
impl FromF32 for f64 {
    fn from_f32(v: f32) -> Self {
        v as f64
    }
}
float_num!(f32, f64, f16, bf16);

macro_rules! int_num {
    ($($t:ty),*) => {$(
        impl Num for $t {
            fn plus(self, o: Self) -> Self { self.wrapping_add(o) }
            fn times(self, o: Self) -> Self { self.wrapping_mul(o) }
            fn one() -> Self { 1 }
        }
    )*};
}
int_num!(i8, u8, i16, u16, i32, u32, i64, u64);

fn is_nan<T: PartialOrd>(v: &T) -> bool {
    v.partial_cmp(v).is_none()
}

/// Applies `$body` (generic over `T: Num`) to the arrays of two tensors of
/// one numeric type, wrapping the resulting array in that type; returns an
/// error naming `$what` for other types.
macro_rules! numeric_pair {
    ($x:expr, $y:expr, $what:expr, $a:ident, $b:ident => $body:expr) => {
        numeric_pair!(@arms $x, $y, $what, $a, $b, $body; F32 F64 F16 BF16 I8 U8 I16 U16 I32 U32 I64 U64)
    };
    (@arms $x:expr, $y:expr, $what:expr, $a:ident, $b:ident, $body:expr; $($v:ident)*) => {
        match ($x, $y) {
            $((Tensor::$v($a), Tensor::$v($b)) => Tensor::$v($body),)*
            (x, y) if x.dtype() != y.dtype() => {
                return Err(SquishError::op(format!("updates must have the type of data, got {} and {}", x.dtype(), y.dtype())))
            }
            (x, _) => return Err(SquishError::op(format!("{} does not support {} tensors", $what, x.dtype()))),
        }
    };
}

/// Same-typed data and updates (any type), as `numeric_pair!` without the arithmetic.
macro_rules! any_pair {
    ($x:expr, $y:expr, $a:ident, $b:ident => $body:expr) => {
        match crate::map_tensor_pair!($x, $y, $a, $b => $body) {
            Ok(t) => t,
            Err(_) => return Err(SquishError::op(format!("updates must have the type of data, got {} and {}", $x.dtype(), $y.dtype()))),
        }
    };
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Reduction {
    None,
    Add,
    Mul,
    Max,
    Min,
}

impl Reduction {
    fn apply<T: Num>(self, x: T, u: T) -> T {
        match self {
            Reduction::None => u,
            Reduction::Add => x.plus(u),
            Reduction::Mul => x.times(u),
            Reduction::Max if is_nan(&x) || (!is_nan(&u) && x >= u) => x,
            Reduction::Min if is_nan(&x) || (!is_nan(&u) && x <= u) => x,
            Reduction::Max | Reduction::Min => u,
        }
    }
}

/// The `reduction` attribute: add and mul from opset 16, max and min from 18.
fn reduction(ctx: &BuildCtx) -> Result<Reduction> {
    let a = ctx.attrs();
    let name = a.opt_string("reduction")?.unwrap_or_else(|| "none".into());
    let (r, since) = match name.as_str() {
        "none" => (Reduction::None, 0),
        "add" => (Reduction::Add, 16),
        "mul" => (Reduction::Mul, 16),
        "max" => (Reduction::Max, 18),
        "min" => (Reduction::Min, 18),
        other => return Err(a.error("reduction", format!("unknown reduction '{other}' (expected none, add, mul, max or min)"))),
    };
    if ctx.opset < since {
        return Err(a.error("reduction", format!("'{name}' needs opset {since} or later, the model imports opset {}", ctx.opset)));
    }
    Ok(r)
}

fn batch_dims(ctx: &BuildCtx) -> Result<usize> {
    let a = ctx.attrs();
    let b = a.int("batch_dims", 0)?;
    usize::try_from(b).map_err(|_| a.error("batch_dims", format!("must be non-negative, got {b}")))
}

/// Row-major strides of `shape`, in elements.
fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        s[d] = s[d + 1] * shape[d + 1];
    }
    s
}

/// `i` (negative counts from the end) as a position on an axis of `dim`.
fn wrap_index(i: i64, dim: usize, axis: usize) -> Result<usize> {
    let d = dim as i64;
    let j = if i < 0 { i + d } else { i };
    if (0..d).contains(&j) {
        Ok(j as usize)
    } else {
        Err(SquishError::op(format!("indices value {i} is out of range for axis {axis} of size {dim}")))
    }
}

/// Calls `f(position, coordinates)` for each element of `shape` in row-major order.
fn for_each_coord(shape: &[usize], mut f: impl FnMut(usize, &[usize])) {
    let n: usize = shape.iter().product();
    let mut c = vec![0usize; shape.len()];
    for p in 0..n {
        f(p, &c);
        for d in (0..shape.len()).rev() {
            c[d] += 1;
            if c[d] < shape[d] {
                break;
            }
            c[d] = 0;
        }
    }
}

/// Data, indices (wrapped along `axis`) and axis of GatherElements and
/// ScatterElements, checked: one rank, and the indices no longer than the
/// data on any other axis.
fn element_indices(data: &Tensor, indices: &Tensor, axis: i64) -> Result<(usize, Vec<usize>)> {
    let (ds, is) = (data.shape(), indices.shape());
    if ds.len() != is.len() {
        return Err(SquishError::op(format!("indices have rank {} but data has rank {} (shapes {is:?} and {ds:?})", is.len(), ds.len())));
    }
    let axis = norm_axis(axis, ds.len())?;
    if let Some(d) = (0..ds.len()).find(|&d| d != axis && is[d] > ds[d]) {
        return Err(SquishError::op(format!("indices shape {is:?} exceeds data shape {ds:?} on axis {d}")));
    }
    let raw = int_values(indices, "indices")?;
    let idx = raw.iter().map(|&i| wrap_index(i, ds[axis], axis)).collect::<Result<Vec<_>>>()?;
    Ok((axis, idx))
}

/// Offset into data of the element at `c` with its `axis` coordinate replaced by `j`.
fn offset_with(c: &[usize], st: &[usize], axis: usize, j: usize) -> usize {
    c.iter().zip(st).enumerate().map(|(d, (&x, &s))| if d == axis { j * s } else { x * s }).sum()
}

struct GatherElements {
    axis: i64,
}

fn gather_elements<T: Copy>(a: &ArrayD<T>, idx: &[usize], shape: &[usize], axis: usize) -> ArrayD<T> {
    let src = contiguous(a);
    let st = strides(a.shape());
    let mut out = Vec::with_capacity(idx.len());
    for_each_coord(shape, |p, c| out.push(src[offset_with(c, &st, axis, idx[p])]));
    ArrayD::from_shape_vec(IxDyn(shape), out).expect("one element per index")
}

impl Op for GatherElements {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let (data, indices) = (required(inputs, 0)?, required(inputs, 1)?);
        let (axis, idx) = element_indices(data, indices, self.axis)?;
        let shape = indices.shape();
        Ok(vec![map_tensor!(data, a => gather_elements(a, &idx, shape, axis))])
    }
}

struct ScatterElements {
    axis: i64,
    reduction: Reduction,
}

fn build_scatter_elements(ctx: &BuildCtx) -> Result<Box<dyn Op>> {
    Ok(Box::new(ScatterElements { axis: ctx.attrs().int("axis", 0)?, reduction: reduction(ctx)? }))
}

fn scatter_elements<T: Copy>(a: &ArrayD<T>, idx: &[usize], u: &ArrayD<T>, axis: usize, f: impl Fn(T, T) -> T) -> ArrayD<T> {
    let mut out = contiguous(a).into_owned();
    let upd = contiguous(u);
    let st = strides(a.shape());
    for_each_coord(u.shape(), |p, c| {
        let o = offset_with(c, &st, axis, idx[p]);
        out[o] = f(out[o], upd[p]);
    });
    ArrayD::from_shape_vec(IxDyn(a.shape()), out).expect("shape of data")
}

impl Op for ScatterElements {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let (data, indices, updates) = (required(inputs, 0)?, required(inputs, 1)?, required(inputs, 2)?);
        if indices.shape() != updates.shape() {
            return Err(SquishError::op(format!("indices shape {:?} differs from updates shape {:?}", indices.shape(), updates.shape())));
        }
        let (axis, idx) = element_indices(data, indices, self.axis)?;
        let r = self.reduction;
        let out = match r {
            Reduction::None => any_pair!(data, updates, a, u => scatter_elements(a, &idx, u, axis, |_, v| v)),
            _ => numeric_pair!(data, updates, format!("reduction {r:?}"), a, u => scatter_elements(a, &idx, u, axis, |x, v| r.apply(x, v))),
        };
        Ok(vec![out])
    }
}

/// Index tuples of GatherND/ScatterND resolved to offsets into the data:
/// the last axis of `indices` indexes data axes `first..first + m`.
/// `batch` is the data size of one batch (0 without batch axes).
fn tuple_offsets(indices: &Tensor, data_shape: &[usize], first: usize, batch: usize) -> Result<(usize, Vec<usize>)> {
    let is = indices.shape();
    let m = *is.last().ok_or_else(|| SquishError::op("indices must have rank 1 or more"))?;
    if first + m > data_shape.len() {
        return Err(SquishError::op(format!("index tuples of length {m} (indices shape {is:?}) exceed data rank {} (shape {data_shape:?})", data_shape.len())));
    }
    let raw = int_values(indices, "indices")?;
    let st = strides(data_shape);
    let per_batch = if batch == 0 { 0 } else { is[first..is.len() - 1].iter().product::<usize>().max(1) };
    let tuples = raw.len().checked_div(m).unwrap_or_else(|| is[..is.len() - 1].iter().product());
    let mut offsets = Vec::with_capacity(tuples);
    for t in 0..tuples {
        let mut off = if batch == 0 { 0 } else { (t / per_batch) * batch };
        for j in 0..m {
            off += wrap_index(raw[t * m + j], data_shape[first + j], first + j)? * st[first + j];
        }
        offsets.push(off);
    }
    Ok((m, offsets))
}

struct GatherNd {
    batch_dims: usize,
}

fn gather_nd<T: Copy>(a: &ArrayD<T>, offsets: &[usize], slice: usize, shape: &[usize]) -> ArrayD<T> {
    let src = contiguous(a);
    let mut out = Vec::with_capacity(offsets.len() * slice);
    for &o in offsets {
        out.extend_from_slice(&src[o..o + slice]);
    }
    ArrayD::from_shape_vec(IxDyn(shape), out).expect("one slice per index tuple")
}

impl Op for GatherNd {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let (data, indices) = (required(inputs, 0)?, required(inputs, 1)?);
        let (ds, is, b) = (data.shape(), indices.shape(), self.batch_dims);
        if b >= ds.len().min(is.len()) {
            return Err(SquishError::op(format!("batch_dims {b} must be less than the ranks of data ({}) and indices ({})", ds.len(), is.len())));
        }
        if ds[..b] != is[..b] {
            return Err(SquishError::op(format!("the first {b} (batch_dims) axes of data {ds:?} and indices {is:?} differ")));
        }
        let batch = if b == 0 { 0 } else { ds[b..].iter().product() };
        let (m, offsets) = tuple_offsets(indices, ds, b, batch)?;
        let shape = [&is[..is.len() - 1], &ds[b + m..]].concat();
        checked_numel(&shape, "GatherND output")?;
        let slice = ds[b + m..].iter().product();
        Ok(vec![map_tensor!(data, a => gather_nd(a, &offsets, slice, &shape))])
    }
}

struct ScatterNd {
    reduction: Reduction,
}

fn scatter_nd<T: Copy>(a: &ArrayD<T>, offsets: &[usize], u: &ArrayD<T>, slice: usize, f: impl Fn(T, T) -> T) -> ArrayD<T> {
    let mut out = contiguous(a).into_owned();
    let upd = contiguous(u);
    for (t, &o) in offsets.iter().enumerate() {
        for k in 0..slice {
            out[o + k] = f(out[o + k], upd[t * slice + k]);
        }
    }
    ArrayD::from_shape_vec(IxDyn(a.shape()), out).expect("shape of data")
}

impl Op for ScatterNd {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let (data, indices, updates) = (required(inputs, 0)?, required(inputs, 1)?, required(inputs, 2)?);
        let (m, offsets) = tuple_offsets(indices, data.shape(), 0, 0)?;
        let (ds, is) = (data.shape(), indices.shape());
        let want = [&is[..is.len() - 1], &ds[m..]].concat();
        if updates.shape() != want.as_slice() {
            return Err(SquishError::op(format!("updates shape {:?} must be {want:?} for data {ds:?} and indices {is:?}", updates.shape())));
        }
        let slice = ds[m..].iter().product();
        let r = self.reduction;
        let out = match r {
            Reduction::None => any_pair!(data, updates, a, u => scatter_nd(a, &offsets, u, slice, |_, v| v)),
            _ => numeric_pair!(data, updates, format!("reduction {r:?}"), a, u => scatter_nd(a, &offsets, u, slice, |x, v| r.apply(x, v))),
        };
        Ok(vec![out])
    }
}

/// The length of `axis` and the counts of elements before and after it.
fn around_axis(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    (shape[..axis].iter().product(), shape[axis], shape[axis + 1..].iter().product())
}

/// The one integer of a scalar (or one-element) input such as `k` or `axis`.
fn single_int(t: &Tensor, what: &str) -> Result<i64> {
    let v = int_values(t, what)?;
    match v.as_slice() {
        [x] => Ok(*x),
        _ => Err(SquishError::op(format!("'{what}' must hold exactly one value, got {} (shape {:?})", v.len(), t.shape()))),
    }
}

struct Trilu {
    upper: bool,
}

fn trilu<T: Copy + Default>(a: &ArrayD<T>, k: i64, upper: bool) -> ArrayD<T> {
    let mut out = contiguous(a).into_owned();
    let s = a.shape();
    let (rows, cols) = (s[s.len() - 2], s[s.len() - 1]);
    for (p, v) in out.iter_mut().enumerate() {
        let (i, j) = ((p / cols.max(1)) % rows.max(1), p % cols.max(1));
        let diag = j as i64 - i as i64;
        if (upper && diag < k) || (!upper && diag > k) {
            *v = T::default();
        }
    }
    ArrayD::from_shape_vec(IxDyn(s), out).expect("shape of input")
}

impl Op for Trilu {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = required(inputs, 0)?;
        if x.shape().len() < 2 {
            return Err(SquishError::op(format!("input must have rank 2 or more, got shape {:?}", x.shape())));
        }
        let k = inputs.get(1).copied().flatten().map(|t| single_int(t, "k")).transpose()?.unwrap_or(0);
        Ok(vec![map_tensor!(x, a => trilu(a, k, self.upper))])
    }
}

/// CumSum, and CumProd (opset 26) when `product`.
struct Cumulative {
    exclusive: bool,
    reverse: bool,
    product: bool,
}

fn build_cumulative(ctx: &BuildCtx, product: bool) -> Result<Box<dyn Op>> {
    let a = ctx.attrs();
    Ok(Box::new(Cumulative { exclusive: a.int("exclusive", 0)? != 0, reverse: a.int("reverse", 0)? != 0, product }))
}

impl Cumulative {
    fn step<T: Num>(&self, acc: T, x: T) -> T {
        if self.product {
            acc.times(x)
        } else {
            acc.plus(x)
        }
    }

    fn run<T: Num>(&self, a: &ArrayD<T>, axis: usize) -> ArrayD<T> {
        let src = contiguous(a);
        let (outer, dim, inner) = around_axis(a.shape(), axis);
        let mut out = vec![T::default(); src.len()];
        for o in 0..outer {
            for i in 0..inner {
                let mut acc = if self.product { T::one() } else { T::default() };
                for step in 0..dim {
                    let j = if self.reverse { dim - 1 - step } else { step };
                    let p = (o * dim + j) * inner + i;
                    if self.exclusive {
                        out[p] = acc;
                        acc = self.step(acc, src[p]);
                    } else {
                        acc = self.step(acc, src[p]);
                        out[p] = acc;
                    }
                }
            }
        }
        ArrayD::from_shape_vec(IxDyn(a.shape()), out).expect("shape of input")
    }
}

impl Op for Cumulative {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = required(inputs, 0)?;
        let axis_t = required(inputs, 1).map_err(|_| SquishError::op("'axis' (input 1) is required"))?;
        let axis = single_int(axis_t, "axis")?;
        let rank = x.shape().len();
        if rank == 0 {
            return Err(SquishError::op("input must have rank 1 or more, got a scalar"));
        }
        let axis = norm_axis(axis, rank).map_err(|_| SquishError::op(format!("'axis' {axis} is out of range for rank {rank}")))?;
        let name = if self.product { "CumProd" } else { "CumSum" };
        Ok(vec![numeric_pair!(x, x, name, a, _b => self.run(a, axis))])
    }
}

struct TopK {
    axis: i64,
    largest: bool,
    /// Opset < 10 takes `k` as an attribute.
    k_attr: Option<i64>,
}

fn build_topk(ctx: &BuildCtx) -> Result<Box<dyn Op>> {
    let a = ctx.attrs();
    let k_attr = if ctx.opset < 10 { Some(a.required_int("k")?) } else { None };
    Ok(Box::new(TopK { axis: a.int("axis", -1)?, largest: a.int("largest", 1)? != 0, k_attr }))
}

/// Ascending order with NaN above everything (numpy's sort order).
fn nan_last<T: PartialOrd>(a: &T, b: &T) -> Ordering {
    a.partial_cmp(b).unwrap_or_else(|| is_nan(a).cmp(&is_nan(b)))
}

/// The top `k` of each row along the axis (`outer`, `dim`, `inner`):
/// values and their positions, best first; equal values by lower index.
fn topk<T: Copy + Default + PartialOrd>(a: &ArrayD<T>, k: usize, axis: usize, largest: bool) -> (ArrayD<T>, Vec<i64>) {
    let src = contiguous(a);
    let (outer, dim, inner) = around_axis(a.shape(), axis);
    let mut shape = a.shape().to_vec();
    shape[axis] = k;
    let n = outer * k * inner;
    let (mut values, mut indices) = (vec![T::default(); n], vec![0i64; n]);
    let mut order: Vec<usize> = Vec::with_capacity(dim);
    let mut row: Vec<T> = Vec::with_capacity(dim);
    for o in 0..outer {
        for i in 0..inner {
            row.clear();
            row.extend((0..dim).map(|j| src[(o * dim + j) * inner + i]));
            let cmp = |x: &usize, y: &usize| {
                let by_value = nan_last(&row[*x], &row[*y]);
                (if largest { by_value.reverse() } else { by_value }).then(x.cmp(y))
            };
            order.clear();
            order.extend(0..dim);
            if k > 0 && k < dim {
                order.select_nth_unstable_by(k - 1, cmp);
            }
            order[..k].sort_unstable_by(cmp);
            for (r, &j) in order[..k].iter().enumerate() {
                let p = (o * k + r) * inner + i;
                values[p] = row[j];
                indices[p] = j as i64;
            }
        }
    }
    (ArrayD::from_shape_vec(IxDyn(&shape), values).expect("k per row"), indices)
}

impl Op for TopK {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = required(inputs, 0)?;
        let rank = x.shape().len();
        if rank == 0 {
            return Err(SquishError::op("input must have rank 1 or more, got a scalar"));
        }
        let axis = norm_axis(self.axis, rank).map_err(|_| SquishError::op(format!("'axis' {} is out of range for rank {rank}", self.axis)))?;
        let k = match self.k_attr {
            Some(k) => k,
            None => single_int(required(inputs, 1).map_err(|_| SquishError::op("'K' (input 1) is required"))?, "K")?,
        };
        let dim = x.shape()[axis];
        if k < 0 || k as u64 > dim as u64 {
            return Err(SquishError::op(format!("'K' = {k} must be between 0 and {dim}, the size of axis {axis}")));
        }
        if let DType::Small(_) = x.dtype() {
            return Err(SquishError::op(format!("TopK does not support {} tensors", x.dtype())));
        }
        let indices: Vec<i64>;
        let values = map_tensor!(x, a => {
            let (v, i) = topk(a, k as usize, axis, self.largest);
            indices = i;
            v
        });
        let shape = values.shape().to_vec();
        Ok(vec![values, Tensor::from_vec(&shape, indices)?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{AttrValue, Attribute};
    use wasm_bindgen_test::wasm_bindgen_test;

    fn node(op: &str, attrs: &[(&str, AttrValue)]) -> Node {
        Node {
            name: "n".into(),
            op_type: op.into(),
            domain: String::new(),
            inputs: vec![],
            outputs: vec!["y".into(), "i".into()],
            attributes: attrs.iter().map(|(n, v)| Attribute { name: (*n).into(), value: v.clone() }).collect(),
            doc_string: String::new(),
        }
    }

    fn run(op: &str, attrs: &[(&str, AttrValue)], opset: i64, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
        let op = crate::ops::build_standalone(&node(op, attrs), opset)?;
        op.eval(&inputs.iter().map(|t| Some(*t)).collect::<Vec<_>>())
    }

    fn f32s(shape: &[usize], v: &[f32]) -> Tensor {
        Tensor::from_vec(shape, v.to_vec()).unwrap()
    }

    fn i64s(shape: &[usize], v: &[i64]) -> Tensor {
        Tensor::from_vec(shape, v.to_vec()).unwrap()
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn out_of_range_index_is_named() {
        let data = f32s(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let idx = i64s(&[2, 1], &[0, 7]);
        let err = run("GatherElements", &[("axis", AttrValue::Int(1))], 13, &[&data, &idx]).unwrap_err().to_string();
        assert!(err.contains("indices value 7") && err.contains("axis 1 of size 3"), "{err}");
        let err = run("GatherND", &[], 13, &[&data, &i64s(&[1, 2], &[-3, 0])]).unwrap_err().to_string();
        assert!(err.contains("indices value -3") && err.contains("axis 0 of size 2"), "{err}");
        let upd = f32s(&[2, 1], &[9.0, 9.0]);
        let err = run("ScatterElements", &[("axis", AttrValue::Int(1))], 18, &[&data, &idx, &upd]).unwrap_err().to_string();
        assert!(err.contains("indices value 7"), "{err}");
        // In a session the runtime names the node and the op.
        let named = SquishError::op("indices value 7").in_node("g", "GatherElements").to_string();
        assert!(named.contains("GatherElements") && named.contains("indices value 7"), "{named}");
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn negative_indices_wrap_and_duplicates_follow_the_spec() {
        let data = f32s(&[1, 4], &[0.0; 4]);
        let idx = i64s(&[1, 3], &[-1, 1, 1]);
        let upd = f32s(&[1, 3], &[5.0, 2.0, 3.0]);
        let none = run("ScatterElements", &[("axis", AttrValue::Int(1))], 18, &[&data, &idx, &upd]).unwrap();
        assert_eq!(none[0].to_f64_vec(), vec![0.0, 3.0, 0.0, 5.0]); // last write wins
        let add = [("axis", AttrValue::Int(1)), ("reduction", AttrValue::String(b"add".to_vec()))];
        assert_eq!(run("ScatterElements", &add, 18, &[&data, &idx, &upd]).unwrap()[0].to_f64_vec(), vec![0.0, 5.0, 0.0, 5.0]);
        let max = [("reduction", AttrValue::String(b"max".to_vec()))];
        let err = run("ScatterND", &max, 16, &[&data, &i64s(&[1, 1], &[0]), &data]).unwrap_err().to_string();
        assert!(err.contains("'reduction'") && err.contains("opset 18"), "{err}");
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn wrong_k_is_rejected() {
        let x = f32s(&[2, 3], &[1.0, 3.0, 2.0, f32::NAN, 0.0, 0.0]);
        let err = run("TopK", &[], 11, &[&x, &i64s(&[1], &[4])]).unwrap_err().to_string();
        assert!(err.contains("'K' = 4") && err.contains("size of axis 1"), "{err}");
        let err = run("TopK", &[], 11, &[&x, &i64s(&[1], &[-1])]).unwrap_err().to_string();
        assert!(err.contains("'K' = -1"), "{err}");
        let err = run("TopK", &[], 11, &[&x, &i64s(&[2], &[1, 1])]).unwrap_err().to_string();
        assert!(err.contains("'K' must hold exactly one value"), "{err}");
        let err = run("TopK", &[], 11, &[&x, &f32s(&[1], &[1.0])]).unwrap_err().to_string();
        assert!(err.contains("'K' must be an integer tensor"), "{err}");
        let err = run("TopK", &[], 9, &[&x]).err().unwrap().to_string();
        assert!(err.contains("attribute 'k'"), "{err}");
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn topk_puts_nan_first_and_breaks_ties_by_index() {
        let x = f32s(&[2, 3], &[1.0, 3.0, 2.0, f32::NAN, 0.0, 0.0]);
        let out = run("TopK", &[], 11, &[&x, &i64s(&[1], &[2])]).unwrap();
        let v = out[0].to_f64_vec();
        assert_eq!((v[0], v[1]), (3.0, 2.0));
        assert!(v[2].is_nan() && v[3] == 0.0);
        assert_eq!(out[1].to_i64_vec().unwrap(), vec![1, 2, 0, 1]);
        let small = [("largest", AttrValue::Int(0))];
        let out = run("TopK", &small, 11, &[&x, &i64s(&[1], &[2])]).unwrap();
        assert_eq!(out[1].to_i64_vec().unwrap(), vec![0, 2, 1, 2]);
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn shape_rules() {
        let fx = |dims: &[Dim]| Facts::with(Some(DType::F32), Some(dims.to_vec()));
        let k = Facts { dtype: Some(DType::I64), shape: Some(vec![Dim::Fixed(1)]), value: Some(vec![2]) };
        let out = topk_facts(&node("TopK", &[]), &[fx(&[Dim::Symbolic("N".into()), Dim::Fixed(5)]), k]);
        assert_eq!(out[1], Facts::with(Some(DType::I64), Some(vec![Dim::Symbolic("N".into()), Dim::Fixed(2)])));
        let idx = Facts::with(Some(DType::I64), Some(vec![Dim::Fixed(2), Dim::Fixed(1), Dim::Fixed(1)]));
        let out = gather_nd_facts(&node("GatherND", &[("batch_dims", AttrValue::Int(1))]), &[fx(&[Dim::Fixed(2), Dim::Fixed(3), Dim::Fixed(4)]), idx]);
        assert_eq!(out[0].shape, Some(vec![Dim::Fixed(2), Dim::Fixed(1), Dim::Fixed(4)]));
    }
}
