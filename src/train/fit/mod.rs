//! The training loop: a student fitted to a teacher's outputs (and labels,
//! when given) on the user's inputs, one minibatch per `step` so that the
//! caller can show progress and stop.

use ndarray::ArrayD;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::loss::{self, LossKind};
use super::optim::{Optimizer, Schedule, State};
use super::tape::Tape;
use crate::error::{Result, SquishError};
use crate::formats::data::feeds::{join, per_example, trim_padding, Feed};
use crate::ir::Model;
use crate::runtime::Session;
use crate::tensor::Tensor;

pub mod augment;
mod data;
pub mod gradual;
pub mod swap;

use data::Examples;

/// How to train: the keys of a recipe's `distill` section that are about
/// the loop (the student is chosen by the section).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FitOptions {
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub optimizer: Optimizer,
    pub schedule: Schedule,
    /// Steps over which the rate rises from 0 at the start.
    pub warmup_steps: usize,
    /// Decoupled weight decay (AdamW).
    pub weight_decay: f64,
    /// Seeds the split, the shuffling, the augmentations and a proposed student's initial weights.
    pub seed: u64,
    /// Share of the inputs held back to choose the best epoch (and stop early); 0 keeps the last.
    pub validation: f64,
    /// Epochs without a better validation figure before stopping.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patience: Option<usize>,
    /// Default: `kl` when the teacher's output is a class distribution, else `mse`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loss: Option<LossKind>,
    /// Softens both class distributions in the `kl` loss.
    pub temperature: f64,
    /// Weight of cross-entropy on labels against the teacher's term (labels given).
    pub label_weight: f64,
    /// The output the student learns (default: the teacher's first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// Mixup: each minibatch is blended with a shuffled copy of itself, by
    /// a weight drawn from Beta(mixup, mixup), and the teacher labels the
    /// blend (0: off).
    pub mixup: f64,
    /// Standard deviation of Gaussian noise added to float inputs (0: off).
    pub noise: f64,
    /// Images moved by up to this many pixels along each axis (zeros fill
    /// in), a fresh draw per example and step (0: off).
    #[serde(skip_serializing_if = "is_zero")]
    pub shift: usize,
    /// Images mirrored left–right, each example with probability ½.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub flip: bool,
    /// New sentences cut and joined from the minibatch's (text models).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text_crop: Option<augment::TextCrop>,
    /// Token ids masked at random in each minibatch (text models).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_mask: Option<augment::TokenMask>,
    /// Copies of the training examples with token ids swapped for their
    /// nearest neighbours in the teacher's embedding table (text models).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_swap: Option<swap::TokenSwap>,
    /// Intermediate tensors the student also matches (mean squared error,
    /// added to the output's loss), named as in both models: hidden states,
    /// as TinyBERT and MiniLM distil. Each needs one row per example.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hidden: Vec<String>,
    /// Prune weight matrices by magnitude while training, up to a sparsity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gradual: Option<gradual::Gradual>,
}

fn is_zero(v: &usize) -> bool {
    *v == 0
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            epochs: 30,
            batch_size: 32,
            learning_rate: 1e-3,
            optimizer: Optimizer::Adam,
            schedule: Schedule::Cosine,
            warmup_steps: 0,
            weight_decay: 0.0,
            seed: 0,
            validation: 0.1,
            patience: None,
            loss: None,
            temperature: 2.0,
            label_weight: 0.5,
            output: None,
            mixup: 0.0,
            noise: 0.0,
            shift: 0,
            flip: false,
            hidden: Vec::new(),
            token_mask: None,
            token_swap: None,
            text_crop: None,
            gradual: None,
        }
    }
}

