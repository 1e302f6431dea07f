//! The record: everything the recipe's steps changed, in one list for every
//! method. `compare` (per-layer diagnosis, sensitivity), the CLI and the page
//! read it; none of them needs a method's internals.

use serde::{Deserialize, Serialize};

/// What one step did to one weight tensor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Index of the recipe step, and its method ("quantize", …).
    pub step: usize,
    pub method: String,
    pub tensor: String,
    pub node: String,
    pub op_type: String,
    /// The method's settings for this tensor, as a label ("int8_dynamic", …).
    pub settings: String,
    /// How its parameters group the values, as written ("per channel (axis 0)",
    /// "per tensor", "blocks of 32 along K", "every value").
    pub grouping: String,
    pub bytes_before: usize,
    pub bytes_after: usize,
    /// Share of the stored weights that are exactly zero afterwards.
    pub sparsity: f64,
    /// Largest |w − w'| over the tensor.
    pub max_abs_error: f32,
    /// Bytes of a sparse encoding (a bitmap of the non-zeros and their
    /// values), for pruned tensors: what a sparse format would store.
    #[serde(default)]
    pub sparse_bytes: Option<usize>,
    /// The stored tensor gzipped (level 1, as the model's size), for pruned tensors: the zeros
    /// stored densely compress, so this is what a download costs.
    #[serde(default)]
    pub gzip_bytes: Option<usize>,
    /// The weights' distribution before and after (dequantised, for quantised tensors).
    #[serde(default)]
    pub histogram: Option<Histogram>,
    /// Structured pruning: the slices removed, per axis.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<Removed>,
}

/// Slices structured pruning removed from one axis of a weight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Removed {
    pub axis: usize,
    /// The axis's size before.
    pub size: usize,
    /// Indices removed along it, ascending.
    pub indices: Vec<usize>,
    /// "produces" (the layer's output rows), "reads" (the next layer's
    /// input columns) or "follows" (bias, BatchNorm, depthwise filter, constant operand).
    pub role: String,
}

/// Counts of a tensor's values in `before.len()` equal bins over
/// [`low`, `high`] (symmetric, covering both; reconstruction can move kept
/// weights beyond the original's range); `after` counts the non-zero values
/// left, `zeros_after` the zeros.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    pub low: f32,
    pub high: f32,
    pub before: Vec<u32>,
    pub after: Vec<u32>,
    pub zeros_after: usize,
    /// ‖before − after‖² / ‖before‖² over the finite values, when both hold
    /// the same values (not after structured pruning removed some).
    #[serde(default)]
    pub relative_error: Option<f64>,
    /// `‖X(w − w')‖² / ‖Xw‖²` over the calibration inputs X of the layer,
    /// when its input Hessian was gathered (error-compensating rounding):
    /// what the layer's outputs lose, which compensation keeps small even
    /// where it moves the weights far.
    #[serde(default)]
    pub output_error: Option<f64>,
}

impl Histogram {
    pub const BINS: usize = 40;

    pub fn of(before: &[f32], after: &[f32]) -> Histogram {
        let finite = |v: &&f32| v.is_finite();
        let high = before.iter().chain(after).filter(finite).fold(0.0f32, |m, v| m.max(v.abs())).max(f32::MIN_POSITIVE);
        let bin = |v: f32| (((v + high) / (2.0 * high) * Self::BINS as f32) as usize).min(Self::BINS - 1);
        let count = |vals: &mut dyn Iterator<Item = f32>| {
            let mut c = vec![0u32; Self::BINS];
            vals.filter(|v| v.is_finite() && v.abs() <= high).for_each(|v| c[bin(v)] += 1);
            c
        };
        Histogram {
            low: -high,
            high,
            before: count(&mut before.iter().copied()),
            after: count(&mut after.iter().copied().filter(|v| *v != 0.0)),
            zeros_after: after.iter().filter(|v| **v == 0.0).count(),
            relative_error: relative_error(before, after),
            output_error: None,
        }
    }
}

fn relative_error(before: &[f32], after: &[f32]) -> Option<f64> {
    if before.len() != after.len() {
        return None;
    }
    let mut energy = crate::kernels::stats::ErrorEnergy::default();
    for (&b, &a) in before.iter().zip(after).filter(|(b, a)| b.is_finite() && a.is_finite()) {
        energy.add(b as f64, a as f64);
    }
    Some(energy.ratio())
}

/// An activation whose range equalisation moved to the weights of the layers
/// reading it (SmoothQuant-style), with the spread of its channel scales.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Smoothed {
    pub activation: String,
    pub layers: Vec<String>,
    /// The LayerNormalization the division was folded into; `None`: a `Mul`
    /// was inserted before the layers.
    pub folded_into: Option<String>,
    pub alpha: f64,
    pub scale_min: f32,
    pub scale_max: f32,
}

