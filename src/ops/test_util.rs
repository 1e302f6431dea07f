//! Helpers for the op families' unit tests: a node with attributes, built
//! and run standalone.

use crate::error::Result;
use crate::ir::{AttrValue, Attribute, Node};
use crate::tensor::Tensor;

pub fn node(domain: &str, op: &str, attrs: &[(&str, AttrValue)], inputs: usize) -> Node {
    Node {
        name: "n".into(),
        op_type: op.into(),
        domain: domain.into(),
        inputs: (0..inputs).map(|i| format!("x{i}")).collect(),
        outputs: vec!["y".into()],
        attributes: attrs.iter().map(|(n, v)| Attribute { name: (*n).into(), value: v.clone() }).collect(),
        doc_string: String::new(),
    }
}

/// Builds the op and runs it on `inputs` (all present).
pub fn run(domain: &str, op: &str, attrs: &[(&str, AttrValue)], opset: i64, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
    run_opt(domain, op, attrs, opset, &inputs.iter().map(|t| Some(*t)).collect::<Vec<_>>())
}

/// Builds the op and runs it on `inputs` (`None`: omitted).
pub fn run_opt(domain: &str, op: &str, attrs: &[(&str, AttrValue)], opset: i64, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
    let op = crate::ops::build_standalone(&node(domain, op, attrs, inputs.len()), opset)?;
    op.eval(inputs)
}

pub fn f32s(shape: &[usize], v: &[f32]) -> Tensor {
    Tensor::from_vec(shape, v.to_vec()).unwrap()
}

pub fn string(s: &str) -> AttrValue {
    AttrValue::String(s.as_bytes().to_vec())
}
