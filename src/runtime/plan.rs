//! Planning: validate the graph, order the nodes, build every op once and
//! work out when each intermediate value can be freed.

use std::collections::{HashMap, VecDeque};

use crate::error::{Result, SquishError, UnsupportedOp};
use crate::graph::{Graph, Model};
use crate::onnx::ops::{normalize_domain, BuildCtx, Op, Registry};

/// Where a value comes from before any node runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Source {
    GraphInput(usize),
    Initializer(usize),
    Node,
}

pub struct Step {
    pub node: usize,
    pub op: Box<dyn Op>,
    /// Slot of each input, `None` for an omitted optional input.
    pub inputs: Vec<Option<usize>>,
    /// Slot of each output, `None` where the node leaves an output unnamed.
    pub outputs: Vec<Option<usize>>,
    /// Slots whose last reader is this step (freed after it runs).
    pub frees: Vec<usize>,
}

pub struct Plan {
    pub steps: Vec<Step>,
    pub slot_names: Vec<String>,
    pub sources: Vec<Source>,
    /// Graph outputs, as slots, in graph order.
    pub outputs: Vec<usize>,
}

impl Plan {
    pub fn build(model: &Model, registry: &Registry) -> Result<Plan> {
        let g = &model.graph;
        let mut slots: HashMap<String, usize> = HashMap::new();
        let mut slot_names = Vec::new();
        let mut sources = Vec::new();
        let mut add = |name: &str, src: Source, slots: &mut HashMap<String, usize>| {
            slots.insert(name.to_string(), slot_names.len());
            slot_names.push(name.to_string());
            sources.push(src);
        };
        for (i, (name, _)) in g.initializers.iter().enumerate() {
            if slots.contains_key(name) {
                return Err(SquishError::invalid(format!("initializer '{name}' is defined twice")));
            }
            add(name, Source::Initializer(i), &mut slots);
        }
        for (i, vi) in g.inputs.iter().enumerate() {
            // An input that is also an initializer takes the initializer as default.
            if !slots.contains_key(&vi.name) {
                add(&vi.name, Source::GraphInput(i), &mut slots);
            }
        }
        let mut producer: HashMap<String, usize> = HashMap::new();
        for (ni, node) in g.nodes.iter().enumerate() {
            for out in node.outputs.iter().filter(|o| !o.is_empty()) {
                if let Some(&prev) = producer.get(out) {
                    return Err(SquishError::invalid(format!(
                        "value '{out}' is produced by both node '{}' and node '{}'",
                        g.nodes[prev].name, node.name
                    )));
                }
                if slots.contains_key(out) {
                    return Err(SquishError::invalid(format!(
                        "node '{}' writes '{out}', which is already a graph input or initializer",
                        node.name
                    )));
                }
                producer.insert(out.clone(), ni);
                add(out, Source::Node, &mut slots);
            }
        }

        let order = topological_order(g, &producer, &slots)?;
        let steps = build_steps(model, registry, &order, &slots)?;
        let outputs = g
            .outputs
            .iter()
            .map(|o| {
                slots.get(&o.name).copied().ok_or_else(|| {
                    SquishError::invalid(format!("graph output '{}' is not produced by any node", o.name))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let mut plan = Plan { steps, slot_names, sources, outputs };
        plan.compute_frees();
        Ok(plan)
    }

    fn compute_frees(&mut self) {
        let mut last_use: HashMap<usize, usize> = HashMap::new();
        for (si, step) in self.steps.iter().enumerate() {
            for s in step.inputs.iter().flatten() {
                last_use.insert(*s, si);
            }
        }
        for (slot, si) in last_use {
            let is_output = self.outputs.contains(&slot);
            if self.sources[slot] == Source::Node && !is_output {
                self.steps[si].frees.push(slot);
            }
        }
        // Outputs nobody reads (unused second outputs) are freed right away.
        for si in 0..self.steps.len() {
            let unused: Vec<usize> = self.steps[si]
                .outputs
                .iter()
                .flatten()
                .copied()
                .filter(|o| !self.outputs.contains(o) && !self.steps.iter().any(|s| s.inputs.contains(&Some(*o))))
                .collect();
            self.steps[si].frees.extend(unused);
        }
    }
}

/// Kahn's algorithm, stable with respect to file order. Reports the first
/// input that nothing produces, and every node caught in a cycle.
fn topological_order(g: &Graph, producer: &HashMap<String, usize>, slots: &HashMap<String, usize>) -> Result<Vec<usize>> {
    let n = g.nodes.len();
    let mut indegree = vec![0usize; n];
    let mut readers: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (ni, node) in g.nodes.iter().enumerate() {
        for input in node.inputs.iter().filter(|i| !i.is_empty()) {
            match producer.get(input) {
                Some(&p) => {
                    indegree[ni] += 1;
                    readers[p].push(ni);
                }
                None if slots.contains_key(input) => {}
                None => {
                    return Err(SquishError::Node {
                        node: node.name.clone(),
                        op_type: node.op_type.clone(),
                        detail: format!(
                            "input '{input}' is not a graph input, an initializer or the output of any node (missing initializer?)"
                        ),
                    })
                }
            }
        }
    }
    let mut ready: VecDeque<usize> = (0..n).filter(|&i| indegree[i] == 0).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(ni) = ready.pop_front() {
        order.push(ni);
        for &r in &readers[ni] {
            indegree[r] -= 1;
            if indegree[r] == 0 {
                ready.push_back(r);
            }
        }
    }
    if order.len() < n {
        let stuck: Vec<&str> = (0..n).filter(|&i| indegree[i] > 0).map(|i| g.nodes[i].name.as_str()).collect();
        return Err(SquishError::invalid(format!("the graph has a cycle through nodes: {}", stuck.join(", "))));
    }
    Ok(order)
}

fn build_steps(model: &Model, registry: &Registry, order: &[usize], slots: &HashMap<String, usize>) -> Result<Vec<Step>> {
    let g = &model.graph;
    // Unsupported ops are collected first and reported together.
    let mut unsupported = Vec::new();
    for node in &g.nodes {
        let opset = model.opset(&node.domain).unwrap_or(0);
        if registry.get(&node.domain, &node.op_type).is_none() {
            let entry = UnsupportedOp {
                node: node.name.clone(),
                op_type: node.op_type.clone(),
                domain: normalize_domain(&node.domain).to_string(),
                opset,
            };
            unsupported.push(entry);
        }
    }
    if !unsupported.is_empty() {
        return Err(SquishError::UnsupportedOps(unsupported));
    }
    let mut steps = Vec::with_capacity(order.len());
    for &ni in order {
        let node = &g.nodes[ni];
        let opset = model.opset(&node.domain).ok_or_else(|| SquishError::Node {
            node: node.name.clone(),
            op_type: node.op_type.clone(),
            detail: format!("domain '{}' is not imported by the model (no opset_import entry)", node.domain),
        })?;
        let builder = registry.get(&node.domain, &node.op_type).expect("checked above");
        let op = builder(&BuildCtx { node, opset }).map_err(|e| e.in_node(node))?;
        let inputs = node.inputs.iter().map(|i| if i.is_empty() { None } else { slots.get(i).copied() }).collect();
        let outputs = node.outputs.iter().map(|o| if o.is_empty() { None } else { slots.get(o).copied() }).collect();
        steps.push(Step { node: ni, op, inputs, outputs, frees: Vec::new() });
    }
    Ok(steps)
}
