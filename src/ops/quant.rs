//! Linear quantisation ops: QuantizeLinear and DequantizeLinear (per-tensor,
//! per-axis and, from opset 21, blocked), u8/i8 (and i32 for dequantise).

use ndarray::{ArrayD, IxDyn};

use super::{norm_axis, required, BuildCtx, Op, Registry};
use crate::error::{Result, SquishError};
use crate::ops::internal::{FAKE_QUANTIZE, INTERNAL_DOMAIN};
use crate::tensor::{DType, Tensor};

pub fn register(r: &mut Registry) {
    r.insert("", "QuantizeLinear", |ctx| Ok(Box::new(quant_op(ctx, true)?)));
    r.insert("", "DequantizeLinear", |ctx| Ok(Box::new(quant_op(ctx, false)?)));
    r.insert(INTERNAL_DOMAIN, FAKE_QUANTIZE, |ctx| Ok(Box::new(FakeQuantize { quantize: quant_op(ctx, true)?, dequantize: quant_op(ctx, false)? })));
}

/// Quantise then dequantise with the same parameters; returns the result
/// and the codes (training's stand-in for a quantised weight).
struct FakeQuantize {
    quantize: QuantOp,
    dequantize: QuantOp,
}

impl Op for FakeQuantize {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let codes = self.quantize.eval(inputs)?.swap_remove(0);
        let params = [Some(&codes), inputs.get(1).copied().flatten(), inputs.get(2).copied().flatten()];
        let y = self.dequantize.eval(&params)?.swap_remove(0);
        Ok(vec![y, codes])
    }
}

struct QuantOp {
    quantize: bool,
    saturate: bool,
    axis: i64,
    block_size: usize,
    saturate_to: Option<DType>,
}

fn quant_op(ctx: &BuildCtx, quantize: bool) -> Result<QuantOp> {
    let a = ctx.attrs();
    let block = a.int("block_size", 0)?;
    if block < 0 {
        return Err(a.error("block_size", format!("must be ≥ 0, got {block}")));
    }
    let saturate_to = match a.opt_int("output_dtype")? {
        None | Some(0) => None,
        Some(code) => Some(crate::tensor::DType::from_onnx(code as i32).ok_or_else(|| a.error("output_dtype", format!("type {code} is not supported")))?),
    };
    Ok(QuantOp { quantize, saturate: a.int("saturate", 1)? != 0, axis: a.int("axis", 1)?, block_size: block as usize, saturate_to })
}

/// For element `i` of `shape`, the index of its scale: per tensor, per
/// channel along `axis`, or per block of `block` along `axis`.
fn scale_index_fn(shape: &[usize], scale_shape: &[usize], axis: i64, block: usize) -> Result<impl Fn(usize) -> usize> {
    let numel_s: usize = scale_shape.iter().product();
    let rank = shape.len();
    let mode = if numel_s == 1 && block == 0 {
        0
    } else if block == 0 {
        1
    } else {
        2
    };
    let ax = if mode == 0 { 0 } else { norm_axis(axis, rank)? };
    let inner: usize = if mode == 0 { 1 } else { shape[ax + 1..].iter().product() };
    let dim = if mode == 0 { 1 } else { shape[ax] };
    match mode {
        1 if scale_shape.len() > 1 || numel_s != dim => {
            return Err(SquishError::op(format!("per-axis scale has shape {scale_shape:?}, expected [{dim}] for axis {ax}")))
        }
        2 => {
            let want_blocks = dim.div_ceil(block);
            let mut want = shape.to_vec();
            want[ax] = want_blocks;
            if scale_shape != want.as_slice() {
                return Err(SquishError::op(format!("blocked scale has shape {scale_shape:?}, expected {want:?}")));
            }
        }
        _ => {}
    }
    let blocks = if block == 0 { dim } else { dim.div_ceil(block) };
    Ok(move |i: usize| match mode {
        0 => 0,
        1 => (i / inner) % dim,
        _ => {
            let outer = i / (inner * dim);
            let pos = (i / inner) % dim;
            (outer * blocks + pos / block) * inner + i % inner
        }
    })
}

