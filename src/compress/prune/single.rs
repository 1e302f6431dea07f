//! One layer pruned on its own, from its input activations given directly:
//! what the sparsity scan calls once per layer and level (the activations
//! are captured once per layer; nothing else of the model runs).

use ndarray::{ArrayD, IxDyn};

use super::targets::{self, Target, Weights};
use super::{mask::Rule, Criterion, Section};
use crate::compress::input_stats::{self as stats, LayerStats, Want};
use crate::error::{Result, SquishError};
use crate::ir::Model;
use crate::tensor::Tensor;

/// The layers an unstructured prune section applies to (what a scan measures).
pub fn layers(model: &Model, s: &Section) -> Result<Vec<Target>> {
    if s.pattern != super::Pattern::Unstructured {
        return Err(SquishError::Recipe(format!(
            "section 'prune': the sparsity scan varies the share of zeros per layer; pattern \"{}\" fixes it (use \"unstructured\")",
            s.pattern.name()
        )));
    }
    s.check_names(model)?;
    Ok(targets::find(model, s).0)
}

/// What the layer's criterion needs of its inputs, from the activations themselves.
pub fn input_stats(t: &Target, inputs: &[&Tensor]) -> Result<Option<LayerStats>> {
    if t.settings.method == Criterion::Magnitude {
        return Ok(None);
    }
    let want = Want {
        input: t.input.clone(),
        features: t.channels.unwrap_or(t.cols),
        channels_first: t.channels.is_some(),
        hessian: t.settings.method == Criterion::Sparsegpt,
    };
    stats::from_tensors(&want, inputs).map(Some).map_err(|e| SquishError::Calibration(format!("node '{}': {e}", t.node)))
}

/// The layer's weight (as stored) with `sparsity` of it pruned by its criterion.
pub fn prune_weight(t: &Target, stored: &Tensor, st: Option<&LayerStats>, sparsity: f64, s: &Section) -> Result<Tensor> {
    let flat: Vec<f32> = stored.as_f32().ok_or_else(|| SquishError::tensor(&t.weight, "pruning needs it as float32"))?.iter().copied().collect();
    let data = targets::to_rows(t, &flat);
    let mut w = Weights { original: data.clone(), data };
    let rule = if t.settings.method == Criterion::Magnitude { Rule::PerMatrix(sparsity) } else { Rule::PerRow(sparsity) };
    targets::prune_one(t, &mut w, st, rule, s)?;
    let out = targets::to_stored(t, &w.data);
    Ok(Tensor::F32(ArrayD::from_shape_vec(IxDyn(&t.shape), out).expect("same shape")))
}
