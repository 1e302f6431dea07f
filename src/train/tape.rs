//! The tape: a model compiled for training. Forward runs each node with the
//! operator inference uses (so a trained model computes exactly what it
//! will compute once exported) and keeps every value; backward walks the
//! nodes in reverse with their rules and sums the gradient of each weight.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};

use ndarray::ArrayD;

use super::rules::{self, RuleCtx};
use crate::error::{Result, SquishError};
use crate::formats::data::feeds::Feed;
use crate::ir::{Model, Node};
use crate::ops::{BuildCtx, NoSubgraphs, Op, Registry};
use crate::tensor::Tensor;

/// A weight the tape trains.
#[derive(Debug, Clone)]
pub struct Param {
    /// The initializer's name.
    pub name: String,
    pub value: ArrayD<f32>,
    /// Entries that must stay zero (a pruned weight being fine-tuned).
    pub frozen_zeros: Option<Vec<bool>>,
    /// A weight matrix (not a bias or a scale): what gradual pruning prunes.
    pub prunable: bool,
    id: usize,
}

impl Param {
    /// Zeroes the entries the mask keeps at zero (after an update).
    pub fn apply_mask(&mut self) {
        if let Some(mask) = &self.frozen_zeros {
            for (v, &z) in self.value.iter_mut().zip(mask) {
                if z {
                    *v = 0.0;
                }
            }
        }
    }
}

struct TapeStep {
    node: Node,
    opset: i64,
    op: Box<dyn Op>,
    inputs: Vec<Option<usize>>,
    outputs: Vec<Option<usize>>,
    /// Whether any input depends on a trainable weight.
    on_path: bool,
}

/// The values of one forward run, by value id. Constants and the inputs
/// are borrowed (a frozen embedding table is not copied per minibatch).
pub struct Forward<'a> {
    values: Vec<Option<Cow<'a, Tensor>>>,
}

impl Forward<'_> {
    pub fn value(&self, id: usize) -> Option<&Tensor> {
        self.values.get(id).and_then(|v| v.as_deref())
    }
}

/// Ops whose outputs are never a float function of their inputs (shapes,
/// comparisons, indices): gradients stop there.
const NOT_DIFFERENTIABLE: [&str; 17] = [
    "Shape",
    "Size",
    "ArgMax",
    "ArgMin",
    "Equal",
    "Less",
    "Greater",
    "LessOrEqual",
    "GreaterOrEqual",
    "Not",
    "And",
    "Or",
    "NonZero",
    "ConstantOfShape",
    "Range",
    "EyeLike",
    "IsNaN",
];

pub struct Tape {
    graph_inputs: Vec<(String, usize)>,
    outputs: Vec<(String, usize)>,
    constants: Vec<(usize, Tensor)>,
    ids: HashMap<String, usize>,
    steps: Vec<TapeStep>,
    pub params: Vec<Param>,
    /// Values that depend on a trained weight.
    grad_values: HashSet<usize>,
    /// The model the tape was made from; `model()` writes the trained
    /// weights back into a copy.
    model: Model,
    /// Set for a quantised model trained in its float form: the model to
    /// write the weights into instead, and per weight trained through a
    /// FakeQuantize node, the name of the codes it becomes.
    export: Option<(Model, Vec<(String, String)>)>,
}

/// Control flow is not trained: a graph with `If`/`Loop` branches gets a
/// clear error when an op asks for its subgraphs.
const NO_CONTROL_FLOW: NoSubgraphs = NoSubgraphs("training does not run control flow (If/Loop/Scan subgraphs)");

