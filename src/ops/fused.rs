//! Runtime-only ops that `runtime::passes` substitute for chains of standard
//! ops at load time (never written to files): integer products finished in
//! float in one pass.
//!
//! * `MatMulIntegerScaled(A, B, a_zp, b_zp, scale, [bias])`: onnxruntime's
//!   dynamic chain MatMulInteger → Cast → Mul(scale) [→ Add(bias)], same
//!   arithmetic as the chain (bit-identical).
//! * `ConvIntegerScaled(x, w, x_zp, w_zp, scale, [bias])`: the same chain
//!   after ConvInteger (scale and bias per output channel, bit-identical).
//! * `DynamicConvInteger(x, w, "", w_zp, w_scale, [bias])`: the ConvInteger
//!   chain with the DynamicQuantizeLinear before it and the Mul making its
//!   scale (x_scale · w_scale); x is quantised as it is packed.
//! * They may end with a fused Relu or Clip (attribute `activation`, Clip's
//!   bounds as inputs 6 and 7), applied with the ops' own comparisons.
//! * `QdqMatMul(xq, wq, x_zp, w_zp, x_scale, w_scale)` and
//!   `QdqConv(xq, wq, x_zp, w_zp, x_scale, w_scale, [bias])`: MatMul/Conv of
//!   two DequantizeLinear outputs, computed on the integer GEMM and scaled
//!   once; equal to dequantise-then-float up to float summation order.

use ndarray::{ArrayD, IxDyn};

use super::activation::{apply_bounds, FusedActivation};
use super::integer::{build_int_matmul, dynamic_range, int_conv, ConvSums, IntConv, IntMatMul};
use super::{optional_f32, required, required_f32, Op, Registry};
use crate::error::{Result, SquishError};
use crate::kernels::{Codes, QuantizedF32, RowScale};
use crate::ops::internal::{DYNAMIC_CONV_INTEGER, GATHER_DEQUANTIZE, INTERNAL_DOMAIN, QDQ_CONV, QDQ_MATMUL, SCALED_CONV_INTEGER, SCALED_MATMUL_INTEGER};
use crate::tensor::{DType, Tensor};

pub fn register(r: &mut Registry) {
    r.insert(INTERNAL_DOMAIN, SCALED_MATMUL_INTEGER, |ctx| {
        Ok(Box::new(ScaledMatMul { product: *build_int_matmul(ctx, false)?, qdq: false, activation: FusedActivation::from_attrs(ctx)? }))
    });
    r.insert(INTERNAL_DOMAIN, QDQ_MATMUL, |ctx| {
        Ok(Box::new(ScaledMatMul { product: *build_int_matmul(ctx, false)?, qdq: true, activation: FusedActivation::None }))
    });
    r.insert(INTERNAL_DOMAIN, QDQ_CONV, |ctx| Ok(Box::new(QdqConv { conv: int_conv(ctx)?, dynamic: false, activation: FusedActivation::None })));
    r.insert(INTERNAL_DOMAIN, SCALED_CONV_INTEGER, |ctx| {
        Ok(Box::new(QdqConv { conv: int_conv(ctx)?, dynamic: true, activation: FusedActivation::from_attrs(ctx)? }))
    });
    r.insert(INTERNAL_DOMAIN, DYNAMIC_CONV_INTEGER, |ctx| Ok(Box::new(DynamicConv { conv: int_conv(ctx)?, activation: FusedActivation::from_attrs(ctx)? })));
    r.insert(INTERNAL_DOMAIN, GATHER_DEQUANTIZE, |_| Ok(Box::new(GatherDequantize)));
}

/// Rows of an 8-bit table gathered (axis 0) and dequantised after: per
/// element `(q − zp) as f32 · scale`, DequantizeLinear's own arithmetic.
struct GatherDequantize;

impl Op for GatherDequantize {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let (codes, idx_t) = (required(inputs, 0)?, required(inputs, 3)?);
        let scale = required_f32(inputs, 1, "scale")?;
        let rows = *codes.shape().first().ok_or_else(|| SquishError::op("the table must have rank ≥ 1"))?;
        let zps: Vec<i32> = match inputs.get(2).copied().flatten() {
            Some(z) => z.to_f64_vec().iter().map(|&v| v as i32).collect(),
            None => vec![0; scale.len()],
        };
        if (scale.len() != 1 && scale.len() != rows) || zps.len() != scale.len() {
            return Err(SquishError::op(format!("scale has {} values and zero point {}; expected 1 or {rows} each", scale.len(), zps.len())));
        }
        let scales: Vec<f32> = scale.iter().copied().collect();
        let idx = super::int_values(idx_t, "indices")?;
        // Only the gathered rows are widened: the table stays as it is.
        let out = match codes {
            Tensor::U8(a) => dequantize_rows(&super::linalg::contiguous(a), rows, &idx, &scales, &zps)?,
            Tensor::I8(a) => dequantize_rows(&super::linalg::contiguous(a), rows, &idx, &scales, &zps)?,
            other => return Err(SquishError::op(format!("the table must be uint8 or int8, got {}", other.dtype()))),
        };
        let mut shape = idx_t.shape().to_vec();
        shape.extend_from_slice(&codes.shape()[1..]);
        Ok(vec![Tensor::F32(ArrayD::from_shape_vec(IxDyn(&shape), out).map_err(|e| SquishError::op(e.to_string()))?)])
    }
}

