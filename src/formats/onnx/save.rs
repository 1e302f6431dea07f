//! `graph::Model` → ONNX bytes. Everything `load_model` keeps is written back.

use prost::Message;

use super::proto::{self, attribute_type as at, tensor_shape_proto as tsp, type_proto};
use super::tensor_io::tensor_to_proto;
use crate::ir::{AttrValue, Dim, Graph, Model, Node, ValueInfo, ValueType};

pub fn model_to_bytes(model: &Model) -> Vec<u8> {
    model_to_proto(model).encode_to_vec()
}

pub(super) fn model_to_proto(model: &Model) -> proto::ModelProto {
    model_proto_with(model, with_weight_inputs(model, graph_to_proto(&model.graph)))
}

/// IR versions before 4 require every initializer of the main graph to be
/// listed as a graph input too; loading took them out (they are weights,
/// not inputs), saving lists them again, typed from the tensors.
fn with_weight_inputs(model: &Model, mut graph: proto::GraphProto) -> proto::GraphProto {
    if model.ir_version >= 4 {
        return graph;
    }
    graph.input.extend(model.graph.unlisted_initializers().iter().map(value_info_to_proto));
    graph
}

/// The size of `model_to_bytes(model)` without writing the weights' data:
/// the top-level dense initializers are encoded empty and their data's
/// length added where it goes (each length prefix grows with it).
pub(super) fn encoded_len(model: &Model) -> usize {
    use prost::encoding::encoded_len_varint as varint;
    let g = &model.graph;
    // What `tensor_to_proto` writes, but the data.
    let graph = with_weight_inputs(
        model,
        graph_to_proto_with(g, |n, t| proto::TensorProto {
            dims: t.shape().iter().map(|&d| d as i64).collect(),
            data_type: t.dtype().onnx_code(),
            name: n.to_string(),
            ..Default::default()
        }),
    );
    let mut grown = 0usize;
    let by_name: std::collections::HashMap<&str, &crate::tensor::Tensor> = g.initializers.iter().map(|(n, t)| (n.as_str(), t)).collect();
    for tp in &graph.initializer {
        let raw = super::tensor_io::raw_len(by_name[tp.name.as_str()]);
        let before = tp.encoded_len();
        // raw_data (field 9): one tag byte, the length, the bytes.
        let after = before + if raw > 0 { 1 + varint(raw as u64) + raw } else { 0 };
        grown += after - before + varint(after as u64) - varint(before as u64);
    }
    let graph_before = graph.encoded_len();
    let graph_after = graph_before + grown;
    let shell = model_proto_with(model, graph).encoded_len();
    shell - varint(graph_before as u64) - graph_before + varint(graph_after as u64) + graph_after
}

fn model_proto_with(model: &Model, graph: proto::GraphProto) -> proto::ModelProto {
    proto::ModelProto {
        ir_version: model.ir_version,
        opset_import: model.opsets.iter().map(|(domain, version)| proto::OperatorSetIdProto { domain: domain.clone(), version: *version }).collect(),
        producer_name: model.producer_name.clone(),
        producer_version: model.producer_version.clone(),
        domain: model.domain.clone(),
        model_version: model.model_version,
        doc_string: model.doc_string.clone(),
        graph: Some(graph),
        metadata_props: model.metadata.iter().map(|(k, v)| proto::StringStringEntryProto { key: k.clone(), value: v.clone() }).collect(),
        functions: Vec::new(),
    }
}

fn graph_to_proto(g: &Graph) -> proto::GraphProto {
    graph_to_proto_with(g, tensor_to_proto)
}