/// Per-tensor float32 ⇄ 8-bit, the hot case of QDQ graphs, on slices (the
/// general path below goes through f64 per element). Same arithmetic:
/// quantise = round half to even of the f32 quotient, plus the zero point,
/// saturated; dequantise = (q − zp) times the scale in f32, as onnxruntime.
fn per_tensor_fast_path(quantize: bool, x: &Tensor, scale: f32, zp: i32, out_type: DType) -> Option<Tensor> {
    let shape = IxDyn(x.shape());
    if quantize {
        let xs = x.as_f32()?.as_slice()?;
        return match out_type {
            DType::U8 => {
                let mut q = vec![0u8; xs.len()];
                crate::kernels::active::quantize_u8(xs, scale, zp as f32, &mut q);
                Some(Tensor::U8(ArrayD::from_shape_vec(shape, q).ok()?))
            }
            DType::I8 => {
                // NaN spelled out, as in `quantize_u8` (relaxed builds may vectorise `as`).
                let q =
                    xs.iter().map(|&v| v / scale).map(|q| if q.is_nan() { 0 } else { (q.round_ties_even() + zp as f32).clamp(-128.0, 127.0) as i8 }).collect();
                Some(Tensor::I8(ArrayD::from_shape_vec(shape, q).ok()?))
            }
            _ => None,
        };
    }
    let y: Vec<f32> = match x {
        Tensor::U8(a) => a.as_slice()?.iter().map(|&v| (v as i32 - zp) as f32 * scale).collect(),
        Tensor::I8(a) => a.as_slice()?.iter().map(|&v| (v as i32 - zp) as f32 * scale).collect(),
        _ => return None,
    };
    Some(Tensor::F32(ArrayD::from_shape_vec(shape, y).ok()?))
}

impl Op for QuantOp {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = required(inputs, 0)?;
        let scale = required(inputs, 1)?;
        let zp = inputs.get(2).copied().flatten();
        let scales = scale.to_f64_vec();
        let idx = scale_index_fn(x.shape(), scale.shape(), self.axis, self.block_size)?;
        if let Some(z) = zp {
            // A scalar and a one-element vector are the same per-tensor parameter.
            if z.len() != scale.len() {
                return Err(SquishError::op(format!("zero point shape {:?} differs from scale shape {:?}", z.shape(), scale.shape())));
            }
        }
        let zps: Vec<f64> = zp.map(|z| z.to_f64_vec()).unwrap_or_else(|| vec![0.0; scales.len()]);
        let shape = x.shape().to_vec();
        if scales.len() == 1 && scale.dtype() == DType::F32 {
            if let Some(t) =
                per_tensor_fast_path(self.quantize, x, scales[0] as f32, zps[0] as i32, zp.map(|z| z.dtype()).or(self.saturate_to).unwrap_or(DType::U8))
            {
                return Ok(vec![t]);
            }
        }
        if self.quantize {
            let out_type = zp.map(|z| z.dtype()).or(self.saturate_to).unwrap_or(DType::U8);
            let xs = x.to_f64_vec();
            if let DType::Small(st) = out_type {
                let codes: Vec<u8> = xs
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| {
                        let y = (v as f32 / scales[idx(i)] as f32) as f64;
                        match st.int_range() {
                            Some((lo, hi)) => st.encode((y.round_ties_even() + zps[idx(i)]).clamp(lo as f64, hi as f64), true),
                            None => st.encode(y + zps[idx(i)], self.saturate),
                        }
                    })
                    .collect();
                return Ok(vec![Tensor::Small(st, ArrayD::from_shape_vec(IxDyn(&shape), codes).expect("same count"))]);
            }
            let (lo, hi) = out_type.code_range().ok_or_else(|| SquishError::op(format!("quantising to {out_type} is not supported")))?;
            // Division in f32 as onnxruntime does, then round half to even.
            let q: Vec<f64> = xs
                .iter()
                .enumerate()
                .map(|(i, &v)| {
                    let s = scales[idx(i)] as f32;
                    (((v as f32) / s).round_ties_even() as f64 + zps[idx(i)]).clamp(lo, hi)
                })
                .collect();
            let t = Tensor::from_vec(&shape, q)?;
            return Ok(vec![super::array::cast(&t, out_type)?]);
        }
        if !matches!(x.dtype(), DType::U8 | DType::I8 | DType::I32 | DType::U16 | DType::I16 | DType::Small(_)) {
            return Err(SquishError::op(format!("dequantising {} is not supported", x.dtype())));
        }
        let xs = x.to_f64_vec();
        let y: Vec<f32> = xs.iter().enumerate().map(|(i, &v)| ((v - zps[idx(i)]) as f32) * scales[idx(i)] as f32).collect();
        let out = Tensor::F32(ArrayD::from_shape_vec(IxDyn(&shape), y).expect("same count"));
        Ok(vec![match scale.dtype() {
            DType::F32 => out,
            other => super::array::cast(&out, other)?,
        }])
    }
}