/// Rows `idx` of a `rows × …` table, each `(q − zp) as f32 · scale` with the
/// table's one parameter pair or its row's.
fn dequantize_rows<T: Copy + Into<i32>>(table: &[T], rows: usize, idx: &[i64], scales: &[f32], zps: &[i32]) -> Result<Vec<f32>> {
    let inner = table.len().checked_div(rows).unwrap_or(0);
    let mut out = Vec::with_capacity(idx.len() * inner);
    for &i in idx {
        let r = if i < 0 { i + rows as i64 } else { i };
        if r < 0 || r >= rows as i64 {
            return Err(SquishError::op(format!("index {i} is out of range for axis 0 of size {rows}")));
        }
        let r = r as usize;
        let p = if scales.len() == 1 { 0 } else { r };
        let (s, z) = (scales[p], zps[p]);
        out.extend(table[r * inner..(r + 1) * inner].iter().map(|&v| (v.into() - z) as f32 * s));
    }
    Ok(out)
}

/// A per-tensor or per-`n` float vector, expanded to `n` values.
fn per_index(t: &ArrayD<f32>, n: usize, what: &str) -> Result<Vec<f32>> {
    match t.len() {
        1 => Ok(vec![t.iter().copied().next().expect("one value"); n]),
        l if l == n => Ok(t.iter().copied().collect()),
        l => Err(SquishError::op(format!("{what} has {l} values; expected 1 or {n}"))),
    }
}

/// Whether a scale or bias of `shape` gives a convolution's output one value
/// per output channel as it broadcasts: one value, or `m` values shaped
/// `[m, 1, …]` (one axis fewer than the filters' `filter_rank`). Shared with
/// the load-time pass that fuses the chains.
pub(crate) fn per_output_channel(shape: &[usize], m: usize, filter_rank: usize) -> bool {
    let len: usize = shape.iter().product();
    len == 1 || (len == m && shape.first() == Some(&m) && shape.len() + 1 == filter_rank)
}

/// The unfused chain's own semantics, step by step (Cast, Mul, Add with
/// ONNX broadcasting), for scales or biases the one-pass loops do not cover.
fn unfused_chain(acc: Tensor, scale: &ArrayD<f32>, bias: Option<&ArrayD<f32>>, (lo, hi): (Option<f32>, Option<f32>)) -> Result<Vec<Tensor>> {
    use super::elementwise::{arith, Arith};
    let y = arith(Arith::Mul, &super::array::cast(&acc, DType::F32)?, &Tensor::F32(scale.clone()), false)?;
    let y = match bias {
        Some(b) => arith(Arith::Add, &y, &Tensor::F32(b.clone()), false)?,
        None => y,
    };
    Ok(vec![match y {
        Tensor::F32(a) => {
            let shape = a.shape().to_vec();
            let mut v = crate::tensor::into_flat(a);
            apply_bounds(&mut v, lo, hi);
            Tensor::F32(ArrayD::from_shape_vec(IxDyn(&shape), v).expect("same count"))
        }
        other => other,
    }])
}

struct ScaledMatMul {
    product: IntMatMul,
    /// Scales are x_scale and w_scale (inputs 4, 5) rather than one product.
    qdq: bool,
    /// A fused Relu or Clip (bounds at inputs 6 and 7).
    activation: FusedActivation,
}

impl Op for ScaledMatMul {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let acc = self.product.product(&inputs[..4.min(inputs.len())])?;
        let n = *acc.shape().last().unwrap_or(&1);
        let scale = required_f32(inputs, 4, "scale")?;
        let (lo, hi) = self.activation.bounds(inputs, 6)?;
        let (s, bias) = if self.qdq {
            let xs = per_index(scale, 1, "x_scale")?[0];
            let ws = per_index(required_f32(inputs, 5, "w_scale")?, n, "w_scale")?;
            (ws.iter().map(|w| xs * w).collect::<Vec<f32>>(), None)
        } else {
            let bias = optional_f32(inputs, 5, "bias")?;
            let fits = |t: &ArrayD<f32>| t.len() == 1 || (t.len() == n && t.shape().last() == Some(&n));
            if !fits(scale) || bias.is_some_and(|b| !fits(b)) {
                return unfused_chain(Tensor::I32(acc), scale, bias, (lo, hi));
            }
            (per_index(scale, n, "scale")?, bias.map(|b| per_index(b, n, "bias")).transpose()?)
        };
        let shape = acc.shape().to_vec();
        let acc = acc.into_raw_vec_and_offset().0;
        let mut out = vec![0.0f32; acc.len()];
        for (o, a) in out.chunks_exact_mut(n.max(1)).zip(acc.chunks_exact(n.max(1))) {
            match &bias {
                Some(b) => (0..a.len()).for_each(|j| o[j] = a[j] as f32 * s[j] + b[j]),
                None => (0..a.len()).for_each(|j| o[j] = a[j] as f32 * s[j]),
            }
            apply_bounds(o, lo, hi);
        }
        Ok(vec![Tensor::F32(ArrayD::from_shape_vec(IxDyn(&shape), out).expect("same count"))])
    }
}

