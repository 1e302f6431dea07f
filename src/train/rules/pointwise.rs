//! Element-wise ops and softmax.

use ndarray::{ArrayD, Axis, IxDyn, Zip};

use super::{unbroadcast, Grads, RuleCtx};
use crate::error::{Result, SquishError};
use crate::ops::attrs::Attrs;
use crate::ops::elementwise::erf_f32;

/// Add, Sub, Mul, Div with numpy broadcasting.
pub(super) fn binary(c: &RuleCtx) -> Result<Grads> {
    let (a, b) = (c.f32_input(0)?, c.f32_input(1)?);
    let dy = c.dy;
    let (da, db) = match c.node.op_type.as_str() {
        "Add" => (c.wants(0).then(|| dy.clone()), c.wants(1).then(|| dy.clone())),
        "Sub" => (c.wants(0).then(|| dy.clone()), c.wants(1).then(|| dy.mapv(|v| -v))),
        "Mul" => (c.wants(0).then(|| dy * b), c.wants(1).then(|| dy * a)),
        "Div" => {
            let da = c.wants(0).then(|| dy / b);
            // d(a/b)/db = −a/b² = −y/b.
            let db = c.wants(1).then(|| {
                let y = c.f32_output(0).cloned().unwrap_or_else(|_| a / b);
                -(dy * &y) / b
            });
            (da, db)
        }
        other => return Err(SquishError::op(format!("no binary rule for {other}"))),
    };
    Ok(vec![da.map(|g| unbroadcast(g, a.shape())), db.map(|g| unbroadcast(g, b.shape()))])
}

const FRAC_2_SQRT_PI: f32 = std::f32::consts::FRAC_2_SQRT_PI;

/// `dy/dx` of a one-input activation at `x` with output `y`.
fn derivative(op: &str, attrs: &Attrs, tanh_gelu: bool) -> Result<Box<dyn Fn(f32, f32) -> f32>> {
    Ok(match op {
        "Relu" => Box::new(|x, _| if x > 0.0 { 1.0 } else { 0.0 }),
        "LeakyRelu" => {
            let alpha = attrs.float("alpha", 0.01)?;
            Box::new(move |x, _| if x > 0.0 { 1.0 } else { alpha })
        }
        "Sigmoid" => Box::new(|_, y| y * (1.0 - y)),
        "Tanh" => Box::new(|_, y| 1.0 - y * y),
        "Erf" => Box::new(|x, _| FRAC_2_SQRT_PI * (-x * x).exp()),
        "Gelu" if tanh_gelu => Box::new(|x, _| {
            let k = (2.0 / std::f32::consts::PI).sqrt();
            let t = (k * (x + 0.044715 * x * x * x)).tanh();
            0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * k * (1.0 + 3.0 * 0.044715 * x * x)
        }),
        "Gelu" => Box::new(|x, _| {
            let phi = (-0.5 * x * x).exp() / (2.0 * std::f32::consts::PI).sqrt();
            0.5 * (1.0 + erf_f32(x * std::f32::consts::FRAC_1_SQRT_2)) + x * phi
        }),
        "Exp" => Box::new(|_, y| y),
        "Log" => Box::new(|x, _| 1.0 / x),
        "Sqrt" => Box::new(|_, y| 0.5 / y),
        "Neg" => Box::new(|_, _| -1.0),
        "Reciprocal" => Box::new(|_, y| -y * y),
        "Softplus" => Box::new(|x, _| 1.0 / (1.0 + (-x).exp())),
        other => return Err(SquishError::op(format!("no unary rule for {other}"))),
    })
}

pub(super) fn unary(c: &RuleCtx) -> Result<Grads> {
    let x = c.f32_input(0)?;
    let y = c.f32_output(0)?;
    let attrs = Attrs::new(c.node);
    let tanh_gelu = attrs.opt_string("approximate")?.as_deref() == Some("tanh");
    let d = derivative(&c.node.op_type, &attrs, tanh_gelu)?;
    let mut g = c.dy.clone();
    Zip::from(&mut g).and(x).and(y).for_each(|g, &x, &y| *g *= d(x, y));
    Ok(vec![Some(g)])
}

