//! Planning: validate a graph, order its nodes, build every op once and
//! work out when each intermediate value can be freed. Subgraphs (If
//! branches) are planned the same way, with the outer values they read
//! ("captures") passed in as extra inputs.

use std::collections::{HashMap, HashSet, VecDeque};

use crate::error::{Result, SquishError, UnsupportedOp};
use crate::ir::{opset_of, AttrValue, Graph, Node};
use crate::ops::{normalize_domain, BuildCtx, Op, Registry, Subgraph, SubgraphPlanner};
use crate::tensor::Tensor;

/// What ops may consult while being built: opsets and the registry.
pub struct Scope<'a> {
    pub opsets: &'a [(String, i64)],
    pub registry: &'a Registry,
}

impl SubgraphPlanner for Scope<'_> {
    fn plan(&self, graph: &Graph, captures: &[String]) -> Result<Box<dyn Subgraph>> {
        Ok(Box::new(super::SubGraph::new(graph, self, captures)?))
    }
}

/// Where a value comes from before any node runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Source {
    GraphInput(usize),
    Initializer(usize),
    /// A value of an enclosing graph, read by this subgraph.
    Outer(usize),
    /// Computed at load time from constants (`Plan::folded`).
    Folded(usize),
    Node,
}

pub struct Step {
    pub node: usize,
    pub op: Box<dyn Op>,
    /// Slot of each input, `None` for an omitted optional input; the node's
    /// captures (outer values its subgraphs read) follow its own inputs.
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
    /// Values of nodes whose inputs were all constants, computed once.
    pub folded: Vec<Tensor>,
}

/// Names a node's subgraphs read from enclosing scopes, in first-use order.
pub fn node_captures(node: &Node) -> Vec<String> {
    let mut out = Vec::new();
    for a in &node.attributes {
        match &a.value {
            AttrValue::Graph(g) => graph_free_names(g, &mut out),
            AttrValue::Graphs(gs) => gs.iter().for_each(|g| graph_free_names(g, &mut out)),
            _ => {}
        }
    }
    out
}

fn graph_free_names(g: &Graph, out: &mut Vec<String>) {
    let mut local: HashSet<&str> = g.inputs.iter().map(|v| v.name.as_str()).collect();
    local.extend(g.initializers.iter().map(|(n, _)| n.as_str()));
    local.extend(g.nodes.iter().flat_map(|n| n.outputs.iter().map(String::as_str)));
    let push = |name: &str, out: &mut Vec<String>| {
        if !name.is_empty() && !local.contains(name) && !out.iter().any(|o| o == name) {
            out.push(name.to_string());
        }
    };
    for node in &g.nodes {
        for i in &node.inputs {
            push(i, out);
        }
        for c in node_captures(node) {
            push(&c, out);
        }
    }
    for o in &g.outputs {
        push(&o.name, out);
    }
}

impl Plan {
    /// Plans `g`; `outer` lists names of enclosing values it may read.
    pub fn for_graph(g: &Graph, scope: &Scope, outer: &[String]) -> Result<Plan> {
        Plan::for_nodes(g, &g.nodes, scope, outer)
    }

