//! Labels: one class index per example, or one-hot rows.

use super::csv::csv_matrix;
use super::json::json_tensor;
use super::npy::read_npy;
use super::{data_err, extension};
use crate::error::Result;
use crate::tensor::Tensor;

/// Labels: `.npy`, a one-column (or one-row) `.csv`, or a JSON array.
pub fn read_labels(file_name: &str, bytes: &[u8]) -> Result<Tensor> {
    let text = || std::str::from_utf8(bytes).map_err(|_| data_err("labels", format!("'{file_name}' is not UTF-8 text")));
    match extension(file_name).as_str() {
        "npy" => read_npy(bytes),
        "csv" | "txt" => {
            let m = csv_matrix(text()?)?;
            let n = m.len();
            m.reshaped(&[n])
        }
        "json" => {
            let v: serde_json::Value = serde_json::from_str(text()?).map_err(|e| data_err("labels", e.to_string()))?;
            json_tensor(&v, "labels")
        }
        other => Err(data_err("labels", format!("'{file_name}': unsupported extension '.{other}' (use .npy, .csv or .json)"))),
    }
}

/// Labels as one class index per example (`labels` holds class indices, or
/// one-hot / score rows whose argmax is the class).
pub fn label_indices(labels: &Tensor, examples: usize, classes: usize) -> Result<Vec<usize>> {
    let v = labels.to_f64_vec();
    let bad = |d: String| data_err("labels", d);
    let idx: Vec<usize> = if v.len() == examples {
        v.iter()
            .enumerate()
            .map(|(i, &x)| {
                if x.fract() != 0.0 || x < 0.0 || x >= classes as f64 {
                    Err(bad(format!("label {i} is {x}, not a class index in 0..{classes}")))
                } else {
                    Ok(x as usize)
                }
            })
            .collect::<Result<_>>()?
    } else if v.len() == examples * classes && classes > 1 {
        v.chunks(classes).map(crate::kernels::stats::argmax).collect()
    } else {
        return Err(bad(format!(
            "{} values for {examples} examples of {classes} classes (expected {examples} class indices or {examples}×{classes} one-hot rows)",
            v.len()
        )));
    };
    Ok(idx)
}
