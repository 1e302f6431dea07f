//! Fine-tuning a quantised model: its integer weights are trained as floats
//! through simulated quantisation and written back as codes.
//!
//! The training form replaces each `DequantizeLinear` of an integer weight
//! by a float copy of the weight (its dequantised value) read through a
//! `FakeQuantize` node with the same scale, zero point, axis and blocks, and
//! each `QuantizeLinear → DequantizeLinear` pair on activations (static
//! int8) by one `FakeQuantize`. Forward, the training form computes exactly
//! what the quantised model computes; backward, rounding passes gradients
//! straight through. Scales and zero points are not trained, so the
//! written model has the structure and parameters it came with, new codes.

use std::collections::HashMap;

use crate::error::{Result, SquishError};
use crate::ir::editor::Editor;
use crate::ir::{AttrValue, Attribute, Model, Node};
use crate::ops::internal::{FAKE_QUANTIZE, INTERNAL_DOMAIN};
use crate::ops::{BuildCtx, NoSubgraphs, Registry};
use crate::tensor::Tensor;

/// Ops whose integer weights training cannot reach: their schemes keep the
/// codes inside one fused op.
const OPAQUE: [&str; 6] = ["MatMulNBits", "MatMulInteger", "ConvInteger", "QLinearMatMul", "QLinearConv", "DynamicQuantizeLinear"];

/// The training form of `model` and, per weight trained through
/// `FakeQuantize`, `(float weight, codes initializer)`. A model without
/// quantised weights comes back as it is, with no pairs.
pub fn training_form(model: &Model) -> Result<(Model, Vec<(String, String)>)> {
    // The op holding the codes first (before the DynamicQuantizeLinear feeding it).
    if let Some(n) = OPAQUE.iter().find_map(|op| model.graph.nodes.iter().find(|n| n.op_type == *op)) {
        return Err(SquishError::Recipe(format!(
            "section 'distill': node '{}' is {}: fine-tuning reaches quantised weights stored as DequantizeLinear codes \
             (int8_weight, int4_weight, int8_static, int4/int8 blocks with format \"qdq\"); for this scheme, distil before quantising (steps: distill, then quantize)",
            n.name, n.op_type
        )));
    }
    let opset = model.opset("").unwrap_or(1);
    let mut ed = Editor::borrowed(&model.graph);
    let mut pairs = Vec::new();
    let registry = Registry::standard();
    for i in 0..ed.nodes().len() {
        let n = ed.nodes()[i].clone();
        if n.op_type != "DequantizeLinear" || !n.domain.is_empty() {
            continue;
        }
        let input = |k: usize| n.inputs.get(k).filter(|s| !s.is_empty());
        let codes = input(0).and_then(|c| ed.initializer(c).map(|t| (c.clone(), t.clone())));
        if let Some((codes_name, codes)) = codes.filter(|(_, t)| !t.dtype().is_float()) {
            // A quantised weight: its dequantised value becomes the trained float.
            let scale = input(1).and_then(|s| ed.initializer(s)).ok_or_else(|| not_constant(&n, "scale"))?;
            let zp = input(2).and_then(|z| ed.initializer(z));
            let builder = registry.get("", "DequantizeLinear").expect("a standard op");
            let op = builder(&BuildCtx { node: &n, opset, planner: &NoSubgraphs("a DequantizeLinear has no subgraphs"), captures: &[], constants: &[] })?;
            let float = op.eval(&[Some(&codes), Some(scale), zp]).map_err(|e| e.in_node(&n.name, &n.op_type))?.swap_remove(0);
            if !matches!(float, Tensor::F32(_)) {
                continue;
            }
            let weight = ed.add_initializer(&format!("{codes_name}.trained"), float);
            let mut inputs = n.inputs.clone();
            inputs[0] = weight.clone();
            let fq = fake_quantize(&mut ed, &n, inputs, &n.outputs[0], codes.dtype());
            ed.replace(i, vec![fq]);
            pairs.push((weight, codes_name));
        } else if let Some(q) = input(0).and_then(|x| ed.producer(x)).filter(|&q| activation_pair(&ed, q, &n)) {
            let qn = ed.nodes()[q].clone();
            let dtype = input(2).and_then(|z| ed.initializer(z)).map(|t| t.dtype());
            let mut fq = fake_quantize(&mut ed, &qn, qn.inputs.clone(), &n.outputs[0], dtype.unwrap_or(crate::tensor::DType::U8));
            if dtype.is_none() {
                // QuantizeLinear's own output type (uint8 unless output_dtype says).
                fq.attributes.retain(|a| a.name != "output_dtype");
                fq.attributes.extend(qn.attributes.iter().filter(|a| a.name == "output_dtype").cloned());
            }
            ed.remove(q);
            ed.replace(i, vec![fq]);
        }
    }
    let mut out = model.clone();
    out.graph = ed.finish();
    Ok((out, pairs))
}

fn not_constant(n: &Node, what: &str) -> SquishError {
    SquishError::Recipe(format!("section 'distill': node '{}' (DequantizeLinear) dequantises a weight with a {what} that is not a constant", n.name))
}

/// `QuantizeLinear(x, s, z) → DequantizeLinear(·, s, z)` with nothing else
/// reading the codes: the pair static int8 puts on activations.
fn activation_pair(ed: &Editor, q: usize, dq: &Node) -> bool {
    let qn = &ed.nodes()[q];
    let attrs = |n: &Node| n.attributes.iter().filter(|a| a.name == "axis" || a.name == "block_size").cloned().collect::<Vec<_>>();
    qn.op_type == "QuantizeLinear"
        && qn.domain.is_empty()
        && ed.consumers(&qn.outputs[0]).len() == 1
        && qn.inputs.get(1..) == dq.inputs.get(1..)
        && attrs(qn) == attrs(dq)
}

/// A FakeQuantize node in `like`'s place: its inputs, its axis and blocks,
/// codes of `dtype`, the result under `output`.
fn fake_quantize(ed: &mut Editor, like: &Node, inputs: Vec<String>, output: &str, dtype: crate::tensor::DType) -> Node {
    let mut attributes: Vec<Attribute> = like.attributes.iter().filter(|a| a.name == "axis" || a.name == "block_size").cloned().collect();
    attributes.push(Attribute { name: "output_dtype".into(), value: AttrValue::Int(dtype.onnx_code() as i64) });
    let codes = ed.fresh(&format!("{output}.codes"));
    Node {
        name: ed.fresh(&format!("{}.fake_quantize", like.name)),
        op_type: FAKE_QUANTIZE.into(),
        domain: INTERNAL_DOMAIN.into(),
        inputs,
        outputs: vec![output.to_string(), codes],
        attributes,
        doc_string: String::new(),
    }
}

/// The quantised weights to train (`true`: a prunable matrix), unless a
/// node in `excluded` reads them.
pub fn fake_quantized_weights(training: &Model, excluded: &[String]) -> HashMap<String, bool> {
    let mut out = HashMap::new();
    let read_by_excluded = |value: &str| training.graph.nodes.iter().any(|m| excluded.contains(&m.name) && m.inputs.iter().any(|i| i == value));
    for n in training.graph.nodes.iter().filter(|n| n.op_type == FAKE_QUANTIZE && n.domain == INTERNAL_DOMAIN) {
        if read_by_excluded(&n.outputs[0]) {
            continue;
        }
        if let Some(Tensor::F32(a)) = training.graph.initializer(&n.inputs[0]) {
            out.insert(n.inputs[0].clone(), a.ndim() >= 2);
        }
    }
    out
}
