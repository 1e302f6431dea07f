//! Value-creating and type ops: Identity, Cast, Constant, ConstantOfShape,
//! Range, and Dropout (inference: identity plus an all-true mask).

use super::int_values;
use super::{required, BuildCtx, Op, Registry};
use crate::error::{Result, SquishError};
use crate::tensor::codes::data_type;
use crate::tensor::{DType, Tensor};

use super::facts::{input, Facts};
use crate::ir::{AttrValue, Node};
pub fn register(r: &mut Registry) {
    r.insert("", "Identity", |_| Ok(Box::new(Identity)));
    r.insert("", "Cast", build_cast);
    r.insert("", "CastLike", build_cast_like);
    r.insert("", "Constant", build_constant);
    r.insert("", "ConstantOfShape", build_constant_of_shape);
    r.insert("", "Range", |_| Ok(Box::new(Range)));
    r.insert("", "Dropout", |_| Ok(Box::new(Dropout)));
    r.facts("", &["Identity"], identity_facts);
    r.facts("", &["Dropout"], super::facts::like_first);
    r.facts("", &["Cast"], cast_facts);
    r.facts("", &["CastLike"], cast_like_facts);
    r.facts("", &["Constant"], constant_facts);
}

/// Like input 0, value included (shape arithmetic passes through).
fn identity_facts(_: &Node, ins: &[Facts]) -> Vec<Facts> {
    vec![input(ins, 0)]
}

fn cast_facts(node: &Node, ins: &[Facts]) -> Vec<Facts> {
    let x = input(ins, 0);
    vec![Facts { dtype: DType::from_onnx(node.int_attr("to", 0) as i32), shape: x.shape, value: x.value }]
}

/// Input 0's shape in input 1's type.
fn cast_like_facts(_: &Node, ins: &[Facts]) -> Vec<Facts> {
    vec![Facts::with(input(ins, 1).dtype, input(ins, 0).shape)]
}

fn constant_facts(node: &Node, _: &[Facts]) -> Vec<Facts> {
    match node.attr("value") {
        Some(AttrValue::Tensor(t)) => vec![Facts::of_tensor(t)],
        _ => vec![Facts::unknown()],
    }
}

struct Identity;
impl Op for Identity {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        Ok(vec![required(inputs, 0)?.clone()])
    }

    fn reusable_inputs(&self) -> &'static [usize] {
        &[0]
    }

    fn eval_reusing(&self, _inputs: &[Option<&Tensor>], _at: usize, x: Tensor) -> Result<Vec<Tensor>> {
        Ok(vec![x])
    }
}

struct Cast {
    to: DType,
    saturate: bool,
}

fn build_cast(ctx: &BuildCtx) -> Result<Box<dyn Op>> {
    let a = ctx.attrs();
    let code = a.required_int("to")? as i32;
    let to = DType::from_onnx(code).ok_or_else(|| a.error("to", format!("cast to {} is not supported", data_type::name(code))))?;
    Ok(Box::new(Cast { to, saturate: a.int("saturate", 1)? != 0 }))
}

pub use crate::tensor::cast::{cast, cast_with};

impl Op for Cast {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        Ok(vec![cast_with(required(inputs, 0)?, self.to, self.saturate)?])
    }
}

/// `Cast` to the element type of a second tensor (opset 15).
struct CastLike {
    saturate: bool,
}

fn build_cast_like(ctx: &BuildCtx) -> Result<Box<dyn Op>> {
    Ok(Box::new(CastLike { saturate: ctx.attrs().int("saturate", 1)? != 0 }))
}

impl Op for CastLike {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let like = required(inputs, 1)?;
        Ok(vec![cast_with(required(inputs, 0)?, like.dtype(), self.saturate)?])
    }
}

struct Constant {
    value: Tensor,
}

