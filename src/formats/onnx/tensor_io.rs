//! `TensorProto` ⇄ `Tensor`: raw little-endian data and the typed fields.

use half::{bf16, f16};

use super::proto::{data_type as dt, tensor_proto, TensorProto};
use crate::error::{Result, SquishError};
use crate::tensor::{checked_numel, shape_from_dims, DType, Element, SmallType, Tensor};

fn le_values<T, const N: usize>(raw: &[u8], conv: fn([u8; N]) -> T) -> Vec<T> {
    raw.chunks_exact(N).map(|c| conv(c.try_into().expect("chunks_exact yields N bytes"))).collect()
}

fn typed_len_check(name: &str, field: &str, got: usize, want: usize) -> Result<()> {
    if got != want {
        return Err(SquishError::tensor(name, format!("{field} holds {got} values but the dims declare {want}")));
    }
    Ok(())
}

/// Reads a tensor, validating dims, dtype and data length against each other.
pub fn tensor_from_proto(tp: &TensorProto) -> Result<Tensor> {
    let name = if tp.name.is_empty() { "<unnamed>" } else { tp.name.as_str() };
    if tp.data_location == tensor_proto::EXTERNAL || !tp.external_data.is_empty() {
        let location = tp.external_data.iter().find(|e| e.key == "location").map(|e| e.value.as_str()).unwrap_or("?");
        return Err(SquishError::tensor(
            name,
            format!(
                "data is stored in external file '{location}', which was not provided: \
                 open it together with the .onnx file (or re-save the model with all tensors inside it)"
            ),
        ));
    }
    if tp.segment.is_some() {
        return Err(SquishError::tensor(name, "segmented tensors are not supported"));
    }
    let shape = shape_from_dims(&tp.dims, name)?;
    let numel = checked_numel(&shape, name)?;
    let dtype = DType::from_onnx(tp.data_type).ok_or_else(|| SquishError::tensor(name, format!("data type {} is not supported", dt::name(tp.data_type))))?;
    if let DType::Small(st) = dtype {
        return small_from_proto(tp, name, st, &shape, numel);
    }
    let raw = &tp.raw_data;
    if !raw.is_empty() || numel == 0 {
        let want = numel * dtype.size_of();
        if raw.len() != want {
            return Err(SquishError::tensor(name, format!("raw_data has {} bytes but dims {:?} of {dtype} need {want}", raw.len(), tp.dims)));
        }
        let t = match dtype {
            DType::F32 => Tensor::from_vec(&shape, le_values(raw, f32::from_le_bytes)),
            DType::F64 => Tensor::from_vec(&shape, le_values(raw, f64::from_le_bytes)),
            DType::F16 => Tensor::from_vec(&shape, le_values(raw, f16::from_le_bytes)),
            DType::BF16 => Tensor::from_vec(&shape, le_values(raw, bf16::from_le_bytes)),
            DType::I8 => Tensor::from_vec(&shape, raw.iter().map(|&b| b as i8).collect()),
            DType::U8 => Tensor::from_vec(&shape, raw.to_vec()),
            DType::I16 => Tensor::from_vec(&shape, le_values(raw, i16::from_le_bytes)),
            DType::U16 => Tensor::from_vec(&shape, le_values(raw, u16::from_le_bytes)),
            DType::I32 => Tensor::from_vec(&shape, le_values(raw, i32::from_le_bytes)),
            DType::U32 => Tensor::from_vec(&shape, le_values(raw, u32::from_le_bytes)),
            DType::I64 => Tensor::from_vec(&shape, le_values(raw, i64::from_le_bytes)),
            DType::U64 => Tensor::from_vec(&shape, le_values(raw, u64::from_le_bytes)),
            DType::Bool => Tensor::from_vec(&shape, raw.iter().map(|&b| b != 0).collect()),
            DType::Small(_) => unreachable!("handled by small_from_proto"),
        };
        return t.map_err(|e| SquishError::tensor(name, e.to_string()));
    }
    fn via_i32<T: Element>(tp: &TensorProto, name: &str, shape: &[usize], numel: usize, f: fn(i32) -> T) -> Result<Tensor> {
        typed_len_check(name, "int32_data", tp.int32_data.len(), numel)?;
        Tensor::from_vec(shape, tp.int32_data.iter().map(|&v| f(v)).collect())
    }
    match dtype {
        DType::F32 => {
            typed_len_check(name, "float_data", tp.float_data.len(), numel)?;
            Tensor::from_vec(&shape, tp.float_data.clone())
        }
        DType::F64 => {
            typed_len_check(name, "double_data", tp.double_data.len(), numel)?;
            Tensor::from_vec(&shape, tp.double_data.clone())
        }
        DType::I64 => {
            typed_len_check(name, "int64_data", tp.int64_data.len(), numel)?;
            Tensor::from_vec(&shape, tp.int64_data.clone())
        }
        DType::U64 => {
            typed_len_check(name, "uint64_data", tp.uint64_data.len(), numel)?;
            Tensor::from_vec(&shape, tp.uint64_data.clone())
        }
        DType::U32 => {
            typed_len_check(name, "uint64_data", tp.uint64_data.len(), numel)?;
            Tensor::from_vec(&shape, tp.uint64_data.iter().map(|&v| v as u32).collect())
        }
        DType::I32 => via_i32(tp, name, &shape, numel, |v| v),
        DType::I16 => via_i32(tp, name, &shape, numel, |v| v as i16),
        DType::U16 => via_i32(tp, name, &shape, numel, |v| v as u16),
        DType::I8 => via_i32(tp, name, &shape, numel, |v| v as i8),
        DType::U8 => via_i32(tp, name, &shape, numel, |v| v as u8),
        DType::Bool => via_i32(tp, name, &shape, numel, |v| v != 0),
        // Half types keep their bit pattern in the low 16 bits.
        DType::F16 => via_i32(tp, name, &shape, numel, |v| f16::from_bits(v as u16)),
        DType::BF16 => via_i32(tp, name, &shape, numel, |v| bf16::from_bits(v as u16)),
        DType::Small(_) => unreachable!("handled by small_from_proto"),
    }
    .map_err(|e| match e {
        SquishError::Tensor { detail, .. } => SquishError::tensor(name, detail),
        other => other,
    })
}

