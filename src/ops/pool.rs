//! Pooling (f32; u8/i8 for MaxPool), any number of spatial dims: MaxPool (with optional indices),
//! AveragePool, LpPool, GlobalAveragePool, GlobalMaxPool.

use ndarray::{ArrayD, IxDyn};

use super::spatial::{for_each_index, Geometry, Window};
use super::{required, BuildCtx, Op, Registry};
use crate::error::{Result, SquishError};
use crate::tensor::{checked_numel, Tensor};

use super::facts::Facts;
use crate::ir::{Dim, Node};
pub fn register(r: &mut Registry) {
    r.insert("", "MaxPool", |ctx| build_pool(ctx, true));
    r.insert("", "AveragePool", |ctx| build_pool(ctx, false));
    r.insert("", "LpPool", |ctx| build_pool(ctx, false));
    r.insert("", "GlobalAveragePool", |_| Ok(Box::new(GlobalPool { max: false })));
    r.insert("", "GlobalMaxPool", |_| Ok(Box::new(GlobalPool { max: true })));
    r.facts("", &["MaxPool", "AveragePool", "LpPool"], super::facts::window);
    r.facts("", &["GlobalAveragePool", "GlobalMaxPool"], global_pool_facts);
}

/// Global pools keep batch and channels; every spatial axis becomes 1.
fn global_pool_facts(_: &Node, ins: &[Facts]) -> Vec<Facts> {
    let x = super::facts::input(ins, 0);
    let shape = x.shape.map(|s| s.iter().enumerate().map(|(i, d)| if i < 2 { d.clone() } else { Dim::Fixed(1) }).collect());
    vec![Facts::with(x.dtype, shape)]
}

struct Pool {
    window: Window,
    max: bool,
    count_include_pad: bool,
    column_major_indices: bool,
    /// Whether the node asks for MaxPool's second output (the indices).
    indices: bool,
    /// LpPool's p: `(Σ |x|^p)^(1/p)` over each window (padding adds 0).
    lp: Option<i32>,
}

fn build_pool(ctx: &BuildCtx, max: bool) -> Result<Box<dyn Op>> {
    let a = ctx.attrs();
    Ok(Box::new(Pool {
        window: Window::from_attrs(ctx)?,
        max,
        count_include_pad: a.int("count_include_pad", 0)? != 0,
        column_major_indices: a.int("storage_order", 0)? != 0,
        indices: ctx.node.outputs.get(1).is_some_and(|o| !o.is_empty()),
        lp: match ctx.node.op_type.as_str() {
            "LpPool" => match a.int("p", 2)? {
                p @ 1..=64 => Some(p as i32),
                p => return Err(a.error("p", format!("must be between 1 and 64, got {p}"))),
            },
            _ => None,
        },
    }))
}

impl Op for Pool {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let t = required(inputs, 0)?;
        // Max pooling is exact for small integer types through f32.
        let (x, back) = match t {
            Tensor::F32(a) => (std::borrow::Cow::Borrowed(a), None),
            Tensor::U8(_) | Tensor::I8(_) if self.max => match super::array::cast(t, crate::tensor::DType::F32)? {
                Tensor::F32(a) => (std::borrow::Cow::Owned(a), Some(t.dtype())),
                _ => unreachable!("cast to f32 gives f32"),
            },
            _ => return Err(SquishError::op(format!("input is {}, only float32 is supported", t.dtype()))),
        };
        if x.ndim() < 3 {
            return Err(SquishError::op(format!("input must have rank ≥ 3 (N, C, spatial…), got shape {:?}", x.shape())));
        }
        let (n, c) = (x.shape()[0], x.shape()[1]);
        let spatial = &x.shape()[2..];
        let r = spatial.len();
        let g = self.window.resolve(spatial, None)?;
        let mut out_shape = vec![n, c];
        out_shape.extend(&g.output);
        checked_numel(&out_shape, "pool output")?;
        let xs = x.as_standard_layout();
        let xs = xs.as_slice().expect("standard layout");
        let plane_in: usize = spatial.iter().product();
        if self.max && !self.indices && r <= 2 {
            let mut y = Tensor::F32(ArrayD::from_shape_vec(IxDyn(&out_shape), max_pool_planes(xs, n * c, spatial, g)?).expect("sized above"));
            if let Some(dtype) = back {
                y = super::array::cast(&y, dtype)?;
            }
            return Ok(vec![y]);
        }
        let windows = Windows::new(spatial, &g);
        // Strides of the input plane, row-major and column-major (for indices).
        let row_stride = windows.row_stride.clone();
        let mut col_stride = vec![1usize; r];
        for d in 1..r {
            col_stride[d] = col_stride[d - 1] * spatial[d - 1];
        }
        let mut out = vec![0.0f32; n * c * windows.len()];
        let mut idx = vec![0i64; if self.max { out.len() } else { 0 }];
        for p in 0..n * c {
            let plane = &xs[p * plane_in..(p + 1) * plane_in];
            let o0 = p * windows.len();
            for w in 0..windows.len() {
                let taps = windows.taps(w);
                if self.max {
                    let (best, best_at) = window_max(plane, taps);
                    out[o0 + w] = best;
                    if let Some(at) = best_at {
                        // Row-major offset → coordinates → the requested storage order.
                        let strides = if self.column_major_indices { &col_stride } else { &row_stride };
                        let offset: usize = (0..r).map(|d| (at / row_stride[d]) % spatial[d] * strides[d]).sum();
                        idx[o0 + w] = (p * plane_in + offset) as i64;
                    }
                } else if let Some(p) = self.lp {
                    let sum: f64 = taps.iter().map(|&at| (plane[at].abs() as f64).powi(p)).sum();
                    out[o0 + w] = sum.powf(1.0 / p as f64) as f32;
                } else {
                    let sum: f32 = taps.iter().map(|&at| plane[at]).sum();
                    let div = if self.count_include_pad { windows.padded[w] } else { taps.len() };
                    out[o0 + w] = if div == 0 { 0.0 } else { sum / div as f32 };
                }
            }
        }
        let mut y = Tensor::F32(ArrayD::from_shape_vec(IxDyn(&out_shape), out).expect("sized above"));
        if let Some(dtype) = back {
            y = super::array::cast(&y, dtype)?;
        }
        if self.max {
            let indices = Tensor::I64(ArrayD::from_shape_vec(IxDyn(&out_shape), idx).expect("sized above"));
            return Ok(vec![y, indices]);
        }
        Ok(vec![y])
    }
}

