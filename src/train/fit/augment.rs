//! Augmentations: shifts and flips for images, mixup and Gaussian noise
//! for float inputs, token masking for token ids. The teacher labels the augmented examples, so a student
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

/// `"text_crop": {"share": 0.5, "join": 0.25, "shortest": 0.5}`: new
/// sentences from the user's. With probability `share` an example becomes a
/// random contiguous span of its tokens (at least `shortest` of them), with
/// probability `join` a span of it followed by a span of another example of
/// the minibatch; the first and last real tokens (the tokenizer's [CLS] and
/// [SEP]) stay, every `[1, L]` input (ids, mask, type ids) is cut alike, and
/// the result is padded back to `L` (mask 0) so the minibatch stays one
/// batch. The teacher labels the new sentences.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextCrop {
    #[serde(default = "half")]
    pub share: f64,
    #[serde(default)]
    pub join: f64,
    #[serde(default = "half")]
    pub shortest: f64,
}

fn half() -> f64 {
    0.5
}

impl TextCrop {
    pub fn check(&self) -> Result<()> {
        let bad = |key: &str, why: &str| Err(SquishError::Recipe(format!("key 'distill.text_crop.{key}': {why}")));
        if !(0.0..=1.0).contains(&self.share) || !(0.0..=1.0).contains(&self.join) || self.share + self.join > 1.0 {
            return bad("share", "share and join are probabilities adding up to at most 1");
        }
        if !(self.shortest > 0.0 && self.shortest <= 1.0) {
            return bad("shortest", "is the least share of an example's tokens a span keeps, above 0 and at most 1");
        }
        Ok(())
    }

    pub(super) fn apply(&self, feeds: &mut [Feed], rng: &mut ChaCha8Rng) -> Result<()> {
        let original: Vec<Feed> = feeds.to_vec();
        let rows: Vec<TokenRows> = original.iter().map(TokenRows::of).collect::<Result<_>>()?;
        for (i, feed) in feeds.iter_mut().enumerate() {
            let draw: f64 = rng.random();
            let positions = if draw < self.share {
                let (a, b) = rows[i].span(self.shortest, rng);
                [vec![0], (a..b).collect(), vec![rows[i].len - 1]].concat()
            } else if draw < self.share + self.join && original.len() > 1 {
                let j = (i + rng.random_range(1..original.len())) % original.len();
                let ((a, b), (c, d)) = (rows[i].span(self.shortest, rng), rows[j].span(self.shortest, rng));
                // What does not fit in L is cut from the second span.
                let d = d.min(c + rows[i].width.saturating_sub(2 + b - a));
                join_rows(feed, &rows[i], &original[j], &[vec![0], (a..b).collect()].concat(), &[(c..d).collect(), vec![rows[j].len - 1]].concat());
                continue;
            } else {
                continue;
            };
            join_rows(feed, &rows[i], &original[i], &positions, &[]);
        }
        Ok(())
    }
}

/// An example's token rows: `width` L, and `len` the real tokens (the mask's ones).
struct TokenRows {
    width: usize,
    len: usize,
}

impl TokenRows {
    fn of(feed: &Feed) -> Result<TokenRows> {
        let bad = |why: String| SquishError::Recipe(format!("key 'distill.text_crop': {why}"));
        let width = feed
            .iter()
            .find_map(|(_, t)| (t.shape().len() == 2 && t.shape()[0] == 1).then(|| t.shape()[1]))
            .ok_or_else(|| bad("it cuts token inputs of shape [1, L]; the model has none".into()))?;
        let len = match feed.iter().find(|(n, _)| n.to_ascii_lowercase().contains("mask")) {
            Some((_, m)) => m.to_i64_vec().ok_or_else(|| bad("the attention mask is not integers".into()))?.iter().take_while(|&&v| v != 0).count(),
            None => width,
        };
        if len < 3 {
            return Err(bad(format!("an example has {len} real tokens; a span needs at least one between the first and the last")));
        }
        Ok(TokenRows { width, len })
    }

    /// A random span `[a, b)` of the inner tokens (1..len−1).
    fn span(&self, shortest: f64, rng: &mut ChaCha8Rng) -> (usize, usize) {
        let inner = self.len - 2;
        let least = ((inner as f64 * shortest).ceil() as usize).clamp(1, inner);
        let k = rng.random_range(least..=inner);
        let a = 1 + rng.random_range(0..=inner - k);
        (a, a + k)
    }
}

