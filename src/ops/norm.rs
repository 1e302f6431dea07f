//! Normalisation (f32): BatchNormalization (inference and training mode), LayerNormalization, RMSNormalization,
//! InstanceNormalization, LRN.

use ndarray::{ArrayD, IxDyn};

use super::{required_f32, BuildCtx, Op, Registry};
use crate::error::{Result, SquishError};
use crate::tensor::{into_flat, Tensor};

pub fn register(r: &mut Registry) {
    r.insert("", "BatchNormalization", build_batch_norm);
    r.insert("", "LayerNormalization", build_layer_norm);
    r.insert("", "RMSNormalization", build_rms_norm);
    r.insert("", "InstanceNormalization", |ctx| Ok(Box::new(InstanceNorm { epsilon: ctx.attrs().float("epsilon", 1e-5)? })));
    r.insert("", "LRN", build_lrn);
    r.facts("", &["BatchNormalization", "InstanceNormalization", "LRN", "LayerNormalization", "RMSNormalization"], super::facts::like_first);
}

fn per_channel(v: &ArrayD<f32>, c: usize, what: &str) -> Result<Vec<f32>> {
    if v.len() != c {
        return Err(SquishError::op(format!("{what} has {} values, expected one per channel ({c})", v.len())));
    }
    Ok(v.iter().copied().collect())
}

struct BatchNorm {
    epsilon: f32,
    /// Training mode normalises with the batch's statistics and also
    /// returns the updated running mean and variance.
    training: bool,
    momentum: f32,
}

fn build_batch_norm(ctx: &BuildCtx) -> Result<Box<dyn Op>> {
    let a = ctx.attrs();
    Ok(Box::new(BatchNorm { epsilon: a.float("epsilon", 1e-5)?, training: a.int("training_mode", 0)? != 0, momentum: a.float("momentum", 0.9)? }))
}

impl Op for BatchNorm {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = required_f32(inputs, 0, "X")?;
        if x.ndim() < 2 {
            return Err(SquishError::op(format!("X must have rank ≥ 2, got {:?}", x.shape())));
        }
        let (n, c) = (x.shape()[0], x.shape()[1]);
        let inner: usize = x.shape()[2..].iter().product();
        let scale = per_channel(required_f32(inputs, 1, "scale")?, c, "scale")?;
        let bias = per_channel(required_f32(inputs, 2, "B")?, c, "B")?;
        let running_mean = per_channel(required_f32(inputs, 3, "mean")?, c, "mean")?;
        let running_var = per_channel(required_f32(inputs, 4, "var")?, c, "var")?;
        let (mean, var) = if self.training {
            let xs = x.as_standard_layout();
            let xs = xs.as_slice().expect("standard layout");
            let count = (n * inner) as f64;
            let mut m = vec![0.0f64; c];
            let mut v = vec![0.0f64; c];
            for (p, chunk) in xs.chunks_exact(inner.max(1)).enumerate().take(n * c) {
                m[p % c] += chunk.iter().map(|&x| x as f64).sum::<f64>();
            }
            m.iter_mut().for_each(|s| *s /= count);
            for (p, chunk) in xs.chunks_exact(inner.max(1)).enumerate().take(n * c) {
                v[p % c] += chunk.iter().map(|&x| (x as f64 - m[p % c]).powi(2)).sum::<f64>();
            }
            v.iter_mut().for_each(|s| *s /= count);
            (m.iter().map(|&x| x as f32).collect(), v.iter().map(|&x| x as f32).collect())
        } else {
            (running_mean.clone(), running_var.clone())
        };
        // Fold into y = x·a + b per channel.
        let a: Vec<f32> = (0..c).map(|i| scale[i] / (var[i] + self.epsilon).sqrt()).collect();
        let b: Vec<f32> = (0..c).map(|i| bias[i] - mean[i] * a[i]).collect();
        let shape = x.shape().to_vec();
        let mut v = into_flat(x.clone());
        for (p, chunk) in v.chunks_exact_mut(inner.max(1)).enumerate().take(n * c) {
            let ch = p % c;
            chunk.iter_mut().for_each(|x| *x = *x * a[ch] + b[ch]);
        }
        let y = Tensor::F32(ArrayD::from_shape_vec(IxDyn(&shape), v).expect("same shape"));
        if !self.training {
            return Ok(vec![y]);
        }
        let mom = self.momentum;
        let update = |run: &[f32], batch: &[f32]| -> Tensor {
            let v: Vec<f32> = run.iter().zip(batch).map(|(r, b)| r * mom + b * (1.0 - mom)).collect();
            Tensor::F32(ArrayD::from_shape_vec(IxDyn(&[c]), v).expect("one per channel"))
        };
        Ok(vec![y, update(&running_mean, &mean), update(&running_var, &var)])
    }
}

