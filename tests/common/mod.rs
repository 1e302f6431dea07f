//! Helpers shared by the native integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

use squish::formats::onnx::{proto, tensor_io};
use squish::Tensor;

pub mod minilm;

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

/// The synthetic text encoder's own input, then `more` sequences of 5, 9,
/// 13, … token ids (a deterministic pattern; `offset` gives other ones).
pub fn text_embedding_feeds(more: u64, offset: u64) -> Vec<Vec<(String, Tensor)>> {
    let (_, ids) = read_pb("synthetic/text_embedding/test_data_set_0/input_0.pb");
    let (_, pos) = read_pb("synthetic/text_embedding/test_data_set_0/input_1.pb");
    let mut feeds = vec![vec![("input_ids".to_string(), ids), ("position_ids".to_string(), pos)]];
    for s in offset..offset + more {
        let len = 5 + (s % 7) as usize * 4;
        let ids: Vec<i64> = (0..len as u64).map(|i| ((i * 37 + s * 101 + 11) % 300) as i64).collect();
        let pos: Vec<i64> = (0..len as i64).collect();
        feeds.push(vec![("input_ids".into(), Tensor::from_vec(&[1, len], ids).unwrap()), ("position_ids".into(), Tensor::from_vec(&[1, len], pos).unwrap())]);
    }
    feeds
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

/// Float weights, in initializers and Constant nodes.
pub fn parameters(m: &squish::Model) -> usize {
    let g = &m.graph;
    let constants = g.nodes.iter().filter(|n| n.op_type == "Constant").filter_map(|n| g.constant(&n.outputs[0]));
    g.initializers.iter().map(|(_, t)| t).chain(constants).filter(|t| t.dtype().is_float()).map(|t| t.len()).sum()
}

/// The original with every removed input column of every reading layer set
/// to zero (in a private copy of the weight for that node: exporters share
/// equal tensors between layers).
pub fn zeroed_reference(original: &squish::Model, record: &squish::compress::Record) -> squish::Model {
    let mut m = original.clone();
    for (k, e) in record.entries.iter().enumerate() {
        let reads: Vec<_> = e.removed.iter().filter(|r| r.role == "reads").collect();
        if reads.is_empty() {
            continue;
        }
        let root = |g: &squish::ir::Graph, v: &str| -> String {
            let mut v = v.to_string();
            while let Some(p) = g.nodes.iter().find(|n| n.op_type == "Identity" && n.outputs[0] == v) {
                v = p.inputs[0].clone();
            }
            v
        };
        let i = m.graph.nodes.iter().position(|n| n.name == e.node).expect("the node of the entry");
        let slot = m.graph.nodes[i].inputs.iter().position(|v| root(&m.graph, v) == e.tensor).expect("the node reads the weight");
        let mut t = weight_mut(&mut m, &e.tensor).clone();
        let Tensor::F32(a) = &mut t else { panic!("{} is float32", e.tensor) };
        for r in reads {
            for &i in &r.indices {
                a.index_axis_mut(ndarray::Axis(r.axis), i).fill(0.0);
            }
        }
        let name = format!("{}_zeroed_{k}", e.tensor);
        m.graph.initializers.push((name.clone(), t));
        m.graph.nodes[i].inputs[slot] = name;
    }
    m
}

/// An initializer, or the value of the Constant node producing it.
pub fn weight_mut<'m>(m: &'m mut squish::Model, name: &str) -> &'m mut Tensor {
    let g = &mut m.graph;
    if let Some(i) = g.initializers.iter().position(|(n, _)| n == name) {
        return &mut g.initializers[i].1;
    }
    let n = g.nodes.iter_mut().find(|n| n.op_type == "Constant" && n.outputs[0] == name).unwrap_or_else(|| panic!("no weight '{name}'"));
    match &mut n.attributes.iter_mut().find(|a| a.name == "value").expect("a tensor value").value {
        squish::ir::AttrValue::Tensor(t) => t,
        _ => panic!("'{name}' is not a tensor constant"),
    }
}

/// Runs `model` in onnxruntime (the test venv's Python, `SQUISH_PYTHON` to
/// override) on `feed`: every output, in order. The cross-check that a model
/// Squish wrote is standard ONNX.
pub fn onnxruntime_outputs(model: &squish::Model, feed: &[(String, Tensor)], tag: &str) -> Vec<Tensor> {
    use prost::Message;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("target/ort-check").join(tag);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("model.onnx"), squish::formats::onnx::model_to_bytes(model)).unwrap();
    for (i, (name, t)) in feed.iter().enumerate() {
        std::fs::write(dir.join(format!("input_{i}.pb")), tensor_io::tensor_to_proto(name, t).encode_to_vec()).unwrap();
    }
    let python = std::env::var_os("SQUISH_PYTHON").map(PathBuf::from).unwrap_or_else(|| root.join(".cache/venv/bin/python"));
    let script = r#"
import glob, os, sys
import onnx, onnxruntime as ort
from onnx import numpy_helper
d = sys.argv[1]
feeds = {}
for p in sorted(glob.glob(os.path.join(d, "input_*.pb"))):
    t = onnx.TensorProto(); t.ParseFromString(open(p, "rb").read()); feeds[t.name] = numpy_helper.to_array(t)
s = ort.InferenceSession(os.path.join(d, "model.onnx"), providers=["CPUExecutionProvider"])
for i, o in enumerate(s.run(None, feeds)):
    open(os.path.join(d, f"output_{i}.pb"), "wb").write(numpy_helper.from_array(o).SerializeToString())
"#;
    let out = std::process::Command::new(&python)
        .arg("-c")
        .arg(script)
        .arg(&dir)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (run scripts/setup.sh)", python.display()));
    assert!(out.status.success(), "onnxruntime failed on {}: {}", dir.display(), String::from_utf8_lossy(&out.stderr));
    (0..)
        .map(|i| dir.join(format!("output_{i}.pb")))
        .take_while(|p| p.exists())
        .map(|p| tensor_io::tensor_from_proto(&proto::decode_tensor(&std::fs::read(p).unwrap()).unwrap()).unwrap())
        .collect()
}
