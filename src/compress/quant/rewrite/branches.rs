//! Weights the quantiser reaches through subgraphs and recurrent layers:
//! outer weights that only `If`/`Loop`/`Scan` branches read (a DequantizeLinear
//! in the outer graph, under the same name, so every branch reads the float
//! values it read before), the branches' own weights (each subgraph is
//! rewritten with the same settings, by node name), and the input and
//! recurrence weights of LSTM/GRU/RNN (int8 behind DequantizeLinear, per gate
//! row).

use std::borrow::Cow;
use std::collections::BTreeMap;

use super::{Half, Rewriter, Step, Stop};
use crate::compress::quant::{Resolved, Scheme};
use crate::compress::record::StepRecord;
use crate::error::Result;
use crate::ir::{AttrValue, Graph, Node};

/// Whether a node carries subgraphs.
pub(super) fn has_subgraphs(n: &Node) -> bool {
    n.subgraphs().next().is_some()
}

/// The nodes inside `n`'s subgraphs (at any depth) reading `name`, with the input slot.
fn readers_inside<'a>(n: &'a Node, name: &str, out: &mut Vec<(&'a Node, usize)>) {
    for inner in n.subgraphs().flat_map(|g| &g.nodes) {
        inner.inputs.iter().enumerate().filter(|(_, i)| *i == name).for_each(|(slot, _)| out.push((inner, slot)));
        readers_inside(inner, name, out);
    }
}

/// The output-channel axis of a weight read in `slot` of `n`, if it is one.
fn weight_axis(n: &Node, slot: usize) -> Option<usize> {
    match (n.op_type.as_str(), slot) {
        ("Conv", 1) | ("Gather", 0) => Some(0),
        ("ConvTranspose", 1) | ("MatMul", 1) | ("LSTM" | "GRU" | "RNN", 1 | 2) => Some(1),
        ("Gemm", 1) => Some(if n.int_attr("transB", 0) != 0 { 0 } else { 1 }),
        _ => None,
    }
}

/// Weight-only storage for a scheme: 4-bit levels for `int4_weight`, int8 otherwise.
fn weight_only_settings(s: Resolved) -> Resolved {
    let scheme = if s.scheme == Scheme::Int4Weight { Scheme::Int4Weight } else { Scheme::Int8Weight };
    Resolved { scheme, per_channel: true, symmetric: true, ..s }
}

impl Rewriter<'_> {
    /// LSTM/GRU/RNN: `W` (input 1) and `R` (input 2), `[directions, gates·hidden, …]`,
    /// int8 per gate row behind DequantizeLinear; the bias stays float.
    pub(super) fn recurrent(&mut self, n: &Node, s: Resolved, record: &mut StepRecord) -> Step {
        for slot in [1, 2] {
            let name = n.inputs.get(slot).cloned().unwrap_or_default();
            if self.weight(&name).is_some() || self.converted.contains(&name) {
                self.weight_only_at(n, &name, 1, weight_only_settings(s), record)?;
            }
        }
        Ok(())
    }

    /// Node `index` with subgraphs: its outer weights that only the branches
    /// read, then every branch, with `settings` per node.
    pub fn rewrite_inside(&mut self, index: usize, settings: &dyn Fn(&Node) -> Resolved, record: &mut StepRecord) -> Result<()> {
        let n = self.ed.nodes()[index].clone();
        if !has_subgraphs(&n) || self.ed.is_edited(index) {
            return Ok(());
        }
        self.quantize_captures(&n, settings, record)?;
        let mut node = n;
        for a in node.attributes.iter_mut() {
            match &mut a.value {
                AttrValue::Graph(g) => **g = self.rewrite_subgraph(g, settings, record)?,
                AttrValue::Graphs(gs) => {
                    for g in gs.iter_mut() {
                        *g = self.rewrite_subgraph(g, settings, record)?;
                    }
                }
                _ => {}
            }
        }
        self.ed.replace(index, vec![node]);
        Ok(())
    }

    /// Outer float weights the branches read as weights of an integer-scheme
    /// layer: int8 (4-bit for `int4_weight`) behind a DequantizeLinear here.
    fn quantize_captures(&mut self, n: &Node, settings: &dyn Fn(&Node) -> Resolved, record: &mut StepRecord) -> Result<()> {
        for name in crate::runtime::node_captures(n) {
            if self.weight(&name).is_none_or(|w| w.len() < super::MIN_HALF_ELEMENTS) || self.converted.contains(&name) {
                continue;
            }
            let mut readers = Vec::new();
            readers_inside(n, &name, &mut readers);
            let axes: Vec<Option<usize>> = readers.iter().map(|(r, slot)| weight_axis(r, *slot)).collect();
            let Some(Some(axis)) = axes.first().copied().filter(|a| axes.iter().all(|b| b == a)) else { continue };
            let schemes: Vec<Scheme> = readers.iter().map(|(r, _)| settings(r).scheme).collect();
            let outcome = if schemes.iter().all(|s| s.has_integer_weights()) {
                self.weight_only_at(n, &name, axis, weight_only_settings(settings(readers[0].0)), record)
            } else if schemes.iter().all(|s| *s == Scheme::Fp16) {
                self.half_tensor(n, &name, Half::F16, record)
            } else if schemes.iter().all(|s| *s == Scheme::Bf16) {
                self.half_tensor(n, &name, Half::BF16, record)
            } else {
                continue; // a reader kept in float32 keeps the weight as it is
            };
            match outcome {
                Ok(()) | Err(Stop::Skip(_)) => {}
                Err(Stop::Fail(e)) => return Err(e),
            }
        }
        Ok(())
    }

    /// One subgraph rewritten by a child quantiser (no calibrated ranges:
    /// static layers inside branches stay float, recorded).
    fn rewrite_subgraph(&mut self, g: &Graph, settings: &dyn Fn(&Node) -> Resolved, record: &mut StepRecord) -> Result<Graph> {
        let mut child = Rewriter::new(Cow::Owned(g.clone()), self.opsets.clone());
        child.ed.reserve_names_of(&self.ed);
        let plan: Vec<(usize, Resolved)> = child.ed.nodes().iter().enumerate().map(|(i, n)| (i, settings(n))).collect();
        for (i, s) in plan {
            child.apply(i, s, &BTreeMap::new(), record)?;
            child.rewrite_inside(i, settings, record)?;
        }
        self.needs_ms_domain |= child.needs_ms_domain;
        self.ed.reserve_names_of(&child.ed);
        Ok(child.finish().0)
    }
}
