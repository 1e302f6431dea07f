//! The runtime: a `Session` plans a model once and runs it many times,
//! freeing every intermediate value after its last reader.

mod plan;

use std::collections::HashMap;

use crate::error::{Result, SquishError};
use crate::graph::{Dim, Model, ValueType};
use crate::onnx::ops::Registry;
use crate::tensor::Tensor;
pub use plan::{Plan, Source};

pub struct Session {
    model: Model,
    plan: Plan,
}

#[derive(Debug)]
pub struct RunResult {
    /// Graph outputs, in graph order.
    pub outputs: Vec<(String, Tensor)>,
    /// Largest total size of inputs and intermediate values alive at once
    /// (weights excluded: they are counted by the model summary).
    pub peak_bytes: usize,
}

enum Value<'a> {
    Empty,
    Borrowed(&'a Tensor),
    Owned(Tensor),
}

impl<'a> Value<'a> {
    fn get(&self) -> Option<&Tensor> {
        match self {
            Value::Empty => None,
            Value::Borrowed(t) => Some(t),
            Value::Owned(t) => Some(t),
        }
    }
}

impl Session {
    pub fn new(model: Model) -> Result<Session> {
        let plan = Plan::build(&model, &Registry::standard())?;
        Ok(Session { model, plan })
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Checks every provided input against the declared type and shape and
    /// binds symbolic dimensions consistently across inputs.
    fn check_inputs(&self, inputs: &[(String, Tensor)]) -> Result<()> {
        let g = &self.model.graph;
        let expected: Vec<&str> = g.real_inputs().map(|vi| vi.name.as_str()).collect();
        for (name, _) in inputs {
            if !g.inputs.iter().any(|vi| &vi.name == name) {
                return Err(SquishError::input(name, format!("the model has no such input (expected: {})", expected.join(", "))));
            }
        }
        let mut bound: HashMap<&str, usize> = HashMap::new();
        for vi in g.real_inputs() {
            let Some((_, t)) = inputs.iter().find(|(n, _)| *n == vi.name) else {
                return Err(SquishError::input(&vi.name, "no value was given for this input"));
            };
            let ValueType::Tensor { shape, .. } = &vi.ty else { continue };
            if let Some(want) = vi.ty.dtype() {
                if want != t.dtype() {
                    return Err(SquishError::input(&vi.name, format!("expected {want}, got {}", t.dtype())));
                }
            }
            let Some(dims) = shape else { continue };
            let got = t.shape();
            let show = || dims.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ");
            if dims.len() != got.len() {
                return Err(SquishError::input(&vi.name, format!("expected shape [{}] (rank {}), got {got:?}", show(), dims.len())));
            }
            for (i, (d, &g)) in dims.iter().zip(got).enumerate() {
                match d {
                    Dim::Fixed(v) if *v >= 0 && *v as usize != g => {
                        return Err(SquishError::input(&vi.name, format!("dimension {i} must be {v} (shape [{}]), got {got:?}", show())));
                    }
                    Dim::Symbolic(s) => match bound.get(s.as_str()) {
                        Some(&b) if b != g => {
                            return Err(SquishError::input(
                                &vi.name,
                                format!("dimension {i} is '{s}', already bound to {b} by another input, got {g}"),
                            ))
                        }
                        _ => {
                            bound.insert(s, g);
                        }
                    },
                    _ => {}
                }
            }
        }
        Ok(())
    }

    pub fn run(&self, inputs: Vec<(String, Tensor)>) -> Result<RunResult> {
        self.check_inputs(&inputs)?;
        let g = &self.model.graph;
        let plan = &self.plan;
        let mut values: Vec<Value> = plan
            .sources
            .iter()
            .map(|src| match src {
                Source::Initializer(i) => Value::Borrowed(&g.initializers[*i].1),
                _ => Value::Empty,
            })
            .collect();
        let mut live_bytes = 0usize;
        for (name, t) in inputs {
            if let Some(slot) = plan.slot_names.iter().position(|n| *n == name) {
                live_bytes += t.byte_size();
                values[slot] = Value::Owned(t);
            }
        }
        let mut peak_bytes = live_bytes;
        for step in &plan.steps {
            let node = &g.nodes[step.node];
            let args: Vec<Option<&Tensor>> = step.inputs.iter().map(|s| s.and_then(|s| values[s].get())).collect();
            let results = step.op.eval(&args).map_err(|e| e.in_node(node))?;
            let named = step.outputs.len();
            if results.len() < step.outputs.iter().flatten().count() {
                return Err(SquishError::Node {
                    node: node.name.clone(),
                    op_type: node.op_type.clone(),
                    detail: format!("produced {} outputs, the graph expects {named}", results.len()),
                });
            }
            for (slot, t) in step.outputs.iter().zip(results) {
                if let Some(slot) = slot {
                    live_bytes += t.byte_size();
                    values[*slot] = Value::Owned(t);
                }
            }
            peak_bytes = peak_bytes.max(live_bytes);
            for &slot in &step.frees {
                if let Value::Owned(t) = std::mem::replace(&mut values[slot], Value::Empty) {
                    live_bytes -= t.byte_size();
                }
            }
        }
        let mut outputs = Vec::with_capacity(plan.outputs.len());
        for (vi, &slot) in g.outputs.iter().zip(&plan.outputs) {
            let t = match &values[slot] {
                Value::Owned(t) => t.clone(),
                Value::Borrowed(t) => (*t).clone(),
                Value::Empty => {
                    return Err(SquishError::invalid(format!("graph output '{}' was never computed", vi.name)))
                }
            };
            outputs.push((vi.name.clone(), t));
        }
        Ok(RunResult { outputs, peak_bytes })
    }
}
