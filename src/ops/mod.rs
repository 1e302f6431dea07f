//! Operator registry. Each family file registers its ops by name; a builder
//! turns a node into a ready-to-run `Op` once, at planning time, so that
//! attribute errors surface when the model loads.

pub(crate) mod activation;
pub(crate) mod array;
mod attention;
pub mod attrs;
mod contrib;
mod control;
pub(crate) mod conv;
mod einsum;
pub(crate) mod elementwise;
pub mod facts;
mod fused;
mod gather_scatter;
pub(crate) use fused::per_output_channel;
pub(crate) use linalg::contiguous;
mod index;
mod integer;
pub mod internal;
mod linalg;
mod nms;
mod norm;
pub(crate) mod pool;
mod quant;
mod reduce;
mod resize;
mod rnn;
mod shape;
pub(crate) mod spatial;
#[cfg(test)]
mod test_util;
mod transformer;

use std::collections::HashMap;

use crate::error::Result;
use crate::ir::{Graph, Node};
use crate::tensor::Tensor;

use attrs::Attrs;

/// An owned f32 tensor as a standard-layout array (copied only when it is
/// strided); any other tensor is handed back.
pub(super) fn owned_f32(t: Tensor) -> std::result::Result<ndarray::ArrayD<f32>, Tensor> {
    match t {
        Tensor::F32(a) if a.is_standard_layout() => Ok(a),
        Tensor::F32(a) => Ok(a.as_standard_layout().into_owned()),
        other => Err(other),
    }
}

/// `op.eval` with `t` standing at input `at` (for ops whose in-place path
/// does not cover a case).
pub(super) fn eval_with<O: Op + ?Sized>(op: &O, inputs: &[Option<&Tensor>], at: usize, t: &Tensor) -> Result<Vec<Tensor>> {
    let mut args = inputs.to_vec();
    args[at] = Some(t);
    op.eval(&args)
}

/// A planned operator. `inputs[i]` is `None` for an omitted optional input.
pub trait Op {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>>;

    /// Input positions whose buffer this op can write its output into, in
    /// order of preference. The runtime hands one over (`eval_reusing`) when
    /// this step is the value's last reader and the run owns it.
    fn reusable_inputs(&self) -> &'static [usize] {
        &[]
    }

    /// `eval` with input `at` given by value (`inputs[at]` is `None`), so the
    /// output may take over its buffer. Must compute exactly what `eval` does.
    fn eval_reusing(&self, inputs: &[Option<&Tensor>], at: usize, owned: Tensor) -> Result<Vec<Tensor>> {
        eval_with(self, inputs, at, &owned)
    }
}

/// A subgraph (an `If` branch, a `Loop` or `Scan` body) planned by the
/// runtime. Ops run it without knowing how: the runtime sits above the ops.
pub trait Subgraph {
    /// Runs with the outer values it reads, in capture order.
    fn run(&self, outer: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        self.run_with(Vec::new(), outer)
    }

    /// Runs with values for the subgraph's own inputs, in their order (a
    /// loop body's iteration values), and the outer values it reads.
    fn run_with(&self, inputs: Vec<Tensor>, outer: &[Option<&Tensor>]) -> Result<Vec<Tensor>>;
}

/// Plans subgraphs for control-flow ops (implemented by the runtime).
pub trait SubgraphPlanner {
    /// Plans `graph`, which reads `captures` from the enclosing scope.
    fn plan(&self, graph: &Graph, captures: &[String]) -> Result<Box<dyn Subgraph>>;
}

/// What a builder may look at: the node, the opset its domain imports, the
/// planner for its subgraphs and the outer names they capture.
pub struct BuildCtx<'a> {
    pub node: &'a Node,
    pub opset: i64,
    pub planner: &'a dyn SubgraphPlanner,
    /// Outer values the node's subgraphs read; they follow the node's own
    /// inputs in `Op::eval`.
    pub captures: &'a [String],
    /// Values of inputs known at load time (initializers that no graph input
    /// can override, and outputs of `Constant` nodes), aligned with
    /// `node.inputs`: ops use them to prepare weights once.
    pub constants: &'a [Option<&'a Tensor>],
}

impl<'a> BuildCtx<'a> {
    /// The load-time value of input `i`, if it is a constant.
    pub fn constant(&self, i: usize) -> Option<&'a Tensor> {
        self.constants.get(i).copied().flatten()
    }

    pub fn attrs(&self) -> Attrs<'a> {
        Attrs::new(self.node)
    }
}

pub type Builder = fn(&BuildCtx) -> Result<Box<dyn Op>>;

pub struct Registry {
    builders: HashMap<(String, String), Builder>,
    facts: HashMap<(String, String), facts::FactsRule>,
}

/// `""` and `"ai.onnx"` name the same domain.
pub fn normalize_domain(domain: &str) -> &str {
    if domain == "ai.onnx" {
        ""
    } else {
        domain
    }
}

impl Registry {
    pub fn empty() -> Self {
        Registry { builders: HashMap::new(), facts: HashMap::new() }
    }

