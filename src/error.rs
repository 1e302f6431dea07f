//! The one error type of the crate. Library code returns `Result<T>`; nothing
//! here panics on user input. `bindings.rs` is the only place these become
//! JavaScript errors.

use std::fmt;

/// An operator the engine cannot run, with everything needed to find it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsupportedOp {
    pub node: String,
    pub op_type: String,
    pub domain: String,
    pub opset: i64,
}

impl fmt::Display for UnsupportedOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let domain = if self.domain.is_empty() { "ai.onnx" } else { &self.domain };
        write!(f, "{} (node '{}', domain '{}', opset {})", self.op_type, self.node, domain, self.opset)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SquishError {
    /// The bytes are not a well-formed protobuf message of the expected kind.
    #[error("cannot decode {what}: {detail}")]
    Decode { what: String, detail: String },

    /// The model decoded but violates the ONNX spec (or a sanity limit).
    #[error("invalid model: {0}")]
    InvalidModel(String),

    /// A tensor (initializer, constant, attribute, input file) is malformed.
    #[error("tensor '{tensor}': {detail}")]
    Tensor { tensor: String, detail: String },

    /// Every operator of the model that the engine cannot run, listed at once.
    #[error("unsupported operator{}: {}", if .0.len() == 1 { "" } else { "s" }, list_unsupported(.0))]
    UnsupportedOps(Vec<UnsupportedOp>),

    /// A node's attribute is missing, of the wrong type or out of range.
    #[error("node '{node}' ({op_type}): attribute '{attribute}': {detail}")]
    Attribute { node: String, op_type: String, attribute: String, detail: String },

    /// A node failed while planning or running (shapes, dtypes, arity).
    #[error("node '{node}' ({op_type}): {detail}")]
    Node { node: String, op_type: String, detail: String },

    /// A value the user passed for a graph input is missing or does not fit.
    #[error("input '{input}': {detail}")]
    Input { input: String, detail: String },

    /// A compression recipe names something that does not exist or cannot apply.
    #[error("recipe: {0}")]
    Recipe(String),

    /// Calibration inputs do not fit the model.
    #[error("calibration: {0}")]
    Calibration(String),

    /// A data file (.npy, .pb, ...) could not be read.
    #[error("{format} file: {detail}")]
    DataFile { format: &'static str, detail: String },
}

fn list_unsupported(ops: &[UnsupportedOp]) -> String {
    ops.iter().map(|o| o.to_string()).collect::<Vec<_>>().join("; ")
}

pub type Result<T> = std::result::Result<T, SquishError>;

impl SquishError {
    pub fn invalid(detail: impl Into<String>) -> Self {
        SquishError::InvalidModel(detail.into())
    }

    pub fn tensor(tensor: impl Into<String>, detail: impl Into<String>) -> Self {
        SquishError::Tensor { tensor: tensor.into(), detail: detail.into() }
    }

    pub fn input(input: impl Into<String>, detail: impl Into<String>) -> Self {
        SquishError::Input { input: input.into(), detail: detail.into() }
    }

    /// An operator's own failure; the runtime fills in node and op via `in_node`.
    pub fn op(detail: impl Into<String>) -> Self {
        SquishError::Node { node: String::new(), op_type: String::new(), detail: detail.into() }
    }

    /// Attaches the failing node (its name and op type) to an error raised
    /// inside an operator.
    pub fn in_node(self, name: &str, op_type: &str) -> Self {
        match self {
            SquishError::Node { node: n, detail, .. } if n.is_empty() => SquishError::Node { node: name.into(), op_type: op_type.into(), detail },
            SquishError::Tensor { detail, tensor } => SquishError::Node { node: name.into(), op_type: op_type.into(), detail: format!("{tensor}: {detail}") },
            other => other,
        }
    }
}