impl Tape {
    /// Compiles `model` for training the float initializers `trainable`
    /// selects. Every node between a trained weight and an output must have
    /// a backward rule; those that have none are listed together.
    pub fn new(model: &Model, trainable: impl Fn(&str, &Tensor) -> bool) -> Result<Tape> {
        let g = &model.graph;
        let mut ids: HashMap<String, usize> = HashMap::new();
        let id_of = |name: &str, ids: &mut HashMap<String, usize>| -> usize {
            let next = ids.len();
            *ids.entry(name.to_string()).or_insert(next)
        };
        let overridable: HashSet<&str> = g.inputs.iter().map(|v| v.name.as_str()).collect();
        let mut params = Vec::new();
        let mut constants = Vec::new();
        for (name, t) in &g.initializers {
            if overridable.contains(name.as_str()) {
                continue;
            }
            let id = id_of(name, &mut ids);
            match t {
                Tensor::F32(a) if trainable(name, t) => {
                    params.push(Param { name: name.clone(), value: a.as_standard_layout().into_owned(), frozen_zeros: None, prunable: false, id })
                }
                _ => constants.push((id, t.clone())),
            }
        }
        let graph_inputs: Vec<(String, usize)> = g.real_inputs().map(|v| (v.name.clone(), id_of(&v.name, &mut ids))).collect();
        for n in &g.nodes {
            for o in n.outputs.iter().filter(|o| !o.is_empty()) {
                id_of(o, &mut ids);
            }
        }
        let (steps, grad_values) = build_steps(model, &ids, &params, &constants)?;
        let outputs = g
            .outputs
            .iter()
            .map(|o| ids.get(&o.name).map(|&i| (o.name.clone(), i)).ok_or_else(|| SquishError::invalid(format!("graph output '{}' is never produced", o.name))))
            .collect::<Result<_>>()?;
        Ok(Tape { graph_inputs, outputs, constants, ids, steps, params, grad_values, model: model.clone(), export: None })
    }

    /// Writes trained weights into `target` instead of the model the tape
    /// was made from: float weights by name, and each `(weight, codes)`
    /// pair's weight as the codes its FakeQuantize node computes from it —
    /// so the written model computes exactly what was trained.
    pub fn export_into(&mut self, target: Model, codes: Vec<(String, String)>) {
        self.export = Some((target, codes));
    }

    /// The id of a value by name (an output, or an intermediate tensor a
    /// loss reads).
    pub fn value_id(&self, name: &str) -> Option<usize> {
        self.ids.get(name).copied()
    }

    pub fn output_ids(&self) -> &[(String, usize)] {
        &self.outputs
    }

    /// The node producing `value`, if any.
    pub fn producer(&self, value: usize) -> Option<&Node> {
        self.steps.iter().find(|s| s.outputs.contains(&Some(value))).map(|s| &s.node)
    }

    /// Runs the model on `feed`, keeping every value.
    pub fn forward<'a>(&'a self, feed: &'a Feed) -> Result<Forward<'a>> {
        let mut values: Vec<Option<Cow<'a, Tensor>>> = vec![None; self.ids.len()];
        for (id, t) in &self.constants {
            values[*id] = Some(Cow::Borrowed(t));
        }
        for p in &self.params {
            values[p.id] = Some(Cow::Owned(Tensor::F32(p.value.clone())));
        }
        for (name, id) in &self.graph_inputs {
            let t = feed.iter().find(|(n, _)| n == name).map(|(_, t)| t).ok_or_else(|| SquishError::input(name, "no value was given for this input"))?;
            values[*id] = Some(Cow::Borrowed(t));
        }
        for s in &self.steps {
            let ins: Vec<Option<&Tensor>> = s.inputs.iter().map(|i| i.and_then(|i| values[i].as_deref())).collect();
            let outs = s.op.eval(&ins).map_err(|e| e.in_node(&s.node.name, &s.node.op_type))?;
            for (slot, v) in s.outputs.iter().zip(outs) {
                if let Some(slot) = slot {
                    values[*slot] = Some(Cow::Owned(v));
                }
            }
        }
        Ok(Forward { values })
    }

