//! Typed access to node attributes; every error names node, op and attribute.

use crate::error::{Result, SquishError};
use crate::ir::{AttrValue, Graph, Node};
use crate::tensor::Tensor;

pub struct Attrs<'a> {
    node: &'a Node,
}

impl<'a> Attrs<'a> {
    pub fn new(node: &'a Node) -> Self {
        Attrs { node }
    }

    pub fn error(&self, attribute: &str, detail: impl Into<String>) -> SquishError {
        SquishError::Attribute { node: self.node.name.clone(), op_type: self.node.op_type.clone(), attribute: attribute.to_string(), detail: detail.into() }
    }

    fn wrong_kind(&self, name: &str, want: &str, got: &AttrValue) -> SquishError {
        self.error(name, format!("expected {want}, found {}", got.kind()))
    }

    pub fn opt_int(&self, name: &str) -> Result<Option<i64>> {
        match self.node.attr(name) {
            None => Ok(None),
            Some(AttrValue::Int(v)) => Ok(Some(*v)),
            Some(other) => Err(self.wrong_kind(name, "int", other)),
        }
    }

    pub fn int(&self, name: &str, default: i64) -> Result<i64> {
        Ok(self.opt_int(name)?.unwrap_or(default))
    }

    pub fn required_int(&self, name: &str) -> Result<i64> {
        self.opt_int(name)?.ok_or_else(|| self.error(name, "is required but missing"))
    }

    pub fn opt_float(&self, name: &str) -> Result<Option<f32>> {
        match self.node.attr(name) {
            None => Ok(None),
            Some(AttrValue::Float(v)) => Ok(Some(*v)),
            Some(other) => Err(self.wrong_kind(name, "float", other)),
        }
    }

    pub fn float(&self, name: &str, default: f32) -> Result<f32> {
        Ok(self.opt_float(name)?.unwrap_or(default))
    }

    pub fn opt_ints(&self, name: &str) -> Result<Option<&'a [i64]>> {
        match self.node.attr(name) {
            None => Ok(None),
            Some(AttrValue::Ints(v)) => Ok(Some(v)),
            Some(other) => Err(self.wrong_kind(name, "ints", other)),
        }
    }

    pub fn opt_floats(&self, name: &str) -> Result<Option<&'a [f32]>> {
        match self.node.attr(name) {
            None => Ok(None),
            Some(AttrValue::Floats(v)) => Ok(Some(v)),
            Some(other) => Err(self.wrong_kind(name, "floats", other)),
        }
    }

    pub fn opt_string(&self, name: &str) -> Result<Option<String>> {
        match self.node.attr(name) {
            None => Ok(None),
            Some(AttrValue::String(v)) => Ok(Some(String::from_utf8_lossy(v).into_owned())),
            Some(other) => Err(self.wrong_kind(name, "string", other)),
        }
    }

    pub fn opt_tensor(&self, name: &str) -> Result<Option<&'a Tensor>> {
        match self.node.attr(name) {
            None => Ok(None),
            Some(AttrValue::Tensor(t)) => Ok(Some(t)),
            Some(other) => Err(self.wrong_kind(name, "tensor", other)),
        }
    }

    pub fn opt_graph(&self, name: &str) -> Result<Option<&'a Graph>> {
        match self.node.attr(name) {
            None => Ok(None),
            Some(AttrValue::Graph(g)) => Ok(Some(g)),
            Some(other) => Err(self.wrong_kind(name, "graph", other)),
        }
    }

    /// Normalises a possibly negative axis against `rank`.
    pub fn axis(&self, name: &str, axis: i64, rank: usize) -> Result<usize> {
        let r = rank as i64;
        if axis < -r || axis >= r.max(1) {
            return Err(self.error(name, format!("axis {axis} is out of range for rank {rank}")));
        }
        Ok(if axis < 0 { (axis + r) as usize } else { axis as usize })
    }
}
