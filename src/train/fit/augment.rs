//! Augmentations: mixup and Gaussian noise for float inputs, token masking
//! for token ids. The teacher labels the augmented examples, so a student
//! learns from more inputs than the user gave.

use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Beta, Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use super::data::SoftLabels;
use crate::error::{Result, SquishError};
use crate::formats::data::feeds::Feed;
use crate::tensor::Tensor;

/// `"token_mask": {"share": 0.15, "token": 103, "keep": [0, 101, 102]}`: a
/// share of the token ids in `input` replaced by `token` (the tokenizer's
/// mask token), never the ids in `keep` (padding and special tokens) — the
/// text counterpart of noise, as masked-language-model pre-training does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenMask {
    #[serde(default = "default_ids_input")]
    pub input: String,
    pub share: f64,
    pub token: i64,
    #[serde(default)]
    pub keep: Vec<i64>,
}

fn default_ids_input() -> String {
    "input_ids".into()
}

impl TokenMask {
    pub fn check(&self) -> Result<()> {
        if !(self.share > 0.0 && self.share < 1.0) {
            return Err(SquishError::Recipe("key 'distill.token_mask.share': must be between 0 and 1".into()));
        }
        Ok(())
    }

    /// Replaces ids in every feed's `input`; an error names a missing or non-integer input.
    pub(super) fn apply(&self, feeds: &mut [Feed], rng: &mut ChaCha8Rng) -> Result<()> {
        for feed in feeds.iter_mut() {
            let Some((_, t)) = feed.iter_mut().find(|(n, _)| *n == self.input) else {
                return Err(SquishError::Recipe(format!("key 'distill.token_mask.input': the model has no input '{}'", self.input)));
            };
            let Tensor::I64(ids) = t else {
                return Err(SquishError::Recipe(format!("key 'distill.token_mask.input': '{}' is {}, not int64 token ids", self.input, t.dtype())));
            };
            for id in ids.iter_mut() {
                if !self.keep.contains(id) && rng.random::<f64>() < self.share {
                    *id = self.token;
                }
            }
        }
        Ok(())
    }
}

/// Blends the batch with a shuffled copy of itself (`mixup` > 0: one weight
/// from Beta(mixup, mixup) per batch) and adds noise (`noise` > 0: its
/// standard deviation). Returns whether anything changed.
pub(super) fn augment(feeds: &mut [Feed], labels: Option<&mut SoftLabels>, mixup: f64, noise: f32, rng: &mut ChaCha8Rng) -> Result<bool> {
    for (name, t) in feeds.iter().flatten() {
        if t.dtype() != crate::tensor::DType::F32 {
            let key = if mixup > 0.0 { "mixup" } else { "noise" };
            return Err(SquishError::Recipe(format!("key 'distill.{key}': it changes float inputs; input '{name}' is {}", t.dtype())));
        }
    }
    let mut changed = false;
    if mixup > 0.0 && feeds.len() > 1 {
        let beta = Beta::new(mixup, mixup).map_err(|e| SquishError::Recipe(format!("key 'distill.mixup': {e}")))?;
        let lambda = beta.sample(rng) as f32;
        let mut partner: Vec<usize> = (0..feeds.len()).collect();
        partner.shuffle(rng);
        let original: Vec<Feed> = feeds.to_vec();
        for (i, feed) in feeds.iter_mut().enumerate() {
            for ((_, t), (_, other)) in feed.iter_mut().zip(&original[partner[i]]) {
                if let (Tensor::F32(a), Tensor::F32(b)) = (t, other) {
                    if a.shape() == b.shape() {
                        a.zip_mut_with(b, |x, &y| *x = lambda * *x + (1.0 - lambda) * y);
                    }
                }
            }
        }
        if let Some(l) = labels {
            let before = l.values.clone();
            let c = l.classes;
            for (i, &p) in partner.iter().enumerate() {
                for j in 0..c {
                    l.values[i * c + j] = lambda * before[i * c + j] + (1.0 - lambda) * before[p * c + j];
                }
            }
        }
        changed = true;
    }
    if noise > 0.0 {
        for (_, t) in feeds.iter_mut().flatten() {
            if let Tensor::F32(a) = t {
                a.mapv_inplace(|x| x + noise * rng.sample::<f32, _>(StandardNormal));
            }
        }
        changed = true;
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    fn ids(v: Vec<i64>) -> Feed {
        vec![("input_ids".into(), Tensor::from_vec(&[1, v.len()], v).unwrap()), ("attention_mask".into(), Tensor::from_vec(&[1, 1], vec![1i64]).unwrap())]
    }

    #[test]
    fn token_masking_replaces_a_share_and_keeps_special_ids() {
        let mask = TokenMask { input: "input_ids".into(), share: 0.5, token: 103, keep: vec![0, 101, 102] };
        let original: Vec<i64> = [101].into_iter().chain(2000..2200).chain([102, 0, 0]).collect();
        let mut feeds = vec![ids(original.clone())];
        mask.apply(&mut feeds, &mut ChaCha8Rng::seed_from_u64(1)).unwrap();
        let got = feeds[0][0].1.to_i64_vec().unwrap();
        assert_eq!((got[0], got[201], got[202], got[203]), (101, 102, 0, 0), "special and padding ids stay");
        let masked = got.iter().zip(&original).filter(|(g, o)| g != o).count();
        assert!((70..130).contains(&masked), "{masked} of 200 masked at share 0.5");
        assert!(got.iter().zip(&original).all(|(g, o)| g == o || *g == 103));
        let mut again = vec![ids(original.clone())];
        mask.apply(&mut again, &mut ChaCha8Rng::seed_from_u64(1)).unwrap();
        assert_eq!(again[0][0].1.to_i64_vec().unwrap(), got, "seeded");
    }

    #[test]
    fn token_masking_names_a_wrong_input() {
        let rng = &mut ChaCha8Rng::seed_from_u64(0);
        let mask = TokenMask { input: "tokens".into(), share: 0.1, token: 1, keep: vec![] };
        let e = mask.apply(&mut [ids(vec![5])], rng).unwrap_err().to_string();
        assert!(e.contains("key 'distill.token_mask.input': the model has no input 'tokens'"), "{e}");
        let floats = vec![("input_ids".to_string(), Tensor::from_vec(&[1], vec![1.0f32]).unwrap())];
        let e = TokenMask { input: "input_ids".into(), ..mask }.apply(&mut [floats], rng).unwrap_err().to_string();
        assert!(e.contains("is float32, not int64 token ids"), "{e}");
    }
}