    /// Gradients of every parameter (in `params` order) given the gradient
    /// of the loss with respect to some values (`seeds`, by value id).
    pub fn backward(&self, fwd: &Forward, seeds: Vec<(usize, ArrayD<f32>)>) -> Result<Vec<ArrayD<f32>>> {
        let mut grads: BTreeMap<usize, ArrayD<f32>> = BTreeMap::new();
        for (id, g) in seeds {
            accumulate(&mut grads, id, g);
        }
        for s in self.steps.iter().rev().filter(|s| s.on_path) {
            let Some(out0) = s.outputs.first().copied().flatten() else { continue };
            let Some(dy) = grads.remove(&out0) else { continue };
            let inputs: Vec<Option<&Tensor>> = s.inputs.iter().map(|i| i.and_then(|i| fwd.value(i))).collect();
            let outputs: Vec<Option<&Tensor>> = s.outputs.iter().map(|o| o.and_then(|o| fwd.value(o))).collect();
            // Gradients flow only into float values that depend on a weight.
            let wants: Vec<bool> =
                s.inputs.iter().zip(&inputs).map(|(i, t)| i.is_some_and(|i| self.grad_values.contains(&i)) && matches!(t, Some(Tensor::F32(_)))).collect();
            let ctx = RuleCtx { node: &s.node, opset: s.opset, op: s.op.as_ref(), inputs, outputs, dy: &dy, wants: &wants };
            let rule = rules::rule_for(&s.node.op_type).expect("checked when the tape was built");
            let dins = rule(&ctx).map_err(|e| e.in_node(&s.node.name, &s.node.op_type))?;
            for (i, d) in dins.into_iter().enumerate() {
                if let (Some(mut d), Some(Some(id))) = (d, s.inputs.get(i)) {
                    if wants[i] {
                        flush_subnormals(&mut d);
                        accumulate(&mut grads, *id, d);
                    }
                }
            }
        }
        Ok(self
            .params
            .iter()
            .map(|p| match grads.remove(&p.id) {
                Some(g) if g.is_standard_layout() => g,
                Some(g) => g.as_standard_layout().into_owned(),
                None => ArrayD::zeros(p.value.raw_dim()),
            })
            .collect())
    }

    /// The model with the trained weights in place of the initial ones.
    pub fn model(&self) -> Result<Model> {
        self.model_with(&self.params)
    }

    /// The model with `params` (the tape's, or a snapshot of them) in place.
    pub fn model_with(&self, params: &[Param]) -> Result<Model> {
        let (mut m, codes) = match &self.export {
            Some((target, codes)) => (target.clone(), codes.as_slice()),
            None => (self.model.clone(), &[][..]),
        };
        for (name, t) in m.graph.initializers.iter_mut() {
            if let Some(p) = params.iter().find(|p| p.name == *name) {
                *t = Tensor::F32(p.value.clone());
            } else if let Some((weight, _)) = codes.iter().find(|(_, c)| c == name) {
                *t = self.codes_of(weight, params)?;
            }
        }
        Ok(m)
    }

    /// The codes the FakeQuantize node reading `weight` makes of it.
    fn codes_of(&self, weight: &str, params: &[Param]) -> Result<Tensor> {
        let missing = || SquishError::op(format!("no trained weight '{weight}' goes through a FakeQuantize node"));
        let p = params.iter().find(|p| p.name == weight).ok_or_else(missing)?;
        let step = self.steps.iter().find(|s| s.node.op_type == crate::ops::internal::FAKE_QUANTIZE && s.node.inputs[0] == weight).ok_or_else(missing)?;
        let value = Tensor::F32(p.value.clone());
        let constant = |id: Option<usize>| id.and_then(|i| self.constants.iter().find(|(c, _)| *c == i).map(|(_, t)| t));
        let mut inputs: Vec<Option<&Tensor>> = vec![Some(&value)];
        inputs.extend(step.inputs[1..].iter().map(|&i| constant(i)));
        let mut out = step.op.eval(&inputs).map_err(|e| e.in_node(&step.node.name, &step.node.op_type))?;
        Ok(out.swap_remove(1))
    }
}

