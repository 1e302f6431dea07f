//! The schemes that replace a node: int8 dynamic (onnxruntime's
//! DynamicQuantizeLinear + MatMulInteger/ConvInteger format), int8 static
//! (QDQ) and block-wise weights (MatMulNBits or blocked DequantizeLinear).

use std::collections::BTreeMap;

use ndarray::Array2;

use super::{attr, code_bytes, code_tensor, f32_tensor, float_attr, node, Rewriter, Step, Stop};
use crate::compress::quant::params::{Affine, Codes, Grouping};
use crate::compress::quant::{BlockFormat, Resolved, Scheme};
use crate::compress::record::StepRecord;
use crate::error::SquishError;
use crate::formats::onnx::nbits::NBitsLayout;
use crate::ir::{AttrValue, Node};
use crate::tensor::Tensor;

impl Rewriter<'_> {
    /// The `[K, N]` weight of a MatMul or Gemm (transposed when `transB`), or why not.
    fn matrix_weight(&self, n: &Node) -> std::result::Result<(String, Array2<f32>), Stop> {
        if n.op_type == "Gemm" && n.int_attr("transA", 0) != 0 {
            return Err(Stop::Skip("Gemm with transA is not quantised".into()));
        }
        let name = n.inputs.get(1).cloned().unwrap_or_default();
        let w = self.checked_weight(&name)?.ok_or_else(|| Stop::Skip(format!("input B '{name}' is not a float32 initializer")))?.clone();
        if w.ndim() != 2 {
            return Err(Stop::Skip(format!("weight '{name}' has shape {:?}; only 2-D weights are quantised", w.shape())));
        }
        let w = w.into_dimensionality::<ndarray::Ix2>().expect("2-D");
        let w = if n.op_type == "Gemm" && n.int_attr("transB", 0) != 0 { w.t().as_standard_layout().into_owned() } else { w };
        Ok((name, w))
    }

    /// Gemm's `+ beta·C` after the product `y` (MatMul: nothing); returns the
    /// name the product must be written to.
    fn gemm_tail(&mut self, n: &Node, out: &mut Vec<Node>) -> std::result::Result<String, Stop> {
        let c = n.inputs.get(2).filter(|c| !c.is_empty()).cloned();
        let Some(c) = c.filter(|_| n.op_type == "Gemm") else { return Ok(n.outputs[0].clone()) };
        let beta = float_attr(n, "beta", 1.0);
        let c_name = if beta == 1.0 {
            c
        } else {
            let scaled =
                self.read_constant(&c).ok_or_else(|| Stop::Skip(format!("Gemm with beta {beta} and a computed C is not quantised")))?.mapv(|v| v * beta);
            self.add_init(&format!("{c}_times_beta"), Tensor::F32(scaled))
        };
        let product = self.fresh(&format!("{}_product", n.outputs[0]));
        out.push(node("Add", self.fresh(&format!("{}_bias", n.name)), vec![product.clone(), c_name], vec![n.outputs[0].clone()], vec![]));
        Ok(product)
    }

    /// The outputs of one DynamicQuantizeLinear per activation, shared by its consumers.
    fn quantize_dynamically(&mut self, x: &str, out: &mut Vec<Node>) -> [String; 3] {
        if let Some(v) = self.dynamic.get(x) {
            return v.clone();
        }
        let names = [self.fresh(&format!("{x}_quantized")), self.fresh(&format!("{x}_scale")), self.fresh(&format!("{x}_zero_point"))];
        let nm = self.fresh(&format!("{x}_DynamicQuantizeLinear"));
        out.push(node("DynamicQuantizeLinear", nm, vec![x.to_string()], names.to_vec(), vec![]));
        self.dynamic.insert(x.to_string(), names.clone());
        names
    }

    /// `MatMulInteger`/`ConvInteger` output (i32) → float, times x_scale·w_scale.
    fn rescale(&mut self, n: &Node, y_int: String, x_scale: &str, w_scale: String, y: String, out: &mut Vec<Node>) {
        let y_f = self.fresh(&format!("{}_float", n.outputs[0]));
        let scale = self.fresh(&format!("{}_scale", n.outputs[0]));
        out.push(node("Cast", self.fresh(&format!("{}_cast", n.name)), vec![y_int], vec![y_f.clone()], vec![attr("to", AttrValue::Int(1))]));
        out.push(node("Mul", self.fresh(&format!("{}_scales", n.name)), vec![x_scale.to_string(), w_scale], vec![scale.clone()], vec![]));
        out.push(node("Mul", self.fresh(&format!("{}_rescale", n.name)), vec![y_f, scale], vec![y], vec![]));
    }

    pub(super) fn dynamic(&mut self, index: usize, n: &Node, s: Resolved, record: &mut StepRecord) -> Step {
        if self.opset() < 11 {
            return Err(Stop::Skip(format!("DynamicQuantizeLinear needs opset ≥ 11; the model imports {}", self.opset())));
        }
        if n.op_type == "Conv" {
            return self.dynamic_conv(index, n, s, record);
        }
        let (name, w) = self.matrix_weight(n)?;
        let alpha = if n.op_type == "Gemm" { float_attr(n, "alpha", 1.0) } else { 1.0 };
        let codes = if s.symmetric { Codes::I8 } else { Codes::U8 };
        let grouping = if s.per_channel { Grouping::PerChannel { axis: 1 } } else { Grouping::PerTensor };
        let mut q = self.round(n, s, w.as_slice().expect("contiguous"), w.shape(), grouping, codes, s.symmetric, true)?;
        let err = q.max_abs_error;
        // Gemm's alpha folds into the weight scale.
        q.params.iter_mut().for_each(|p| p.scale *= alpha);
        let [wq, ws, wz] = <[String; 3]>::try_from(self.quantized_weight_inputs(&name, w.shape(), &q, codes)).expect("three inputs");
        let mut out = Vec::new();
        let [xq, xs, xz] = self.quantize_dynamically(&n.inputs[0], &mut out);
        let mut tail = Vec::new();
        let y = self.gemm_tail(n, &mut tail)?;
        let y_int = self.fresh(&format!("{}_int32", n.outputs[0]));
        out.push(node("MatMulInteger", self.fresh(&format!("{}_MatMulInteger", n.name)), vec![xq, wq, xz, wz], vec![y_int.clone()], vec![]));
        self.rescale(n, y_int, &xs, ws, y, &mut out);
        out.extend(tail);
        self.ed.replace(index, out);
        let grouping = if s.per_channel { "per channel (axis 1)" } else { "per tensor" };
        record.entry(&name, n, "int8_dynamic", grouping.into(), (w.len() * 4, w.len() + q.params.len() * 5), q.sparsity(), err).histogram = q.histogram.clone();
        Ok(())
    }

    /// Conv → ConvInteger. onnxruntime's ConvInteger takes uint8 weights
    /// with one zero point, so weights are uint8 with zero point 128
    /// (symmetric, per channel) or one asymmetric range.
    fn dynamic_conv(&mut self, index: usize, n: &Node, s: Resolved, record: &mut StepRecord) -> Step {
        let name = n.inputs.get(1).cloned().unwrap_or_default();
        let w = self.checked_weight(&name)?.ok_or_else(|| Stop::Skip(format!("weights '{name}' are not a float32 initializer")))?.clone();
        if !(3..=4).contains(&w.ndim()) {
            return Err(Stop::Skip(format!("weights of shape {:?}: only 1-D and 2-D convolutions are quantised", w.shape())));
        }
        let bias = n.inputs.get(2).filter(|b| !b.is_empty()).cloned();
        let bias_value = match &bias {
            Some(b) => Some(self.read_constant(b).ok_or_else(|| Stop::Skip(format!("bias '{b}' is not a float32 constant")))?.clone()),
            None => None,
        };
        let m = w.shape()[0];
        let per_channel = s.per_channel && s.symmetric;
        let grouping = if per_channel { Grouping::PerChannel { axis: 0 } } else { Grouping::PerTensor };
        let q = self.round(n, s, w.as_slice().expect("contiguous"), w.shape(), grouping, Codes::U8, s.symmetric, false)?;
        let wq = self.add_init(&format!("{name}_quantized"), code_tensor(w.shape(), &q.codes, Codes::U8));
        let wz = self.add_init(&format!("{name}_zero_point"), Tensor::scalar(q.params[0].zero_point as u8));
        // Scales broadcast over the output's spatial axes: [M, 1, 1] (or [M, 1]).
        let mut scale_shape = vec![q.params.len()];
        scale_shape.resize(w.ndim() - 1, 1);
        let ws = self.add_init(&format!("{name}_scale"), f32_tensor(&scale_shape, q.params.iter().map(|p| p.scale).collect()));
        let mut out = Vec::new();
        let [xq, xs, xz] = self.quantize_dynamically(&n.inputs[0], &mut out);
        let y_int = self.fresh(&format!("{}_int32", n.outputs[0]));
        let attrs: Vec<_> = n.attributes.clone();
        out.push(node("ConvInteger", self.fresh(&format!("{}_ConvInteger", n.name)), vec![xq, wq, xz, wz], vec![y_int.clone()], attrs));
        let mut tail = Vec::new();
        let y = match (&bias, &bias_value) {
            (Some(b), Some(bv)) => {
                let mut shape = vec![m];
                shape.resize(w.ndim() - 1, 1);
                let b2 = self.add_init(&format!("{b}_reshaped"), f32_tensor(&shape, bv.iter().copied().collect()));
                let pre = self.fresh(&format!("{}_nobias", n.outputs[0]));
                tail.push(node("Add", self.fresh(&format!("{}_bias", n.name)), vec![pre.clone(), b2], vec![n.outputs[0].clone()], vec![]));
                pre
            }
            _ => n.outputs[0].clone(),
        };
        self.rescale(n, y_int, &xs, ws, y, &mut out);
        out.extend(tail);
        self.ed.replace(index, out);
        if s.per_channel && !s.symmetric {
            let why = "per-tensor weight range instead of per channel: onnxruntime's ConvInteger takes one weight zero point, so asymmetric weights get one range (use symmetric weights for per-channel scales)";
            record.warn(n, &name, why.into());
        }
        let grouping = if per_channel { "per channel (axis 0)" } else { "per tensor" };
        record.entry(&name, n, "int8_dynamic", grouping.into(), (w.len() * 4, w.len() + q.params.len() * 4 + 1), q.sparsity(), q.max_abs_error).histogram =
            q.histogram.clone();
        Ok(())
    }

    /// QDQ: the activation input through QuantizeLinear/DequantizeLinear with
    /// its calibrated range (uint8), the weights int8 behind DequantizeLinear.
    pub(super) fn static_qdq(&mut self, index: usize, n: &Node, s: Resolved, ranges: &BTreeMap<String, (f32, f32)>, record: &mut StepRecord) -> Step {
        let x = n.inputs[0].clone();
        let &(lo, hi) = ranges.get(&x).ok_or_else(|| Stop::Skip(format!("no calibrated range for input '{x}'")))?;
        let (slot, _) = self.weight_slot(n).expect("static ops have weights");
        if self.weight(&n.inputs[slot]).is_none() && !self.converted.contains(&n.inputs[slot]) {
            return Err(Stop::Skip(format!("weights '{}' are not a float32 initializer", n.inputs[slot])));
        }
        if n.op_type == "Gemm" && n.int_attr("transA", 0) != 0 {
            return Err(Stop::Skip("Gemm with transA is not quantised".into()));
        }
        let weight_settings = Resolved { symmetric: true, ..s };
        let before = record.record.entries.len();
        self.weight_only(n, weight_settings, record)?;
        if let Some(c) = record.record.entries.get_mut(before) {
            c.settings = Scheme::Int8Static.name().into();
        }
        let mut out = Vec::new();
        let x_dq = match self.qdq.get(&x) {
            Some(v) => v.clone(),
            None => {
                let p = Affine::asymmetric(lo, hi, Codes::U8);
                let sc = self.add_init(&format!("{x}_scale"), Tensor::scalar(p.scale));
                let zp = self.add_init(&format!("{x}_zero_point"), Tensor::scalar(p.zero_point as u8));
                let (xq, xdq) = (self.fresh(&format!("{x}_quantized")), self.fresh(&format!("{x}_dequantized")));
                out.push(node("QuantizeLinear", self.fresh(&format!("{x}_QuantizeLinear")), vec![x.clone(), sc.clone(), zp.clone()], vec![xq.clone()], vec![]));
                out.push(node("DequantizeLinear", self.fresh(&format!("{x}_DequantizeLinear")), vec![xq, sc, zp], vec![xdq.clone()], vec![]));
                self.qdq.insert(x.clone(), xdq.clone());
                record.record.calibrated_ranges.push((x.clone(), lo, hi));
                xdq
            }
        };
        let mut rewired = n.clone();
        rewired.inputs[0] = x_dq;
        out.push(rewired);
        self.ed.replace(index, out);
        Ok(())
    }

    /// Block-wise 4- or 8-bit weights along K, one scale per block of each column.
    pub(super) fn blocked(&mut self, index: usize, n: &Node, s: Resolved, record: &mut StepRecord) -> Step {
        let (name, w) = self.matrix_weight(n)?;
        if n.op_type == "Gemm" && float_attr(n, "alpha", 1.0) != 1.0 {
            return Err(Stop::Skip("Gemm with alpha ≠ 1 is not block-quantised".into()));
        }
        let bits = if s.scheme == Scheme::Int4Block { 4 } else { 8 };
        let (kk, nn) = (w.shape()[0], w.shape()[1]);
        let block = s.block_size;
        let kb = kk.div_ceil(block);
        let mut out = Vec::new();
        let mut tail = Vec::new();
        let y = self.gemm_tail(n, &mut tail)?;
        let scheme = s.scheme.name();
        match s.format {
            BlockFormat::Matmulnbits => {
                let codes = if bits == 4 { Codes::U4 } else { Codes::U8 };
                let q = self.round(n, s, w.as_slice().expect("contiguous"), w.shape(), Grouping::Blocked { axis: 0, block }, codes, s.symmetric, true)?;
                let layout = NBitsLayout::new(kk, nn, bits, block).map_err(|e| Stop::Fail(SquishError::Recipe(format!("node '{}': {e}", n.name))))?;
                let zero_points: Vec<u8> = q.params.iter().map(|p| p.zero_point as u8).collect();
                let (b, z) = layout.pack(&q.codes, &zero_points);
                let scales = layout.scales_by_column(&q.params.iter().map(|p| p.scale).collect::<Vec<_>>());
                let shape = [nn, kb, layout.blob_bytes()];
                let b_name = self.add_init(&format!("{name}_nbits"), Tensor::U8(ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&shape), b).expect("shape")));
                let s_name = self.add_init(&format!("{name}_scales"), f32_tensor(&[nn * kb], scales));
                let mut inputs = vec![n.inputs[0].clone(), b_name, s_name];
                let mut after = nn * kb * (layout.blob_bytes() + 4);
                if !s.symmetric {
                    after += z.len();
                    let zp = Tensor::U8(ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&[z.len()]), z).expect("shape"));
                    inputs.push(self.add_init(&format!("{name}_zero_points"), zp));
                }
                let attrs = vec![
                    attr("K", AttrValue::Int(kk as i64)),
                    attr("N", AttrValue::Int(nn as i64)),
                    attr("bits", AttrValue::Int(bits as i64)),
                    attr("block_size", AttrValue::Int(block as i64)),
                ];
                let mut mm = node("MatMulNBits", self.fresh(&format!("{}_MatMulNBits", n.name)), inputs, vec![y], attrs);
                mm.domain = "com.microsoft".into();
                out.push(mm);
                self.needs_ms_domain = true;
                let grouping = format!("blocks of {block} along K");
                record.entry(&name, n, &format!("{scheme} (MatMulNBits)"), grouping, (w.len() * 4, after), q.sparsity(), q.max_abs_error).histogram =
                    q.histogram.clone();
            }
            BlockFormat::Qdq => {
                if self.opset() < 21 {
                    return Err(Stop::Fail(SquishError::Recipe(format!(
                        "node '{}': {scheme} with format \"qdq\" needs blocked DequantizeLinear (opset ≥ 21) but the model imports opset {}; use format \"matmulnbits\"",
                        n.name,
                        self.opset()
                    ))));
                }
                let codes = match (bits, s.symmetric) {
                    (4, true) => Codes::I4,
                    (4, false) => Codes::U4,
                    (_, true) => Codes::I8,
                    _ => Codes::U8,
                };
                let q = self.round(n, s, w.as_slice().expect("contiguous"), w.shape(), Grouping::Blocked { axis: 0, block }, codes, s.symmetric, true)?;
                let inputs = self.quantized_weight_inputs(&name, w.shape(), &q, codes);
                let w_dq = self.fresh(&format!("{name}_dequantized"));
                let attrs = vec![attr("axis", AttrValue::Int(0)), attr("block_size", AttrValue::Int(block as i64))];
                let dq_name = self.fresh(&format!("{name}_DequantizeLinear"));
                self.ed.prepend(node("DequantizeLinear", dq_name, inputs, vec![w_dq.clone()], attrs));
                out.push(node("MatMul", self.fresh(&format!("{}_MatMul", n.name)), vec![n.inputs[0].clone(), w_dq], vec![y], vec![]));
                let after = code_bytes(w.len(), codes) + q.params.len() * 4 + code_bytes(q.params.len(), codes);
                let grouping = format!("blocks of {block} along K");
                record.entry(&name, n, &format!("{scheme} (QDQ)"), grouping, (w.len() * 4, after), q.sparsity(), q.max_abs_error).histogram =
                    q.histogram.clone();
            }
        }
        out.extend(tail);
        self.ed.replace(index, out);
        Ok(())
    }
}