fn build_constant(ctx: &BuildCtx) -> Result<Box<dyn Op>> {
    let a = ctx.attrs();
    if let Some(t) = a.opt_tensor("value")? {
        return Ok(Box::new(Constant { value: t.clone() }));
    }
    if let Some(v) = a.opt_float("value_float")? {
        return Ok(Box::new(Constant { value: Tensor::from_vec(&[], vec![v])? }));
    }
    if let Some(v) = a.opt_int("value_int")? {
        return Ok(Box::new(Constant { value: Tensor::from_vec(&[], vec![v])? }));
    }
    if let Some(v) = a.opt_floats("value_floats")? {
        return Ok(Box::new(Constant { value: Tensor::from_vec(&[v.len()], v.to_vec())? }));
    }
    if let Some(v) = a.opt_ints("value_ints")? {
        return Ok(Box::new(Constant { value: Tensor::from_vec(&[v.len()], v.to_vec())? }));
    }
    Err(a.error("value", "Constant needs one of value, value_float(s), value_int(s) (string and sparse values are not supported)"))
}

impl Op for Constant {
    fn eval(&self, _: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        Ok(vec![self.value.clone()])
    }
}

struct ConstantOfShape {
    value: Tensor,
}

fn build_constant_of_shape(ctx: &BuildCtx) -> Result<Box<dyn Op>> {
    let a = ctx.attrs();
    let value = match a.opt_tensor("value")? {
        Some(t) if t.len() == 1 => t.clone().reshaped(&[])?,
        Some(t) => return Err(a.error("value", format!("must hold one element, has {}", t.len()))),
        None => Tensor::scalar(0.0f32),
    };
    Ok(Box::new(ConstantOfShape { value }))
}

impl Op for ConstantOfShape {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let dims = int_values(required(inputs, 0)?, "shape")?;
        let shape = crate::tensor::shape_from_dims(&dims, "ConstantOfShape output")?;
        let v = &self.value;
        Ok(vec![crate::map_tensor!(v, a => ndarray::ArrayD::from_elem(ndarray::IxDyn(&shape), a.iter().next().copied().unwrap_or_default()))])
    }
}

struct Range;

impl Op for Range {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let (start, limit, delta) = (required(inputs, 0)?, required(inputs, 1)?, required(inputs, 2)?);
        let count = |s: f64, l: f64, d: f64| -> Result<usize> {
            if d == 0.0 || !d.is_finite() || !s.is_finite() || !l.is_finite() {
                return Err(SquishError::op(format!("invalid range start {s}, limit {l}, delta {d}")));
            }
            let n = ((l - s) / d).ceil().max(0.0);
            if n > crate::tensor::MAX_ELEMENTS as f64 {
                return Err(SquishError::op(format!("range of {n} elements is too large")));
            }
            Ok(n as usize)
        };
        let scalar = |t: &Tensor| t.to_f64_vec().first().copied().ok_or_else(|| SquishError::op("range inputs must be scalars"));
        let (s, l, d) = (scalar(start)?, scalar(limit)?, scalar(delta)?);
        let n = count(s, l, d)?;
        Ok(vec![match start {
            Tensor::F32(_) => {
                let (s, d) = (s as f32, d as f32);
                Tensor::from_vec(&[n], (0..n).map(|i| s + i as f32 * d).collect())?
            }
            Tensor::F64(_) => Tensor::from_vec(&[n], (0..n).map(|i| s + i as f64 * d).collect())?,
            Tensor::I32(_) => Tensor::from_vec(&[n], (0..n).map(|i| (s as i64 + i as i64 * d as i64) as i32).collect())?,
            Tensor::I64(_) => Tensor::from_vec(&[n], (0..n).map(|i| s as i64 + i as i64 * d as i64).collect())?,
            Tensor::F16(_) | Tensor::BF16(_) => {
                // Accumulate as the spec's reference does: in the element type.
                let st = |v: f64| cast(&Tensor::scalar(v as f32), start.dtype());
                let one = |v: &Tensor| v.to_f64_vec()[0];
                let (s16, d16) = (one(&st(s)?), one(&st(d)?));
                let vals: Vec<f32> = (0..n).map(|i| (s16 + i as f64 * d16) as f32).collect();
                cast(&Tensor::from_vec(&[n], vals)?, start.dtype())?
            }
            other => return Err(SquishError::op(format!("Range does not support {}", other.dtype()))),
        }])
    }
}

struct Dropout;

impl Op for Dropout {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = required(inputs, 0)?;
        let mask = ndarray::ArrayD::from_elem(ndarray::IxDyn(x.shape()), true);
        Ok(vec![x.clone(), Tensor::Bool(mask)])
    }
}