struct LayerNorm {
    axis: i64,
    epsilon: f32,
    /// RMSNormalization (opset 23): no mean taken out, one output.
    rms: bool,
}

fn build_rms_norm(ctx: &BuildCtx) -> Result<Box<dyn Op>> {
    let a = ctx.attrs();
    Ok(Box::new(LayerNorm { axis: a.int("axis", -1)?, epsilon: a.float("epsilon", 1e-5)?, rms: true }))
}

fn build_layer_norm(ctx: &BuildCtx) -> Result<Box<dyn Op>> {
    let a = ctx.attrs();
    Ok(Box::new(LayerNorm { axis: a.int("axis", -1)?, epsilon: a.float("epsilon", 1e-5)?, rms: false }))
}

impl Op for LayerNorm {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        self.normalise(required_f32(inputs, 0, "X")?.clone(), inputs)
    }

    fn reusable_inputs(&self) -> &'static [usize] {
        &[0]
    }

    /// Rows are normalised where they are.
    fn eval_reusing(&self, inputs: &[Option<&Tensor>], at: usize, x: Tensor) -> Result<Vec<Tensor>> {
        match super::owned_f32(x) {
            Ok(a) => self.normalise(a, inputs),
            Err(other) => super::eval_with(self, inputs, at, &other),
        }
    }
}

impl LayerNorm {
    /// `inputs[0]` is not read: `x` stands for it.
    fn normalise(&self, x: ArrayD<f32>, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let axis = super::norm_axis(self.axis, x.ndim())?;
        let row: usize = x.shape()[axis..].iter().product();
        let rows = x.len().checked_div(row).unwrap_or(0);
        let bcast = |i: usize, what: &str| -> Result<Option<Vec<f32>>> {
            let Some(t) = inputs.get(i).copied().flatten() else { return Ok(None) };
            let a = t.as_f32().ok_or_else(|| SquishError::op(format!("{what} must be float32")))?;
            let v = a
                .broadcast(IxDyn(&x.shape()[axis..]))
                .ok_or_else(|| SquishError::op(format!("{what} of shape {:?} does not broadcast to {:?}", a.shape(), &x.shape()[axis..])))?;
            Ok(Some(v.iter().copied().collect()))
        };
        let scale = bcast(1, "Scale")?.ok_or_else(|| SquishError::op("Scale is required"))?;
        let bias = bcast(2, "B")?;
        let shape = x.shape().to_vec();
        let mut v = into_flat(x);
        let mut means = Vec::with_capacity(rows);
        let mut inv_stds = Vec::with_capacity(rows);
        for r in v.chunks_exact_mut(row.max(1)).take(rows) {
            // Accumulate in f64: rows are long (hidden sizes of 384–4096) and means small.
            let mean = if self.rms { 0.0 } else { r.iter().map(|&v| v as f64).sum::<f64>() / row as f64 };
            let var = r.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / row as f64;
            let inv = 1.0 / (var + self.epsilon as f64).sqrt();
            for (j, e) in r.iter_mut().enumerate() {
                let y = ((*e as f64 - mean) * inv) as f32 * scale[j];
                *e = match &bias {
                    Some(b) => y + b[j],
                    None => y,
                };
            }
            means.push(mean as f32);
            inv_stds.push(inv as f32);
        }
        if self.rms {
            return Ok(vec![Tensor::F32(ArrayD::from_shape_vec(IxDyn(&shape), v).expect("same shape"))]);
        }
        let mut stat_shape = shape.clone();
        stat_shape[axis..].iter_mut().for_each(|d| *d = 1);
        Ok(vec![
            Tensor::F32(ArrayD::from_shape_vec(IxDyn(&shape), v).expect("same shape")),
            Tensor::F32(ArrayD::from_shape_vec(IxDyn(&stat_shape), means).expect("one per row")),
            Tensor::F32(ArrayD::from_shape_vec(IxDyn(&stat_shape), inv_stds).expect("one per row")),
        ])
    }
}

