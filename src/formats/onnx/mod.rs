//! ONNX I/O: bytes ⇄ `ir::Model`, tensors ⇄ `TensorProto`, the MatMulNBits
//! weight format, and the size limit every model passes on the way in.

pub mod external;
pub mod nbits;
pub mod proto;
mod save;
mod sparse_io;
pub mod tensor_io;

use prost::Message;

use crate::error::{Result, SquishError};
use crate::ir::{AttrValue, Attribute, Dim, Graph, Model, Node, ValueInfo, ValueType};
use proto::{attribute_type as at, tensor_shape_proto::DimValue, type_proto};
use tensor_io::tensor_from_proto;

pub use save::model_to_bytes;

/// The largest model file, and the most weight data a model may declare,
/// that Squish accepts. wasm32 addresses 4 GiB, and opening, compressing and
/// comparing a model holds several copies of its weights at once (the
/// decoded model, the comparison session's prepared weights, the compressed
/// model and its session: measured at about 5× the file by
/// `scripts/bench/page-memory.mjs`), so larger models are refused up front
/// with a clear error instead of running out of memory halfway.
pub const MAX_MODEL_BYTES: usize = 640 << 20;

/// Refuses a model file larger than `MAX_MODEL_BYTES`.
pub fn check_size(file_bytes: usize) -> Result<()> {
    if file_bytes > MAX_MODEL_BYTES {
        return Err(SquishError::invalid(format!(
            "the model file has {} MiB; Squish accepts models up to {} MiB (opening, compressing and comparing need several copies of the weights within WebAssembly's 4 GiB)",
            file_bytes >> 20,
            MAX_MODEL_BYTES >> 20
        )));
    }
    Ok(())
}

/// Weight data a graph declares (initializers and Constant tensors,
/// subgraphs included), from their shapes and types alone: the total and
/// the largest tensor with its size.
#[derive(Default)]
struct Declared {
    total: u128,
    largest: (u128, String),
}

impl Declared {
    fn tensor(&mut self, t: &proto::TensorProto) {
        let elements = t.dims.iter().map(|&d| d.max(0) as u128).product::<u128>();
        let bytes = elements * crate::tensor::DType::from_onnx(t.data_type).map_or(1, |d| d.size_of()) as u128;
        self.total += bytes;
        if bytes > self.largest.0 {
            self.largest = (bytes, t.name.clone());
        }
    }

    fn graph(&mut self, g: &proto::GraphProto) {
        g.initializer.iter().for_each(|t| self.tensor(t));
        for a in g.node.iter().flat_map(|n| &n.attribute) {
            a.t.iter().chain(&a.tensors).for_each(|t| self.tensor(t));
            a.g.as_deref().into_iter().chain(&a.graphs).for_each(|g| self.graph(g));
        }
    }
}

/// Parses an ONNX model file.
pub fn load_model(bytes: &[u8]) -> Result<Model> {
    if bytes.is_empty() {
        return Err(SquishError::Decode { what: "ONNX model".into(), detail: "the file is empty".into() });
    }
    check_size(bytes.len())?;
    model_from_proto(proto::decode_model(bytes)?)
}

/// `load_model` that frees the file bytes once decoded, and each tensor's
/// protobuf copy once converted: peak memory about twice the weights
/// instead of three times (what matters for 100 MB models in a tab).
pub fn load_model_owned(bytes: Vec<u8>) -> Result<Model> {
    if bytes.is_empty() {
        return Err(SquishError::Decode { what: "ONNX model".into(), detail: "the file is empty".into() });
    }
    check_size(bytes.len())?;
    let mp = proto::decode_model(&bytes)?;
    drop(bytes);
    model_from_proto(mp)
}

/// `load_model_owned` for a model whose tensors keep their bytes in
/// external files, given by name (`external::ExternalFile`); a file a
/// tensor names but that is not given is an error naming both.
pub fn load_model_with_external(bytes: Vec<u8>, files: &[external::ExternalFile]) -> Result<Model> {
    if bytes.is_empty() {
        return Err(SquishError::Decode { what: "ONNX model".into(), detail: "the file is empty".into() });
    }
    check_size(bytes.len() + files.iter().map(|f| f.bytes.len()).sum::<usize>())?;
    let mut mp = proto::decode_model(&bytes)?;
    drop(bytes);
    external::resolve_model(&mut mp, files)?;
    model_from_proto(mp)
}

