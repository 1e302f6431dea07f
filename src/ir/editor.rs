//! The graph editor: every rewrite of a graph goes through it (the
//! runtime's load-time fusions, the quantiser, and next pruning).
//!
//! Edits are by index into the graph's node list: a node is replaced by
//! nodes (or by none), nodes can be put before all others (the prelude:
//! weights dequantised once), initializers added and removed. Replacements
//! keep the output names of what they replace, so values keep their names
//! and `compare` still aligns them. `finish` builds the edited graph (prelude,
//! then every node or its replacement, in order) and sweeps initializers
//! nothing reads any more.
//!
//! The base graph is borrowed or owned (`Cow`): from a borrowed graph the
//! result copies only the initializers it keeps, so compressing a model the
//! caller keeps (the page compares against it) never copies it whole; from
//! an owned one, removed weights are freed at once.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use super::{AttrValue, Graph, Node};
use crate::tensor::Tensor;

pub struct Editor<'g> {
    base: Cow<'g, Graph>,
    /// Per base node: what replaces it (`None`: kept as is).
    replaced: Vec<Option<Vec<Node>>>,
    prelude: Vec<Node>,
    /// Initializers added by the edit, and base initializers removed.
    added: Vec<(String, Tensor)>,
    removed: HashSet<String>,
    /// Every name in use (values, initializers, nodes), for `fresh`.
    names: HashSet<String>,
    links: Links,
}

/// Who reads and who writes each value of the base graph, and which values
/// must stay visible (graph inputs and outputs).
struct Links {
    consumers: HashMap<String, Vec<usize>>,
    producer: HashMap<String, usize>,
    pinned: HashSet<String>,
}

impl Links {
    fn new(g: &Graph) -> Links {
        let mut consumers: HashMap<String, Vec<usize>> = HashMap::new();
        let mut producer = HashMap::new();
        for (i, n) in g.nodes.iter().enumerate() {
            for inp in n.inputs.iter().filter(|s| !s.is_empty()) {
                consumers.entry(inp.clone()).or_default().push(i);
            }
            for o in &n.outputs {
                producer.insert(o.clone(), i);
            }
        }
        let pinned = g.outputs.iter().chain(&g.inputs).map(|v| v.name.clone()).collect();
        Links { consumers, producer, pinned }
    }
}

impl<'g> Editor<'g> {
    /// Edits a graph the caller keeps: the result copies what it keeps.
    pub fn borrowed(base: &'g Graph) -> Editor<'g> {
        Editor::new(Cow::Borrowed(base))
    }

    /// Edits a graph it owns: removed weights are freed as soon as removed.
    pub fn owned(base: Graph) -> Editor<'static> {
        Editor::new(Cow::Owned(base))
    }

