#![cfg(not(target_arch = "wasm32"))] // reads fixtures from disk
//! Compression schemes on the digits classifier: every scheme saves to a
//! model Squish reloads and runs; accuracy targets from the quantisation
//! issue; bad recipes and inputs give clear errors.

mod common;

use common::read;
use squish::compress::{compress, Recipe};
use squish::formats::data::npy::read_npy;
use squish::formats::onnx::{load_model, model_to_bytes};
use squish::{Model, Session, Tensor};

fn digits() -> Model {
    load_model(&read("digits_mlp/model.onnx")).unwrap()
}

fn rows(t: &Tensor, n: usize) -> Tensor {
    let cols = t.shape()[1];
    let v: Vec<f32> = t.as_f32().unwrap().iter().take(n * cols).copied().collect();
    Tensor::from_vec(&[n, cols], v).unwrap()
}

/// 100 training rows, one calibration sample of batch 100.
fn calibration() -> Vec<Vec<(String, Tensor)>> {
    let x = read_npy(&read("digits_mlp/X_train.npy")).unwrap();
    vec![vec![("X".into(), rows(&x, 100))]]
}

fn accuracy(model: Model) -> f64 {
    // Through bytes: what the user downloads is what is measured.
    let model = load_model(&model_to_bytes(&model)).unwrap();
    let x = read_npy(&read("digits_mlp/X_test.npy")).unwrap();
    let y = read_npy(&read("digits_mlp/y_test.npy")).unwrap().to_i64_vec().unwrap();
    let out = Session::new(model).unwrap().run(vec![("X".into(), x)]).unwrap();
    let probs = out.outputs[0].1.to_f64_vec();
    let correct = probs.chunks_exact(10).zip(&y).filter(|(p, &l)| p.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0 as i64 == l).count();
    correct as f64 / y.len() as f64
}

fn compressed(recipe: &str) -> (Model, squish::compress::Record) {
    compress(&digits(), &Recipe::from_json(recipe).unwrap(), &calibration()).unwrap()
}