fn model_from_proto(mut mp: proto::ModelProto) -> Result<Model> {
    let graph =
        mp.graph.take().ok_or_else(|| SquishError::invalid("the file has no graph (is it an ONNX model? truncated files often decode to an empty model)"))?;
    // Before any tensor is built: shapes alone may ask for more than fits.
    let mut declared = Declared::default();
    declared.graph(&graph);
    if declared.total > MAX_MODEL_BYTES as u128 {
        let (largest, name) = &declared.largest;
        return Err(SquishError::invalid(format!(
            "the model declares {} MiB of weights (tensor '{name}' alone: {} MiB), more than Squish accepts: models up to {} MiB (opening, compressing and comparing need several copies of the weights within WebAssembly's 4 GiB)",
            declared.total >> 20,
            largest >> 20,
            MAX_MODEL_BYTES >> 20
        )));
    }
    if !mp.functions.is_empty() {
        let names: Vec<_> = mp.functions.iter().map(|f| format!("{}:{}", f.domain, f.name)).collect();
        return Err(SquishError::invalid(format!(
            "model-local functions are not supported yet ({}); export the model with functions inlined",
            names.join(", ")
        )));
    }
    let mut opsets: Vec<(String, i64)> = mp.opset_import.iter().map(|o| (o.domain.clone(), o.version)).collect();
    if opsets.is_empty() {
        // IR version 1 models had no opset import: they mean opset 1.
        opsets.push((String::new(), 1));
    }
    let mut graph = graph_from_proto(graph, "main graph")?;
    if mp.ir_version < 4 {
        // Before IR 4 every initializer had to be listed as an input as well;
        // such inputs are weights, constants as in onnxruntime (a caller may
        // still feed one: `Session` plans for that when it happens). Saving
        // lists them again.
        let weights: std::collections::HashSet<String> = graph.initializers.iter().map(|(n, _)| n.clone()).collect();
        graph.inputs.retain(|vi| !weights.contains(&vi.name));
    }
    Ok(Model {
        ir_version: mp.ir_version,
        opsets,
        producer_name: mp.producer_name.clone(),
        producer_version: mp.producer_version.clone(),
        domain: mp.domain.clone(),
        model_version: mp.model_version,
        doc_string: mp.doc_string.clone(),
        metadata: mp.metadata_props.iter().map(|e| (e.key.clone(), e.value.clone())).collect(),
        graph,
    })
}

/// Bytes of a `Model`, re-encoded (used for sizes and downloads).
pub fn encoded_len(model: &Model) -> usize {
    save::encoded_len(model)
}

fn graph_from_proto(mut g: proto::GraphProto, context: &str) -> Result<Graph> {
    let mut initializers = Vec::with_capacity(g.initializer.len() + g.sparse_initializer.len());
    for tp in std::mem::take(&mut g.initializer) {
        if tp.name.is_empty() {
            return Err(SquishError::invalid(format!("an initializer of the {context} has no name")));
        }
        initializers.push((tp.name.clone(), tensor_from_proto(&tp)?));
    }
    let mut sparse_stored = std::collections::BTreeSet::new();
    for sp in std::mem::take(&mut g.sparse_initializer) {
        let (name, t) = sparse_io::tensor_from_sparse_proto(&sp)?;
        if name.is_empty() {
            return Err(SquishError::invalid(format!("a sparse initializer of the {context} has no name")));
        }
        if initializers.iter().any(|(n, _)| *n == name) {
            return Err(SquishError::tensor(&name, format!("is both a dense and a sparse initializer ({context})")));
        }
        sparse_stored.insert(name.clone());
        initializers.push((name, t));
    }
    let mut nodes = Vec::with_capacity(g.node.len());
    for (index, np) in g.node.iter().enumerate() {
        nodes.push(node_from_proto(np, index)?);
    }
    Ok(Graph {
        name: g.name.clone(),
        doc_string: g.doc_string.clone(),
        nodes,
        inputs: g.input.iter().map(value_info_from_proto).collect(),
        outputs: g.output.iter().map(value_info_from_proto).collect(),
        initializers,
        value_info: g.value_info.iter().map(value_info_from_proto).collect(),
        sparse_stored,
    })
}

