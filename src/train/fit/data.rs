//! The examples a run trains on: split into training and held-back parts,
//! with the teacher's outputs and the labels for each.

use std::ops::Range;

use ndarray::{ArrayD, Axis};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::super::loss::is_distribution;
use crate::error::{Result, SquishError};
use crate::formats::data::feeds::{join, Feed};
use crate::formats::data::labels::label_indices;
use crate::kernels::stats::{argmax, cosine_from};
use crate::runtime::Session;
use crate::tensor::Tensor;

/// Examples joined per forward run, at most.
const GROUP_ROWS: usize = 64;

/// Labels as one distribution per example (one-hot, or blended by mixup).
#[derive(Clone)]
pub(super) struct SoftLabels {
    pub values: Vec<f32>,
    pub classes: usize,
}

impl SoftLabels {
    pub fn rows(&self, r: Range<usize>) -> Vec<f32> {
        self.values[r.start * self.classes..r.end * self.classes].to_vec()
    }
}

pub(super) struct Examples {
    pub examples: Vec<Feed>,
    pub train: Vec<usize>,
    pub validation: Vec<usize>,
    /// The teacher's tensors the student learns: the output, then the hidden ones.
    names: Vec<String>,
    /// `targets[t][e]`: tensor `t` of example `e` (first axis 1).
    targets: Vec<Vec<ArrayD<f32>>>,
    labels: Option<Vec<usize>>,
    classes: usize,
}

impl Examples {
    /// `names`: the output, then hidden tensors (every one with one row per example).
    pub fn new(teacher: &Session, examples: Vec<Feed>, names: &[String], labels: Option<&Tensor>, validation: f64, seed: u64) -> Result<Examples> {
        let mut targets: Vec<Vec<ArrayD<f32>>> = vec![Vec::with_capacity(examples.len()); names.len()];
        label_all(teacher, &examples, names, &mut targets)?;
        let classes = targets[0].first().and_then(|t| t.shape().last().copied()).unwrap_or(1);
        let labels = labels.map(|l| label_indices(l, examples.len(), classes)).transpose()?;
        let mut order: Vec<usize> = (0..examples.len()).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        let held = ((examples.len() as f64 * validation).round() as usize).min(examples.len() - 1);
        let held = if validation > 0.0 { held.max(1) } else { 0 };
        let mut validation: Vec<usize> = order[..held].to_vec();
        let mut train: Vec<usize> = order[held..].to_vec();
        validation.sort_unstable();
        train.sort_unstable();
        Ok(Examples { examples, train, validation, names: names.to_vec(), targets, labels, classes })
    }

    /// Adds `made` to the training part, the teacher's tensors for them,
    /// and the label of the example each was made from (`sources`).
    pub fn add_training(&mut self, teacher: &Session, made: Vec<Feed>, sources: &[usize]) -> Result<()> {
        label_all(teacher, &made, &self.names, &mut self.targets)?;
        if let Some(labels) = &mut self.labels {
            labels.extend(sources.iter().map(|&s| labels[s]).collect::<Vec<_>>());
        }
        let first = self.examples.len();
        self.train.extend(first..first + made.len());
        self.examples.extend(made);
        Ok(())
    }

    /// Whether the teacher's output is a class distribution for every example.
    pub fn is_distribution(&self) -> bool {
        self.targets[0].iter().all(is_distribution)
    }

    /// The teacher's stored tensors for `idx` (output first), each joined along the first axis.
    pub fn stored_targets(&self, idx: &[usize]) -> Vec<ArrayD<f32>> {
        self.targets
            .iter()
            .map(|per_example| {
                let views: Vec<_> = idx.iter().map(|&i| per_example[i].view()).collect();
                ndarray::concatenate(Axis(0), &views).expect("one example's tensors share a shape")
            })
            .collect()
    }

    /// The held-back examples joined into batches, each with the teacher's
    /// output for it: the same every epoch, so made once.
    pub fn validation_batches(&self) -> Vec<(Feed, ArrayD<f32>)> {
        let feeds: Vec<Feed> = self.validation.iter().map(|&i| self.examples[i].clone()).collect();
        groups(&feeds)
            .into_iter()
            .map(|g| {
                let views: Vec<_> = self.validation[g.clone()].iter().map(|&i| self.targets[0][i].view()).collect();
                let target = ndarray::concatenate(Axis(0), &views).expect("one example's outputs share a shape");
                (join(&feeds[g]).expect("groups are joinable"), target)
            })
            .collect()
    }

    /// The teacher run on an input it has not seen (an augmented batch).
    pub fn teacher_outputs(&self, teacher: &Session, feed: &Feed) -> Result<Vec<ArrayD<f32>>> {
        teacher_outputs(teacher, feed, &self.names)
    }