/// `dense` writes each initializer not stored sparse.
fn graph_to_proto_with(g: &Graph, dense: impl Fn(&str, &crate::tensor::Tensor) -> proto::TensorProto) -> proto::GraphProto {
    let (mut initializer, mut sparse_initializer) = (Vec::with_capacity(g.initializers.len()), Vec::new());
    for (n, t) in &g.initializers {
        match sparse_form(g, n, t) {
            Some(sp) => sparse_initializer.push(sp),
            None => initializer.push(dense(n, t)),
        }
    }
    proto::GraphProto {
        node: g.nodes.iter().map(node_to_proto).collect(),
        name: g.name.clone(),
        initializer,
        sparse_initializer,
        doc_string: g.doc_string.clone(),
        input: g.inputs.iter().map(value_info_to_proto).collect(),
        output: g.outputs.iter().map(value_info_to_proto).collect(),
        value_info: g.value_info.iter().map(value_info_to_proto).collect(),
        ..Default::default()
    }
}

/// The `sparse_initializer` form of a weight the graph asks to store sparse,
/// when that is smaller than dense.
fn sparse_form(g: &Graph, name: &str, t: &crate::tensor::Tensor) -> Option<proto::SparseTensorProto> {
    if g.sparse_stored.contains(name) {
        super::sparse_io::tensor_to_sparse_proto(name, t)
    } else {
        None
    }
}

fn node_to_proto(n: &Node) -> proto::NodeProto {
    proto::NodeProto {
        input: n.inputs.clone(),
        output: n.outputs.clone(),
        name: n.name.clone(),
        op_type: n.op_type.clone(),
        domain: n.domain.clone(),
        doc_string: n.doc_string.clone(),
        attribute: n
            .attributes
            .iter()
            .map(|a| {
                let mut ap = proto::AttributeProto { name: a.name.clone(), ..Default::default() };
                ap.r#type = match &a.value {
                    AttrValue::Float(v) => {
                        ap.f = *v;
                        at::FLOAT
                    }
                    AttrValue::Int(v) => {
                        ap.i = *v;
                        at::INT
                    }
                    AttrValue::String(v) => {
                        ap.s = v.clone();
                        at::STRING
                    }
                    AttrValue::Tensor(t) => {
                        ap.t = Some(tensor_to_proto("", t));
                        at::TENSOR
                    }
                    AttrValue::Graph(g) => {
                        ap.g = Some(Box::new(graph_to_proto(g)));
                        at::GRAPH
                    }
                    AttrValue::Floats(v) => {
                        ap.floats = v.clone();
                        at::FLOATS
                    }
                    AttrValue::Ints(v) => {
                        ap.ints = v.clone();
                        at::INTS
                    }
                    AttrValue::Strings(v) => {
                        ap.strings = v.clone();
                        at::STRINGS
                    }
                    AttrValue::Tensors(v) => {
                        ap.tensors = v.iter().map(|t| tensor_to_proto("", t)).collect();
                        at::TENSORS
                    }
                    AttrValue::Graphs(v) => {
                        ap.graphs = v.iter().map(graph_to_proto).collect();
                        at::GRAPHS
                    }
                };
                ap
            })
            .collect(),
        ..Default::default()
    }
}

fn value_info_to_proto(vi: &ValueInfo) -> proto::ValueInfoProto {
    let ty = match &vi.ty {
        ValueType::Unknown => None,
        // Decoded when it was read, so it decodes again.
        ValueType::Other { encoded, .. } => proto::TypeProto::decode(&encoded[..]).ok(),
        ValueType::Tensor { elem_type, shape } => Some(proto::TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: *elem_type,
                shape: shape.as_ref().map(|dims| proto::TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|d| tsp::Dimension {
                            value: match d {
                                Dim::Fixed(v) => Some(tsp::DimValue::DimValue(*v)),
                                Dim::Symbolic(s) => Some(tsp::DimValue::DimParam(s.clone())),
                                Dim::Unknown => None,
                            },
                            denotation: String::new(),
                        })
                        .collect(),
                }),
            })),
            denotation: String::new(),
        }),
    };
    proto::ValueInfoProto { name: vi.name.clone(), r#type: ty, doc_string: vi.doc_string.clone(), ..Default::default() }
}
