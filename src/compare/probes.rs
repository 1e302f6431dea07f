//! Edge-case probes: the inputs perturbed on purpose at growing severity,
//! both models run on them. The robustness gap — what the compressed model
//! loses under a probe beyond what the original loses — says whether
//! compression made the model more brittle than it already was. Seeded:
//! the same options perturb the same way on every platform.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use super::metrics::Figure;
use super::outputs::{Collected, OutputKind, OutputReport};
use super::text_probes::{change_text, TextChange};
use super::{Feed, Progress, Texts};
use crate::error::{Result, SquishError};
use crate::formats::data::feeds::text_feeds_of_length;
use crate::runtime::Session;
use crate::tensor::Tensor;
use crate::train::fit::augment::batch_image_view;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProbeOptions {
    /// Probes by name, or a modality's set: `image` (noise, brightness,
    /// occlusion, blur), `text` (typo, drop, repeat, whitespace, truncate,
    /// case), `audio` (noise, gain, clipping), `tensor` (noise).
    pub kinds: Vec<String>,
    /// 1 = mild … 5 = harsh.
    pub severities: Vec<u32>,
    pub seed: u64,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        ProbeOptions { kinds: vec!["tensor".into()], severities: vec![1, 2, 3], seed: 0 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Probe {
    /// Gaussian noise of 0.1·severity times the input's standard deviation.
    Noise,
    /// Every value raised by 0.1·severity times the input's range.
    Brightness,
    /// A square of side 0.1·severity of the image's shorter side, at a
    /// random place, set to the input's smallest value.
    Occlusion,
    /// Each pixel the mean of the (2·severity+1)² square around it (edges clamped).
    Blur,
    /// The signal 6·severity dB quieter.
    Gain,
    /// Each example's values clipped at ±(1 − 0.15·severity) of its peak.
    Clipping,
    /// Texts changed before tokenising (`text_probes`).
    Typo,
    Drop,
    Repeat,
    Whitespace,
    Truncate,
    Case,
}

const PROBES: [(&str, Probe); 12] = [
    ("noise", Probe::Noise),
    ("brightness", Probe::Brightness),
    ("occlusion", Probe::Occlusion),
    ("blur", Probe::Blur),
    ("gain", Probe::Gain),
    ("clipping", Probe::Clipping),
    ("typo", Probe::Typo),
    ("drop", Probe::Drop),
    ("repeat", Probe::Repeat),
    ("whitespace", Probe::Whitespace),
    ("truncate", Probe::Truncate),
    ("case", Probe::Case),
];

const SETS: [(&str, &[Probe]); 4] = [
    ("image", &[Probe::Noise, Probe::Brightness, Probe::Occlusion, Probe::Blur]),
    ("text", &[Probe::Typo, Probe::Drop, Probe::Repeat, Probe::Whitespace, Probe::Truncate, Probe::Case]),
    ("audio", &[Probe::Noise, Probe::Gain, Probe::Clipping]),
    ("tensor", &[Probe::Noise]),
];

impl Probe {
    pub fn name(self) -> &'static str {
        PROBES.iter().find(|(_, p)| *p == self).map(|(n, _)| *n).expect("every probe is named")
    }

    /// The change a text probe makes to texts (None: the probe changes tensors).
    pub fn text_change(self) -> Option<TextChange> {
        Some(match self {
            Probe::Typo => TextChange::Typo,
            Probe::Drop => TextChange::Drop,
            Probe::Repeat => TextChange::Repeat,
            Probe::Whitespace => TextChange::Whitespace,
            Probe::Truncate => TextChange::Truncate,
            Probe::Case => TextChange::Case,
            _ => return None,
        })
    }

    fn rng(self, seed: u64, severity: u32) -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(seed ^ ((self as u64 + 1) << 32) ^ severity as u64)
    }
}

