//! Activations: pointwise (Relu, Sigmoid, Tanh, LeakyRelu, PRelu, Clip,
//! HardSigmoid, HardSwish, Elu, Selu, Celu, Softplus, Gelu, Mish,
//! ThresholdedRelu) and along an axis (Softmax, LogSoftmax; both opset < 13
//! "flatten to 2-D" and opset ≥ 13 "one axis" semantics).

use half::{bf16, f16};
use ndarray::{ArrayD, IxDyn};
use num_traits::Float;

use super::elementwise::{broadcast_shapes, broadcast_with, erf_f32};
use super::{required, BuildCtx, Op, Registry};
use crate::error::{Result, SquishError};
use crate::kernels::{active as k, GeluChain};
use crate::tensor::{into_flat, Tensor};

pub fn register(r: &mut Registry) {
    for name in ["Relu", "Sigmoid", "Tanh", "LeakyRelu", "HardSigmoid", "HardSwish", "Elu", "Selu", "Celu", "Softplus", "Gelu", "Mish", "ThresholdedRelu"] {
        r.insert("", name, build_pointwise);
    }
    r.insert("", "PRelu", |_| Ok(Box::new(PRelu)));
    r.insert("", "Clip", build_clip);
    r.insert("", "Softmax", build_softmax);
    r.insert("", "LogSoftmax", build_softmax);
    r.insert("", "Hardmax", build_softmax);
    r.insert(crate::ops::internal::INTERNAL_DOMAIN, crate::ops::internal::GELU_CHAIN, build_gelu_chain);
    r.facts(
        "",
        &["Relu", "Sigmoid", "Tanh", "LeakyRelu", "HardSigmoid", "HardSwish", "Elu", "Selu", "Celu", "Softplus", "Gelu", "Mish"],
        super::facts::like_first,
    );
    r.facts("", &["ThresholdedRelu", "PRelu", "Clip", "Softmax", "LogSoftmax", "Hardmax"], super::facts::like_first);
}

/// The runtime's fused exact-erf GELU (`runtime::passes`): f32 only,
/// since the chain it replaces divides by an f32 constant.
struct GeluChainOp(GeluChain);

fn build_gelu_chain(ctx: &BuildCtx) -> Result<Box<dyn Op>> {
    let a = ctx.attrs();
    Ok(Box::new(GeluChainOp(GeluChain {
        divisor: a.float("divisor", 1.0)?,
        divide: a.int("divide", 0)? != 0,
        one: a.float("one", 1.0)?,
        half: a.float("half", 0.5)?,
        half_first: a.int("half_first", 0)? != 0,
    })))
}

/// GELU of an f32 tensor through the vector kernel.
fn gelu_f32(a: &ArrayD<f32>, chain: GeluChain) -> Tensor {
    let shape = a.shape().to_vec();
    let mut v = into_flat(a.clone());
    k::gelu_f32(&mut v, chain);
    Tensor::F32(ArrayD::from_shape_vec(IxDyn(&shape), v).expect("same shape"))
}

