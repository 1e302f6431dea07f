//! numpy `.npz` archives: the `.npy` members of a zip (stored or deflated).

use std::io::Read;

use super::data_err;
use super::npy::read_npy;
use crate::error::Result;
use crate::tensor::Tensor;

/// The `.npy` members of a numpy `.npz` archive (stored or deflated), by
/// name without the extension.
pub fn read_npz(bytes: &[u8]) -> Result<Vec<(String, Tensor)>> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| data_err("npz", format!("not a zip archive: {e}")))?;
    let mut out = Vec::new();
    for i in 0..archive.len() {
        let mut f = archive.by_index(i).map_err(|e| data_err("npz", format!("member {i}: {e}")))?;
        let name = f.name().to_string();
        let Some(stem) = name.strip_suffix(".npy") else { continue };
        // The declared size bounds the read: a forged header cannot make it allocate more.
        let size = f.size();
        let mut buf = Vec::with_capacity((size as usize).min(1 << 28));
        f.by_ref().take(size).read_to_end(&mut buf).map_err(|e| data_err("npz", format!("member '{name}': {e}")))?;
        let t = read_npy(&buf).map_err(|e| data_err("npz", format!("member '{name}': {e}")))?;
        out.push((stem.to_string(), t));
    }
    if out.is_empty() {
        return Err(data_err("npz", "the archive holds no .npy member"));
    }
    Ok(out)
}