struct InstanceNorm {
    epsilon: f32,
}

impl Op for InstanceNorm {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = required_f32(inputs, 0, "input")?;
        if x.ndim() < 3 {
            return Err(SquishError::op(format!("input must have rank ≥ 3, got {:?}", x.shape())));
        }
        let c = x.shape()[1];
        let scale = per_channel(required_f32(inputs, 1, "scale")?, c, "scale")?;
        let bias = per_channel(required_f32(inputs, 2, "B")?, c, "B")?;
        let inner: usize = x.shape()[2..].iter().product();
        let shape = x.shape().to_vec();
        let mut v = into_flat(x.clone());
        for (p, r) in v.chunks_exact_mut(inner.max(1)).enumerate() {
            let ch = p % c;
            let mean = r.iter().map(|&v| v as f64).sum::<f64>() / inner as f64;
            let var = r.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / inner as f64;
            let inv = 1.0 / (var + self.epsilon as f64).sqrt();
            r.iter_mut().for_each(|e| *e = ((*e as f64 - mean) * inv) as f32 * scale[ch] + bias[ch]);
        }
        Ok(vec![Tensor::F32(ArrayD::from_shape_vec(IxDyn(&shape), v).expect("same shape"))])
    }
}

struct Lrn {
    alpha: f32,
    beta: f32,
    bias: f32,
    size: usize,
}

fn build_lrn(ctx: &BuildCtx) -> Result<Box<dyn Op>> {
    let a = ctx.attrs();
    let size = a.required_int("size")?;
    if size < 1 {
        return Err(a.error("size", format!("must be ≥ 1, got {size}")));
    }
    Ok(Box::new(Lrn { alpha: a.float("alpha", 1e-4)?, beta: a.float("beta", 0.75)?, bias: a.float("bias", 1.0)?, size: size as usize }))
}

impl Op for Lrn {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = required_f32(inputs, 0, "X")?;
        if x.ndim() < 3 {
            return Err(SquishError::op(format!("X must have rank ≥ 3, got {:?}", x.shape())));
        }
        let (n, c) = (x.shape()[0], x.shape()[1]);
        let inner: usize = x.shape()[2..].iter().product();
        let xs = x.as_standard_layout();
        let xs = xs.as_slice().expect("standard layout");
        let (below, above) = ((self.size - 1) / 2, self.size.div_ceil(2) - 1);
        let mut out = vec![0.0f32; xs.len()];
        for b in 0..n {
            for ch in 0..c {
                let lo = ch.saturating_sub(below);
                let hi = (ch + above).min(c - 1);
                for i in 0..inner {
                    let sq: f32 = (lo..=hi).map(|cc| xs[(b * c + cc) * inner + i].powi(2)).sum();
                    let at = (b * c + ch) * inner + i;
                    out[at] = xs[at] / (self.bias + self.alpha / self.size as f32 * sq).powf(self.beta);
                }
            }
        }
        Ok(vec![Tensor::F32(ArrayD::from_shape_vec(IxDyn(x.shape()), out).expect("same shape"))])
    }
}