impl ProbeOptions {
    pub fn probes(&self) -> Result<Vec<Probe>> {
        let bad = |why: String| SquishError::invalid(format!("compare options: probes: {why}"));
        let mut out = Vec::new();
        for k in &self.kinds {
            let one = PROBES.iter().find(|(n, _)| n == k).map(|(_, p)| std::slice::from_ref(p));
            let add = one.or_else(|| SETS.iter().find(|(n, _)| n == k).map(|(_, set)| *set)).ok_or_else(|| {
                let names: Vec<&str> = PROBES.iter().map(|(n, _)| *n).chain(SETS.iter().map(|(n, _)| *n)).collect();
                bad(format!("unknown probe '{k}' ({})", names.join(", ")))
            })?;
            out.extend(add.iter().filter(|p| !out.contains(*p)).copied().collect::<Vec<_>>());
        }
        if out.is_empty() || self.severities.is_empty() || self.severities.iter().any(|s| !(1..=5).contains(s)) {
            return Err(bad("give at least one kind and severities from 1 to 5".into()));
        }
        Ok(out)
    }
}

/// The float input probes change: the one with the most values per input set
/// (an image or a signal rather than, say, a recurrent model's state).
pub fn probed_input(feeds: &[Feed]) -> Option<String> {
    let first = feeds.first()?;
    first.iter().filter(|(_, t)| matches!(t, Tensor::F32(_))).max_by_key(|(_, t)| t.len()).map(|(n, _)| n.clone())
}

/// Mean, standard deviation, smallest and largest value of input `name` over all feeds.
fn input_stats(feeds: &[Feed], name: &str) -> (f64, f64, f64, f64) {
    let (mut n, mut sum, mut sq, mut lo, mut hi) = (0usize, 0.0, 0.0, f64::INFINITY, f64::NEG_INFINITY);
    for (_, t) in feeds.iter().flatten().filter(|(m, _)| m == name) {
        if let Tensor::F32(a) = t {
            for &v in a.iter().filter(|v| v.is_finite()) {
                let v = v as f64;
                (n, sum, sq, lo, hi) = (n + 1, sum + v, sq + v * v, lo.min(v), hi.max(v));
            }
        }
    }
    let mean = sum / n.max(1) as f64;
    (mean, (sq / n.max(1) as f64 - mean * mean).max(0.0).sqrt(), lo, hi)
}

/// The feeds with the probed input (`probed_input`) perturbed by `probe` at `severity`.
pub fn perturb(feeds: &[Feed], probe: Probe, severity: u32, seed: u64) -> Result<Vec<Feed>> {
    if probe.text_change().is_some() {
        return Err(SquishError::invalid(format!(
            "probe '{}' changes texts before tokenising: give the texts and a tokenizer (--text LINES.txt --tokenizer tokenizer.json)",
            probe.name()
        )));
    }
    let mut rng = probe.rng(seed, severity);
    let Some(name) = probed_input(feeds) else {
        return Err(SquishError::invalid(format!("probe '{}' changes float inputs; the model has none", probe.name())));
    };
    let (_, std, lo, hi) = input_stats(feeds, &name);
    let amount = 0.1 * severity as f64;
    let mut out = feeds.to_vec();
    for feed in out.iter_mut() {
        let Some((_, Tensor::F32(a))) = feed.iter_mut().find(|(n, _)| *n == name) else { continue };
        match probe {
            Probe::Noise => a.mapv_inplace(|v| v + (amount * std) as f32 * rng.sample::<f32, _>(StandardNormal)),
            Probe::Brightness => a.mapv_inplace(|v| v + (amount * (hi - lo)) as f32),
            Probe::Gain => a.mapv_inplace(|v| v * 10f32.powf(-6.0 * severity as f32 / 20.0)),
            Probe::Occlusion | Probe::Blur | Probe::Clipping => {
                let shape = a.shape().to_vec();
                let data = a.as_slice_mut().ok_or_else(|| SquishError::input(name.as_str(), "not contiguous"))?;
                per_example(data, &shape, &name, probe, severity, lo as f32, &mut rng)?;
            }
            _ => unreachable!("text probes returned above"),
        }
    }
    Ok(out)
}

