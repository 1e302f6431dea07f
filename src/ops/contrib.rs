//! onnxruntime contrib ops (`com.microsoft` domain) that quantised models
//! use: MatMulNBits (block-wise 2/4/8-bit weights).

use ndarray::{ArrayD, IxDyn};

use super::{optional_f32, required, required_f32, BuildCtx, Op, Registry};
use crate::error::{Result, SquishError};
use crate::formats::onnx::nbits::{NBitsLayout, NBitsWeights};
use crate::kernels::{active as k, pack_b_f32, GEMM_NR};
use crate::tensor::Tensor;

pub fn register(r: &mut Registry) {
    r.insert("com.microsoft", "MatMulNBits", build_nbits);
}

/// Columns dequantised at a time: large enough to amortise packing A,
/// small enough that the f32 scratch stays in cache (k × 64 floats).
const CHUNK_COLS: usize = 8 * GEMM_NR;

struct MatMulNBits {
    layout: NBitsLayout,
}

fn build_nbits(ctx: &BuildCtx) -> Result<Box<dyn Op>> {
    let a = ctx.attrs();
    let positive = |name: &str| -> Result<usize> {
        let v = a.opt_int(name)?.ok_or_else(|| a.error(name, "is required"))?;
        if v <= 0 {
            return Err(a.error(name, format!("must be positive, got {v}")));
        }
        Ok(v as usize)
    };
    let (kk, n, block) = (positive("K")?, positive("N")?, positive("block_size")?);
    let bits = a.int("bits", 4)?;
    let layout = NBitsLayout::new(kk, n, bits.max(0) as usize, block).map_err(|e| {
        let which = if e.to_string().contains("bits") { "bits" } else { "block_size" };
        a.error(which, e.to_string())
    })?;
    if ctx.node.inputs.get(4).is_some_and(|s| !s.is_empty()) {
        return Err(a.error("g_idx", "act-order group indices (input 4) are not supported"));
    }
    Ok(Box::new(MatMulNBits { layout }))
}

impl Op for MatMulNBits {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let a = required_f32(inputs, 0, "input A")?;
        let b = match required(inputs, 1)? {
            Tensor::U8(b) => b,
            other => return Err(SquishError::op(format!("input B must be uint8, got {}", other.dtype()))),
        };
        let scales: Vec<f32> = required(inputs, 2)?.to_f64_vec().into_iter().map(|v| v as f32).collect();
        let zp = inputs.get(3).copied().flatten();
        let bias = optional_f32(inputs, 5, "bias")?;
        let (kk, n) = (self.layout.k, self.layout.n);
        if a.shape().last() != Some(&kk) {
            return Err(SquishError::op(format!("A has shape {:?}; its last axis must be K = {kk}", a.shape())));
        }
        let b_flat = super::linalg::contiguous(b);
        let w = NBitsWeights::new(self.layout, &b_flat, scales, zp)?;
        let rows = a.len() / kk;
        let av = super::linalg::contiguous(a);
        let mut out = vec![0.0f32; rows * n];
        // Column chunks keep the unpacked f32 weights small (k × 64 at a time).
        let mut chunk = vec![0.0f32; kk * CHUNK_COLS];
        let mut tmp = vec![0.0f32; rows * CHUNK_COLS];
        for j in (0..n).step_by(CHUNK_COLS) {
            let wc = CHUNK_COLS.min(n - j);
            w.fill(j, &mut chunk[..kk * wc]);
            k::gemm_f32_packed(rows, kk, wc, &av, &pack_b_f32(kk, wc, &chunk[..kk * wc]), &mut tmp[..rows * wc]);
            for r in 0..rows {
                out[r * n + j..r * n + j + wc].copy_from_slice(&tmp[r * wc..(r + 1) * wc]);
            }
        }
        if let Some(bias) = bias {
            if bias.len() != n {
                return Err(SquishError::op(format!("bias has {} values; expected N = {n}", bias.len())));
            }
            for row in out.chunks_exact_mut(n) {
                row.iter_mut().zip(bias.iter()).for_each(|(o, b)| *o += b);
            }
        }
        let mut shape = a.shape().to_vec();
        *shape.last_mut().expect("rank ≥ 1") = n;
        Ok(vec![Tensor::F32(ArrayD::from_shape_vec(IxDyn(&shape), out).expect("rows·n values"))])
    }
}
