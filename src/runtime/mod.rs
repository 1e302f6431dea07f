//! The runtime: a `Session` plans a model once and runs it many times,
//! freeing every intermediate value after its last reader. Subgraphs (If
//! branches) are `SubGraph`s run by the same executor.

pub(crate) mod clock;
pub mod memory;
pub mod passes;
mod plan;

use std::collections::HashMap;
use std::sync::Arc;

use crate::error::{Result, SquishError};
use crate::ir::{Dim, Graph, Model, Node, ValueType};
use crate::ops::Registry;
use crate::tensor::Tensor;
pub use plan::{node_captures, Plan, Scope, Source};

pub struct Session {
    /// The model as loaded (what summaries and saving see), shared with
    /// whoever else holds it (the wasm model handle, other sessions).
    model: Arc<Model>,
    /// The node list the plan indexes when load-time fusions changed it
    /// (`None`: the model's own; not cloned, Constant nodes can hold weights).
    fused_nodes: Option<Vec<Node>>,
    plan: Plan,
    /// The memory estimate of the last input signature (runs repeat shapes).
    estimate: std::sync::Mutex<Option<(memory::Signature, Option<usize>)>>,
    fusion: passes::Fusion,
    /// IR < 4 models only: a session where the weights are inputs again,
    /// planned the first time a run feeds one (onnxruntime lets callers
    /// override them; everyone else gets them folded and prepacked).
    weights_as_inputs: std::cell::OnceCell<Box<Session>>,
}

/// Wall time of one node in a profiled run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NodeTiming {
    pub node: String,
    pub op_type: String,
    pub ms: f64,
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

