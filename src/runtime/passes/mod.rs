//! Load-time passes: fusions that change the session's execution list,
//! never the model (its summary and saving see the file's graph). Each
//! fused op replays the chain's float operations in order, so results are
//! bit-identical to running the ops one by one — except folding a
//! BatchNormalization into the convolution before it, which rounds
//! differently and which comparison sessions therefore skip. All edits go
//! through the graph editor (`ir::editor`).

mod float;
mod integer;

use crate::ir::editor::Editor;
use crate::ir::{AttrValue, Graph, Node};
use crate::ops::internal::INTERNAL_DOMAIN;

/// Which fusions a session applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fusion {
    All,
    /// No fusion that hides a float value of the original graph.
    KeepFloatValues,
}

/// The fused node list, or `None` when nothing matched. `opset`: the
/// default domain's version (Clip takes its bounds as inputs from 11).
pub fn fuse(g: &Graph, opset: i64, fusion: Fusion) -> Option<Vec<Node>> {
    // Keep graphs with subgraphs simple: no fusion.
    if g.nodes.iter().flat_map(|n| &n.attributes).any(|a| matches!(a.value, AttrValue::Graph(_) | AttrValue::Graphs(_))) {
        return None;
    }
    let mut ed = Editor::borrowed(g);
    integer::fuse_integer_chains(g, &mut ed, opset, fusion);
    integer::fuse_qdq(g, &mut ed);
    // The dequantised table is a weight, never compared: fused in every session.
    float::fuse_gather_dequantize(g, &mut ed);
    if fusion == Fusion::All {
        float::fold_batch_norm(g, &mut ed, opset >= 11);
        float::fuse_conv_activation(g, &mut ed, opset >= 11);
        float::fuse_matmul_bias(g, &mut ed);
        float::fuse_gelu(g, &mut ed);
    }
    // The planner orders nodes topologically, so a fused node may stand
    // where the first node of its chain stood even if an input comes later.
    ed.finish_nodes()
}

/// The runtime-only node that stands for a fused chain starting at `first`
/// (it keeps that node's name, so errors still point at the user's node).
fn internal(first: &Node, op_type: &str, inputs: Vec<String>, outputs: Vec<String>, attributes: Vec<crate::ir::Attribute>) -> Node {
    Node { name: first.name.clone(), op_type: op_type.into(), domain: INTERNAL_DOMAIN.into(), inputs, outputs, attributes, doc_string: String::new() }
}

/// A constant holding one f32.
fn scalar_f32(ed: &Editor, name: &str) -> Option<f32> {
    let t = ed.constant(name)?.as_f32()?;
    (t.len() == 1).then(|| *t.iter().next().expect("one value"))
}

/// The Relu, or Clip taking its bounds as inputs, that alone reads `value`
/// (as its data input) and is not yet part of a fusion: its index and 1 for
/// Relu, 2 for Clip.
fn activation_after(g: &Graph, ed: &Editor, value: &str, clip_takes_inputs: bool) -> Option<(usize, i64)> {
    let (a, kind) = match (ed.only(value, "Relu"), ed.only(value, "Clip")) {
        (Some(a), _) => (a, 1),
        (None, Some(a)) if clip_takes_inputs => (a, 2),
        _ => return None,
    };
    let act = &g.nodes[a];
    (!ed.is_edited(a) && act.inputs.first().map(String::as_str) == Some(value) && act.outputs.len() == 1).then_some((a, kind))
}