    pub fn new(base: Cow<'g, Graph>) -> Editor<'g> {
        let mut names: HashSet<String> = base.initializers.iter().map(|(n, _)| n.clone()).collect();
        for n in &base.nodes {
            names.extend(n.inputs.iter().chain(&n.outputs).cloned());
            names.insert(n.name.clone());
        }
        names.extend(base.inputs.iter().chain(&base.outputs).map(|v| v.name.clone()));
        let links = Links::new(&base);
        Editor { replaced: vec![None; base.nodes.len()], base, prelude: Vec::new(), added: Vec::new(), removed: HashSet::new(), names, links }
    }

    /// The graph as it was given (nodes by their original indices).
    pub fn base(&self) -> &Graph {
        &self.base
    }

    pub fn nodes(&self) -> &[Node] {
        &self.base.nodes
    }

    /// Whether node `i` has been replaced or removed.
    pub fn is_edited(&self, i: usize) -> bool {
        self.replaced[i].is_some()
    }

    /// Node `i` is replaced by `nodes` (none: removed). The last edit of a node wins.
    pub fn replace(&mut self, i: usize, nodes: Vec<Node>) {
        self.replaced[i] = Some(nodes);
    }

    pub fn remove(&mut self, i: usize) {
        self.replace(i, Vec::new());
    }

    /// A node that runs before all others (reads only initializers).
    pub fn prepend(&mut self, node: Node) {
        self.prelude.push(node);
    }

    /// A name based on `base` that no value, initializer or node uses yet.
    pub fn fresh(&mut self, base: &str) -> String {
        let mut name = base.to_string();
        let mut i = 1;
        while self.names.contains(&name) {
            name = format!("{base}_{i}");
            i += 1;
        }
        self.names.insert(name.clone());
        name
    }

    /// Names `other` uses are not handed out by `fresh` (a subgraph's new
    /// values must not shadow the outer graph's).
    pub fn reserve_names_of(&mut self, other: &Editor) {
        self.names.extend(other.names.iter().cloned());
    }

    /// Adds `t` as an initializer under a fresh name based on `base`.
    pub fn add_initializer(&mut self, base: &str, t: Tensor) -> String {
        let name = self.fresh(base);
        self.added.push((name.clone(), t));
        name
    }

    /// Adds `t` under exactly `name`: a value a removed node produced, or a
    /// removed initializer's new value (the base's stays removed).
    pub fn add_initializer_as(&mut self, name: &str, t: Tensor) {
        self.added.retain(|(n, _)| n != name);
        self.added.push((name.to_string(), t));
    }

    /// Makes `Constant` node `i` (holding a tensor, output not a graph input)
    /// an initializer named after its output, and removes the node: one place
    /// to find weights. From an owned graph the tensor moves, never held twice.
    pub fn hoist_constant(&mut self, i: usize) -> bool {
        let n = &self.base.nodes[i];
        let hoistable = n.op_type == "Constant"
            && n.domain.is_empty()
            && n.outputs.len() == 1
            && !self.base.inputs.iter().any(|v| v.name == n.outputs[0])
            && matches!(n.attr("value"), Some(AttrValue::Tensor(_)));
        if !hoistable || self.is_edited(i) {
            return false;
        }
        let output = n.outputs[0].clone();
        let tensor = match &mut self.base {
            Cow::Owned(g) => {
                let a = g.nodes[i].attributes.iter_mut().find(|a| a.name == "value").expect("checked above");
                let AttrValue::Tensor(t) = std::mem::replace(&mut a.value, AttrValue::Ints(Vec::new())) else { unreachable!("checked above") };
                t
            }
            Cow::Borrowed(g) => match g.nodes[i].attr("value") {
                Some(AttrValue::Tensor(t)) => t.clone(),
                _ => unreachable!("checked above"),
            },
        };
        self.add_initializer_as(&output, tensor);
        self.remove(i);
        true
    }

    /// Removes an initializer; from an owned graph its memory is freed now.
    pub fn remove_initializer(&mut self, name: &str) {
        self.added.retain(|(n, _)| n != name);
        if let Cow::Owned(g) = &mut self.base {
            g.initializers.retain(|(n, _)| n != name);
        }
        self.removed.insert(name.to_string());
    }

    /// An initializer as the edit stands (added ones included, removed ones not).
    pub fn initializer(&self, name: &str) -> Option<&Tensor> {
        if let Some((_, t)) = self.added.iter().find(|(n, _)| n == name) {
            return Some(t);
        }
        (!self.removed.contains(name)).then(|| self.base.initializer(name)).flatten()
    }

    /// A constant's value (`Graph::constant`: through Identity and Constant
    /// nodes), as the edit stands.
    pub fn constant(&self, name: &str) -> Option<&Tensor> {
        self.initializer(name).filter(|_| !self.base.inputs.iter().any(|v| v.name == name)).or_else(|| self.base.constant(name))
    }

    /// The nodes of the base graph reading `value`.
    pub fn consumers(&self, value: &str) -> &[usize] {
        self.links.consumers.get(value).map_or(&[], |v| v.as_slice())
    }

    pub fn producer(&self, value: &str) -> Option<usize> {
        self.links.producer.get(value).copied()
    }

    /// The one node reading `value`, if it is a default-domain `op` and
    /// `value` is not a graph input or output.
    pub fn only(&self, value: &str, op: &str) -> Option<usize> {
        if self.links.pinned.contains(value) {
            return None;
        }
        match self.consumers(value) {
            [c] if self.base.nodes[*c].op_type == op && self.base.nodes[*c].domain.is_empty() => Some(*c),
            _ => None,
        }
    }

    /// The edited node list (prelude, then each node or its replacement), or
    /// `None` when nothing was edited: what the runtime plans in place of the
    /// model's own list, leaving the model unchanged.
    pub fn finish_nodes(self) -> Option<Vec<Node>> {
        if self.prelude.is_empty() && self.replaced.iter().all(Option::is_none) {
            return None;
        }
        let mut nodes = self.prelude;
        for (orig, rep) in self.base.nodes.iter().zip(self.replaced) {
            match rep {
                Some(r) => nodes.extend(r),
                None => nodes.push(orig.clone()),
            }
        }
        Some(nodes)
    }

    /// The edited graph. Initializers that no node (subgraphs included) and
    /// no graph output reads are dropped; so are graph inputs that named a
    /// removed initializer (IR < 4 files list every weight as an input).
    pub fn finish(self) -> Graph {
        let Editor { base, replaced, prelude, added, removed, .. } = self;
        let kept = |used: &HashSet<String>, name: &str| used.contains(name) && !removed.contains(name);
        let (mut graph, nodes, used) = match base {
            // Owned: nodes and kept weights move.
            Cow::Owned(mut g) => {
                let mut originals: Vec<Option<Node>> = std::mem::take(&mut g.nodes).into_iter().map(Some).collect();
                let nodes = assemble(prelude, replaced, |i| originals[i].take().expect("each node once"));
                let used = used_by(&nodes, &g);
                g.initializers.retain(|(n, _)| kept(&used, n));
                (g, nodes, used)
            }
            // Borrowed: only what is kept is copied.
            Cow::Borrowed(g) => {
                let nodes = assemble(prelude, replaced, |i| g.nodes[i].clone());
                let used = used_by(&nodes, g);
                let initializers = g.initializers.iter().filter(|(n, _)| kept(&used, n)).cloned().collect();
                (Graph { initializers, ..empty_like(g) }, nodes, used)
            }
        };
        graph.initializers.extend(added.into_iter().filter(|(n, _)| used.contains(n)));
        graph.nodes = nodes;
        let inits: HashSet<&str> = graph.initializers.iter().map(|(n, _)| n.as_str()).collect();
        graph.inputs.retain(|v| inits.contains(v.name.as_str()) || used.contains(&v.name) || !removed.contains(&v.name));
        graph
    }
}

/// The prelude, then each node (`original(i)`) or its replacement, in order.
fn assemble(prelude: Vec<Node>, replaced: Vec<Option<Vec<Node>>>, mut original: impl FnMut(usize) -> Node) -> Vec<Node> {
    let mut nodes = prelude;
    for (i, rep) in replaced.into_iter().enumerate() {
        match rep {
            Some(r) => nodes.extend(r),
            None => nodes.push(original(i)),
        }
    }
    nodes
}

/// The values `nodes` read (subgraphs included) and `g`'s outputs.
fn used_by(nodes: &[Node], g: &Graph) -> HashSet<String> {
    let mut used = HashSet::new();
    reads(nodes, &mut used);
    used.extend(g.outputs.iter().map(|v| v.name.clone()));
    used
}

/// A graph with `g`'s name, inputs, outputs and value infos, and no nodes or
/// weights (for building an edited copy of a borrowed graph).
fn empty_like(g: &Graph) -> Graph {
    Graph {
        name: g.name.clone(),
        doc_string: g.doc_string.clone(),
        nodes: Vec::new(),
        inputs: g.inputs.clone(),
        outputs: g.outputs.clone(),
        initializers: Vec::new(),
        value_info: g.value_info.clone(),
        sparse_stored: g.sparse_stored.clone(),
    }
}

/// Every value `nodes` read, subgraphs (If branches) included.
fn reads(nodes: &[Node], used: &mut HashSet<String>) {
    for n in nodes {
        used.extend(n.inputs.iter().cloned());
        for a in &n.attributes {
            match &a.value {
                AttrValue::Graph(g) => reads(&g.nodes, used),
                AttrValue::Graphs(gs) => gs.iter().for_each(|g| reads(&g.nodes, used)),
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{Attribute, ValueInfo, ValueType};
    use wasm_bindgen_test::wasm_bindgen_test;

    fn node(op: &str, name: &str, inputs: &[&str], outputs: &[&str]) -> Node {
        Node {
            name: name.into(),
            op_type: op.into(),
            domain: String::new(),
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            outputs: outputs.iter().map(|s| s.to_string()).collect(),
            attributes: vec![],
            doc_string: String::new(),
        }
    }

    fn value(name: &str) -> ValueInfo {
        ValueInfo { name: name.into(), ty: ValueType::Unknown, doc_string: String::new() }
    }

    /// x → MatMul(w) → Add(b) → y, plus a Constant `c` read by nobody but a Mul.
    fn graph() -> Graph {
        let mut constant = node("Constant", "const", &[], &["c"]);
        constant.attributes.push(Attribute { name: "value".into(), value: AttrValue::Tensor(Tensor::scalar(2.0f32)) });
        Graph {
            nodes: vec![node("MatMul", "mm", &["x", "w"], &["p"]), node("Add", "add", &["p", "b"], &["q"]), constant, node("Mul", "mul", &["q", "c"], &["y"])],
            inputs: vec![value("x")],
            outputs: vec![value("y")],
            initializers: vec![("w".into(), Tensor::scalar(1.0f32)), ("b".into(), Tensor::scalar(0.5f32)), ("unused".into(), Tensor::scalar(3.0f32))],
            ..Graph::default()
        }
    }

    /// The same edits: MatMul+Add fused under the Add's output name, a new
    /// weight for it, the Constant hoisted.
    fn edit(ed: &mut Editor) {
        assert_eq!(ed.only("p", "Add"), Some(1));
        assert_eq!(ed.producer("q"), Some(1));
        assert!(ed.hoist_constant(2));
        let w2 = ed.add_initializer("w", Tensor::scalar(4.0f32));
        assert_eq!(w2, "w_1", "fresh names never collide");
        ed.remove_initializer("w");
        let mut fused = node("Fused", "mm", &["x", &w2, "b"], &["q"]);
        fused.domain = "test".into();
        ed.replace(0, vec![fused]);
        ed.remove(1);
        ed.prepend(node("Identity", "first", &["b"], &["b_copy"]));
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn borrowed_and_owned_edits_give_the_same_graph_and_keep_names() {
        let base = graph();
        let mut borrowed = Editor::borrowed(&base);
        edit(&mut borrowed);
        assert_eq!(borrowed.initializer("c").and_then(|t| t.as_f32()).map(|a| a.iter().next().copied()), Some(Some(2.0)));
        assert!(borrowed.initializer("w").is_none() && borrowed.constant("w_1").is_some());
        let from_borrowed = borrowed.finish();
        assert_eq!(base, graph(), "the borrowed base is untouched");
        let mut owned = Editor::owned(graph());
        edit(&mut owned);
        let from_owned = owned.finish();
        assert_eq!(from_borrowed, from_owned);
        let ops: Vec<&str> = from_owned.nodes.iter().map(|n| n.op_type.as_str()).collect();
        assert_eq!(ops, ["Identity", "Fused", "Mul"], "prelude first, then replacements in place");
        let inits: Vec<&str> = from_owned.initializers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(inits, ["b", "c", "w_1"], "unread initializers ('unused', the removed 'w') are swept");
        assert_eq!(from_owned.outputs[0].name, "y");
    }

    /// A weight replaced under its own name appears once, with the new value.
    #[wasm_bindgen_test(unsupported = test)]
    fn an_initializer_replaced_under_its_name_appears_once() {
        let base = graph();
        for mut ed in [Editor::borrowed(&base), Editor::owned(graph())] {
            ed.remove_initializer("w");
            ed.add_initializer_as("w", Tensor::scalar(9.0f32));
            assert_eq!(ed.initializer("w").and_then(|t| t.as_f32()).map(|a| a.iter().next().copied()), Some(Some(9.0)));
            let g = ed.finish();
            let ws: Vec<_> = g.initializers.iter().filter(|(n, _)| n == "w").collect();
            assert_eq!(ws.len(), 1);
            assert_eq!(ws[0].1.as_f32().map(|a| a.iter().next().copied()), Some(Some(9.0)));
        }
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn an_unedited_graph_keeps_its_node_list() {
        let base = graph();
        assert!(Editor::borrowed(&base).finish_nodes().is_none());
        let mut ed = Editor::borrowed(&base);
        ed.remove(3);
        assert_eq!(ed.finish_nodes().map(|n| n.len()), Some(3));
        // A graph input is never "the only reader" target: it must stay visible.
        assert_eq!(Editor::borrowed(&base).only("x", "MatMul"), None);
    }
}
