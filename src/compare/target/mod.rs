//! Target mode: the smallest per-layer settings that keep a quality (the
//! recipe's `"target"`) on the user's inputs.
//!
//! The inputs are split (seeded) into a searched part and a held-back part
//! the search never sees. Each unit a recipe step compresses gets a ladder:
//! settings more compressed than the step's own where the step leaves them
//! open (`Method::stronger`: longer 4-bit blocks), the step's own, the
//! milder ones its method offers (`Method::milder`: int4 → int8 → fp16, or
//! lower sparsities), and "as is". The search (1) measures every rung of
//! every unit alone — its bytes, and its output error (noise / signal
//! energy, which adds up over layers closely enough to rank them) on a
//! probe subset of the searched inputs: run for the most compressed rung,
//! scaled from it by the layer's own error for the others (one run per
//! unit instead of one per rung; every candidate is then run in full);
//! (2) orders the per-layer choices by bytes saved per error added
//! (a Lagrangian trade-off: one weight λ on error against bytes, each unit
//! taking the rung with the least bytes + λ·error) and bisects over λ,
//! running each candidate on every searched input, for the most compressed
//! one that meets the target, then tries each unit one rung more compressed
//! (largest saving first), keeping the moves that still meet it — the
//! bisection only walks one path through the choices; (3) checks that one, and every uniform
//! recipe (the same ladder depth for every unit), on the held-back inputs.
//! Work that does not change between candidates (Hessians, calibrated
//! ranges, rounded weights) is computed once (`compress::Cache`).

use std::sync::Arc;

use serde::Serialize;

mod ladder;
mod measure;

use super::outputs::label_indices;
use super::Feed;
use crate::compress::recipe::{Target, TargetMetric};
use crate::compress::{apply_steps_cached, Cache, Recipe, Record};
use crate::error::{Result, SquishError};
use crate::formats::data::feeds::per_example;
use crate::ir::Model;
use crate::runtime::clock::now_ms;
use crate::runtime::Session;
use crate::tensor::Tensor;
pub use ladder::Ladder;
use ladder::{candidate_configs, estimate, ladders, unit_weight_error};
use measure::{batches, measured_outputs, noise_ratio, still_possible, Batch, Tally, PROBE_ROWS};

pub const RULE: &str = "each layer alone at each of its settings (bytes; error on up to 8 searched inputs, run for the \
     most compressed setting and scaled from it by the layer's own error for the others, marked ≈); \
     candidates trade bytes against error with one weight for every layer; the most compressed \
     candidate that meets the target on all searched inputs is kept (bisection over the weight), then \
     each layer is tried one setting more compressed (largest saving first, at most 8), keeping what still meets it; \
     it and every uniform recipe are then checked on the held-back inputs";

/// A recipe checked: its size and the metric where it was measured.
#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    pub label: String,
    pub recipe: String,
    /// The encoded model's size.
    pub bytes: usize,
    /// The metric on the searched inputs (candidates the search ran).
    pub searched: Option<f64>,
    pub held_back: f64,
    pub met: bool,
}

/// The unit's chosen rung, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct Choice {
    pub step: usize,
    pub node: String,
    pub op_type: String,
    pub chosen: String,
    pub ladder: Ladder,
}

#[derive(Debug, Clone, Serialize)]
pub struct TargetReport {
    pub target: Target,
    pub searched_inputs: usize,
    pub held_back_inputs: usize,
    pub calibration_inputs: usize,
    /// No separate calibration inputs were given: the steps calibrated on the
    /// searched inputs, so figures there are in-sample for calibrated methods.
    pub calibrated_on_searched: bool,
    pub original_bytes: usize,
    /// The most compressed candidate meeting the target on the searched
    /// inputs, checked on the held-back ones; `None`: not even leaving every
    /// layer as it is meets it (`unreachable` says why).
    pub found: Option<Candidate>,
    pub unreachable: Option<String>,
    /// The same ladder depth for every unit (the step's own settings first).
    pub uniform: Vec<Candidate>,
    pub choices: Vec<Choice>,
    /// Whether no uniform recipe that meets the target on the held-back
    /// inputs is smaller than the found one (`None`: nothing found, or no
    /// uniform recipe meets it).
    pub no_smaller_uniform: Option<bool>,
    /// Candidates run on every searched input during the bisection.
    pub candidates_run: usize,
    /// Compressions made in all (each layer alone, candidates, checks).
    pub compressions: usize,
    pub timings: Timings,
    pub rule: String,
}

