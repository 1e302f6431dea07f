//! Convolution, batch normalisation (inference form: the running statistics
//! are constants, so it folds into the convolution at export) and pooling.

use ndarray::{ArrayD, IxDyn};

use super::linalg::{gemm, transpose};
use super::{Grads, RuleCtx};
use crate::error::{Result, SquishError};
use crate::ops::attrs::Attrs;
use crate::ops::contiguous;
use crate::ops::conv::{as_2d, col2im, im2col, lift_geometry};
use crate::ops::pool::{window_max, Windows};
use crate::ops::spatial::Window;

fn shaped(v: Vec<f32>, shape: &[usize]) -> ArrayD<f32> {
    ArrayD::from_shape_vec(IxDyn(shape), v).expect("sized from the shape")
}

/// Conv (1-D/2-D, grouped and depthwise included) per image and group:
/// `dW_g += dY_g · colᵀ`, `dcol = W_gᵀ · dY_g` folded back by `col2im`,
/// `dB = Σ dY` per output channel.
pub(super) fn conv(c: &RuleCtx) -> Result<Grads> {
    let (x, wt) = (c.f32_input(0)?, c.f32_input(1)?);
    let group = Attrs::new(c.node).int("group", 1)?;
    let (n, ch, h, w) = as_2d(x.shape(), "input X")?;
    let (m, cg, _, _) = as_2d(wt.shape(), "weights W")?;
    let group = usize::try_from(group).ok().filter(|&g| g >= 1 && ch % g == 0 && m % g == 0 && cg * g == ch);
    let Some(group) = group else {
        return Err(SquishError::op(format!("input has {ch} channels; weights {:?} and the group attribute do not match", wt.shape())));
    };
    let g = lift_geometry(Window::from_node(c.node)?.resolve(&x.shape()[2..], Some(&wt.shape()[2..]))?);
    let (mg, plane, kdim) = (m / group, g.output[0] * g.output[1], cg * g.kernel[0] * g.kernel[1]);
    let (xs, ws, dy) = (contiguous(x), contiguous(wt), contiguous(c.dy));
    if dy.len() != n * m * plane {
        return Err(SquishError::op("the output gradient does not match the convolution's output"));
    }
    let (mut dx, mut dw) = (vec![0.0f32; if c.wants(0) { xs.len() } else { 0 }], vec![0.0f32; if c.wants(1) { ws.len() } else { 0 }]);
    let weights_t: Vec<Vec<f32>> = (0..group).map(|gi| transpose(&ws[gi * mg * kdim..(gi + 1) * mg * kdim], mg, kdim)).collect();
    let mut col = vec![0.0f32; kdim * plane];
    for b in 0..n {
        for (gi, wg_t) in weights_t.iter().enumerate() {
            let xr = (b * ch + gi * cg) * h * w..(b * ch + (gi + 1) * cg) * h * w;
            let dyg = &dy[(b * m + gi * mg) * plane..(b * m + (gi + 1) * mg) * plane];
            if c.wants(1) {
                im2col(&xs[xr.clone()], cg, h, w, &g, &mut col);
                let part = gemm(mg, plane, kdim, dyg, &transpose(&col, kdim, plane));
                dw[gi * mg * kdim..(gi + 1) * mg * kdim].iter_mut().zip(part).for_each(|(a, v)| *a += v);
            }
            if c.wants(0) {
                col2im(&gemm(kdim, mg, plane, wg_t, dyg), cg, h, w, &g, &mut dx[xr]);
            }
        }
    }
    let bias = c.wants(2).then(|| {
        let mut db = vec![0.0f32; m];
        for (i, chunk) in dy.chunks_exact(plane.max(1)).enumerate() {
            db[i % m] += chunk.iter().sum::<f32>();
        }
        db
    });
    let bias_shape = c.input_shape(2).map(|s| s.to_vec()).unwrap_or_else(|_| vec![m]);
    Ok(vec![c.wants(0).then(|| shaped(dx, x.shape())), c.wants(1).then(|| shaped(dw, wt.shape())), bias.map(|b| shaped(b, &bias_shape))])
}