impl Op for GeluChainOp {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        Ok(vec![gelu_f32(super::required_f32(inputs, 0, "input")?, self.0)])
    }

    fn reusable_inputs(&self) -> &'static [usize] {
        &[0]
    }

    fn eval_reusing(&self, inputs: &[Option<&Tensor>], at: usize, x: Tensor) -> Result<Vec<Tensor>> {
        match super::owned_f32(x) {
            Ok(mut a) => {
                k::gelu_f32(a.as_slice_mut().expect("standard layout"), self.0);
                Ok(vec![Tensor::F32(a)])
            }
            Err(other) => super::eval_with(self, inputs, at, &other),
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Pointwise {
    Relu,
    Sigmoid,
    Tanh,
    LeakyRelu(f32),
    HardSigmoid(f32, f32),
    HardSwish,
    Elu(f32),
    Selu(f32, f32),
    Celu(f32),
    Softplus,
    Gelu { tanh: bool },
    Mish,
    ThresholdedRelu(f32),
}

fn c<F: Float>(v: f32) -> F {
    F::from(v).expect("f32 fits every float type")
}

impl Pointwise {
    fn apply<F: Float>(self, x: F) -> F {
        let (zero, one) = (F::zero(), F::one());
        match self {
            Pointwise::Relu => {
                if x < zero {
                    zero
                } else {
                    x
                }
            }
            Pointwise::Sigmoid => {
                // Stable for large |x|: never exponentiate a positive number.
                if x >= zero {
                    one / (one + (-x).exp())
                } else {
                    let e = x.exp();
                    e / (one + e)
                }
            }
            Pointwise::Tanh => x.tanh(),
            Pointwise::LeakyRelu(a) => {
                if x < zero {
                    x * c(a)
                } else {
                    x
                }
            }
            Pointwise::HardSigmoid(a, b) => (x * c(a) + c(b)).max(zero).min(one),
            Pointwise::HardSwish => x * (x / c(6.0) + c(0.5)).max(zero).min(one),
            Pointwise::Elu(a) => {
                if x < zero {
                    c::<F>(a) * (x.exp() - one)
                } else {
                    x
                }
            }
            Pointwise::Selu(a, g) => c::<F>(g) * if x <= zero { c::<F>(a) * (x.exp() - one) } else { x },
            Pointwise::Celu(a) => x.max(zero) + (c::<F>(a) * ((x / c(a)).exp() - one)).min(zero),
            Pointwise::Softplus => {
                if x > c(20.0) {
                    x
                } else {
                    x.exp().ln_1p()
                }
            }
            Pointwise::Gelu { tanh: false } => {
                let v = x.to_f32().unwrap_or(f32::NAN);
                F::from(0.5 * v * (1.0 + erf_f32(v * std::f32::consts::FRAC_1_SQRT_2))).unwrap_or(F::nan())
            }
            Pointwise::Gelu { tanh: true } => {
                let k0 = c::<F>(0.797_884_6); // sqrt(2/π)
                c::<F>(0.5) * x * (one + (k0 * (x + c::<F>(0.044715) * x * x * x)).tanh())
            }
            Pointwise::Mish => x * Pointwise::Softplus.apply(x).tanh(),
            Pointwise::ThresholdedRelu(a) => {
                if x > c(a) {
                    x
                } else {
                    zero
                }
            }
        }
    }
}

struct PointwiseOp(Pointwise);

fn build_pointwise(ctx: &BuildCtx) -> Result<Box<dyn Op>> {
    let a = ctx.attrs();
    let p = match ctx.node.op_type.as_str() {
        "Relu" => Pointwise::Relu,
        "Sigmoid" => Pointwise::Sigmoid,
        "Tanh" => Pointwise::Tanh,
        "LeakyRelu" => Pointwise::LeakyRelu(a.float("alpha", 0.01)?),
        "HardSigmoid" => Pointwise::HardSigmoid(a.float("alpha", 0.2)?, a.float("beta", 0.5)?),
        "HardSwish" => Pointwise::HardSwish,
        "Elu" => Pointwise::Elu(a.float("alpha", 1.0)?),
        "Selu" => Pointwise::Selu(a.float("alpha", 1.673_263_2)?, a.float("gamma", 1.050_701)?),
        "Celu" => Pointwise::Celu(a.float("alpha", 1.0)?),
        "Softplus" => Pointwise::Softplus,
        "Gelu" => Pointwise::Gelu {
            tanh: match a.opt_string("approximate")?.as_deref().unwrap_or("none") {
                "none" => false,
                "tanh" => true,
                other => return Err(a.error("approximate", format!("must be 'none' or 'tanh', got '{other}'"))),
            },
        },
        "Mish" => Pointwise::Mish,
        _ => Pointwise::ThresholdedRelu(a.float("alpha", 1.0)?),
    };
    Ok(Box::new(PointwiseOp(p)))
}

impl Op for PointwiseOp {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let p = self.0;
        Ok(vec![match required(inputs, 0)? {
            Tensor::F32(a) if matches!(p, Pointwise::Relu) => {
                let shape = a.shape().to_vec();
                let mut v = into_flat(a.clone());
                k::relu_f32(&mut v);
                Tensor::F32(ArrayD::from_shape_vec(IxDyn(&shape), v).expect("same shape"))
            }
            Tensor::F32(a) if matches!(p, Pointwise::Gelu { tanh: false }) => gelu_f32(a, GeluChain::STANDARD),
            Tensor::F32(a) => Tensor::F32(a.mapv(|v| p.apply(v))),
            Tensor::F64(a) => Tensor::F64(a.mapv(|v| p.apply(v))),
            Tensor::F16(a) => Tensor::F16(a.mapv(|v| f16::from_f32(p.apply(v.to_f32())))),
            Tensor::BF16(a) => Tensor::BF16(a.mapv(|v| bf16::from_f32(p.apply(v.to_f32())))),
            Tensor::I32(a) if matches!(p, Pointwise::Relu) => Tensor::I32(a.mapv(|v| v.max(0))),
            Tensor::I64(a) if matches!(p, Pointwise::Relu) => Tensor::I64(a.mapv(|v| v.max(0))),
            Tensor::I8(a) if matches!(p, Pointwise::Relu) => Tensor::I8(a.mapv(|v| v.max(0))),
            other => return Err(SquishError::op(format!("{p:?} does not support {}", other.dtype()))),
        }])
    }

    fn reusable_inputs(&self) -> &'static [usize] {
        &[0]
    }

    fn eval_reusing(&self, inputs: &[Option<&Tensor>], at: usize, x: Tensor) -> Result<Vec<Tensor>> {
        let p = self.0;
        let mut a = match super::owned_f32(x) {
            Ok(a) => a,
            Err(other) => return super::eval_with(self, inputs, at, &other),
        };
        let v = a.as_slice_mut().expect("standard layout");
        match p {
            Pointwise::Relu => k::relu_f32(v),
            Pointwise::Gelu { tanh: false } => k::gelu_f32(v, GeluChain::STANDARD),
            _ => v.iter_mut().for_each(|x| *x = p.apply(*x)),
        }
        Ok(vec![Tensor::F32(a)])
    }
}