fn node_from_proto(np: &proto::NodeProto, index: usize) -> Result<Node> {
    // Unnamed nodes get a stable name so that errors and reports can point at them.
    let name = if np.name.is_empty() { format!("{}_{index}", np.op_type) } else { np.name.clone() };
    let mut attributes = Vec::with_capacity(np.attribute.len());
    for ap in &np.attribute {
        let attr_err = |detail: String| SquishError::Attribute { node: name.clone(), op_type: np.op_type.clone(), attribute: ap.name.clone(), detail };
        if !ap.ref_attr_name.is_empty() {
            return Err(attr_err("refers to a function attribute outside a function".into()));
        }
        let value = attr_value_from_proto(ap, &name).map_err(|e| match e {
            SquishError::InvalidModel(detail) => attr_err(detail),
            other => other,
        })?;
        attributes.push(Attribute { name: ap.name.clone(), value });
    }
    Ok(Node {
        name,
        op_type: np.op_type.clone(),
        domain: np.domain.clone(),
        inputs: np.input.clone(),
        outputs: np.output.clone(),
        attributes,
        doc_string: np.doc_string.clone(),
    })
}

fn attr_value_from_proto(ap: &proto::AttributeProto, node: &str) -> Result<AttrValue> {
    // Very old exporters leave `type` unset; infer it from the field that is filled.
    let ty = if ap.r#type != at::UNDEFINED {
        ap.r#type
    } else if ap.t.is_some() {
        at::TENSOR
    } else if ap.g.is_some() {
        at::GRAPH
    } else if !ap.floats.is_empty() {
        at::FLOATS
    } else if !ap.ints.is_empty() {
        at::INTS
    } else if !ap.strings.is_empty() {
        at::STRINGS
    } else if !ap.tensors.is_empty() {
        at::TENSORS
    } else if !ap.graphs.is_empty() {
        at::GRAPHS
    } else if !ap.s.is_empty() {
        at::STRING
    } else if ap.f != 0.0 {
        at::FLOAT
    } else {
        at::INT
    };
    let sub = |g: &proto::GraphProto| graph_from_proto(g.clone(), &format!("subgraph '{}' of node '{node}'", ap.name));
    Ok(match ty {
        at::FLOAT => AttrValue::Float(ap.f),
        at::INT => AttrValue::Int(ap.i),
        at::STRING => AttrValue::String(ap.s.clone()),
        at::TENSOR => AttrValue::Tensor(tensor_from_proto(ap.t.as_ref().ok_or_else(|| SquishError::invalid("declared a tensor but holds none"))?)?),
        at::GRAPH => AttrValue::Graph(Box::new(sub(ap.g.as_deref().ok_or_else(|| SquishError::invalid("declared a graph but holds none"))?)?)),
        at::FLOATS => AttrValue::Floats(ap.floats.clone()),
        at::INTS => AttrValue::Ints(ap.ints.clone()),
        at::STRINGS => AttrValue::Strings(ap.strings.clone()),
        at::TENSORS => AttrValue::Tensors(ap.tensors.iter().map(tensor_from_proto).collect::<Result<_>>()?),
        at::GRAPHS => AttrValue::Graphs(ap.graphs.iter().map(sub).collect::<Result<_>>()?),
        other => return Err(SquishError::invalid(format!("attribute type {other} (sparse tensor or type proto) is not supported"))),
    })
}

fn value_info_from_proto(vi: &proto::ValueInfoProto) -> ValueInfo {
    let ty = match vi.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        None => ValueType::Unknown,
        Some(type_proto::Value::TensorType(t)) => ValueType::Tensor {
            elem_type: t.elem_type,
            shape: t.shape.as_ref().map(|s| {
                s.dim
                    .iter()
                    .map(|d| match &d.value {
                        Some(DimValue::DimValue(v)) => Dim::Fixed(*v),
                        // "?" is how some exporters spell "unknown"; it binds nothing.
                        Some(DimValue::DimParam(p)) if !p.is_empty() && p != "?" => Dim::Symbolic(p.clone()),
                        _ => Dim::Unknown,
                    })
                    .collect()
            }),
        },
        Some(other) => {
            let kind = match other {
                type_proto::Value::SequenceType(_) => "sequence",
                type_proto::Value::MapType(_) => "map",
                type_proto::Value::OptionalType(_) => "optional",
                type_proto::Value::SparseTensorType(_) => "sparse_tensor",
                _ => "unknown",
            };
            ValueType::Other { kind: kind.into(), encoded: vi.r#type.clone().unwrap_or_default().encode_to_vec() }
        }
    };
    ValueInfo { name: vi.name.clone(), ty, doc_string: vi.doc_string.clone() }
}