    /// Plans `nodes` (the graph's own, or a fused list standing for them)
    /// over `g`'s inputs, initializers and outputs.
    pub fn for_nodes(g: &Graph, nodes: &[Node], scope: &Scope, outer: &[String]) -> Result<Plan> {
        let mut slots: HashMap<String, usize> = HashMap::new();
        let mut slot_names = Vec::new();
        let mut sources = Vec::new();
        let mut add = |name: &str, src: Source, slots: &mut HashMap<String, usize>| {
            slots.insert(name.to_string(), slot_names.len());
            slot_names.push(name.to_string());
            sources.push(src);
        };
        for (i, name) in outer.iter().enumerate() {
            add(name, Source::Outer(i), &mut slots);
        }
        // Later definitions shadow outer ones (inner scopes may reuse names).
        let mut seen = HashSet::new();
        for (i, (name, _)) in g.initializers.iter().enumerate() {
            if !seen.insert(name.as_str()) {
                return Err(SquishError::invalid(format!("initializer '{name}' is defined twice")));
            }
            add(name, Source::Initializer(i), &mut slots);
        }
        for (i, vi) in g.inputs.iter().enumerate() {
            // An input that is also an initializer takes the initializer as default.
            if !g.initializers.iter().any(|(n, _)| *n == vi.name) {
                add(&vi.name, Source::GraphInput(i), &mut slots);
            }
        }
        let mut producer: HashMap<String, usize> = HashMap::new();
        for (ni, node) in nodes.iter().enumerate() {
            for out in node.outputs.iter().filter(|o| !o.is_empty()) {
                if let Some(&prev) = producer.get(out) {
                    return Err(SquishError::invalid(format!("value '{out}' is produced by both node '{}' and node '{}'", nodes[prev].name, node.name)));
                }
                let shadows_outer = slots.get(out).is_some_and(|&s| s < outer.len());
                if slots.contains_key(out) && !shadows_outer {
                    return Err(SquishError::invalid(format!("node '{}' writes '{out}', which is already a graph input or initializer", node.name)));
                }
                producer.insert(out.clone(), ni);
                add(out, Source::Node, &mut slots);
            }
        }
        let captures: Vec<Vec<String>> = nodes.iter().map(node_captures).collect();
        let order = topological_order(nodes, &captures, &producer, &slots)?;
        let (steps, folded_values) = build_steps(g, nodes, scope, &order, &captures, &slots, &sources)?;
        let mut folded = Vec::with_capacity(folded_values.len());
        for (slot, t) in folded_values {
            sources[slot] = Source::Folded(folded.len());
            folded.push(t);
        }
        let outputs = g
            .outputs
            .iter()
            .map(|o| slots.get(&o.name).copied().ok_or_else(|| SquishError::invalid(format!("graph output '{}' is not produced by any node", o.name))))
            .collect::<Result<Vec<_>>>()?;
        let mut plan = Plan { steps, slot_names, sources, outputs, folded };
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
            // Graph inputs too: the run owns its feeds, so their buffers can be lent.
            if matches!(self.sources[slot], Source::Node | Source::GraphInput(_)) && !self.outputs.contains(&slot) {
                self.steps[si].frees.push(slot);
            }
        }
        // Outputs nobody reads (unused second outputs) are freed right away.
        let read: HashSet<usize> = self.steps.iter().flat_map(|s| s.inputs.iter().flatten().copied()).collect();
        for step in &mut self.steps {
            let unused: Vec<usize> = step.outputs.iter().flatten().copied().filter(|o| !self.outputs.contains(o) && !read.contains(o)).collect();
            step.frees.extend(unused);
        }
    }
}

