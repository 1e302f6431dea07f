//! JSON arrays of numbers (rectangular, nested) as tensors.

use super::data_err;
use crate::error::Result;
use crate::tensor::Tensor;

/// A rectangular nested JSON array of numbers as a float64 tensor.
pub fn json_tensor(v: &serde_json::Value, what: &str) -> Result<Tensor> {
    let mut shape = Vec::new();
    let mut cur = v;
    while let serde_json::Value::Array(a) = cur {
        shape.push(a.len());
        match a.first() {
            Some(first) => cur = first,
            None => break,
        }
    }
    let mut flat = Vec::new();
    fn walk(v: &serde_json::Value, depth: usize, shape: &[usize], flat: &mut Vec<f64>, what: &str) -> Result<()> {
        match v {
            serde_json::Value::Array(a) => {
                if depth >= shape.len() || a.len() != shape[depth] {
                    return Err(data_err("JSON", format!("{what}: ragged array (rows of different lengths)")));
                }
                a.iter().try_for_each(|x| walk(x, depth + 1, shape, flat, what))
            }
            serde_json::Value::Number(n) if depth == shape.len() => {
                flat.push(n.as_f64().unwrap_or(f64::NAN));
                Ok(())
            }
            serde_json::Value::Bool(b) if depth == shape.len() => {
                flat.push(*b as u8 as f64);
                Ok(())
            }
            other => Err(data_err("JSON", format!("{what}: expected a number at depth {depth}, found {other}"))),
        }
    }
    walk(v, 0, &shape, &mut flat, what)?;
    Tensor::from_vec(&shape, flat)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_arrays() {
        let v: serde_json::Value = serde_json::from_str("[[1, 2], [3, 4], [5, 6]]").unwrap();
        let t = json_tensor(&v, "x").unwrap();
        assert_eq!(t.shape(), &[3, 2]);
        let v: serde_json::Value = serde_json::from_str("[[1, 2], [3]]").unwrap();
        assert!(json_tensor(&v, "x").unwrap_err().to_string().contains("ragged"));
        let v: serde_json::Value = serde_json::from_str("[[1, \"a\"]]").unwrap();
        assert!(json_tensor(&v, "x").is_err());
    }
}
