//! Per-layer diagnosis: every intermediate tensor of the original aligned by
//! name with the compressed model's, error statistics accumulated over all
//! inputs as the values are produced (nothing is kept beyond one input).
//! Two runs of the compressed model per input: as it is (cumulative error),
//! and with every aligned value replaced by the original's once measured,
//! so each layer's error is its own (local error: where the error enters).

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use super::metrics::{cosine_from, sqnr_db, SQNR_CAP_DB};
use crate::compress::Record;
use crate::ir::Model;
use crate::tensor::Tensor;

/// Running sums over every value of one tensor, over all inputs.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub xx: f64,
    pub yy: f64,
    pub xy: f64,
    pub noise: f64,
    pub max_abs: f64,
    pub values: usize,
    /// Shapes differed on some input (the tensor is then left out).
    pub mismatch: Option<String>,
}

impl Stats {
    pub fn add(&mut self, original: &Tensor, compressed: &Tensor) {
        if original.shape() != compressed.shape() {
            self.mismatch = Some(format!("shape {:?} in the original, {:?} compressed", original.shape(), compressed.shape()));
            return;
        }
        // float32 on both sides is the common case: no conversion copy.
        if let (Some(a), Some(b)) = (original.as_f32(), compressed.as_f32()) {
            if let (Some(a), Some(b)) = (a.as_slice(), b.as_slice()) {
                self.accumulate(a.iter().map(|&v| v as f64), b.iter().map(|&v| v as f64));
                return;
            }
        }
        self.accumulate(original.to_f64_vec().into_iter(), compressed.to_f64_vec().into_iter());
    }

