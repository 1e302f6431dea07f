//! Augmentations that work on any float input: mixup and Gaussian noise.
//! The teacher labels the augmented examples, so a student learns from
//! more inputs than the user gave.

use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Beta, Distribution, StandardNormal};

use super::data::SoftLabels;
use crate::error::{Result, SquishError};
use crate::formats::data::feeds::Feed;
use crate::tensor::Tensor;

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
