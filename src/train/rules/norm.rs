//! Normalisation layers.

use ndarray::{ArrayD, IxDyn};

use super::{Grads, RuleCtx};
use crate::error::{Result, SquishError};
use crate::ops::attrs::Attrs;

/// LayerNormalization over the axes from `axis` on: with `x̂ = (x − μ)/σ`
/// and `g = dy·scale`, `dx = (g − mean(g) − x̂·mean(g·x̂)) / σ`.
pub(super) fn layer_norm(c: &RuleCtx) -> Result<Grads> {
    let x = c.f32_input(0)?.as_standard_layout();
    let attrs = Attrs::new(c.node);
    let axis = attrs.axis("axis", attrs.int("axis", -1)?, x.ndim())?;
    let eps = attrs.float("epsilon", 1e-5)?;
    let inner: usize = x.shape()[axis..].iter().product();
    let rows = x.len() / inner.max(1);
    let scale = c.f32_input(1)?.as_standard_layout();
    if scale.len() != inner {
        return Err(SquishError::op(format!("training needs Scale with one value per normalised element ({inner}), got shape {:?}", scale.shape())));
    }
    let (xs, ss) = (x.as_slice().expect("standard"), scale.as_slice().expect("standard"));
    let dy = c.dy.as_standard_layout();
    let dys = dy.as_slice().expect("standard");
    let (mut dx, mut dscale, mut dbias) = (vec![0.0f32; x.len()], vec![0.0f32; inner], vec![0.0f32; inner]);
    let mut xhat = vec![0.0f32; inner];
    for r in 0..rows {
        let xr = &xs[r * inner..(r + 1) * inner];
        let dyr = &dys[r * inner..(r + 1) * inner];
        let mean = xr.iter().sum::<f32>() / inner as f32;
        let var = xr.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / inner as f32;
        let inv = 1.0 / (var + eps).sqrt();
        let (mut mean_g, mut mean_gx) = (0.0f32, 0.0f32);
        for j in 0..inner {
            xhat[j] = (xr[j] - mean) * inv;
            let g = dyr[j] * ss[j];
            mean_g += g;
            mean_gx += g * xhat[j];
            dscale[j] += dyr[j] * xhat[j];
            dbias[j] += dyr[j];
        }
        mean_g /= inner as f32;
        mean_gx /= inner as f32;
        for j in 0..inner {
            dx[r * inner + j] = (dyr[j] * ss[j] - mean_g - xhat[j] * mean_gx) * inv;
        }
    }
    let shaped = |v: Vec<f32>, shape: &[usize]| ArrayD::from_shape_vec(IxDyn(shape), v).expect("sizes");
    let bias_shape = c.inputs.get(2).copied().flatten().map(|t| t.shape().to_vec());
    Ok(vec![
        c.wants(0).then(|| shaped(dx, x.shape())),
        c.wants(1).then(|| shaped(dscale, scale.shape())),
        match bias_shape {
            Some(s) if c.wants(2) && s.iter().product::<usize>() == inner => Some(shaped(dbias, &s)),
            _ => None,
        },
    ])
}
