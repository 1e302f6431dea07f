//! The data files users bring: arrays (`.npy`, `.npz`, JSON, CSV), audio
//! (WAV), decoded images and labels, each read in one place; and `feeds`,
//! which binds them (or texts, or seeded random values) to a model's inputs.

pub mod csv;
pub mod feeds;
pub mod image;
pub mod json;
pub mod labels;
pub mod npy;
pub mod npz;
pub mod wav;

use crate::error::SquishError;

pub(crate) fn data_err(format: &'static str, detail: impl Into<String>) -> SquishError {
    SquishError::DataFile { format, detail: detail.into() }
}

/// The lower-cased extension of a file name ("" when it has none).
pub(crate) fn extension(file_name: &str) -> String {
    file_name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default()
}