/// A layer a step selected (or that has weights) but left as it is, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Kept {
    pub step: usize,
    pub method: String,
    pub node: String,
    pub op_type: String,
    pub reason: String,
}

/// A layer that got less than the recipe asked for (a coarser grouping of
/// the parameters, or wider storage), and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Warning {
    pub step: usize,
    pub method: String,
    pub node: String,
    pub op_type: String,
    pub tensor: String,
    pub detail: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub entries: Vec<Entry>,
    pub kept: Vec<Kept>,
    pub warnings: Vec<Warning>,
    /// Activations quantised with calibrated ranges: (tensor, low, high).
    pub calibrated_ranges: Vec<(String, f32, f32)>,
    /// Activations equalised before static quantisation (`"smooth"`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub smoothed: Vec<Smoothed>,
    /// What each distill step trained, epoch by epoch.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub training: Vec<super::distill::Training>,
    /// Serialised model size before and after.
    pub model_bytes_before: usize,
    pub model_bytes_after: usize,
    /// The recipe applied, in canonical form (also in the model's metadata).
    pub recipe: String,
}

impl Record {
    /// The compressed units (layers) in first-entry order, with their step:
    /// what sensitivity measures one at a time.
    pub fn units(&self) -> Vec<Unit> {
        let mut out: Vec<Unit> = Vec::new();
        for e in &self.entries {
            if !out.iter().any(|u| u.step == e.step && u.node == e.node) {
                out.push(Unit { step: e.step, method: e.method.clone(), node: e.node.clone(), op_type: e.op_type.clone() });
            }
        }
        out
    }

    /// Names of every node some step changed.
    pub fn changed_nodes(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| e.node.as_str())
    }
}

/// One unit a step compresses independently of the others (a layer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unit {
    pub step: usize,
    pub method: String,
    pub node: String,
    pub op_type: String,
}

/// The entries one step adds to the record: it knows its index and method.
pub struct StepRecord<'r> {
    pub record: &'r mut Record,
    pub step: usize,
    pub method: &'static str,
}

impl StepRecord<'_> {
    pub fn training(&mut self, t: super::distill::Training) {
        self.record.training.push(t);
    }

    /// Adds an entry (returned, for the fields a method sets only sometimes).
    #[allow(clippy::too_many_arguments)]
    pub fn entry(
        &mut self,
        tensor: &str,
        node: &crate::ir::Node,
        settings: &str,
        grouping: String,
        bytes: (usize, usize),
        sparsity: f64,
        err: f32,
    ) -> &mut Entry {
        self.record.entries.push(Entry {
            step: self.step,
            method: self.method.into(),
            tensor: tensor.into(),
            node: node.name.clone(),
            op_type: node.op_type.clone(),
            settings: settings.into(),
            grouping,
            bytes_before: bytes.0,
            bytes_after: bytes.1,
            sparsity,
            max_abs_error: err,
            sparse_bytes: None,
            gzip_bytes: None,
            histogram: None,
            removed: Vec::new(),
        });
        self.record.entries.last_mut().expect("just pushed")
    }

    pub fn kept(&mut self, node: &crate::ir::Node, reason: String) {
        self.record.kept.push(Kept { step: self.step, method: self.method.into(), node: node.name.clone(), op_type: node.op_type.clone(), reason });
    }

    pub fn warn(&mut self, node: &crate::ir::Node, tensor: &str, detail: String) {
        self.record.warnings.push(Warning {
            step: self.step,
            method: self.method.into(),
            node: node.name.clone(),
            op_type: node.op_type.clone(),
            tensor: tensor.into(),
            detail,
        });
    }
}
#[cfg(test)]
mod histogram_tests {
    use super::Histogram;
    #[test]
    fn every_value_is_binned() {
        let v: Vec<f32> = (0..4096).map(|x| ((x * 7919 % 4096) as f32 - 2048.0) / 1000.0).collect();
        let h = Histogram::of(&v, &v);
        assert_eq!(h.before.iter().sum::<u32>(), 4096, "{h:?}");
    }

    #[test]
    fn relative_error_is_noise_over_signal() {
        let h = Histogram::of(&[3.0, -4.0], &[3.0, -3.0]);
        assert_eq!(h.relative_error, Some(1.0 / 25.0));
        assert_eq!(Histogram::of(&[1.0, 2.0], &[1.0]).relative_error, None, "values removed: no element-wise error");
        assert_eq!(h.output_error, None);
    }
}
