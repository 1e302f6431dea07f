//! Element type conversion, as ONNX `Cast` defines it (and as numpy and
//! onnxruntime do where the spec leaves it open): used by the `Cast` op and
//! by every reader that converts data to a model's declared input types.

use half::{bf16, f16};

use super::{DType, Tensor};
use crate::error::Result;

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