/// 1-D and 2-D max pooling without indices: each plane is copied into one
/// padded with −∞ (large enough for every window, ceil mode included) and
/// pooled by the `max_pool_f32` kernel.
fn max_pool_planes(xs: &[f32], planes: usize, spatial: &[usize], g: Geometry) -> Result<Vec<f32>> {
    let g = super::conv::lift_geometry(g);
    let (h, w) = if spatial.len() == 2 { (spatial[0], spatial[1]) } else { (1, spatial[0]) };
    let shape = super::conv::depthwise_shape(h, w, &g)?;
    let (oh, ow, ph, pw) = (shape.oh, shape.ow, shape.ph, shape.pw);
    let (top, left) = (g.pad_begin[0], g.pad_begin[1]);
    let mut padded = vec![f32::NEG_INFINITY; checked_numel(&[ph, pw], "padded pooling plane")?];
    let mut out = vec![0.0f32; planes * oh * ow];
    for (plane, dst) in xs.chunks_exact((h * w).max(1)).take(planes).zip(out.chunks_exact_mut((oh * ow).max(1))) {
        for (y, row) in plane.chunks_exact(w.max(1)).enumerate() {
            crate::kernels::active::copy_f32(&mut padded[(top + y) * pw + left..(top + y) * pw + left + w], row);
        }
        crate::kernels::active::max_pool_f32(&padded, shape, dst);
    }
    Ok(out)
}

/// The windows of a pooled plane, worked out once for every plane: for each
/// output position (row-major) the input offsets it covers, and how many
/// positions it spans counting padding (not those beyond the end padding,
/// which ceil mode may reach).
pub(crate) struct Windows {
    taps: Vec<usize>,
    starts: Vec<usize>,
    pub padded: Vec<usize>,
    pub row_stride: Vec<usize>,
}

impl Windows {
    pub fn new(spatial: &[usize], g: &Geometry) -> Windows {
        let r = spatial.len();
        let mut row_stride = vec![1usize; r];
        for d in (0..r.saturating_sub(1)).rev() {
            row_stride[d] = row_stride[d + 1] * spatial[d + 1];
        }
        let (mut taps, mut starts, mut padded) = (Vec::new(), vec![0], Vec::new());
        for_each_index(&g.output, |pos| {
            let mut count = 0usize;
            for_each_index(&g.kernel, |k| {
                let mut at = 0usize;
                let mut inside = true;
                for d in 0..r {
                    let i = (pos[d] * g.strides[d] + k[d] * g.dilations[d]) as isize - g.pad_begin[d] as isize;
                    if i >= (spatial[d] + g.pad_end[d]) as isize {
                        return;
                    }
                    if i < 0 || i >= spatial[d] as isize {
                        inside = false;
                    } else {
                        at += i as usize * row_stride[d];
                    }
                }
                count += 1;
                if inside {
                    taps.push(at);
                }
            });
            padded.push(count);
            starts.push(taps.len());
        });
        Windows { taps, starts, padded, row_stride }
    }

    /// Output positions per plane.
    pub fn len(&self) -> usize {
        self.padded.len()
    }

    /// The input offsets window `w` reads.
    pub fn taps(&self, w: usize) -> &[usize] {
        &self.taps[self.starts[w]..self.starts[w + 1]]
    }
}

/// A window's largest value and where it is (the first of equal ones; a
/// window entirely in padding has none).
pub(crate) fn window_max(plane: &[f32], taps: &[usize]) -> (f32, Option<usize>) {
    let (mut best, mut best_at) = (f32::NEG_INFINITY, None);
    for &at in taps {
        let v = plane[at];
        if v > best || best_at.is_none() {
            best = v;
            best_at = Some(at);
        }
    }
    (best, best_at)
}

struct GlobalPool {
    max: bool,
}

impl Op for GlobalPool {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = super::required_f32(inputs, 0, "input")?;
        if x.ndim() < 2 {
            return Err(SquishError::op(format!("input must have rank ≥ 2, got shape {:?}", x.shape())));
        }
        let (n, c) = (x.shape()[0], x.shape()[1]);
        let spatial: usize = x.shape()[2..].iter().product();
        let xs = x.as_standard_layout();
        let xs = xs.as_slice().expect("standard layout");
        let out: Vec<f32> = (0..n * c)
            .map(|p| {
                let plane = &xs[p * spatial..(p + 1) * spatial];
                if self.max {
                    crate::kernels::active::max_f32(plane)
                } else {
                    plane.iter().sum::<f32>() / spatial as f32
                }
            })
            .collect();
        let mut shape = vec![n, c];
        shape.extend(std::iter::repeat_n(1, x.ndim() - 2));
        Ok(vec![Tensor::F32(ArrayD::from_shape_vec(IxDyn(&shape), out).expect("sized above"))])
    }
}
