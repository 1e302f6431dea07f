//! Where inside the data a compressed classifier lost, and how a set-up
//! where it answers what it is sure of and hands the rest back to the
//! original would do: per-class figures (rare classes with an interval, so
//! a drop on three examples is not read as certain), the class pairs that
//! flips go between, and the hand-back (selective prediction) curve.

use serde::Serialize;

/// Classes with fewer examples than this are flagged as rare.
pub const RARE_BELOW: usize = 10;
/// z of a two-sided 95% interval.
const Z95: f64 = 1.959_963_984_540_054;

/// Both models' top-1 answers per example, the compressed model's
/// confidence in its answer, and the labels when given.
pub struct Predictions<'a> {
    pub original: &'a [usize],
    pub compressed: &'a [usize],
    pub compressed_confidence: &'a [f64],
    pub labels: Option<&'a [usize]>,
    pub classes: usize,
}

impl Predictions<'_> {
    /// The truth figures are judged against: the labels, else the original's answers.
    fn truth(&self) -> &[usize] {
        self.labels.unwrap_or(self.original)
    }

    fn len(&self) -> usize {
        self.original.len()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassRow {
    pub class: usize,
    /// Examples of this class (by label, else by the original's answer).
    pub examples: usize,
    /// Share of them both models answer alike.
    pub agreement: f64,
    pub accuracy_original: Option<f64>,
    pub accuracy_compressed: Option<f64>,
    /// Examples the original got right and the compressed model wrong, and the reverse.
    pub lost: usize,
    pub gained: usize,
    /// Accuracy lost (with labels), else the share of disagreements.
    pub drop: f64,
    /// Wilson 95% interval of the compressed model's figure (accuracy with
    /// labels, else agreement): how sure the figure is with this many examples.
    pub interval: (f64, f64),
    pub rare: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlipPair {
    /// The original's answer and the compressed model's.
    pub from: usize,
    pub to: usize,
    pub count: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PerClass {
    /// "labels" or "original".
    pub truth: String,
    /// Largest drop first.
    pub rows: Vec<ClassRow>,
    /// Most frequent first.
    pub flip_pairs: Vec<FlipPair>,
}

/// Wilson score interval at 95% for `hits` of `n`.
pub fn wilson(hits: usize, n: usize) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let (n, p) = (n as f64, hits as f64 / n as f64);
    let z2 = Z95 * Z95;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = Z95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / (1.0 + z2 / n);
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

pub fn per_class(p: &Predictions) -> PerClass {
    let truth = p.truth();
    let mut rows: Vec<ClassRow> = (0..p.classes)
        .filter_map(|class| {
            let members: Vec<usize> = (0..p.len()).filter(|&i| truth[i] == class).collect();
            let n = members.len();
            if n == 0 {
                return None;
            }
            let count = |f: &dyn Fn(usize) -> bool| members.iter().filter(|&&i| f(i)).count();
            let agree = count(&|i| p.original[i] == p.compressed[i]);
            let right_o = count(&|i| p.original[i] == truth[i]);
            let right_c = count(&|i| p.compressed[i] == truth[i]);
            let lost = count(&|i| p.original[i] == truth[i] && p.compressed[i] != truth[i]);
            let gained = count(&|i| p.original[i] != truth[i] && p.compressed[i] == truth[i]);
            let share = |k: usize| k as f64 / n as f64;
            let labelled = p.labels.is_some();
            Some(ClassRow {
                class,
                examples: n,
                agreement: share(agree),
                accuracy_original: labelled.then(|| share(right_o)),
                accuracy_compressed: labelled.then(|| share(right_c)),
                lost,
                gained,
                drop: if labelled { share(right_o) - share(right_c) } else { 1.0 - share(agree) },
                interval: wilson(if labelled { right_c } else { agree }, n),
                rare: n < RARE_BELOW,
            })
        })
        .collect();
    rows.sort_by(|a, b| b.drop.total_cmp(&a.drop).then(a.class.cmp(&b.class)));
    let mut pairs: std::collections::BTreeMap<(usize, usize), usize> = Default::default();
    for i in (0..p.len()).filter(|&i| p.original[i] != p.compressed[i]) {
        *pairs.entry((p.original[i], p.compressed[i])).or_default() += 1;
    }
    let mut flip_pairs: Vec<FlipPair> = pairs.into_iter().map(|((from, to), count)| FlipPair { from, to, count }).collect();
    flip_pairs.sort_by(|a, b| b.count.cmp(&a.count).then((a.from, a.to).cmp(&(b.from, b.to))));
    PerClass { truth: if p.labels.is_some() { "labels" } else { "original" }.into(), rows, flip_pairs }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct HandbackPoint {
    /// The compressed model answers when its confidence is at least this;
    /// `None`: never (the original answers everything).
    pub threshold: Option<f64>,
    /// Share of the inputs the compressed model answers.
    pub coverage: f64,
    /// Agreement of the combined answers with the original's.
    pub agreement: f64,
    /// Accuracy of the combined answers (labels given).
    pub accuracy: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Handback {
    /// The agreement the chosen threshold keeps.
    pub target: f64,
    /// The lowest threshold (the most answered by the compressed model)
    /// whose combined agreement is at least `target`.
    pub chosen: HandbackPoint,
    /// Coverage from 0 up (at most `MAX_CURVE_POINTS`, the chosen one among them).
    pub curve: Vec<HandbackPoint>,
}

pub const MAX_CURVE_POINTS: usize = 201;

/// The compressed model answers its most confident inputs, the original
/// the rest: every threshold between two distinct confidences.
pub fn handback(p: &Predictions, target: f64) -> Handback {
    let n = p.len();
    let truth = p.truth();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| p.compressed_confidence[b].total_cmp(&p.compressed_confidence[a]).then(a.cmp(&b)));
    let right_o = (0..n).filter(|&i| p.original[i] == truth[i]).count();
    let (mut flips, mut right) = (0usize, right_o);
    let denominator = n.max(1) as f64;
    let point = |k: usize, flips: usize, right: usize| HandbackPoint {
        threshold: k.checked_sub(1).map(|last| p.compressed_confidence[order[last]]),
        coverage: k as f64 / denominator,
        agreement: 1.0 - flips as f64 / denominator,
        accuracy: p.labels.is_some().then(|| right as f64 / denominator),
    };
    let mut points = vec![point(0, 0, right_o)];
    for (k, &i) in order.iter().enumerate() {
        flips += (p.original[i] != p.compressed[i]) as usize;
        right = right + (p.compressed[i] == truth[i]) as usize - (p.original[i] == truth[i]) as usize;
        // A threshold covers every input at least as confident: only the last of equal confidences ends a point.
        let boundary = k + 1 == n || p.compressed_confidence[order[k + 1]] < p.compressed_confidence[i];
        if boundary {
            points.push(point(k + 1, flips, right));
        }
    }
    let chosen = *points.iter().rev().find(|q| q.agreement >= target).unwrap_or(&points[0]);
    Handback { target, chosen, curve: thin(points, chosen) }
}

/// At most `MAX_CURVE_POINTS`, evenly spread over coverage, keeping both
/// ends and `keep`.
fn thin(points: Vec<HandbackPoint>, keep: HandbackPoint) -> Vec<HandbackPoint> {
    if points.len() <= MAX_CURVE_POINTS {
        return points;
    }
    let last = points.len() - 1;
    let mut picked: Vec<usize> = (0..MAX_CURVE_POINTS - 1).map(|j| j * last / (MAX_CURVE_POINTS - 2)).collect();
    picked.extend(points.iter().position(|q| *q == keep));
    picked.sort_unstable();
    picked.dedup();
    picked.into_iter().map(|i| points[i]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Six examples, three classes, worked by hand:
    //   i  label orig comp conf
    //   0  0     0    0    0.9
    //   1  0     0    1    0.6   lost (0 → 1)
    //   2  1     1    1    0.8
    //   3  1     2    1    0.7   gained (2 → 1)
    //   4  2     2    2    0.95
    //   5  2     2    0    0.6   lost (2 → 0)
    const LABELS: [usize; 6] = [0, 0, 1, 1, 2, 2];
    const ORIG: [usize; 6] = [0, 0, 1, 2, 2, 2];
    const COMP: [usize; 6] = [0, 1, 1, 1, 2, 0];
    const CONF: [f64; 6] = [0.9, 0.6, 0.8, 0.7, 0.95, 0.6];

    fn predictions(labels: bool) -> Predictions<'static> {
        Predictions { original: &ORIG, compressed: &COMP, compressed_confidence: &CONF, labels: labels.then_some(&LABELS[..]), classes: 3 }
    }

    #[test]
    fn per_class_figures_by_hand() {
        let r = per_class(&predictions(true));
        let order: Vec<usize> = r.rows.iter().map(|row| row.class).collect();
        // Class 0: 1.0 → 0.5 (drop 0.5); class 2: 1.0 → 0.5 (0.5); class 1: 0.5 → 1.0 (−0.5).
        assert_eq!(order, vec![0, 2, 1]);
        let c0 = &r.rows[0];
        assert_eq!((c0.examples, c0.lost, c0.gained, c0.agreement), (2, 1, 0, 0.5));
        assert_eq!((c0.accuracy_original, c0.accuracy_compressed, c0.drop), (Some(1.0), Some(0.5), 0.5));
        assert!(c0.rare);
        let c1 = &r.rows[2];
        assert_eq!((c1.lost, c1.gained, c1.drop, c1.agreement), (0, 1, -0.5, 0.5));
        // Flips: 0→1, 2→1, 2→0, once each, ordered by (from, to).
        let pairs: Vec<(usize, usize, usize)> = r.flip_pairs.iter().map(|f| (f.from, f.to, f.count)).collect();
        assert_eq!(pairs, vec![(0, 1, 1), (2, 0, 1), (2, 1, 1)]);
        // Without labels the original's answers are the truth: class 2 has 3 examples, 2 flipped away.
        let r = per_class(&predictions(false));
        let c2 = r.rows.iter().find(|row| row.class == 2).unwrap();
        assert_eq!((c2.examples, c2.lost, c2.accuracy_original), (3, 2, None));
        assert!((c2.drop - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(r.rows[0].class, 2, "the largest drop first");
    }

    #[test]
    fn wilson_intervals_match_the_textbook() {
        // 1 of 2: centre (0.5 + 1.92/2)/(1 + 1.92): symmetric around 0.5.
        let (lo, hi) = wilson(1, 2);
        assert!((lo - 0.0945).abs() < 1e-4 && (hi - 0.9055).abs() < 1e-4, "{lo} {hi}");
        let (lo, hi) = wilson(45, 50);
        assert!((lo - 0.7864).abs() < 1e-4 && (hi - 0.9565).abs() < 1e-4, "{lo} {hi}");
        assert_eq!(wilson(0, 0), (0.0, 1.0));
    }

    #[test]
    fn handback_curve_by_hand() {
        let h = handback(&predictions(true), 0.8);
        // By confidence: 4 (0.95, agree), 0 (0.9, agree), 2 (0.8, agree), 3 (0.7, flip, gains), 1 and 5 (0.6 tie, both flip, both lose).
        let pts: Vec<(Option<f64>, f64, f64, Option<f64>)> = h.curve.iter().map(|q| (q.threshold, q.coverage, q.agreement, q.accuracy)).collect();
        let s = 1.0 / 6.0;
        // Original right on 5 of 6 (not 3), compressed on 4 (not 1 and 5).
        let want = [
            (None, 0.0, 1.0, Some(5.0 * s)),
            (Some(0.95), s, 1.0, Some(5.0 * s)),
            (Some(0.9), 2.0 * s, 1.0, Some(5.0 * s)),
            (Some(0.8), 3.0 * s, 1.0, Some(5.0 * s)),
            (Some(0.7), 4.0 * s, 5.0 * s, Some(1.0)),
            (Some(0.6), 1.0, 3.0 * s, Some(4.0 * s)),
        ];
        assert_eq!(pts.len(), want.len(), "ties at 0.6 make one point: {pts:?}");
        for (got, want) in pts.iter().zip(want) {
            assert_eq!(got.0, want.0);
            assert!(
                (got.1 - want.1).abs() < 1e-12 && (got.2 - want.2).abs() < 1e-12 && (got.3.unwrap() - want.3.unwrap()).abs() < 1e-12,
                "{got:?} vs {want:?}"
            );
        }
        // Agreement ≥ 0.8: threshold 0.7 (5/6 ≈ 0.833), four of six answered by the compressed model.
        assert_eq!((h.chosen.threshold, h.chosen.coverage), (Some(0.7), 4.0 * s));
        // A target nothing but the original meets.
        assert_eq!(handback(&predictions(true), 1.5).chosen.coverage, 0.0);
    }

    #[test]
    fn long_curves_are_thinned_but_keep_their_ends_and_the_choice() {
        let n = 1000;
        let orig: Vec<usize> = vec![0; n];
        let comp: Vec<usize> = (0..n).map(|i| (i % 7 == 0) as usize).collect();
        let conf: Vec<f64> = (0..n).map(|i| 1.0 - i as f64 / n as f64).collect();
        let p = Predictions { original: &orig, compressed: &comp, compressed_confidence: &conf, labels: None, classes: 2 };
        let h = handback(&p, 0.99);
        assert!(h.curve.len() <= MAX_CURVE_POINTS + 1);
        assert_eq!((h.curve[0].coverage, h.curve.last().unwrap().coverage), (0.0, 1.0));
        assert!(h.curve.contains(&h.chosen));
        // Flips at 0, 7, 14, …: agreement ≥ 0.99 allows 10 flips, the 11th is example 70.
        assert_eq!(h.chosen.coverage, 70.0 / n as f64);
    }
}