struct QdqConv {
    conv: IntConv,
    /// ConvInteger's chain: one `scale` (input 4) and an optional bias (5),
    /// rather than x_scale, w_scale (4, 5) and bias (6).
    dynamic: bool,
    /// A fused Relu or Clip (bounds at inputs 6 and 7).
    activation: FusedActivation,
}

impl Op for QdqConv {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let (x, w) = (required(inputs, 0)?, required(inputs, 1)?);
        let (x_zp, w_zp) = (inputs.get(2).copied().flatten(), inputs.get(3).copied().flatten());
        let m = *w.shape().first().ok_or_else(|| SquishError::op("weights w must have rank ≥ 3"))?;
        let (lo, hi) = self.activation.bounds(inputs, 6)?;
        let (s, bias) = if self.dynamic {
            let scale = required_f32(inputs, 4, "scale")?;
            let bias = optional_f32(inputs, 5, "bias")?;
            // Anything but one value per output channel: the chain's own broadcasts.
            let fits = |t: &ArrayD<f32>| per_output_channel(t.shape(), m, w.shape().len());
            if !fits(scale) || bias.is_some_and(|b| !fits(b)) {
                let (sums, shape) = self.conv.accumulate(x, x_zp, w, w_zp, None)?;
                let ConvSums::I32(acc) = sums else { unreachable!("no RowScale: i32 sums") };
                return unfused_chain(Tensor::I32(ArrayD::from_shape_vec(IxDyn(&shape), acc).expect("same count")), scale, bias, (lo, hi));
            }
            (per_index(scale, m, "scale")?, bias.map(|b| per_index(b, m, "bias")).transpose()?)
        } else {
            let xs = per_index(required_f32(inputs, 4, "x_scale")?, 1, "x_scale")?[0];
            let s: Vec<f32> = per_index(required_f32(inputs, 5, "w_scale")?, m, "w_scale")?.iter().map(|w| xs * w).collect();
            (s, optional_f32(inputs, 6, "bias")?.map(|b| per_index(b, m, "bias")).transpose()?)
        };
        // Scaled, biased and bounded as each tile or plane is made.
        let finish = RowScale { scale: &s, bias: bias.as_deref(), lo, hi };
        let (sums, shape) = self.conv.accumulate(x, x_zp, w, w_zp, Some(finish))?;
        let ConvSums::F32(out) = sums else { unreachable!("a RowScale gives float sums") };
        Ok(vec![Tensor::F32(ArrayD::from_shape_vec(IxDyn(&shape), out).expect("same count"))])
    }
}

/// DynamicQuantizeLinear and the dynamic ConvInteger chain in one: the input's
/// range as DynamicQuantizeLinear takes it, then each value quantised as the
/// convolution packs it. Bit-identical to the chain.
struct DynamicConv {
    conv: IntConv,
    activation: FusedActivation,
}

impl Op for DynamicConv {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = required_f32(inputs, 0, "input x")?;
        let (w, w_zp) = (required(inputs, 1)?, inputs.get(3).copied().flatten());
        let m = *w.shape().first().ok_or_else(|| SquishError::op("weights w must have rank ≥ 3"))?;
        let xs = super::linalg::contiguous(x);
        // The fused node carries the convolution's name: say where the quantisation came from.
        let (scale, zp) = dynamic_range(&xs).map_err(|e| match e {
            SquishError::Node { detail, .. } => SquishError::op(format!("{detail} (the DynamicQuantizeLinear fused into this convolution)")),
            other => other,
        })?;
        // Mul(x_scale, w_scale), per output channel.
        let s: Vec<f32> = per_index(required_f32(inputs, 4, "w_scale")?, m, "w_scale")?.iter().map(|w| scale * w).collect();
        let bias = optional_f32(inputs, 5, "bias")?.map(|b| per_index(b, m, "bias")).transpose()?;
        let (lo, hi) = self.activation.bounds(inputs, 6)?;
        let finish = RowScale { scale: &s, bias: bias.as_deref(), lo, hi };
        let (sums, shape) = if scale == 0.0 {
            // An all-zero input: every code is 0 with zero point 0.
            let zeros = vec![0u8; xs.len()];
            self.conv.accumulate_centred(&Codes { codes: &zeros[..], zero_point: 0 }, x.shape(), w, w_zp, Some(finish))?
        } else {
            self.conv.accumulate_centred(&QuantizedF32 { x: &xs, scale, zero_point: zp }, x.shape(), w, w_zp, Some(finish))?
        };
        let ConvSums::F32(out) = sums else { unreachable!("a RowScale gives float sums") };
        Ok(vec![Tensor::F32(ArrayD::from_shape_vec(IxDyn(&shape), out).expect("same count"))])
    }
}
