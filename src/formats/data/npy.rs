//! Reader for numpy `.npy` files (format versions 1–3), little-endian
//! numeric dtypes, C or Fortran order.

use half::f16;
use ndarray::{ArrayD, IxDyn, ShapeBuilder};

use crate::error::{Result, SquishError};
use crate::tensor::{checked_numel, shape_from_dims, DType, Element, Tensor};

const MAGIC: &[u8] = b"\x93NUMPY";

fn err(detail: impl Into<String>) -> SquishError {
    SquishError::DataFile { format: "npy", detail: detail.into() }
}

struct Header {
    dtype: DType,
    fortran_order: bool,
    shape: Vec<usize>,
}

pub fn read_npy(bytes: &[u8]) -> Result<Tensor> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(err("missing the \\x93NUMPY magic: not a .npy file"));
    }
    let major = bytes[6];
    let (header_len, start): (usize, usize) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err(err("truncated header"));
            }
            (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12)
        }
        v => return Err(err(format!("unsupported format version {v}"))),
    };
    let end = start.checked_add(header_len).filter(|&e| e <= bytes.len()).ok_or_else(|| err("truncated header"))?;
    let text = std::str::from_utf8(&bytes[start..end]).map_err(|_| err("header is not text"))?;
    let header = parse_header(text)?;
    let numel = checked_numel(&header.shape, "npy array")?;
    let payload = &bytes[end..];
    let need = numel * header.dtype.size_of();
    if payload.len() < need {
        return Err(err(format!("data is truncated: shape {:?} of {} needs {need} bytes, file has {}", header.shape, header.dtype, payload.len())));
    }
    let data = &payload[..need];
    let h = &header;
    Ok(match h.dtype {
        DType::F32 => build(h, data, |c| f32::from_le_bytes(c.try_into().unwrap()))?,
        DType::F64 => build(h, data, |c| f64::from_le_bytes(c.try_into().unwrap()))?,
        DType::F16 => build(h, data, |c| f16::from_le_bytes(c.try_into().unwrap()))?,
        DType::I8 => build(h, data, |c| c[0] as i8)?,
        DType::U8 => build(h, data, |c| c[0])?,
        DType::I16 => build(h, data, |c| i16::from_le_bytes(c.try_into().unwrap()))?,
        DType::U16 => build(h, data, |c| u16::from_le_bytes(c.try_into().unwrap()))?,
        DType::I32 => build(h, data, |c| i32::from_le_bytes(c.try_into().unwrap()))?,
        DType::U32 => build(h, data, |c| u32::from_le_bytes(c.try_into().unwrap()))?,
        DType::I64 => build(h, data, |c| i64::from_le_bytes(c.try_into().unwrap()))?,
        DType::U64 => build(h, data, |c| u64::from_le_bytes(c.try_into().unwrap()))?,
        DType::Bool => build(h, data, |c| c[0] != 0)?,
        DType::BF16 | DType::Small(_) => return Err(err(format!("{} is not a numpy dtype", h.dtype))),
    })
}

fn build<T: Element>(h: &Header, data: &[u8], conv: impl Fn(&[u8]) -> T) -> Result<Tensor> {
    let size = h.dtype.size_of();
    let values: Vec<T> = data.chunks_exact(size).map(conv).collect();
    let shape = IxDyn(&h.shape);
    let arr = if h.fortran_order {
        ArrayD::from_shape_vec(shape.f(), values).map(|a| a.as_standard_layout().into_owned())
    } else {
        ArrayD::from_shape_vec(shape, values)
    };
    arr.map(T::wrap).map_err(|e| err(e.to_string()))
}

fn dict_value<'a>(text: &'a str, key: &str) -> Result<&'a str> {
    let pat_single = format!("'{key}'");
    let pat_double = format!("\"{key}\"");
    let at = text.find(&pat_single).or_else(|| text.find(&pat_double)).ok_or_else(|| err(format!("header has no '{key}'")))?;
    let rest = &text[at + pat_single.len()..];
    let colon = rest.find(':').ok_or_else(|| err(format!("header '{key}' has no value")))?;
    Ok(rest[colon + 1..].trim_start())
}

