//! onnxruntime contrib ops (`com.microsoft` domain) that quantised models
//! use: MatMulNBits (block-wise 2/4/8-bit weights).

use ndarray::{ArrayD, IxDyn};

use super::{optional_f32, required, required_f32, BuildCtx, Op, Registry};
use crate::error::{Result, SquishError};
use crate::kernels::{active as k, pack_b_f32, GEMM_NR};
use crate::tensor::Tensor;

pub fn register(r: &mut Registry) {
    r.insert("com.microsoft", "MatMulNBits", build_nbits);
}

/// Columns dequantised at a time: large enough to amortise packing A,
/// small enough that the f32 scratch stays in cache (k × 64 floats).
const CHUNK_COLS: usize = 8 * GEMM_NR;

struct MatMulNBits {
    k: usize,
    n: usize,
    bits: usize,
    block: usize,
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
    if ![2, 4, 8].contains(&bits) {
        return Err(a.error("bits", format!("must be 2, 4 or 8, got {bits}")));
    }
    if block < 16 || !block.is_power_of_two() {
        return Err(a.error("block_size", format!("must be a power of two ≥ 16, got {block}")));
    }
    if ctx.node.inputs.get(4).is_some_and(|s| !s.is_empty()) {
        return Err(a.error("g_idx", "act-order group indices (input 4) are not supported"));
    }
    Ok(Box::new(MatMulNBits { k: kk, n, bits: bits as usize, block }))
}

/// The packed weights of a MatMulNBits node, checked against K, N, bits and
/// block size; dequantises any range of columns.
pub struct NBitsWeights<'a> {
    b: &'a [u8],
    scales: Vec<f32>,
    zero_points: ZeroPoints,
    k: usize,
    bits: usize,
    block: usize,
}

enum ZeroPoints {
    Default(f32),
    /// Packed like the weights, one row of `ceil(k_blocks·bits/8)` bytes per column.
    Packed(Vec<u8>, usize),
    Float(Vec<f32>),
}

impl<'a> NBitsWeights<'a> {
    pub fn new(b: &'a [u8], scales: Vec<f32>, zero_points: Option<&Tensor>, k: usize, n: usize, bits: usize, block: usize) -> Result<Self> {
        let blocks = k.div_ceil(block);
        let blob = block * bits / 8;
        if b.len() != n * blocks * blob {
            return Err(SquishError::op(format!("B has {} bytes; expected N·k_blocks·blob_size = {n}·{blocks}·{blob}", b.len())));
        }
        if scales.len() != n * blocks {
            return Err(SquishError::op(format!("scales has {} values; expected N·k_blocks = {}", scales.len(), n * blocks)));
        }
        let zp_row = (blocks * bits).div_ceil(8);
        let zero_points = match zero_points {
            None => ZeroPoints::Default((1u32 << (bits - 1)) as f32),
            Some(Tensor::U8(z)) if z.len() == n * zp_row => ZeroPoints::Packed(z.iter().copied().collect(), zp_row),
            Some(Tensor::U8(z)) => return Err(SquishError::op(format!("packed zero_points has {} bytes; expected {}", z.len(), n * zp_row))),
            Some(t) if t.len() == n * blocks => ZeroPoints::Float(t.to_f64_vec().into_iter().map(|v| v as f32).collect()),
            Some(t) => return Err(SquishError::op(format!("zero_points has {} values; expected {}", t.len(), n * blocks))),
        };
        Ok(NBitsWeights { b, scales, zero_points, k, bits, block })
    }

    /// Columns `j..j + out.len() / k` of the dequantised `[K, N]` matrix,
    /// row-major into `out`.
    pub fn fill(&self, j: usize, out: &mut [f32]) {
        let (k, bits, block) = (self.k, self.bits, self.block);
        let wc = out.len() / k.max(1);
        let blocks = k.div_ceil(block);
        let (blob, per) = (block * bits / 8, 8 / bits);
        let mask = ((1u16 << bits) - 1) as u8;
        for c in 0..wc {
            let col = j + c;
            for blk in 0..blocks {
                let s = self.scales[col * blocks + blk];
                let z = match &self.zero_points {
                    ZeroPoints::Default(z) => *z,
                    ZeroPoints::Packed(zp, row) => ((zp[col * row + blk / per] >> ((blk % per) * bits)) & mask) as f32,
                    ZeroPoints::Float(zp) => zp[col * blocks + blk],
                };
                let bytes = &self.b[(col * blocks + blk) * blob..(col * blocks + blk + 1) * blob];
                for i in 0..block.min(k - blk * block) {
                    let q = (bytes[i / per] >> ((i % per) * bits)) & mask;
                    out[(blk * block + i) * wc + c] = (q as f32 - z) * s;
                }
            }
        }
    }
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
        let (kk, n) = (self.k, self.n);
        if a.shape().last() != Some(&kk) {
            return Err(SquishError::op(format!("A has shape {:?}; its last axis must be K = {kk}", a.shape())));
        }
        let b_flat = super::linalg::contiguous(b);
        let w = NBitsWeights::new(&b_flat, scales, zp, kk, n, self.bits, self.block)?;
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