impl FitOptions {
    /// Rejects settings no run can use, naming the key.
    pub fn check(&self) -> Result<()> {
        let bad = |key: &str, why: &str| Err(SquishError::Recipe(format!("key 'distill.{key}': {why}")));
        if self.epochs == 0 || self.epochs > 100_000 {
            return bad("epochs", "must be between 1 and 100000");
        }
        if self.batch_size == 0 || self.batch_size > 65_536 {
            return bad("batch_size", "must be between 1 and 65536");
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return bad("learning_rate", "must be a positive number");
        }
        if !(0.0..0.9).contains(&self.validation) {
            return bad("validation", "is the share held back, from 0 up to 0.9");
        }
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return bad("temperature", "must be a positive number");
        }
        if !(0.0..=1.0).contains(&self.label_weight) {
            return bad("label_weight", "must be between 0 and 1");
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return bad("weight_decay", "must be 0 or more");
        }
        if let Some(g) = &self.gradual {
            g.check()?;
        }
        if let Some(t) = &self.token_mask {
            t.check()?;
        }
        if let Some(t) = &self.text_crop {
            t.check()?;
        }
        if let Some(t) = &self.token_swap {
            t.check()?;
        }
        if self.shift > 4096 {
            return bad("shift", "is a number of pixels, up to 4096");
        }
        for (key, v) in [("mixup", self.mixup), ("noise", self.noise)] {
            if !(v.is_finite() && v >= 0.0) {
                return bad(key, "must be 0 (off) or more");
            }
        }
        Ok(())
    }
}

/// One epoch's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EpochRecord {
    pub epoch: usize,
    /// Mean training loss over the epoch's minibatches.
    pub loss: f64,
    /// Agreement with the teacher (class outputs) or mean cosine, on the held-back part.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation: Option<f64>,
    pub learning_rate: f32,
}

/// Where a `step` got to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Progress {
    pub step: usize,
    pub total_steps: usize,
    pub epoch: usize,
    /// Set when this step finished an epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_epoch: Option<EpochRecord>,
}

struct Best {
    figure: f64,
    epoch: usize,
    weights: Vec<ArrayD<f32>>,
}

pub struct Trainer {
    tape: Tape,
    teacher: Session,
    data: Examples,
    /// The held-back part, joined into batches with the teacher's outputs.
    validation: Vec<(Feed, ArrayD<f32>)>,
    opts: FitOptions,
    kind: LossKind,
    /// The value the loss reads: the student's output, or the logits its softmax reads.
    student_value: usize,
    /// The student's values matched to the teacher's hidden tensors.
    hidden_values: Vec<usize>,
    state: State,
    rng: ChaCha8Rng,
    order: Vec<usize>,
    cursor: usize,
    epoch: usize,
    step: usize,
    total_steps: usize,
    epoch_loss: (f64, usize),
    history: Vec<EpochRecord>,
    best: Option<Best>,
    stale: usize,
    done: bool,
}

