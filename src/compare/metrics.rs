//! Output metrics, original vs compressed. Pure functions over rows of
//! numbers (one row per example), so each is unit-tested with values worked
//! out by hand.

use serde::Serialize;

/// Highest SQNR reported: float32 rounding alone (2⁻²⁴ relative) sits near
/// 144 dB, so anything above is "identical up to float noise".
pub const SQNR_CAP_DB: f64 = 150.0;

/// Signal-to-quantisation-noise ratio in dB: 10·log10(Σx² / Σ(x−y)²),
/// capped at `SQNR_CAP_DB` (identical tensors, or an all-zero signal with
/// no noise).
pub fn sqnr_db(signal_energy: f64, noise_energy: f64) -> f64 {
    if noise_energy <= 0.0 {
        return SQNR_CAP_DB;
    }
    if signal_energy <= 0.0 {
        return -SQNR_CAP_DB;
    }
    (10.0 * (signal_energy / noise_energy).log10()).clamp(-SQNR_CAP_DB, SQNR_CAP_DB)
}

pub use crate::kernels::stats::{argmax, cosine, cosine_from};

/// What slices and probes measure of the judged output, per example
/// against a reference row (the original's on the clean input).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Figure {
    /// Top-1 agrees (classification outputs).
    Agreement,
    /// Cosine similarity (outputs of several values per example).
    Cosine,
    /// Mean absolute difference (one value per example, such as a speech
    /// probability: its cosine is always ±1). Lower is better.
    AbsError,
}

impl Figure {
    pub fn for_output(classification: bool, values_per_example: usize) -> Figure {
        match (classification, values_per_example) {
            (true, _) => Figure::Agreement,
            (false, 1) => Figure::AbsError,
            _ => Figure::Cosine,
        }
    }

    pub fn of(self, row: &[f64], reference: &[f64]) -> f64 {
        match self {
            Figure::Agreement => (argmax(row) == argmax(reference)) as u8 as f64,
            Figure::Cosine => cosine(row, reference),
            Figure::AbsError => row.iter().zip(reference).map(|(a, b)| (a - b).abs()).sum::<f64>() / row.len().max(1) as f64,
        }
    }

    /// How much worse `value` is than `baseline` (above 0: worse).
    pub fn loss(self, baseline: f64, value: f64) -> f64 {
        match self {
            Figure::AbsError => value - baseline,
            _ => baseline - value,
        }
    }
}

/// Rows as probability distributions: kept when every row is non-negative
/// and sums to 1 (± 1e-3), else a softmax of each row (logits).
pub fn as_probabilities(rows: &[Vec<f64>]) -> (Vec<Vec<f64>>, bool) {
    let already = !rows.is_empty() && rows.iter().all(|r| r.iter().all(|&v| v >= 0.0) && (r.iter().sum::<f64>() - 1.0).abs() <= 1e-3);
    if already {
        return (rows.to_vec(), true);
    }
    (rows.iter().map(|r| softmax(r)).collect(), false)
}

pub fn softmax(row: &[f64]) -> Vec<f64> {
    let m = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = row.iter().map(|&v| (v - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.into_iter().map(|v| v / s).collect()
}

/// Indices of the `k` largest values, largest first (stable on ties).
pub fn top_k(row: &[f64], k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..row.len()).collect();
    idx.sort_by(|&a, &b| row[b].partial_cmp(&row[a]).unwrap_or(std::cmp::Ordering::Equal));
    idx.truncate(k);
    idx
}

pub use crate::kernels::stats::kl_divergence;

/// One bin of a reliability diagram.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReliabilityBin {
    pub lo: f64,
    pub hi: f64,
    pub count: usize,
    pub mean_confidence: f64,
    pub accuracy: f64,
}

/// Expected calibration error over `bins` equal-width confidence bins:
/// Σ (n_b / N)·|accuracy_b − confidence_b|, with the histogram behind it.
/// A confidence of exactly 1 falls in the last bin.
pub fn calibration(confidence: &[f64], correct: &[bool], bins: usize) -> (f64, Vec<ReliabilityBin>) {
    let mut count = vec![0usize; bins];
    let mut conf_sum = vec![0.0; bins];
    let mut hits = vec![0usize; bins];
    for (&c, &ok) in confidence.iter().zip(correct) {
        let b = ((c * bins as f64) as usize).min(bins - 1);
        count[b] += 1;
        conf_sum[b] += c;
        hits[b] += ok as usize;
    }
    let n = confidence.len().max(1) as f64;
    let mut ece = 0.0;
    let hist = (0..bins)
        .map(|b| {
            let k = count[b];
            let (mc, acc) = if k == 0 { (0.0, 0.0) } else { (conf_sum[b] / k as f64, hits[b] as f64 / k as f64) };
            ece += k as f64 / n * (acc - mc).abs();
            ReliabilityBin { lo: b as f64 / bins as f64, hi: (b + 1) as f64 / bins as f64, count: k, mean_confidence: mc, accuracy: acc }
        })
        .collect();
    (ece, hist)
}

