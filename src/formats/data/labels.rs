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