fn parse_header(text: &str) -> Result<Header> {
    let descr_raw = dict_value(text, "descr")?;
    let quote =
        descr_raw.chars().next().filter(|c| *c == '\'' || *c == '"').ok_or_else(|| err("only simple dtypes are supported (structured arrays are not)"))?;
    let descr = descr_raw[1..].split(quote).next().unwrap_or("");
    let (endian, code) = descr.split_at(descr.len().min(1));
    if endian == ">" && !matches!(code, "i1" | "u1" | "b1") {
        return Err(err(format!("big-endian dtype '{descr}' is not supported; save with '<' byte order")));
    }
    let dtype = match code {
        "f4" => DType::F32,
        "f8" => DType::F64,
        "f2" => DType::F16,
        "i1" => DType::I8,
        "u1" => DType::U8,
        "i2" => DType::I16,
        "u2" => DType::U16,
        "i4" => DType::I32,
        "u4" => DType::U32,
        "i8" => DType::I64,
        "u8" => DType::U64,
        "b1" => DType::Bool,
        _ => return Err(err(format!("unsupported dtype '{descr}'"))),
    };
    let fortran_order = dict_value(text, "fortran_order")?.starts_with("True");
    let shape_raw = dict_value(text, "shape")?;
    if !shape_raw.starts_with('(') {
        return Err(err("header 'shape' is not a tuple"));
    }
    let close = shape_raw.find(')').ok_or_else(|| err("header 'shape' is not closed"))?;
    let dims = shape_raw[1..close]
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('L').parse::<i64>().map_err(|_| err(format!("bad dimension '{s}' in shape"))))
        .collect::<Result<Vec<_>>>()?;
    let shape = shape_from_dims(&dims, "npy array").map_err(|e| err(e.to_string()))?;
    Ok(Header { dtype, fortran_order, shape })
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn npy(descr: &str, shape: &str, fortran: bool, data: &[u8]) -> Vec<u8> {
        let mut header = format!("{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}", if fortran { "True" } else { "False" });
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut out = MAGIC.to_vec();
        out.extend([1, 0]);
        out.extend((header.len() as u16).to_le_bytes());
        out.extend(header.as_bytes());
        out.extend(data);
        out
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn reads_c_and_fortran_order() {
        let data: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let c = read_npy(&npy("<f4", "(2, 3)", false, &data)).unwrap();
        assert_eq!(c.shape(), &[2, 3]);
        assert_eq!(c.to_f64_vec(), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let f = read_npy(&npy("<f4", "(2, 3)", true, &data)).unwrap();
        // Fortran order: column-major storage of [[1,3,5],[2,4,6]].
        assert_eq!(f.to_f64_vec(), vec![1.0, 3.0, 5.0, 2.0, 4.0, 6.0]);
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn reads_int64_vector_and_scalar() {
        let data: Vec<u8> = [7i64, -2].iter().flat_map(|v| v.to_le_bytes()).collect();
        let t = read_npy(&npy("<i8", "(2,)", false, &data)).unwrap();
        assert_eq!(t.dtype(), DType::I64);
        assert_eq!(t.to_i64_vec().unwrap(), vec![7, -2]);
        let s = read_npy(&npy("<i8", "()", false, &data[..8])).unwrap();
        assert_eq!(s.shape(), &[] as &[usize]);
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn rejects_bad_files_with_reasons() {
        let data = [0u8; 8];
        let e = read_npy(&npy("<f4", "(3, 3)", false, &data)).unwrap_err().to_string();
        assert!(e.contains("truncated"), "{e}");
        let e = read_npy(b"hello world, not npy").unwrap_err().to_string();
        assert!(e.contains("magic"), "{e}");
        let e = read_npy(&npy(">f4", "(2,)", false, &data)).unwrap_err().to_string();
        assert!(e.contains("big-endian"), "{e}");
        let e = read_npy(&npy("<c8", "(1,)", false, &data)).unwrap_err().to_string();
        assert!(e.contains("unsupported dtype"), "{e}");
        let e = read_npy(&npy("<f4", "(100000000000, 100000)", false, &data)).unwrap_err().to_string();
        assert!(e.contains("more than"), "{e}");
        let full = npy("<f4", "(2,)", false, &data);
        for cut in [3, 9, 20] {
            assert!(read_npy(&full[..cut]).is_err());
        }
    }
}