/// Occlusion, blur and clipping, which act on each example (image or signal) on its own.
fn per_example(data: &mut [f32], shape: &[usize], name: &str, probe: Probe, severity: u32, lo: f32, rng: &mut ChaCha8Rng) -> Result<()> {
    if probe == Probe::Clipping {
        let batch = shape.first().copied().unwrap_or(1).max(1);
        let per = data.len() / batch;
        for example in data.chunks_mut(per.max(1)) {
            let peak = example.iter().fold(0f32, |m, v| if v.is_finite() { m.max(v.abs()) } else { m });
            let limit = (1.0 - 0.15 * severity as f32) * peak;
            example.iter_mut().for_each(|v| *v = v.clamp(-limit, limit));
        }
        return Ok(());
    }
    let Some([planes, h, w]) = batch_image_view(shape) else {
        return Err(SquishError::input(name, format!("probe '{}' needs images; this input has shape {shape:?}", probe.name())));
    };
    for example in data.chunks_mut(planes * h * w) {
        if probe == Probe::Blur {
            example.chunks_mut(h * w).for_each(|plane| box_blur(plane, h, w, severity as usize));
            continue;
        }
        let side = ((h.min(w) as f64 * 0.1 * severity as f64).ceil() as usize).clamp(1, h.min(w));
        let (y0, x0) = (rng.random_range(0..=(h - side) as u64) as usize, rng.random_range(0..=(w - side) as u64) as usize);
        for p in 0..planes {
            for y in y0..y0 + side {
                example[(p * h + y) * w + x0..(p * h + y) * w + x0 + side].fill(lo);
            }
        }
    }
    Ok(())
}

/// The texts changed by text probe `probe` at `severity` (seeded as `perturb`).
pub fn perturb_texts(texts: &[String], probe: Probe, severity: u32, seed: u64) -> Result<Vec<String>> {
    let change = probe.text_change().ok_or_else(|| SquishError::invalid(format!("probe '{}' changes tensors, not texts", probe.name())))?;
    let mut rng = probe.rng(seed, severity);
    Ok(texts.iter().map(|t| change_text(t, change, severity, &mut rng)).collect())
}