impl Trainer {
    /// Prepares training `tape` (the student) to imitate `teacher` on
    /// `inputs`. `labels`: one class per example, when known.
    pub fn new(teacher: &Model, tape: Tape, inputs: Vec<Feed>, labels: Option<&Tensor>, opts: FitOptions) -> Result<Trainer> {
        opts.check()?;
        let output = match &opts.output {
            Some(o) => o.clone(),
            None => teacher.graph.outputs.first().map(|o| o.name.clone()).ok_or_else(|| SquishError::invalid("the teacher has no outputs"))?,
        };
        let hidden_values = opts
            .hidden
            .iter()
            .map(|h| tape.value_id(h).ok_or_else(|| SquishError::Recipe(format!("key 'distill.hidden': the student has no tensor '{h}'"))))
            .collect::<Result<Vec<_>>>()?;
        let session = Session::new(with_outputs(teacher, &opts.hidden))?;
        let examples: Vec<Feed> = per_example(teacher, inputs).into_iter().map(|f| trim_padding(teacher, f)).collect();
        if examples.len() < 2 {
            return Err(SquishError::Recipe("section 'distill': training needs at least 2 examples (give more inputs)".into()));
        }
        let names: Vec<String> = std::iter::once(output.clone()).chain(opts.hidden.iter().cloned()).collect();
        let mut data = Examples::new(&session, examples, &names, labels, opts.validation, opts.seed)?;
        if let Some(t) = &opts.token_swap {
            let train: Vec<&Feed> = data.train.iter().map(|&i| &data.examples[i]).collect();
            let swaps = swap::Swaps::new(t, teacher, train.iter().copied())?;
            let (copies, sources) = swaps.copies(&train, &mut ChaCha8Rng::seed_from_u64(opts.seed ^ 0x5a5a_70c5))?;
            let sources: Vec<usize> = sources.into_iter().map(|s| data.train[s]).collect();
            data.add_training(&session, copies, &sources)?;
        }
        let kind = opts.loss.unwrap_or(if data.is_distribution() { LossKind::Kl } else { LossKind::Mse });
        let out_id = tape
            .output_ids()
            .iter()
            .find(|(n, _)| *n == output)
            .map(|(_, i)| *i)
            .ok_or_else(|| SquishError::Recipe(format!("key 'distill.output': the student has no output '{output}' (the teacher's output it learns)")))?;
        let student_value = if kind == LossKind::Kl { logits_of(&tape, out_id) } else { out_id };
        if opts.gradual.is_some() && !tape.params.iter().any(|p| p.prunable) {
            return Err(SquishError::Recipe("key 'distill.gradual': the student has no weight matrices to prune".into()));
        }
        let batches = data.train.len().div_ceil(opts.batch_size);
        let rng = ChaCha8Rng::seed_from_u64(opts.seed ^ 0x5eed_7a11);
        let state = State::new(opts.optimizer, &tape.params);
        Ok(Trainer {
            tape,
            teacher: session,
            validation: data.validation_batches(),
            data,
            total_steps: batches * opts.epochs,
            opts,
            kind,
            student_value,
            hidden_values,
            state,
            rng,
            order: Vec::new(),
            cursor: 0,
            epoch: 0,
            step: 0,
            epoch_loss: (0.0, 0),
            history: Vec::new(),
            best: None,
            stale: 0,
            done: false,
        })
    }

    pub fn loss_kind(&self) -> LossKind {
        self.kind
    }

    pub fn history(&self) -> &[EpochRecord] {
        &self.history
    }

    pub fn total_steps(&self) -> usize {
        self.total_steps
    }

    /// Examples trained on and held back.
    pub fn split_sizes(&self) -> (usize, usize) {
        (self.data.train.len(), self.data.validation.len())
    }

    /// One minibatch (and, at the end of an epoch, the validation run);
    /// `None` once training is over. A loss that is not finite stops
    /// training with an error; `model()` still gives the best weights.
    pub fn step(&mut self) -> Result<Option<Progress>> {
        if self.done {
            return Ok(None);
        }
        if self.cursor == 0 {
            self.order = self.data.train.clone();
            self.order.shuffle(&mut self.rng);
        }
        let end = (self.cursor + self.opts.batch_size).min(self.order.len());
        let mut batch: Vec<usize> = self.order[self.cursor..end].to_vec();
        // Examples of one length (text without padding) run together, so that they join into one forward pass.
        batch.sort_by_key(|&i| self.data.examples[i].first().map(|(_, t)| t.shape().to_vec()));
        let rate = self.opts.schedule.rate(self.opts.learning_rate as f32, self.step, self.total_steps, self.opts.warmup_steps);
        let loss = self.train_batch(&batch, rate)?;
        self.step += 1;
        self.cursor = end;
        self.epoch_loss.0 += loss;
        self.epoch_loss.1 += 1;
        let finished_epoch = if self.cursor >= self.order.len() { Some(self.end_epoch(rate)?) } else { None };
        Ok(Some(Progress { step: self.step, total_steps: self.total_steps, epoch: self.epoch, finished_epoch }))
    }

