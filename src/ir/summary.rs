//! What `squish inspect` and the page's model panel show.

use serde::Serialize;

use super::{AttrValue, Model, ValueInfo, ValueType};
use crate::tensor::codes::data_type;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ValueSummary {
    pub name: String,
    /// `float32`, `int64`, ...; `sequence`/`map`/`optional` for non-tensors.
    pub dtype: String,
    /// One entry per dimension: a number, a symbolic name or `?`.
    /// `None` when the model does not declare a shape.
    pub shape: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OpsetSummary {
    pub domain: String,
    pub version: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ModelSummary {
    pub graph_name: String,
    pub producer: String,
    pub ir_version: i64,
    pub opsets: Vec<OpsetSummary>,
    pub inputs: Vec<ValueSummary>,
    pub outputs: Vec<ValueSummary>,
    pub node_count: usize,
    /// `(op_type, count)`, most frequent first.
    pub op_counts: Vec<(String, usize)>,
    /// Elements in initializers and `Constant` nodes.
    pub parameter_count: u64,
    /// Bytes those weights take in memory.
    pub weight_bytes: u64,
    pub file_bytes: u64,
    pub metadata: Vec<(String, String)>,
}

fn value_summary(vi: &ValueInfo) -> ValueSummary {
    let (dtype, shape) = match &vi.ty {
        ValueType::Tensor { elem_type, shape } => {
            (data_type::name(*elem_type).to_string(), shape.as_ref().map(|dims| dims.iter().map(|d| d.to_string()).collect()))
        }
        ValueType::Other { kind, .. } => (kind.clone(), None),
        ValueType::Unknown => ("unknown".to_string(), None),
    };
    ValueSummary { name: vi.name.clone(), dtype, shape }
}

pub fn summarize(model: &Model, file_bytes: u64) -> ModelSummary {
    let g = &model.graph;
    let mut parameter_count: u64 = 0;
    let mut weight_bytes: u64 = 0;
    for (_, t) in &g.initializers {
        parameter_count += t.len() as u64;
        weight_bytes += t.byte_size() as u64;
    }
    let mut op_counts: Vec<(String, usize)> = Vec::new();
    for node in &g.nodes {
        if node.op_type == "Constant" {
            if let Some(AttrValue::Tensor(t)) = node.attr("value") {
                parameter_count += t.len() as u64;
                weight_bytes += t.byte_size() as u64;
            }
        }
        match op_counts.iter_mut().find(|(op, _)| *op == node.op_type) {
            Some((_, n)) => *n += 1,
            None => op_counts.push((node.op_type.clone(), 1)),
        }
    }
    op_counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    ModelSummary {
        graph_name: g.name.clone(),
        producer: format!("{} {}", model.producer_name, model.producer_version).trim().to_string(),
        ir_version: model.ir_version,
        opsets: model.opsets.iter().map(|(d, v)| OpsetSummary { domain: if d.is_empty() { "ai.onnx".into() } else { d.clone() }, version: *v }).collect(),
        inputs: g.real_inputs().map(value_summary).collect(),
        outputs: g.outputs.iter().map(value_summary).collect(),
        node_count: g.nodes.len(),
        op_counts,
        parameter_count,
        weight_bytes,
        file_bytes,
        metadata: model.metadata.clone(),
    }
}
