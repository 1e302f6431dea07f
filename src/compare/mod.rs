//! Compare an original and a compressed model on the same inputs: output
//! metrics, per-layer diagnosis, latency and size. Everything here is
//! computed in Rust so the page, the widget and the CLI report the same
//! numbers.

#[cfg(test)]
mod engine_tests;
pub mod group_scan;
pub mod layers;
pub mod markdown;
pub mod metrics;
pub mod on_the_job;
pub mod outputs;
pub mod probes;
pub mod sensitivity;
pub mod slices;
pub mod sparsity_scan;
pub mod target;
pub mod text_probes;

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::compress::Record;
use crate::error::{Result, SquishError};
use crate::runtime::{clock, Session};
use crate::tensor::Tensor;
use layers::{Alignment, Diagnosis, Stats};
use outputs::{Collected, OutputKind, OutputReport};

pub use crate::formats::data::feeds::Feed;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Options {
    /// k of the top-k agreement.
    pub top_k: usize,
    /// Flipped examples listed in full (all are counted).
    pub max_flips: usize,
    /// Per-layer diagnosis (runs both models keeping each value briefly).
    pub layers: bool,
    /// Timed runs per model (0: no latency), after `warmup_runs` untimed ones.
    pub latency_runs: usize,
    pub warmup_runs: usize,
    /// Output kind by output name, where the guess is wrong.
    pub kinds: BTreeMap<String, OutputKind>,
    /// Classification outputs: figures per class and the class pairs flips go between.
    pub per_class: bool,
    /// Classification outputs: the hand-back curve (the compressed model
    /// answers when confident, the original the rest) and the threshold
    /// keeping agreement ≥ `handback_target`.
    pub handback: bool,
    pub handback_target: f64,
    /// Edge-case probes: inputs perturbed at growing severity, both models on them.
    pub probes: Option<probes::ProbeOptions>,
    /// Figures per slice of the inputs (by a feature of each input, or the user's names).
    pub slices: Option<slices::SliceOptions>,
    /// The output slices and probes judge (default: the first classification
    /// output, else the first output).
    pub on_the_job_output: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            top_k: 5,
            max_flips: 100,
            layers: true,
            latency_runs: 10,
            warmup_runs: 3,
            kinds: BTreeMap::new(),
            per_class: false,
            handback: false,
            handback_target: 0.995,
            probes: None,
            slices: None,
            on_the_job_output: None,
        }
    }
}

impl Options {
    pub fn from_json(text: &str) -> Result<Options> {
        if text.trim().is_empty() {
            return Ok(Options::default());
        }
        let o: Options = serde_json::from_str(text).map_err(|e| SquishError::invalid(format!("compare options: {e}")))?;
        if let Some(p) = &o.probes {
            p.probes()?;
        }
        if let Some(sl) = &o.slices {
            sl.check()?;
        }
        if !(o.handback_target.is_finite() && (0.0..=1.0).contains(&o.handback_target)) {
            return Err(SquishError::invalid(format!("compare options: handback_target is an agreement from 0 to 1, got {}", o.handback_target)));
        }
        Ok(o)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub runs: usize,
    pub original_median_ms: f64,
    pub compressed_median_ms: f64,
    /// original / compressed (above 1: the compressed model is faster).
    pub speedup: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Size {
    pub raw: usize,
    /// gzip at level 1 (nginx's default; `formats::gzip_len`).
    pub gzip: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Sizes {
    pub original: Size,
    pub compressed: Size,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema: u32,
    /// Input sets run through both models.
    pub samples: usize,
    pub outputs: Vec<OutputReport>,
    pub layers: Option<Diagnosis>,
    pub latency: Option<Latency>,
    pub sizes: Option<Sizes>,
    pub sensitivity: Option<sensitivity::Sensitivity>,
    pub probes: Option<probes::Probes>,
    pub slices: Option<slices::Slices>,
}

pub const REPORT_SCHEMA: u32 = 1;

/// The texts input sets were tokenised from (one per input set), for text probes.
#[derive(Clone, Copy)]
pub struct Texts<'a> {
    pub tokenizer: &'a crate::formats::tokenizer::Tokenizer,
    pub texts: &'a [String],
}

/// What both models run on: input sets, labels (one class per example,
/// or one-hot rows; they apply to the classification outputs) and, for
/// text probes, the texts.
#[derive(Clone, Copy)]
pub struct Inputs<'a> {
    pub feeds: &'a [Feed],
    pub labels: Option<&'a Tensor>,
    pub texts: Option<Texts<'a>>,
}

impl<'a> Inputs<'a> {
    pub fn new(feeds: &'a [Feed]) -> Self {
        Inputs { feeds, labels: None, texts: None }
    }