    fn train_batch(&mut self, batch: &[usize], rate: f32) -> Result<f64> {
        let mut feeds: Vec<Feed> = batch.iter().map(|&i| self.data.examples[i].clone()).collect();
        let mut labels = self.data.soft_labels(batch);
        // Augmented inputs are new to the teacher: it labels them again.
        let mut relabel = false;
        if self.opts.shift > 0 || self.opts.flip {
            augment::move_images(&mut feeds, self.opts.shift, self.opts.flip, &mut self.rng)?;
            relabel = true;
        }
        if self.opts.mixup > 0.0 || self.opts.noise > 0.0 {
            let mixed = augment::augment(&mut feeds, labels.as_mut(), self.opts.mixup, self.opts.noise as f32, &mut self.rng)?;
            relabel = mixed;
        }
        if let Some(crop) = &self.opts.text_crop {
            crop.apply(&mut feeds, &mut self.rng)?;
            relabel = true;
        }
        if let Some(mask) = &self.opts.token_mask {
            mask.apply(&mut feeds, &mut self.rng)?;
            relabel = true;
        }

        let rows = batch.len() as f32;
        let mut total: Option<Vec<ArrayD<f32>>> = None;
        let mut loss_sum = 0.0;
        for group in data::groups(&feeds) {
            let feed = join(&feeds[group.clone()]).expect("groups are joinable");
            let teacher = if relabel { self.data.teacher_outputs(&self.teacher, &feed)? } else { self.data.stored_targets(&batch[group.clone()]) };
            let group_labels = labels.as_ref().map(|l| l.rows(group.clone()));
            let fwd = self.tape.forward(&feed)?;
            let student = match fwd.value(self.student_value) {
                Some(Tensor::F32(a)) => a,
                _ => return Err(SquishError::op("the student's output is not a float32 tensor")),
            };
            let mut lg = self.loss(student, &teacher[0], group_labels.as_deref())?;
            let mut seeds = Vec::with_capacity(1 + self.hidden_values.len());
            for (&id, target) in self.hidden_values.iter().zip(&teacher[1..]) {
                let Some(Tensor::F32(h)) = fwd.value(id) else { return Err(SquishError::op("a matched hidden tensor is not float32")) };
                let hl = loss::mse(h, target)?;
                lg.loss += hl.loss;
                seeds.push((id, hl.grad));
            }
            let weight = group.len() as f32 / rows;
            loss_sum += lg.loss * weight as f64;
            seeds.push((self.student_value, lg.grad));
            let seeds = seeds.into_iter().map(|(id, g)| (id, g.mapv(|v| v * weight))).collect();
            let grads = self.tape.backward(&fwd, seeds)?;
            total = Some(match total {
                None => grads,
                Some(mut t) => {
                    t.iter_mut().zip(grads).for_each(|(a, b)| *a += &b);
                    t
                }
            });
        }
        if !loss_sum.is_finite() || total.iter().flatten().any(|g| g.iter().any(|v| !v.is_finite())) {
            self.done = true;
            let kept = self.best.as_ref().map_or("the initial weights are kept".to_string(), |b| format!("the weights of epoch {} are kept", b.epoch));
            return Err(SquishError::Recipe(format!(
                "section 'distill': the loss became {} at step {} (epoch {}); training stopped, {kept} (try a lower learning_rate)",
                if loss_sum.is_nan() { "NaN" } else { "infinite" },
                self.step + 1,
                self.epoch + 1
            )));
        }
        self.state.update(&mut self.tape.params, &total.unwrap_or_default(), rate, self.opts.weight_decay as f32);
        Ok(loss_sum)
    }

    fn loss(&self, student: &ArrayD<f32>, teacher: &ArrayD<f32>, labels: Option<&[f32]>) -> Result<loss::LossGrad> {
        match self.kind {
            LossKind::Kl => loss::kl(student, &loss::as_logits(teacher), labels, self.opts.temperature as f32, self.opts.label_weight as f32),
            LossKind::Mse => loss::mse(student, teacher),
            LossKind::Cosine => loss::cosine(student, teacher),
        }
    }

