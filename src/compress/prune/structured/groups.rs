//! Dependency groups (as in DepGraph): from one layer's output channels, or
//! one attention Reshape's heads, every activation axis and weight slice
//! that must shrink with them, found by walking the graph through each op's
//! channel rule (`rules`). A group is pruned as one: the producing layers
//! lose output rows, the reading layers input columns, and biases,
//! BatchNorms, depthwise filters, residual Adds and Concat slices follow.
//! A walk that meets something it cannot follow (a LayerNormalization over
//! the channels, the model's output, an op without a rule) blocks the group
//! and says why.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use super::rules::{self, Effect, Port};
use crate::compress::prune::Pattern;
use crate::ir::infer::{fixed, Facts};
use crate::ir::{Graph, Model};

/// Units along one axis: unit `u` covers indices
/// `offset + u·block .. offset + (u+1)·block`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Span {
    pub axis: usize,
    pub block: usize,
    pub offset: usize,
}

/// What a cut weight is to the group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The layer computing the channels: it loses output rows.
    Produces,
    /// A layer reading them: it loses input columns.
    Reads,
    /// Biases, BatchNorm statistics, depthwise filters, constant operands.
    Follows,
}

/// A constant input of a node, cut along `span`.
#[derive(Debug, Clone, PartialEq)]
pub struct Cut {
    pub node: usize,
    pub slot: usize,
    /// The initializer (or Constant node output) the input reads, through Identity.
    pub tensor: String,
    pub span: Span,
    pub role: Role,
}

#[derive(Debug, Clone, Default)]
pub struct Group {
    pub units: usize,
    /// Activations whose axis shrinks.
    pub values: Vec<(String, Span)>,
    pub cuts: Vec<Cut>,
    /// Reshape nodes whose target shape names a shrinking output axis.
    pub reshapes: Vec<(usize, Span)>,
    /// Depthwise convolutions whose `group` follows the channel count.
    pub depthwise: Vec<(usize, Span)>,
    /// The walk crossed a product of two activations (attention scores).
    pub attention: bool,
}

/// The groups of a model, and the seeds that could not be pruned with why.
pub struct Found {
    pub groups: Vec<Group>,
    pub blocked: Vec<(usize, String)>,
}

/// The graph with who reads and writes each value.
pub struct Links<'g> {
    pub g: &'g Graph,
    facts: Cow<'g, HashMap<String, Facts>>,
    observed: Cow<'g, HashMap<String, Vec<usize>>>,
    pub opset: i64,
    producer: HashMap<&'g str, (usize, usize)>,
    consumers: HashMap<&'g str, Vec<(usize, usize)>>,
    outputs: HashSet<&'g str>,
    /// Values read inside a node's subgraph (If, Loop, Scan), with that node.
    captured: HashMap<String, usize>,
}