/// Kahn's algorithm, stable with respect to file order. Reports the first
/// input that nothing produces, and every node caught in a cycle.
fn topological_order(nodes: &[Node], captures: &[Vec<String>], producer: &HashMap<String, usize>, slots: &HashMap<String, usize>) -> Result<Vec<usize>> {
    let n = nodes.len();
    let mut indegree = vec![0usize; n];
    let mut readers: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (ni, node) in nodes.iter().enumerate() {
        for input in node.inputs.iter().chain(&captures[ni]).filter(|i| !i.is_empty()) {
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
                        detail: format!("input '{input}' is not a graph input, an initializer or the output of any node (missing initializer?)"),
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
        let stuck: Vec<&str> = (0..n).filter(|&i| indegree[i] > 0).map(|i| nodes[i].name.as_str()).collect();
        return Err(SquishError::invalid(format!("the graph has a cycle through nodes: {}", stuck.join(", "))));
    }
    Ok(order)
}

/// Every unsupported op of `g` and its subgraphs, for one error listing all.
fn collect_unsupported(g: &Graph, scope: &Scope, out: &mut Vec<UnsupportedOp>) {
    for node in &g.nodes {
        if scope.registry.get(&node.domain, &node.op_type).is_none() {
            out.push(UnsupportedOp {
                node: node.name.clone(),
                op_type: node.op_type.clone(),
                domain: normalize_domain(&node.domain).to_string(),
                opset: opset_of(scope.opsets, &node.domain).unwrap_or(0),
            });
        }
        for a in &node.attributes {
            match &a.value {
                AttrValue::Graph(sub) => collect_unsupported(sub, scope, out),
                AttrValue::Graphs(subs) => subs.iter().for_each(|s| collect_unsupported(s, scope, out)),
                _ => {}
            }
        }
    }
}

/// Checks a whole model graph (with subgraphs) for unsupported ops up front.
pub fn check_supported(g: &Graph, scope: &Scope) -> Result<()> {
    let mut unsupported = Vec::new();
    collect_unsupported(g, scope, &mut unsupported);
    if unsupported.is_empty() {
        Ok(())
    } else {
        Err(SquishError::UnsupportedOps(unsupported))
    }
}

/// The steps of a plan, and the values of folded nodes by slot.
type BuiltSteps = (Vec<Step>, Vec<(usize, Tensor)>);

/// Builds every op in order. Nodes whose inputs are all constants (and that
/// have no subgraphs) are run once here instead: their outputs are returned
/// as `(slot, value)` and they get no step.
#[allow(clippy::too_many_arguments)]
fn build_steps(
    g: &Graph,
    nodes: &[Node],
    scope: &Scope,
    order: &[usize],
    captures: &[Vec<String>],
    slots: &HashMap<String, usize>,
    sources: &[Source],
) -> Result<BuiltSteps> {
    // Load-time values: initializers no graph input overrides, then the
    // outputs of folded nodes as they are computed.
    let mut known: HashMap<usize, Tensor> = HashMap::new();
    let overridable: HashSet<&str> = g.inputs.iter().map(|v| v.name.as_str()).collect();
    let init_value = |slot: usize| -> Option<&Tensor> {
        let Source::Initializer(i) = sources[slot] else { return None };
        let (name, t) = &g.initializers[i];
        (!overridable.contains(name.as_str())).then_some(t)
    };
    let mut steps = Vec::with_capacity(order.len());
    for &ni in order {
        let node = &nodes[ni];
        let internal = (node.domain == crate::ops::internal::INTERNAL_DOMAIN).then_some(1);
        let opset = opset_of(scope.opsets, &node.domain).or(internal).ok_or_else(|| SquishError::Node {
            node: node.name.clone(),
            op_type: node.op_type.clone(),
            detail: format!("domain '{}' is not imported by the model (no opset_import entry)", node.domain),
        })?;
        let builder = scope.registry.get(&node.domain, &node.op_type).ok_or_else(|| {
            SquishError::UnsupportedOps(vec![UnsupportedOp {
                node: node.name.clone(),
                op_type: node.op_type.clone(),
                domain: normalize_domain(&node.domain).to_string(),
                opset,
            }])
        })?;
        let input_slots: Vec<Option<usize>> = node.inputs.iter().map(|i| if i.is_empty() { None } else { slots.get(i).copied() }).collect();
        let constants: Vec<Option<&Tensor>> = input_slots.iter().map(|s| s.and_then(|s| known.get(&s).or_else(|| init_value(s)))).collect();
        let ctx = BuildCtx { node, opset, planner: scope, captures: &captures[ni], constants: &constants };
        let op = builder(&ctx).map_err(|e| e.in_node(&node.name, &node.op_type))?;
        let all_constant = captures[ni].is_empty() && input_slots.iter().zip(&constants).all(|(s, c)| s.is_none() || c.is_some());
        if all_constant {
            let values = op.eval(&constants).map_err(|e| e.in_node(&node.name, &node.op_type))?;
            let outputs: Vec<Option<usize>> = node.outputs.iter().map(|o| if o.is_empty() { None } else { slots.get(o).copied() }).collect();
            if values.len() >= outputs.iter().flatten().count() {
                for (slot, v) in outputs.iter().zip(values) {
                    if let Some(slot) = slot {
                        known.insert(*slot, v);
                    }
                }
                continue;
            }
        }
        let inputs = node.inputs.iter().chain(&captures[ni]).map(|i| if i.is_empty() { None } else { slots.get(i).copied() }).collect();
        let outputs = node.outputs.iter().map(|o| if o.is_empty() { None } else { slots.get(o).copied() }).collect();
        steps.push(Step { node: ni, op, inputs, outputs, frees: Vec::new() });
    }
    let produced: HashSet<usize> = nodes.iter().flat_map(|n| n.outputs.iter()).filter_map(|o| slots.get(o).copied()).collect();
    let folded = known.into_iter().filter(|(slot, _)| produced.contains(slot)).collect();
    Ok((steps, folded))
}
