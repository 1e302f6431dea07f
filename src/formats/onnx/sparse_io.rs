//! `SparseTensorProto` (a graph's `sparse_initializer`) ⇄ the dense `Tensor`
//! it stands for. ONNX stores the non-zero `values` (1-D) and their int64
//! `indices`: linear `[NNZ]` or coordinates `[NNZ, rank]`. Squish writes the
//! linear form, and only where it is smaller than dense: 8 bytes of index per
//! value, so a float32 weight needs more than two thirds zeros.

use ndarray::{ArrayD, IxDyn};

use super::proto::SparseTensorProto;
use super::tensor_io::{tensor_from_proto, tensor_to_proto};
use crate::error::{Result, SquishError};
use crate::map_tensor;
use crate::tensor::{checked_numel, shape_from_dims, Tensor};

/// The dense tensor and its name; every index is checked against the dims.
pub fn tensor_from_sparse_proto(sp: &SparseTensorProto) -> Result<(String, Tensor)> {
    let vp = sp.values.as_ref().ok_or_else(|| SquishError::invalid("a sparse initializer has no values tensor"))?;
    let name = if vp.name.is_empty() { "<unnamed sparse initializer>" } else { vp.name.as_str() };
    let bad = |detail: String| SquishError::tensor(name, format!("sparse initializer: {detail}"));
    let shape = shape_from_dims(&sp.dims, name)?;
    let numel = checked_numel(&shape, name)?;
    let values = tensor_from_proto(vp)?;
    if values.shape().len() != 1 {
        return Err(bad(format!("values must be 1-D, got shape {:?}", values.shape())));
    }
    let nnz = values.len();
    let ip = sp.indices.as_ref().ok_or_else(|| bad("no indices tensor".into()))?;
    let Tensor::I64(idx) = tensor_from_proto(ip)? else {
        return Err(bad("indices must be int64".into()));
    };
    let flat: Vec<i64> = idx.iter().copied().collect();
    let linear: Vec<usize> = match idx.shape() {
        [n] if *n == nnz => flat
            .iter()
            .map(|&i| usize::try_from(i).ok().filter(|&i| i < numel).ok_or_else(|| bad(format!("index {i} is outside {numel} elements"))))
            .collect::<Result<_>>()?,
        [n, r] if *n == nnz && *r == shape.len() => flat
            .chunks_exact(shape.len().max(1))
            .map(|coords| {
                coords.iter().zip(&shape).try_fold(0usize, |at, (&c, &d)| {
                    usize::try_from(c)
                        .ok()
                        .filter(|&c| c < d)
                        .map(|c| at * d + c)
                        .ok_or_else(|| bad(format!("coordinate {coords:?} is outside dims {shape:?}")))
                })
            })
            .collect::<Result<_>>()?,
        s => return Err(bad(format!("indices have shape {s:?}; {nnz} values need [{nnz}] or [{nnz}, {}]", shape.len()))),
    };
    let dense = map_tensor!(&values, v => {
        let mut d = ArrayD::from_elem(IxDyn(&shape), Default::default());
        let out = d.as_slice_mut().expect("fresh arrays are contiguous");
        for (x, &at) in v.iter().zip(&linear) {
            out[at] = *x;
        }
        d
    });
    Ok((vp.name.clone(), dense))
}

/// The linear sparse form of a float tensor, when smaller than dense. Only
/// `+0.0` is left out: a `-0.0` stays a value, so the round trip is exact.
pub fn tensor_to_sparse_proto(name: &str, t: &Tensor) -> Option<SparseTensorProto> {
    let (indices, values): (Vec<i64>, Tensor) = match t {
        Tensor::F32(a) => kept(a.iter().map(|v| v.to_bits() != 0), a, Tensor::F32),
        Tensor::F16(a) => kept(a.iter().map(|v| v.to_bits() != 0), a, Tensor::F16),
        Tensor::BF16(a) => kept(a.iter().map(|v| v.to_bits() != 0), a, Tensor::BF16),
        Tensor::F64(a) => kept(a.iter().map(|v| v.to_bits() != 0), a, Tensor::F64),
        _ => return None,
    };
    let element = t.dtype().size_of();
    if indices.len() * (element + 8) >= t.len() * element {
        return None;
    }
    let n = indices.len();
    let index_tensor = Tensor::from_vec(&[n], indices).ok()?;
    Some(SparseTensorProto {
        values: Some(tensor_to_proto(name, &values)),
        indices: Some(tensor_to_proto("", &index_tensor)),
        dims: t.shape().iter().map(|&d| d as i64).collect(),
    })
}

/// The positions where `keep` is true and the 1-D tensor of those values.
fn kept<T: Clone>(keep: impl Iterator<Item = bool>, a: &ArrayD<T>, wrap: impl Fn(ArrayD<T>) -> Tensor) -> (Vec<i64>, Tensor) {
    let (mut at, mut vals) = (Vec::new(), Vec::new());
    for ((i, k), v) in keep.enumerate().zip(a.iter()) {
        if k {
            at.push(i as i64);
            vals.push(v.clone());
        }
    }
    let n = vals.len();
    (at, wrap(ArrayD::from_shape_vec(IxDyn(&[n]), vals).expect("1-D")))
}
