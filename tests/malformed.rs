#![cfg(not(target_arch = "wasm32"))] // reads fixtures from disk
//! Bad input never panics: each case gets an error that names what is wrong.

mod common;

use common::{node_with, read, tensor_vi};
use prost::Message;
use squish::formats::onnx::proto::{self, data_type, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto};
use squish::{load_session, Tensor};

fn node(op: &str, name: &str, inputs: &[&str], outputs: &[&str]) -> NodeProto {
    node_with(op, name, inputs, outputs, vec![])
}

fn model(nodes: Vec<NodeProto>, initializers: Vec<TensorProto>) -> Vec<u8> {
    ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: 17 }],
        graph: Some(GraphProto {
            name: "g".into(),
            node: nodes,
            initializer: initializers,
            input: vec![tensor_vi("x", &[2, 3])],
            output: vec![tensor_vi("y", &[2, 3])],
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

fn err_of(bytes: &[u8]) -> String {
    match load_session(bytes) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn empty_truncated_and_random_files_are_rejected() {
    assert!(err_of(&[]).contains("empty"));
    let full = read("digits_mlp/model.onnx");
    for cut in [1, 7, 100, full.len() / 2, full.len() - 1] {
        let e = err_of(&full[..cut]);
        assert!(e.contains("decode") || e.contains("no graph") || e.contains("tensor"), "cut {cut}: {e}");
    }
    let mut state = 12345u64;
    for len in [16usize, 1000, 100_000] {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        let _ = err_of(&bytes);
    }
}

#[test]
fn every_unsupported_op_is_listed_with_node_domain_and_opset() {
    let mut custom = node("FancyOp", "n2", &["t"], &["y"]);
    custom.domain = "com.example".into();
    let bytes = ModelProto::decode(&model(vec![node("Frobnicate", "n1", &["x"], &["t"]), custom], vec![])[..]).unwrap();
    let mut m = bytes;
    m.opset_import.push(OperatorSetIdProto { domain: "com.example".into(), version: 3 });
    let e = err_of(&m.encode_to_vec());
    assert!(e.contains("Frobnicate (node 'n1', domain 'ai.onnx', opset 17)"), "{e}");
    assert!(e.contains("FancyOp (node 'n2', domain 'com.example', opset 3)"), "{e}");
}

#[test]
fn cycles_and_missing_values_are_named() {
    let e = err_of(&model(
        vec![node("Relu", "a", &["x", "b_out"], &["a_out"]), node("Relu", "b", &["a_out"], &["b_out"]), node("Identity", "c", &["a_out"], &["y"])],
        vec![],
    ));
    assert!(e.contains("cycle through nodes: a, b"), "{e}");
    let e = err_of(&model(vec![node("Add", "add", &["x", "bias"], &["y"])], vec![]));
    assert!(e.contains("node 'add'") && e.contains("'bias'") && e.contains("missing initializer"), "{e}");
    let e = err_of(&model(vec![node("Relu", "r", &["x"], &["z"])], vec![]));
    assert!(e.contains("graph output 'y'"), "{e}");
}

#[test]
fn bad_initializers_are_named() {
    let neg = TensorProto { name: "w".into(), dims: vec![-2, 3], data_type: data_type::FLOAT, ..Default::default() };
    let e = err_of(&model(vec![node("Add", "add", &["x", "w"], &["y"])], vec![neg]));
    assert!(e.contains("tensor 'w'") && e.contains("negative dimension"), "{e}");
    let huge = TensorProto { name: "big".into(), dims: vec![1_000_000, 1_000_000], data_type: data_type::FLOAT, raw_data: vec![0; 16], ..Default::default() };
    let e = err_of(&model(vec![node("Add", "add", &["x", "big"], &["y"])], vec![huge]));
    assert!(e.contains("tensor 'big'") && e.contains("more than"), "{e}");
    let short = TensorProto { name: "s".into(), dims: vec![2, 3], data_type: data_type::FLOAT, raw_data: vec![0; 20], ..Default::default() };
    let e = err_of(&model(vec![node("Add", "add", &["x", "s"], &["y"])], vec![short]));
    assert!(e.contains("raw_data has 20 bytes"), "{e}");
    let ext = TensorProto {
        name: "e".into(),
        dims: vec![3],
        data_type: data_type::FLOAT,
        data_location: 1,
        external_data: vec![proto::StringStringEntryProto { key: "location".into(), value: "weights.bin".into() }],
        ..Default::default()
    };
    let e = err_of(&model(vec![node("Add", "add", &["x", "e"], &["y"])], vec![ext]));
    assert!(e.contains("weights.bin"), "{e}");
}

#[test]
fn attribute_errors_name_node_and_attribute() {
    let mut cast = node("Cast", "caster", &["x"], &["y"]);
    cast.attribute.push(proto::AttributeProto { name: "to".into(), r#type: 3, s: b"float".to_vec(), ..Default::default() });
    let e = err_of(&model(vec![cast], vec![]));
    assert!(e.contains("node 'caster' (Cast): attribute 'to': expected int, found string"), "{e}");
}

#[test]
fn wrong_inputs_are_rejected_with_the_expected_shape() {
    let s = load_session(&model(vec![node("Relu", "r", &["x"], &["y"])], vec![])).unwrap();
    let run = |inputs: Vec<(String, Tensor)>| s.run(inputs).unwrap_err().to_string();
    let good = Tensor::from_vec(&[2, 3], vec![0.0f32; 6]).unwrap();
    assert!(run(vec![]).contains("input 'x': no value"));
    assert!(run(vec![("x".into(), Tensor::from_vec(&[3, 2], vec![0.0f32; 6]).unwrap())]).contains("dimension 0 must be 2"));
    assert!(run(vec![("x".into(), Tensor::from_vec(&[6], vec![0.0f32; 6]).unwrap())]).contains("rank 2"));
    assert!(run(vec![("x".into(), Tensor::from_vec(&[2, 3], vec![0i64; 6]).unwrap())]).contains("expected float32, got int64"));
    assert!(run(vec![("x".into(), good.clone()), ("z".into(), good.clone())]).contains("no such input"));
    assert!(s.run(vec![("x".into(), good)]).is_ok());
}

#[test]
fn nan_inputs_flow_through_without_panicking() {
    let bytes = read("digits_mlp/model.onnx");
    let s = load_session(&bytes).unwrap();
    let x = Tensor::from_vec(&[1, 64], vec![f32::NAN; 64]).unwrap();
    let out = s.run(vec![("X".into(), x)]).unwrap();
    assert!(out.outputs[0].1.to_f64_vec().iter().all(|v| v.is_nan()));
}

/// The size limit is enforced before any weight is allocated: a model
/// whose initializers declare more than `MAX_MODEL_BYTES` (here 1 GiB in a
/// file of a few bytes, the data omitted) and a file larger than the limit
/// are refused with the limit in the message.
#[test]
fn models_over_the_size_limit_are_refused_up_front() {
    use squish::formats::onnx::{check_size, load_model, MAX_MODEL_BYTES};
    let huge = TensorProto { name: "w".into(), dims: vec![1 << 28], data_type: data_type::FLOAT, ..Default::default() };
    let bytes = model(vec![node("Identity", "id", &["w"], &["y"])], vec![huge]);
    assert!(bytes.len() < 1000);
    let e = load_model(&bytes).unwrap_err().to_string();
    let limit = format!("up to {} MiB", MAX_MODEL_BYTES >> 20);
    assert!(e.contains("declares 1024 MiB of weights") && e.contains(&limit), "{e}");
    let e = check_size(MAX_MODEL_BYTES + 1).unwrap_err().to_string();
    assert!(e.contains(&format!("{} MiB", (MAX_MODEL_BYTES + 1) >> 20)) && e.contains(&limit), "{e}");
    assert!(check_size(MAX_MODEL_BYTES).is_ok());
    // Weights below the limit with their data missing are still a tensor error, not a size one.
    let small = TensorProto { name: "w".into(), dims: vec![4], data_type: data_type::FLOAT, ..Default::default() };
    let e = err_of(&model(vec![node("Identity", "id", &["w"], &["y"])], vec![small]));
    assert!(e.contains("'w'") && !e.contains("MiB"), "{e}");
}

/// `sparse_initializer`s load as the dense tensors they stand for (linear
/// and coordinate indices); a bad one is named with what is wrong.
#[test]
fn sparse_initializers_load_and_bad_ones_are_named() {
    use proto::SparseTensorProto;
    let sparse = |indices: TensorProto, values: Vec<f32>, dims: &[i64]| SparseTensorProto {
        values: Some(TensorProto { name: "w".into(), dims: vec![values.len() as i64], data_type: data_type::FLOAT, float_data: values, ..Default::default() }),
        indices: Some(indices),
        dims: dims.to_vec(),
    };
    let ints = |dims: &[i64], v: Vec<i64>| TensorProto { dims: dims.to_vec(), data_type: data_type::INT64, int64_data: v, ..Default::default() };
    let with = |sp: SparseTensorProto| {
        let mut m = ModelProto::decode(&model(vec![node("Add", "add", &["x", "w"], &["y"])], vec![])[..]).unwrap();
        m.graph.as_mut().unwrap().sparse_initializer.push(sp);
        m.encode_to_vec()
    };
    let x = Tensor::from_vec(&[2, 3], vec![0.0f32; 6]).unwrap();
    // Linear [NNZ] and coordinate [NNZ, rank] forms give the same weight.
    for idx in [ints(&[2], vec![1, 5]), ints(&[2, 2], vec![0, 1, 1, 2])] {
        let s = load_session(&with(sparse(idx, vec![2.5, -1.0], &[2, 3]))).unwrap();
        let y = s.run(vec![("x".into(), x.clone())]).unwrap().outputs[0].1.to_f64_vec();
        assert_eq!(y, vec![0.0, 2.5, 0.0, 0.0, 0.0, -1.0]);
    }
    for (sp, want) in [
        (sparse(ints(&[2], vec![1, 6]), vec![1.0, 2.0], &[2, 3]), "'w': sparse initializer: index 6 is outside 6 elements"),
        (sparse(ints(&[2], vec![1, -1]), vec![1.0, 2.0], &[2, 3]), "index -1 is outside"),
        (sparse(ints(&[2, 2], vec![0, 1, 2, 0]), vec![1.0, 2.0], &[2, 3]), "coordinate [2, 0] is outside dims [2, 3]"),
        (sparse(ints(&[3], vec![0, 1, 2]), vec![1.0, 2.0], &[2, 3]), "indices have shape [3]; 2 values need [2] or [2, 2]"),
        (
            sparse(TensorProto { dims: vec![2], data_type: data_type::INT32, int32_data: vec![0, 1], ..Default::default() }, vec![1.0, 2.0], &[2, 3]),
            "indices must be int64",
        ),
        (SparseTensorProto { values: None, indices: None, dims: vec![2] }, "a sparse initializer has no values tensor"),
        (sparse(ints(&[1], vec![0]), vec![1.0], &[-2, 3]), "negative dimension"),
    ] {
        let e = err_of(&with(sp));
        assert!(e.contains(want), "{e}");
    }
    // A name that is both a dense and a sparse initializer.
    let mut m = ModelProto::decode(&with(sparse(ints(&[1], vec![0]), vec![1.0], &[2, 3]))[..]).unwrap();
    m.graph.as_mut().unwrap().initializer.push(common::floats("w", &[2, 3], vec![0.0; 6]));
    assert!(err_of(&m.encode_to_vec()).contains("'w': is both a dense and a sparse initializer"));
}
