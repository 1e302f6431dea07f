//! Per-output reports: regression metrics for every output, classification
//! metrics where the output is a class distribution (or logits).

use serde::{Deserialize, Serialize};

use super::metrics::{self as m, Bucket, ReliabilityBin};
use crate::error::{Result, SquishError};
use crate::tensor::Tensor;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputKind {
    Classification,
    Regression,
}

/// Confidence from which a wrong answer counts as overconfident.
pub const OVERCONFIDENT: f64 = 0.9;
/// Reliability-diagram bins.
pub const CALIBRATION_BINS: usize = 10;

/// One output's values, one row per example, gathered over all samples.
#[derive(Debug, Default)]
pub struct Collected {
    /// Shape of one example (the output's shape without its first axis).
    pub example_shape: Vec<usize>,
    pub original: Vec<Vec<f64>>,
    pub compressed: Vec<Vec<f64>>,
}

impl Collected {
    /// Splits both tensors along their first axis into example rows.
    pub fn push(&mut self, name: &str, original: &Tensor, compressed: &Tensor) -> Result<()> {
        if original.shape() != compressed.shape() {
            return Err(SquishError::invalid(format!(
                "output '{name}' has shape {:?} in the original model but {:?} in the compressed one",
                original.shape(),
                compressed.shape()
            )));
        }
        let shape = original.shape();
        let (batch, example_shape) = match shape.split_first() {
            Some((&b, rest)) => (b, rest.to_vec()),
            None => (1, vec![]),
        };
        if self.original.is_empty() {
            self.example_shape = example_shape.clone();
        } else if self.example_shape != example_shape {
            return Err(SquishError::invalid(format!(
                "output '{name}' changes shape between inputs ({:?} then {:?} per example); compare needs one shape per output",
                self.example_shape, example_shape
            )));
        }
        let width = example_shape.iter().product::<usize>();
        for (dst, t) in [(&mut self.original, original), (&mut self.compressed, compressed)] {
            let v = t.to_f64_vec();
            if width == 0 {
                dst.extend((0..batch).map(|_| Vec::new()));
            } else {
                dst.extend(v.chunks(width).map(|c| c.to_vec()));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct OutputReport {
    pub name: String,
    pub kind: OutputKind,
    pub examples: usize,
    pub example_shape: Vec<usize>,
    pub regression: RegressionMetrics,
    pub classification: Option<ClassificationMetrics>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RegressionMetrics {
    /// Per-example cosine similarity, mean and minimum.
    pub cosine_mean: f64,
    pub cosine_min: f64,
    pub max_abs_error: f64,
    pub mean_abs_error: f64,
    /// Over all values of all examples, capped at 150 dB.
    pub sqnr_db: f64,
    /// Share of examples whose nearest neighbour (cosine) in the input set is
    /// the same for both models; `null` with fewer than three examples.
    pub neighbour_agreement: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Flip {
    pub index: usize,
    pub original_class: usize,
    pub original_confidence: f64,
    pub compressed_class: usize,
    pub compressed_confidence: f64,
    pub label: Option<usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClassificationMetrics {
    pub classes: usize,
    /// Whether the rows already were probabilities (else softmax was applied).
    pub probabilities: bool,
    pub top1_agreement: f64,
    pub top_k: usize,
    /// Share of examples whose original top-1 class is in the compressed top-k.
    pub top_k_agreement: f64,
    pub accuracy_original: Option<f64>,
    pub accuracy_compressed: Option<f64>,
    pub flipped_count: usize,
    /// The first `max_flips` flipped examples, in input order.
    pub flipped: Vec<Flip>,
    /// KL(original ‖ compressed) per example, in nats.
    pub kl_mean: f64,
    pub kl_max: f64,
    /// "labels", or "original" (no labels: the original's top-1 is the truth).
    pub calibration_reference: String,
    pub ece_original: Option<f64>,
    pub ece_compressed: f64,
    pub reliability_original: Option<Vec<ReliabilityBin>>,
    pub reliability_compressed: Vec<ReliabilityBin>,
    /// Wrong with confidence ≥ 0.9 (indices), for each model.
    pub overconfident_original: Option<Vec<usize>>,
    pub overconfident_compressed: Vec<usize>,
    /// Agreement by the original's margin (top-1 minus top-2 probability).
    pub difficulty: Vec<Bucket>,
    pub per_class: Option<PerClass>,
    pub handback: Option<Handback>,
}

/// Classification when asked, or when one axis of each example carries ≥ 2
/// values and the rows are probabilities or the name says so (logits).
pub fn guess_kind(name: &str, c: &Collected) -> OutputKind {
    let big_axes = c.example_shape.iter().filter(|&&d| d > 1).count();
    if big_axes != 1 || c.original.is_empty() {
        return OutputKind::Regression;
    }
    let (_, probabilities) = m::as_probabilities(&c.original);
    let lower = name.to_ascii_lowercase();
    let named = ["prob", "logit", "class", "score", "label", "softmax"].iter().any(|k| lower.contains(k));
    if probabilities || named {
        OutputKind::Classification
    } else {
        OutputKind::Regression
    }
}

pub fn regression(c: &Collected) -> RegressionMetrics {
    let (mut xx, mut noise, mut max_abs, mut sum_abs, mut n) = (0.0, 0.0, 0.0f64, 0.0, 0usize);
    let mut cos = Vec::with_capacity(c.original.len());
    for (o, q) in c.original.iter().zip(&c.compressed) {
        for (a, b) in o.iter().zip(q) {
            let d = (a - b).abs();
            xx += a * a;
            noise += d * d;
            max_abs = max_abs.max(d);
            sum_abs += d;
            n += 1;
        }
        cos.push(m::cosine(o, q));
    }
    RegressionMetrics {
        cosine_mean: if cos.is_empty() { 1.0 } else { cos.iter().sum::<f64>() / cos.len() as f64 },
        cosine_min: cos.iter().copied().fold(1.0, f64::min),
        max_abs_error: max_abs,
        mean_abs_error: if n == 0 { 0.0 } else { sum_abs / n as f64 },
        sqnr_db: m::sqnr_db(xx, noise),
        neighbour_agreement: m::neighbour_agreement(&c.original, &c.compressed),
    }
}

use super::on_the_job::{handback, per_class, Handback, PerClass, Predictions};
pub use crate::formats::data::labels::label_indices;

pub fn classification(c: &Collected, labels: Option<&[usize]>, options: &super::Options) -> ClassificationMetrics {
    let (top_k, max_flips) = (options.top_k, options.max_flips);
    let (po, probabilities) = m::as_probabilities(&c.original);
    let (pc, _) = m::as_probabilities(&c.compressed);
    let classes = c.example_shape.iter().product::<usize>();
    let k = top_k.clamp(1, classes.max(1));
    let n = po.len();
    let pred_o: Vec<usize> = po.iter().map(|r| m::argmax(r)).collect();
    let pred_c: Vec<usize> = pc.iter().map(|r| m::argmax(r)).collect();
    let conf_o: Vec<f64> = po.iter().zip(&pred_o).map(|(r, &i)| r[i]).collect();
    let conf_c: Vec<f64> = pc.iter().zip(&pred_c).map(|(r, &i)| r[i]).collect();
    let agree: Vec<bool> = pred_o.iter().zip(&pred_c).map(|(a, b)| a == b).collect();
    let share = |v: &[bool]| if v.is_empty() { 1.0 } else { v.iter().filter(|&&b| b).count() as f64 / v.len() as f64 };
    let in_top_k: Vec<bool> = (0..n).map(|i| m::top_k(&pc[i], k).contains(&pred_o[i])).collect();
    let kl: Vec<f64> = po.iter().zip(&pc).map(|(p, q)| m::kl_divergence(p, q)).collect();
    // Truth for calibration and errors: the labels, else the original's answer.
    let truth: Vec<usize> = labels.map(|l| l.to_vec()).unwrap_or_else(|| pred_o.clone());
    let correct_o: Vec<bool> = pred_o.iter().zip(&truth).map(|(a, b)| a == b).collect();
    let correct_c: Vec<bool> = pred_c.iter().zip(&truth).map(|(a, b)| a == b).collect();
    let (ece_c, rel_c) = m::calibration(&conf_c, &correct_c, CALIBRATION_BINS);
    let with_labels = labels.is_some();
    let (ece_o, rel_o) = if with_labels {
        let (e, r) = m::calibration(&conf_o, &correct_o, CALIBRATION_BINS);
        (Some(e), Some(r))
    } else {
        (None, None)
    };
    let overconfident = |conf: &[f64], correct: &[bool]| (0..n).filter(|&i| !correct[i] && conf[i] >= OVERCONFIDENT).collect::<Vec<_>>();
    let flips: Vec<usize> = (0..n).filter(|&i| !agree[i]).collect();
    let margins: Vec<f64> = po.iter().map(|p| m::margin(p)).collect();
    let predictions = Predictions { original: &pred_o, compressed: &pred_c, compressed_confidence: &conf_c, labels, classes };
    ClassificationMetrics {
        per_class: options.per_class.then(|| per_class(&predictions)),
        handback: options.handback.then(|| handback(&predictions, options.handback_target)),
        classes,
        probabilities,
        top1_agreement: share(&agree),
        top_k: k,
        top_k_agreement: share(&in_top_k),
        accuracy_original: with_labels.then(|| share(&correct_o)),
        accuracy_compressed: with_labels.then(|| share(&correct_c)),
        flipped_count: flips.len(),
        flipped: flips
            .iter()
            .take(max_flips)
            .map(|&i| Flip {
                index: i,
                original_class: pred_o[i],
                original_confidence: conf_o[i],
                compressed_class: pred_c[i],
                compressed_confidence: conf_c[i],
                label: labels.map(|l| l[i]),
            })
            .collect(),
        kl_mean: if n == 0 { 0.0 } else { kl.iter().sum::<f64>() / n as f64 },
        kl_max: kl.iter().copied().fold(0.0, f64::max),
        calibration_reference: if with_labels { "labels" } else { "original" }.into(),
        ece_original: ece_o,
        ece_compressed: ece_c,
        reliability_original: rel_o,
        reliability_compressed: rel_c,
        overconfident_original: with_labels.then(|| overconfident(&conf_o, &correct_o)),
        overconfident_compressed: overconfident(&conf_c, &correct_c),
        difficulty: m::buckets(&margins, &agree, with_labels.then_some((&correct_o[..], &correct_c[..]))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(top_k: usize, max_flips: usize) -> crate::compare::Options {
        crate::compare::Options { top_k, max_flips, ..Default::default() }
    }

    fn collected(o: Vec<Vec<f64>>, c: Vec<Vec<f64>>) -> Collected {
        Collected { example_shape: vec![o[0].len()], original: o, compressed: c }
    }

    #[test]
    fn classification_by_hand() {
        // Three examples, three classes, probabilities.
        // 0: orig [0.75,0.15,0.1] → 0; comp [0.6,0.3,0.1] → 0 (agree)
        // 1: orig [0.5,0.35,0.15] → 0; comp [0.3,0.6,0.1] → 1 (flip), orig 0 in comp top-2 ✓
        // 2: orig [0.1,0.1,0.8] → 2; comp [0.05,0.0,0.95] → 2 (agree)
        let c = collected(
            vec![vec![0.75, 0.15, 0.1], vec![0.5, 0.35, 0.15], vec![0.1, 0.1, 0.8]],
            vec![vec![0.6, 0.3, 0.1], vec![0.3, 0.6, 0.1], vec![0.05, 0.0, 0.95]],
        );
        assert_eq!(guess_kind("out", &c), OutputKind::Classification);
        // Labels 0, 1, 1: original right on 0 only; compressed right on 0, 1.
        let r = classification(&c, Some(&[0, 1, 1]), &opts(2, 10));
        assert!((r.top1_agreement - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(r.top_k_agreement, 1.0);
        assert_eq!(r.accuracy_original, Some(1.0 / 3.0));
        assert_eq!(r.accuracy_compressed, Some(2.0 / 3.0));
        assert_eq!(r.flipped_count, 1);
        let f = &r.flipped[0];
        assert_eq!((f.index, f.original_class, f.compressed_class, f.label), (1, 0, 1, Some(1)));
        assert!((f.original_confidence - 0.5).abs() < 1e-12 && (f.compressed_confidence - 0.6).abs() < 1e-12);
        // Compressed: example 2 wrong at 0.95 → overconfident; original: example 2 wrong at 0.8 → not.
        assert_eq!(r.overconfident_compressed, vec![2]);
        assert_eq!(r.overconfident_original, Some(vec![]));
        // KL per example: Σ p·ln(p/q), with q floored at 1e-12.
        let kl0 = 0.75 * (0.75f64 / 0.6).ln() + 0.15 * (0.15f64 / 0.3).ln();
        let kl1 = 0.5 * (0.5f64 / 0.3).ln() + 0.35 * (0.35f64 / 0.6).ln() + 0.15 * (0.15f64 / 0.1).ln();
        let kl2 = 0.1 * (0.1f64 / 0.05).ln() + 0.1 * (0.1f64 / 1e-12).ln() + 0.8 * (0.8f64 / 0.95).ln();
        assert!((r.kl_mean - (kl0 + kl1 + kl2) / 3.0).abs() < 1e-9);
        // ECE compressed vs labels: bin 6 holds 0.6 (right), 0.6 (right) → |1 − 0.6| = 0.4 for 2/3;
        // bin 9 holds 0.95 (wrong) → 0.95 for 1/3. ECE = 0.2667 + 0.3167 = 0.58333.
        assert!((r.ece_compressed - (2.0 / 3.0 * 0.4 + 0.95 / 3.0)).abs() < 1e-9, "{}", r.ece_compressed);
        // Margins 0.6, 0.15, 0.7 → buckets [0.5,0.75), [0.1,0.25), [0.5,0.75).
        assert_eq!(r.difficulty.iter().map(|b| b.count).collect::<Vec<_>>(), vec![0, 1, 0, 2, 0]);
        assert_eq!(r.difficulty[1].agreement, Some(0.0));
        assert_eq!(r.difficulty[3].agreement, Some(1.0));
        // Without labels the original's answers are the truth.
        let r = classification(&c, None, &opts(2, 10));
        assert_eq!(r.calibration_reference, "original");
        assert_eq!(r.accuracy_original, None);
        assert_eq!(r.overconfident_compressed, Vec::<usize>::new());
    }

    #[test]
    fn regression_by_hand() {
        let c = collected(vec![vec![3.0, 4.0], vec![1.0, 0.0]], vec![vec![3.0, 3.0], vec![1.0, 0.0]]);
        let r = regression(&c);
        // Σx² = 26, noise = 1 → 10·log10(26).
        assert!((r.sqnr_db - 10.0 * 26f64.log10()).abs() < 1e-9);
        assert_eq!(r.max_abs_error, 1.0);
        assert!((r.mean_abs_error - 0.25).abs() < 1e-12);
        // cos([3,4],[3,3]) = 21 / (5·3√2) = 0.98995.
        let c0 = 21.0 / (5.0 * 3.0 * 2f64.sqrt());
        assert!((r.cosine_min - c0).abs() < 1e-12);
        assert!((r.cosine_mean - (c0 + 1.0) / 2.0).abs() < 1e-12);
        assert_eq!(r.neighbour_agreement, None);
    }

    #[test]
    fn labels_as_indices_or_one_hot() {
        let t = Tensor::from_vec(&[3], vec![2i64, 0, 1]).unwrap();
        assert_eq!(label_indices(&t, 3, 3).unwrap(), vec![2, 0, 1]);
        let t = Tensor::from_vec(&[2, 3], vec![0f32, 0.0, 1.0, 1.0, 0.0, 0.0]).unwrap();
        assert_eq!(label_indices(&t, 2, 3).unwrap(), vec![2, 0]);
        let t = Tensor::from_vec(&[3], vec![2i64, 7, 1]).unwrap();
        assert!(label_indices(&t, 3, 3).unwrap_err().to_string().contains("label 1 is 7"));
        let t = Tensor::from_vec(&[4], vec![0i64, 0, 0, 0]).unwrap();
        assert!(label_indices(&t, 3, 3).unwrap_err().to_string().contains("4 values for 3 examples"));
    }

    #[test]
    fn regression_outputs_are_not_classified() {
        let c = Collected { example_shape: vec![4, 8], original: vec![vec![0.5; 32]], compressed: vec![vec![0.5; 32]] };
        assert_eq!(guess_kind("hidden", &c), OutputKind::Regression);
        let c = collected(vec![vec![-1.0, 2.0]], vec![vec![-1.0, 2.0]]);
        assert_eq!(guess_kind("embedding", &c), OutputKind::Regression);
        assert_eq!(guess_kind("logits", &c), OutputKind::Classification);
    }
}
