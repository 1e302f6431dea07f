//! Embedding tables (`Gather` of a float initializer): the largest weight of
//! a small transformer. 8-bit schemes store them per row behind a
//! `DequantizeLinear` (`Rewriter::weight_only`); block schemes store them in
//! 4- or 8-bit blocks along each row, as onnxruntime's
//! `com.microsoft.GatherBlockQuantized` (which dequantises only the rows
//! gathered) or as a blocked `DequantizeLinear` (opset ≥ 21).

use super::{attr, code_bytes, f32_tensor, node, Rewriter, Step, Stop};
use crate::compress::quant::params::{Codes, Grouping, Quantized};
use crate::compress::quant::{BlockFormat, Resolved, Scheme};
use crate::compress::record::StepRecord;
use crate::error::SquishError;
use crate::ir::{AttrValue, Node};
use crate::tensor::Tensor;

/// Tables smaller than this stay float32: every token adds one of their rows
/// (token-type and small position tables), so their rounding error reaches
/// every output, for a saving of under 3 KB. Measured on paraphrase-MiniLM-L3:
/// its 2×384 token-type table in int8 costs 0.0025 of minimum cosine.
pub const MIN_TABLE_ELEMENTS: usize = 1024;

impl Rewriter<'_> {
    /// Why `n`'s table is left as it is, if it is.
    pub(super) fn table_refusal(&self, n: &Node) -> Option<String> {
        let w = self.weight(&n.inputs[0])?;
        (w.len() < MIN_TABLE_ELEMENTS).then(|| {
            format!("table '{}' has {} values: tables under {MIN_TABLE_ELEMENTS} stay float32 (each token adds one of their rows, and quantising it would save under 3 KB)", n.inputs[0], w.len())
        })
    }

    /// A table in blocks of `block_size` along each row (4- or 8-bit).
    pub(super) fn blocked_table(&mut self, index: usize, n: &Node, s: Resolved, record: &mut StepRecord) -> Step {
        if let Some(why) = self.table_refusal(n) {
            return Err(Stop::Skip(why));
        }
        let name = n.inputs[0].clone();
        if n.int_attr("axis", 0) != 0 {
            return Err(Stop::Skip(format!("Gather along axis {} is not block-quantised (tables are gathered by rows)", n.int_attr("axis", 0))));
        }
        // A table another node also reads (a tied output projection) must stay a
        // float tensor for it: one dequantised copy, per row.
        let shared = self.editor().consumers(&name).len() > 1;
        if shared || self.converted.contains(&name) {
            return self.weight_only(n, Resolved { scheme: if s.scheme == Scheme::Int4Block { Scheme::Int4Weight } else { Scheme::Int8Weight }, ..s }, record);
        }
        let w = self.checked_weight(&name)?.ok_or_else(|| Stop::Skip(format!("table '{name}' is not a float32 initializer")))?;
        if w.ndim() != 2 {
            return Err(Stop::Skip(format!("table '{name}' has shape {:?}; only 2-D tables are block-quantised", w.shape())));
        }
        let (shape, len) = (w.shape().to_vec(), w.len());
        let bits = if s.scheme == Scheme::Int4Block { 4 } else { 8 };
        let grouping = Grouping::Blocked { axis: 1, block: s.block_size };
        let (entry, after) = match s.format {
            BlockFormat::Matmulnbits => {
                let codes = if bits == 4 { Codes::U4 } else { Codes::U8 };
                let q = self.round(n, s, w.as_slice().expect("contiguous"), &shape, grouping, codes, s.symmetric, false)?;
                let after = self.gather_block_quantized(index, n, &shape, &q, bits, s);
                ((format!("{} (GatherBlockQuantized)", s.scheme.name()), q), after)
            }
            BlockFormat::Qdq => {
                if self.opset() < 21 {
                    let detail = format!(
                        "node '{}': {} with format \"qdq\" needs blocked DequantizeLinear (opset ≥ 21) but the model imports opset {}; use format \"matmulnbits\" (GatherBlockQuantized for tables)",
                        n.name,
                        s.scheme.name(),
                        self.opset()
                    );
                    return Err(Stop::Fail(SquishError::Recipe(detail)));
                }
                let codes = match (bits, s.symmetric) {
                    (4, true) => Codes::I4,
                    (4, false) => Codes::U4,
                    (_, true) => Codes::I8,
                    _ => Codes::U8,
                };
                let q = self.round(n, s, w.as_slice().expect("contiguous"), &shape, grouping, codes, s.symmetric, false)?;
                self.ed.remove_initializer(&name);
                self.converted.insert(name.clone());
                let inputs = self.quantized_weight_inputs(&name, &shape, &q, codes);
                let attrs = vec![attr("axis", AttrValue::Int(1)), attr("block_size", AttrValue::Int(s.block_size as i64))];
                let dq = self.fresh(&format!("{name}_DequantizeLinear"));
                self.ed.prepend(node("DequantizeLinear", dq, inputs, vec![name.clone()], attrs));
                let after = code_bytes(len, codes) + q.params.len() * 4 + code_bytes(q.params.len(), codes);
                ((format!("{} (QDQ)", s.scheme.name()), q), after)
            }
        };
        let ((label, q), grouping) = (entry, format!("blocks of {} along each row", s.block_size));
        record.entry(&name, n, &label, grouping, (len * 4, after), q.sparsity(), q.max_abs_error).histogram = q.histogram.clone();
        Ok(())
    }

    /// Replaces the Gather by `GatherBlockQuantized`; returns the stored bytes.
    fn gather_block_quantized(&mut self, index: usize, n: &Node, shape: &[usize], q: &Quantized, bits: usize, s: Resolved) -> usize {
        let name = &n.inputs[0];
        let (rows, cols) = (shape[0], shape[1]);
        let kb = cols.div_ceil(s.block_size);
        let data = pack_rows(&q.codes, rows, cols, bits);
        let zero_points: Vec<i16> = q.params.iter().map(|p| p.zero_point as i16).collect();
        self.ed.remove_initializer(name);
        self.converted.insert(name.clone());
        let data_bytes = data.len();
        let data = self.add_init(
            &format!("{name}_blocks"),
            Tensor::U8(ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&[rows, data_bytes / rows.max(1)]), data).expect("shape")),
        );
        let scales = self.add_init(&format!("{name}_scales"), f32_tensor(&[rows, kb], q.params.iter().map(|p| p.scale).collect()));
        let mut inputs = vec![data, n.inputs[1].clone(), scales];
        let mut after = data_bytes + rows * kb * 4;
        // Symmetric zero points are the op's default (8 or 128): not stored.
        if !s.symmetric {
            let zp = pack_rows(&zero_points, rows, kb, bits);
            after += zp.len();
            let zp = Tensor::U8(ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&[rows, zp.len() / rows.max(1)]), zp).expect("shape"));
            inputs.push(self.add_init(&format!("{name}_zero_points"), zp));
        }
        let attrs = vec![
            attr("gather_axis", AttrValue::Int(0)),
            attr("quantize_axis", AttrValue::Int(1)),
            attr("block_size", AttrValue::Int(s.block_size as i64)),
            attr("bits", AttrValue::Int(bits as i64)),
        ];
        let mut g = node("GatherBlockQuantized", self.fresh(&format!("{}_GatherBlockQuantized", n.name)), inputs, n.outputs.clone(), attrs);
        g.domain = "com.microsoft".into();
        self.needs_ms_domain = true;
        self.ed.replace(index, vec![g]);
        after
    }
}

/// `rows × cols` codes as bytes, row by row: two 4-bit codes per byte (low
/// nibble first; an odd row ends in a half-filled byte) or one 8-bit code.
fn pack_rows(codes: &[i16], rows: usize, cols: usize, bits: usize) -> Vec<u8> {
    if bits == 8 {
        return codes.iter().map(|&c| c as u8).collect();
    }
    let per_row = cols.div_ceil(2);
    let mut out = vec![0u8; rows * per_row];
    for r in 0..rows {
        for c in 0..cols {
            out[r * per_row + c / 2] |= ((codes[r * cols + c] as u8) & 0xF) << ((c % 2) * 4);
        }
    }
    out
}
