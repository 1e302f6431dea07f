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

/// Largest dequantised weight (f32 bytes) packed once at load: above it the
/// weight is dequantised column chunk by column chunk at every call, which
/// keeps memory at the 4-bit size but costs a pass over every code per run.
const PREPACK_MAX_BYTES: usize = 16 << 20;

struct MatMulNBits {
    layout: NBitsLayout,
    /// Constant weights dequantised and packed for the GEMM at load (the
    /// same products as the chunked path, bit for bit: one sum order per output).
    packed: Option<Vec<f32>>,
}

/// Dequantises and packs B when B, its scales and zero points are constants
/// and the float form is small enough; a malformed weight is left for
/// `eval` to report.
fn prepack_nbits(ctx: &BuildCtx, layout: NBitsLayout) -> Option<Vec<f32>> {
    if layout.k * layout.n * 4 > PREPACK_MAX_BYTES || ctx.node.inputs.get(3).is_some_and(|z| !z.is_empty()) && ctx.constant(3).is_none() {
        return None;
    }
    let Tensor::U8(b) = ctx.constant(1)? else { return None };
    let scales: Vec<f32> = ctx.constant(2)?.to_f64_vec().into_iter().map(|v| v as f32).collect();
    let b_flat = super::linalg::contiguous(b);
    let w = NBitsWeights::new(layout, &b_flat, scales, ctx.constant(3)).ok()?;
    let mut dense = vec![0.0f32; layout.k * layout.n];
    w.fill(0, &mut dense);
    Some(pack_b_f32(layout.k, layout.n, &dense))
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
    Ok(Box::new(MatMulNBits { layout, packed: prepack_nbits(ctx, layout) }))
}

