//! External data: tensors whose bytes live in a file beside the `.onnx`
//! (`onnx.save(..., save_as_external_data=True)`, needed above protobuf's
//! 2 GiB). The caller gives the files by name (a browser has no folders:
//! the user drops them together); each tensor's `location`, `offset` and
//! `length` are resolved into its `raw_data` before the model is built.

use super::proto::{tensor_proto, GraphProto, ModelProto, TensorProto};
use crate::error::{Result, SquishError};

/// One file given with the model: its name and bytes.
pub struct ExternalFile<'a> {
    pub name: &'a str,
    pub bytes: &'a [u8],
}

/// The last component of a location: a file is matched by its name, never
/// by a path (`../x` must not reach anything but a file the user gave).
fn file_name(location: &str) -> &str {
    location.rsplit(['/', '\\']).next().unwrap_or(location)
}

fn entry<'t>(t: &'t TensorProto, key: &str) -> Option<&'t str> {
    t.external_data.iter().find(|e| e.key == key).map(|e| e.value.as_str())
}

fn number(t: &TensorProto, name: &str, key: &str) -> Result<Option<usize>> {
    entry(t, key)
        .map(|v| v.trim().parse::<usize>().map_err(|_| SquishError::tensor(name, format!("external data {key} '{v}' is not a byte count"))))
        .transpose()
}

/// Fills one tensor's `raw_data` from the file its external data names.
fn resolve(t: &mut TensorProto, files: &[ExternalFile]) -> Result<()> {
    if t.data_location != tensor_proto::EXTERNAL && t.external_data.is_empty() {
        return Ok(());
    }
    let name = if t.name.is_empty() { "<unnamed>".to_string() } else { t.name.clone() };
    let location = entry(t, "location").ok_or_else(|| SquishError::tensor(&name, "external data without a location"))?;
    let wanted = file_name(location);
    let file = files.iter().find(|f| file_name(f.name) == wanted).ok_or_else(|| {
        SquishError::tensor(&name, format!("data is stored in external file '{location}', which was not provided: open it together with the .onnx file"))
    })?;
    let offset = number(t, &name, "offset")?.unwrap_or(0);
    let length = match number(t, &name, "length")? {
        Some(n) => n,
        None => file.bytes.len().checked_sub(offset).ok_or_else(|| {
            SquishError::tensor(&name, format!("external data offset {offset} is past the end of '{}' ({} bytes)", file.name, file.bytes.len()))
        })?,
    };
    let end = offset.checked_add(length).filter(|&e| e <= file.bytes.len()).ok_or_else(|| {
        SquishError::tensor(
            &name,
            format!("external data bytes {offset}..{offset}+{length} are past the end of '{}' ({} bytes): is the file truncated?", file.name, file.bytes.len()),
        )
    })?;
    t.raw_data = file.bytes[offset..end].to_vec();
    t.external_data.clear();
    t.data_location = 0; // DEFAULT: the data is in the tensor now
    Ok(())
}

fn resolve_graph(g: &mut GraphProto, files: &[ExternalFile]) -> Result<()> {
    for t in &mut g.initializer {
        resolve(t, files)?;
    }
    for sp in &mut g.sparse_initializer {
        for t in sp.values.iter_mut().chain(sp.indices.iter_mut()) {
            resolve(t, files)?;
        }
    }
    for a in g.node.iter_mut().flat_map(|n| &mut n.attribute) {
        for t in a.t.iter_mut().chain(a.tensors.iter_mut()) {
            resolve(t, files)?;
        }
        for sub in a.g.iter_mut().map(|b| &mut **b).chain(a.graphs.iter_mut()) {
            resolve_graph(sub, files)?;
        }
    }
    Ok(())
}

/// Every tensor of `mp` whose data is external gets it from `files`.
pub fn resolve_model(mp: &mut ModelProto, files: &[ExternalFile]) -> Result<()> {
    match mp.graph.as_mut() {
        Some(g) => resolve_graph(g, files),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::onnx::proto::StringStringEntryProto;

    fn external(location: &str, offset: Option<&str>, length: Option<&str>) -> TensorProto {
        let mut entries = vec![StringStringEntryProto { key: "location".into(), value: location.into() }];
        entries.extend(offset.map(|v| StringStringEntryProto { key: "offset".into(), value: v.into() }));
        entries.extend(length.map(|v| StringStringEntryProto { key: "length".into(), value: v.into() }));
        TensorProto { name: "w".into(), external_data: entries, data_location: tensor_proto::EXTERNAL, ..Default::default() }
    }

    #[test]
    fn bytes_come_from_the_named_file_at_its_offset() {
        let data: Vec<u8> = (0..16).collect();
        let files = [ExternalFile { name: "model.onnx.data", bytes: &data }];
        let mut t = external("model.onnx.data", Some("4"), Some("8"));
        resolve(&mut t, &files).unwrap();
        assert_eq!(t.raw_data, (4..12).collect::<Vec<u8>>());
        assert!(t.external_data.is_empty());
        // Without a length: to the end of the file. A path is matched by its name only.
        let mut t = external("../../weights/model.onnx.data", Some("12"), None);
        resolve(&mut t, &files).unwrap();
        assert_eq!(t.raw_data, vec![12, 13, 14, 15]);
    }

    #[test]
    fn missing_files_and_short_files_are_named() {
        let data = [0u8; 8];
        let files = [ExternalFile { name: "a.data", bytes: &data }];
        let err = resolve(&mut external("b.data", None, None), &files).unwrap_err().to_string();
        assert!(err.contains("'w'") && err.contains("'b.data'") && err.contains("not provided"), "{err}");
        let err = resolve(&mut external("a.data", Some("4"), Some("8")), &files).unwrap_err().to_string();
        assert!(err.contains("past the end of 'a.data' (8 bytes)"), "{err}");
        let err = resolve(&mut external("a.data", Some("x"), None), &files).unwrap_err().to_string();
        assert!(err.contains("offset 'x'"), "{err}");
        let err = resolve(&mut external("a.data", Some("9"), None), &files).unwrap_err().to_string();
        assert!(err.contains("offset 9 is past the end"), "{err}");
    }
}