    fn end_epoch(&mut self, rate: f32) -> Result<EpochRecord> {
        self.epoch += 1;
        self.cursor = 0;
        // Only epochs at the final sparsity may be kept as the best.
        let mut eligible = true;
        if let Some(g) = &self.opts.gradual {
            let s = g.sparsity_after(self.epoch, self.opts.epochs);
            if s > 0.0 {
                gradual::prune_to(&mut self.tape.params, s);
            }
            eligible = self.epoch >= g.end_epoch(self.opts.epochs);
        }
        let validation = if self.validation.is_empty() { None } else { Some(self.validate()?) };
        let record = EpochRecord { epoch: self.epoch, loss: self.epoch_loss.0 / self.epoch_loss.1.max(1) as f64, validation, learning_rate: rate };
        self.epoch_loss = (0.0, 0);
        let figure = validation.unwrap_or(self.epoch as f64);
        // Ties go to the later epoch: the rate has decayed further and the
        // held-back part is small, so equal figures are common.
        if eligible && self.best.as_ref().is_none_or(|b| figure >= b.figure) {
            self.best = Some(Best { figure, epoch: self.epoch, weights: self.tape.params.iter().map(|p| p.value.clone()).collect() });
            self.stale = 0;
        } else if eligible {
            self.stale += 1;
        }
        if self.epoch >= self.opts.epochs || self.opts.patience.is_some_and(|p| self.stale >= p) {
            self.done = true;
        }
        self.history.push(record.clone());
        Ok(record)
    }

    /// Agreement with the teacher (class outputs) or mean cosine on the held-back part.
    fn validate(&self) -> Result<f64> {
        let (mut sum, mut count) = (0.0, 0usize);
        for (feed, t) in &self.validation {
            let fwd = self.tape.forward(feed)?;
            let Some(Tensor::F32(s)) = fwd.value(self.student_value) else { return Err(SquishError::op("the student's output is not a float32 tensor")) };
            let (s_sum, n) = if self.kind == LossKind::Kl { data::agreement(s, t) } else { data::cosine_sum(s, t) };
            sum += s_sum;
            count += n;
        }
        Ok(sum / count.max(1) as f64)
    }

    /// The student with its best weights (the best validation epoch, or the last).
    pub fn model(&self) -> Result<Model> {
        let mut tape_params = self.tape.params.clone();
        if let Some(b) = &self.best {
            for (p, w) in tape_params.iter_mut().zip(&b.weights) {
                p.value = w.clone();
            }
        }
        self.tape.model_with(&tape_params)
    }

    /// Share of exact zeros over the weight matrices `model()` gives.
    pub fn weight_sparsity(&self) -> f64 {
        let (mut zeros, mut total) = (0usize, 0usize);
        for (i, p) in self.tape.params.iter().enumerate().filter(|(_, p)| p.prunable) {
            let w = self.best.as_ref().map_or(&p.value, |b| &b.weights[i]);
            zeros += w.iter().filter(|&&v| v == 0.0).count();
            total += w.len();
        }
        if total == 0 {
            0.0
        } else {
            zeros as f64 / total as f64
        }
    }

    /// The epoch whose weights `model()` gives.
    pub fn best_epoch(&self) -> Option<usize> {
        self.best.as_ref().map(|b| b.epoch)
    }
}

/// `model` with `names` added to its outputs (the teacher's hidden tensors).
fn with_outputs(model: &Model, names: &[String]) -> Model {
    let mut m = model.clone();
    for n in names {
        if !m.graph.outputs.iter().any(|o| o.name == *n) {
            m.graph.outputs.push(crate::ir::ValueInfo { name: n.clone(), ty: crate::ir::ValueType::Unknown, doc_string: String::new() });
        }
    }
    m
}

/// The logits behind a class output: the input of the softmax that makes
/// it (through Identity nodes), or the output itself.
fn logits_of(tape: &Tape, output: usize) -> usize {
    let mut id = output;
    for _ in 0..8 {
        let Some(node) = tape.producer(id) else { break };
        match node.op_type.as_str() {
            "Identity" => id = tape.value_id(&node.inputs[0]).unwrap_or(id),
            "Softmax" => return tape.value_id(&node.inputs[0]).unwrap_or(id),
            _ => break,
        }
    }
    id
}