/// Writes a tensor with `raw_data` (little-endian), the compact form.
pub fn tensor_to_proto(name: &str, t: &Tensor) -> TensorProto {
    let mut raw: Vec<u8> = Vec::with_capacity(t.byte_size());
    match t {
        Tensor::F32(a) => a.iter().for_each(|v| raw.extend(v.to_le_bytes())),
        Tensor::F64(a) => a.iter().for_each(|v| raw.extend(v.to_le_bytes())),
        Tensor::F16(a) => a.iter().for_each(|v| raw.extend(v.to_le_bytes())),
        Tensor::BF16(a) => a.iter().for_each(|v| raw.extend(v.to_le_bytes())),
        Tensor::I8(a) => a.iter().for_each(|v| raw.extend(v.to_le_bytes())),
        Tensor::U8(a) => a.iter().for_each(|v| raw.push(*v)),
        Tensor::I16(a) => a.iter().for_each(|v| raw.extend(v.to_le_bytes())),
        Tensor::U16(a) => a.iter().for_each(|v| raw.extend(v.to_le_bytes())),
        Tensor::I32(a) => a.iter().for_each(|v| raw.extend(v.to_le_bytes())),
        Tensor::U32(a) => a.iter().for_each(|v| raw.extend(v.to_le_bytes())),
        Tensor::I64(a) => a.iter().for_each(|v| raw.extend(v.to_le_bytes())),
        Tensor::U64(a) => a.iter().for_each(|v| raw.extend(v.to_le_bytes())),
        Tensor::Bool(a) => a.iter().for_each(|v| raw.push(*v as u8)),
        Tensor::Small(st, a) => raw = pack(*st, &a.iter().copied().collect::<Vec<_>>()),
    }
    TensorProto {
        dims: t.shape().iter().map(|&d| d as i64).collect(),
        data_type: t.dtype().onnx_code(),
        name: name.to_string(),
        raw_data: raw,
        ..Default::default()
    }
}

/// Bytes of `tensor_to_proto`'s raw data, without writing them.
pub fn raw_len(t: &Tensor) -> usize {
    match t {
        Tensor::Small(st, a) => a.len().div_ceil(per_byte(*st)),
        Tensor::Bool(a) => a.len(),
        _ => t.byte_size(),
    }
}

/// Elements per byte on disk for a small type (1, 2 or 4).
fn per_byte(st: SmallType) -> usize {
    8 / st.bits() as usize
}

/// Packs one-byte-per-element codes as ONNX stores them: low bits first.
pub fn pack(st: SmallType, codes: &[u8]) -> Vec<u8> {
    let k = per_byte(st);
    let mask = ((1u16 << st.bits()) - 1) as u8;
    codes.chunks(k).map(|c| c.iter().enumerate().fold(0u8, |acc, (i, &v)| acc | ((v & mask) << (i as u32 * st.bits())))).collect()
}

fn unpack(st: SmallType, bytes: &[u8], numel: usize) -> Vec<u8> {
    let k = per_byte(st);
    let mask = ((1u16 << st.bits()) - 1) as u8;
    (0..numel).map(|i| (bytes[i / k] >> ((i % k) as u32 * st.bits())) & mask).collect()
}

/// float8, float4, int4 and int2 tensors: packed raw bytes, or packed bytes
/// one per `int32_data` entry.
fn small_from_proto(tp: &TensorProto, name: &str, st: SmallType, shape: &[usize], numel: usize) -> Result<Tensor> {
    let want = numel.div_ceil(per_byte(st));
    let bytes: Vec<u8> = if !tp.raw_data.is_empty() || numel == 0 {
        if tp.raw_data.len() != want {
            return Err(SquishError::tensor(name, format!("raw_data has {} bytes but dims {:?} of {} need {want}", tp.raw_data.len(), tp.dims, st.name())));
        }
        tp.raw_data.clone()
    } else {
        typed_len_check(name, "int32_data", tp.int32_data.len(), want)?;
        tp.int32_data.iter().map(|&v| v as u8).collect()
    };
    let codes = unpack(st, &bytes, numel);
    Ok(Tensor::Small(st, ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(shape), codes).expect("numel checked")))
}