    pub fn labels(self, labels: Option<&'a Tensor>) -> Self {
        Inputs { labels, ..self }
    }
}

/// Progress: (stage, done, total).
pub type Progress<'a> = &'a mut dyn FnMut(&str, usize, usize);

/// Runs both sessions on every feed and reports the differences. Make the
/// sessions with `Session::for_comparison` so that every float value is
/// computed under its own name (a plain session fuses Conv → Relu|Clip).
/// `record` (from `compress::compress`) marks which layers changed.
pub fn compare(original: &Session, compressed: &Session, inputs: Inputs, record: Option<&Record>, options: &Options, progress: Progress<'_>) -> Result<Report> {
    let Inputs { feeds, labels, texts } = inputs;
    if feeds.is_empty() {
        return Err(SquishError::input("(inputs)", "no inputs were given: compare needs at least one input set"));
    }
    check_same_interface(original, compressed)?;
    let (om, cm) = (original.model(), compressed.model());
    // Checked before any run: a typo should not cost a whole comparison.
    for name in options.kinds.keys().chain(&options.on_the_job_output) {
        if !om.graph.outputs.iter().any(|o| &o.name == name) {
            return Err(SquishError::invalid(format!("compare options: the model has no output '{name}'")));
        }
    }
    let alignment = options.layers.then(|| Alignment::new(om, cm, record));
    let (collected, stats, local) = run_both(original, compressed, feeds, alignment.as_ref(), progress)?;
    let (reports, label_idx) = output_reports(om, &collected, labels, options)?;
    let judged = match &options.on_the_job_output {
        Some(name) => reports.iter().position(|r| &r.name == name).unwrap_or(0),
        None => reports.iter().position(|r| r.kind == OutputKind::Classification).unwrap_or(0),
    };
    let clean = probes::Clean { collected: &collected, reports: &reports, labels: label_idx[judged].as_deref(), output: judged };
    let (slices, probes) = on_the_job(original, compressed, feeds, texts.as_ref(), clean, options, progress)?;
    let layers = alignment.map(|al| al.diagnose(om, &stats, &local));
    let latency = if options.latency_runs > 0 {
        // Timed as the models run in use: with every load-time fusion (the
        // comparison sessions keep each float value, which costs time).
        progress("timing", 0, 2);
        let a = median_latency(&Session::new(original.shared_model())?, &feeds[0], options)?;
        progress("timing", 1, 2);
        let b = median_latency(&Session::new(compressed.shared_model())?, &feeds[0], options)?;
        Some(Latency { runs: options.latency_runs, original_median_ms: a, compressed_median_ms: b, speedup: a / b.max(1e-9) })
    } else {
        None
    };
    Ok(Report { schema: REPORT_SCHEMA, samples: feeds.len(), outputs: reports, layers, latency, sizes: None, sensitivity: None, probes, slices })
}

/// The compressed model must take the same inputs and give the same outputs.
fn check_same_interface(original: &Session, compressed: &Session) -> Result<()> {
    let names = |s: &Session, outputs: bool| -> Vec<String> {
        let g = &s.model().graph;
        if outputs {
            g.outputs.iter().map(|v| v.name.clone()).collect()
        } else {
            g.real_inputs().map(|v| v.name.clone()).collect()
        }
    };
    for (what, outs) in [("inputs", false), ("outputs", true)] {
        let (a, b) = (names(original, outs), names(compressed, outs));
        if a != b {
            return Err(SquishError::invalid(format!("the two models have different {what}: original [{}], compressed [{}]", a.join(", "), b.join(", "))));
        }
    }
    Ok(())
}

type LayerStats = HashMap<String, Stats>;

/// Both models on every input set: each output's rows and, with an
/// alignment, every aligned value's cumulative and local statistics.
fn run_both(
    original: &Session,
    compressed: &Session,
    feeds: &[Feed],
    alignment: Option<&Alignment>,
    progress: Progress<'_>,
) -> Result<(Vec<Collected>, LayerStats, LayerStats)> {
    let mut stats: HashMap<String, Stats> = HashMap::new();
    let mut local: HashMap<String, Stats> = HashMap::new();
    let mut collected: Vec<Collected> = original.model().graph.outputs.iter().map(|_| Collected::default()).collect();
    for (i, feed) in feeds.iter().enumerate() {
        progress("running both models", i, feeds.len());
        let (ro, rc) = match alignment {
            Some(al) => {
                let mut kept: HashMap<String, Tensor> = HashMap::new();
                let ro = original.run_observed(feed.clone(), &mut |name, t| {
                    if al.wants(name, t) {
                        kept.insert(name.to_string(), t.clone());
                    }
                    Ok(())
                })?;
                // Cumulative error: the compressed model on its own.
                let rc = compressed.run_observed(feed.clone(), &mut |name, t| {
                    if let Some(o) = kept.get(name) {
                        stats.entry(name.to_string()).or_default().add(o, t);
                    }
                    Ok(())
                })?;
                // Local error: each aligned value is compared, then replaced by
                // the original's, so the next layer starts from exact inputs.
                compressed.run_observed(feed.clone(), &mut |name, t| {
                    if let Some(o) = kept.remove(name) {
                        let s = local.entry(name.to_string()).or_default();
                        s.add(&o, t);
                        if s.mismatch.is_none() && o.dtype() == t.dtype() {
                            *t = o;
                        }
                    }
                    Ok(())
                })?;
                (ro, rc)
            }
            None => (original.run(feed.clone())?, compressed.run(feed.clone())?),
        };
        for ((c, (name, a)), (_, b)) in collected.iter_mut().zip(&ro.outputs).zip(&rc.outputs) {
            c.push(name, a, b)?;
        }
    }
    Ok((collected, stats, local))
}

/// Labels as class indices, per output (None for the outputs they do not apply to).
type LabelIndices = Vec<Option<Vec<usize>>>;

/// One report per output: its kind (given or guessed) and metrics; labels
/// must apply to some classification output. Also the labels as class
/// indices of each classification output (what slices and probes read).
fn output_reports(om: &crate::ir::Model, collected: &[Collected], labels: Option<&Tensor>, options: &Options) -> Result<(Vec<OutputReport>, LabelIndices)> {
    let mut reports = Vec::new();
    let mut indices = Vec::new();
    for (vi, c) in om.graph.outputs.iter().zip(collected) {
        let kind = options.kinds.get(&vi.name).copied().unwrap_or_else(|| outputs::guess_kind(&vi.name, c));
        let classification = if kind == OutputKind::Classification {
            let classes = c.example_shape.iter().product::<usize>();
            let idx = labels.map(|l| outputs::label_indices(l, c.original.len(), classes)).transpose()?;
            let metrics = outputs::classification(c, idx.as_deref(), options);
            indices.push(idx);
            Some(metrics)
        } else {
            indices.push(None);
            None
        };
        reports.push(OutputReport {
            name: vi.name.clone(),
            kind,
            examples: c.original.len(),
            example_shape: c.example_shape.clone(),
            regression: outputs::regression(c),
            classification,
        });
    }
    if labels.is_some() && indices.iter().all(Option::is_none) {
        return Err(SquishError::DataFile {
            format: "labels",
            detail: "labels were given but no output is a classification (set its kind to \"classification\")".into(),
        });
    }
    Ok((reports, indices))
}

/// Slices and probes, when asked for.
fn on_the_job(
    original: &Session,
    compressed: &Session,
    feeds: &[Feed],
    texts: Option<&Texts>,
    clean: probes::Clean,
    options: &Options,
    progress: Progress<'_>,
) -> Result<(Option<slices::Slices>, Option<probes::Probes>)> {
    // `auto` slices what it can read: inputs it cannot (no batch axis that
    // matches the examples) leave the report without slices, not without a comparison.
    let sliced = match &options.slices {
        Some(o) => match slices::slices(&clean, feeds, o) {
            Ok(s) => Some(s),
            Err(_) if o.by == "auto" && o.names.is_none() => None,
            Err(e) => return Err(e),
        },
        None => None,
    };
    let probed = options.probes.as_ref().map(|p| probes::run(original, compressed, feeds, texts, clean, p, progress)).transpose()?;
    Ok((sliced, probed))
}

/// Median wall time of `latency_runs` runs after `warmup_runs` untimed ones.
pub fn median_latency(session: &Session, feed: &Feed, options: &Options) -> Result<f64> {
    for _ in 0..options.warmup_runs {
        session.run(feed.clone())?;
    }
    let mut times = Vec::with_capacity(options.latency_runs);
    for _ in 0..options.latency_runs {
        let f = feed.clone();
        let t0 = clock::now_ms();
        session.run(f)?;
        times.push(clock::now_ms() - t0);
    }
    Ok(median(&mut times))
}

pub fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Raw and gzip size of a file.
pub fn size_of(bytes: &[u8]) -> Size {
    Size { raw: bytes.len(), gzip: crate::formats::gzip_len(bytes) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_by_hand() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&mut []), 0.0);
    }

    #[test]
    fn gzip_shrinks_repetition() {
        let s = size_of(&[7u8; 10_000]);
        assert_eq!(s.raw, 10_000);
        assert!(s.gzip < 200, "{}", s.gzip);
        // And gunzips back (a real gzip stream).
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        std::io::Write::write_all(&mut enc, b"squish").unwrap();
        let z = enc.finish().unwrap();
        let mut out = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&z[..]), &mut out).unwrap();
        assert_eq!(out, "squish");
    }
}