enum Phase {
    Measure(usize),
    Bisect {
        configs: Vec<Vec<usize>>,
        lo: usize,
        hi: usize,
        values: Vec<Option<f64>>,
    },
    /// Tries each unit one rung more compressed than the found candidate
    /// (largest saving first), keeping each move that still meets the target.
    Refine {
        order: Vec<usize>,
        i: usize,
    },
    Check(usize),
    Done,
}

/// Most units the refinement tries (each try runs every searched input).
const REFINE_TRIES: usize = 8;

/// The inputs of one part in batches, the original's outputs on each batch,
/// and one label per example (in batch order).
struct Part {
    examples: usize,
    batches: Vec<Batch>,
    /// Index of each batch's first example (its labels start there).
    first_rows: Vec<usize>,
    reference: Vec<Vec<Tensor>>,
    labels: Option<Vec<usize>>,
}

pub struct Search {
    original: Arc<Model>,
    base: Recipe,
    target: Target,
    calibration: Vec<Feed>,
    searched: Part,
    held: Part,
    /// The first searched examples, for each layer's error alone.
    probe: Part,
    /// Outputs the metric (and the per-layer error) are computed on.
    measured: Vec<usize>,
    cache: Cache,
    ladders: Vec<Ladder>,
    tasks: Vec<(usize, usize)>,
    phase: Phase,
    found: Option<(Vec<usize>, f64)>,
    unreachable: Option<String>,
    checked: Vec<Candidate>,
    original_bytes: usize,
    candidates_run: usize,
    compressions: usize,
    /// The metric on the searched inputs of every candidate run.
    searched_values: Vec<(Vec<usize>, f64)>,
    /// Each searched batch's own metric the last time a candidate ran it.
    batch_values: Vec<Option<f64>>,
    /// Whether the steps calibrated on the searched inputs themselves (then
    /// the searched figures are in-sample for calibrated methods).
    calibrated_on_searched: bool,
    timings: Timings,
    /// The original's encoded size without Squish's provenance metadata.
    plain_original_bytes: usize,
}

/// SplitMix64: a seeded order that is the same natively and in wasm.
fn shuffled(n: usize, seed: u64) -> Vec<usize> {
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        order.swap(i, (next() % (i as u64 + 1)) as usize);
    }
    order
}

fn run_timed(model: Model, feeds: &[Feed], t: &mut Timings) -> Result<Vec<Vec<Tensor>>> {
    let t0 = now_ms();
    let session = Session::new(model)?;
    let t1 = now_ms();
    let out = feeds.iter().map(|f| Ok(session.run(f.clone())?.outputs.into_iter().map(|(_, t)| t).collect())).collect();
    t.session_ms += t1 - t0;
    t.run_ms += now_ms() - t1;
    out
}

/// Where the search's time went (milliseconds), for the report and the benchmark.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Timings {
    /// Applying the recipe (cached work reused).
    pub compress_ms: f64,
    /// Encoding models to measure their size.
    pub size_ms: f64,
    /// Planning sessions.
    pub session_ms: f64,
    /// Running the models on the inputs.
    pub run_ms: f64,
}

fn target_err(detail: impl Into<String>) -> SquishError {
    SquishError::Recipe(format!("target: {}", detail.into()))
}