    fn accumulate(&mut self, a: impl Iterator<Item = f64>, b: impl Iterator<Item = f64>) {
        let (mut xx, mut yy, mut xy, mut noise, mut max_abs, mut n) = (0.0, 0.0, 0.0, 0.0, self.max_abs, 0);
        for (x, y) in a.zip(b) {
            let d = x - y;
            xx += x * x;
            yy += y * y;
            xy += x * y;
            noise += d * d;
            // NaN in either model shows up as an infinite error, not as none.
            max_abs = if d.is_nan() { f64::INFINITY } else { max_abs.max(d.abs()) };
            n += 1;
        }
        self.xx += xx;
        self.yy += yy;
        self.xy += xy;
        self.noise += if noise.is_nan() { f64::INFINITY } else { noise };
        self.max_abs = max_abs;
        self.values += n;
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TensorReport {
    pub tensor: String,
    /// The original node that produces it.
    pub node: String,
    pub op_type: String,
    /// Position of that node in the original graph (execution order).
    pub position: usize,
    pub sqnr_db: f64,
    pub cosine: f64,
    pub max_abs_error: f64,
    /// √(noise energy / signal energy).
    pub relative_error: f64,
    /// SQNR of this tensor when the node (and any nodes between it and the
    /// previous aligned values) gets the original model's inputs: the error
    /// this layer introduces by itself.
    pub local_sqnr_db: f64,
    /// The worst cumulative SQNR among the node's inputs (150 for graph
    /// inputs and weights), to read how error grows along the graph.
    pub input_sqnr_db: f64,
    /// The node's weights were compressed (from the record, else from the graph).
    pub compressed: bool,
}

/// Local SQNR below which a tensor counts as a place where error enters.
pub const ENTRY_DB: f64 = 100.0;

#[derive(Debug, Clone, Serialize)]
pub struct Diagnosis {
    /// Every aligned tensor, worst SQNR first.
    pub worst_first: Vec<TensorReport>,
    /// Where error enters: tensors whose local SQNR is below 100 dB (float
    /// reordering noise sits far above), worst local SQNR first.
    pub entry_points: Vec<TensorReport>,
    /// Original tensors the compressed model does not compute under the same
    /// name (renamed, fused away or folded).
    pub unaligned: Vec<String>,
    /// Tensors left out, with the reason (shape or dtype differs).
    pub skipped: Vec<(String, String)>,
}

/// What to watch and how to read it back: the original's node outputs that
/// the compressed graph also produces.
pub struct Alignment {
    /// (tensor, node index in the original) in graph order.
    pub tensors: Vec<(String, usize)>,
    pub names: HashSet<String>,
    pub unaligned: Vec<String>,
    changed_nodes: HashSet<String>,
}

impl Alignment {
    pub fn new(original: &Model, compressed: &Model, record: Option<&Record>) -> Alignment {
        let produced: HashMap<&str, usize> =
            compressed.graph.nodes.iter().enumerate().flat_map(|(i, n)| n.outputs.iter().map(move |o| (o.as_str(), i))).collect();
        let (mut tensors, mut unaligned) = (Vec::new(), Vec::new());
        // Values computed from weights alone (Constant, Identity of a weight,
        // shape arithmetic) are weights too: the compression record covers them.
        let mut constant: HashSet<&str> = original.graph.initializers.iter().map(|(n, _)| n.as_str()).collect();
        for (i, n) in original.graph.nodes.iter().enumerate() {
            if n.inputs.iter().filter(|x| !x.is_empty()).all(|x| constant.contains(x.as_str()))
                && n.attributes.iter().all(|a| !matches!(a.value, crate::ir::AttrValue::Graph(_) | crate::ir::AttrValue::Graphs(_)))
            {
                constant.extend(n.outputs.iter().map(|o| o.as_str()));
                continue;
            }
            for o in n.outputs.iter().filter(|o| !o.is_empty()) {
                if produced.contains_key(o.as_str()) {
                    tensors.push((o.clone(), i));
                } else {
                    unaligned.push(o.clone());
                }
            }
        }
        let changed_nodes = match record {
            Some(r) => r.changed_nodes().map(String::from).collect(),
            // Without a record: a node whose producer changed op, or whose
            // weight input is now computed (dequantised) instead of stored.
            None => original
                .graph
                .nodes
                .iter()
                .filter(|n| {
                    let Some(out) = n.outputs.first() else { return false };
                    let Some(&ci) = produced.get(out.as_str()) else { return false };
                    let c = &compressed.graph.nodes[ci];
                    c.op_type != n.op_type || n.inputs.iter().any(|i| original.graph.initializer(i).is_some() && compressed.graph.initializer(i).is_none())
                })
                .map(|n| n.name.clone())
                .collect(),
        };
        let names = tensors.iter().map(|(t, _)| t.clone()).collect();
        Alignment { tensors, names, unaligned, changed_nodes }
    }

    /// Whether a value is worth comparing (floating point).
    pub fn wants(&self, name: &str, t: &Tensor) -> bool {
        t.dtype().is_float() && self.names.contains(name)
    }

    /// The diagnosis from accumulated statistics.
    pub fn diagnose(&self, original: &Model, stats: &HashMap<String, Stats>, local: &HashMap<String, Stats>) -> Diagnosis {
        let graph_inputs: HashSet<&str> = original.graph.inputs.iter().map(|v| v.name.as_str()).collect();
        let sqnr_of = |name: &str| -> Option<f64> {
            let s = stats.get(name)?;
            (s.mismatch.is_none() && s.values > 0).then(|| sqnr_db(s.xx, s.noise))
        };
        let mut reports = Vec::new();
        let mut skipped = Vec::new();
        let mut unaligned = self.unaligned.clone();
        for (tensor, ni) in &self.tensors {
            let Some(s) = stats.get(tensor) else {
                unaligned.push(tensor.clone());
                continue;
            };
            if let Some(why) = &s.mismatch {
                skipped.push((tensor.clone(), why.clone()));
                continue;
            }
            if s.values == 0 {
                continue;
            }
            let n = &original.graph.nodes[*ni];
            let sqnr = sqnr_db(s.xx, s.noise);
            // Inputs not compared (integer shapes, weights, graph inputs) are exact.
            let input_sqnr = n
                .inputs
                .iter()
                .filter(|i| !i.is_empty())
                .map(|i| if graph_inputs.contains(i.as_str()) { SQNR_CAP_DB } else { sqnr_of(i).unwrap_or(SQNR_CAP_DB) })
                .fold(SQNR_CAP_DB, f64::min);
            reports.push(TensorReport {
                tensor: tensor.clone(),
                node: n.name.clone(),
                op_type: n.op_type.clone(),
                position: *ni,
                sqnr_db: sqnr,
                cosine: cosine_from(s.xy, s.xx, s.yy),
                max_abs_error: s.max_abs,
                relative_error: if s.xx > 0.0 {
                    (s.noise / s.xx).sqrt()
                } else if s.noise > 0.0 {
                    f64::INFINITY
                } else {
                    0.0
                },
                local_sqnr_db: local.get(tensor).map_or(SQNR_CAP_DB, |l| sqnr_db(l.xx, l.noise)),
                input_sqnr_db: input_sqnr,
                compressed: self.changed_nodes.contains(&n.name),
            });
        }
        let mut worst_first = reports.clone();
        worst_first.sort_by(|a, b| a.sqnr_db.total_cmp(&b.sqnr_db).then(a.position.cmp(&b.position)));
        let mut entry_points: Vec<TensorReport> = reports.into_iter().filter(|r| r.local_sqnr_db < ENTRY_DB).collect();
        entry_points.sort_by(|a, b| a.local_sqnr_db.total_cmp(&b.local_sqnr_db).then(a.position.cmp(&b.position)));
        Diagnosis { worst_first, entry_points, unaligned, skipped }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_by_hand() {
        let a = Tensor::from_vec(&[2], vec![3f32, 4.0]).unwrap();
        let b = Tensor::from_vec(&[2], vec![3f32, 3.0]).unwrap();
        let mut s = Stats::default();
        s.add(&a, &b);
        s.add(&a, &a);
        assert_eq!((s.xx, s.noise, s.values, s.max_abs), (50.0, 1.0, 4, 1.0));
        assert_eq!(s.xy, 21.0 + 25.0);
        let c = Tensor::from_vec(&[1, 2], vec![3f32, 3.0]).unwrap();
        s.add(&a, &c);
        assert!(s.mismatch.unwrap().contains("[2]"));
        let mut s = Stats::default();
        s.add(&a, &Tensor::from_vec(&[2], vec![f32::NAN, 4.0]).unwrap());
        assert_eq!(s.max_abs, f64::INFINITY);
        assert_eq!(sqnr_db(s.xx, s.noise), sqnr_db(1.0, f64::INFINITY));
    }
}