/// `x < 0 ? slope·x : x`, with `slope` broadcast to `x` (one direction only).
struct PRelu;

impl Op for PRelu {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let (x, s) = (required(inputs, 0)?, required(inputs, 1)?);
        if broadcast_shapes(x.shape(), s.shape())? != x.shape() {
            return Err(SquishError::op(format!("slope of shape {:?} does not broadcast to {:?}", s.shape(), x.shape())));
        }
        Ok(vec![match (x, s) {
            (Tensor::F32(a), Tensor::F32(b)) => Tensor::F32(broadcast_with(a, b, |x, s| if x < 0.0 { x * s } else { x })?),
            (Tensor::F64(a), Tensor::F64(b)) => Tensor::F64(broadcast_with(a, b, |x, s| if x < 0.0 { x * s } else { x })?),
            (Tensor::I32(a), Tensor::I32(b)) => Tensor::I32(broadcast_with(a, b, |x, s| if x < 0 { x.wrapping_mul(s) } else { x })?),
            (Tensor::I64(a), Tensor::I64(b)) => Tensor::I64(broadcast_with(a, b, |x, s| if x < 0 { x.wrapping_mul(s) } else { x })?),
            (a, b) => return Err(SquishError::op(format!("unsupported types {} and {}", a.dtype(), b.dtype()))),
        }])
    }
}

struct Clip {
    /// Opset < 11: bounds are attributes.
    attr_bounds: Option<(f32, f32)>,
}

/// The activation a load-time fusion applies in a producer's last pass
/// (attribute `activation`: 0 none, 1 Relu, 2 Clip with bounds as inputs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum FusedActivation {
    None,
    Relu,
    Clip,
}

impl FusedActivation {
    pub(super) fn from_attrs(ctx: &BuildCtx) -> Result<FusedActivation> {
        let a = ctx.attrs();
        Ok(match a.int("activation", 0)? {
            0 => FusedActivation::None,
            1 => FusedActivation::Relu,
            2 => FusedActivation::Clip,
            v => return Err(a.error("activation", format!("must be 0, 1 (Relu) or 2 (Clip), got {v}"))),
        })
    }

    /// Lower and upper bounds; Clip's are inputs `at` and `at + 1`.
    pub(super) fn bounds(self, inputs: &[Option<&Tensor>], at: usize) -> Result<(Option<f32>, Option<f32>)> {
        Ok(match self {
            FusedActivation::None => (None, None),
            FusedActivation::Relu => (Some(0.0), None),
            FusedActivation::Clip => (clip_bound(inputs, at, "min")?.map(|v| v as f32), clip_bound(inputs, at + 1, "max")?.map(|v| v as f32)),
        })
    }
}

/// Relu's and Clip's own comparisons (NaN passes through), so a fused pass is
/// bit-identical to the separate op. One plain loop per bound: they vectorise.
pub(super) fn apply_bounds(v: &mut [f32], lo: Option<f32>, hi: Option<f32>) {
    if let Some(l) = lo {
        v.iter_mut().for_each(|x| *x = if *x < l { l } else { *x });
    }
    if let Some(h) = hi {
        v.iter_mut().for_each(|x| *x = if *x > h { h } else { *x });
    }
}

