//! Slices: where in the inputs the compressed model differs most. Each
//! example gets a number read from its input — text length in tokens,
//! image brightness or contrast, audio loudness, the input's norm — and
//! the examples are cut into quantile bins of it; or the user names each
//! example's slice. Per slice: agreement (or mean cosine) and accuracy,
//! worst first.

use serde::{Deserialize, Serialize};

use super::metrics::Figure;
use super::outputs::OutputKind;
use super::probes::Clean;
use super::Feed;
use crate::error::{Result, SquishError};
use crate::tensor::Tensor;
use crate::train::fit::augment::batch_image_view;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SliceOptions {
    /// `auto` (by the input: length for token ids, brightness for images,
    /// loudness for long 1-D signals, else norm), or one of `length`,
    /// `brightness`, `contrast`, `loudness`, `norm`.
    pub by: String,
    /// Quantile bins of the feature.
    pub bins: usize,
    /// The user's slice name per example (instead of a feature).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub names: Option<Vec<String>>,
}

impl Default for SliceOptions {
    fn default() -> Self {
        SliceOptions { by: "auto".into(), bins: 4, names: None }
    }
}

const FEATURES: [&str; 6] = ["auto", "length", "brightness", "contrast", "loudness", "norm"];
/// A float input this long per example, without an image reading, is a signal.
const SIGNAL_LENGTH: usize = 4096;

impl SliceOptions {
    pub fn check(&self) -> Result<()> {
        if !FEATURES.contains(&self.by.as_str()) {
            return Err(SquishError::invalid(format!("compare options: slices.by: '{}' is not one of {}", self.by, FEATURES.join(", "))));
        }
        if !(1..=20).contains(&self.bins) {
            return Err(SquishError::invalid(format!("compare options: slices.bins: from 1 to 20, got {}", self.bins)));
        }
        Ok(())
    }
}

/// Per example (input rows in feed order), the feature `by` names, and
/// the feature's name (`auto` resolved).
pub fn features(feeds: &[Feed], by: &str) -> Result<(String, Vec<f64>)> {
    let first = feeds.first().ok_or_else(|| SquishError::input("(inputs)", "no inputs"))?;
    let ids = first.iter().find(|(n, t)| !t.dtype().is_float() && n.to_ascii_lowercase().contains("ids"));
    let float = first.iter().find(|(_, t)| matches!(t, Tensor::F32(_)));
    let feature = match by {
        "auto" => match (ids, float) {
            (Some(_), _) => "length",
            (None, Some((_, t))) if batch_image_view(t.shape()).is_some_and(|[_, h, w]| h > 1 && w > 1) => "brightness",
            (None, Some((_, t))) if t.shape().len() == 2 && t.shape()[1] >= SIGNAL_LENGTH => "loudness",
            _ => "norm",
        },
        other => other,
    };
    let bad = |why: String| SquishError::invalid(format!("slices by {feature}: {why}"));
    let mut out = Vec::new();
    for feed in feeds {
        let rows = |name: &str| -> Result<Vec<Vec<f64>>> {
            let (_, t) = feed.iter().find(|(n, _)| n == name).ok_or_else(|| bad(format!("input set without '{name}'")))?;
            let v = t.to_f64_vec();
            let batch = t.shape().first().copied().unwrap_or(1).max(1);
            Ok(v.chunks(v.len() / batch).map(|c| c.to_vec()).collect())
        };
        match feature {
            "length" => {
                let (name, _) = ids.ok_or_else(|| bad("the model has no token-id input".into()))?;
                let mask = feed.iter().find(|(n, t)| !t.dtype().is_float() && n.to_ascii_lowercase().contains("mask")).map(|(n, _)| n.clone());
                let counted = rows(mask.as_deref().unwrap_or(name))?;
                out.extend(counted.iter().map(|r| r.iter().filter(|&&v| v != 0.0).count() as f64));
            }
            _ => {
                let (name, _) = float.ok_or_else(|| bad("the model has no float input".into()))?;
                for r in rows(name)? {
                    let n = r.len().max(1) as f64;
                    let mean = r.iter().sum::<f64>() / n;
                    let rms = (r.iter().map(|v| v * v).sum::<f64>() / n).sqrt();
                    out.push(match feature {
                        "brightness" => mean,
                        "contrast" => (r.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n).sqrt(),
                        "loudness" => rms,
                        _ => rms * n.sqrt(),
                    });
                }
            }
        }
    }
    Ok((feature.to_string(), out))
}

