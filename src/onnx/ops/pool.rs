//! Pooling (f32, NCHW, 1-D and 2-D): MaxPool (with optional indices),
//! AveragePool, GlobalAveragePool, GlobalMaxPool.

use ndarray::{ArrayD, IxDyn};

use super::spatial::Window;
use super::{required, BuildCtx, Op, Registry};
use crate::error::{Result, SquishError};
use crate::tensor::{checked_numel, Tensor};

pub fn register(r: &mut Registry) {
    r.insert("", "MaxPool", |ctx| build_pool(ctx, true));
    r.insert("", "AveragePool", |ctx| build_pool(ctx, false));
    r.insert("", "GlobalAveragePool", |_| Ok(Box::new(GlobalPool { max: false })));
    r.insert("", "GlobalMaxPool", |_| Ok(Box::new(GlobalPool { max: true })));
}

struct Pool {
    window: Window,
    max: bool,
    count_include_pad: bool,
    column_major_indices: bool,
}

fn build_pool(ctx: &BuildCtx, max: bool) -> Result<Box<dyn Op>> {
    let a = ctx.attrs();
    Ok(Box::new(Pool {
        window: Window::from_attrs(ctx)?,
        max,
        count_include_pad: a.int("count_include_pad", 0)? != 0,
        column_major_indices: a.int("storage_order", 0)? != 0,
    }))
}

impl Op for Pool {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let t = required(inputs, 0)?;
        let x = t.as_f32().ok_or_else(|| SquishError::op(format!("input is {}, only float32 is supported", t.dtype())))?;
        let (n, c, h, w) = match x.shape() {
            [n, c, w] => (*n, *c, 1, *w),
            [n, c, h, w] => (*n, *c, *h, *w),
            s => return Err(SquishError::op(format!("input must be 3-D or 4-D (1-D or 2-D pooling), got shape {s:?}"))),
        };
        let g = self.window.resolve(&x.shape()[2..], None)?;
        let lift = |v: &Vec<usize>, fill: usize| if v.len() == 1 { vec![fill, v[0]] } else { v.clone() };
        let (k, s, d, pb, pe, o) = (lift(&g.kernel, 1), lift(&g.strides, 1), lift(&g.dilations, 1), lift(&g.pad_begin, 0), lift(&g.pad_end, 0), lift(&g.output, 1));
        let mut out_shape = vec![n, c];
        out_shape.extend(&g.output);
        checked_numel(&out_shape, "pool output")?;
        let xs = x.as_standard_layout();
        let xs = xs.as_slice().expect("standard layout");
        let (oh, ow) = (o[0], o[1]);
        let mut out = vec![0.0f32; n * c * oh * ow];
        let mut idx = vec![0i64; if self.max { out.len() } else { 0 }];
        for p in 0..n * c {
            let plane = &xs[p * h * w..(p + 1) * h * w];
            for oy in 0..oh {
                for ox in 0..ow {
                    let y0 = (oy * s[0]) as isize - pb[0] as isize;
                    let x0 = (ox * s[1]) as isize - pb[1] as isize;
                    let (mut best, mut best_at, mut sum, mut count, mut padded_count) = (f32::NEG_INFINITY, 0usize, 0.0f32, 0usize, 0usize);
                    let mut seen_nan = false;
                    for ky in 0..k[0] {
                        let iy = y0 + (ky * d[0]) as isize;
                        // Positions beyond the end padding (ceil mode) are not part of any window.
                        if iy >= (h + pe[0]) as isize {
                            continue;
                        }
                        for kx in 0..k[1] {
                            let ix = x0 + (kx * d[1]) as isize;
                            if ix >= (w + pe[1]) as isize {
                                continue;
                            }
                            padded_count += 1;
                            if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                continue;
                            }
                            let at = iy as usize * w + ix as usize;
                            let v = plane[at];
                            count += 1;
                            sum += v;
                            if v > best || (v.is_nan() && !seen_nan) {
                                seen_nan |= v.is_nan();
                                best = v;
                                best_at = at;
                            }
                        }
                    }
                    let i = (p * oh + oy) * ow + ox;
                    if self.max {
                        out[i] = best;
                        let (py, px) = (best_at / w, best_at % w);
                        idx[i] = if self.column_major_indices { (p * h * w + px * h + py) as i64 } else { (p * h * w + best_at) as i64 };
                    } else {
                        let div = if self.count_include_pad { padded_count } else { count };
                        out[i] = if div == 0 { 0.0 } else { sum / div as f32 };
                    }
                }
            }
        }
        let y = Tensor::F32(ArrayD::from_shape_vec(IxDyn(&out_shape), out).expect("sized above"));
        if self.max {
            let indices = Tensor::I64(ArrayD::from_shape_vec(IxDyn(&out_shape), idx).expect("sized above"));
            return Ok(vec![y, indices]);
        }
        Ok(vec![y])
    }
}

struct GlobalPool {
    max: bool,
}

impl Op for GlobalPool {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let t = required(inputs, 0)?;
        let x = t.as_f32().ok_or_else(|| SquishError::op(format!("input is {}, only float32 is supported", t.dtype())))?;
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