/// A Clip bound given as input `i` (opset ≥ 11): absent, or a scalar of
/// any numeric type. Shared with the fused activations.
pub(super) fn clip_bound(inputs: &[Option<&Tensor>], i: usize, name: &str) -> Result<Option<f64>> {
    match inputs.get(i).copied().flatten() {
        None => Ok(None),
        Some(t) if t.len() == 1 => Ok(t.to_f64_vec().first().copied()),
        Some(t) => Err(SquishError::op(format!("Clip {name} must be a scalar, has shape {:?}", t.shape()))),
    }
}

fn build_clip(ctx: &BuildCtx) -> Result<Box<dyn Op>> {
    let a = ctx.attrs();
    let attr_bounds = if ctx.opset < 11 { Some((a.float("min", f32::MIN)?, a.float("max", f32::MAX)?)) } else { None };
    Ok(Box::new(Clip { attr_bounds }))
}

impl Op for Clip {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = required(inputs, 0)?;
        let (lo, hi) = match self.attr_bounds {
            Some((lo, hi)) => (Some(lo as f64), Some(hi as f64)),
            None => (clip_bound(inputs, 1, "min")?, clip_bound(inputs, 2, "max")?),
        };
        // min(max(x, lo), hi): when lo > hi every value becomes hi, as the spec says.
        macro_rules! clip {
            ($a:expr, $t:ty) => {{
                let lo = lo.map(|v| v as $t);
                let hi = hi.map(|v| v as $t);
                $a.mapv(|v| {
                    let v = match lo {
                        Some(l) if v < l => l,
                        _ => v,
                    };
                    match hi {
                        Some(h) if v > h => h,
                        _ => v,
                    }
                })
            }};
        }
        Ok(vec![match x {
            Tensor::F32(a) => Tensor::F32(clip!(a, f32)),
            Tensor::F64(a) => Tensor::F64(clip!(a, f64)),
            Tensor::I8(a) => Tensor::I8(clip!(a, i8)),
            Tensor::U8(a) => Tensor::U8(clip!(a, u8)),
            Tensor::I32(a) => Tensor::I32(clip!(a, i32)),
            Tensor::I64(a) => Tensor::I64(clip!(a, i64)),
            Tensor::U32(a) => Tensor::U32(clip!(a, u32)),
            Tensor::U64(a) => Tensor::U64(clip!(a, u64)),
            other => return Err(SquishError::op(format!("Clip does not support {}", other.dtype()))),
        }])
    }
}

struct Softmax {
    axis: i64,
    log: bool,
    /// Hardmax: 1 at each row's first largest value, 0 elsewhere.
    hard: bool,
    /// Opset < 13: softmax over the flattened trailing axes from `axis` on.
    flatten: bool,
}

fn build_softmax(ctx: &BuildCtx) -> Result<Box<dyn Op>> {
    let flatten = ctx.opset < 13;
    let axis = ctx.attrs().int("axis", if flatten { 1 } else { -1 })?;
    Ok(Box::new(Softmax { axis, flatten, log: ctx.node.op_type == "LogSoftmax", hard: ctx.node.op_type == "Hardmax" }))
}

/// `x - max - ln Σ exp(x - max)` per row: exact where ln(softmax) would underflow.
fn log_softmax_rows(x: &mut [f32], row: usize) {
    for r in x.chunks_exact_mut(row.max(1)) {
        let m = k::max_f32(r);
        let s: f32 = r.iter().map(|&v| (v - m).exp()).sum();
        let shift = m + s.ln();
        r.iter_mut().for_each(|v| *v -= shift);
    }
}

/// One-hot of each row's first largest value (NaN counts as largest, as
/// numpy's argmax takes it).
fn hardmax_rows(x: &mut [f32], row: usize) {
    for r in x.chunks_exact_mut(row.max(1)) {
        let best = (0..r.len()).fold(0, |b, i| if r[i].is_nan() && !r[b].is_nan() || r[i] > r[b] { i } else { b });
        r.iter_mut().enumerate().for_each(|(i, v)| *v = if i == best { 1.0 } else { 0.0 });
    }
}

impl Softmax {
    fn rows(&self, v: &mut [f32], row: usize) {
        if self.hard {
            hardmax_rows(v, row)
        } else if self.log {
            log_softmax_rows(v, row)
        } else {
            k::softmax_f32(v, row)
        }
    }
}