    pub fn soft_labels(&self, idx: &[usize]) -> Option<SoftLabels> {
        let labels = self.labels.as_ref()?;
        let mut values = vec![0.0f32; idx.len() * self.classes];
        for (r, &i) in idx.iter().enumerate() {
            values[r * self.classes + labels[i]] = 1.0;
        }
        Some(SoftLabels { values, classes: self.classes })
    }
}

/// Appends the teacher's tensors `names` for each of `examples` to `targets`.
fn label_all(teacher: &Session, examples: &[Feed], names: &[String], targets: &mut [Vec<ArrayD<f32>>]) -> Result<()> {
    for g in groups(examples) {
        let joined = join(&examples[g.clone()]).expect("groups are joinable");
        for (t, out) in teacher_outputs(teacher, &joined, names)?.into_iter().enumerate() {
            if out.shape().first() != Some(&g.len()) {
                return Err(SquishError::op(format!(
                    "the teacher's tensor '{}' has shape {:?} for {} examples; training needs one row per example",
                    names[t],
                    out.shape(),
                    g.len()
                )));
            }
            targets[t].extend(out.axis_iter(Axis(0)).map(|r| r.insert_axis(Axis(0)).to_owned()));
        }
    }
    Ok(())
}

fn teacher_outputs(teacher: &Session, feed: &Feed, names: &[String]) -> Result<Vec<ArrayD<f32>>> {
    let run = teacher.run(feed.clone())?;
    let available: Vec<String> = run.outputs.iter().map(|(n, _)| n.clone()).collect();
    let mut outputs = run.outputs;
    names
        .iter()
        .map(|name| {
            let key = if name == &names[0] { "output" } else { "hidden" };
            match outputs.iter().position(|(n, _)| n == name).map(|i| outputs.swap_remove(i).1) {
                Some(Tensor::F32(a)) => Ok(a),
                Some(t) => Err(SquishError::Recipe(format!("key 'distill.{key}': the teacher's '{name}' is {}; training learns float32 tensors", t.dtype()))),
                None => Err(SquishError::Recipe(format!("key 'distill.{key}': the teacher has no tensor '{name}' (outputs: {})", available.join(", ")))),
            }
        })
        .collect()
}

/// Runs of consecutive examples that can be joined into one batch.
pub(super) fn groups(feeds: &[Feed]) -> Vec<Range<usize>> {
    let same = |a: &Feed, b: &Feed| a.len() == b.len() && a.iter().zip(b).all(|((n, x), (m, y))| n == m && x.shape() == y.shape() && x.dtype() == y.dtype());
    let mut out = Vec::new();
    let mut start = 0;
    while start < feeds.len() {
        let mut end = start + 1;
        while end < feeds.len() && end - start < GROUP_ROWS && same(&feeds[start], &feeds[end]) {
            end += 1;
        }
        if join(&feeds[start..end]).is_some() {
            out.push(start..end);
        } else {
            out.extend((start..end).map(|i| i..i + 1));
        }
        start = end;
    }
    out
}

/// Rows whose top class is the teacher's, and the row count.
pub(super) fn agreement(s: &ArrayD<f32>, t: &ArrayD<f32>) -> (f64, usize) {
    let classes = s.shape().last().copied().unwrap_or(1).max(1);
    let (s, t) = (s.as_standard_layout(), t.as_standard_layout());
    let rows = s.len() / classes;
    let pairs = s.as_slice().expect("standard").chunks(classes).zip(t.as_slice().expect("standard").chunks(classes));
    (pairs.filter(|(a, b)| argmax(a) == argmax(b)).count() as f64, rows)
}

/// The sum over examples of the cosine between their outputs, and the count.
pub(super) fn cosine_sum(s: &ArrayD<f32>, t: &ArrayD<f32>) -> (f64, usize) {
    let rows = s.shape().first().copied().unwrap_or(1).max(1);
    let cols = s.len() / rows;
    let (s, t) = (s.as_standard_layout(), t.as_standard_layout());
    let pairs = s.as_slice().expect("standard").chunks(cols).zip(t.as_slice().expect("standard").chunks(cols));
    let sum = pairs
        .map(|(a, b)| {
            let (xy, xx, yy) =
                a.iter().zip(b).fold((0.0, 0.0, 0.0), |(xy, xx, yy), (&x, &y)| (xy + x as f64 * y as f64, xx + x as f64 * x as f64, yy + y as f64 * y as f64));
            cosine_from(xy, xx, yy)
        })
        .sum();
    (sum, rows)
}