/// Margin between the two largest probabilities (1 for a single class).
pub fn margin(p: &[f64]) -> f64 {
    let t = top_k(p, 2);
    match t.as_slice() {
        [a, b] => p[*a] - p[*b],
        _ => 1.0,
    }
}

/// Difficulty buckets by the original's margin, hardest first.
pub const MARGIN_EDGES: [f64; 6] = [0.0, 0.1, 0.25, 0.5, 0.75, 1.0];

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bucket {
    pub margin_lo: f64,
    pub margin_hi: f64,
    pub count: usize,
    /// Share of the bucket where both models pick the same class.
    pub agreement: Option<f64>,
    pub accuracy_original: Option<f64>,
    pub accuracy_compressed: Option<f64>,
}

/// Agreement (and accuracy with labels) per margin bucket. A margin of
/// exactly 1 falls in the last bucket.
pub fn buckets(margins: &[f64], agree: &[bool], correct: Option<(&[bool], &[bool])>) -> Vec<Bucket> {
    let nb = MARGIN_EDGES.len() - 1;
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); nb];
    for (i, &m) in margins.iter().enumerate() {
        let b = MARGIN_EDGES[1..].iter().position(|&hi| m < hi).unwrap_or(nb - 1);
        members[b].push(i);
    }
    let share = |idx: &[usize], f: &dyn Fn(usize) -> bool| {
        if idx.is_empty() {
            None
        } else {
            Some(idx.iter().filter(|&&i| f(i)).count() as f64 / idx.len() as f64)
        }
    };
    members
        .iter()
        .enumerate()
        .map(|(b, idx)| Bucket {
            margin_lo: MARGIN_EDGES[b],
            margin_hi: MARGIN_EDGES[b + 1],
            count: idx.len(),
            agreement: share(idx, &|i| agree[i]),
            accuracy_original: correct.and_then(|(o, _)| share(idx, &|i| o[i])),
            accuracy_compressed: correct.and_then(|(_, c)| share(idx, &|i| c[i])),
        })
        .collect()
}

/// For each example, the index of its nearest other example by cosine
/// similarity (the first on ties). `None` with fewer than two examples.
pub fn nearest_neighbours(rows: &[Vec<f64>]) -> Option<Vec<usize>> {
    if rows.len() < 2 {
        return None;
    }
    let norms: Vec<f64> = rows.iter().map(|r| r.iter().map(|v| v * v).sum::<f64>()).collect();
    Some(
        (0..rows.len())
            .map(|i| {
                let mut best = (usize::MAX, f64::NEG_INFINITY);
                for j in (0..rows.len()).filter(|&j| j != i) {
                    let xy: f64 = rows[i].iter().zip(&rows[j]).map(|(a, b)| a * b).sum();
                    let s = cosine_from(xy, norms[i], norms[j]);
                    if s > best.1 {
                        best = (j, s);
                    }
                }
                best.0
            })
            .collect(),
    )
}

/// Largest n²·d the nearest-neighbour search runs (a few seconds of wasm).
pub const NEIGHBOUR_WORK_LIMIT: f64 = 2e9;