impl Op for Softmax {
    fn reusable_inputs(&self) -> &'static [usize] {
        &[0]
    }

    /// Rows that are contiguous (the usual last axis) are done in place.
    fn eval_reusing(&self, inputs: &[Option<&Tensor>], at: usize, x: Tensor) -> Result<Vec<Tensor>> {
        let rank = x.shape().len() as i64;
        let axis = if self.axis < 0 { self.axis + rank } else { self.axis };
        if rank == 0 || !(self.flatten || axis + 1 == rank) || !(0..rank).contains(&axis) {
            return super::eval_with(self, inputs, at, &x);
        }
        match super::owned_f32(x) {
            Ok(mut a) => {
                let row: usize = a.shape()[axis as usize..].iter().product();
                self.rows(a.as_slice_mut().expect("standard layout"), row);
                Ok(vec![Tensor::F32(a)])
            }
            Err(other) => super::eval_with(self, inputs, at, &other),
        }
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = super::required_f32(inputs, 0, "input")?;
        let rank = x.ndim() as i64;
        if self.axis < -rank.max(1) || self.axis >= rank.max(1) {
            return Err(SquishError::op(format!("axis {} is out of range for rank {rank}", self.axis)));
        }
        let axis = if self.axis < 0 { self.axis + rank } else { self.axis } as usize;
        let shape = x.shape().to_vec();
        if x.ndim() == 0 {
            return Ok(vec![Tensor::F32(x.mapv(|_| if self.log { 0.0 } else { 1.0 }))]);
        }
        let out = if self.flatten || axis + 1 == x.ndim() {
            let row: usize = shape[axis..].iter().product();
            let mut v = into_flat(x.clone());
            self.rows(&mut v, row);
            ArrayD::from_shape_vec(IxDyn(&shape), v).expect("same shape")
        } else {
            // Move the axis last, softmax contiguous rows, move it back.
            let last = x.ndim() - 1;
            let mut moved = x.view();
            moved.swap_axes(axis, last);
            let row = shape[axis];
            let mut v: Vec<f32> = moved.iter().copied().collect();
            self.rows(&mut v, row);
            let mut moved_shape = shape.clone();
            moved_shape.swap(axis, last);
            let mut y = ArrayD::from_shape_vec(IxDyn(&moved_shape), v).expect("same count");
            y.swap_axes(axis, last);
            y.as_standard_layout().into_owned()
        };
        Ok(vec![Tensor::F32(out)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Node;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn node(axis: Option<i64>) -> Node {
        Node {
            name: "sm".into(),
            op_type: "Softmax".into(),
            domain: String::new(),
            inputs: vec!["x".into()],
            outputs: vec!["y".into()],
            attributes: axis.map(|a| vec![crate::ir::Attribute { name: "axis".into(), value: crate::ir::AttrValue::Int(a) }]).unwrap_or_default(),
            doc_string: String::new(),
        }
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn opset_semantics_differ_as_specified() {
        let x = Tensor::from_vec(&[2, 2], vec![0.0f32, 0.0, 0.0, 0.0]).unwrap();
        let n = node(Some(0));
        // Opset 13: along axis 0 only → every entry 0.5.
        let op13 = crate::ops::build_standalone(&n, 13).unwrap();
        assert_eq!(op13.eval(&[Some(&x)]).unwrap()[0].to_f64_vec(), vec![0.5; 4]);
        // Opset 11: axis 0 flattens everything into one row → 0.25.
        let op11 = crate::ops::build_standalone(&n, 11).unwrap();
        assert_eq!(op11.eval(&[Some(&x)]).unwrap()[0].to_f64_vec(), vec![0.25; 4]);
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn middle_axis_is_normalised() {
        let x = Tensor::from_vec(&[1, 2, 2], vec![0.0f32, 10.0, 0.0, -10.0]).unwrap();
        let n = node(Some(1));
        let op = crate::ops::build_standalone(&n, 13).unwrap();
        let y = op.eval(&[Some(&x)]).unwrap()[0].to_f64_vec();
        assert!((y[0] - 0.5).abs() < 1e-6 && (y[2] - 0.5).abs() < 1e-6);
        assert!((y[1] + y[3] - 1.0).abs() < 1e-6 && y[1] > 0.999);
        let bad = node(Some(3));
        let op = crate::ops::build_standalone(&bad, 13).unwrap();
        assert!(op.eval(&[Some(&x)]).unwrap_err().to_string().contains("out of range"));
    }
}
