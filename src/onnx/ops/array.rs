//! Value-creating and type ops: Identity, Cast, Constant, ConstantOfShape,
//! Range, and Dropout (inference: identity plus an all-true mask).

use half::{bf16, f16};

use super::int_values;
use super::{required, BuildCtx, Op, Registry};
use crate::error::{Result, SquishError};
use crate::onnx::dtype_from_onnx;
use crate::onnx::proto::data_type;
use crate::tensor::{DType, Tensor};

pub fn register(r: &mut Registry) {
    r.insert("", "Identity", |_| Ok(Box::new(Identity)));
    r.insert("", "Cast", build_cast);
    r.insert("", "Constant", build_constant);
    r.insert("", "ConstantOfShape", build_constant_of_shape);
    r.insert("", "Range", |_| Ok(Box::new(Range)));
    r.insert("", "Dropout", |_| Ok(Box::new(Dropout)));
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
    let to = dtype_from_onnx(code).ok_or_else(|| a.error("to", format!("cast to {} is not supported", data_type::name(code))))?;
    Ok(Box::new(Cast { to, saturate: a.int("saturate", 1)? != 0 }))
}

/// Converts any tensor to `to` (float8 targets saturate).
pub fn cast(t: &Tensor, to: DType) -> Result<Tensor> {
    cast_with(t, to, true)
}

/// Converts any tensor to `to`, going through f64 for float targets and
/// through truncating integer casts as numpy and onnxruntime do. `saturate`
/// only matters for float8 targets (out-of-range values clamp instead of
/// becoming NaN/inf).
pub fn cast_with(t: &Tensor, to: DType, saturate: bool) -> Result<Tensor> {
    if t.dtype() == to {
        return Ok(t.clone());
    }
    // Common casts of quantised graphs, element by element (vectorised by the
    // compiler); each is correctly rounded, as the f64 route below would be.
    match (t, to) {
        (Tensor::I32(a), DType::F32) => return Ok(Tensor::F32(a.mapv(|v| v as f32))),
        (Tensor::U8(a), DType::F32) => return Ok(Tensor::F32(a.mapv(|v| v as f32))),
        (Tensor::I8(a), DType::F32) => return Ok(Tensor::F32(a.mapv(|v| v as f32))),
        (Tensor::F16(a), DType::F32) => return Ok(Tensor::F32(a.mapv(|v| v.to_f32()))),
        (Tensor::BF16(a), DType::F32) => return Ok(Tensor::F32(a.mapv(|v| v.to_f32()))),
        _ => {}
    }
    let shape = t.shape().to_vec();
    if let DType::Small(st) = to {
        let bits: Vec<u8> = t.to_f64_vec().iter().map(|&x| st.encode(x, saturate)).collect();
        return Ok(Tensor::Small(st, ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&shape), bits).expect("same count")));
    }
    // Integer-to-integer casts must not go through f64 (i64 would lose bits).
    if let Some(ints) = t.to_i64_vec() {
        if !matches!(to, DType::F32 | DType::F64 | DType::F16 | DType::BF16) {
            return Ok(match to {
                DType::I8 => Tensor::from_vec(&shape, ints.iter().map(|&v| v as i8).collect())?,
                DType::U8 => Tensor::from_vec(&shape, ints.iter().map(|&v| v as u8).collect())?,
                DType::I16 => Tensor::from_vec(&shape, ints.iter().map(|&v| v as i16).collect())?,
                DType::U16 => Tensor::from_vec(&shape, ints.iter().map(|&v| v as u16).collect())?,
                DType::I32 => Tensor::from_vec(&shape, ints.iter().map(|&v| v as i32).collect())?,
                DType::U32 => Tensor::from_vec(&shape, ints.iter().map(|&v| v as u32).collect())?,
                DType::I64 => Tensor::from_vec(&shape, ints)?,
                DType::U64 => Tensor::from_vec(&shape, ints.iter().map(|&v| v as u64).collect())?,
                DType::Bool => Tensor::from_vec(&shape, ints.iter().map(|&v| v != 0).collect())?,
                _ => unreachable!("float targets handled below"),
            });
        }
    }
    let v = t.to_f64_vec();
    Ok(match to {
        DType::F32 => Tensor::from_vec(&shape, v.iter().map(|&x| x as f32).collect())?,
        DType::F64 => Tensor::from_vec(&shape, v)?,
        DType::F16 => Tensor::from_vec(&shape, v.iter().map(|&x| f16::from_f64(x)).collect())?,
        DType::BF16 => Tensor::from_vec(&shape, v.iter().map(|&x| bf16::from_f64(x)).collect())?,
        DType::I8 => Tensor::from_vec(&shape, v.iter().map(|&x| x as i8).collect())?,
        DType::U8 => Tensor::from_vec(&shape, v.iter().map(|&x| x as u8).collect())?,
        DType::I16 => Tensor::from_vec(&shape, v.iter().map(|&x| x as i16).collect())?,
        DType::U16 => Tensor::from_vec(&shape, v.iter().map(|&x| x as u16).collect())?,
        DType::I32 => Tensor::from_vec(&shape, v.iter().map(|&x| x as i32).collect())?,
        DType::U32 => Tensor::from_vec(&shape, v.iter().map(|&x| x as u32).collect())?,
        DType::I64 => Tensor::from_vec(&shape, v.iter().map(|&x| x as i64).collect())?,
        DType::U64 => Tensor::from_vec(&shape, v.iter().map(|&x| x as u64).collect())?,
        DType::Bool => Tensor::from_vec(&shape, v.iter().map(|&x| x != 0.0).collect())?,
        DType::Small(_) => unreachable!("small targets return above"),
    })
}

impl Op for Cast {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        Ok(vec![cast_with(required(inputs, 0)?, self.to, self.saturate)?])
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