/// Share of examples whose nearest neighbour is the same in both sets of
/// embeddings (needs at least three examples to mean anything; `None` too
/// when the quadratic search would exceed `NEIGHBOUR_WORK_LIMIT`).
pub fn neighbour_agreement(original: &[Vec<f64>], compressed: &[Vec<f64>]) -> Option<f64> {
    let n = original.len() as f64;
    let d = original.first().map_or(0, |r| r.len()) as f64;
    if original.len() < 3 || n * n * d > NEIGHBOUR_WORK_LIMIT {
        return None;
    }
    let a = nearest_neighbours(original)?;
    let b = nearest_neighbours(compressed)?;
    Some(a.iter().zip(&b).filter(|(x, y)| x == y).count() as f64 / a.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn sqnr_by_hand() {
        // x = [3, 4], y = [3, 3]: Σx² = 25, Σ(x−y)² = 1 → 10·log10(25) = 13.979 dB.
        assert!(close(sqnr_db(25.0, 1.0), 13.979_400_086_720_377));
        assert_eq!(sqnr_db(25.0, 0.0), SQNR_CAP_DB);
        assert_eq!(sqnr_db(0.0, 1.0), -SQNR_CAP_DB);
        // Noise equal to the signal: 0 dB.
        assert!(close(sqnr_db(2.0, 2.0), 0.0));
    }

    #[test]
    fn cosine_by_hand() {
        // [1, 0]·[1, 1] = 1; |a| = 1, |b| = √2 → 1/√2.
        assert!(close(cosine(&[1.0, 0.0], &[1.0, 1.0]), std::f64::consts::FRAC_1_SQRT_2));
        assert!(close(cosine(&[1.0, 2.0], &[-1.0, -2.0]), -1.0));
        assert_eq!(cosine(&[0.0, 0.0], &[0.0, 0.0]), 1.0);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 0.0]), 0.0);
    }

    #[test]
    fn kl_by_hand() {
        // p = [0.5, 0.5], q = [0.25, 0.75]: 0.5·ln 2 + 0.5·ln(2/3) = 0.5·ln(4/3) = 0.143841.
        assert!(close(kl_divergence(&[0.5, 0.5], &[0.25, 0.75]), 0.5 * (4.0f64 / 3.0).ln()));
        assert_eq!(kl_divergence(&[0.2, 0.8], &[0.2, 0.8]), 0.0);
        // A zero in p contributes nothing; a zero in q is floored, not infinite.
        assert!(close(kl_divergence(&[0.0, 1.0], &[0.5, 0.5]), 2f64.ln()));
        assert!(kl_divergence(&[1.0, 0.0], &[0.0, 1.0]).is_finite());
    }

    #[test]
    fn ece_by_hand() {
        // Four examples, 10 bins. Confidences 0.95 (right), 0.95 (wrong) in
        // bin 9: accuracy 0.5, confidence 0.95 → gap 0.45. 0.62 (right) in
        // bin 6: gap 0.38. 0.31 (wrong) in bin 3: gap 0.31.
        // ECE = 2/4·0.45 + 1/4·0.38 + 1/4·0.31 = 0.225 + 0.095 + 0.0775 = 0.3975.
        let (ece, hist) = calibration(&[0.95, 0.95, 0.62, 0.31], &[true, false, true, false], 10);
        assert!(close(ece, 0.3975), "{ece}");
        assert_eq!(hist.len(), 10);
        assert_eq!(hist[9].count, 2);
        assert!(close(hist[9].accuracy, 0.5) && close(hist[9].mean_confidence, 0.95));
        assert_eq!(hist[6].count, 1);
        assert_eq!(hist[3].count, 1);
        assert_eq!(hist.iter().map(|b| b.count).sum::<usize>(), 4);
        // Confidence 1.0 lands in the last bin; perfectly calibrated → 0.
        let (ece, hist) = calibration(&[1.0, 1.0], &[true, true], 10);
        assert_eq!(hist[9].count, 2);
        assert!(close(ece, 0.0));
    }

    #[test]
    fn buckets_by_hand() {
        // Margins 0.05, 0.08 (bucket 0), 0.3 (bucket 2), 0.9, 1.0 (bucket 4).
        let margins = [0.05, 0.08, 0.3, 0.9, 1.0];
        let agree = [false, true, true, true, true];
        let correct_o = [true, false, true, true, true];
        let correct_c = [false, false, true, true, false];
        let b = buckets(&margins, &agree, Some((&correct_o, &correct_c)));
        assert_eq!(b.iter().map(|b| b.count).collect::<Vec<_>>(), vec![2, 0, 1, 0, 2]);
        assert_eq!(b[0].agreement, Some(0.5));
        assert_eq!(b[1].agreement, None);
        assert_eq!(b[2].agreement, Some(1.0));
        assert_eq!(b[4].agreement, Some(1.0));
        assert_eq!(b[0].accuracy_original, Some(0.5));
        assert_eq!(b[0].accuracy_compressed, Some(0.0));
        assert_eq!(b[4].accuracy_compressed, Some(0.5));
        let b = buckets(&margins, &agree, None);
        assert_eq!(b[0].accuracy_original, None);
    }

    #[test]
    fn margin_and_ranking() {
        assert!(close(margin(&[0.1, 0.6, 0.3]), 0.3));
        assert_eq!(margin(&[1.0]), 1.0);
        assert_eq!(top_k(&[0.1, 0.6, 0.3], 2), vec![1, 2]);
        assert_eq!(argmax(&[0.2, 0.5, 0.5]), 1);
    }

    #[test]
    fn probabilities_detected_or_softmaxed() {
        let (p, was) = as_probabilities(&[vec![0.25, 0.75], vec![1.0, 0.0]]);
        assert!(was);
        assert_eq!(p[0], vec![0.25, 0.75]);
        // Logits [0, ln 3] → softmax [0.25, 0.75].
        let (p, was) = as_probabilities(&[vec![0.0, 3f64.ln()]]);
        assert!(!was);
        assert!(close(p[0][0], 0.25) && close(p[0][1], 0.75));
    }

    #[test]
    fn neighbours_by_hand() {
        // Original: a=[1,0], b=[0.9,0.1], c=[0,1] → nn(a)=b, nn(b)=a, nn(c)=b.
        let o = vec![vec![1.0, 0.0], vec![0.9, 0.1], vec![0.0, 1.0]];
        assert_eq!(nearest_neighbours(&o), Some(vec![1, 0, 1]));
        // Compressed moves b towards c: b=[0.1,0.9] → nn(a)=b (only non-orthogonal... a·b>0, a·c=0),
        // nn(b)=c, nn(c)=b. Same for a and c, different for b → 2/3.
        let c = vec![vec![1.0, 0.0], vec![0.1, 0.9], vec![0.0, 1.0]];
        assert_eq!(nearest_neighbours(&c), Some(vec![1, 2, 1]));
        assert!(close(neighbour_agreement(&o, &c).unwrap(), 2.0 / 3.0));
        assert_eq!(neighbour_agreement(&o[..2], &c[..2]), None);
    }
}
