//! The page's model view: one row per node (its op, the shapes it reads and
//! writes, the weights it holds) and the distribution of one weight tensor.
//! Shapes come from inference, which the caller runs (ops sit above ir).

use std::collections::HashMap;

use serde::Serialize;

use super::infer::Facts;
use super::Model;
use crate::tensor::Tensor;

/// A constant tensor a node reads: an initializer or a `Constant`'s value.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WeightInfo {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<usize>,
    pub parameters: u64,
    pub bytes: u64,
    /// Values exactly zero (pruned weights, or padding).
    pub zeros: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LayerRow {
    pub node: String,
    pub op_type: String,
    /// Empty for the default ONNX domain.
    pub domain: String,
    /// Inferred shape of each non-constant input, as "1×3×224×224" (`?`
    /// for what inference cannot tell); omitted inputs are skipped.
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub weights: Vec<WeightInfo>,
    pub parameters: u64,
    pub bytes: u64,
    pub zeros: u64,
}

fn shape_text(facts: Option<&Facts>) -> String {
    match facts.and_then(|f| f.shape.as_ref()) {
        Some(dims) if dims.is_empty() => "scalar".into(),
        Some(dims) => dims.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("×"),
        None => "?".into(),
    }
}

fn weight_info(name: &str, t: &Tensor) -> WeightInfo {
    let zeros = t.to_f64_vec().iter().filter(|v| **v == 0.0).count() as u64;
    WeightInfo { name: name.into(), dtype: t.dtype().name().into(), shape: t.shape().to_vec(), parameters: t.len() as u64, bytes: t.byte_size() as u64, zeros }
}

/// One row per node of the main graph, in graph order. `facts` is the
/// inference result for the model (`ops::facts::infer`).
pub fn layer_rows(model: &Model, facts: &HashMap<String, Facts>) -> Vec<LayerRow> {
    let g = &model.graph;
    g.nodes
        .iter()
        .filter(|n| !(n.op_type == "Constant" && n.domain.is_empty()))
        .map(|n| {
            let mut inputs = Vec::new();
            let mut weights: Vec<WeightInfo> = Vec::new();
            for name in n.inputs.iter().filter(|i| !i.is_empty()) {
                match g.constant(name) {
                    Some(t) if !weights.iter().any(|w| w.name == *name) => weights.push(weight_info(name, t)),
                    Some(_) => {}
                    None => inputs.push(shape_text(facts.get(name))),
                }
            }
            let outputs = n.outputs.iter().filter(|o| !o.is_empty()).map(|o| shape_text(facts.get(o))).collect();
            LayerRow {
                node: n.name.clone(),
                op_type: n.op_type.clone(),
                domain: n.domain.clone(),
                inputs,
                outputs,
                parameters: weights.iter().map(|w| w.parameters).sum(),
                bytes: weights.iter().map(|w| w.bytes).sum(),
                zeros: weights.iter().map(|w| w.zeros).sum(),
                weights,
            }
        })
        .collect()
}

/// A weight tensor's values in `bins` equal bins over [`low`, `high`]
/// (symmetric about 0, so that two models' histograms line up); integer
/// tensors are binned by their stored values.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ValueHistogram {
    pub tensor: String,
    pub dtype: String,
    pub low: f64,
    pub high: f64,
    pub counts: Vec<u64>,
    pub zeros: u64,
    /// NaN and ±Inf, counted apart (never binned).
    pub non_finite: u64,
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    pub std: f64,
}

/// The histogram of `t`'s values; `range` fixes the bins' half-width (to
/// draw two tensors on one axis), else the largest finite |value|.
pub fn value_histogram(name: &str, t: &Tensor, bins: usize, range: Option<f64>) -> ValueHistogram {
    let values = t.to_f64_vec();
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    let biggest = finite.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let high = range.filter(|r| r.is_finite() && *r > 0.0).unwrap_or(biggest).max(f64::MIN_POSITIVE);
    let bins = bins.clamp(1, 1024);
    let mut counts = vec![0u64; bins];
    for v in finite.iter().filter(|v| v.abs() <= high) {
        counts[(((v + high) / (2.0 * high) * bins as f64) as usize).min(bins - 1)] += 1;
    }
    let n = finite.len().max(1) as f64;
    let mean = finite.iter().sum::<f64>() / n;
    let var = finite.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    ValueHistogram {
        tensor: name.into(),
        dtype: t.dtype().name().into(),
        low: -high,
        high,
        counts,
        zeros: finite.iter().filter(|v| **v == 0.0).count() as u64,
        non_finite: (values.len() - finite.len()) as u64,
        min: finite.iter().copied().fold(f64::INFINITY, f64::min),
        max: finite.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        mean,
        std: var.sqrt(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Dim;

    #[test]
    fn histogram_bins_every_finite_value_and_counts_the_rest() {
        let t = Tensor::from_vec(&[6], vec![-1.0f32, -0.5, 0.0, 0.5, 1.0, f32::NAN]).unwrap();
        let h = value_histogram("w", &t, 4, None);
        assert_eq!(h.counts, vec![1, 1, 1, 2]);
        assert_eq!((h.zeros, h.non_finite), (1, 1));
        assert_eq!((h.low, h.high, h.min, h.max), (-1.0, 1.0, -1.0, 1.0));
        assert!(h.mean.abs() < 1e-12);
        // A fixed range leaves values outside it unbinned.
        let h = value_histogram("w", &t, 2, Some(0.5));
        assert_eq!(h.counts.iter().sum::<u64>(), 3);
    }

    #[test]
    fn shapes_are_written_with_symbols_and_unknowns() {
        let f = Facts::with(None, Some(vec![Dim::Symbolic("batch".into()), Dim::Fixed(3), Dim::Unknown]));
        assert_eq!(shape_text(Some(&f)), "batch×3×?");
        assert_eq!(shape_text(None), "?");
        assert_eq!(shape_text(Some(&Facts::with(None, Some(vec![])))), "scalar");
    }
}