impl Op for MatMulNBits {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let a = required_f32(inputs, 0, "input A")?;
        let bias = optional_f32(inputs, 5, "bias")?;
        let (kk, n) = (self.layout.k, self.layout.n);
        if a.shape().last() != Some(&kk) {
            return Err(SquishError::op(format!("A has shape {:?}; its last axis must be K = {kk}", a.shape())));
        }
        let rows = a.len() / kk;
        let av = super::linalg::contiguous(a);
        let mut out = vec![0.0f32; rows * n];
        match &self.packed {
            Some(panels) => k::gemm_f32_packed(rows, kk, n, &av, panels, &mut out),
            None => self.multiply_chunked(inputs, rows, &av, &mut out)?,
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

impl MatMulNBits {
    /// `a · B` with B dequantised column chunk by column chunk (k × 64 floats
    /// at a time), for weights known only at run time or too large to keep in f32.
    fn multiply_chunked(&self, inputs: &[Option<&Tensor>], rows: usize, a: &[f32], out: &mut [f32]) -> Result<()> {
        let b = match required(inputs, 1)? {
            Tensor::U8(b) => b,
            other => return Err(SquishError::op(format!("input B must be uint8, got {}", other.dtype()))),
        };
        let scales: Vec<f32> = required(inputs, 2)?.to_f64_vec().into_iter().map(|v| v as f32).collect();
        let b_flat = super::linalg::contiguous(b);
        let w = NBitsWeights::new(self.layout, &b_flat, scales, inputs.get(3).copied().flatten())?;
        let (kk, n) = (self.layout.k, self.layout.n);
        let mut chunk = vec![0.0f32; kk * CHUNK_COLS];
        let mut tmp = vec![0.0f32; rows * CHUNK_COLS];
        for j in (0..n).step_by(CHUNK_COLS) {
            let wc = CHUNK_COLS.min(n - j);
            w.fill(j, &mut chunk[..kk * wc]);
            k::gemm_f32_packed(rows, kk, wc, a, &pack_b_f32(kk, wc, &chunk[..kk * wc]), &mut tmp[..rows * wc]);
            for r in 0..rows {
                out[r * n + j..r * n + j + wc].copy_from_slice(&tmp[r * wc..(r + 1) * wc]);
            }
        }
        Ok(())
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
        // Zero points are read for the gathered rows only (a table has
        // tens of thousands of rows; a run reads a few).
        let packed_zero_points = match inputs.get(3).copied().flatten() {
            None => None,
            Some(Tensor::U8(z)) => {
                let z = super::linalg::contiguous(z);
                let row_bytes = kb.div_ceil(per_byte);
                if z.len() != rows * row_bytes {
                    return Err(SquishError::op(format!("zero_points has {} bytes; expected {rows} rows of {row_bytes}", z.len())));
                }
                Some((z, row_bytes))
            }
            Some(other) => return Err(SquishError::op(format!("zero_points must be uint8, got {}", other.dtype()))),
        };
        let zero_point = |r: usize, blk: usize| -> f32 {
            match &packed_zero_points {
                None => (1u8 << (self.bits - 1)) as f32,
                Some((z, row_bytes)) => unpack(&z[r * row_bytes..], blk, self.bits) as f32,
            }
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
            let row_zero_points: Vec<f32> = (0..kb).map(|blk| zero_point(r, blk)).collect();
            out.extend((0..cols).map(|c| {
                let blk = c / self.block;
                (unpack(codes, c, self.bits) as f32 - row_zero_points[blk]) * scales[r * kb + blk]
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{AttrValue, Attribute};
    use crate::ops::NoSubgraphs;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn nbits_node(k: usize, n: usize, block: usize) -> Node {
        let int = |name: &str, v: usize| Attribute { name: name.into(), value: AttrValue::Int(v as i64) };
        Node {
            name: "mm".into(),
            op_type: "MatMulNBits".into(),
            domain: "com.microsoft".into(),
            inputs: ["a", "b", "s", "z"].map(String::from).to_vec(),
            outputs: vec!["y".into()],
            attributes: vec![int("K", k), int("N", n), int("bits", 4), int("block_size", block)],
            doc_string: String::new(),
        }
    }

    /// Constant weights packed at load give the chunked path's products bit
    /// for bit (N over several chunks and a partial one, K over a partial block).
    #[wasm_bindgen_test(unsupported = test)]
    fn prepacked_weights_equal_dequantising_per_call() {
        let (k, n, block, rows) = (77, 3 * CHUNK_COLS + 5, 32, 9);
        let layout = NBitsLayout::new(k, n, 4, block).unwrap();
        let kb = layout.k_blocks();
        let codes: Vec<i16> = (0..k * n).map(|i| ((i * 7 + i / 13) % 16) as i16).collect();
        let zps: Vec<u8> = (0..kb * n).map(|i| ((i * 5) % 16) as u8).collect();
        let (b, z) = layout.pack(&codes, &zps);
        let b = Tensor::from_vec(&[n, kb, layout.blob_bytes()], b).unwrap();
        let z = Tensor::from_vec(&[z.len()], z).unwrap();
        let s = Tensor::from_vec(&[n * kb], (0..n * kb).map(|i| 0.01 + (i % 11) as f32 * 0.003).collect::<Vec<f32>>()).unwrap();
        let a = Tensor::from_vec(&[rows, k], (0..rows * k).map(|i| ((i * 31) % 97) as f32 / 17.0 - 2.5).collect::<Vec<f32>>()).unwrap();
        let node = nbits_node(k, n, block);
        let planner = NoSubgraphs("none");
        let build = |constants: &[Option<&Tensor>]| build_nbits(&BuildCtx { node: &node, opset: 1, planner: &planner, captures: &[], constants }).unwrap();
        let constants = [None, Some(&b), Some(&s), Some(&z)];
        let ctx = BuildCtx { node: &node, opset: 1, planner: &planner, captures: &[], constants: &constants };
        assert!(prepack_nbits(&ctx, layout).is_some(), "constant weights are packed at load");
        let (constant, per_call) = (build(&constants), build(&[]));
        let inputs = [Some(&a), Some(&b), Some(&s), Some(&z)];
        let (x, y) = (constant.eval(&inputs).unwrap().remove(0), per_call.eval(&inputs).unwrap().remove(0));
        assert_eq!(x.shape(), [rows, n]);
        let (x, y) = (x.as_f32().unwrap(), y.as_f32().unwrap());
        assert!(x.iter().zip(y.iter()).all(|(p, q)| p.to_bits() == q.to_bits()));
    }
}
