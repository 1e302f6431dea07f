//! onnxruntime contrib ops (`com.microsoft` domain) that quantised models
//! use: MatMulNBits (block-wise 2/4/8-bit weights) and GatherBlockQuantized
//! (an embedding table in 4- or 8-bit blocks).

use ndarray::{ArrayD, IxDyn};

use super::facts::{input, Facts};
use super::{optional_f32, required, required_f32, BuildCtx, Op, Registry};
use crate::error::{Result, SquishError};
use crate::formats::onnx::nbits::{NBitsLayout, NBitsWeights};
use crate::ir::infer::fixed;
use crate::ir::{Dim, Node};
use crate::kernels::{active as k, pack_b_f32, GEMM_NR};
use crate::tensor::Tensor;

pub fn register(r: &mut Registry) {
    r.insert("com.microsoft", "MatMulNBits", build_nbits);
    r.insert("com.microsoft", "GatherBlockQuantized", build_gather_blocks);
    r.facts("com.microsoft", &["GatherBlockQuantized"], gather_blocks_facts);
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

/// Rows of a `[rows, cols]` table stored as uint8 codes (two 4-bit codes per
/// byte, low nibble first, or one 8-bit code), `block` codes of a row per
/// scale and zero point, as onnxruntime reads them with `gather_axis` 0 and
/// `quantize_axis` 1.
struct GatherBlockQuantized {
    bits: usize,
    block: usize,
}

fn build_gather_blocks(ctx: &BuildCtx) -> Result<Box<dyn Op>> {
    let a = ctx.attrs();
    if a.int("gather_axis", 0)? != 0 {
        return Err(a.error("gather_axis", "only 0 (rows of the table) is supported"));
    }
    if a.int("quantize_axis", 1)? != 1 {
        return Err(a.error("quantize_axis", "only 1 (blocks along each row of a 2-D table) is supported"));
    }
    let bits = a.int("bits", 4)?;
    if bits != 4 && bits != 8 {
        return Err(a.error("bits", format!("must be 4 or 8, got {bits}")));
    }
    let block = a.int("block_size", 128)?;
    if block < 16 || (block & (block - 1)) != 0 {
        return Err(a.error("block_size", format!("must be a power of 2 and at least 16, got {block}")));
    }
    Ok(Box::new(GatherBlockQuantized { bits: bits as usize, block: block as usize }))
}

/// `indices.shape + [cols]`, float like the scales.
fn gather_blocks_facts(node: &Node, ins: &[Facts]) -> Vec<Facts> {
    let (data, idx, scales) = (input(ins, 0), input(ins, 1), input(ins, 2));
    let per_byte = if node.int_attr("bits", 4) == 4 { 2 } else { 1 };
    let shape = match (&data.shape, &idx.shape) {
        (Some(d), Some(i)) if d.len() == 2 => Some([&i[..], &[fixed(&d[1]).map_or(Dim::Unknown, |c| Dim::Fixed(c * per_byte))]].concat()),
        _ => None,
    };
    vec![Facts::with(scales.dtype, shape)]
}

impl Op for GatherBlockQuantized {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let data = match required(inputs, 0)? {
            Tensor::U8(d) if d.ndim() == 2 => super::linalg::contiguous(d),
            Tensor::U8(d) => return Err(SquishError::op(format!("data must be a 2-D table, got shape {:?}", d.shape()))),
            other => return Err(SquishError::op(format!("data must be uint8 (packed codes), got {}", other.dtype()))),
        };
        let per_byte = 8 / self.bits;
        let shape = required(inputs, 0)?.shape().to_vec();
        let (rows, cols) = (shape[0], shape[1] * per_byte);
        let kb = cols.div_ceil(self.block);
        let scales = required_f32(inputs, 2, "scales")?;
        if scales.shape() != [rows, kb] {
            return Err(SquishError::op(format!("scales has shape {:?}; expected [{rows}, {kb}] (rows × blocks of {})", scales.shape(), self.block)));
        }
        let scales = super::linalg::contiguous(scales);
        let default_zp = 1u8 << (self.bits - 1);
        let zero_points: Vec<u8> = match inputs.get(3).copied().flatten() {
            None => vec![default_zp; rows * kb],
            Some(Tensor::U8(z)) => {
                let z = super::linalg::contiguous(z);
                let row_bytes = kb.div_ceil(per_byte);
                if z.len() != rows * row_bytes {
                    return Err(SquishError::op(format!("zero_points has {} bytes; expected {rows} rows of {row_bytes}", z.len())));
                }
                (0..rows * kb).map(|x| unpack(&z[(x / kb) * row_bytes..], x % kb, self.bits)).collect()
            }
            Some(other) => return Err(SquishError::op(format!("zero_points must be uint8, got {}", other.dtype()))),
        };
        let indices = required(inputs, 1)?;
        let idx: Vec<i64> = match indices {
            Tensor::I64(_) | Tensor::I32(_) => indices.to_f64_vec().into_iter().map(|v| v as i64).collect(),
            other => return Err(SquishError::op(format!("indices must be int32 or int64, got {}", other.dtype()))),
        };
        let row_bytes = shape[1];
        let mut out = Vec::with_capacity(idx.len() * cols);
        for &i in &idx {
            let r = if i < 0 { i + rows as i64 } else { i };
            if !(0..rows as i64).contains(&r) {
                return Err(SquishError::op(format!("index {i} is out of range for a table of {rows} rows")));
            }
            let r = r as usize;
            let codes = &data[r * row_bytes..(r + 1) * row_bytes];
            out.extend((0..cols).map(|c| {
                let b = r * kb + c / self.block;
                (unpack(codes, c, self.bits) as f32 - zero_points[b] as f32) * scales[b]
            }));
        }
        let mut out_shape = indices.shape().to_vec();
        out_shape.push(cols);
        Ok(vec![Tensor::F32(ArrayD::from_shape_vec(IxDyn(&out_shape), out).expect("indices × cols values"))])
    }
}

/// Code `i` of a row packed `8 / bits` codes per byte, low bits first.
fn unpack(bytes: &[u8], i: usize, bits: usize) -> u8 {
    if bits == 8 {
        bytes[i]
    } else {
        (bytes[i / 2] >> ((i % 2) * 4)) & 0xF
    }
}
