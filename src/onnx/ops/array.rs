//! Data movement and type ops: Identity, Cast, Constant, Reshape, Flatten.

use half::{bf16, f16};

use super::{required, BuildCtx, Op, Registry};
use crate::error::{Result, SquishError};
use crate::onnx::dtype_from_onnx;
use crate::onnx::proto::data_type;
use crate::tensor::{DType, Tensor};

pub fn register(r: &mut Registry) {
    r.insert("", "Identity", |_| Ok(Box::new(Identity)));
    r.insert("", "Cast", build_cast);
    r.insert("", "Constant", build_constant);
    r.insert("", "Reshape", build_reshape);
    r.insert("", "Flatten", build_flatten);
}

struct Identity;
impl Op for Identity {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        Ok(vec![required(inputs, 0)?.clone()])
    }
}

struct Cast {
    to: DType,
}

fn build_cast(ctx: &BuildCtx) -> Result<Box<dyn Op>> {
    let a = ctx.attrs();
    let code = a.required_int("to")? as i32;
    let to = dtype_from_onnx(code)
        .ok_or_else(|| a.error("to", format!("cast to {} is not supported", data_type::name(code))))?;
    Ok(Box::new(Cast { to }))
}

/// Converts any tensor to `to`, going through f64 for float targets and
/// through saturating/truncating integer casts as numpy and onnxruntime do.
pub fn cast(t: &Tensor, to: DType) -> Result<Tensor> {
    if t.dtype() == to {
        return Ok(t.clone());
    }
    let shape = t.shape().to_vec();
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
    })
}

impl Op for Cast {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        Ok(vec![cast(required(inputs, 0)?, self.to)?])
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

struct Reshape {
    allow_zero: bool,
}

fn build_reshape(ctx: &BuildCtx) -> Result<Box<dyn Op>> {
    if ctx.opset < 5 {
        return Err(ctx.attrs().error("shape", "Reshape-1 (shape as an attribute) is not supported; use opset ≥ 5"));
    }
    Ok(Box::new(Reshape { allow_zero: ctx.attrs().int("allowzero", 0)? != 0 }))
}

/// Resolves ONNX Reshape's `0` (copy) and `-1` (infer) against `input`.
pub fn reshape_target(input: &[usize], spec: &[i64], allow_zero: bool) -> Result<Vec<usize>> {
    let mut out = Vec::with_capacity(spec.len());
    let mut infer_at = None;
    for (i, &d) in spec.iter().enumerate() {
        match d {
            -1 if infer_at.is_none() => {
                infer_at = Some(i);
                out.push(1);
            }
            -1 => return Err(SquishError::op(format!("shape {spec:?} has more than one -1"))),
            0 if !allow_zero => out.push(*input.get(i).ok_or_else(|| {
                SquishError::op(format!("shape {spec:?} copies dimension {i} but the input has rank {}", input.len()))
            })?),
            d if d < 0 => return Err(SquishError::op(format!("invalid dimension {d} in shape {spec:?}"))),
            d => out.push(d as usize),
        }
    }
    let total: usize = input.iter().product();
    if let Some(i) = infer_at {
        let known: usize = out.iter().product();
        if known == 0 || total % known != 0 {
            return Err(SquishError::op(format!("cannot infer -1 in {spec:?} for input {input:?}")));
        }
        out[i] = total / known;
    }
    Ok(out)
}

impl Op for Reshape {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = required(inputs, 0)?;
        let spec = required(inputs, 1)?
            .to_i64_vec()
            .ok_or_else(|| SquishError::op("the shape input must be an integer tensor"))?;
        let target = reshape_target(x.shape(), &spec, self.allow_zero)?;
        Ok(vec![x.clone().reshaped(&target)?])
    }
}

struct Flatten {
    axis: i64,
}

fn build_flatten(ctx: &BuildCtx) -> Result<Box<dyn Op>> {
    Ok(Box::new(Flatten { axis: ctx.attrs().int("axis", 1)? }))
}

impl Op for Flatten {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = required(inputs, 0)?;
        let rank = x.shape().len() as i64;
        if self.axis < -rank || self.axis > rank {
            return Err(SquishError::op(format!("axis {} is out of range for rank {rank}", self.axis)));
        }
        let axis = if self.axis < 0 { self.axis + rank } else { self.axis } as usize;
        let outer: usize = x.shape()[..axis].iter().product();
        let inner: usize = x.shape()[axis..].iter().product();
        Ok(vec![x.clone().reshaped(&[outer, inner])?])
    }
}