impl<'g> Links<'g> {
    /// `observed`: every value's shape in one real run (a calibration
    /// input's), which knows what static inference cannot (shapes computed
    /// at run time from symbolic sizes); static inference fills the rest.
    pub fn new(model: &'g Model, observed: HashMap<String, Vec<usize>>) -> Links<'g> {
        Links::with(model, Cow::Owned(observed), Cow::Owned(crate::ops::facts::infer(model)))
    }

    /// As `new`, with the shapes and the static facts of `model` computed
    /// once by the caller (the scan cuts the same model once per group and level).
    pub fn sharing(model: &'g Model, observed: &'g HashMap<String, Vec<usize>>, facts: &'g HashMap<String, Facts>) -> Links<'g> {
        Links::with(model, Cow::Borrowed(observed), Cow::Borrowed(facts))
    }

    fn with(model: &'g Model, observed: Cow<'g, HashMap<String, Vec<usize>>>, facts: Cow<'g, HashMap<String, Facts>>) -> Links<'g> {
        let g = &model.graph;
        let mut producer = HashMap::new();
        let mut consumers: HashMap<&str, Vec<(usize, usize)>> = HashMap::new();
        for (i, n) in g.nodes.iter().enumerate() {
            for (slot, v) in n.inputs.iter().enumerate().filter(|(_, v)| !v.is_empty()) {
                consumers.entry(v.as_str()).or_default().push((i, slot));
            }
            for (k, v) in n.outputs.iter().enumerate() {
                producer.insert(v.as_str(), (i, k));
            }
        }
        let outputs = g.outputs.iter().map(|v| v.name.as_str()).collect();
        let captured = g.nodes.iter().enumerate().flat_map(|(i, n)| crate::runtime::node_captures(n).into_iter().map(move |v| (v, i))).collect();
        Links { g, facts, observed, opset: model.opset("").unwrap_or(13), producer, consumers, outputs, captured }
    }

    /// Whether a node's subgraph reads `value` (a weight there cannot change in place).
    pub fn is_captured(&self, value: &str) -> bool {
        self.captured.contains_key(value)
    }

    /// The value's dimensions, where inference knows its rank.
    pub fn dims(&self, value: &str) -> Option<Vec<Option<i64>>> {
        if let Some(s) = self.observed.get(value) {
            return Some(s.iter().map(|&d| Some(d as i64)).collect());
        }
        if let Some(t) = self.g.constant(value) {
            return Some(t.shape().iter().map(|&d| Some(d as i64)).collect());
        }
        self.facts.get(value)?.shape.as_ref().map(|s| s.iter().map(fixed).collect())
    }

    /// The initializer or Constant output a value reads through Identity
    /// nodes: a weight, as opposed to an activation.
    pub fn root_constant(&self, value: &str) -> Option<String> {
        let mut name = value;
        for _ in 0..16 {
            if self.g.inputs.iter().any(|v| v.name == name) {
                return None;
            }
            if self.g.initializer(name).is_some() {
                return Some(name.to_string());
            }
            let (p, _) = *self.producer.get(name)?;
            let n = &self.g.nodes[p];
            match (n.op_type.as_str(), n.domain.is_empty()) {
                ("Identity", true) => name = n.inputs.first()?,
                ("Constant", true) => return Some(name.to_string()),
                _ => return None,
            }
        }
        None
    }

    /// Inputs `(node, slot)` reading `tensor`, directly or through Identity nodes.
    pub fn readers(&self, tensor: &str) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let mut frontier = vec![tensor];
        while let Some(v) = frontier.pop() {
            for &(c, slot) in self.consumers.get(v).map_or(&[][..], |c| c.as_slice()) {
                let n = &self.g.nodes[c];
                if n.op_type == "Identity" && n.domain.is_empty() {
                    frontier.push(n.outputs[0].as_str());
                } else {
                    out.push((c, slot));
                }
            }
        }
        out
    }

    fn value_of(&self, node: usize, port: Port) -> &'g str {
        let n = &self.g.nodes[node];
        match port {
            Port::In(s) => n.inputs.get(s).map_or("", String::as_str),
            Port::Out(k) => n.outputs.get(k).map_or("", String::as_str),
        }
    }
}

/// One walk from a seed; every effect lands in `group`.
struct Walk<'l, 'g> {
    links: &'l Links<'g>,
    group: Group,
    seen: HashMap<(String, usize), Span>,
    queue: Vec<(String, Span)>,
}

impl Walk<'_, '_> {
    fn push(&mut self, value: &str, span: Span) -> Result<(), String> {
        match self.seen.get(&(value.to_string(), span.axis)) {
            Some(s) if *s == span => Ok(()),
            Some(_) => Err(format!("value '{value}' axis {} would be cut in two different ways", span.axis)),
            None => {
                self.seen.insert((value.to_string(), span.axis), span);
                self.queue.push((value.to_string(), span));
                Ok(())
            }
        }
    }

    fn visit(&mut self, value: &str, span: Span) -> Result<(), String> {
        let l = self.links;
        let dim = l.dims(value).and_then(|d| d.get(span.axis).copied().flatten());
        let Some(dim) = dim else {
            return Err(format!("the size of value '{value}' along axis {} is not known before running the model", span.axis));
        };
        if span.offset + self.group.units * span.block > dim as usize {
            return Err(format!("value '{value}' has {dim} along axis {}, fewer than the channels it should carry", span.axis));
        }
        if l.outputs.contains(value) {
            return Err(format!("the channels reach the model's output '{value}', whose shape must not change"));
        }
        if l.g.inputs.iter().any(|v| v.name == value) {
            return Err(format!("the channels come from the model's input '{value}'"));
        }
        if let Some(&n) = l.captured.get(value) {
            let n = &l.g.nodes[n];
            return Err(format!("value '{value}' is read inside a subgraph of node '{}' ({}), which Squish does not cut", n.name, n.op_type));
        }
        self.group.values.push((value.to_string(), span));
        let mut ports: Vec<(usize, Port)> = l.consumers.get(value).map_or(Vec::new(), |c| c.iter().map(|&(n, s)| (n, Port::In(s))).collect());
        if let Some(&(p, k)) = l.producer.get(value) {
            ports.push((p, Port::Out(k)));
        }
        for (node, port) in ports {
            let n = &l.g.nodes[node];
            let effects = rules::effects(l, n, port, span).map_err(|why| format!("{why} (node '{}', {})", n.name, n.op_type))?;
            for e in effects {
                self.apply(node, e)?;
            }
        }
        Ok(())
    }