/// Each value the mean of the (2r+1)² square around it, coordinates clamped to the plane.
fn box_blur(plane: &mut [f32], h: usize, w: usize, r: usize) {
    let src = plane.to_vec();
    let clamp = |v: isize, n: usize| v.clamp(0, n as isize - 1) as usize;
    let count = ((2 * r + 1) * (2 * r + 1)) as f32;
    for y in 0..h {
        for x in 0..w {
            let mut sum = 0.0f32;
            for dy in -(r as isize)..=r as isize {
                for dx in -(r as isize)..=r as isize {
                    sum += src[clamp(y as isize + dy, h) * w + clamp(x as isize + dx, w)];
                }
            }
            plane[y * w + x] = sum / count;
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ProbeRow {
    /// None for the clean inputs (severity 0).
    pub probe: Option<Probe>,
    pub severity: u32,
    /// Each model's figure on the probed input against the original on the
    /// clean input: agreement, mean cosine, or mean absolute difference.
    pub original: f64,
    pub compressed: f64,
    pub accuracy_original: Option<f64>,
    pub accuracy_compressed: Option<f64>,
    /// What the compressed model loses beyond what the original loses
    /// (accuracy with labels, else the figure above); above 0: more brittle.
    pub gap: f64,
    /// Text probes: the share of texts whose tokens the probe changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SkippedProbe {
    pub probe: Probe,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Probes {
    pub output: String,
    /// The input changed: a float input's name, or "text" (texts changed
    /// before tokenising).
    pub inputs: Vec<String>,
    pub figure: Figure,
    pub seed: u64,
    /// The figures on the clean inputs (severity 0).
    pub clean: ProbeRow,
    pub rows: Vec<ProbeRow>,
    /// Probes that could not change any input (e.g. casing for a tokenizer
    /// that lowercases), and why.
    pub skipped: Vec<SkippedProbe>,
}

/// The clean comparison the probes are measured against.
#[derive(Clone, Copy)]
pub struct Clean<'a> {
    pub collected: &'a [Collected],
    pub reports: &'a [OutputReport],
    /// Class indices of the probed output's examples.
    pub labels: Option<&'a [usize]>,
    /// Index of the output judged (`on_the_job_output`).
    pub output: usize,
}

/// Runs every probe at every severity through both models on the output
/// `clean.output`. Text probes need `texts`, the texts `feeds` were made from.
pub fn run(
    original: &Session,
    compressed: &Session,
    feeds: &[Feed],
    texts: Option<&Texts>,
    clean_run: Clean,
    options: &ProbeOptions,
    progress: Progress<'_>,
) -> Result<Probes> {
    let Clean { collected, reports, labels, output: k } = clean_run;
    let probes = options.probes()?;
    let (name, clean) = (&reports[k].name, &collected[k]);
    let kind = Figure::for_output(reports[k].kind == OutputKind::Classification, clean.example_shape.iter().product());
    let figure = |rows: &[Vec<f64>]| -> (f64, Option<f64>) { score(&clean.original, rows, kind, labels) };
    let (clean_o, acc_o) = figure(&clean.original);
    let (clean_c, acc_c) = figure(&clean.compressed);
    // What each model loses under the probe (accuracy with labels, else the
    // figure); the gap is the compressed model's loss beyond the original's.
    let row = |probe, severity, (o, ao): (f64, Option<f64>), (c, ac): (f64, Option<f64>), changed| {
        let gap = match (acc_o, ao, acc_c, ac) {
            (Some(clean_ao), Some(ao), Some(clean_ac), Some(ac)) => (clean_ac - ac) - (clean_ao - ao),
            _ => kind.loss(clean_c, c) - kind.loss(clean_o, o),
        };
        ProbeRow { probe: Some(probe), severity, original: o, compressed: c, accuracy_original: ao, accuracy_compressed: ac, gap, changed }
    };
    let total = probes.len() * options.severities.len();
    let (mut rows, mut skipped, mut inputs) = (Vec::with_capacity(total), Vec::new(), Vec::new());
    for (i, &probe) in probes.iter().enumerate() {
        let runs = match probe.text_change() {
            Some(_) => match probed_texts(original, feeds, texts, probe, options)? {
                Ok(runs) => runs,
                Err(reason) => {
                    skipped.push(SkippedProbe { probe, reason });
                    continue;
                }
            },
            None => options.severities.iter().map(|&s| Ok((s, perturb(feeds, probe, s, options.seed)?, None))).collect::<Result<Vec<_>>>()?,
        };
        let input = if probe.text_change().is_some() { "text".to_string() } else { probed_input(feeds).unwrap_or_default() };
        if !inputs.contains(&input) {
            inputs.push(input);
        }
        for (j, (severity, probed, changed)) in runs.into_iter().enumerate() {
            progress("probes", i * options.severities.len() + j, total);
            let mut got = Collected::default();
            for feed in probed {
                let (ro, rc) = (original.run(feed.clone())?, compressed.run(feed)?);
                got.push(name, &ro.outputs[k].1, &rc.outputs[k].1)?;
            }
            rows.push(row(probe, severity, figure(&got.original), figure(&got.compressed), changed));
        }
    }
    let clean_row = ProbeRow {
        probe: None,
        severity: 0,
        original: clean_o,
        compressed: clean_c,
        accuracy_original: acc_o,
        accuracy_compressed: acc_c,
        gap: 0.0,
        changed: None,
    };
    Ok(Probes { output: name.clone(), inputs, figure: kind, seed: options.seed, clean: clean_row, rows, skipped })
}

type ProbedRuns = Vec<(u32, Vec<Feed>, Option<f64>)>;

/// A text probe's input sets per severity, tokenised at the clean input
/// sets' length (so that every output keeps its shape), with the share of
/// texts whose tokens changed; or why the probe is skipped (no severity
/// changed any text's tokens).
fn probed_texts(
    session: &Session,
    feeds: &[Feed],
    texts: Option<&Texts>,
    probe: Probe,
    options: &ProbeOptions,
) -> Result<std::result::Result<ProbedRuns, String>> {
    let texts = texts.ok_or_else(|| {
        SquishError::invalid(format!(
            "probe '{}' changes texts before tokenising: give the texts and a tokenizer (--text LINES.txt --tokenizer tokenizer.json)",
            probe.name()
        ))
    })?;
    if texts.texts.len() != feeds.len() {
        return Err(SquishError::invalid(format!("text probes: {} texts for {} input sets (one input set per text)", texts.texts.len(), feeds.len())));
    }
    let length = feeds[0].iter().find(|(_, t)| !t.dtype().is_float()).and_then(|(_, t)| t.shape().get(1).copied());
    let length = length.ok_or_else(|| SquishError::invalid("text probes: the input sets have no [1, length] token input"))?;
    let mut runs = Vec::new();
    for &severity in &options.severities {
        let changed_texts = perturb_texts(texts.texts, probe, severity, options.seed)?;
        let probed = text_feeds_of_length(session.model(), texts.tokenizer, &changed_texts, length)?;
        let changed = probed.iter().zip(feeds).filter(|(a, b)| a != b).count() as f64 / feeds.len() as f64;
        runs.push((severity, probed, Some(changed)));
    }
    if runs.iter().all(|(_, _, c)| *c == Some(0.0)) {
        return Ok(Err(format!("the tokenizer gives the same tokens for every text at every severity ({})", probe_note(probe))));
    }
    Ok(Ok(runs))
}

/// What a probe that changes nothing most likely ran into.
fn probe_note(probe: Probe) -> &'static str {
    match probe {
        Probe::Case => "it lowercases",
        Probe::Whitespace => "it ignores where words break",
        _ => "it normalises the change away",
    }
}

/// The mean `figure` of `rows` against the clean original's `reference`
/// rows, and with labels the accuracy of their top-1.
fn score(reference: &[Vec<f64>], rows: &[Vec<f64>], figure: Figure, labels: Option<&[usize]>) -> (f64, Option<f64>) {
    let n = rows.len().max(1) as f64;
    let mean = rows.iter().zip(reference).map(|(a, b)| figure.of(a, b)).sum::<f64>() / n;
    let top = |r: &Vec<f64>| super::metrics::argmax(r);
    let accuracy = labels.filter(|_| figure == Figure::Agreement).map(|l| rows.iter().zip(l).filter(|(r, &y)| top(r) == y).count() as f64 / n);
    (mean, accuracy)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(v: Vec<f32>, shape: &[usize]) -> Feed {
        vec![("x".into(), Tensor::from_vec(shape, v).unwrap())]
    }

    #[test]
    fn perturbations_are_seeded_and_scaled_by_severity() {
        let feeds = vec![feed((0..64).map(|i| i as f32).collect(), &[1, 64])];
        let a = perturb(&feeds, Probe::Noise, 1, 7).unwrap();
        assert_eq!(a, perturb(&feeds, Probe::Noise, 1, 7).unwrap(), "seeded");
        let spread = |f: &[Feed], s| {
            let d: Vec<f64> = f[0][0].1.to_f64_vec().iter().zip(feeds[0][0].1.to_f64_vec()).map(|(a, b)| a - b).collect();
            (d.iter().map(|v| v * v).sum::<f64>() / d.len() as f64).sqrt() / (0.1 * s as f64 * 18.47)
        };
        // The input's standard deviation is √((64²−1)/12) ≈ 18.47: the noise's is 0.1·severity of it.
        for s in [1, 3] {
            let r = spread(&perturb(&feeds, Probe::Noise, s, 7).unwrap(), s);
            assert!((0.7..1.3).contains(&r), "severity {s}: ratio {r}");
        }
        let b = perturb(&feeds, Probe::Brightness, 2, 0).unwrap();
        assert_eq!(b[0][0].1.to_f64_vec()[0], (0.2f64 * 63.0) as f32 as f64);
        // Occlusion on the 8×8 view: a 2×2 patch (severity 2: ceil(1.6)) of the smallest value.
        let o = perturb(&feeds, Probe::Occlusion, 2, 0).unwrap()[0][0].1.to_f64_vec();
        let changed: Vec<usize> = (0..64).filter(|&i| o[i] != i as f64).collect();
        assert!((3..=4).contains(&changed.len()) && changed.iter().all(|&i| o[i] == 0.0), "{changed:?}");
        // Blur at severity 1 on a single bright pixel in the middle of a 3×3 image: the mean of 3×3 everywhere.
        let dot = perturb(&[feed(vec![0.0, 0.0, 0.0, 0.0, 9.0, 0.0, 0.0, 0.0, 0.0], &[1, 9])], Probe::Blur, 1, 0).unwrap();
        assert_eq!(dot[0][0].1.to_f64_vec(), vec![1.0; 9]);
        let corner = perturb(&[feed(vec![9.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], &[1, 9])], Probe::Blur, 1, 0).unwrap()[0][0].1.to_f64_vec();
        // Clamped edges: the corner is counted 4 times in its own square.
        assert_eq!((corner[0], corner[1], corner[4], corner[8]), (4.0, 2.0, 1.0, 0.0));
        let e = perturb(&[feed(vec![1.0; 10], &[1, 10])], Probe::Occlusion, 1, 0).unwrap_err().to_string();
        assert!(e.contains("'x'") && e.contains("needs images"), "{e}");
    }

    #[test]
    fn audio_probes_by_hand_change_the_signal_only() {
        // A signal [2, 4] and a state [1, 2]: only the signal (most values) is probed.
        let feeds = vec![vec![
            ("state".to_string(), Tensor::from_vec(&[1, 2], vec![1.0f32, 2.0]).unwrap()),
            ("wave".to_string(), Tensor::from_vec(&[2, 4], vec![0.5f32, -1.0, 0.25, 0.0, 2.0, -0.5, 1.0, -2.0]).unwrap()),
        ]];
        assert_eq!(probed_input(&feeds).as_deref(), Some("wave"));
        let got = |probe, s| perturb(&feeds, probe, s, 0).unwrap()[0].clone();
        // Gain at severity 1: 6 dB quieter (×0.501).
        let g = got(Probe::Gain, 1);
        assert_eq!(g[0].1.to_f64_vec(), vec![1.0, 2.0], "the state is left alone");
        assert!((g[1].1.to_f64_vec()[4] - 2.0 * 10f64.powf(-0.3)).abs() < 1e-6);
        // Clipping at severity 2: each example clipped at ±0.7 of its own peak (1 and 2).
        let c = got(Probe::Clipping, 2)[1].1.to_f64_vec();
        let want = [0.5, -0.7, 0.25, 0.0, 1.4, -0.5, 1.0, -1.4];
        assert!(c.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-6), "{c:?}");
        let e = perturb(&feeds, Probe::Typo, 1, 0).unwrap_err().to_string();
        assert!(e.contains("probe 'typo' changes texts"), "{e}");
        let e = perturb_texts(&["a b".into()], Probe::Gain, 1, 0).unwrap_err().to_string();
        assert!(e.contains("'gain' changes tensors"), "{e}");
    }

    #[test]
    fn scores_by_hand() {
        let clean = vec![vec![0.9, 0.1], vec![0.2, 0.8], vec![0.6, 0.4]];
        let probed = vec![vec![0.4, 0.6], vec![0.2, 0.8], vec![0.7, 0.3]];
        let (agree, acc) = score(&clean, &probed, Figure::Agreement, Some(&[0, 1, 1]));
        assert!((agree - 2.0 / 3.0).abs() < 1e-12);
        assert!((acc.unwrap() - 1.0 / 3.0).abs() < 1e-12);
        let (cos, none) = score(&clean, &clean, Figure::Cosine, None);
        assert!((cos - 1.0).abs() < 1e-12 && none.is_none());
        // One value per example: mean |Δ| = (0.1 + 0.3) / 2; more error is a loss.
        let (err, _) = score(&[vec![0.5], vec![0.2]], &[vec![0.6], vec![0.5]], Figure::AbsError, None);
        assert!((err - 0.2).abs() < 1e-12);
        assert_eq!(Figure::for_output(false, 1), Figure::AbsError);
        assert!(Figure::AbsError.loss(0.1, 0.3) > 0.0 && Figure::Cosine.loss(0.9, 0.7) > 0.0);
    }

    #[test]
    fn bad_probe_options_are_named() {
        let e = ProbeOptions { kinds: vec!["rain".into()], ..Default::default() }.probes().unwrap_err().to_string();
        assert!(e.contains("unknown probe 'rain'"), "{e}");
        let e = ProbeOptions { severities: vec![9], ..Default::default() }.probes().unwrap_err().to_string();
        assert!(e.contains("severities from 1 to 5"), "{e}");
        assert_eq!(ProbeOptions { kinds: vec!["image".into(), "noise".into()], ..Default::default() }.probes().unwrap().len(), 4);
        let audio = ProbeOptions { kinds: vec!["audio".into(), "text".into()], ..Default::default() }.probes().unwrap();
        assert_eq!(
            audio.iter().map(|p| p.name()).collect::<Vec<_>>(),
            ["noise", "gain", "clipping", "typo", "drop", "repeat", "whitespace", "truncate", "case"]
        );
    }
}
