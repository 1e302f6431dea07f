//! Edge-case probes: the inputs perturbed on purpose at growing severity,
//! both models run on them. The robustness gap — what the compressed model
//! loses under a probe beyond what the original loses — says whether
//! compression made the model more brittle than it already was. Seeded:
//! the same options perturb the same way on every platform.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use super::outputs::{Collected, OutputKind, OutputReport};
use super::{Feed, Progress};
use crate::error::{Result, SquishError};
use crate::runtime::Session;
use crate::tensor::Tensor;
use crate::train::fit::augment::batch_image_view;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProbeOptions {
    /// `noise`, `brightness`, `occlusion`; `image` is all three, `tensor` noise.
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
}

impl ProbeOptions {
    pub fn probes(&self) -> Result<Vec<Probe>> {
        let bad = |why: String| SquishError::invalid(format!("compare options: probes: {why}"));
        let mut out = Vec::new();
        for k in &self.kinds {
            let add: &[Probe] = match k.as_str() {
                "noise" | "tensor" => &[Probe::Noise],
                "brightness" => &[Probe::Brightness],
                "occlusion" => &[Probe::Occlusion],
                "blur" => &[Probe::Blur],
                "image" => &[Probe::Noise, Probe::Brightness, Probe::Occlusion, Probe::Blur],
                other => return Err(bad(format!("unknown probe '{other}' (noise, brightness, occlusion, blur, image, tensor)"))),
            };
            out.extend(add.iter().filter(|p| !out.contains(*p)).copied().collect::<Vec<_>>());
        }
        if out.is_empty() || self.severities.is_empty() || self.severities.iter().any(|s| !(1..=5).contains(s)) {
            return Err(bad("give at least one kind and severities from 1 to 5".into()));
        }
        Ok(out)
    }
}

/// Per float input over all feeds: mean, standard deviation, smallest and largest value.
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

