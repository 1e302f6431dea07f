//! The in-memory model: what `onnx` reads into, what compression methods
//! transform, what `runtime` plans and what `onnx` writes back.

pub mod editor;
pub mod infer;
pub mod layers;
pub mod summary;

use crate::tensor::{DType, Tensor};

#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub ir_version: i64,
    /// Operator sets imported, `("", 17)` for the default ONNX domain.
    pub opsets: Vec<(String, i64)>,
    pub producer_name: String,
    pub producer_version: String,
    pub domain: String,
    pub model_version: i64,
    pub doc_string: String,
    pub metadata: Vec<(String, String)>,
    pub graph: Graph,
}

/// The opset version imported for a domain (`""` and `"ai.onnx"` are the same).
pub fn opset_of(opsets: &[(String, i64)], domain: &str) -> Option<i64> {
    fn norm(d: &str) -> &str {
        if d == "ai.onnx" {
            ""
        } else {
            d
        }
    }
    let want = norm(domain);
    opsets.iter().find(|(d, _)| norm(d) == want).map(|(_, v)| *v)
}

impl Model {
    pub fn opset(&self, domain: &str) -> Option<i64> {
        opset_of(&self.opsets, domain)
    }

    /// The model split into its graph (moved when owned, borrowed otherwise)
    /// and everything else (a model with an empty graph): what a method
    /// edits and what it carries over.
    pub fn split(model: std::borrow::Cow<'_, Model>) -> (Model, std::borrow::Cow<'_, Graph>) {
        match model {
            std::borrow::Cow::Owned(mut m) => {
                let g = std::mem::take(&mut m.graph);
                (m, std::borrow::Cow::Owned(g))
            }
            std::borrow::Cow::Borrowed(m) => {
                let shell = Model {
                    ir_version: m.ir_version,
                    opsets: m.opsets.clone(),
                    producer_name: m.producer_name.clone(),
                    producer_version: m.producer_version.clone(),
                    domain: m.domain.clone(),
                    model_version: m.model_version,
                    doc_string: m.doc_string.clone(),
                    metadata: m.metadata.clone(),
                    graph: Graph::default(),
                };
                (shell, std::borrow::Cow::Borrowed(&m.graph))
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Graph {
    pub name: String,
    pub doc_string: String,
    pub nodes: Vec<Node>,
    pub inputs: Vec<ValueInfo>,
    pub outputs: Vec<ValueInfo>,
    /// Weights, in file order. `Constant` nodes stay nodes (they are weights
    /// too; `summary` counts both).
    pub initializers: Vec<(String, Tensor)>,
    pub value_info: Vec<ValueInfo>,
    /// Initializers stored as ONNX `sparse_initializer` (read from one, or
    /// asked for by a prune section's `"storage"`); written so where that is
    /// smaller than dense.
    pub sparse_stored: std::collections::BTreeSet<String>,
}

/// The names of every node of `g` and of its subgraphs, at any depth.
pub fn all_node_names(g: &Graph) -> std::collections::HashSet<&str> {
    let mut out = std::collections::HashSet::new();
    for n in &g.nodes {
        out.insert(n.name.as_str());
        n.subgraphs().for_each(|sub| out.extend(all_node_names(sub)));
    }
    out
}

/// The node called `name`, in `g` or any subgraph of its nodes.
pub fn find_node<'g>(g: &'g Graph, name: &str) -> Option<&'g Node> {
    g.nodes.iter().find_map(|n| if n.name == name { Some(n) } else { n.subgraphs().find_map(|sub| find_node(sub, name)) })
}

impl Graph {
    pub fn initializer(&self, name: &str) -> Option<&Tensor> {
        self.initializers.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }

    /// The value of a constant: an initializer that no graph input overrides,
    /// a `Constant` node's `value`, or either reached through `Identity` nodes
    /// (torch exports share equal tensors that way).
    pub fn constant(&self, name: &str) -> Option<&Tensor> {
        let mut name = name;
        for _ in 0..16 {
            if name.is_empty() {
                return None;
            }
            if let Some(t) = self.initializer(name) {
                return (!self.inputs.iter().any(|v| v.name == name)).then_some(t);
            }
            let n = self.nodes.iter().find(|n| n.outputs.iter().any(|o| o == name))?;
            match (n.op_type.as_str(), n.domain.is_empty()) {
                ("Identity", true) => name = n.inputs.first()?,
                ("Constant", true) => {
                    return match n.attr("value") {
                        Some(AttrValue::Tensor(t)) => Some(t),
                        _ => None,
                    }
                }
                _ => return None,
            }
        }
        None
    }

    /// Graph inputs that are not also initializers (IR < 4 lists weights as inputs).
    /// Initializers not listed as graph inputs, as inputs typed from their
    /// tensors: what IR versions before 4 list as inputs too.
    pub fn unlisted_initializers(&self) -> Vec<ValueInfo> {
        let listed: std::collections::HashSet<&str> = self.inputs.iter().map(|v| v.name.as_str()).collect();
        self.initializers
            .iter()
            .filter(|(n, _)| !listed.contains(n.as_str()))
            .map(|(n, t)| ValueInfo {
                name: n.clone(),
                ty: ValueType::Tensor { elem_type: t.dtype().onnx_code(), shape: Some(t.shape().iter().map(|&d| Dim::Fixed(d as i64)).collect()) },
                doc_string: String::new(),
            })
            .collect()
    }

    pub fn real_inputs(&self) -> impl Iterator<Item = &ValueInfo> {
        self.inputs.iter().filter(move |vi| self.initializer(&vi.name).is_none())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub name: String,
    pub op_type: String,
    pub domain: String,
    /// Empty strings mark omitted optional inputs, as in ONNX.
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub attributes: Vec<Attribute>,
    pub doc_string: String,
}

impl Node {
    /// The graphs held in this node's attributes (`If` branches, `Loop`/`Scan` bodies).
    pub fn subgraphs(&self) -> impl Iterator<Item = &Graph> {
        self.attributes.iter().flat_map(|a| match &a.value {
            AttrValue::Graph(g) => std::slice::from_ref(&**g),
            AttrValue::Graphs(gs) => gs.as_slice(),
            _ => &[],
        })
    }

    pub fn attr(&self, name: &str) -> Option<&AttrValue> {
        self.attributes.iter().find(|a| a.name == name).map(|a| &a.value)
    }

    /// An int attribute, or `default` when it is absent (or not an int).
    pub fn int_attr(&self, name: &str, default: i64) -> i64 {
        match self.attr(name) {
            Some(AttrValue::Int(v)) => *v,
            _ => default,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    pub name: String,
    pub value: AttrValue,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    Float(f32),
    Int(i64),
    String(Vec<u8>),
    Tensor(Tensor),
    Graph(Box<Graph>),
    Floats(Vec<f32>),
    Ints(Vec<i64>),
    Strings(Vec<Vec<u8>>),
    Tensors(Vec<Tensor>),
    Graphs(Vec<Graph>),
}

impl AttrValue {
    pub fn kind(&self) -> &'static str {
        match self {
            AttrValue::Float(_) => "float",
            AttrValue::Int(_) => "int",
            AttrValue::String(_) => "string",
            AttrValue::Tensor(_) => "tensor",
            AttrValue::Graph(_) => "graph",
            AttrValue::Floats(_) => "floats",
            AttrValue::Ints(_) => "ints",
            AttrValue::Strings(_) => "strings",
            AttrValue::Tensors(_) => "tensors",
            AttrValue::Graphs(_) => "graphs",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ValueInfo {
    pub name: String,
    pub ty: ValueType,
    pub doc_string: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ValueType {
    /// `elem_type` is the ONNX data-type code, kept even for types the engine
    /// cannot hold (strings) so that saving is faithful.
    Tensor { elem_type: i32, shape: Option<Vec<Dim>> },
    /// Sequences, maps, optionals, sparse tensors: carried through unchanged,
    /// as the file's encoded `TypeProto`. `kind` names it ("sequence", "map", …).
    Other { kind: String, encoded: Vec<u8> },
    /// No type given (legal for intermediate values).
    Unknown,
}

impl ValueType {
    pub fn dtype(&self) -> Option<DType> {
        match self {
            ValueType::Tensor { elem_type, .. } => crate::tensor::DType::from_onnx(*elem_type),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dim {
    Fixed(i64),
    Symbolic(String),
    Unknown,
}

impl std::fmt::Display for Dim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Dim::Fixed(v) => write!(f, "{v}"),
            Dim::Symbolic(s) => f.write_str(s),
            Dim::Unknown => f.write_str("?"),
        }
    }
}