/// BatchNormalization with its running statistics (`y = (x − μ)·s/σ + b`,
/// `σ = √(var + ε)`): the form inference runs and export folds. Training
/// mode (batch statistics) is not what a fine-tuned model computes later.
pub(super) fn batch_norm(c: &RuleCtx) -> Result<Grads> {
    let attrs = Attrs::new(c.node);
    if attrs.int("training_mode", 0)? != 0 {
        return Err(SquishError::op("training_mode=1 (batch statistics) is not trained; export the model in inference mode"));
    }
    let eps = attrs.float("epsilon", 1e-5)?;
    let x = c.f32_input(0)?;
    if x.ndim() < 2 {
        return Err(SquishError::op(format!("X must have rank ≥ 2, got {:?}", x.shape())));
    }
    let ch = x.shape()[1];
    let per_channel = |i: usize, what: &str| -> Result<Vec<f32>> {
        let v = c.f32_input(i)?;
        if v.len() != ch {
            return Err(SquishError::op(format!("{what} has {} values, expected one per channel ({ch})", v.len())));
        }
        Ok(v.iter().copied().collect())
    };
    let (scale, mean, var) = (per_channel(1, "scale")?, per_channel(3, "mean")?, per_channel(4, "var")?);
    let inv: Vec<f32> = var.iter().map(|v| 1.0 / (v + eps).sqrt()).collect();
    let (xs, dy) = (contiguous(x), contiguous(c.dy));
    let inner = x.shape()[2..].iter().product::<usize>().max(1);
    let mut dx = vec![0.0f32; xs.len()];
    // Per channel: Σ dy and Σ dy·(x − μ).
    let (mut sum_dy, mut sum_dy_xc) = (vec![0.0f32; ch], vec![0.0f32; ch]);
    for (p, (xc, dyc)) in xs.chunks_exact(inner).zip(dy.chunks_exact(inner)).enumerate() {
        let k = p % ch;
        let a = scale[k] * inv[k];
        for ((d, &xv), &g) in dx[p * inner..(p + 1) * inner].iter_mut().zip(xc).zip(dyc) {
            *d = g * a;
            sum_dy[k] += g;
            sum_dy_xc[k] += g * (xv - mean[k]);
        }
    }
    let per = |f: &dyn Fn(usize) -> f32, i: usize| -> Result<Option<ArrayD<f32>>> {
        Ok(c.wants(i).then(|| shaped((0..ch).map(f).collect(), c.input_shape(i).expect("checked above"))))
    };
    Ok(vec![
        c.wants(0).then(|| shaped(dx, x.shape())),
        per(&|k| sum_dy_xc[k] * inv[k], 1)?,
        per(&|k| sum_dy[k], 2)?,
        per(&|k| -sum_dy[k] * scale[k] * inv[k], 3)?,
        per(&|k| -0.5 * sum_dy_xc[k] * scale[k] * inv[k].powi(3), 4)?,
    ])
}

/// MaxPool (the gradient goes to the first largest value of each window,
/// as the forward pass picks it) and AveragePool (spread evenly over the
/// window's divisor).
pub(super) fn pool(c: &RuleCtx) -> Result<Grads> {
    let x = c.f32_input(0)?;
    if x.ndim() < 3 {
        return Err(SquishError::op(format!("input must have rank ≥ 3 (N, C, spatial…), got shape {:?}", x.shape())));
    }
    let spatial = &x.shape()[2..];
    let windows = Windows::new(spatial, &Window::from_node(c.node)?.resolve(spatial, None)?);
    let max = c.node.op_type == "MaxPool";
    let include_pad = Attrs::new(c.node).int("count_include_pad", 0)? != 0;
    let (xs, dy) = (contiguous(x), contiguous(c.dy));
    let plane_in: usize = spatial.iter().product();
    let planes = x.shape()[0] * x.shape()[1];
    if dy.len() != planes * windows.len() {
        return Err(SquishError::op("the output gradient does not match the pooled output"));
    }
    let mut dx = vec![0.0f32; xs.len()];
    for p in 0..planes {
        let (plane, dplane) = (&xs[p * plane_in..(p + 1) * plane_in], &mut dx[p * plane_in..(p + 1) * plane_in]);
        for (wi, &g) in dy[p * windows.len()..(p + 1) * windows.len()].iter().enumerate() {
            let taps = windows.taps(wi);
            if max {
                if let (_, Some(at)) = window_max(plane, taps) {
                    dplane[at] += g;
                }
                continue;
            }
            let div = if include_pad { windows.padded[wi] } else { taps.len() };
            if div > 0 {
                taps.iter().for_each(|&at| dplane[at] += g / div as f32);
            }
        }
    }
    Ok(vec![Some(shaped(dx, x.shape()))])
}

/// GlobalAveragePool and GlobalMaxPool: every spatial position, one window.
pub(super) fn global_pool(c: &RuleCtx) -> Result<Grads> {
    let x = c.f32_input(0)?;
    let (xs, dy) = (contiguous(x), contiguous(c.dy));
    let spatial = x.shape().get(2..).map(|s| s.iter().product::<usize>()).unwrap_or(1).max(1);
    if dy.len() * spatial != xs.len() {
        return Err(SquishError::op("the output gradient does not match the pooled output"));
    }
    let mut dx = vec![0.0f32; xs.len()];
    let all: Vec<usize> = (0..spatial).collect();
    for (p, &g) in dy.iter().enumerate() {
        let (plane, dplane) = (&xs[p * spatial..(p + 1) * spatial], &mut dx[p * spatial..(p + 1) * spatial]);
        if c.node.op_type == "GlobalMaxPool" {
            if let (_, Some(at)) = window_max(plane, &all) {
                dplane[at] += g;
            }
        } else {
            dplane.iter_mut().for_each(|d| *d += g / spatial as f32);
        }
    }
    Ok(vec![Some(shaped(dx, x.shape()))])
}
