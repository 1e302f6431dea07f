//! How the target search measures: inputs one per example and batched,
//! the outputs a metric reads, and the metric itself as a running tally
//! that can tell early when a candidate can no longer meet the target.

use super::target_err;
use crate::compare::metrics::{self as m, argmax};
use crate::compare::sensitivity::class_output;
use crate::compare::Feed;
use crate::compress::recipe::{Target, TargetMetric};
use crate::error::Result;
use crate::formats::data::feeds::{batch_is_dynamic, join};
use crate::ir::Model;
use crate::tensor::Tensor;

/// Examples per batch.
pub(super) const BATCH_ROWS: usize = 16;

/// Searched examples each layer's error alone is measured on: the errors
/// only rank the layers (the candidates run on every searched input), and
/// this stage runs three or four times per layer.
pub(super) const PROBE_ROWS: usize = 8;

/// Input sets run together: consecutive examples of the same shapes joined
/// along the first axis (one run instead of several: the same numbers, less
/// time per example), at most `BATCH_ROWS` rows.
pub(super) struct Batch {
    pub feed: Feed,
    pub rows: usize,
}

/// `feeds` (one example each) in batches; one per batch when the model's
/// batch axis is fixed or a type cannot be joined.
pub(super) fn batches(model: &Model, feeds: &[Feed]) -> Vec<Batch> {
    let single = |f: &Feed| Batch { feed: f.clone(), rows: 1 };
    if !batch_is_dynamic(model) {
        return feeds.iter().map(single).collect();
    }
    let same = |a: &Feed, b: &Feed| a.len() == b.len() && a.iter().zip(b).all(|((n, x), (m, y))| n == m && x.shape() == y.shape() && x.dtype() == y.dtype());
    let mut out: Vec<Batch> = Vec::new();
    let mut start = 0;
    while start < feeds.len() {
        let mut end = start + 1;
        while end < feeds.len() && end - start < BATCH_ROWS && same(&feeds[start], &feeds[end]) {
            end += 1;
        }
        match join(&feeds[start..end]) {
            Some(feed) => out.push(Batch { feed, rows: end - start }),
            None => out.extend(feeds[start..end].iter().map(single)),
        }
        start = end;
    }
    out
}

/// A metric accumulated batch by batch.
pub(super) struct Tally {
    kind: TargetMetric,
    min_cosine: f64,
    hits: usize,
    kl: f64,
    rows: usize,
}

impl Tally {
    pub fn new(kind: TargetMetric) -> Tally {
        Tally { kind, min_cosine: 1.0, hits: 0, kl: 0.0, rows: 0 }
    }

    /// One batch: the original's outputs, the candidate's, and the labels of
    /// its examples (one class row each, checked when labels were given).
    pub fn add(&mut self, want: &[Tensor], have: &[Tensor], measured: &[usize], labels: Option<&[usize]>) {
        if self.kind == TargetMetric::MinCosine {
            for &j in measured {
                for (a, b) in rows(&want[j]).iter().zip(rows(&have[j])) {
                    self.min_cosine = self.min_cosine.min(m::cosine(a, &b));
                }
            }
            self.rows += want.first().map_or(1, |t| t.shape().first().copied().unwrap_or(1));
            return;
        }
        let j = measured[0];
        let (pw, _) = m::as_probabilities(&class_rows(&want[j]));
        let (ph, _) = m::as_probabilities(&class_rows(&have[j]));
        for (k, (p, q)) in pw.iter().zip(&ph).enumerate() {
            let truth = match (self.kind, labels) {
                (TargetMetric::Accuracy, Some(l)) => l.get(k).copied().unwrap_or(usize::MAX),
                (TargetMetric::Accuracy, None) => usize::MAX,
                _ => argmax(p),
            };
            self.hits += (argmax(q) == truth) as usize;
            self.kl += m::kl_divergence(p, q);
            self.rows += 1;
        }
    }

    pub fn value(&self) -> f64 {
        match self.kind {
            TargetMetric::MinCosine => self.min_cosine,
            TargetMetric::Kl => self.kl / self.rows.max(1) as f64,
            _ => self.hits as f64 / self.rows.max(1) as f64,
        }
    }

    /// The best the final value can be with `left` rows still to come: a
    /// candidate that cannot meet the target any more need not run on.
    pub fn best_possible(&self, left: usize) -> f64 {
        let total = (self.rows + left).max(1) as f64;
        match self.kind {
            TargetMetric::MinCosine => self.min_cosine,
            TargetMetric::Kl => self.kl / total,
            _ => (self.hits + left) as f64 / total,
        }
    }
}

/// Whether `target` can still be met by a tally with `left` rows to come.
pub(super) fn still_possible(target: &Target, tally: &Tally, left: usize) -> bool {
    target.met_by(tally.best_possible(left))
}

/// Outputs the metric reads: the named one; the class output for
/// agreement, accuracy and kl; every float output for min_cosine.
pub(super) fn measured_outputs(model: &Model, target: &Target, first: &[Tensor]) -> Result<Vec<usize>> {
    let names: Vec<&str> = model.graph.outputs.iter().map(|o| o.name.as_str()).collect();
    if let Some(name) = &target.output {
        let i = names.iter().position(|n| n == name).ok_or_else(|| target_err(format!("the model has no output '{name}' (outputs: {})", names.join(", "))))?;
        if !first[i].dtype().is_float() {
            return Err(target_err(format!("output '{name}' is not a float tensor")));
        }
        return Ok(vec![i]);
    }
    if target.metric == TargetMetric::MinCosine {
        let floats: Vec<usize> = (0..first.len()).filter(|&i| first[i].dtype().is_float()).collect();
        return if floats.is_empty() { Err(target_err("min_cosine needs a float output; the model has none")) } else { Ok(floats) };
    }
    class_output(first).map(|i| vec![i]).ok_or_else(|| {
        target_err(format!(
            "metric {} needs a class output (a float output whose last axis holds ≥ 2 classes); name one with \"output\" (outputs: {})",
            target.metric.name(),
            names.join(", ")
        ))
    })
}

