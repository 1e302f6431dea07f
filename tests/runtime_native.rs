#![cfg(not(target_arch = "wasm32"))]
//! Planner behaviour: constant folding, and errors from folded nodes at load.

mod common;

use common::{node_with, tensor_vi};
use prost::Message;
use squish::formats::onnx::proto::{self, data_type, AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto};
use squish::{load_session, Tensor};

fn node(op: &str, name: &str, inputs: &[&str], outputs: &[&str], attrs: Vec<AttributeProto>) -> NodeProto {
    node_with(op, name, inputs, outputs, attrs)
}

fn tensor_attr(name: &str, dims: &[i64], values: &[f32]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: proto::attribute_type::TENSOR,
        t: Some(TensorProto { dims: dims.to_vec(), data_type: data_type::FLOAT, float_data: values.to_vec(), ..Default::default() }),
        ..Default::default()
    }
}

fn model(nodes: Vec<NodeProto>, initializers: Vec<TensorProto>) -> Vec<u8> {
    ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: 17 }],
        graph: Some(GraphProto {
            node: nodes,
            initializer: initializers,
            input: vec![tensor_vi("x", &[3])],
            output: vec![tensor_vi("y", &[3])],
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

#[test]
fn constant_subgraphs_are_computed_once_at_load() {
    let bytes = model(
        vec![
            node("Constant", "c", &[], &["c"], vec![tensor_attr("value", &[3], &[1.0, 2.0, 3.0])]),
            node("Mul", "twice", &["c", "two"], &["c2"], vec![]),
            node("Add", "add", &["x", "c2"], &["y"], vec![]),
        ],
        vec![TensorProto { name: "two".into(), dims: vec![], data_type: data_type::FLOAT, float_data: vec![2.0], ..Default::default() }],
    );
    let s = load_session(&bytes).unwrap();
    // Only the Add depends on the input; Constant and Mul were folded.
    assert_eq!(s.plan().steps.len(), 1);
    assert_eq!(s.plan().folded.len(), 2);
    let x = Tensor::from_vec(&[3], vec![10.0f32, 20.0, 30.0]).unwrap();
    let out = s.run(vec![("x".into(), x)]).unwrap();
    assert_eq!(out.outputs[0].1.to_f64_vec(), vec![12.0, 24.0, 36.0]);
}

#[test]
fn a_folded_node_that_fails_is_reported_at_load_with_its_name() {
    let shape = TensorProto { name: "shape".into(), dims: vec![1], data_type: data_type::INT64, int64_data: vec![4], ..Default::default() };
    let bytes = model(
        vec![
            node("Constant", "c", &[], &["c"], vec![tensor_attr("value", &[3], &[1.0, 2.0, 3.0])]),
            node("Reshape", "bad_reshape", &["c", "shape"], &["r"], vec![]),
            node("Add", "add", &["x", "r"], &["y"], vec![]),
        ],
        vec![shape],
    );
    let e = load_session(&bytes).err().expect("load must fail").to_string();
    assert!(e.contains("node 'bad_reshape' (Reshape)") && e.contains("cannot reshape"), "{e}");
}

#[test]
fn an_input_overriding_an_initializer_is_not_folded() {
    // IR < 4 style: "w" is both an initializer (default) and a graph input.
    let mut m = ModelProto::decode(
        &model(
            vec![node("Add", "add", &["x", "w"], &["y"], vec![])],
            vec![TensorProto { name: "w".into(), dims: vec![3], data_type: data_type::FLOAT, float_data: vec![1.0, 1.0, 1.0], ..Default::default() }],
        )[..],
    )
    .unwrap();
    m.graph.as_mut().unwrap().input.push(tensor_vi("w", &[3]));
    let s = load_session(&m.encode_to_vec()).unwrap();
    let x = Tensor::from_vec(&[3], vec![1.0f32, 2.0, 3.0]).unwrap();
    let w = Tensor::from_vec(&[3], vec![5.0f32, 5.0, 5.0]).unwrap();
    assert_eq!(s.run(vec![("x".into(), x.clone())]).unwrap().outputs[0].1.to_f64_vec(), vec![2.0, 3.0, 4.0]);
    assert_eq!(s.run(vec![("x".into(), x), ("w".into(), w)]).unwrap().outputs[0].1.to_f64_vec(), vec![6.0, 7.0, 8.0]);
}

#[test]
fn before_ir_4_weights_listed_as_inputs_are_constants_unless_fed() {
    // IR 3 lists every initializer as a graph input; onnxruntime treats them
    // as constants, so folding (and prepacking) apply, yet a caller may feed one.
    let mut m = ModelProto::decode(
        &model(
            vec![node("Mul", "twice", &["w", "two"], &["w2"], vec![]), node("Add", "add", &["x", "w2"], &["y"], vec![])],
            vec![
                TensorProto { name: "w".into(), dims: vec![3], data_type: data_type::FLOAT, float_data: vec![1.0, 1.0, 1.0], ..Default::default() },
                TensorProto { name: "two".into(), dims: vec![], data_type: data_type::FLOAT, float_data: vec![2.0], ..Default::default() },
            ],
        )[..],
    )
    .unwrap();
    m.ir_version = 3;
    let g = m.graph.as_mut().unwrap();
    g.input.insert(0, tensor_vi("w", &[3]));
    g.input.push(tensor_vi("two", &[]));
    let s = load_session(&m.encode_to_vec()).unwrap();
    let inputs: Vec<&str> = s.model().graph.inputs.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(inputs, ["x"], "weights are not inputs");
    assert_eq!(s.plan().steps.len(), 1, "Mul of two weights folded at load");
    let x = Tensor::from_vec(&[3], vec![1.0f32, 2.0, 3.0]).unwrap();
    let w = Tensor::from_vec(&[3], vec![5.0f32, 5.0, 5.0]).unwrap();
    assert_eq!(s.run(vec![("x".into(), x.clone())]).unwrap().outputs[0].1.to_f64_vec(), vec![3.0, 4.0, 5.0]);
    assert_eq!(s.run(vec![("x".into(), x.clone()), ("w".into(), w)]).unwrap().outputs[0].1.to_f64_vec(), vec![11.0, 12.0, 13.0]);
    // Feeding a name that is neither still fails, naming it.
    let e = s.run(vec![("x".into(), x.clone()), ("nope".into(), x.clone())]).unwrap_err().to_string();
    assert!(e.contains("nope"), "{e}");
    // Saved as IR 3 again: every initializer listed as an input, typed.
    let saved = ModelProto::decode(&squish::formats::onnx::model_to_bytes(s.model())[..]).unwrap();
    assert_eq!(saved.ir_version, 3);
    let listed: Vec<&str> = saved.graph.as_ref().unwrap().input.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(listed, ["x", "w", "two"]);
    assert_eq!(squish::formats::onnx::encoded_len(s.model()), squish::formats::onnx::model_to_bytes(s.model()).len());
}

/// Static inference agrees with what running the model produces: every
/// graph output whose inferred shape is fully known has exactly the run's
/// shape and dtype, for every fixture model.
#[test]
fn inferred_output_shapes_match_real_runs() {
    use squish::ir::Dim;
    use squish::ops::facts::infer_for;
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut checked = 0;
    for entry in std::fs::read_dir(&root).unwrap().flatten() {
        let dir = entry.path();
        if !dir.join("model.onnx").exists() {
            continue;
        }
        let bytes = std::fs::read(dir.join("model.onnx")).unwrap();
        let session = load_session(&bytes).unwrap();
        let names: Vec<String> = session.model().graph.real_inputs().map(|v| v.name.clone()).collect();
        let inputs: Vec<(String, Tensor)> = names
            .iter()
            .enumerate()
            .map(|(j, n)| {
                let b = std::fs::read(dir.join(format!("test_data_set_0/input_{j}.pb"))).unwrap();
                let tp = squish::formats::onnx::proto::decode_tensor(&b).unwrap();
                (n.clone(), squish::formats::onnx::tensor_io::tensor_from_proto(&tp).unwrap())
            })
            .collect();
        let concrete: Vec<_> = inputs.iter().map(|(n, t)| (n.clone(), t.dtype(), t.shape().to_vec())).collect();
        let facts = infer_for(session.model(), &concrete);
        let out = session.run(inputs).unwrap();
        for (name, t) in &out.outputs {
            let Some(f) = facts.get(name) else { continue };
            if let Some(d) = f.dtype {
                assert_eq!(d, t.dtype(), "{}: {name} dtype", dir.display());
            }
            if let Some(shape) = &f.shape {
                let fixed: Option<Vec<usize>> = shape.iter().map(|d| if let Dim::Fixed(v) = d { Some(*v as usize) } else { None }).collect();
                if let Some(fixed) = fixed {
                    assert_eq!(fixed, t.shape(), "{}: {name} shape", dir.display());
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 4, "only {checked} outputs had fully inferred shapes");
}

#[test]
fn inference_carries_symbolic_batch_through_an_mlp() {
    use squish::ir::Dim;
    use squish::ops::facts::infer;
    let bytes = std::fs::read(std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/digits_mlp/model.onnx")).unwrap();
    let model = squish::formats::onnx::load_model(&bytes).unwrap();
    let facts = infer(&model);
    // X is [?, 64]: hidden layers are [?, 64] and [?, 32], the output [?, 10].
    let shape = |n: &str| facts.get(n).and_then(|f| f.shape.clone()).unwrap_or_else(|| panic!("no shape for {n}"));
    assert_eq!(shape("next_activations")[1], Dim::Fixed(64));
    assert_eq!(shape("next_activations1")[1], Dim::Fixed(32));
    assert_eq!(shape("probabilities")[1], Dim::Fixed(10));
    assert_eq!(facts["probabilities"].dtype, Some(squish::DType::F32));
}

/// Conv (1×1, 2 → 2 channels, bias) followed by `act`, input [1, 2, 2, 2].
fn conv_then(act: NodeProto, extra: Vec<TensorProto>) -> Vec<u8> {
    let f = |name: &str, dims: &[i64], v: &[f32]| TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: data_type::FLOAT,
        float_data: v.to_vec(),
        ..Default::default()
    };
    let mut inits = vec![f("w", &[2, 2, 1, 1], &[1.0, -2.0, 0.5, 3.0]), f("b", &[2], &[0.25, -0.75])];
    inits.extend(extra);
    ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: 17 }],
        graph: Some(GraphProto {
            node: vec![node("Conv", "conv", &["x", "w", "b"], &["c"], vec![]), act],
            initializer: inits,
            input: vec![tensor_vi("x", &[1, 2, 2, 2])],
            output: vec![tensor_vi("y", &[1, 2, 2, 2])],
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

#[test]
fn conv_then_relu_or_clip_fuses_and_stays_bit_identical() {
    let scalar = |name: &str, v: f32| TensorProto { name: name.into(), dims: vec![], data_type: data_type::FLOAT, float_data: vec![v], ..Default::default() };
    let cases = [
        (conv_then(node("Relu", "act", &["c"], &["y"], vec![]), vec![]), "Relu"),
        (conv_then(node("Clip", "act", &["c", "lo", "hi"], &["y"], vec![]), vec![scalar("lo", -0.5), scalar("hi", 1.5)]), "Clip"),
        (conv_then(node("Clip", "act", &["c", "", "hi"], &["y"], vec![]), vec![scalar("hi", 0.0)]), "Clip without min"),
    ];
    let x = Tensor::from_vec(&[1, 2, 2, 2], vec![1.0f32, -1.0, f32::NAN, 0.3, 0.2, 2.0, -0.4, -0.0]).unwrap();
    for (bytes, what) in cases {
        let fused = load_session(&bytes).unwrap();
        let plain = squish::Session::for_comparison(squish::formats::onnx::load_model(&bytes).unwrap()).unwrap();
        assert_eq!(fused.plan().steps.len(), 1, "{what}: Conv and the activation run as one step");
        assert_eq!(plain.plan().steps.len(), 2, "{what}: the comparison session keeps both");
        let a = fused.run(vec![("x".into(), x.clone())]).unwrap().outputs[0].1.to_f64_vec();
        let b = plain.run(vec![("x".into(), x.clone())]).unwrap().outputs[0].1.to_f64_vec();
        let bits = |v: &[f64]| v.iter().map(|f| (*f as f32).to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&a), bits(&b), "{what}: {a:?} vs {b:?}");
        assert!(a.iter().any(|v| v.is_nan()), "{what}: NaN passes through");
    }
    // A Conv output read by two nodes is not fused (the other reader needs it).
    let two_readers = ModelProto::decode(&conv_then(node("Relu", "act", &["c"], &["y"], vec![]), vec![])[..]).unwrap();
    let mut m = two_readers;
    let g = m.graph.as_mut().unwrap();
    g.node.push(node("Identity", "peek", &["c"], &["peeked"], vec![]));
    g.output.push(tensor_vi("peeked", &[1, 2, 2, 2]));
    let s = load_session(&m.encode_to_vec()).unwrap();
    assert_eq!(s.plan().steps.len(), 3);
}

#[test]
fn batch_norm_after_a_constant_conv_is_folded_into_it_within_rounding() {
    let f = |name: &str, v: &[f32]| TensorProto { name: name.into(), dims: vec![2], data_type: data_type::FLOAT, float_data: v.to_vec(), ..Default::default() };
    let bn_params = vec![f("scale", &[1.5, -0.5]), f("shift", &[0.1, 0.2]), f("mean", &[0.3, -1.0]), f("var", &[0.25, 4.0])];
    let bn = |eps: f32| {
        let a = AttributeProto { name: "epsilon".into(), r#type: proto::attribute_type::FLOAT, f: eps, ..Default::default() };
        node("BatchNormalization", "bn", &["c", "scale", "shift", "mean", "var"], &["n"], vec![a])
    };
    let with_relu = |bytes: Vec<u8>| {
        let mut m = ModelProto::decode(&bytes[..]).unwrap();
        let g = m.graph.as_mut().unwrap();
        g.node.push(node("Relu", "relu", &["n"], &["y"], vec![]));
        m.encode_to_vec()
    };
    let renamed = |bytes: Vec<u8>| {
        let mut m = ModelProto::decode(&bytes[..]).unwrap();
        m.graph.as_mut().unwrap().node[1].output[0] = "y".into();
        m.encode_to_vec()
    };
    let x = Tensor::from_vec(&[1, 2, 2, 2], vec![1.0f32, -1.0, 0.7, 0.3, 0.2, 2.0, -0.4, -0.0]).unwrap();
    for (bytes, steps, what) in [
        (renamed(conv_then(bn(1e-3), bn_params.clone())), 1, "Conv → BatchNormalization"),
        (with_relu(conv_then(bn(1e-5), bn_params.clone())), 1, "Conv → BatchNormalization → Relu"),
    ] {
        let folded = load_session(&bytes).unwrap();
        let plain = squish::Session::for_comparison(squish::formats::onnx::load_model(&bytes).unwrap()).unwrap();
        assert_eq!(folded.plan().steps.len(), steps, "{what}: one step");
        assert!(plain.plan().steps.len() > steps, "{what}: the comparison session keeps every op");
        let a = folded.run(vec![("x".into(), x.clone())]).unwrap().outputs[0].1.to_f64_vec();
        let b = plain.run(vec![("x".into(), x.clone())]).unwrap().outputs[0].1.to_f64_vec();
        for (p, q) in a.iter().zip(&b) {
            assert!((p - q).abs() <= 1e-5 * (1.0 + q.abs()), "{what}: {a:?} vs {b:?}");
        }
    }
    // Training-mode normalisation (batch statistics) is not folded.
    let mut m = ModelProto::decode(&renamed(conv_then(bn(1e-5), bn_params))[..]).unwrap();
    let training = AttributeProto { name: "training_mode".into(), r#type: proto::attribute_type::INT, i: 1, ..Default::default() };
    m.graph.as_mut().unwrap().node[1].attribute.push(training);
    assert_eq!(load_session(&m.encode_to_vec()).unwrap().plan().steps.len(), 2);
}

/// A float model `x [2, 3, 4] → y` from `nodes` and `inits`, opset 17.
fn float_model(nodes: Vec<NodeProto>, inits: Vec<TensorProto>, y_dims: &[i64]) -> Vec<u8> {
    ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: 17 }],
        graph: Some(GraphProto {
            node: nodes,
            initializer: inits,
            input: vec![tensor_vi("x", &[2, 3, 4])],
            output: vec![tensor_vi("y", y_dims)],
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

fn floats(name: &str, dims: &[i64], values: Vec<f32>) -> TensorProto {
    TensorProto { name: name.into(), dims: dims.to_vec(), data_type: data_type::FLOAT, float_data: values, ..Default::default() }
}

/// Runs `bytes` fused and unfused on awkward values and checks the fused
/// session has `steps` steps and the same output bits.
fn fused_equals_unfused(bytes: &[u8], steps: usize, what: &str) {
    let fused = load_session(bytes).unwrap();
    let plain = squish::Session::for_comparison(squish::formats::onnx::load_model(bytes).unwrap()).unwrap();
    assert_eq!(fused.plan().steps.len(), steps, "{what}: fused step count");
    assert!(plain.plan().steps.len() > steps, "{what}: the comparison session keeps the chain");
    let mut v: Vec<f32> = (0..24).map(|i| (i as f32 - 11.5) * 0.77).collect();
    v[3] = f32::NAN;
    v[5] = -0.0;
    v[7] = 1e-30;
    v[9] = 40.0;
    let x = Tensor::from_vec(&[2, 3, 4], v).unwrap();
    let a = fused.run(vec![("x".into(), x.clone())]).unwrap().outputs[0].1.to_f64_vec();
    let b = plain.run(vec![("x".into(), x)]).unwrap().outputs[0].1.to_f64_vec();
    let bits = |v: &[f64]| v.iter().map(|f| (*f as f32).to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&a), bits(&b), "{what}: {a:?} vs {b:?}");
}

#[test]
fn exported_erf_gelu_chains_fuse_and_stay_bit_identical() {
    let c = |name: &str, v: f32| node("Constant", name, &[], &[name], vec![tensor_attr("value", &[], &[v])]);
    // torch's export: (x · (erf(x / √2) + 1)) · 0.5, constants as Constant nodes.
    let torch = vec![
        c("sqrt2", std::f32::consts::SQRT_2),
        c("one", 1.0),
        c("half", 0.5),
        node("Div", "div", &["x", "sqrt2"], &["t"], vec![]),
        node("Erf", "erf", &["t"], &["e"], vec![]),
        node("Add", "add", &["e", "one"], &["a"], vec![]),
        node("Mul", "mul", &["x", "a"], &["m"], vec![]),
        node("Mul", "mul1", &["m", "half"], &["y"], vec![]),
    ];
    fused_equals_unfused(&float_model(torch.clone(), vec![], &[2, 3, 4]), 1, "x / √2, (x·e)·½");
    // The other spelling: x · (1/√2), constants as initializers, (½·x) · e.
    let inits = vec![floats("r", &[], vec![std::f32::consts::FRAC_1_SQRT_2]), floats("one", &[1], vec![1.0]), floats("half", &[], vec![0.5])];
    let other = vec![
        node("Mul", "scale", &["r", "x"], &["t"], vec![]),
        node("Erf", "erf", &["t"], &["e"], vec![]),
        node("Add", "add", &["one", "e"], &["a"], vec![]),
        node("Mul", "halve", &["x", "half"], &["h"], vec![]),
        node("Mul", "mul", &["h", "a"], &["y"], vec![]),
    ];
    fused_equals_unfused(&float_model(other, inits, &[2, 3, 4]), 1, "x · r, (½x)·e");
    // An inner value that is also a graph output keeps the chain unfused.
    let mut m = ModelProto::decode(&float_model(torch, vec![], &[2, 3, 4])[..]).unwrap();
    m.graph.as_mut().unwrap().output.push(tensor_vi("e", &[2, 3, 4]));
    assert_eq!(load_session(&m.encode_to_vec()).unwrap().plan().steps.len(), 5);
}

#[test]
fn matmul_then_constant_bias_fuses_and_stays_bit_identical() {
    let w = floats("w", &[4, 5], (0..20).map(|i| (i as f32 * 0.37).sin()).collect());
    let bias = |dims: &[i64]| floats("b", dims, vec![0.5, -1.25, 3.0, 1e-3, -0.0]);
    for (dims, through_identity) in [(&[5][..], false), (&[1, 5][..], false), (&[5][..], true)] {
        let mut nodes = vec![node("MatMul", "mm", &["x", "w"], &["p"], vec![])];
        let b_name = if through_identity {
            nodes.push(node("Identity", "id", &["b"], &["b_id"], vec![]));
            "b_id"
        } else {
            "b"
        };
        nodes.push(node("Add", "add", &[b_name, "p"], &["y"], vec![]));
        fused_equals_unfused(&float_model(nodes, vec![w.clone(), bias(dims)], &[2, 3, 5]), 1, &format!("bias {dims:?}, identity {through_identity}"));
    }
    // A bias of another length is a broadcast the fused op does not take: not fused.
    let nodes = vec![node("MatMul", "mm", &["x", "w"], &["p"], vec![]), node("Add", "add", &["p", "b"], &["y"], vec![])];
    let s = load_session(&float_model(nodes, vec![w, floats("b", &[3, 1], vec![1.0, 2.0, 3.0])], &[2, 3, 5])).unwrap();
    assert_eq!(s.plan().steps.len(), 2);
}

#[test]
fn dying_values_lend_their_buffers_to_the_next_op() {
    // x → Relu → (2 − ·) → (· / 4) → Reshape → Softmax → Sub(·, c): every step can
    // write into its input's buffer, so peak memory stays at one tensor.
    let inits = vec![
        floats("two", &[], vec![2.0]),
        floats("four", &[1], vec![4.0]),
        floats("c", &[4], vec![0.5, -0.5, 1.0, 0.0]),
        TensorProto { name: "shape".into(), dims: vec![2], data_type: data_type::INT64, int64_data: vec![6, 4], ..Default::default() },
    ];
    let nodes = vec![
        node("Relu", "relu", &["x"], &["r"], vec![]),
        node("Sub", "sub", &["two", "r"], &["s"], vec![]),
        node("Div", "div", &["s", "four"], &["d"], vec![]),
        node("Reshape", "reshape", &["d", "shape"], &["m"], vec![]),
        node("Softmax", "softmax", &["m"], &["p"], vec![]),
        node("Sub", "shift", &["p", "c"], &["y"], vec![]),
    ];
    let bytes = float_model(nodes, inits, &[6, 4]);
    let s = load_session(&bytes).unwrap();
    let xs: Vec<f32> = (0..24).map(|i| (i as f32 - 10.0) * 0.3).collect();
    let run = s.run(vec![("x".into(), Tensor::from_vec(&[2, 3, 4], xs.clone()).unwrap())]).unwrap();
    assert_eq!(run.peak_bytes, 24 * 4, "one buffer all the way");
    // The same arithmetic written out.
    let d: Vec<f32> = xs.iter().map(|&x| (2.0 - x.max(0.0)) / 4.0).collect();
    let mut want = Vec::new();
    for row in d.chunks(4) {
        let m = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let e: Vec<f64> = row.iter().map(|&v| ((v - m) as f64).exp()).collect();
        let sum: f64 = e.iter().sum();
        want.extend(e.iter().zip([0.5, -0.5, 1.0, 0.0]).map(|(v, c)| v / sum - c));
    }
    let got = run.outputs[0].1.to_f64_vec();
    assert_eq!(run.outputs[0].1.shape(), &[6, 4]);
    assert!(common::worst_excess(&got, &want, 1e-6) <= 0.0, "{got:?} vs {want:?}");
    // A value read twice by one node is never lent (Mul(x, x) needs both).
    let sq = float_model(vec![node("Relu", "relu", &["x"], &["r"], vec![]), node("Mul", "sq", &["r", "r"], &["y"], vec![])], vec![], &[2, 3, 4]);
    let s = load_session(&sq).unwrap();
    let out = s.run(vec![("x".into(), Tensor::from_vec(&[2, 3, 4], xs.clone()).unwrap())]).unwrap().outputs[0].1.to_f64_vec();
    let want: Vec<f64> = xs.iter().map(|&x| (x.max(0.0) * x.max(0.0)) as f64).collect();
    assert_eq!(out, want);
}

#[test]
fn an_int8_table_is_gathered_as_codes_and_never_expanded() {
    use common::node_with;
    let idx_vi = |name: &str| {
        let mut v = tensor_vi(name, &[2, 2]);
        if let Some(proto::type_proto::Value::TensorType(t)) = v.r#type.as_mut().and_then(|t| t.value.as_mut()) {
            t.elem_type = data_type::INT64;
        }
        v
    };
    let int_attr = |name: &str, v: i64| AttributeProto { name: name.into(), r#type: proto::attribute_type::INT, i: v, ..Default::default() };
    let codes: Vec<i32> = vec![-128, -1, 0, 1, 127, 5, 9, -7, 3, 100, -100, 64, 2, 2, 2];
    for per_row in [false, true] {
        let n_params: i32 = if per_row { 5 } else { 1 };
        let scales: Vec<f32> = (0..n_params).map(|i| 0.01 + 0.37 * i as f32).collect();
        let zps: Vec<i32> = (0..n_params).map(|i| i * 3 - 4).collect();
        let inits = vec![
            TensorProto { name: "codes".into(), dims: vec![5, 3], data_type: data_type::INT8, int32_data: codes.clone(), ..Default::default() },
            TensorProto {
                name: "scale".into(),
                dims: if per_row { vec![5] } else { vec![] },
                data_type: data_type::FLOAT,
                float_data: scales.clone(),
                ..Default::default()
            },
            TensorProto {
                name: "zp".into(),
                dims: if per_row { vec![5] } else { vec![] },
                data_type: data_type::INT8,
                int32_data: zps.clone(),
                ..Default::default()
            },
        ];
        let nodes = vec![
            node_with("DequantizeLinear", "dq", &["codes", "scale", "zp"], &["table"], vec![int_attr("axis", 0)]),
            node_with("Gather", "gather", &["table", "ids"], &["y"], vec![]),
        ];
        let bytes = ModelProto {
            ir_version: 8,
            opset_import: vec![OperatorSetIdProto { domain: String::new(), version: 17 }],
            graph: Some(GraphProto {
                node: nodes,
                initializer: inits,
                input: vec![idx_vi("ids")],
                output: vec![tensor_vi("y", &[2, 2, 3])],
                ..Default::default()
            }),
            ..Default::default()
        }
        .encode_to_vec();
        let s = load_session(&bytes).unwrap();
        assert_eq!(s.plan().steps.len(), 1, "per_row {per_row}: one fused step");
        assert!(s.plan().folded.is_empty(), "per_row {per_row}: no float copy of the table");
        let ids = Tensor::from_vec(&[2, 2], vec![4i64, 0, -1, 2]).unwrap();
        let got = s.run(vec![("ids".into(), ids)]).unwrap().outputs[0].1.to_f64_vec();
        let mut want = Vec::new();
        for r in [4usize, 0, 4, 2] {
            let p = if per_row { r } else { 0 };
            want.extend((0..3).map(|j| ((codes[r * 3 + j] - zps[p]) as f32 * scales[p]) as f64));
        }
        assert_eq!(got, want, "per_row {per_row}");
        // The unfused graph (the table is also an output, so it stays) agrees bit for bit.
        let mut m = ModelProto::decode(&bytes[..]).unwrap();
        m.graph.as_mut().unwrap().output.push(tensor_vi("table", &[5, 3]));
        let plain = load_session(&m.encode_to_vec()).unwrap();
        assert!(!plain.plan().folded.is_empty());
        let ids = Tensor::from_vec(&[2, 2], vec![4i64, 0, -1, 2]).unwrap();
        assert_eq!(plain.run(vec![("ids".into(), ids)]).unwrap().outputs[0].1.to_f64_vec(), got, "per_row {per_row}: unfused");
        let bad = Tensor::from_vec(&[2, 2], vec![0i64, 5, 0, 0]).unwrap();
        let err = s.run(vec![("ids".into(), bad)]).unwrap_err().to_string();
        assert!(err.contains("index 5 is out of range") && err.contains("gather"), "{err}");
    }
}

#[test]
fn conv_integer_with_constant_filters_matches_filters_given_at_run_time() {
    use common::node_with;
    let typed = |name: &str, dims: &[i64], elem: i32| {
        let mut v = tensor_vi(name, dims);
        if let Some(proto::type_proto::Value::TensorType(t)) = v.r#type.as_mut().and_then(|t| t.value.as_mut()) {
            t.elem_type = elem;
        }
        v
    };
    let ints = |name: &str, v: &[i64]| AttributeProto { name: name.into(), r#type: proto::attribute_type::INTS, ints: v.to_vec(), ..Default::default() };
    let int = |name: &str, v: i64| AttributeProto { name: name.into(), r#type: proto::attribute_type::INT, i: v, ..Default::default() };
    // (kernel, strides, pads, group): 1×1 direct, strided and padded 3×3, grouped.
    for (k, s, p, group) in [(1i64, 1i64, 0i64, 1i64), (3, 2, 1, 1), (3, 1, 1, 2), (1, 2, 0, 2)] {
        let (c, m, h) = (4usize, 6usize, 5usize);
        let cg = c / group as usize;
        let wlen = m * cg * (k * k) as usize;
        let wdims = [m as i64, cg as i64, k, k];
        let wvals: Vec<i32> = (0..wlen).map(|i| ((i * 37 + 11) % 256) as i32).collect();
        let attrs = vec![ints("kernel_shape", &[k, k]), ints("strides", &[s, s]), ints("pads", &[p, p, p, p]), int("group", group)];
        let model = |w_constant: bool| {
            let mut inits = vec![
                TensorProto { name: "xz".into(), dims: vec![], data_type: data_type::UINT8, int32_data: vec![131], ..Default::default() },
                TensorProto { name: "wz".into(), dims: vec![], data_type: data_type::UINT8, int32_data: vec![128], ..Default::default() },
            ];
            let mut inputs = vec![typed("x", &[1, c as i64, h as i64, h as i64], data_type::UINT8)];
            if w_constant {
                inits.push(TensorProto {
                    name: "w".into(),
                    dims: wdims.to_vec(),
                    data_type: data_type::UINT8,
                    int32_data: wvals.clone(),
                    ..Default::default()
                });
            } else {
                inputs.push(typed("w", &wdims, data_type::UINT8));
            }
            ModelProto {
                ir_version: 8,
                opset_import: vec![OperatorSetIdProto { domain: String::new(), version: 17 }],
                graph: Some(GraphProto {
                    node: vec![node_with("ConvInteger", "conv", &["x", "w", "xz", "wz"], &["y"], attrs.clone())],
                    initializer: inits,
                    input: inputs,
                    output: vec![typed("y", &[], data_type::INT32)],
                    ..Default::default()
                }),
                ..Default::default()
            }
            .encode_to_vec()
        };
        let x = Tensor::from_vec(&[1, c, h, h], (0..c * h * h).map(|i| ((i * 53 + 7) % 256) as u8).collect::<Vec<u8>>()).unwrap();
        let w = Tensor::from_vec(&[m, cg, k as usize, k as usize], wvals.iter().map(|&v| v as u8).collect::<Vec<u8>>()).unwrap();
        let packed = load_session(&model(true)).unwrap().run(vec![("x".into(), x.clone())]).unwrap();
        let plain = load_session(&model(false)).unwrap().run(vec![("x".into(), x.clone()), ("w".into(), w)]).unwrap();
        let (a, b) = (&packed.outputs[0].1, &plain.outputs[0].1);
        assert_eq!(a.shape(), b.shape(), "k{k} s{s} p{p} g{group}");
        assert_eq!(a.to_f64_vec(), b.to_f64_vec(), "k{k} s{s} p{p} g{group}");
        assert!(a.to_f64_vec().iter().any(|&v| v != 0.0));
    }
}

/// The memory estimate (the ops' output facts along the plan's liveness)
/// bounds what runs really need, for every fixture whose shapes are all
/// inferable; and a run that would need more than the limit is refused
/// before anything is allocated (here a 32768² outer product: 4 GiB).
#[test]
fn memory_is_known_before_a_run_and_too_much_is_refused() {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut estimated = 0;
    for dir in ["digits_mlp", "mtcnn_pnet", "mtcnn_onet", "ppocr_cls", "oww_embedding", "oww_hey_jarvis", "oww_melspectrogram", "silero_vad_legacy"] {
        let bytes = std::fs::read(root.join(dir).join("model.onnx")).unwrap();
        let session = load_session(&bytes).unwrap();
        let names: Vec<String> = session.model().graph.real_inputs().map(|v| v.name.clone()).collect();
        let inputs: Vec<(String, Tensor)> = names
            .iter()
            .enumerate()
            .map(|(j, n)| {
                let b = std::fs::read(root.join(dir).join(format!("test_data_set_0/input_{j}.pb"))).unwrap();
                let tp = squish::formats::onnx::proto::decode_tensor(&b).unwrap();
                (n.clone(), squish::formats::onnx::tensor_io::tensor_from_proto(&tp).unwrap())
            })
            .collect();
        let estimate = session.estimated_peak_bytes(&inputs);
        let actual = session.run(inputs).unwrap().peak_bytes;
        println!("{dir:20} estimated {estimate:?} bytes, actual peak {actual}");
        if let Some(e) = estimate {
            assert!(e >= actual, "{dir}: estimate {e} below the actual peak {actual}");
            estimated += 1;
        }
    }
    assert!(estimated >= 4, "only {estimated} fixtures had a full estimate");
    let mul = ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: 17 }],
        graph: Some(GraphProto {
            node: vec![node_with("Mul", "outer", &["a", "b"], &["y"], vec![])],
            input: vec![tensor_vi("a", &[32768, 1]), tensor_vi("b", &[1, 32768])],
            output: vec![tensor_vi("y", &[32768, 32768])],
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec();
    let session = load_session(&mul).unwrap();
    let v = || Tensor::from_vec(&[32768, 1], vec![1.0f32; 32768]).unwrap();
    let inputs = vec![("a".to_string(), v()), ("b".to_string(), v().reshaped(&[1, 32768]).unwrap())];
    let e = session.run(inputs).unwrap_err().to_string();
    assert!(e.contains("4096 MiB of intermediate values") && e.contains("a [32768, 1]"), "{e}");
}

/// A pruned constant 1×1 convolution weight runs the sparse kernel (pixels
/// as rows, `Layout::Transposed`); its output equals, bit for bit, the same
/// convolution with the weight fed as an input (dense path), with and
/// without the fused Relu, at many and few pixels, with ∞ and NaN inputs.
#[test]
fn pruned_pointwise_convolutions_give_the_dense_result() {
    let (m, c) = (24, 40);
    for (zeros_every, side) in [(2usize, 5i64), (2, 2), (10, 2), (10, 7)] {
        let w: Vec<f32> = (0..m * c).map(|x| if x % zeros_every != 1 { 0.0 } else { ((x * 37 % 101) as f32 - 50.0) / 50.0 }).collect();
        let b: Vec<f32> = (0..m).map(|x| x as f32 / 10.0 - 1.0).collect();
        let build = |weight_is_input: bool| {
            let nodes = vec![node("Conv", "pw", &["x", "w", "b"], &["h"], vec![]), node("Relu", "r", &["h"], &["y"], vec![])];
            let mut inits = vec![common::floats("b", &[m as i64], b.clone())];
            let mut inputs = vec![tensor_vi("x", &[1, c as i64, side, side])];
            if weight_is_input {
                inputs.push(tensor_vi("w", &[m as i64, c as i64, 1, 1]));
            } else {
                inits.push(common::floats("w", &[m as i64, c as i64, 1, 1], w.clone()));
            }
            let graph =
                GraphProto { node: nodes, initializer: inits, input: inputs, output: vec![tensor_vi("y", &[1, m as i64, side, side])], ..Default::default() };
            let opset = vec![OperatorSetIdProto { domain: String::new(), version: 17 }];
            load_session(&ModelProto { ir_version: 8, opset_import: opset, graph: Some(graph), ..Default::default() }.encode_to_vec()).unwrap()
        };
        let plane = (side * side) as usize;
        let mut x: Vec<f32> = (0..c * plane).map(|v| ((v * 13 % 29) as f32 - 14.0) / 7.0).collect();
        x[3] = f32::INFINITY;
        x[plane + 1] = f32::NAN;
        let x = Tensor::from_vec(&[1, c, side as usize, side as usize], x).unwrap();
        let wt = Tensor::from_vec(&[m, c, 1, 1], w.clone()).unwrap();
        let got = build(false).run(vec![("x".into(), x.clone())]).unwrap().outputs[0].1.to_f64_vec();
        let want = build(true).run(vec![("x".into(), x), ("w".into(), wt)]).unwrap().outputs[0].1.to_f64_vec();
        assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()), "1/{zeros_every} kept, {side}×{side}, output {i}: {g} vs {w}");
        }
        assert!(got.iter().any(|v| v.is_nan()) && got.iter().any(|v| *v > 0.0));
    }
}

/// Depthwise ConvInteger (group = channels) on the direct integer kernel
/// equals the definition computed here in i64: uint8 and int8 codes, zero
/// points, padding (which reads the zero point), strides, dilations, a
/// batch of two, constant filters and filters given at run time.
#[test]
fn depthwise_conv_integer_matches_the_definition() {
    let ints = |name: &str, v: &[i64]| AttributeProto { name: name.into(), r#type: proto::attribute_type::INTS, ints: v.to_vec(), ..Default::default() };
    let int = |name: &str, v: i64| AttributeProto { name: name.into(), r#type: proto::attribute_type::INT, i: v, ..Default::default() };
    let typed = |name: &str, dims: &[usize], elem: i32| {
        let mut v = tensor_vi(name, &dims.iter().map(|&d| d as i64).collect::<Vec<_>>());
        if let Some(proto::type_proto::Value::TensorType(t)) = v.r#type.as_mut().and_then(|t| t.value.as_mut()) {
            t.elem_type = elem;
        }
        v
    };
    // (kernel, stride, pad, dilation, height, width)
    for (k, s, p, d, h, w) in
        [(3usize, 1usize, 1usize, 1usize, 9usize, 21usize), (3, 2, 1, 1, 12, 17), (5, 1, 2, 2, 11, 10), (3, 2, 0, 1, 7, 7), (1, 1, 0, 1, 3, 19)]
    {
        for signed in [false, true] {
            let (n, c) = (2usize, 5usize);
            let elem = if signed { data_type::INT8 } else { data_type::UINT8 };
            let (xz, wz) = if signed { (-3i64, 5i64) } else { (131, 128) };
            let code = |i: usize, mul: usize| if signed { ((i * mul + 11) % 256) as i64 - 128 } else { ((i * mul + 11) % 256) as i64 };
            let xs: Vec<i64> = (0..n * c * h * w).map(|i| code(i, 53)).collect();
            let ws: Vec<i64> = (0..c * k * k).map(|i| code(i, 37)).collect();
            let tensor = |dims: &[usize], v: &[i64]| -> Tensor {
                if signed {
                    Tensor::from_vec(dims, v.iter().map(|&x| x as i8).collect::<Vec<_>>()).unwrap()
                } else {
                    Tensor::from_vec(dims, v.iter().map(|&x| x as u8).collect::<Vec<_>>()).unwrap()
                }
            };
            let attrs = vec![
                ints("kernel_shape", &[k as i64; 2]),
                ints("strides", &[s as i64; 2]),
                ints("pads", &[p as i64; 4]),
                ints("dilations", &[d as i64; 2]),
                int("group", c as i64),
            ];
            let proto_of =
                |name: &str, dims: Vec<i64>, v: Vec<i32>| TensorProto { name: name.into(), dims, data_type: elem, int32_data: v, ..Default::default() };
            let model = |w_constant: bool| {
                let mut inits = vec![proto_of("xz", vec![], vec![xz as i32]), proto_of("wz", vec![], vec![wz as i32])];
                let mut inputs = vec![typed("x", &[n, c, h, w], elem)];
                if w_constant {
                    inits.push(proto_of("w", vec![c as i64, 1, k as i64, k as i64], ws.iter().map(|&v| v as i32).collect()));
                } else {
                    inputs.push(typed("w", &[c, 1, k, k], elem));
                }
                let graph = GraphProto {
                    node: vec![node_with("ConvInteger", "dw", &["x", "w", "xz", "wz"], &["y"], attrs.clone())],
                    initializer: inits,
                    input: inputs,
                    output: vec![typed("y", &[], data_type::INT32)],
                    ..Default::default()
                };
                let opset = vec![OperatorSetIdProto { domain: String::new(), version: 17 }];
                ModelProto { ir_version: 8, opset_import: opset, graph: Some(graph), ..Default::default() }.encode_to_vec()
            };
            let out = |len: usize| (len + 2 * p - d * (k - 1) - 1) / s + 1;
            let (oh, ow) = (out(h), out(w));
            let mut want = Vec::new();
            for b in 0..n {
                for ch in 0..c {
                    for oy in 0..oh {
                        for ox in 0..ow {
                            let mut acc = 0i64;
                            for ky in 0..k {
                                for kx in 0..k {
                                    let (y, x) = ((oy * s + ky * d) as i64 - p as i64, (ox * s + kx * d) as i64 - p as i64);
                                    let inside = (0..h as i64).contains(&y) && (0..w as i64).contains(&x);
                                    let xv = if inside { xs[((b * c + ch) * h + y as usize) * w + x as usize] - xz } else { 0 };
                                    acc += xv * (ws[(ch * k + ky) * k + kx] - wz);
                                }
                            }
                            want.push(acc as f64);
                        }
                    }
                }
            }
            let what = format!("k{k} s{s} p{p} d{d} {h}x{w} signed {signed}");
            let x = tensor(&[n, c, h, w], &xs);
            let constant = load_session(&model(true)).unwrap().run(vec![("x".into(), x.clone())]).unwrap();
            assert_eq!(constant.outputs[0].1.shape(), &[n, c, oh, ow], "{what}");
            assert_eq!(constant.outputs[0].1.to_f64_vec(), want, "{what}: constant filters");
            let given = load_session(&model(false)).unwrap().run(vec![("x".into(), x), ("w".into(), tensor(&[c, 1, k, k], &ws))]).unwrap();
            assert_eq!(given.outputs[0].1.to_f64_vec(), want, "{what}: filters given at run time");
        }
    }
}
