//! Load-time fusion of onnxruntime's dynamic-quantisation chain
//! `MatMulInteger → Cast(float) → Mul(·, scale) [→ Add(·, bias)]` into one
//! internal node that converts, scales and adds the bias while the integer
//! product is still in cache. The model the user sees (summary, saving) is
//! not changed: only the session's execution list is.

use std::collections::{HashMap, HashSet};

use crate::graph::{AttrValue, Graph, Node};

/// Domain of runtime-only ops (never written to a file).
pub const INTERNAL_DOMAIN: &str = "squish.internal";
/// Inputs: A, B, a_zero_point, b_zero_point, scale, bias (optional);
/// output: `float(A·B in integers) · scale + bias`.
pub const SCALED_MATMUL_INTEGER: &str = "MatMulIntegerScaled";

/// The fused node list, or `None` when nothing matched.
pub fn fuse(g: &Graph) -> Option<Vec<Node>> {
    let nodes = &g.nodes;
    let mut consumers: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, n) in nodes.iter().enumerate() {
        for inp in n.inputs.iter().filter(|s| !s.is_empty()) {
            consumers.entry(inp.as_str()).or_default().push(i);
        }
    }
    // Values read inside subgraphs or returned by the graph must stay visible.
    let mut pinned: HashSet<&str> = g.outputs.iter().map(|o| o.name.as_str()).collect();
    for n in nodes {
        for a in &n.attributes {
            if let AttrValue::Graph(_) | AttrValue::Graphs(_) = a.value {
                return None; // keep graphs with subgraphs simple: no fusion
            }
        }
    }
    pinned.extend(g.inputs.iter().map(|v| v.name.as_str()));
    let only = |value: &str, op: &str| -> Option<usize> {
        if pinned.contains(value) {
            return None;
        }
        match consumers.get(value).map(|v| v.as_slice()) {
            Some([c]) if nodes[*c].op_type == op && nodes[*c].domain.is_empty() => Some(*c),
            _ => None,
        }
    };
    let initializer_vector = |name: &str| g.initializer(name).is_some_and(|t| t.shape().len() == 1 && t.as_f32().is_some());
    let mut removed = vec![false; nodes.len()];
    let mut replacement: HashMap<usize, Node> = HashMap::new();
    for (i, n) in nodes.iter().enumerate() {
        if n.op_type != "MatMulInteger" || !n.domain.is_empty() || n.outputs.len() != 1 || n.inputs.len() < 2 {
            continue;
        }
        let Some(c) = only(&n.outputs[0], "Cast") else { continue };
        if !matches!(nodes[c].attr("to"), Some(AttrValue::Int(1))) {
            continue;
        }
        let Some(m) = only(&nodes[c].outputs[0], "Mul") else { continue };
        let mul = &nodes[m];
        let y_f = nodes[c].outputs[0].as_str();
        let scale = if mul.inputs[0] == y_f { &mul.inputs[1] } else { &mul.inputs[0] };
        if mul.inputs.len() != 2 || scale == y_f {
            continue;
        }
        let mut inputs: Vec<String> = n.inputs.clone();
        inputs.resize(4, String::new());
        inputs.push(scale.clone());
        let mut output = mul.outputs[0].clone();
        let mut last = m;
        if let Some(a) = only(&mul.outputs[0], "Add") {
            let add = &nodes[a];
            let bias = if add.inputs[0] == mul.outputs[0] { &add.inputs[1] } else { &add.inputs[0] };
            if add.inputs.len() == 2 && initializer_vector(bias) {
                inputs.push(bias.clone());
                output = add.outputs[0].clone();
                last = a;
            }
        }
        for r in [i, c, m, last] {
            removed[r] = true;
        }
        replacement.insert(
            i,
            Node {
                name: n.name.clone(),
                op_type: SCALED_MATMUL_INTEGER.into(),
                domain: INTERNAL_DOMAIN.into(),
                inputs,
                outputs: vec![output],
                attributes: vec![],
                doc_string: String::new(),
            },
        );
    }
    if replacement.is_empty() {
        return None;
    }
    // The planner orders nodes topologically, so the fused node may stand
    // where its MatMulInteger stood even if the scale is computed later.
    Some(nodes.iter().enumerate().filter_map(|(i, n)| replacement.remove(&i).or_else(|| (!removed[i]).then(|| n.clone()))).collect())
}