/// Rewrites every `[1, L]` integer input of `feed` (`rows` its token
/// rows) as its values at `first` then `partner`'s at `second`, padded back
/// to L with the value each input has at its last, padded position (the pad
/// id, mask 0) — or 0 when the example has no padding.
fn join_rows(feed: &mut Feed, rows: &TokenRows, partner: &Feed, first: &[usize], second: &[usize]) {
    let width = rows.width;
    for (name, t) in feed.iter_mut() {
        if t.shape() != [1, width] || t.dtype().is_float() {
            continue;
        }
        let Some(mine) = t.to_i64_vec() else { continue };
        let theirs = partner.iter().find(|(n, _)| n == name).and_then(|(_, p)| p.to_i64_vec()).unwrap_or_default();
        let pad = if rows.len < width { mine[width - 1] } else { 0 };
        let mut row: Vec<i64> = first.iter().map(|&p| mine[p]).chain(second.iter().filter_map(|&p| theirs.get(p).copied())).collect();
        row.resize(width, pad);
        if let Ok(new) = Tensor::from_vec(&[1, width], row).and_then(|n| crate::ops::array::cast(&n, t.dtype())) {
            *t = new;
        }
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

/// How one example's float input reads as images `[planes, H, W]`: the
/// last two axes of `[C, H, W]` or `[H, W]`, and a vector of `F` values,
/// `F` a square number, as one `√F × √F` image (the digits' 64 pixels).
/// `per_example`: the shape without the batch axis.
pub fn image_view(per_example: &[usize]) -> Option<[usize; 3]> {
    match per_example {
        [] => None,
        [f] => (1..=*f).find(|s| s * s >= *f).filter(|s| s * s == *f).map(|s| [1, s, s]),
        [rest @ .., h, w] => Some([rest.iter().product(), *h, *w]),
    }
}

/// `image_view` of a batched shape `[N, …]`.
pub fn batch_image_view(shape: &[usize]) -> Option<[usize; 3]> {
    image_view(shape.get(1..)?)
}

/// Moves every example's images by a random offset of up to `shift`
/// pixels per axis (zeros fill in) and mirrors them left–right with
/// probability ½ when `flip`. Each feed is one example (batch axis 1).
pub(super) fn move_images(feeds: &mut [Feed], shift: usize, flip: bool, rng: &mut ChaCha8Rng) -> Result<()> {
    let key = if shift > 0 { "shift" } else { "flip" };
    let bad = |why: String| SquishError::Recipe(format!("key 'distill.{key}': {why}"));
    for (name, t) in feeds.iter_mut().flatten() {
        let Tensor::F32(a) = t else { return Err(bad(format!("it moves float images; input '{name}' is {}", t.dtype()))) };
        let Some([planes, h, w]) = batch_image_view(a.shape()).filter(|_| a.shape()[0] == 1) else {
            return Err(bad(format!("it moves images; input '{name}' of shape {:?} is not one (use [N, C, H, W], [N, H, W] or [N, side²])", a.shape())));
        };
        // i64, not isize: the same draws on 32-bit wasm as natively.
        let s = shift as i64;
        let (dy, dx) = if shift > 0 { (rng.random_range(-s..=s) as isize, rng.random_range(-s..=s) as isize) } else { (0, 0) };
        let mirror = flip && rng.random::<bool>();
        let src: Vec<f32> = a.iter().copied().collect();
        let out = a.as_slice_mut().expect("examples are stored contiguous");
        for p in 0..planes {
            for y in 0..h {
                for x in 0..w {
                    let (sy, sx) = (y as isize - dy, x as isize - dx);
                    let sx = if mirror { w as isize - 1 - sx } else { sx };
                    let inside = (0..h as isize).contains(&sy) && (0..w as isize).contains(&sx);
                    out[(p * h + y) * w + x] = if inside { src[(p * h + sy as usize) * w + sx as usize] } else { 0.0 };
                }
            }
        }
    }
    Ok(())
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

    fn image(v: Vec<f32>, shape: &[usize]) -> Feed {
        vec![("x".into(), Tensor::from_vec(shape, v).unwrap())]
    }

    fn sentence(ids: &[i64], width: usize) -> Feed {
        let row = |v: Vec<i64>| Tensor::from_vec(&[1, width], v).unwrap();
        let mut padded = ids.to_vec();
        padded.resize(width, 0);
        let mask: Vec<i64> = (0..width).map(|i| (i < ids.len()) as i64).collect();
        vec![("input_ids".into(), row(padded)), ("attention_mask".into(), row(mask)), ("token_type_ids".into(), row(vec![0; width]))]
    }

    #[test]
    fn text_crops_keep_the_ends_and_pad_back() {
        let rng = &mut ChaCha8Rng::seed_from_u64(3);
        let crop = TextCrop { share: 1.0, join: 0.0, shortest: 0.5 };
        let mut lengths = std::collections::HashSet::new();
        for _ in 0..50 {
            let mut feeds = vec![sentence(&[101, 5, 6, 7, 8, 102], 8)];
            crop.apply(&mut feeds, rng).unwrap();
            let ids = feeds[0][0].1.to_i64_vec().unwrap();
            let n = feeds[0][1].1.to_i64_vec().unwrap().iter().take_while(|&&m| m == 1).count();
            assert!((4..=6).contains(&n), "at least half of the 4 inner tokens: {ids:?}");
            assert_eq!((ids[0], ids[n - 1]), (101, 102), "{ids:?}");
            assert!(ids[1..n - 1].windows(2).all(|w| w[1] == w[0] + 1), "one contiguous span: {ids:?}");
            assert!(ids[n..].iter().all(|&v| v == 0), "padded back to the width: {ids:?}");
            lengths.insert(n);
        }
        assert_eq!(lengths.len(), 3, "spans of 2, 3 and 4 inner tokens come up");
        let join = TextCrop { share: 0.0, join: 1.0, shortest: 1.0 };
        let mut feeds = vec![sentence(&[101, 5, 6, 102], 8), sentence(&[101, 50, 60, 70, 102], 8)];
        join.apply(&mut feeds, rng).unwrap();
        assert_eq!(feeds[0][0].1.to_i64_vec().unwrap(), vec![101, 5, 6, 50, 60, 70, 102, 0]);
        assert_eq!(feeds[1][0].1.to_i64_vec().unwrap(), vec![101, 50, 60, 70, 5, 6, 102, 0], "its own span first, then the partner's");
        assert_eq!(feeds[1][1].1.to_i64_vec().unwrap(), vec![1, 1, 1, 1, 1, 1, 1, 0]);
        let e = crop.apply(&mut [sentence(&[101, 102], 4)], rng).unwrap_err().to_string();
        assert!(e.contains("key 'distill.text_crop'") && e.contains("2 real tokens"), "{e}");
    }

    #[test]
    fn images_read_from_their_shapes() {
        assert_eq!(image_view(&[3, 4, 5]), Some([3, 4, 5]));
        assert_eq!(image_view(&[2, 3, 4, 5]), Some([6, 4, 5]));
        assert_eq!(image_view(&[64]), Some([1, 8, 8]));
        assert_eq!(image_view(&[10]), None);
    }

    #[test]
    fn shifts_and_flips_move_pixels_and_fill_with_zeros() {
        let rng = &mut ChaCha8Rng::seed_from_u64(4);
        let v: Vec<f32> = (1..=9).map(|i| i as f32).collect();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let mut feeds = vec![image(v.clone(), &[1, 9])];
            move_images(&mut feeds, 1, false, rng).unwrap();
            let got = feeds[0][0].1.to_f64_vec();
            // Every pixel is a shifted original pixel or a zero, and the shift is one for the whole image.
            let kept: Vec<f64> = got.iter().copied().filter(|&x| x != 0.0).collect();
            assert!(kept.windows(2).all(|p| p[0] < p[1]), "{got:?}");
            assert!(got[4] != 0.0, "a shift of at most 1 keeps a centre pixel: {got:?}");
            seen.insert(got.iter().map(|x| *x as i64).collect::<Vec<_>>());
        }
        assert_eq!(seen.len(), 9, "all nine offsets in [-1, 1]² come up");
        let mut flipped = 0;
        for _ in 0..100 {
            let mut feeds = vec![image(v.clone(), &[1, 1, 3, 3])];
            move_images(&mut feeds, 0, true, rng).unwrap();
            let got = feeds[0][0].1.to_f64_vec();
            if got != v.iter().map(|&x| x as f64).collect::<Vec<_>>() {
                assert_eq!(got, vec![3.0, 2.0, 1.0, 6.0, 5.0, 4.0, 9.0, 8.0, 7.0]);
                flipped += 1;
            }
        }
        assert!((30..70).contains(&flipped), "{flipped} of 100 mirrored");
        let e = move_images(&mut [image(vec![1.0; 10], &[1, 10])], 1, false, rng).unwrap_err().to_string();
        assert!(e.contains("key 'distill.shift'") && e.contains("input 'x' of shape [1, 10] is not one"), "{e}");
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