#[test]
fn every_scheme_runs_and_keeps_digits_accuracy() {
    let cases = [
        (r#"{"scheme":"fp16"}"#, 0.975),
        (r#"{"scheme":"bf16"}"#, 0.97),
        (r#"{"scheme":"int8_weight"}"#, 0.973),
        (r#"{"scheme":"int8_weight","per_channel":false,"symmetric":false}"#, 0.97),
        (r#"{"scheme":"int8_dynamic"}"#, 0.973),
        (r#"{"scheme":"int8_dynamic","per_channel":false}"#, 0.973),
        (r#"{"scheme":"int8_static","calibration":{"method":"minmax"}}"#, 0.97),
        (r#"{"scheme":"int8_static","calibration":{"method":"percentile","percentile":99.9}}"#, 0.96),
        (r#"{"scheme":"int8_static","calibration":{"method":"entropy"}}"#, 0.96),
        (r#"{"scheme":"int8_static","calibration":{"method":"mse"}}"#, 0.96),
        (r#"{"scheme":"int8_block","block_size":32}"#, 0.973),
        (r#"{"scheme":"int4_block","block_size":32}"#, 0.93),
        (r#"{"scheme":"int4_block","block_size":64,"symmetric":false}"#, 0.93),
    ];
    for (recipe, min_acc) in cases {
        let (model, record) = compressed(recipe);
        assert!(!record.entries.is_empty(), "{recipe}: nothing changed");
        assert!(record.model_bytes_after < record.model_bytes_before, "{recipe}: {} → {} bytes", record.model_bytes_before, record.model_bytes_after);
        let acc = accuracy(model);
        println!("{recipe}: accuracy {acc:.4}, {} → {} bytes", record.model_bytes_before, record.model_bytes_after);
        assert!(acc >= min_acc, "{recipe}: accuracy {acc} < {min_acc}");
    }
}

#[test]
fn record_lists_each_weight_with_sizes_and_error() {
    let (_, record) = compressed(r#"{"scheme":"int8_dynamic"}"#);
    let names: Vec<&str> = record.entries.iter().map(|c| c.op_type.as_str()).collect();
    assert!(names.iter().all(|&o| o == "MatMul"), "{names:?}");
    for c in &record.entries {
        assert_eq!(c.settings, "int8_dynamic");
        assert!(c.bytes_after * 3 < c.bytes_before, "{c:?}");
        assert!(c.max_abs_error > 0.0 && c.max_abs_error < 0.05, "{c:?}");
    }
}

#[test]
fn exclusions_and_overrides_give_mixed_precision() {
    let model = digits();
    let matmuls: Vec<String> = model.graph.nodes.iter().filter(|n| n.op_type == "MatMul").map(|n| n.name.clone()).collect();
    assert!(matmuls.len() >= 2);
    let recipe = format!(r#"{{"scheme":"int8_dynamic","exclude":{{"nodes":["{}"]}},"layers":{{"{}":{{"scheme":"fp16"}}}}}}"#, matmuls[0], matmuls[1]);
    let (out, record) = compress(&model, &Recipe::from_json(&recipe).unwrap(), &[]).unwrap();
    assert!(!record.entries.iter().any(|c| c.node == matmuls[0]), "excluded node changed");
    assert!(record.entries.iter().any(|c| c.node == matmuls[1] && c.settings == "fp16"));
    assert!(out.graph.nodes.iter().any(|n| n.name == matmuls[0] && n.op_type == "MatMul"));
    assert!(accuracy(out) >= 0.975);
    // Excluding by op type leaves nothing to do.
    let (_, r) = compress(&model, &Recipe::from_json(r#"{"scheme":"int8_dynamic","exclude":{"op_types":["MatMul"]}}"#).unwrap(), &[]).unwrap();
    assert!(r.entries.is_empty());
}

fn error_of(model: &Model, recipe: &str, calib: &[Vec<(String, Tensor)>]) -> String {
    match Recipe::from_json(recipe) {
        Err(e) => e.to_string(),
        Ok(r) => compress(model, &r, calib).map(|_| ()).unwrap_err().to_string(),
    }
}

#[test]
fn bad_recipes_and_inputs_are_clear_errors() {
    let model = digits();
    let e = error_of(&model, r#"{"scheme":"int8_dynamic","layers":{"no_such_node":{"scheme":"fp16"}}}"#, &[]);
    assert!(e.contains("no_such_node") && e.contains("does not exist"), "{e}");
    let relu = model.graph.nodes.iter().find(|n| n.op_type == "Relu").unwrap().name.clone();
    let e = error_of(&model, &format!(r#"{{"scheme":"fp32","layers":{{"{relu}":{{"scheme":"int8_dynamic"}}}}}}"#), &[]);
    assert!(e.contains(&relu) && e.contains("cannot take scheme int8_dynamic"), "{e}");
    let e = error_of(&model, r#"{"scheme":"int9"}"#, &[]);
    assert!(e.contains("recipe") && e.contains("int9"), "{e}");
    let e = error_of(&model, r#"{"scheme":"int8_dynamic","per_chanel":true}"#, &[]);
    assert!(e.contains("per_chanel"), "{e}");
    let e = error_of(&model, r#"{"scheme":"int8_static"}"#, &[]);
    assert!(e.contains("calibration inputs"), "{e}");
    let wrong = vec![vec![("X".to_string(), Tensor::from_vec(&[2, 63], vec![0.0f32; 126]).unwrap())]];
    let e = error_of(&model, r#"{"scheme":"int8_static"}"#, &wrong);
    assert!(e.contains("calibration") && e.contains("sample 0") && e.contains("'X'"), "{e}");
    let e = error_of(&model, r#"{"scheme":"int4_block","format":"qdq"}"#, &[]);
    assert!(e.contains("opset") && e.contains("matmulnbits"), "{e}");
    let e = error_of(&model, r#"{"scheme":"int4_block","block_size":48}"#, &[]);
    assert!(e.contains("block_size"), "{e}");
    // NaN weights: the tensor is named.
    let mut bad = model.clone();
    let (name, t) = bad.graph.initializers.iter_mut().find(|(_, t)| t.len() > 100).unwrap();
    if let Tensor::F32(a) = t {
        a[[3, 2]] = f32::NAN;
    }
    let name = name.clone();
    let e = error_of(&bad, r#"{"scheme":"int8_dynamic"}"#, &[]);
    assert!(e.contains(&name) && e.contains("NaN"), "{e}");
}

#[test]
fn float16_guard_keeps_out_of_range_weights_in_float32() {
    let mut model = digits();
    let (name, t) = model.graph.initializers.iter_mut().find(|(_, t)| t.len() > 100).unwrap();
    if let Tensor::F32(a) = t {
        a[[0, 0]] = 1e6;
    }
    let name = name.clone();
    let (_, record) = compress(&model, &Recipe::from_json(r#"{"scheme":"fp16"}"#).unwrap(), &[]).unwrap();
    assert!(!record.entries.iter().any(|c| c.tensor == name));
    assert!(record.kept.iter().any(|s| s.reason.contains(&name) && s.reason.contains("float16 range")), "{:?}", record.kept);
    let (_, record) = compress(&model, &Recipe::from_json(r#"{"scheme":"bf16"}"#).unwrap(), &[]).unwrap();
    assert!(record.entries.iter().any(|c| c.tensor == name));
}

/// Every scheme on every fixture model: compresses without error, saves,
/// reloads and runs on the fixture's test input with finite outputs close
/// to the original's (loose bound: this checks plumbing, not accuracy).
#[test]
fn every_scheme_on_every_fixture_runs() {
    let recipes = [
        r#"{"scheme":"fp16"}"#,
        r#"{"scheme":"bf16"}"#,
        r#"{"scheme":"int8_weight"}"#,
        r#"{"scheme":"int8_dynamic"}"#,
        r#"{"scheme":"int8_dynamic","symmetric":false,"per_channel":false}"#,
        r#"{"scheme":"int8_static","calibration":{"method":"mse"}}"#,
        r#"{"scheme":"int4_block"}"#,
        r#"{"scheme":"int8_block","symmetric":false,"block_size":128}"#,
    ];
    let dirs = ["digits_mlp", "mtcnn_onet", "mtcnn_pnet", "oww_embedding", "oww_hey_jarvis", "oww_melspectrogram", "ppocr_cls", "silero_vad_legacy"];
    for dir in dirs {
        let model = load_model(&read(&format!("{dir}/model.onnx"))).unwrap();
        let feeds: Vec<(String, Tensor)> =
            model.graph.real_inputs().enumerate().map(|(j, vi)| (vi.name.clone(), common::read_pb(&format!("{dir}/test_data_set_0/input_{j}.pb")).1)).collect();
        let reference = Session::new(model.clone()).unwrap().run(feeds.clone()).unwrap();
        for recipe in recipes {
            let (out, record) =
                compress(&model, &Recipe::from_json(recipe).unwrap(), std::slice::from_ref(&feeds)).unwrap_or_else(|e| panic!("{dir} {recipe}: {e}"));
            let again = load_model(&model_to_bytes(&out)).unwrap();
            let got =
                Session::new(again).unwrap_or_else(|e| panic!("{dir} {recipe}: {e}")).run(feeds.clone()).unwrap_or_else(|e| panic!("{dir} {recipe}: {e}"));
            for ((name, a), (_, b)) in got.outputs.iter().zip(&reference.outputs) {
                assert_eq!(a.shape(), b.shape(), "{dir} {recipe} {name}");
                let (a, b) = (a.to_f64_vec(), b.to_f64_vec());
                let scale = b.iter().fold(1.0f64, |m, v| m.max(v.abs()));
                let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
                assert!(a.iter().all(|v| v.is_finite()), "{dir} {recipe} {name}: non-finite output");
                assert!(worst <= 0.5 * scale, "{dir} {recipe} {name}: max |Δ| {worst} vs scale {scale}");
            }
            println!("{dir:20} {recipe:70} {} changes, {} → {} bytes", record.entries.len(), record.model_bytes_before, record.model_bytes_after);
        }
    }
}

/// The runtime fuses MatMulInteger → Cast → Mul → Add; observing the Cast
/// outputs keeps the chains unfused. Both must give bit-identical outputs.
#[test]
fn fused_integer_matmul_equals_the_unfused_chain() {
    let (model, _) = compressed(r#"{"scheme":"int8_dynamic"}"#);
    let casts: Vec<String> =
        model.graph.nodes.iter().filter(|n| n.op_type == "Cast" && n.inputs[0].ends_with("_int32")).map(|n| n.outputs[0].clone()).collect();
    assert_eq!(casts.len(), 3);
    let x = read_npy(&read("digits_mlp/X_test.npy")).unwrap();
    let fused = Session::new(model.clone()).unwrap();
    let timings = fused.run_profiled(vec![("X".into(), x.clone())]).unwrap().1;
    assert_eq!(timings.iter().filter(|t| t.op_type == "MatMulIntegerScaled").count(), 3, "the three chains are fused");
    assert!(!timings.iter().any(|t| t.op_type == "Cast" && t.node.contains("MatMul")));
    let a = fused.run(vec![("X".into(), x.clone())]).unwrap();
    let plain = Session::observing(&model, &casts).unwrap();
    let b = plain.run(vec![("X".into(), x)]).unwrap();
    assert_eq!(a.outputs[0], b.outputs[0]);
    // The session's model is the model as given (fusion is not visible).
    assert_eq!(fused.model(), &model);
}

/// QDQ MatMuls (Squish's static output) run as integer products; observing
/// the dequantised activations keeps them unfused. Same outputs up to float
/// summation order.
#[test]
fn qdq_matmul_runs_on_integers_and_matches_dequantise_then_float() {
    let (model, _) = compressed(r#"{"scheme":"int8_static"}"#);
    let x = read_npy(&read("digits_mlp/X_test.npy")).unwrap();
    let fused = Session::new(model.clone()).unwrap();
    let (a, timings) = fused.run_profiled(vec![("X".into(), x.clone())]).unwrap();
    assert_eq!(timings.iter().filter(|t| t.op_type == "QdqMatMul").count(), 3, "{:?}", timings.iter().map(|t| &t.op_type).collect::<Vec<_>>());
    let dq: Vec<String> = model
        .graph
        .nodes
        .iter()
        .filter(|n| n.op_type == "DequantizeLinear" && n.inputs[0].ends_with("_quantized") && !model.graph.initializers.iter().any(|(i, _)| i == &n.inputs[0]))
        .map(|n| n.outputs[0].clone())
        .collect();
    assert_eq!(dq.len(), 3);
    let b = Session::observing(&model, &dq).unwrap().run(vec![("X".into(), x)]).unwrap();
    let (a, b) = (a.outputs[0].1.to_f64_vec(), b.outputs[0].1.to_f64_vec());
    let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
    assert!(worst < 1e-5, "fused and unfused differ by {worst}");
}

/// The ConvInteger chains (int8_dynamic) fuse too, bit-identically: with
/// the input's DynamicQuantizeLinear where it feeds only that convolution
/// (the codes made as they are packed), on mtcnn_pnet and on ppocr_cls's
/// depthwise convolutions.
#[test]
fn fused_integer_conv_equals_the_unfused_chain() {
    for dir in ["mtcnn_pnet", "ppocr_cls"] {
        let model = load_model(&read(&format!("{dir}/model.onnx"))).unwrap();
        let (_, x) = common::read_pb(&format!("{dir}/test_data_set_0/input_0.pb"));
        let input = model.graph.real_inputs().next().unwrap().name.clone();
        let (q, _) = compress(&model, &Recipe::from_json(r#"{"scheme":"int8_dynamic"}"#).unwrap(), &[]).unwrap();
        let casts: Vec<String> =
            q.graph.nodes.iter().filter(|n| n.op_type == "Cast" && n.inputs[0].ends_with("_int32")).map(|n| n.outputs[0].clone()).collect();
        assert!(!casts.is_empty());
        let fused = Session::new(q.clone()).unwrap();
        let (a, timings) = fused.run_profiled(vec![(input.clone(), x.clone())]).unwrap();
        let count = |op: &str| timings.iter().filter(|t| t.op_type == op).count();
        let chains = count("ConvIntegerScaled") + count("DynamicConvInteger") + count("MatMulIntegerScaled");
        assert_eq!(chains, casts.len(), "{dir}: every ConvInteger/MatMulInteger chain fused");
        assert!(count("DynamicConvInteger") * 2 >= casts.len(), "{dir}: {} of {} with their DynamicQuantizeLinear", count("DynamicConvInteger"), casts.len());
        let b = Session::observing(&q, &casts).unwrap().run(vec![(input, x)]).unwrap();
        for ((_, ta), (_, tb)) in a.outputs.iter().zip(&b.outputs) {
            assert_eq!(ta, tb, "{dir}");
        }
    }
}

/// A NaN in the input of a dynamically quantised convolution is an error
/// naming the node and the cause, fused (the quantisation inside the
/// convolution) or not — never a panic or a silent answer.
#[test]
fn nan_input_to_dynamic_int8_convolution_is_a_clear_error() {
    let model = load_model(&read("mtcnn_pnet/model.onnx")).unwrap();
    let (_, x) = common::read_pb("mtcnn_pnet/test_data_set_0/input_0.pb");
    let input = model.graph.real_inputs().next().unwrap().name.clone();
    let (q, _) = compress(&model, &Recipe::from_json(r#"{"scheme":"int8_dynamic"}"#).unwrap(), &[]).unwrap();
    let mut values = x.as_f32().unwrap().clone();
    values[[0, 0, 3, 3]] = f32::NAN;
    let bad = Tensor::F32(values);
    for (what, session) in [("fused", Session::new(q.clone()).unwrap()), ("comparison", Session::for_comparison(q.clone()).unwrap())] {
        let err = session.run(vec![(input.clone(), bad.clone())]).unwrap_err().to_string();
        assert!(err.contains("cannot quantise: the input holds NaN") && err.contains("DynamicQuantizeLinear"), "{what}: {err}");
        println!("{what}: {err}");
    }
}

/// torch shares equal tensors through Identity nodes: a Conv whose bias is
/// `Identity(initializer)` is still quantised, and the result still runs and
/// agrees with the float model.
#[test]
fn conv_bias_behind_identity_is_quantised() {
    use common::floats;
    use common::{node_with, tensor_vi};
    use prost::Message;
    use squish::formats::onnx::proto::{GraphProto, ModelProto, OperatorSetIdProto};
    let bytes = ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: 17 }],
        graph: Some(GraphProto {
            node: vec![node_with("Identity", "share", &["b0"], &["b"], vec![]), node_with("Conv", "conv", &["x", "w", "b"], &["y"], vec![])],
            initializer: vec![floats("w", &[4, 3, 1, 1], (0..12).map(|i| (i as f32 * 0.7).sin()).collect()), floats("b0", &[4], vec![0.5, -0.25, 1.0, 0.0])],
            input: vec![tensor_vi("x", &[1, 3, 2, 2])],
            output: vec![tensor_vi("y", &[1, 4, 2, 2])],
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec();
    let model = load_model(&bytes).unwrap();
    let (out, record) = compress(&model, &Recipe::from_json(r#"{"scheme":"int8_dynamic"}"#).unwrap(), &[]).unwrap();
    assert!(record.entries.iter().any(|c| c.node == "conv" && c.settings == "int8_dynamic"), "{:?}", record.kept);
    assert!(!record.kept.iter().any(|s| s.node == "conv"), "{:?}", record.kept);
    let x = Tensor::from_vec(&[1, 3, 2, 2], (0..12).map(|i| i as f32 * 0.1 - 0.5).collect::<Vec<f32>>()).unwrap();
    let run = |m: Model| Session::new(m).unwrap().run(vec![("x".into(), x.clone())]).unwrap().outputs[0].1.to_f64_vec();
    let (want, got) = (run(model), run(load_model(&model_to_bytes(&out)).unwrap()));
    assert!(common::worst_excess(&got, &want, 0.02) <= 0.0, "{got:?} vs {want:?}");
}

/// silero_vad_legacy keeps its convolutions inside `If` branches, reading
/// outer initializers: fp16 stores those as float16 (the Cast sits in the
/// outer graph, the branches read it by name) and the model still agrees.
#[test]
fn fp16_converts_outer_weights_read_inside_if_branches() {
    let dir = "silero_vad_legacy";
    let model = load_model(&read(&format!("{dir}/model.onnx"))).unwrap();
    let feeds: Vec<(String, Tensor)> =
        model.graph.real_inputs().enumerate().map(|(j, vi)| (vi.name.clone(), common::read_pb(&format!("{dir}/test_data_set_0/input_{j}.pb")).1)).collect();
    let (out, record) = compress(&model, &Recipe::from_json(r#"{"scheme":"fp16"}"#).unwrap(), &[]).unwrap();
    let in_if: Vec<_> = record.entries.iter().filter(|c| c.op_type == "If").collect();
    assert!(in_if.len() >= 10, "{:?}", record.entries);
    // The outer weights (0.7 MB) and the LSTM weights stored inside the branches halve.
    assert!(record.model_bytes_after < record.model_bytes_before * 85 / 100, "{} → {}", record.model_bytes_before, record.model_bytes_after);
    let want = Session::new(model).unwrap().run(feeds.clone()).unwrap();
    let got = Session::new(load_model(&model_to_bytes(&out)).unwrap()).unwrap().run(feeds).unwrap();
    for ((name, a), (_, b)) in got.outputs.iter().zip(&want.outputs) {
        assert!(common::worst_excess(&a.to_f64_vec(), &b.to_f64_vec(), 1e-2) <= 0.0, "{name}");
    }
}

/// Relu and Clip after an int8 dynamic Conv or MatMul run in the fused op's
/// last pass; the result equals running them as separate ops bit for bit.
#[test]
fn activation_after_an_integer_product_is_fused_bit_identically() {
    use common::floats;
    use common::{node_with, tensor_vi};
    use prost::Message;
    use squish::formats::onnx::proto::{data_type, GraphProto, ModelProto, OperatorSetIdProto, TensorProto};
    let cases = [
        ("Conv", vec![node_with("Relu", "act", &["p"], &["y"], vec![])]),
        ("Conv", vec![node_with("Clip", "act", &["p", "lo", "hi"], &["y"], vec![])]),
        ("MatMul", vec![node_with("Relu", "act", &["p"], &["y"], vec![])]),
        ("MatMul", vec![node_with("Clip", "act", &["p", "", "hi"], &["y"], vec![])]),
    ];
    for (op, tail) in cases {
        let (producer, w, out_dims) = if op == "Conv" {
            (
                node_with("Conv", "prod", &["x", "w", "b"], &["p"], vec![]),
                floats("w", &[4, 3, 1, 1], (0..12).map(|i| (i as f32 * 0.9).cos()).collect()),
                vec![1, 4, 2, 2],
            )
        } else {
            (
                node_with("MatMul", "prod", &["xm", "w"], &["p"], vec![]),
                floats("w", &[2, 4], (0..8).map(|i| (i as f32 * 0.9).cos()).collect()),
                vec![1, 3, 2, 4],
            )
        };
        let mut nodes = vec![producer];
        if op == "MatMul" {
            nodes.insert(0, node_with("Reshape", "flat", &["x", "shape"], &["xm"], vec![]));
        }
        nodes.extend(tail.clone());
        let inits = vec![
            w,
            floats("b", &[4], vec![0.1, -0.2, 0.3, 0.0]),
            floats("lo", &[], vec![-0.25]),
            floats("hi", &[], vec![0.5]),
            TensorProto { name: "shape".into(), dims: vec![4], data_type: data_type::INT64, int64_data: vec![1, 3, 2, 2], ..Default::default() },
        ];
        let bytes = ModelProto {
            ir_version: 8,
            opset_import: vec![OperatorSetIdProto { domain: String::new(), version: 17 }],
            graph: Some(GraphProto {
                node: nodes,
                initializer: inits,
                input: vec![tensor_vi("x", &[1, 3, 2, 2])],
                output: vec![tensor_vi("y", &out_dims)],
                ..Default::default()
            }),
            ..Default::default()
        }
        .encode_to_vec();
        let (q, _) = compress(&load_model(&bytes).unwrap(), &Recipe::from_json(r#"{"scheme":"int8_dynamic"}"#).unwrap(), &[]).unwrap();
        let x = Tensor::from_vec(&[1, 3, 2, 2], (0..12).map(|i| (i as f32 * 0.37).sin() * 2.0).collect::<Vec<f32>>()).unwrap();
        let fused = Session::new(q.clone()).unwrap();
        let (a, timings) = fused.run_profiled(vec![("x".into(), x.clone())]).unwrap();
        let what = format!("{op} → {}", tail[0].op_type);
        assert!(!timings.iter().any(|t| t.op_type == "Relu" || t.op_type == "Clip"), "{what}: activation fused: {timings:?}");
        // Observing the activation's input keeps it a separate op.
        let b = Session::observing(&q, &["p".to_string()]).unwrap().run(vec![("x".into(), x)]).unwrap();
        let bits = |t: &Tensor| t.to_f64_vec().iter().map(|v| (*v as f32).to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&a.outputs[0].1), bits(&b.outputs[0].1), "{what}");
        assert!(a.outputs[0].1.to_f64_vec().iter().any(|&v| v == 0.0 || v == 0.5 || v == -0.25), "{what}: the bounds bite");
    }
}
