//! Helpers shared by the native integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

use squish::formats::onnx::{proto, tensor_io};
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

/// A float32 graph input/output with fixed dimensions.
pub fn tensor_vi(name: &str, dims: &[i64]) -> proto::ValueInfoProto {
    use proto::tensor_shape_proto::{DimValue, Dimension};
    use proto::type_proto;
    proto::ValueInfoProto {
        name: name.into(),
        r#type: Some(proto::TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: proto::data_type::FLOAT,
                shape: Some(proto::TensorShapeProto {
                    dim: dims.iter().map(|&d| Dimension { value: Some(DimValue::DimValue(d)), denotation: String::new() }).collect(),
                }),
            })),
            denotation: String::new(),
        }),
        ..Default::default()
    }
}

/// A node with the given attributes.
pub fn node_with(op: &str, name: &str, inputs: &[&str], outputs: &[&str], attribute: Vec<proto::AttributeProto>) -> proto::NodeProto {
    proto::NodeProto {
        op_type: op.into(),
        name: name.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        attribute,
        ..Default::default()
    }
}

/// A float32 initializer with the given dimensions and values.
pub fn floats(name: &str, dims: &[i64], v: Vec<f32>) -> proto::TensorProto {
    proto::TensorProto { name: name.into(), dims: dims.to_vec(), data_type: proto::data_type::FLOAT, float_data: v, ..Default::default() }
}