    /// Every operator Squish implements.
    pub fn standard() -> Self {
        let mut r = Registry::empty();
        array::register(&mut r);
        index::register(&mut r);
        shape::register(&mut r);
        activation::register(&mut r);
        elementwise::register(&mut r);
        linalg::register(&mut r);
        control::register(&mut r);
        conv::register(&mut r);
        norm::register(&mut r);
        pool::register(&mut r);
        quant::register(&mut r);
        integer::register(&mut r);
        contrib::register(&mut r);
        fused::register(&mut r);
        reduce::register(&mut r);
        resize::register(&mut r);
        rnn::register(&mut r);
        gather_scatter::register(&mut r);
        einsum::register(&mut r);
        nms::register(&mut r);
        transformer::register(&mut r);
        attention::register(&mut r);
        r
    }

    pub fn insert(&mut self, domain: &str, op_type: &str, builder: Builder) {
        self.builders.insert((normalize_domain(domain).to_string(), op_type.to_string()), builder);
    }

    /// Registers the output-facts rule of `op_types` (the family's own ops).
    pub fn facts(&mut self, domain: &str, op_types: &[&str], rule: facts::FactsRule) {
        for op in op_types {
            self.facts.insert((normalize_domain(domain).to_string(), op.to_string()), rule);
        }
    }

    /// The facts of `node`'s outputs from its inputs' (unknown without a rule).
    pub fn output_facts(&self, node: &Node, ins: &[facts::Facts]) -> Vec<facts::Facts> {
        match self.facts.get(&(normalize_domain(&node.domain).to_string(), node.op_type.clone())) {
            Some(rule) => rule(node, ins),
            None => vec![facts::Facts::unknown(); node.outputs.len()],
        }
    }

    pub fn get(&self, domain: &str, op_type: &str) -> Option<Builder> {
        self.builders.get(&(normalize_domain(domain).to_string(), op_type.to_string())).copied()
    }

    /// `(domain, op_type)` pairs, sorted, for documentation and `inspect`.
    pub fn supported(&self) -> Vec<(String, String)> {
        let mut v: Vec<_> = self.builders.keys().cloned().collect();
        v.sort();
        v
    }
}

/// Integer contents of a shape-like input (`shape`, `axes`, `pads`, ...).
pub fn int_values(t: &Tensor, what: &str) -> Result<Vec<i64>> {
    t.to_i64_vec().ok_or_else(|| crate::error::SquishError::op(format!("'{what}' must be an integer tensor, got {}", t.dtype())))
}

/// An optional integer input; `None` when omitted.
pub fn opt_int_input(inputs: &[Option<&Tensor>], i: usize, what: &str) -> Result<Option<Vec<i64>>> {
    inputs.get(i).copied().flatten().map(|t| int_values(t, what)).transpose()
}

/// Normalises a possibly negative axis against `rank`.
pub fn norm_axis(axis: i64, rank: usize) -> Result<usize> {
    let r = rank as i64;
    if axis < -r || axis >= r {
        return Err(crate::error::SquishError::op(format!("axis {axis} is out of range for rank {rank}")));
    }
    Ok(if axis < 0 { (axis + r) as usize } else { axis as usize })
}

/// A tensor that must be float32 (`what` names it in the error).
pub fn as_f32<'t>(t: &'t Tensor, what: &str) -> Result<&'t ndarray::ArrayD<f32>> {
    t.as_f32().ok_or_else(|| crate::error::SquishError::op(format!("{what} is {}, only float32 is supported", t.dtype())))
}

/// Input `i`, required and float32.
pub fn required_f32<'t>(inputs: &[Option<&'t Tensor>], i: usize, what: &str) -> Result<&'t ndarray::ArrayD<f32>> {
    as_f32(required(inputs, i).map_err(|_| crate::error::SquishError::op(format!("{what} (input {i}) is required")))?, what)
}

/// Input `i`, optional, float32 when present.
pub fn optional_f32<'t>(inputs: &[Option<&'t Tensor>], i: usize, what: &str) -> Result<Option<&'t ndarray::ArrayD<f32>>> {
    inputs.get(i).copied().flatten().map(|t| as_f32(t, what)).transpose()
}

/// Fetches input `i`, which the op requires.
pub fn required<'t>(inputs: &[Option<&'t Tensor>], i: usize) -> Result<&'t Tensor> {
    inputs.get(i).copied().flatten().ok_or_else(|| crate::error::SquishError::op(format!("required input {i} is missing")))
}

/// The planner for ops built outside a runtime plan (training, rewrites,
/// unit tests): an op that asks for its subgraphs gets the reason as its error.
pub struct NoSubgraphs(pub &'static str);

impl SubgraphPlanner for NoSubgraphs {
    fn plan(&self, _: &Graph, _: &[String]) -> Result<Box<dyn Subgraph>> {
        Err(crate::error::SquishError::op(self.0))
    }
}

/// Builds the op for `node` as the planner would (for unit tests of ops;
/// nodes with subgraphs need the runtime's planner).
#[cfg(test)]
pub fn build_standalone(node: &Node, opset: i64) -> Result<Box<dyn Op>> {
    let registry = Registry::standard();
    let builder = registry.get(&node.domain, &node.op_type).expect("op registered");
    let planner = NoSubgraphs("subgraphs are planned by the runtime, not in a standalone build");
    builder(&BuildCtx { node, opset, planner: &planner, captures: &[], constants: &[] })
}