/// Gradients below the normal range carry nothing a float32 weight can use,
/// and every product that reads a subnormal runs some hundred times slower
/// on x86 under wasm (which has no flush-to-zero mode): attention over
/// padding makes many of them.
fn flush_subnormals(g: &mut ArrayD<f32>) {
    g.mapv_inplace(|v| if v.is_subnormal() { 0.0 } else { v });
}

fn accumulate(grads: &mut BTreeMap<usize, ArrayD<f32>>, id: usize, g: ArrayD<f32>) {
    match grads.get_mut(&id) {
        Some(acc) if acc.shape() == g.shape() => *acc += &g,
        Some(acc) => *acc += &g.broadcast(acc.raw_dim()).expect("gradients of one value share its shape").to_owned(),
        None => {
            grads.insert(id, g);
        }
    }
}

/// Builds every node's op (constants given to ops that prepare them; the
/// trained weights never, as they change) and marks the nodes a gradient
/// passes through; nodes on that path without a rule are an error naming
/// them all.
fn build_steps(model: &Model, ids: &HashMap<String, usize>, params: &[Param], constants: &[(usize, Tensor)]) -> Result<(Vec<TapeStep>, HashSet<usize>)> {
    let registry = Registry::standard();
    let constant_of: HashMap<usize, &Tensor> = constants.iter().map(|(i, t)| (*i, t)).collect();
    let mut grad_values: HashSet<usize> = params.iter().map(|p| p.id).collect();
    let mut steps = Vec::with_capacity(model.graph.nodes.len());
    let mut missing: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut unsupported = Vec::new();
    for node in &model.graph.nodes {
        if node.subgraphs().next().is_some() {
            return Err(SquishError::op("training does not run control flow (If/Loop/Scan subgraphs)").in_node(&node.name, &node.op_type));
        }
        let opset = model.opset(&node.domain).unwrap_or(1);
        let inputs: Vec<Option<usize>> = node.inputs.iter().map(|i| if i.is_empty() { None } else { ids.get(i).copied() }).collect();
        if let Some(pos) = node.inputs.iter().zip(&inputs).position(|(n, i)| !n.is_empty() && i.is_none()) {
            return Err(SquishError::invalid(format!("input '{}' is never produced", node.inputs[pos])).in_node(&node.name, &node.op_type));
        }
        let Some(builder) = registry.get(&node.domain, &node.op_type) else {
            unsupported.push(crate::error::UnsupportedOp {
                node: node.name.clone(),
                op_type: node.op_type.clone(),
                domain: crate::ops::normalize_domain(&node.domain).to_string(),
                opset,
            });
            continue;
        };
        let consts: Vec<Option<&Tensor>> = inputs.iter().map(|i| i.and_then(|i| constant_of.get(&i).copied())).collect();
        let ctx = BuildCtx { node, opset, planner: &NO_CONTROL_FLOW, captures: &[], constants: &consts };
        let op = builder(&ctx).map_err(|e| e.in_node(&node.name, &node.op_type))?;
        let on_path = inputs.iter().flatten().any(|i| grad_values.contains(i));
        let outputs: Vec<Option<usize>> = node.outputs.iter().map(|o| if o.is_empty() { None } else { ids.get(o).copied() }).collect();
        if on_path && !NOT_DIFFERENTIABLE.contains(&node.op_type.as_str()) {
            if rules::rule_for(&node.op_type).is_none() {
                missing.entry(node.op_type.clone()).or_default().push(node.name.clone());
            }
            grad_values.extend(outputs.iter().flatten());
        }
        steps.push(TapeStep { node: node.clone(), opset, op, inputs, outputs, on_path });
    }
    if !unsupported.is_empty() {
        return Err(SquishError::UnsupportedOps(unsupported));
    }
    if !missing.is_empty() {
        let list: Vec<String> = missing.iter().map(|(op, nodes)| format!("{op} ({})", nodes.join(", "))).collect();
        return Err(SquishError::op(format!(
            "training needs a backward rule for every op between a trained weight and the outputs; none yet for: {}",
            list.join("; ")
        )));
    }
    Ok((steps, grad_values))
}
