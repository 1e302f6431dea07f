//! What calibration-driven methods need from a layer's inputs: per layer,
//! the squared norm of each input feature over every row (token, position,
//! example; Wanda), and for error compensation the input Hessian `XᵀX`
//! (pruning's reconstruction, GPTQ-style rounding). Rows a padding mask marks as padding are left out. The original
//! model runs once per calibration input set; nothing is kept but the sums.

use std::collections::HashMap;
use std::sync::Arc;

use crate::compress::hessian::Hessian;
use crate::error::{Result, SquishError};
use crate::formats::data::feeds::Feed;
use crate::ir::Model;
use crate::runtime::Session;
use crate::tensor::Tensor;

/// What to gather for one layer's input value.
pub struct Want {
    pub input: String,
    /// Features per row: the last axis (MatMul/Gemm), or the channels (Conv).
    pub features: usize,
    pub channels_first: bool,
    pub hessian: bool,
}

#[derive(Default)]
pub struct LayerStats {
    /// Σ x² per input feature.
    pub sumsq: Vec<f64>,
    /// max |x| per input feature.
    pub absmax: Vec<f64>,
    pub hessian: Option<Hessian>,
    pub rows: usize,
}

/// Runs `model` on every calibration input set and gathers each wanted
/// input's statistics (indexed like `wants`). `needed_by` names the recipe
/// setting that asked for them, for the error when no inputs were given.
pub fn gather(model: &Model, wants: &[Want], calibration: &[Feed], needed_by: &str) -> Result<Vec<LayerStats>> {
    if calibration.is_empty() {
        return Err(SquishError::Recipe(format!("{needed_by} needs calibration inputs (none were given)")));
    }
    let session = Session::for_comparison(Arc::new(model.clone()))?;
    let mut stats: Vec<LayerStats> = wants
        .iter()
        .map(|w| LayerStats { sumsq: vec![0.0; w.features], absmax: vec![0.0; w.features], hessian: w.hessian.then(|| Hessian::new(w.features)), rows: 0 })
        .collect();
    let mut by_name: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, w) in wants.iter().enumerate() {
        by_name.entry(w.input.as_str()).or_default().push(i);
    }
    for (s, feed) in calibration.iter().enumerate() {
        let rows_valid = padding_mask(feed);
        // Graph inputs are not node outputs: the observer never sees them.
        for (name, t) in feed {
            for &i in by_name.get(name.as_str()).map_or(&[][..], |v| v.as_slice()) {
                add(&mut stats[i], &wants[i], t, rows_valid.as_ref()).map_err(|e| SquishError::Calibration(format!("sample {s}: {e}")))?;
            }
        }
        let mut failed = None;
        session
            .run_observed(feed.clone(), &mut |name, t| {
                for &i in by_name.get(name).map_or(&[][..], |v| v.as_slice()) {
                    if let Err(e) = add(&mut stats[i], &wants[i], t, rows_valid.as_ref()) {
                        failed.get_or_insert(e);
                    }
                }
                Ok(())
            })
            .map_err(|e| SquishError::Calibration(format!("sample {s}: {e}")))?;
        if let Some(e) = failed {
            return Err(SquishError::Calibration(format!("sample {s}: {e}")));
        }
    }
    Ok(stats)
}

/// Statistics from activations given directly (no padding mask: the
/// caller passes the rows that count).
pub fn from_tensors(want: &Want, inputs: &[&Tensor]) -> std::result::Result<LayerStats, String> {
    let mut st =
        LayerStats { sumsq: vec![0.0; want.features], absmax: vec![0.0; want.features], hessian: want.hessian.then(|| Hessian::new(want.features)), rows: 0 };
    for t in inputs {
        add(&mut st, want, t, None)?;
    }
    Ok(st)
}

/// Which positions of a `[batch, sequence]` input are real (not padding),
/// from an integer input named like an attention mask.
fn padding_mask(feed: &Feed) -> Option<(Vec<usize>, Vec<bool>)> {
    let (_, t) = feed.iter().find(|(n, t)| n.to_ascii_lowercase().contains("mask") && t.shape().len() == 2 && !t.dtype().is_float())?;
    Some((t.shape().to_vec(), t.to_f64_vec().into_iter().map(|v| v != 0.0).collect()))
}

fn add(st: &mut LayerStats, want: &Want, t: &Tensor, mask: Option<&(Vec<usize>, Vec<bool>)>) -> std::result::Result<(), String> {
    let x = t.as_f32().ok_or_else(|| format!("'{}' is {}, not float32", want.input, t.dtype()))?;
    let shape = x.shape();
    let x = x.as_standard_layout();
    let data = x.as_slice().expect("standard layout");
    if want.channels_first {
        // Conv input [N, C, …]: the energy of each channel over every position.
        let c = want.features;
        if shape.len() < 2 || shape[1] != c {
            return Err(format!("'{}' has shape {shape:?}, expected {c} channels on axis 1", want.input));
        }
        let per: usize = shape[2..].iter().product();
        for (i, v) in data.iter().enumerate() {
            let ch = (i / per) % c;
            st.sumsq[ch] += (*v as f64) * (*v as f64);
            st.absmax[ch] = st.absmax[ch].max(v.abs() as f64);
        }
        st.rows += shape[0] * per;
        return Ok(());
    }
    let k = want.features;
    if shape.last() != Some(&k) {
        return Err(format!("'{}' has shape {shape:?}, expected {k} features on the last axis", want.input));
    }
    let rows = data.len() / k.max(1);
    // Padding rows are left out when the value is [batch, sequence, k].
    let keep: Vec<bool> = match mask {
        Some((ms, m)) if shape.len() == 3 && shape[..2] == ms[..] => m.clone(),
        _ => vec![true; rows],
    };
    let kept: Vec<f32> = (0..rows).filter(|&r| keep[r]).flat_map(|r| data[r * k..(r + 1) * k].iter().copied()).collect();
    let n = kept.len() / k.max(1);
    for row in kept.chunks_exact(k) {
        st.sumsq.iter_mut().zip(row).for_each(|(s, v)| *s += (*v as f64) * (*v as f64));
        st.absmax.iter_mut().zip(row).for_each(|(m, v)| *m = m.max(v.abs() as f64));
    }
    if let Some(h) = &mut st.hessian {
        h.add_rows(&kept, n);
    }
    st.rows += n;
    Ok(())
}