impl Search {
    /// Splits `inputs`, runs the original on them and compresses once with
    /// the recipe as given (the most compressed settings). `labels`: one
    /// class per input (or one-hot rows), needed by `accuracy`.
    /// `calibration`: inputs the steps calibrate on; by default the searched
    /// part (never the held-back one).
    pub fn new(original: impl Into<Arc<Model>>, recipe: &Recipe, inputs: Vec<Feed>, labels: Option<&Tensor>, calibration: Option<Vec<Feed>>) -> Result<Search> {
        let original = original.into();
        let inputs = per_example(&original, inputs);
        let target = recipe.target.clone().ok_or_else(|| SquishError::Recipe("the recipe has no 'target' to search for".into()))?;
        let n = inputs.len();
        if n < 2 {
            return Err(target_err(format!("the search needs at least 2 input sets (some are held back to check its result), got {n}")));
        }
        let held_n = ((n as f64 * target.held_back).round() as usize).clamp(1, n - 1);
        let order = shuffled(n, target.seed);
        let session = Session::new(Arc::clone(&original))?;
        let first: Vec<Tensor> = session.run(inputs[0].clone())?.outputs.into_iter().map(|(_, t)| t).collect();
        let measured = measured_outputs(&original, &target, &first)?;
        let labels = match labels {
            Some(t) => {
                if inputs.iter().flatten().any(|(_, x)| x.shape().first().is_some_and(|&b| b != 1)) {
                    return Err(target_err("labels give one class per input set, but an input set holds several examples the model takes only together: give one example per input set"));
                }
                let classes = first[measured[0]].shape().last().copied().unwrap_or(1);
                Some(label_indices(t, n, classes)?)
            }
            None if target.metric == TargetMetric::Accuracy => return Err(target_err("metric accuracy needs labels (one class per input: --labels FILE)")),
            None => None,
        };
        let part = |idx: &[usize]| -> Result<Part> {
            let feeds: Vec<Feed> = idx.iter().map(|&i| inputs[i].clone()).collect();
            let batches = batches(&original, &feeds);
            let reference = batches.iter().map(|b| Ok(session.run(b.feed.clone())?.outputs.into_iter().map(|(_, t)| t).collect())).collect::<Result<_>>()?;
            let first_rows = batches.iter().scan(0, |at, b| Some(std::mem::replace(at, *at + b.rows))).collect();
            Ok(Part { examples: idx.len(), batches, first_rows, reference, labels: labels.as_ref().map(|l| idx.iter().map(|&i| l[i]).collect()) })
        };
        let (held, searched) = (part(&order[..held_n])?, part(&order[held_n..])?);
        let probe = part(&order[held_n..(held_n + PROBE_ROWS).min(n)])?;
        let calibrated_on_searched = calibration.is_none();
        let calibration = calibration.unwrap_or_else(|| order[held_n..].iter().map(|&i| inputs[i].clone()).collect());
        let mut base = recipe.clone();
        base.target = None;
        let cache = Cache::keeping();
        let original_bytes = crate::formats::onnx::encoded_len(&original);
        let plain_original_bytes = {
            let mut plain = Model::clone(&original);
            plain.metadata.retain(|(k, _)| !k.starts_with("squish."));
            crate::formats::onnx::encoded_len(&plain)
        };
        // The units come from the record; the sizes are measured per rung.
        let (_, record) = apply_steps_cached(std::borrow::Cow::Borrowed(&original), &base, &calibration, &cache)?;
        let ladders = ladders(&base, &original, &record);
        if ladders.is_empty() {
            return Err(target_err("the recipe's steps change no layer of this model: there is nothing to search"));
        }
        let searched_batches = searched.batches.len();
        let tasks = ladders.iter().enumerate().flat_map(|(u, l)| (0..l.as_is()).map(move |r| (u, r))).collect();
        Ok(Search {
            plain_original_bytes,
            original_bytes,
            original,
            base,
            target,
            calibration,
            searched,
            held,
            probe,
            measured,
            cache,
            ladders,
            tasks,
            phase: Phase::Measure(0),
            found: None,
            unreachable: None,
            checked: Vec::new(),
            candidates_run: 0,
            compressions: 1,
            searched_values: Vec::new(),
            batch_values: vec![None; searched_batches],
            calibrated_on_searched,
            timings: Timings::default(),
        })
    }