/// Bin edges at the quantiles of `values` (distinct edges only), and each
/// value's bin label.
pub fn quantile_slices(feature: &str, values: &[f64], bins: usize) -> Vec<String> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    if sorted.is_empty() {
        return vec![format!("{feature} not finite"); values.len()];
    }
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
    let mut edges: Vec<f64> = (0..=bins).map(|i| at(i as f64 / bins as f64)).collect();
    edges.dedup();
    let fmt = |v: f64| if v.fract() == 0.0 && v.abs() < 1e9 { format!("{v}") } else { format!("{v:.3}") };
    values
        .iter()
        .map(|&v| {
            if !v.is_finite() {
                return format!("{feature} not finite");
            }
            // The first bin whose upper edge holds v (the last edge closes the range).
            let k = edges.windows(2).position(|e| v <= e[1]).unwrap_or(edges.len().saturating_sub(2));
            match edges.get(k..k + 2) {
                Some([lo, hi]) => format!("{feature} {}–{}", fmt(*lo), fmt(*hi)),
                _ => format!("{feature} {}", fmt(v)),
            }
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SliceRow {
    pub slice: String,
    pub examples: usize,
    /// The slice's mean `Slices::figure` (compressed against original).
    pub figure: f64,
    pub accuracy_original: Option<f64>,
    pub accuracy_compressed: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Slices {
    pub output: String,
    /// What cut the examples: a feature, or "names" (the user's).
    pub by: String,
    pub figure: Figure,
    /// Worst first: the largest accuracy drop with labels, else the lowest figure.
    pub rows: Vec<SliceRow>,
}

/// Per-slice figures of the judged output (`Clean::output`).
pub fn slices(clean: &Clean, feeds: &[Feed], options: &SliceOptions) -> Result<Slices> {
    options.check()?;
    let Clean { collected, reports, labels, output: k } = *clean;
    let (c, classify) = (&collected[k], reports[k].kind == OutputKind::Classification);
    let n = c.original.len();
    let (by, names) = match &options.names {
        Some(names) => ("names".to_string(), names.clone()),
        None => {
            let (feature, values) = features(feeds, &options.by)?;
            (feature.clone(), quantile_slices(&feature, &values, options.bins))
        }
    };
    if names.len() != n {
        return Err(SquishError::invalid(format!("slices: {} slice names or input rows for {n} examples of output '{}'", names.len(), reports[k].name)));
    }
    let figure = Figure::for_output(classify, c.example_shape.iter().product());
    let top = |r: &Vec<f64>| super::metrics::argmax(r);
    let mut order: Vec<String> = names.clone();
    order.sort();
    order.dedup();
    let mut rows: Vec<SliceRow> = order
        .into_iter()
        .map(|slice| {
            let members: Vec<usize> = (0..n).filter(|&i| names[i] == slice).collect();
            let m = members.len() as f64;
            let value = members.iter().map(|&i| figure.of(&c.compressed[i], &c.original[i])).sum::<f64>() / m;
            let accuracy = |rows: &[Vec<f64>]| labels.filter(|_| classify).map(|l| members.iter().filter(|&&i| top(&rows[i]) == l[i]).count() as f64 / m);
            SliceRow { slice, examples: members.len(), figure: value, accuracy_original: accuracy(&c.original), accuracy_compressed: accuracy(&c.compressed) }
        })
        .collect();
    // Perfect is 1 (agreement, cosine) or 0 (absolute error).
    let perfect = if figure == Figure::AbsError { 0.0 } else { 1.0 };
    let badness = |r: &SliceRow| match (r.accuracy_original, r.accuracy_compressed) {
        (Some(a), Some(b)) => a - b,
        _ => figure.loss(perfect, r.figure),
    };
    rows.sort_by(|a, b| badness(b).total_cmp(&badness(a)).then(a.slice.cmp(&b.slice)));
    Ok(Slices { output: reports[k].name.clone(), by, figure, rows })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_by_hand() {
        // Two token rows (mask 1 1 1 0 and 1 1 0 0) and two images.
        let text = vec![vec![
            ("input_ids".to_string(), Tensor::from_vec(&[2, 4], vec![101i64, 7, 102, 0, 101, 102, 0, 0]).unwrap()),
            ("attention_mask".to_string(), Tensor::from_vec(&[2, 4], vec![1i64, 1, 1, 0, 1, 1, 0, 0]).unwrap()),
        ]];
        assert_eq!(features(&text, "auto").unwrap(), ("length".into(), vec![3.0, 2.0]));
        let images = vec![vec![("x".to_string(), Tensor::from_vec(&[2, 4], vec![0.0f32, 0.0, 2.0, 2.0, 1.0, 1.0, 1.0, 1.0]).unwrap())]];
        assert_eq!(features(&images, "auto").unwrap(), ("brightness".into(), vec![1.0, 1.0]));
        assert_eq!(features(&images, "contrast").unwrap().1, vec![1.0, 0.0]);
        assert_eq!(features(&images, "norm").unwrap().1, vec![8f64.sqrt(), 2.0]);
        let e = features(&images, "length").unwrap_err().to_string();
        assert!(e.contains("slices by length: the model has no token-id input"), "{e}");
    }

    #[test]
    fn quantile_bins_by_hand() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0];
        // Edges at the 0, ½ and 1 quantiles: 1, 5, 9.
        let s = quantile_slices("length", &v, 2);
        assert_eq!(s[0], "length 1–5");
        assert_eq!(s[4], "length 1–5");
        assert_eq!(s[5], "length 5–9");
        // All equal: one slice.
        assert!(quantile_slices("norm", &[2.0, 2.0], 4).iter().all(|x| x == "norm 2"));
    }

    use crate::compare::outputs::{Collected, OutputReport};

    #[test]
    fn slice_rows_by_hand() {
        let c = Collected {
            example_shape: vec![2],
            original: vec![vec![0.9, 0.1], vec![0.8, 0.2], vec![0.3, 0.7], vec![0.4, 0.6]],
            compressed: vec![vec![0.6, 0.4], vec![0.4, 0.6], vec![0.2, 0.8], vec![0.3, 0.7]],
        };
        let report = OutputReport {
            name: "p".into(),
            kind: OutputKind::Classification,
            examples: 4,
            example_shape: vec![2],
            regression: super::super::outputs::regression(&c),
            classification: None,
        };
        let names = vec!["short".to_string(), "short".into(), "long".into(), "long".into()];
        let options = SliceOptions { names: Some(names), ..Default::default() };
        let clean = Clean { collected: &[c], reports: &[report], labels: Some(&[0, 0, 1, 0]), output: 0 };
        let s = slices(&clean, &[], &options).unwrap();
        assert_eq!(s.by, "names");
        // short: agreement 1/2, accuracy 1 → 1/2 (drop 0.5); long: agreement 1, accuracy 1/2 → 1/2.
        assert_eq!(s.rows[0].slice, "short");
        assert_eq!((s.rows[0].figure, s.rows[0].accuracy_original, s.rows[0].accuracy_compressed), (0.5, Some(1.0), Some(0.5)));
        assert_eq!((s.rows[1].figure, s.rows[1].accuracy_compressed), (1.0, Some(0.5)));
    }
}