    fn apply(&mut self, node: usize, e: Effect) -> Result<(), String> {
        let l = self.links;
        match e {
            Effect::Value(port, span) => {
                let v = l.value_of(node, port);
                match (port, l.root_constant(v)) {
                    (Port::In(slot), Some(tensor)) => self.cut(Cut { node, slot, tensor, span, role: Role::Follows }),
                    _ => self.push(v, span)?,
                }
            }
            Effect::Cut(slot, span, role) => {
                let v = l.value_of(node, Port::In(slot));
                let tensor = l.root_constant(v).ok_or_else(|| format!("input '{v}' of node '{}' is not a constant weight", l.g.nodes[node].name))?;
                self.cut(Cut { node, slot, tensor, span, role });
            }
            Effect::Reshape(span) => {
                if !self.group.reshapes.contains(&(node, span)) {
                    self.group.reshapes.push((node, span));
                }
            }
            Effect::Depthwise(span) => {
                if !self.group.depthwise.contains(&(node, span)) {
                    self.group.depthwise.push((node, span));
                }
            }
            Effect::Attention => self.group.attention = true,
        }
        Ok(())
    }

    fn cut(&mut self, c: Cut) {
        if !self.group.cuts.iter().any(|o| o.node == c.node && o.slot == c.slot && o.span.axis == c.span.axis) {
            self.group.cuts.push(c);
        }
    }
}

/// Walks from `seed` (value, span) and checks the group is safe to cut.
fn walk(links: &Links, value: &str, span: Span, units: usize) -> Result<Group, String> {
    let mut w = Walk { links, group: Group { units, ..Group::default() }, seen: HashMap::new(), queue: Vec::new() };
    w.push(value, span)?;
    while let Some((v, s)) = w.queue.pop() {
        w.visit(&v, s)?;
    }
    let g = w.group;
    Ok(g)
}

/// The starting points: each layer's output channels, or each attention Reshape's heads.
fn seeds(links: &Links, pattern: Pattern) -> Vec<(usize, String, Span, usize)> {
    let g = links.g;
    let mut out = Vec::new();
    for (i, n) in g.nodes.iter().enumerate().filter(|(_, n)| n.domain.is_empty()) {
        let Some(y) = n.outputs.first() else { continue };
        let Some(dims) = links.dims(y) else { continue };
        let axis = match (pattern, n.op_type.as_str()) {
            (Pattern::Channels, "Conv") if n.int_attr("group", 1) == 1 => 1,
            (Pattern::Channels, "Gemm") => 1,
            (Pattern::Channels, "MatMul") if dims.len() >= 2 => dims.len() - 1,
            (Pattern::Heads, "Reshape") => match rules::head_split(links, n) {
                Some(axis) => axis,
                None => continue,
            },
            _ => continue,
        };
        let weighted = pattern == Pattern::Heads || n.inputs.get(1).is_some_and(|w| links.root_constant(w).is_some());
        if let (true, Some(Some(units))) = (weighted, dims.get(axis)) {
            out.push((i, y.clone(), Span { axis, block: 1, offset: 0 }, *units as usize));
        }
    }
    out
}

/// Every group of the model for `pattern` (channels or heads).
pub fn find(links: &Links, pattern: Pattern) -> Found {
    let mut found = Found { groups: Vec::new(), blocked: Vec::new() };
    let mut covered: HashSet<(String, usize)> = HashSet::new();
    for (node, value, span, units) in seeds(links, pattern) {
        if covered.contains(&(value.clone(), span.axis)) || units < 2 {
            continue;
        }
        match walk(links, &value, span, units) {
            Ok(g) if pattern == Pattern::Heads && !g.attention => {
                covered.extend(g.values.iter().map(|(v, s)| (v.clone(), s.axis)));
            }
            Ok(g) => {
                covered.extend(g.values.iter().map(|(v, s)| (v.clone(), s.axis)));
                found.groups.push(g);
            }
            Err(why) => {
                covered.insert((value, span.axis));
                found.blocked.push((node, why));
            }
        }
    }
    found
}