/// Noise energy over signal energy, summed over the measured outputs.
pub(super) fn noise_ratio(reference: &[Vec<Tensor>], got: &[Vec<Tensor>], measured: &[usize]) -> f64 {
    let mut energy = crate::kernels::stats::ErrorEnergy::default();
    for (want, have) in reference.iter().zip(got) {
        for &j in measured {
            energy.add_all(&want[j].to_f64_vec(), &have[j].to_f64_vec());
        }
    }
    energy.ratio()
}

/// Rows of one example each (split along the first axis).
fn rows(t: &Tensor) -> Vec<Vec<f64>> {
    let v = t.to_f64_vec();
    let batch = t.shape().first().copied().unwrap_or(1).max(1);
    let width = v.len() / batch;
    if width == 0 {
        return Vec::new();
    }
    v.chunks(width).map(|c| c.to_vec()).collect()
}

/// Class rows (last axis) of one output.
fn class_rows(t: &Tensor) -> Vec<Vec<f64>> {
    let c = t.shape().last().copied().unwrap_or(1).max(1);
    t.to_f64_vec().chunks(c).map(|r| r.to_vec()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{Dim, ValueType};

    fn t(shape: &[usize], v: Vec<f32>) -> Tensor {
        Tensor::from_vec(shape, v).unwrap()
    }

    #[test]
    fn tally_by_hand_and_its_early_bound() {
        // Two batches of class rows [2, 3]: argmax agrees on 3 of 4.
        let mut a = Tally::new(TargetMetric::Agreement);
        a.add(&[t(&[2, 3], vec![0.7, 0.2, 0.1, 0.1, 0.8, 0.1])], &[t(&[2, 3], vec![0.6, 0.3, 0.1, 0.5, 0.4, 0.1])], &[0], None);
        assert_eq!(a.value(), 0.5);
        assert_eq!(a.best_possible(2), 0.75, "(1 + 2) / 4");
        a.add(&[t(&[2, 3], vec![0.1, 0.1, 0.8, 0.3, 0.3, 0.4])], &[t(&[2, 3], vec![0.1, 0.2, 0.7, 0.2, 0.2, 0.6])], &[0], None);
        assert_eq!(a.value(), 0.75);
        // Accuracy against labels, one per row.
        let mut acc = Tally::new(TargetMetric::Accuracy);
        acc.add(&[t(&[2, 3], vec![0.7, 0.2, 0.1, 0.1, 0.8, 0.1])], &[t(&[2, 3], vec![0.6, 0.3, 0.1, 0.5, 0.4, 0.1])], &[0], Some(&[0, 1]));
        assert_eq!(acc.value(), 0.5);
        // min cosine: rows split along the first axis; [1,0]·[1,1]/√2.
        let mut c = Tally::new(TargetMetric::MinCosine);
        c.add(&[t(&[2, 2], vec![1.0, 0.0, 0.0, 1.0])], &[t(&[2, 2], vec![1.0, 1.0, 0.0, 2.0])], &[0], None);
        assert!((c.value() - std::f64::consts::FRAC_1_SQRT_2).abs() < 1e-12);
        assert_eq!(c.best_possible(100), c.value(), "a minimum only falls");
        // Mean KL (inputs are f32: 1e-6); the bound divides by every row to come.
        let mut k = Tally::new(TargetMetric::Kl);
        k.add(&[t(&[1, 2], vec![0.5, 0.5])], &[t(&[1, 2], vec![0.9, 0.1])], &[0], None);
        let kl = 0.5 * (0.5f64 / 0.9).ln() + 0.5 * (0.5f64 / 0.1).ln();
        assert!((k.value() - kl).abs() < 1e-6, "{} vs {kl}", k.value());
        assert!((k.best_possible(3) - k.value() / 4.0).abs() < 1e-12);
    }

    #[test]
    fn batches_join_same_shaped_examples() {
        let f = |v: f32, len: usize| vec![("x".to_string(), t(&[1, len], vec![v; len]))];
        let feeds = vec![f(1.0, 2), f(2.0, 2), f(3.0, 3), f(4.0, 3), f(5.0, 3)];
        let input = crate::ir::ValueInfo {
            name: "x".into(),
            ty: ValueType::Tensor { elem_type: 1, shape: Some(vec![Dim::Symbolic("n".into()), Dim::Unknown]) },
            doc_string: String::new(),
        };
        let graph = crate::ir::Graph {
            name: "g".into(),
            doc_string: String::new(),
            nodes: vec![],
            inputs: vec![input],
            outputs: vec![],
            initializers: vec![],
            value_info: vec![],
            sparse_stored: Default::default(),
        };
        let model = Model {
            ir_version: 8,
            opsets: vec![(String::new(), 17)],
            producer_name: String::new(),
            producer_version: String::new(),
            domain: String::new(),
            model_version: 0,
            doc_string: String::new(),
            metadata: vec![],
            graph,
        };
        let b = batches(&model, &feeds);
        assert_eq!(b.iter().map(|b| b.rows).collect::<Vec<_>>(), [2, 3]);
        assert_eq!(b[1].feed[0].1.shape(), [3, 3]);
        assert_eq!(b[1].feed[0].1.to_f64_vec()[3..6], [4.0, 4.0, 4.0]);
    }
}