    /// Units and their ladders (errors and bytes filled as measured).
    pub fn ladders(&self) -> &[Ladder] {
        &self.ladders
    }

    /// An upper bound of the steps left plus those done: for progress.
    pub fn total_steps(&self) -> usize {
        let configs: usize = self.ladders.iter().map(|l| l.as_is()).sum::<usize>() + 1;
        self.tasks.len() + (usize::BITS - configs.leading_zeros()) as usize + 2 + REFINE_TRIES + 1 + self.uniform_depths()
    }

    /// Uniform recipes: at depth d every unit takes the rung d steps from
    /// the most compressed, the step's own settings aligned across units
    /// (a unit without the stronger rungs others have starts at its own).
    fn uniform_depths(&self) -> usize {
        let top = self.ladders.iter().map(|l| l.own).max().unwrap_or(0);
        self.ladders.iter().map(|l| top - l.own + l.as_is()).max().unwrap_or(0)
    }

    fn uniform(&self, depth: usize) -> Vec<usize> {
        let top = self.ladders.iter().map(|l| l.own).max().unwrap_or(0);
        self.ladders.iter().map(|l| (depth + l.own).saturating_sub(top).min(l.as_is() - 1)).collect()
    }

    /// One unit of work (one compression and its runs). Returns the stage
    /// just worked on, or `None` once the search is finished.
    pub fn step(&mut self) -> Result<Option<&'static str>> {
        match std::mem::replace(&mut self.phase, Phase::Done) {
            Phase::Measure(i) => {
                let (u, r) = self.tasks[i];
                self.measure(u, r)?;
                self.phase = if i + 1 < self.tasks.len() { Phase::Measure(i + 1) } else { self.bisection() };
                Ok(Some("measuring each layer"))
            }
            Phase::Bisect { configs, lo, hi, values } => {
                self.phase = self.bisect_step(configs, lo, hi, values)?;
                if matches!(self.phase, Phase::Check(0)) && self.found.is_some() {
                    self.phase = self.refinement();
                }
                Ok(Some("searching"))
            }
            Phase::Refine { order, i } => {
                self.refine_step(order[i])?;
                self.phase = if i + 1 < order.len() { Phase::Refine { order, i: i + 1 } } else { Phase::Check(0) };
                Ok(Some("refining"))
            }
            Phase::Check(i) => {
                self.phase = self.check_step(i)?;
                Ok(Some("checking on held-back inputs"))
            }
            Phase::Done => Ok(None),
        }
    }

    /// The recipe for one rung per unit.
    fn recipe_for(&self, config: &[usize]) -> Result<Recipe> {
        let mut r = self.base.clone();
        for (l, &rung) in self.ladders.iter().zip(config) {
            let Some(step) = r.steps.get_mut(l.unit.step) else { continue };
            if rung == l.as_is() {
                step.method_mut().exclude(&l.unit.node);
            } else if let Some(set) = &l.rungs[rung] {
                step.method_mut().set_rung(&l.unit.node, set)?;
            }
        }
        Ok(r)
    }

    /// `recipe` applied; `sized`: with the encoded sizes in the record
    /// (encoding costs a pass over every weight).
    fn compress(&mut self, recipe: &Recipe, sized: bool) -> Result<(Model, Record)> {
        self.compressions += 1;
        let t0 = now_ms();
        let (model, mut record) = apply_steps_cached(std::borrow::Cow::Borrowed(&self.original), recipe, &self.calibration, &self.cache)?;
        let t1 = now_ms();
        self.timings.compress_ms += t1 - t0;
        if sized {
            record.model_bytes_before = self.original_bytes;
            record.model_bytes_after = crate::formats::onnx::encoded_len(&model);
            self.timings.size_ms += now_ms() - t1;
        }
        Ok((model, record))
    }

    /// Unit `u` alone at rung `r`: its bytes, and its output error on the
    /// probe inputs — run for rung 0, and for the others scaled from rung 0's
    /// by the weights' own error when both are known (`estimate`).
    fn measure(&mut self, u: usize, r: usize) -> Result<()> {
        let config: Vec<usize> = self.ladders.iter().enumerate().map(|(i, l)| if i == u { r } else { l.as_is() }).collect();
        let recipe = self.recipe_for(&config)?;
        let (mut model, record) = self.compress(&recipe, false)?;
        // Bytes as the file stores them (scales, sparse storage, added
        // nodes), without the provenance, which names every excluded layer.
        let t0 = now_ms();
        model.metadata.retain(|(k, _)| !k.starts_with("squish."));
        let grown = crate::formats::onnx::encoded_len(&model) as i64 - self.plain_original_bytes as i64;
        self.timings.size_ms += now_ms() - t0;
        let unit = &self.ladders[u].unit;
        let weight_error = unit_weight_error(&record, unit.step, &unit.node);
        let l = &mut self.ladders[u];
        l.bytes[r] = (l.bytes[l.as_is()] as i64 + grown).max(0) as usize;
        l.weight_error[r] = weight_error;
        if let Some(error) = estimate(l, r) {
            l.error[r] = error;
            l.estimated[r] = true;
            return Ok(());
        }
        let probe: Vec<Feed> = self.probe.batches.iter().map(|b| b.feed.clone()).collect();
        let got = run_timed(model, &probe, &mut self.timings)?;
        self.ladders[u].error[r] = noise_ratio(&self.probe.reference, &got, &self.measured);
        Ok(())
    }

    /// Candidates from most to least compressed, one per distinct choice as
    /// the weight on error grows.
    fn bisection(&self) -> Phase {
        let configs = candidate_configs(&self.ladders);
        let n = configs.len();
        Phase::Bisect { configs, lo: 0, hi: n - 1, values: vec![None; n] }
    }

    /// The metric of one candidate on one part (and, checking on the
    /// held-back part, its encoded size). Every unit as it is needs no run:
    /// its outputs are the original's.
    fn evaluate(&mut self, config: &[usize], on_held_back: bool) -> Result<(f64, usize, String)> {
        let recipe = self.recipe_for(config)?;
        let untouched = self.ladders.iter().zip(config).all(|(l, &r)| r == l.as_is());
        if untouched && !on_held_back {
            let p = &self.searched;
            let mut tally = Tally::new(self.target.metric);
            for ((b, want), &first) in p.batches.iter().zip(&p.reference).zip(&p.first_rows) {
                tally.add(want, want, &self.measured, p.labels.as_ref().map(|l| &l[first..first + b.rows]));
            }
            return Ok((tally.value(), self.original_bytes, recipe.to_json()));
        }
        let (model, record) = self.compress(&recipe, on_held_back)?;
        let (value, complete) = self.score(model, on_held_back)?;
        if complete && !on_held_back {
            self.searched_values.push((config.to_vec(), value));
        }
        Ok((value, record.model_bytes_after, recipe.to_json()))
    }

    /// Runs a candidate batch by batch. On the searched inputs it stops as
    /// soon as the target is out of reach (`complete` false: the value is
    /// then that of the batches run).
    fn score(&mut self, model: Model, on_held_back: bool) -> Result<(f64, bool)> {
        let t0 = now_ms();
        let session = Session::new(model)?;
        let t1 = now_ms();
        self.timings.session_ms += t1 - t0;
        let part = if on_held_back { &self.held } else { &self.searched };
        let mut tally = Tally::new(self.target.metric);
        let (mut done, mut complete) = (0, true);
        // On the searched part the batches that went worst before come
        // first, so a candidate that misses the target stops early.
        let order: Vec<usize> = if on_held_back { (0..part.batches.len()).collect() } else { self.hardest_first() };
        let mut seen = Vec::new();
        for &i in &order {
            let (b, want, first) = (&part.batches[i], &part.reference[i], part.first_rows[i]);
            let got: Vec<Tensor> = session.run(b.feed.clone())?.outputs.into_iter().map(|(_, t)| t).collect();
            let labels = part.labels.as_ref().map(|l| &l[first..first + b.rows]);
            tally.add(want, &got, &self.measured, labels);
            if !on_held_back {
                let mut alone = Tally::new(self.target.metric);
                alone.add(want, &got, &self.measured, labels);
                seen.push((i, alone.value()));
            }
            done += b.rows;
            if !on_held_back && done < part.examples && !still_possible(&self.target, &tally, part.examples - done) {
                complete = false;
                break;
            }
        }
        seen.into_iter().for_each(|(i, v)| self.batch_values[i] = Some(v));
        self.timings.run_ms += now_ms() - t1;
        Ok((tally.value(), complete))
    }

    /// Searched batches, the worst last seen first (then those not run yet).
    fn hardest_first(&self) -> Vec<usize> {
        let sign = if self.target.metric.higher_is_better() { 1.0 } else { -1.0 };
        let mut order: Vec<usize> = (0..self.batch_values.len()).collect();
        order.sort_by(|&a, &b| {
            let key = |i: usize| self.batch_values[i].map_or(f64::INFINITY, |v| sign * v);
            key(a).total_cmp(&key(b)).then(a.cmp(&b))
        });
        order
    }

    /// Finds the first candidate meeting the target, assuming quality grows
    /// along the list: the last (every unit as it is) first, then the first,
    /// then halves.
    fn bisect_step(&mut self, configs: Vec<Vec<usize>>, mut lo: usize, hi: usize, mut values: Vec<Option<f64>>) -> Result<Phase> {
        let next = if values[hi].is_none() {
            hi
        } else if values[lo].is_none() {
            lo
        } else {
            (lo + hi) / 2
        };
        let (value, _, _) = self.evaluate(&configs[next], false)?;
        self.candidates_run += 1;
        values[next] = Some(value);
        let met = self.target.met_by(value);
        let mut hi = hi;
        if next == hi && !met && hi == configs.len() - 1 {
            self.unreachable = Some(format!(
                "{} on the searched inputs is {value:.6} with every compressed layer left as it is, so no setting can reach {}",
                self.target.metric.name(),
                self.target.bound_text()
            ));
            return Ok(Phase::Check(0));
        }
        if next == lo && met {
            hi = lo;
        } else if next != hi && next != lo {
            if met {
                hi = next;
            } else {
                lo = next;
            }
        }
        if hi == lo || hi == lo + 1 && values[lo].is_some_and(|v| !self.target.met_by(v)) {
            self.found = Some((configs[hi].clone(), values[hi].expect("hi was run")));
            return Ok(Phase::Check(0));
        }
        Ok(Phase::Bisect { configs, lo, hi, values })
    }

    /// The rung below `rung` worth trying: the largest one with fewer bytes.
    fn cheaper(l: &Ladder, rung: usize) -> Option<usize> {
        (0..rung).rev().find(|&r| l.bytes[r] < l.bytes[rung])
    }

    fn refinement(&self) -> Phase {
        let Some((config, _)) = &self.found else { return Phase::Check(0) };
        let mut order: Vec<(usize, usize)> =
            (self.ladders.iter().zip(config).enumerate()).filter_map(|(u, (l, &r))| Self::cheaper(l, r).map(|c| (u, l.bytes[r] - l.bytes[c]))).collect();
        order.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        order.truncate(REFINE_TRIES);
        if order.is_empty() {
            return Phase::Check(0);
        }
        Phase::Refine { order: order.into_iter().map(|(u, _)| u).collect(), i: 0 }
    }

    fn refine_step(&mut self, u: usize) -> Result<()> {
        let Some((mut config, _)) = self.found.clone() else { return Ok(()) };
        let Some(c) = Self::cheaper(&self.ladders[u], config[u]) else { return Ok(()) };
        config[u] = c;
        let (value, _, _) = self.evaluate(&config, false)?;
        self.candidates_run += 1;
        if self.target.met_by(value) {
            self.found = Some((config, value));
        }
        Ok(())
    }

    /// Check 0: the found recipe on the held-back inputs; then uniform depth
    /// `i - 1` for every unit.
    fn check_step(&mut self, i: usize) -> Result<Phase> {
        if i == 0 {
            if let Some((config, searched)) = self.found.clone() {
                let (held, bytes, recipe) = self.evaluate(&config, true)?;
                let met = self.target.met_by(held);
                self.checked.push(Candidate { label: "found".into(), recipe, bytes, searched: Some(searched), held_back: held, met });
            }
        } else {
            let depth = i - 1;
            let config = self.uniform(depth);
            let (held, bytes, recipe) = self.evaluate(&config, true)?;
            // On the searched inputs only where the search ran it (the checks are for the held-back part).
            let searched = self.searched_values.iter().find(|(c, _)| *c == config).map(|(_, v)| *v);
            let label = self.uniform_label(&config);
            self.checked.push(Candidate { label, recipe, bytes, searched, held_back: held, met: self.target.met_by(held) });
        }
        Ok(if i < self.uniform_depths() { Phase::Check(i + 1) } else { Phase::Done })
    }

    fn uniform_label(&self, config: &[usize]) -> String {
        let mut labels: Vec<&str> = Vec::new();
        for (l, &r) in self.ladders.iter().zip(config) {
            if !labels.contains(&l.labels[r].as_str()) {
                labels.push(&l.labels[r]);
            }
        }
        labels.join(" + ")
    }

    pub fn is_done(&self) -> bool {
        matches!(self.phase, Phase::Done)
    }

    /// The recipe found (no target: concrete per-layer settings).
    pub fn found_recipe(&self) -> Result<Option<Recipe>> {
        self.found.as_ref().map(|(c, _)| self.recipe_for(c)).transpose()
    }

    /// The found recipe applied (reusing the search's work).
    pub fn found_model(&mut self) -> Result<Option<(Model, Record)>> {
        match self.found_recipe()? {
            Some(r) => self.compress(&r, true).map(Some),
            None => Ok(None),
        }
    }

    pub fn report(&self) -> Result<TargetReport> {
        if !self.is_done() {
            return Err(SquishError::invalid("the target search has not finished"));
        }
        let found = self.found.as_ref().and_then(|_| self.checked.iter().find(|c| c.label == "found").cloned());
        let chosen = self.found.as_ref().map(|(c, _)| c.clone()).unwrap_or_else(|| self.ladders.iter().map(|l| l.as_is()).collect());
        let choices = (self.ladders.iter().zip(&chosen))
            .map(|(l, &r)| Choice {
                step: l.unit.step,
                node: l.unit.node.clone(),
                op_type: l.unit.op_type.clone(),
                chosen: l.labels[r].clone(),
                ladder: l.clone(),
            })
            .collect();
        let uniform: Vec<Candidate> = self.checked.iter().filter(|c| c.label != "found").cloned().collect();
        let smallest_uniform = uniform.iter().filter(|c| c.met).map(|c| c.bytes).min();
        let no_smaller_uniform = found.as_ref().zip(smallest_uniform).map(|(f, u)| f.bytes <= u);
        Ok(TargetReport {
            no_smaller_uniform,
            target: self.target.clone(),
            searched_inputs: self.searched.examples,
            held_back_inputs: self.held.examples,
            calibration_inputs: self.calibration.len(),
            calibrated_on_searched: self.calibrated_on_searched,
            original_bytes: self.original_bytes,
            found,
            unreachable: self.unreachable.clone(),
            uniform,
            choices,
            candidates_run: self.candidates_run,
            compressions: self.compressions,
            timings: self.timings,
            rule: RULE.into(),
        })
    }
}

/// The whole search at once (CLI and tests); the page calls `step`.
pub fn run(search: &mut Search, progress: super::Progress<'_>) -> Result<TargetReport> {
    let total = search.total_steps();
    let mut done = 0;
    while let Some(stage) = search.step()? {
        done += 1;
        progress(stage, done.min(total), total);
    }
    search.report()
}