/// Runs a planned graph. `feeds` binds graph inputs (owned) and outer
/// values (borrowed) to their slots. Returns the outputs and peak bytes.
fn execute<'a>(
    plan: &Plan,
    graph: &'a Graph,
    nodes: &[Node],
    feeds: Vec<(usize, Value<'a>)>,
    mut timings: Option<&mut Vec<NodeTiming>>,
    mut observe: Option<Observer<'_>>,
) -> Result<(Vec<Tensor>, usize)> {
    let mut values: Vec<Value> = plan
        .sources
        .iter()
        .map(|src| match src {
            Source::Initializer(i) => Value::Borrowed(&graph.initializers[*i].1),
            Source::Folded(i) => Value::Borrowed(&plan.folded[*i]),
            _ => Value::Empty,
        })
        .collect();
    let mut live_bytes = 0usize;
    for (slot, v) in feeds {
        if let Value::Owned(t) = &v {
            live_bytes += t.byte_size();
        }
        values[slot] = v;
    }
    let mut peak_bytes = live_bytes;
    for step in &plan.steps {
        let node = &nodes[step.node];
        // An input that dies here and is read once may lend its buffer to the output.
        let mut lent = None;
        for &at in step.op.reusable_inputs() {
            let Some(Some(slot)) = step.inputs.get(at).copied() else { continue };
            if step.frees.contains(&slot) && step.inputs.iter().filter(|s| **s == Some(slot)).count() == 1 && matches!(values[slot], Value::Owned(_)) {
                if let Value::Owned(t) = std::mem::replace(&mut values[slot], Value::Empty) {
                    live_bytes -= t.byte_size();
                    lent = Some((at, t));
                }
                break;
            }
        }
        let args: Vec<Option<&Tensor>> = step.inputs.iter().map(|s| s.and_then(|s| values[s].get())).collect();
        let t0 = timings.as_ref().map(|_| clock::now_ms());
        let results = match lent {
            Some((at, t)) => step.op.eval_reusing(&args, at, t),
            None => step.op.eval(&args),
        }
        .map_err(|e| e.in_node(&node.name, &node.op_type))?;
        if let (Some(t), Some(t0)) = (timings.as_deref_mut(), t0) {
            t.push(NodeTiming { node: node.name.clone(), op_type: node.op_type.clone(), ms: clock::now_ms() - t0 });
        }
        if results.len() < step.outputs.iter().flatten().count() {
            return Err(SquishError::Node {
                node: node.name.clone(),
                op_type: node.op_type.clone(),
                detail: format!("produced {} outputs, the graph expects {}", results.len(), step.outputs.len()),
            });
        }
        for (slot, t) in step.outputs.iter().zip(results) {
            if let Some(slot) = slot {
                let mut t = t;
                if let Some(f) = observe.as_deref_mut() {
                    f(&plan.slot_names[*slot], &mut t)?;
                }
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
    for (vi, &slot) in graph.outputs.iter().zip(&plan.outputs) {
        outputs.push(match &values[slot] {
            Value::Owned(t) => t.clone(),
            Value::Borrowed(t) => (*t).clone(),
            Value::Empty => return Err(SquishError::invalid(format!("graph output '{}' was never computed", vi.name))),
        });
    }
    Ok((outputs, peak_bytes))
}

/// Sees every value a run computes, by name, as it is produced (per-layer
/// comparison without keeping every intermediate alive). It may replace the
/// value (to feed a layer the original model's inputs); it must keep the
/// shape and dtype the readers expect.
pub type Observer<'f> = &'f mut dyn FnMut(&str, &mut Tensor) -> Result<()>;

/// A planned subgraph with its captured outer names (for control-flow ops).
pub struct SubGraph {
    graph: Graph,
    plan: Plan,
    /// How many outer values it reads; they are the trailing `eval` inputs.
    captures: usize,
}

impl SubGraph {
    /// Plans `graph`, which reads `captures` from the enclosing scope.
    pub fn new(graph: &Graph, scope: &Scope, captures: &[String]) -> Result<SubGraph> {
        let plan = Plan::for_graph(graph, scope, captures)?;
        Ok(SubGraph { graph: graph.clone(), plan, captures: captures.len() })
    }
}

impl crate::ops::Subgraph for SubGraph {
    /// Runs with the subgraph's inputs (in graph order) and the outer values
    /// in capture order.
    fn run_with(&self, inputs: Vec<Tensor>, outer: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        if outer.len() != self.captures {
            return Err(SquishError::op(format!("subgraph expects {} outer values, got {}", self.captures, outer.len())));
        }
        if inputs.len() != self.graph.inputs.len() {
            return Err(SquishError::op(format!("subgraph '{}' has {} inputs, {} were given", self.graph.name, self.graph.inputs.len(), inputs.len())));
        }
        let mut inputs: Vec<Option<Tensor>> = inputs.into_iter().map(Some).collect();
        let mut feeds = Vec::with_capacity(outer.len() + inputs.len());
        for (slot, src) in self.plan.sources.iter().enumerate() {
            match src {
                Source::Outer(i) => {
                    let t =
                        outer[*i].ok_or_else(|| SquishError::op(format!("outer value '{}' read by the subgraph is missing", self.plan.slot_names[slot])))?;
                    feeds.push((slot, Value::Borrowed(t)));
                }
                Source::GraphInput(i) => feeds.push((slot, Value::Owned(inputs[*i].take().expect("each input fed once")))),
                _ => {}
            }
        }
        Ok(execute(&self.plan, &self.graph, &self.graph.nodes, feeds, None, None)?.0)
    }
}

impl Session {
    pub fn new(model: impl Into<Arc<Model>>) -> Result<Session> {
        Session::with_fusion(model.into(), passes::Fusion::All)
    }

    /// A session that computes every float value of the graph under its own
    /// name (activations are not fused into the convolution before them),
    /// for per-layer comparison. Integer chains are still fused: their
    /// inner values exist only in the compressed model.
    pub fn for_comparison(model: impl Into<Arc<Model>>) -> Result<Session> {
        Session::with_fusion(model.into(), passes::Fusion::KeepFloatValues)
    }

    fn with_fusion(model: Arc<Model>, fusion: passes::Fusion) -> Result<Session> {
        let registry = Registry::standard();
        let scope = Scope { opsets: &model.opsets, registry: &registry };
        plan::check_supported(&model.graph, &scope)?;
        // The fused node list stands for the model's own; the model is not changed.
        let fused_nodes = passes::fuse(&model.graph, model.opset("").unwrap_or(1), fusion);
        let plan = Plan::for_nodes(&model.graph, fused_nodes.as_deref().unwrap_or(&model.graph.nodes), &scope, &[])?;
        Ok(Session { model, fused_nodes, plan, estimate: Default::default(), fusion, weights_as_inputs: Default::default() })
    }

    /// A session whose outputs are the model's followed by the intermediate
    /// values `names` (for calibration and per-layer comparison).
    pub fn observing(model: &Model, names: &[String]) -> Result<Session> {
        Session::observing_owned(model.clone(), names)
    }

    pub fn observing_owned(mut m: Model, names: &[String]) -> Result<Session> {
        for name in names {
            if !m.graph.outputs.iter().any(|o| &o.name == name) {
                m.graph.outputs.push(crate::ir::ValueInfo { name: name.clone(), ty: ValueType::Unknown, doc_string: String::new() });
            }
        }
        Session::new(m)
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The model, shared (no copy).
    pub fn shared_model(&self) -> Arc<Model> {
        Arc::clone(&self.model)
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
                            return Err(SquishError::input(&vi.name, format!("dimension {i} is '{s}', already bound to {b} by an earlier dimension, got {g}")))
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
        self.run_inner(inputs, None, None)
    }

    /// Runs, showing `observe` each computed value (node outputs of the
    /// top-level graph; values folded at load time are not recomputed).
    pub fn run_observed(&self, inputs: Vec<(String, Tensor)>, observe: Observer<'_>) -> Result<RunResult> {
        self.run_inner(inputs, None, Some(observe))
    }

    /// Runs and records each node's wall time, in execution order.
    pub fn run_profiled(&self, inputs: Vec<(String, Tensor)>) -> Result<(RunResult, Vec<NodeTiming>)> {
        let mut timings = Vec::with_capacity(self.plan.steps.len());
        let result = self.run_inner(inputs, Some(&mut timings), None)?;
        Ok((result, timings))
    }

    /// Peak bytes of inputs and intermediate values a run with these inputs
    /// needs, when every size is known statically (`runtime::memory`).
    pub fn estimated_peak_bytes(&self, inputs: &[(String, Tensor)]) -> Option<usize> {
        let signature: memory::Signature = inputs.iter().map(|(n, t)| (n.clone(), t.dtype(), t.shape().to_vec())).collect();
        let mut cached = self.estimate.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, estimate)) = cached.as_ref().filter(|(sig, _)| *sig == signature) {
            return *estimate;
        }
        let estimate = memory::estimate_peak(&self.plan, &self.model, &signature);
        *cached = Some((signature, estimate));
        estimate
    }

    /// Refuses a run whose values would not fit (`MAX_ACTIVATION_BYTES`).
    fn check_memory(&self, inputs: &[(String, Tensor)]) -> Result<()> {
        match self.estimated_peak_bytes(inputs) {
            Some(bytes) if bytes > memory::MAX_ACTIVATION_BYTES => {
                let shapes: Vec<String> = inputs.iter().map(|(n, t)| format!("{n} {:?}", t.shape())).collect();
                Err(SquishError::input(
                    inputs.first().map_or("(inputs)", |(n, _)| n.as_str()),
                    format!(
                        "with these inputs ({}) a run needs {} MiB of intermediate values, more than the {} MiB Squish allows; use smaller inputs (batch, sequence length, image size)",
                        shapes.join(", "),
                        bytes >> 20,
                        memory::MAX_ACTIVATION_BYTES >> 20
                    ),
                ))
            }
            _ => Ok(()),
        }
    }

    /// Whether `inputs` feed a weight of an IR < 4 model (see `weights_as_inputs`).
    fn feeds_weight(&self, inputs: &[(String, Tensor)]) -> bool {
        let g = &self.model.graph;
        self.model.ir_version < 4 && inputs.iter().any(|(n, _)| !g.inputs.iter().any(|vi| vi.name == *n) && g.initializer(n).is_some())
    }

    fn session_with_weight_inputs(&self) -> Result<&Session> {
        if let Some(s) = self.weights_as_inputs.get() {
            return Ok(s);
        }
        let mut m = (*self.model).clone();
        m.ir_version = 4; // initializers listed as inputs may be fed
        let weights = m.graph.unlisted_initializers();
        m.graph.inputs.extend(weights);
        let session = Session::with_fusion(Arc::new(m), self.fusion)?;
        Ok(self.weights_as_inputs.get_or_init(|| Box::new(session)))
    }

    fn run_inner(&self, inputs: Vec<(String, Tensor)>, timings: Option<&mut Vec<NodeTiming>>, observe: Option<Observer<'_>>) -> Result<RunResult> {
        if self.feeds_weight(&inputs) {
            return self.session_with_weight_inputs()?.run_inner(inputs, timings, observe);
        }
        self.check_inputs(&inputs)?;
        self.check_memory(&inputs)?;
        let plan = &self.plan;
        let mut feeds = Vec::with_capacity(inputs.len());
        for (name, t) in inputs {
            // An input that overrides an initializer replaces its slot's value.
            if let Some(slot) = plan.slot_names.iter().position(|n| *n == name) {
                feeds.push((slot, Value::Owned(t)));
            }
        }
        let nodes = self.fused_nodes.as_deref().unwrap_or(&self.model.graph.nodes);
        let (tensors, peak_bytes) = execute(plan, &self.model.graph, nodes, feeds, timings, observe)?;
        let outputs = self.model.graph.outputs.iter().map(|o| o.name.clone()).zip(tensors).collect();
        Ok(RunResult { outputs, peak_bytes })
    }
}
