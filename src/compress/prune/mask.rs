//! Which weights to zero, from scores: the lowest share of a whole layer
//! (magnitude per layer), of each output's inputs (Wanda), below one
//! threshold for many layers (global scope), or N of every M consecutive
//! inputs of each output kept (semi-structured N:M). Weights are laid out
//! `[outputs][inputs]`, row-major.

/// How the zeros are chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rule {
    /// The `share` lowest scores of the whole matrix.
    PerMatrix(f64),
    /// The `share` lowest scores of each row (each output).
    PerRow(f64),
    /// Every score below the threshold (one threshold for many layers).
    Below(f32),
    /// In each row, of every `m` consecutive inputs keep the `n` highest.
    NofM { n: usize, m: usize },
}

/// Indices of the `count` lowest scores (ties broken by position).
fn lowest(scores: &[f32], count: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    if count == 0 {
        return Vec::new();
    }
    if count < idx.len() {
        idx.select_nth_unstable_by(count - 1, |&a, &b| scores[a].total_cmp(&scores[b]).then(a.cmp(&b)));
    }
    idx.truncate(count);
    idx
}

/// Zeroes the weights `rule` picks; returns how many were zeroed.
pub fn apply(w: &mut [f32], scores: &[f32], rows: usize, cols: usize, rule: Rule) -> usize {
    debug_assert_eq!(w.len(), rows * cols);
    let before = w.iter().filter(|v| **v == 0.0).count();
    match rule {
        Rule::PerMatrix(share) => {
            for i in lowest(scores, (share * w.len() as f64).floor() as usize) {
                w[i] = 0.0;
            }
        }
        Rule::PerRow(share) => {
            let count = (share * cols as f64).floor() as usize;
            for r in 0..rows {
                for c in lowest(&scores[r * cols..(r + 1) * cols], count) {
                    w[r * cols + c] = 0.0;
                }
            }
        }
        Rule::Below(t) => w.iter_mut().zip(scores).filter(|(_, s)| **s < t).for_each(|(v, _)| *v = 0.0),
        Rule::NofM { n, m } => {
            for r in 0..rows {
                for g in (0..cols).step_by(m) {
                    let group = &scores[r * cols + g..r * cols + (g + m).min(cols)];
                    for c in lowest(group, group.len().saturating_sub(n)) {
                        w[r * cols + g + c] = 0.0;
                    }
                }
            }
        }
    }
    w.iter().filter(|v| **v == 0.0).count() - before
}

/// The score below which `share` of all `scores` lie (for one threshold over many layers).
pub fn threshold(scores: &mut [f32], share: f64) -> f32 {
    let count = (share * scores.len() as f64).floor() as usize;
    if count == 0 || scores.is_empty() {
        return f32::NEG_INFINITY;
    }
    if count >= scores.len() {
        return f32::INFINITY;
    }
    let (_, nth, _) = scores.select_nth_unstable_by(count, |a, b| a.total_cmp(b));
    *nth
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test(unsupported = test)]
    fn each_rule_by_hand() {
        let scores = [5.0, 1.0, 4.0, 2.0, 8.0, 7.0, 3.0, 6.0];
        let ones = || vec![1.0f32; 8];
        let zeros = |w: &[f32]| w.iter().enumerate().filter(|(_, v)| **v == 0.0).map(|(i, _)| i).collect::<Vec<_>>();
        let mut w = ones();
        assert_eq!(apply(&mut w, &scores, 2, 4, Rule::PerMatrix(0.5)), 4);
        assert_eq!(zeros(&w), [1, 2, 3, 6]);
        let mut w = ones();
        apply(&mut w, &scores, 2, 4, Rule::PerRow(0.5));
        assert_eq!(zeros(&w), [1, 3, 6, 7], "two lowest of each row");
        let mut w = ones();
        apply(&mut w, &scores, 2, 4, Rule::NofM { n: 1, m: 2 });
        assert_eq!(zeros(&w), [1, 3, 5, 6], "the lower of each pair");
        let mut w = ones();
        apply(&mut w, &scores, 2, 4, Rule::Below(3.5));
        assert_eq!(zeros(&w), [1, 3, 6]);
        let mut s = scores.to_vec();
        assert_eq!(threshold(&mut s, 0.5), 5.0, "half the scores lie below 5");
        // Weights that are already zero are not counted again.
        let mut w = vec![0.0, 1.0, 1.0, 1.0];
        assert_eq!(apply(&mut w, &[0.0, 1.0, 2.0, 3.0], 1, 4, Rule::PerMatrix(0.5)), 1);
    }
}
