//! CSV of numbers (an optional header row skipped) as a matrix.

use super::data_err;
use crate::error::Result;
use crate::tensor::Tensor;

/// The numbers of a CSV as a `[rows, columns]` float64 tensor.
pub fn csv_matrix(text: &str) -> Result<Tensor> {
    let mut rows: Vec<Vec<f64>> = Vec::new();
    for (ln, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let cells: Vec<&str> = line.split([',', ';', '\t']).map(|c| c.trim()).collect();
        let parsed: std::result::Result<Vec<f64>, _> = cells.iter().map(|c| c.parse::<f64>()).collect();
        match parsed {
            Ok(r) => {
                if let Some(first) = rows.first() {
                    if first.len() != r.len() {
                        return Err(data_err("CSV", format!("line {} has {} columns, the first row has {}", ln + 1, r.len(), first.len())));
                    }
                }
                rows.push(r);
            }
            Err(_) if rows.is_empty() && ln == 0 => continue, // header
            Err(_) => return Err(data_err("CSV", format!("line {}: not all cells are numbers", ln + 1))),
        }
    }
    if rows.is_empty() {
        return Err(data_err("CSV", "no rows of numbers"));
    }
    let (r, c) = (rows.len(), rows[0].len());
    Tensor::from_vec(&[r, c], rows.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_header_and_errors() {
        let t = csv_matrix("a,b\n1,2\n3.5,-4\n").unwrap();
        assert_eq!(t.shape(), &[2, 2]);
        assert_eq!(t.to_f64_vec(), vec![1.0, 2.0, 3.5, -4.0]);
        assert!(csv_matrix("1,2\n3\n").unwrap_err().to_string().contains("line 2 has 1 columns"));
        assert!(csv_matrix("1,2\n3,x\n").unwrap_err().to_string().contains("line 2"));
        assert!(csv_matrix("").is_err());
    }
}