/// `x^e`: `dx = dy·e·x^(e−1)`, `de = dy·y·ln x`.
pub(super) fn pow(c: &RuleCtx) -> Result<Grads> {
    let (x, e) = (c.f32_input(0)?, c.f32_input(1)?);
    let y = c.f32_output(0)?;
    let dx = c.wants(0).then(|| {
        let mut g = c.dy.clone();
        let eb = e.broadcast(g.raw_dim()).expect("exponent broadcasts to the output");
        let xb = x.broadcast(g.raw_dim()).expect("base broadcasts to the output");
        Zip::from(&mut g).and(&xb).and(&eb).for_each(|g, &x, &e| *g *= if e == 2.0 { 2.0 * x } else { e * x.powf(e - 1.0) });
        unbroadcast(g, x.shape())
    });
    let de = c.wants(1).then(|| {
        let xb = x.broadcast(c.dy.raw_dim()).expect("base broadcasts to the output");
        let mut g = c.dy * y;
        Zip::from(&mut g).and(&xb).for_each(|g, &x| *g *= x.ln());
        unbroadcast(g, e.shape())
    });
    Ok(vec![dx, de])
}

/// Clip passes the gradient where the value was not clipped.
pub(super) fn clip(c: &RuleCtx) -> Result<Grads> {
    let (x, y) = (c.f32_input(0)?, c.f32_output(0)?);
    let mut g = c.dy.clone();
    Zip::from(&mut g).and(x).and(y).for_each(|g, &x, &y| {
        if x != y {
            *g = 0.0
        }
    });
    Ok(vec![Some(g)])
}

/// `Where(c, x, y)`: the gradient goes to `x` where `c` holds, else to `y`.
pub(super) fn select(c: &RuleCtx) -> Result<Grads> {
    let Some(crate::tensor::Tensor::Bool(cond)) = c.inputs.first().copied().flatten() else {
        return Err(SquishError::op("the condition must be a boolean tensor"));
    };
    let cond = cond.broadcast(c.dy.raw_dim()).ok_or_else(|| SquishError::op("the condition does not broadcast to the output"))?;
    let pick = |take: bool, i: usize| -> Result<Option<ArrayD<f32>>> {
        if !c.wants(i) {
            return Ok(None);
        }
        let mut g = c.dy.clone();
        Zip::from(&mut g).and(&cond).for_each(|g, &k| {
            if k != take {
                *g = 0.0
            }
        });
        Ok(Some(unbroadcast(g, c.input_shape(i)?)))
    };
    Ok(vec![None, pick(true, 1)?, pick(false, 2)?])
}

/// The normalised axis of a softmax, and whether (opset < 13) every axis
/// from it on is normalised together.
fn softmax_axes(c: &RuleCtx, rank: usize) -> Result<(usize, bool)> {
    let legacy = c.opset < 13;
    let attrs = Attrs::new(c.node);
    let axis = attrs.axis("axis", attrs.int("axis", if legacy { 1 } else { -1 })?, rank)?;
    Ok((axis, legacy))
}

/// `v` with the normalised axes flattened into one last axis.
fn as_rows(v: &ArrayD<f32>, axis: usize, legacy: bool) -> (ArrayD<f32>, usize) {
    if legacy {
        let outer: usize = v.shape()[..axis].iter().product();
        let inner: usize = v.shape()[axis..].iter().product();
        (v.as_standard_layout().into_owned().into_shape_with_order(IxDyn(&[outer, inner])).expect("same count"), 1)
    } else {
        (v.clone(), axis)
    }
}

pub(super) fn softmax(c: &RuleCtx) -> Result<Grads> {
    let y = c.f32_output(0)?;
    let (axis, legacy) = softmax_axes(c, y.ndim())?;
    let (yr, ax) = as_rows(y, axis, legacy);
    let (dyr, _) = as_rows(c.dy, axis, legacy);
    let s = (&dyr * &yr).sum_axis(Axis(ax)).insert_axis(Axis(ax));
    let g = &yr * &(&dyr - &s);
    Ok(vec![Some(g.into_shape_with_order(IxDyn(y.shape())).expect("same count"))])
}

pub(super) fn log_softmax(c: &RuleCtx) -> Result<Grads> {
    let y = c.f32_output(0)?;
    let (axis, legacy) = softmax_axes(c, y.ndim())?;
    let (yr, ax) = as_rows(y, axis, legacy);
    let (dyr, _) = as_rows(c.dy, axis, legacy);
    let s = dyr.sum_axis(Axis(ax)).insert_axis(Axis(ax));
    let g = &dyr - &(yr.mapv(f32::exp) * &s);
    Ok(vec![Some(g.into_shape_with_order(IxDyn(y.shape())).expect("same count"))])
}