/// The feeds with every float input perturbed by `probe` at `severity`.
pub fn perturb(feeds: &[Feed], probe: Probe, severity: u32, seed: u64) -> Result<Vec<Feed>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ ((probe as u64 + 1) << 32) ^ severity as u64);
    let names: Vec<String> = feeds.first().map(|f| f.iter().filter(|(_, t)| matches!(t, Tensor::F32(_))).map(|(n, _)| n.clone()).collect()).unwrap_or_default();
    if names.is_empty() {
        return Err(SquishError::invalid(format!("probe '{}' changes float inputs; the model has none", probe_name(probe))));
    }
    let stats: Vec<(f64, f64, f64, f64)> = names.iter().map(|n| input_stats(feeds, n)).collect();
    let amount = 0.1 * severity as f64;
    let mut out = feeds.to_vec();
    for feed in out.iter_mut() {
        for (name, t) in feed.iter_mut() {
            let (Some(k), Tensor::F32(a)) = (names.iter().position(|n| n == name), t) else { continue };
            let (_, std, lo, hi) = stats[k];
            match probe {
                Probe::Noise => a.mapv_inplace(|v| v + (amount * std) as f32 * rng.sample::<f32, _>(StandardNormal)),
                Probe::Brightness => a.mapv_inplace(|v| v + (amount * (hi - lo)) as f32),
                Probe::Occlusion | Probe::Blur => {
                    let Some([planes, h, w]) = batch_image_view(a.shape()) else {
                        return Err(SquishError::input(
                            name.as_str(),
                            format!("probe '{}' needs images; this input has shape {:?}", probe_name(probe), a.shape()),
                        ));
                    };
                    let data = a.as_slice_mut().ok_or_else(|| SquishError::input(name.as_str(), "not contiguous"))?;
                    for example in data.chunks_mut(planes * h * w) {
                        if probe == Probe::Blur {
                            example.chunks_mut(h * w).for_each(|plane| box_blur(plane, h, w, severity as usize));
                            continue;
                        }
                        let side = ((h.min(w) as f64 * amount).ceil() as usize).clamp(1, h.min(w));
                        let (y0, x0) = (rng.random_range(0..=(h - side) as u64) as usize, rng.random_range(0..=(w - side) as u64) as usize);
                        for p in 0..planes {
                            for y in y0..y0 + side {
                                example[(p * h + y) * w + x0..(p * h + y) * w + x0 + side].fill(lo as f32);
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(out)
}

fn probe_name(p: Probe) -> &'static str {
    match p {
        Probe::Noise => "noise",
        Probe::Brightness => "brightness",
        Probe::Occlusion => "occlusion",
        Probe::Blur => "blur",
    }
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
    pub probe: Probe,
    pub severity: u32,
    /// Agreement with the original on the clean input (classification), or
    /// mean cosine to it (other outputs), of each model on the probed input.
    pub original: f64,
    pub compressed: f64,
    pub accuracy_original: Option<f64>,
    pub accuracy_compressed: Option<f64>,
    /// What the compressed model loses beyond what the original loses
    /// (accuracy with labels, else the figure above); above 0: more brittle.
    pub gap: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Probes {
    pub output: String,
    /// "agreement" or "cosine".
    pub figure: String,
    pub seed: u64,
    /// The figures on the clean inputs (severity 0).
    pub clean: ProbeRow,
    pub rows: Vec<ProbeRow>,
}

/// The clean comparison the probes are measured against.
pub struct Clean<'a> {
    pub collected: &'a [Collected],
    pub reports: &'a [OutputReport],
    /// Class indices of the probed output's examples.
    pub labels: Option<&'a [usize]>,
}

/// Runs every probe at every severity through both models (the output
/// probed is the first classification output, else the first).
pub fn run(original: &Session, compressed: &Session, feeds: &[Feed], clean_run: Clean, options: &ProbeOptions, progress: Progress<'_>) -> Result<Probes> {
    let Clean { collected, reports, labels } = clean_run;
    let probes = options.probes()?;
    let k = reports.iter().position(|r| r.kind == OutputKind::Classification).unwrap_or(0);
    let (name, clean) = (&reports[k].name, &collected[k]);
    let classify = reports[k].kind == OutputKind::Classification;
    let figure = |rows: &[Vec<f64>]| -> (f64, Option<f64>) { score(&clean.original, rows, classify, labels) };
    let (clean_o, acc_o) = figure(&clean.original);
    let (clean_c, acc_c) = figure(&clean.compressed);
    // What each model loses under the probe (accuracy with labels, else the
    // figure); the gap is the compressed model's loss beyond the original's.
    let row = |probe, severity, (o, ao): (f64, Option<f64>), (c, ac): (f64, Option<f64>)| {
        let gap = match (acc_o, ao, acc_c, ac) {
            (Some(clean_ao), Some(ao), Some(clean_ac), Some(ac)) => (clean_ac - ac) - (clean_ao - ao),
            _ => (clean_c - c) - (clean_o - o),
        };
        ProbeRow { probe, severity, original: o, compressed: c, accuracy_original: ao, accuracy_compressed: ac, gap }
    };
    let total = probes.len() * options.severities.len();
    let mut rows = Vec::with_capacity(total);
    for (i, (&probe, &severity)) in probes.iter().flat_map(|p| options.severities.iter().map(move |s| (p, s))).enumerate() {
        progress("probes", i, total);
        let probed = perturb(feeds, probe, severity, options.seed)?;
        let mut got = Collected::default();
        for feed in probed {
            let (ro, rc) = (original.run(feed.clone())?, compressed.run(feed)?);
            got.push(name, &ro.outputs[k].1, &rc.outputs[k].1)?;
        }
        rows.push(row(probe, severity, figure(&got.original), figure(&got.compressed)));
    }
    let clean_row =
        ProbeRow { probe: Probe::Noise, severity: 0, original: clean_o, compressed: clean_c, accuracy_original: acc_o, accuracy_compressed: acc_c, gap: 0.0 };
    Ok(Probes { output: name.clone(), figure: if classify { "agreement" } else { "cosine" }.into(), seed: options.seed, clean: clean_row, rows })
}

/// Agreement of `rows`' top-1 with the clean original's (and accuracy with
/// labels), or their mean cosine to the clean original's rows.
fn score(reference: &[Vec<f64>], rows: &[Vec<f64>], classify: bool, labels: Option<&[usize]>) -> (f64, Option<f64>) {
    let n = rows.len().max(1) as f64;
    if !classify {
        return (rows.iter().zip(reference).map(|(a, b)| super::metrics::cosine(a, b)).sum::<f64>() / n, None);
    }
    let top = |r: &Vec<f64>| super::metrics::argmax(r);
    let agree = rows.iter().zip(reference).filter(|(a, b)| top(a) == top(b)).count() as f64 / n;
    let accuracy = labels.map(|l| rows.iter().zip(l).filter(|(r, &y)| top(r) == y).count() as f64 / n);
    (agree, accuracy)
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
    fn scores_by_hand() {
        let clean = vec![vec![0.9, 0.1], vec![0.2, 0.8], vec![0.6, 0.4]];
        let probed = vec![vec![0.4, 0.6], vec![0.2, 0.8], vec![0.7, 0.3]];
        let (agree, acc) = score(&clean, &probed, true, Some(&[0, 1, 1]));
        assert!((agree - 2.0 / 3.0).abs() < 1e-12);
        assert!((acc.unwrap() - 1.0 / 3.0).abs() < 1e-12);
        let (cos, none) = score(&clean, &clean, false, None);
        assert!((cos - 1.0).abs() < 1e-12 && none.is_none());
    }

    #[test]
    fn bad_probe_options_are_named() {
        let e = ProbeOptions { kinds: vec!["rain".into()], ..Default::default() }.probes().unwrap_err().to_string();
        assert!(e.contains("unknown probe 'rain'"), "{e}");
        let e = ProbeOptions { severities: vec![9], ..Default::default() }.probes().unwrap_err().to_string();
        assert!(e.contains("severities from 1 to 5"), "{e}");
        assert_eq!(ProbeOptions { kinds: vec!["image".into(), "noise".into()], ..Default::default() }.probes().unwrap().len(), 4);
    }
}
