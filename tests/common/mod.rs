//! Helpers shared by the native integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

use squish::onnx::{proto, tensor_io};
use squish::Tensor;

pub fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(rel)
}

pub fn read(rel: &str) -> Vec<u8> {
    std::fs::read(fixture(rel)).unwrap_or_else(|e| panic!("cannot read fixture {rel}: {e}"))
}

/// `(name, tensor)` from an ONNX TensorProto file.
pub fn read_pb(rel: &str) -> (String, Tensor) {
    let tp = proto::decode_tensor(&read(rel)).unwrap();
    let t = tensor_io::tensor_from_proto(&tp).unwrap();
    (tp.name, t)
}

/// Largest violation of |got - want| ≤ tol·(1 + |want|); ≤ 0 means within.
pub fn worst_excess(got: &[f64], want: &[f64], tol: f64) -> f64 {
    assert_eq!(got.len(), want.len(), "output lengths differ");
    got.iter().zip(want).map(|(g, w)| (g - w).abs() - tol * (1.0 + w.abs())).fold(f64::NEG_INFINITY, f64::max)
}
